"""Choosing the spectral transform of the fast path by measuring it on this device.

The three ways of :data:`noble.fast.model.SPECTRAL_METHODS` compute the same function (the exact truncated DFT
of the grid; they differ only in rounding, about 1e-7 relative in float32), so the fastest one can be picked per
device, grid length, width and batch.  The choice is timed once per process and cached; inference
(``NobleModel.predict``) uses it, training keeps a fixed rule so that resumed runs stay bit-identical.
"""
from __future__ import annotations

import time

import torch

from noble.fast.config import FastFNOConfig
from noble.fast.model import SPECTRAL_METHODS, FastFNO
from noble.fast.runtime import synchronize

__all__ = ["choose_spectral", "spectral_timings", "SPECTRAL_CHOICES"]

#: ``(n_points, n_modes, channels, batch, device, dtype)`` -> the measured choice, for this process.
SPECTRAL_CHOICES: dict[tuple, str] = {}


def spectral_timings(n_points: int, n_modes: int, channels: int, batch: int = 8, device: str | torch.device = "cpu",
                     dtype: torch.dtype = torch.float32, repeats: int = 3) -> dict[str, float]:
    """Seconds of one forward pass of a one-layer :class:`FastFNO` of width ``channels`` on a
    ``(batch, 1, n_points)`` input, per spectral method (best of ``repeats`` after a warm-up). The layers around
    the spectral convolution are the same for every method, so the differences are the transforms'."""
    device = torch.device(device)
    config = FastFNOConfig(in_channels=1, out_channels=1, hidden_channels=channels, n_layers=1, n_modes=n_modes,
                           lifting_channels=channels, projection_channels=channels,
                           channel_mlp_channels=max(1, channels // 2))
    with torch.random.fork_rng(devices=[]):  # the throw-away input and weights leave the global generator alone
        x = torch.randn(batch, 1, n_points, dtype=dtype).to(device)
        nets = {m: FastFNO(config, spectral=m).to(device=device, dtype=dtype) for m in SPECTRAL_METHODS}
    out = {}
    with torch.no_grad():
        for method, net in nets.items():
            net(x)
            best = float("inf")
            for _ in range(repeats):
                synchronize(device)
                t0 = time.perf_counter()
                net(x)
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
        SPECTRAL_CHOICES[key] = min(timings, key=timings.get)
    return SPECTRAL_CHOICES[key]

