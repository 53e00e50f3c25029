"""A fast path for the paper's FNO: same function and weights as ``neuralop.models.FNO``, faster kernels.

* :class:`FastFNO` evaluates the spectral convolutions as truncated-DFT matrix products (:mod:`noble.fast.dft`);
  :meth:`FastFNO.from_neuralop` copies a neuralop model, :meth:`FastFNO.neuralop_state_dict` copies back.
* :class:`noble.model.NobleModel` (embedding + FNO, nA -> mV) is built on :class:`FastFNO`: it trains and predicts
  through it directly; :mod:`noble.fast.optimizer_layout` converts resume states of the older neuralop layout.
* :mod:`noble.fast.runtime` adds precision modes (fp32, TF32, bf16) and CUDA-graph replay.
* :func:`fused_forward` runs the pointwise work of each layer as one Triton kernel (GPU inference).
"""
from __future__ import annotations

from noble.fast.dft import dft_matrices, kept_modes
from noble.fast.fused import fused_forward, triton_available
from noble.fast.model import SPECTRAL_METHODS, FastFNO, FastFNOConfig
from noble.fast.runtime import PRECISIONS, CudaGraphRunner, precision

__all__ = [
    "CudaGraphRunner", "FastFNO", "FastFNOConfig", "PRECISIONS", "SPECTRAL_METHODS",
    "dft_matrices", "fused_forward", "kept_modes", "precision", "triton_available",
]
