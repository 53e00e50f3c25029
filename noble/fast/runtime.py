"""Execution options for the fast FNO: numeric precision and CUDA-graph replay.

Precision modes (``PRECISIONS``):

* ``fp32``: IEEE float32 everywhere (TF32 off for matmuls *and* cuDNN convolutions);
* ``tf32``: float32 storage, TF32 tensor-core matmuls and convolutions (on GPUs that have them);
* ``bf16``: bfloat16 autocast (matmuls in bf16 with float32 accumulation).

On a CPU ``tf32`` equals ``fp32``.
"""
from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator

import torch

__all__ = ["PRECISIONS", "precision", "CudaGraphRunner", "synchronize", "usable_cores", "set_threads"]

PRECISIONS = ("fp32", "tf32", "bf16")


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask; ``os.cpu_count()`` where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def set_threads(threads: int | None = None) -> str:
    """Set torch's intra-op threads (default: every usable core, unless ``OMP_NUM_THREADS`` chose already) and
    return a one-line description of the choice, for logs and benchmark headers."""
    cores = usable_cores()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        torch.set_num_threads(int(threads))
        why = "as asked"
    elif os.environ.get("OMP_NUM_THREADS"):
        why = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    else:
        torch.set_num_threads(cores)
        why = "one per usable core"
    return f"torch intra-op threads: {torch.get_num_threads()} of {cores} usable cores ({why})"


@contextlib.contextmanager
def precision(mode: str, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the enclosed code in precision ``mode`` on ``device``; restores the previous settings on exit."""
    if mode not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {mode!r}")
    device_type = torch.device(device).type
    previous_matmul, previous_cudnn = _read_flags()
    tf32 = mode == "tf32"
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        if mode == "bf16":
            with torch.autocast(device_type=device_type, dtype=torch.bfloat16, cache_enabled=False):
                yield
        else:
            yield
    finally:
        torch.set_float32_matmul_precision(previous_matmul)
        torch.backends.cudnn.allow_tf32 = previous_cudnn


def _read_flags() -> tuple[str, bool]:
    """Current matmul precision and cuDNN TF32 flag; defaults where torch refuses to report a single value
    (it does after the per-backend ``fp32_precision`` settings were mixed with the legacy ones)."""
    try:
        matmul = torch.get_float32_matmul_precision()
    except RuntimeError:
        matmul = "highest"
    try:
        cudnn = bool(torch.backends.cudnn.allow_tf32)
    except RuntimeError:
        cudnn = True
    return matmul, cudnn


def synchronize(device: torch.device | str) -> None:
    """Wait for queued GPU work on ``device`` (no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class CudaGraphRunner:
    """Replays one captured call ``fn(*inputs)`` for inputs of fixed shapes (inference only).

    Capturing removes the launch overhead of the ~200 small kernels of a forward pass, which dominates at
    batch 1.  The returned tensor is the graph's static output: copy it before the next call.
    """

    def __init__(self, fn: Callable[..., torch.Tensor], *examples: torch.Tensor,
                 precision_mode: str = "fp32", warmup: int = 3) -> None:
        if not examples or any(x.device.type != "cuda" for x in examples):
            raise ValueError("CUDA graphs need CUDA example inputs, got "
                             + ", ".join(str(x.device) for x in examples))
        device = examples[0].device
        self.precision_mode = precision_mode
        self.static_inputs = tuple(x.detach().clone() for x in examples)
        stream = torch.cuda.Stream(device=device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.inference_mode(), precision(precision_mode, device), torch.cuda.stream(stream):
            for _ in range(warmup):
                fn(*self.static_inputs)
        torch.cuda.current_stream(device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), precision(precision_mode, device):
            with torch.cuda.graph(self.graph):
                self.static_output = fn(*self.static_inputs)

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        if len(inputs) != len(self.static_inputs):
            raise ValueError(f"graph captured for {len(self.static_inputs)} inputs, got {len(inputs)}")
        for static, x in zip(self.static_inputs, inputs):
            if x.shape != static.shape:
                raise ValueError(f"graph captured for input shape {tuple(static.shape)}, got {tuple(x.shape)}")
            static.copy_(x, non_blocking=True)
        self.graph.replay()
        return self.static_output
