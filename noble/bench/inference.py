"""Timing and accuracy of NOBLE inference: the neuralop reference FNO and the fast path, on CPU or GPU.

A timed call is the whole NOBLE query: step amplitudes (nA) and raw neuron features go from the host to the
device, the embedding and the FNO run there, and the voltages (mV) come back to the host.  The first call
(warm-up: DFT matrices, cuDNN autotuning, CUDA-graph capture, compilation) is timed and reported apart.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from noble.bench.timing import Timing, time_batches
from noble.fast.fused import fused_voltage, triton_available
from noble.fast.model import SPECTRAL_METHODS
from noble.fast.runtime import PRECISIONS, CudaGraphRunner, precision, synchronize
from noble.model import SpectralView

if TYPE_CHECKING:  # pragma: no cover
    from noble.model import NobleModel


__all__ = ["Variant", "default_variants", "make_predictor", "bench_variant", "relative_l2", "BenchInputs",
           "make_inputs", "PATHS", "onnxruntime_available", "onnxruntime_predictor"]

#: ``neuralop``: neuralop's FNO with the model's weights (the reference); ``fast``: the model itself
#: (:class:`noble.fast.FastFNO`); ``fused``: the fast path with one Triton kernel per layer for the pointwise work
#: (GPU, inference); ``onnxruntime``: the model exported to ONNX (:mod:`noble.export`) run by onnxruntime (CPU).
PATHS = ("neuralop", "fast", "fused", "onnxruntime")


@dataclass(frozen=True)
class Variant:
    """One way of running the model: path, precision and optional CUDA-graph replay (GPU, small batches)."""

    path: str = "fast"
    precision: str = "fp32"
    cuda_graphs: bool = False
    spectral: str = "auto"  # fast path: "dft", "fft", "czt", "auto" (fixed rule) or "measured"

    def __post_init__(self) -> None:
        if self.path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {self.path!r}")
        if self.spectral not in (*SPECTRAL_METHODS, "auto", "measured"):
            raise ValueError(f"spectral must be one of {SPECTRAL_METHODS}, 'auto' or 'measured', got {self.spectral!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.path == "onnxruntime" and (self.precision != "fp32" or self.cuda_graphs or self.spectral != "auto"):
            raise ValueError("the onnxruntime path runs the exported fp32 graph (truncated DFT) only")

    @property
    def name(self) -> str:
        spectral = f" [{self.spectral}]" if self.path != "neuralop" and self.spectral != "auto" else ""
        return f"{self.path} {self.precision}{spectral}" + (" +graphs" if self.cuda_graphs else "")


def default_variants(device: torch.device | str) -> list[Variant]:
    """CPU: reference, and the fast path in fp32 with each exact spectral transform.  GPU: also the fast path in TF32 and bf16, and the fused path
    when Triton is available."""
    if torch.device(device).type == "cuda":

        variants = [Variant("neuralop", "fp32"), Variant("fast", "fp32"), Variant("fast", "fp32", spectral="fft"),
                    Variant("fast", "fp32", spectral="czt"), Variant("fast", "tf32"), Variant("fast", "bf16")]
        if triton_available():
            variants += [Variant("fused", "fp32"), Variant("fused", "tf32"), Variant("fused", "bf16")]
        return variants
    variants = [Variant("neuralop", "fp32"), Variant("fast", "fp32", spectral="dft"),
                Variant("fast", "fp32", spectral="fft"), Variant("fast", "fp32", spectral="czt")]
    return variants + ([Variant("onnxruntime", "fp32")] if onnxruntime_available() else [])


def onnxruntime_available() -> bool:
    """Whether the optional onnx and onnxruntime packages import."""
    try:
        import onnx  # noqa: F401  # lazy: optional export dependency, only probed
        import onnxruntime  # noqa: F401  # lazy: optional export dependency, only probed
    except ImportError:
        return False
    return True


def onnxruntime_predictor(model: "NobleModel", threads: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``predict(amplitudes, features) -> voltage`` through an ONNX export of ``model`` run by onnxruntime with
    ``threads`` intra-op threads (the export is written to a temporary file and read back once)."""
    import tempfile

    from noble.export import OnnxNoble, export_model_onnx  # lazy: onnx/onnxruntime are optional

    with tempfile.TemporaryDirectory() as tmp:
        session = OnnxNoble(export_model_onnx(model, f"{tmp}/model.onnx"), threads=threads)

    def predict(amps: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.predict(amps.numpy(), feats.numpy()))

    return predict


