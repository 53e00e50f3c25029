"""Synthetic spiking traces for smoke runs and tests (not a neuron model: a fast, feature-driven caricature).

A trace rests at ``v_rest`` mV, relaxes towards ``v_rest + R*I`` with time constant ``tau`` during the step
(with a slow sag back for hyperpolarising steps), and above the threshold current ``intercept`` (nA) fires at
``rate_scale * slope * (I - intercept)`` Hz: Gaussian action potentials followed by exponential AHPs. Units:
current nA, voltage mV, time ms. The HoF features (``slope``, ``intercept``) thus shape the traces the way the
embedding expects, which makes learning them testable in seconds.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch

from noble.embedding import StimulusTemplate
from noble.sim.protocol import PAPER_TEMPLATE, grid_protocol
from noble.sim.traces import write_dataset


def synthetic_traces(
    amplitudes_nA: np.ndarray,
    intercept_nA: np.ndarray,
    slope_hz_per_nA: np.ndarray,
    template: StimulusTemplate = PAPER_TEMPLATE,
    v_rest: float = -70.0,
    resistance_mohm: float = 150.0,
    tau_ms: float = 10.0,
    rate_scale: float = 0.3,
    device: str | torch.device = "cpu",
    chunk: int = 4096,
) -> np.ndarray:
    """Voltage ``[N, n_samples]`` (mV, float32) for amplitudes, thresholds and slopes ``[N]`` on a stimulus grid.

    Computed with torch on ``device`` (a GPU makes large synthetic sets quick), ``chunk`` traces at a time.
    """
    amps = np.atleast_1d(np.asarray(amplitudes_nA, dtype=float))
    thrs = np.broadcast_to(np.asarray(intercept_nA, dtype=float), amps.shape)
    slopes = np.broadcast_to(np.asarray(slope_hz_per_nA, dtype=float), amps.shape)
    out = np.empty((amps.size, template.n_samples), dtype=np.float32)
    t = torch.as_tensor(template.time(), dtype=torch.float64, device=device)[None, :]
    on, off = template.delay_ms, template.stim_end_ms
    for start in range(0, amps.size, chunk):
        sl = slice(start, start + chunk)
        amp = torch.as_tensor(amps[sl], device=device)[:, None]
        thr = torch.as_tensor(thrs[sl].copy(), device=device)[:, None]
        slope = torch.as_tensor(slopes[sl].copy(), device=device)[:, None]
        # passive response: charge during the step, discharge after it, capped at the threshold current
        dv = resistance_mohm * torch.minimum(amp, thr)  # mV (MOhm * nA)
        since_on = (t - on).clamp(min=0)
        charge = torch.where(t >= on, 1 - torch.exp(-since_on / tau_ms), torch.zeros_like(t))
        end_level = 1 - np.exp(-(off - on) / tau_ms)
        decay = torch.where(t >= off, torch.exp(-(t - off).clamp(min=0) / tau_ms), torch.ones_like(t))
        shape = torch.where(t < off, charge, end_level * decay)
        in_step = ((t >= on) & (t < off)).to(t.dtype)
        sag = torch.where(amp < 0, -0.25 * dv, torch.zeros_like(dv)) * in_step * (1 - torch.exp(-since_on / (6 * tau_ms)))
        v = (v_rest + dv * shape + sag).float()
        # spikes: Gaussian action potentials and exponential AHPs at a regular rate above threshold
        rate = torch.where(amp > thr, (rate_scale * slope * (amp - thr)).clamp(min=4.0), torch.zeros_like(amp))
        period = torch.where(rate > 0, 1000.0 / rate.clamp(min=1e-9), torch.full_like(rate, math.inf))
        finite = torch.isfinite(period)
        n_max = int(((off - on) / period[finite]).max().item()) + 1 if finite.any() else 0
        first = on + 3.0 + 0.5 * period.clamp(max=40.0)
        for k in range(n_max):
            ts = torch.where(finite, first + k * torch.where(finite, period, torch.zeros_like(period)),
                             torch.full_like(period, math.inf))
            valid = ts < off
            if not bool(valid.any()):
                break
            rel = (t - torch.where(valid, ts, torch.zeros_like(ts))).float()
            spike = 95.0 * torch.exp(-((rel / 0.35) ** 2))
            ahp = torch.where(rel > 0.5, -12.0 * torch.exp(-(rel - 0.5).clamp(min=0) / 4.0), torch.zeros_like(rel))
            v = v + torch.where(valid, spike + ahp, torch.zeros_like(spike))
        out[sl] = v.cpu().numpy()
    return out


def synthetic_dataset(
    path,
    feature_table: Mapping[int, Mapping[str, float]],
    hofs: Sequence[int],
    n_traces: int,
    seed: int = 0,
    template: StimulusTemplate = PAPER_TEMPLATE,
    amplitude_range: tuple[float, float] = (-0.11, 0.28),
    cell: str = "human_pvalb_689331391",
    device: str = "cpu",
):
    """Write ``n_traces`` synthetic traces (random amplitudes, HoF models drawn from ``hofs``) to ``path``."""
    rng = np.random.default_rng(seed)
    hof = rng.choice(np.asarray(hofs, dtype=np.int64), size=n_traces)
    amp = rng.uniform(*amplitude_range, size=n_traces)
    thr = np.array([feature_table[int(h)]["intercept"] for h in hof])
    slope = np.array([feature_table[int(h)]["slope"] for h in hof])
    volt = synthetic_traces(amp, thr, slope, template, device=device)
    return write_dataset(path, volt, amp, hof, grid_protocol(template), cell=cell, engine="synthetic", seed=seed)
