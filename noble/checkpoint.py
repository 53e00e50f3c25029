"""Self-describing NOBLE checkpoints: safetensors weights plus a JSON model card.

A model directory holds ``model.safetensors`` (the FNO weights, nothing executable) and ``model_card.json``
(architecture, embedding with its feature order, scaler ranges, units, stimulus template, the feature table of
the cell's HoF models, the training data's data-card SHA-256, library versions, metrics). Training state for
``--resume`` (optimizer, scheduler, RNG states) is saved with :func:`torch.save` of tensors and plain
containers only and read back with ``weights_only=True``. Units: nA, mV, ms.
"""
from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any, Mapping

import numpy
import safetensors
import torch
from safetensors.torch import load_file, save_file

from noble.embedding import EmbeddingSpec, FeatureScaler, StimulusTemplate
from noble.errors import NobleError
from noble.hashing import sha256_file
from noble.jsonfile import read_json_file
from noble.model import ConfigError, FNOConfig, NobleModel
from noble.units import UNITS
from noble.version import __version__

CARD_FORMAT = "noble-model-card/1"
CARD_NAME = "model_card.json"
WEIGHTS_NAME = "model.safetensors"


class CheckpointError(NobleError):
    """A model directory that is missing, malformed or does not match this version of noble."""


def library_versions() -> dict[str, str]:
    """Versions of the libraries a checkpoint depends on."""
    import neuralop  # imported here: it loads slowly and is needed only when a card is written

    return {
        "noble": __version__,
        "torch": torch.__version__,
        "neuraloperator": getattr(neuralop, "__version__", "unknown"),
        "safetensors": safetensors.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def build_card(
    model: NobleModel,
    *,
    data: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """The model card of ``model`` (weights checksum is added by :func:`save_model`)."""
    return {
        "format": CARD_FORMAT,
        "name": name,
        "cell": model.cell,
        "units": dict(UNITS),
        "architecture": model.describe(),
        "embedding": model.spec.as_dict(),
        "scaler": model.scaler.as_dict(),
        "stimulus": model.template.as_dict(),
        "hofs": {"train": list(model.train_hofs), "test": list(model.test_hofs)},
        "feature_table": {str(h): dict(v) for h, v in sorted(model.feature_table.items())},
        "data": dict(data or {}),
        "training": dict(training or {}),
        "metrics": dict(metrics or {}),
        "library_versions": library_versions(),
    }


def save_weights(model: NobleModel, path: str | Path) -> str:
    """Write the model's weights to a safetensors file; returns its SHA-256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(model.weight_tensors(), str(tmp), metadata={"format": CARD_FORMAT})
    tmp.replace(path)
    return sha256_file(path)


def _strict(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def save_model(directory: str | Path, model: NobleModel, card: Mapping[str, Any]) -> Path:
    """Write ``model.safetensors`` and ``model_card.json`` into ``directory``; returns the card path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    digest = save_weights(model, directory / WEIGHTS_NAME)
    full = dict(card)
    full["weights"] = {"file": WEIGHTS_NAME, "sha256": digest}
    card_path = directory / CARD_NAME
    tmp = card_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_strict(full), indent=2, allow_nan=False) + "\n")
    tmp.replace(card_path)
    return card_path


def read_card(path: str | Path) -> tuple[dict[str, Any], Path]:
    """The model card of a model directory (or a card file) and the directory."""
    path = Path(path)
    card_path = path / CARD_NAME if path.is_dir() else path
    card = read_json_file(card_path, CheckpointError, "no model card (expected a directory written by `noble train`)")
    if card.get("format") != CARD_FORMAT:
        raise CheckpointError(f"{card_path}: format {card.get('format')!r}, this noble reads {CARD_FORMAT!r}")
    units = card.get("units")
    if units != dict(UNITS):
        raise CheckpointError(f"{card_path}: units {units}, noble works in {dict(UNITS)}")
    for key in ("architecture", "embedding", "scaler", "stimulus", "weights"):
        if key not in card:
            raise CheckpointError(f"{card_path}: missing {key!r}")
    return card, card_path.parent


def model_from_card(card: Mapping[str, Any]) -> NobleModel:
    """An untrained :class:`NobleModel` with the card's architecture, embedding and scaler."""
    spec = EmbeddingSpec.from_dict(card["embedding"])
    scaler = FeatureScaler.from_dict(card["scaler"])
    if tuple(scaler.names) != spec.features:
        raise CheckpointError(f"model card: scaler features {list(scaler.names)} differ from embedding {list(spec.features)}")
    arch = dict(card["architecture"])
    if arch.get("type") != "neuralop.models.FNO":
        raise CheckpointError(f"model card: unknown architecture type {arch.get('type')!r}")
    if int(arch.get("in_channels", spec.in_channels)) != spec.in_channels:
        raise CheckpointError(f"model card: {arch['in_channels']} input channels, the embedding gives {spec.in_channels}")
    table = {int(h): {k: float(v) for k, v in row.items()} for h, row in card.get("feature_table", {}).items()}
    hofs = card.get("hofs", {})
    return NobleModel(
        FNOConfig.from_dict(arch),
        spec,
        scaler,
        StimulusTemplate.from_dict(card["stimulus"]),
        feature_table=table,
        train_hofs=hofs.get("train", ()),
        test_hofs=hofs.get("test", ()),
        cell=card.get("cell"),
        neuralop_init=False,
    )


def read_weight_tensors(path: str | Path, sha256: str | None = None) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors of a safetensors file (never unpickled) and the file's SHA-256, which must equal ``sha256``
    (the model card's) when one is given."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    actual = sha256_file(path)
    if sha256 is not None and actual != sha256:
        raise CheckpointError(f"{path}: SHA-256 differs from the one recorded in the model card")
    return load_file(str(path)), actual


def load_weights(model: NobleModel, path: str | Path, sha256: str | None = None) -> None:
    """Load safetensors weights into ``model`` (strict: every tensor must match by name and shape)."""
    tensors, _ = read_weight_tensors(path, sha256)
    try:
        model.load_weight_tensors(tensors)
    except ConfigError as err:  # keys, shapes and dtypes are checked once, by the model
        raise CheckpointError(f"{path}: the weights do not fit the card's architecture: {err}") from None


def load_model(path: str | Path, device: str | torch.device = "cpu", weights: str | None = None) -> NobleModel:
    """Rebuild a trained model from a model directory (``model_card.json`` + ``model.safetensors``).

    ``weights`` names another safetensors file of the directory (e.g. ``checkpoints/epoch_0010.safetensors``).
    The model is returned in eval mode; the card is attached as ``model.card``.
    """
    card, directory = read_card(path)
    model = model_from_card(card)
    if weights is None:
        load_weights(model, directory / card["weights"]["file"], card["weights"].get("sha256"))
    else:
        load_weights(model, directory / weights)
    model.card = card
    return model.to(device).eval()


def save_training_state(path: str | Path, state: Mapping[str, Any]) -> None:
    """Save resume state (tensors, numbers, strings, lists, dicts only) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(dict(state), tmp)
    tmp.replace(path)


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Load resume state with ``weights_only=True`` (no arbitrary objects are unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no training state to resume from")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError and others for foreign files
        raise CheckpointError(f"{path}: cannot read training state ({exc})") from None
