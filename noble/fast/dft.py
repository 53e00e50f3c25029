"""Truncated real DFT as dense matrices.

An FNO spectral layer keeps only the lowest ``K`` frequencies of a real signal of length ``N``.  The forward
transform is then ``X = x @ F`` with ``F`` of shape ``(N, 2K)`` and the inverse is ``y = Y @ G`` with ``G`` of
shape ``(2K, N)``.  Both are plain matrix products that run at GEMM speed (tensor cores included), whereas an FFT
of ``N = 8583 = 3 * 2861`` (a large prime factor) falls off every fast FFT path.

Conventions match ``torch.fft.rfft(x, norm="forward")`` followed by ``torch.fft.irfft(Y, n=N, norm="forward")``
on the first ``K`` coefficients (the others set to zero):

* the ``2K`` spectral columns are the real parts of modes ``0..K-1`` followed by their imaginary parts;
* the forward transform carries the ``1/N`` factor, the inverse carries none;
* the inverse weighs mode 0 (and mode ``N/2`` for even ``N``) once and every other mode twice (Hermitian
  symmetry) and ignores the imaginary part of those self-conjugate modes, exactly like ``irfft``.
"""
from __future__ import annotations

import math

import torch

__all__ = ["kept_modes", "dft_matrices"]


def kept_modes(n_points: int, n_modes: int) -> int:
    """Number of rfft modes an FNO keeps on a grid of ``n_points``: ``min(n_modes // 2 + 1, n_points // 2 + 1)``.

    ``n_modes`` is the FNO's ``n_modes`` setting (256 in the paper, i.e. 129 rfft modes).
    """
    if n_points < 1:
        raise ValueError(f"grid length must be positive, got {n_points}")
    if n_modes < 1:
        raise ValueError(f"n_modes must be positive, got {n_modes}")
    return min(n_modes // 2 + 1, n_points // 2 + 1)


def _angles(n_points: int, n_kept: int) -> torch.Tensor:
    """``2 pi (k t mod N) / N`` in float64, shape ``(N, K)``; the integer modulo keeps the phase exact."""
    t = torch.arange(n_points, dtype=torch.int64)
    k = torch.arange(n_kept, dtype=torch.int64)
    phase = torch.remainder(t[:, None] * k[None, :], n_points)
    return phase.to(torch.float64) * (2.0 * math.pi / n_points)


def dft_matrices(
    n_points: int,
    n_kept: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward ``F`` ``(N, 2K)`` and inverse ``G`` ``(2K, N)`` matrices of the truncated real DFT.

    Built in float64 and rounded once to ``dtype``.  ``n_kept`` must not exceed ``n_points // 2 + 1``.
    """
    if not 1 <= n_kept <= n_points // 2 + 1:
        raise ValueError(f"cannot keep {n_kept} rfft modes of a length-{n_points} signal (at most {n_points // 2 + 1})")
    angle = _angles(n_points, n_kept)
    cos, sin = torch.cos(angle), torch.sin(angle)
    forward = torch.cat([cos, -sin], dim=1) / n_points
    weight = torch.full((n_kept,), 2.0, dtype=torch.float64)
    weight[0] = 1.0
    if n_points % 2 == 0 and n_kept == n_points // 2 + 1:
        weight[-1] = 1.0
    inverse = torch.cat([cos * weight, -sin * weight], dim=1).T
    # irfft drops the imaginary part of the self-conjugate modes; sin is 0 there up to rounding, make it exact
    inverse[n_kept] = 0.0
    if n_points % 2 == 0 and n_kept == n_points // 2 + 1:
        inverse[2 * n_kept - 1] = 0.0
    return forward.to(dtype=dtype, device=device).contiguous(), inverse.to(dtype=dtype, device=device).contiguous()