@dataclass(frozen=True)
class BenchInputs:
    """Host-side queries: amplitudes ``[N]`` (nA) and raw features ``[N, F]`` (the model's feature order)."""

    amplitudes_nA: torch.Tensor
    features: torch.Tensor
    hofs: tuple[int, ...]

    def __len__(self) -> int:
        return int(self.amplitudes_nA.shape[0])

    def batch(self, index: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch ``index`` (wrapping around) of exactly ``batch_size`` queries."""
        rows = (torch.arange(batch_size) + index * batch_size) % len(self)
        return self.amplitudes_nA[rows], self.features[rows]


def make_inputs(model: "NobleModel", n: int, amplitude_range: tuple[float, float], seed: int = 0,
                hofs: Sequence[int] | None = None) -> BenchInputs:
    """``n`` queries: amplitudes uniform in ``amplitude_range`` (nA), HoF models cycled from ``hofs``
    (default: the model's training HoFs, else every HoF in its feature table)."""
    rng = np.random.default_rng(seed)
    amps = rng.uniform(*amplitude_range, size=n)
    pool = list(hofs if hofs is not None else (model.train_hofs or sorted(model.feature_table)))
    if model.feature_names and not pool:
        raise ValueError("the model records no HoF models to take neuron features from")
    chosen = [pool[i % len(pool)] for i in range(n)] if pool else [-1] * n
    feats = model.features_for_hofs(chosen) if model.feature_names else np.zeros((n, 0))
    return BenchInputs(torch.as_tensor(amps, dtype=torch.float64), torch.as_tensor(feats, dtype=torch.float64),
                       tuple(int(h) for h in chosen))


def make_predictor(model: "NobleModel", variant: Variant,
                   device: torch.device | str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``predict(amplitudes [B], features [B, F]) -> voltage [B, L]`` (mV, float32, on the host)."""
    device = torch.device(device)
    if variant.path == "onnxruntime":
        if device.type != "cpu":
            raise ValueError(f"the onnxruntime path runs on the CPU, not {device}")
        return onnxruntime_predictor(model.cpu().eval(), torch.get_num_threads())
    model = model.to(device).eval()
    net = model.reference_module() if variant.path == "neuralop" else SpectralView(model, variant.spectral)
    net = net.eval()
    pin = device.type == "cuda"
    if variant.path == "fused":  # embedded input -> mV

        voltage = functools.partial(fused_voltage, net, mode=variant.precision)
    else:
        voltage = getattr(net, "voltage", None)

    def to_device(*tensors: torch.Tensor) -> list[torch.Tensor]:
        return [(t.pin_memory() if pin else t).to(device, non_blocking=True) for t in tensors]

    if variant.cuda_graphs:
        if device.type != "cuda" or variant.path == "neuralop":
            raise ValueError(f"CUDA graphs need the fast path on a CUDA device, got {variant.path} on {device}")
        holder: dict[str, CudaGraphRunner] = {}

        def predict_graph(amps: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
            a, f = to_device(amps, feats)
            with torch.inference_mode():
                x = net.embedding(a, f)
            if "runner" not in holder or holder["runner"].static_inputs[0].shape != x.shape:
                holder["runner"] = CudaGraphRunner(voltage, x, precision_mode=variant.precision)
            return holder["runner"](x).float().cpu()

        return predict_graph

    def predict(amps: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        a, f = to_device(amps, feats)
        with torch.inference_mode(), precision(variant.precision, device):
            out = voltage(net.embedding(a, f)) if variant.path == "fused" else net(a, f)
            return out.float().cpu()

    return predict


def relative_l2(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over traces of ``||prediction - target||_2 / ||target||_2`` (traces along the last axis)."""
    prediction = torch.as_tensor(prediction, dtype=torch.float64)
    target = torch.as_tensor(target, dtype=torch.float64)
    num = torch.linalg.vector_norm(prediction - target, dim=-1)
    den = torch.linalg.vector_norm(target, dim=-1).clamp_min(torch.finfo(torch.float64).tiny)
    return float((num / den).mean())


def bench_variant(model: "NobleModel", variant: Variant, inputs: BenchInputs, device: torch.device | str,
                  batch_size: int, n_traces: int, progress: bool = True,
                  predict: Callable | None = None) -> tuple[Timing, Callable]:
    """Time ``variant`` at ``batch_size`` over ``n_traces`` queries; returns the timing and the predictor
    (``predict``: one from :func:`make_predictor` to reuse, e.g. across batch sizes; else one is made)."""
    device = torch.device(device)
    predict = predict if predict is not None else make_predictor(model, variant, device)
    timing = time_batches(lambda i: predict(*inputs.batch(i, batch_size)), batch_size, n_traces,
                          sync=lambda: synchronize(device), label=f"{variant.name} b{batch_size}",
                          progress=progress)
    return timing, predict
