"""Export a trained NOBLE model to ONNX and run it with onnxruntime (currents nA, voltages mV).

The exported graph is the whole model: embedding (scaler and frequency-scaled sinusoids) and the FNO with its
spectral layers as truncated-DFT matrix products (the fast path's ``dft`` method, which ONNX runtimes execute
as plain GEMMs). Inputs ``amplitude_nA`` ``[B]`` and ``features`` ``[B, F]`` (raw values, columns in the card's
feature order), output ``voltage_mV`` ``[B, L]``; the batch size is dynamic. The model card is embedded as the
metadata property ``noble_model_card`` (JSON), with the opset and units beside it.

onnx and onnxruntime are optional: they are imported only here, with a clear error when they are missing.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from torch import nn

from noble.checkpoint import build_card, load_model
from noble.errors import NobleError
from noble.model import SpectralView

if TYPE_CHECKING:  # pragma: no cover
    from noble.model import NobleModel

#: The ONNX opset of exported models.
OPSET = 18
CARD_KEY = "noble_model_card"


class ExportError(NobleError):
    """A model that cannot be exported or run through ONNX (missing package, unsupported model)."""


class _Exportable(nn.Module):
    def __init__(self, fast: nn.Module) -> None:
        super().__init__()
        self.fast = fast

    def forward(self, amplitude_nA: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return self.fast(amplitude_nA, features)


def _require(name: str):
    try:
        return __import__(name)
    except ImportError:
        raise ExportError(f"ONNX export needs the {name} package (pip install -r requirements/base.txt)") from None


def export_onnx(model_dir: str | Path, out: str | Path, opset: int = OPSET) -> Path:
    """Write ``model_dir``'s model as an ONNX file ``out`` (see the module docstring); returns ``out``."""
    return export_model_onnx(load_model(model_dir), out, opset, source=str(model_dir))


def export_model_onnx(model: "NobleModel", out: str | Path, opset: int = OPSET, source: str = "model") -> Path:
    """Write ``model`` (its card: ``model.card`` when loaded, else one built from it) as an ONNX file ``out``."""
    onnx = _require("onnx")
    n_features = len(model.feature_names)
    if n_features == 0:
        raise ExportError(f"{source}: a model without neuron features has no 'features' input to export")
    card = getattr(model, "card", None) or build_card(model)
    chunk = model.fno.cpu_chunk
    model.fno.cpu_chunk = 0  # one graph for every batch size
    fast = SpectralView(model, "dft").eval()
    amp = torch.tensor([0.1, -0.05], dtype=torch.float32)
    hofs = list(model.train_hofs or sorted(model.feature_table))[:1] * 2
    feats = torch.as_tensor(model.features_for_hofs(hofs), dtype=torch.float32)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on shape arithmetic: the shapes are fixed per call
            torch.onnx.export(
                _Exportable(fast), (amp, feats), str(tmp), input_names=["amplitude_nA", "features"],
                output_names=["voltage_mV"], opset_version=opset, dynamo=False,
                dynamic_axes={"amplitude_nA": {0: "batch"}, "features": {0: "batch"}, "voltage_mV": {0: "batch"}},
            )
    finally:
        model.fno.cpu_chunk = chunk
    proto = onnx.load(str(tmp))
    meta = {CARD_KEY: json.dumps(card, sort_keys=True), "noble_opset": str(opset),
            "noble_units": "amplitude_nA: nA; features: raw values in the card's order; voltage_mV: mV",
            "noble_feature_order": json.dumps(list(model.feature_names))}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(tmp))
    tmp.replace(out)
    return out


def onnx_card(path: str | Path) -> dict[str, Any]:
    """The model card embedded in an exported ONNX file."""
    onnx = _require("onnx")
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    if CARD_KEY not in props:
        raise ExportError(f"{path}: not an ONNX file exported by noble (no {CARD_KEY} metadata)")
    return json.loads(props[CARD_KEY])


class OnnxNoble:
    """An exported model run by onnxruntime: ``predict(amplitudes_nA, features) -> [N, L]`` mV."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        ort = _require("onnxruntime")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.card = onnx_card(path)
        self.feature_names = tuple(self.card["embedding"]["features"])

    def predict(self, amplitudes_nA: Sequence[float] | np.ndarray, features: np.ndarray) -> np.ndarray:
        amp = np.atleast_1d(np.asarray(amplitudes_nA, dtype=np.float32))
        feats = np.asarray(features, dtype=np.float32).reshape(amp.size, -1)
        if feats.shape[1] != len(self.feature_names):
            raise ExportError(f"expected {len(self.feature_names)} features {list(self.feature_names)}, got {feats.shape[1]}")
        return self.session.run(["voltage_mV"], {"amplitude_nA": amp, "features": feats})[0]


__all__ = ["CARD_KEY", "OPSET", "ExportError", "OnnxNoble", "export_model_onnx", "export_onnx", "onnx_card"]
