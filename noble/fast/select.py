"""Choosing the spectral transform of the fast path by measuring it on this device.

The three ways of :data:`noble.fast.model.SPECTRAL_METHODS` compute the same function (the exact truncated DFT
of the grid; they differ only in rounding, about 1e-7 relative in float32), so the fastest one can be picked per
device, grid length, width and batch.  The choice is timed once per process and cached; inference
(``NobleModel.predict``) uses it, training keeps a fixed rule so that resumed runs stay bit-identical.
"""
from __future__ import annotations

import time

import torch

from noble.fast.chirpz import ChirpZ
from noble.fast.dft import dft_matrices, kept_modes
from noble.fast.runtime import synchronize

__all__ = ["choose_spectral", "spectral_timings", "SPECTRAL_CHOICES"]

#: ``(n_points, n_modes, channels, batch, device, dtype)`` -> the measured choice, for this process.
SPECTRAL_CHOICES: dict[tuple, str] = {}
_TIMINGS: dict[tuple, dict[str, float]] = {}


def _transform(method: str, n_points: int, n_kept: int, device: torch.device, dtype: torch.dtype):
    """``(forward, inverse)`` callables of one method: ``(B, C, N) -> (B, C, 2, K) -> (B, C, N)``."""
    if method == "dft":
        fwd, inv = dft_matrices(n_points, n_kept, dtype=dtype, device=device)
        return (lambda h: (h @ fwd).view(*h.shape[:2], 2, n_kept),
                lambda s: s.reshape(*s.shape[:2], 2 * n_kept) @ inv)
    if method == "czt":
        cz = ChirpZ(n_points, n_kept, dtype=dtype, device=device)
        return cz.forward, cz.inverse

    def forward(h: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.rfft(h, norm="forward")[..., :n_kept]
        return torch.stack([spec.real, spec.imag], dim=-2)

    def inverse(s: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(torch.complex(s[..., 0, :], s[..., 1, :]), n=n_points, norm="forward")

    return forward, inverse


def spectral_timings(n_points: int, n_modes: int, channels: int, batch: int = 8, device: str | torch.device = "cpu",
                     dtype: torch.dtype = torch.float32, repeats: int = 3) -> dict[str, float]:
    """Seconds of one forward + inverse transform of a ``(batch, channels, n_points)`` activation per method
    (best of ``repeats`` after a warm-up)."""
    device = torch.device(device)
    n_kept = kept_modes(n_points, n_modes)
    h = torch.randn(batch, channels, n_points, device=device, dtype=dtype)
    out = {}
    with torch.no_grad():
        for method in ("dft", "fft", "czt"):
            fwd, inv = _transform(method, n_points, n_kept, device, dtype)
            inv(fwd(h))
            best = float("inf")
            for _ in range(repeats):
                synchronize(device)
                t0 = time.perf_counter()
                inv(fwd(h))
                synchronize(device)
                best = min(best, time.perf_counter() - t0)
            out[method] = best
    return out


def choose_spectral(n_points: int, n_modes: int, channels: int, batch: int = 8, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32) -> str:
    """The fastest exact method for this grid, width and batch on ``device`` (measured once per process)."""
    device = torch.device(device)
    key = (int(n_points), int(n_modes), int(channels), int(batch), str(device), dtype)
    if key not in SPECTRAL_CHOICES:
        timings = spectral_timings(n_points, n_modes, channels, batch, device, dtype)
        _TIMINGS[key] = timings
        SPECTRAL_CHOICES[key] = min(timings, key=timings.get)
    return SPECTRAL_CHOICES[key]


def last_timings() -> dict[tuple, dict[str, float]]:
    """The timings behind every choice made in this process."""
    return dict(_TIMINGS)
