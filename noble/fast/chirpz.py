"""The truncated real DFT of any length through smooth-length FFTs (chirp-z / Bluestein).

An FNO layer needs only the lowest ``K`` modes of a length-``N`` signal, and back.  With
``k t = (k^2 + t^2 - (k - t)^2) / 2`` both directions become one linear convolution with the chirp
``w_m = exp(i pi m^2 / N)``, evaluated by FFTs of a length ``M >= N + K - 1`` that has only the factors 2, 3, 5
and 7 (``N = 8583 = 3 * 2861`` has a large prime factor, on which FFT libraries slow down).  The result is
the exact DFT (no padding of the signal, so the same function as :mod:`noble.fast.dft` and ``torch.fft``),
up to floating-point rounding.

Conventions are those of :mod:`noble.fast.dft`: the forward transform carries ``1/N`` and returns the real
parts of modes ``0..K-1`` then their imaginary parts; the inverse weighs mode 0 (and ``N/2`` for even ``N``)
once, every other mode twice, and ignores the imaginary part of those self-conjugate modes, like ``irfft``.
"""
from __future__ import annotations

import math

import torch

__all__ = ["ChirpZ", "smooth_length"]


def smooth_length(n: int, primes: tuple[int, ...] = (2, 3, 5, 7)) -> int:
    """The smallest integer ``>= n`` whose prime factors are all in ``primes``."""
    if n < 1:
        raise ValueError(f"length must be positive, got {n}")
    m = n
    while True:
        r = m
        for p in primes:
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


def _chirp(m: torch.Tensor, n_points: int) -> torch.Tensor:
    """``exp(i pi m^2 / N)`` in complex128, with ``m^2`` reduced modulo ``2N`` in integers (exact phase)."""
    phase = torch.remainder(m.to(torch.int64) ** 2, 2 * n_points).to(torch.float64) * (math.pi / n_points)
    return torch.polar(torch.ones_like(phase), phase)


class ChirpZ:
    """Forward and inverse truncated real DFT of length ``n_points`` keeping ``n_kept`` modes.

    Tables are built in float64/complex128 and rounded once to ``dtype`` (float32 -> complex64).
    """

    def __init__(self, n_points: int, n_kept: int, *, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None, fft_length: int | None = None) -> None:
        if not 1 <= n_kept <= n_points // 2 + 1:
            raise ValueError(f"cannot keep {n_kept} rfft modes of a length-{n_points} signal (at most {n_points // 2 + 1})")
        self.n_points, self.n_kept = int(n_points), int(n_kept)
        self.fft_length = int(fft_length or smooth_length(n_points + n_kept - 1))
        if self.fft_length < n_points + n_kept - 1:
            raise ValueError(f"fft_length {self.fft_length} < N + K - 1 = {n_points + n_kept - 1}")
        cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        n, k, m_len = self.n_points, self.n_kept, self.fft_length
        t = torch.arange(n)
        kk = torch.arange(k)
        # forward: X_k = (1/N) conj(w_k) sum_t (x_t conj(w_t)) w_(k - t), k - t in [-(N-1), K-1]
        kernel = torch.zeros(m_len, dtype=torch.complex128)
        kernel[:k] = _chirp(kk, n)
        kernel[m_len - (n - 1):] = _chirp(torch.arange(-(n - 1), 0), n)
        self._fwd_in = _chirp(t, n).conj().to(cdtype)
        self._fwd_kernel = torch.fft.fft(kernel).to(cdtype)
        self._fwd_out = (_chirp(kk, n).conj() / n).to(cdtype)
        # inverse: y_t = Re( w_t sum_k (c_k Y_k w_k) conj(w_(t - k)) ), t - k in [-(K-1), N-1]
        weight = torch.full((k,), 2.0, dtype=torch.float64)
        weight[0] = 1.0
        self._self_conjugate = [0]
        if n % 2 == 0 and k == n // 2 + 1:
            weight[-1] = 1.0
            self._self_conjugate.append(k - 1)
        kernel = torch.zeros(m_len, dtype=torch.complex128)
        kernel[:n] = _chirp(t, n).conj()
        if k > 1:
            kernel[m_len - (k - 1):] = _chirp(torch.arange(-(k - 1), 0), n).conj()
        self._inv_in = (_chirp(kk, n) * weight).to(cdtype)
        self._inv_kernel = torch.fft.fft(kernel).to(cdtype)
        self._inv_out = _chirp(t, n).to(cdtype)
        self.dtype = dtype
        self.to(device)

    def to(self, device: torch.device | str | None) -> "ChirpZ":
        """Move the tables to ``device`` (``None``: leave them)."""
        if device is not None:
            for name in ("_fwd_in", "_fwd_kernel", "_fwd_out", "_inv_in", "_inv_kernel", "_inv_out"):
                setattr(self, name, getattr(self, name).to(device))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., N)`` real -> ``(..., 2, K)``: real then imaginary parts of the first ``K`` modes (times ``1/N``)."""
        a = x.to(self._fwd_in.dtype) * self._fwd_in
        conv = torch.fft.ifft(torch.fft.fft(a, n=self.fft_length) * self._fwd_kernel)[..., : self.n_kept]
        spec = conv * self._fwd_out
        return torch.stack([spec.real, spec.imag], dim=-2).to(x.dtype)

    def inverse(self, spec: torch.Tensor) -> torch.Tensor:
        """``(..., 2, K)`` (real, imaginary parts) -> ``(..., N)`` real, as ``irfft`` of the zero-padded spectrum."""
        imag = spec[..., 1, :].clone()
        imag[..., self._self_conjugate] = 0.0  # mode 0 (and N/2): irfft ignores their imaginary part
        coeffs = torch.complex(spec[..., 0, :].to(self.dtype), imag.to(self.dtype)) * self._inv_in
        conv = torch.fft.ifft(torch.fft.fft(coeffs, n=self.fft_length) * self._inv_kernel)[..., : self.n_points]
        return (conv * self._inv_out).real.to(spec.dtype)
