"""Subsampling strategies of the paper's App. C.1 (Figs 6-7): decimation and frequency truncation, each with or
without the dataset pipeline's low-pass filter. Time ms, voltage mV.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import convolve1d

from noble.errors import AnalysisError
from noble.sim.protocol import lowpass_kernel

#: Subsampling strategies of the paper's App. C.1 (Figs 6-7).
SUBSAMPLING_STRATEGIES: dict[str, str] = {
    "lpf_decimate": "LPF + decimation",
    "lpf_truncate": "LPF + frequency truncation",
    "truncate": "Frequency truncation",
    "decimate": "Decimation, no filter",
}


def fft_truncate(trace: np.ndarray, n_out: int) -> np.ndarray:
    """Resample ``trace`` [..., n] to ``n_out`` samples by keeping its lowest Fourier modes (same duration)."""
    x = np.asarray(trace, dtype=float)
    n = x.shape[-1]
    spec = np.fft.rfft(x, axis=-1)[..., : n_out // 2 + 1]
    return np.fft.irfft(spec, n=n_out, axis=-1) * (n_out / n)


def lowpass(trace: np.ndarray, factor: int) -> np.ndarray:
    """The zero-phase FIR low-pass of the dataset pipeline (cutoff at the Nyquist of ``factor``-fold decimation)."""


    return convolve1d(np.asarray(trace, dtype=float), lowpass_kernel(factor), axis=-1, mode="nearest")


def subsample(trace: np.ndarray, factor: int, strategy: str, dt_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """Subsample raw traces ``[..., n]`` (time step ``dt_ms``) by ``factor`` with one of
    :data:`SUBSAMPLING_STRATEGIES`; returns (time ms [n'], voltage [..., n'])."""
    x = np.asarray(trace, dtype=float)
    n = x.shape[-1]
    if factor < 1:
        raise AnalysisError(f"subsampling factor must be >= 1, not {factor}")
    if strategy not in SUBSAMPLING_STRATEGIES:
        raise AnalysisError(f"unknown subsampling strategy {strategy!r}; choose one of {list(SUBSAMPLING_STRATEGIES)}")
    if factor == 1:
        return np.arange(n) * dt_ms, x
    if strategy in ("decimate", "lpf_decimate"):
        out = (x if strategy == "decimate" else lowpass(x, factor))[..., ::factor]
        return np.arange(out.shape[-1]) * dt_ms * factor, out
    n_out = -(-n // factor)  # same duration, n_out samples
    out = fft_truncate(lowpass(x, factor) if strategy == "lpf_truncate" else x, n_out)
    return np.arange(n_out) * (dt_ms * n / n_out), out
