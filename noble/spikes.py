"""Spike counts and firing accounting on voltage traces (mV), for model selection, evaluation and reports.

A spike is an upward crossing of ``threshold_mV`` (default -20 mV) inside the stimulus window: a sample below
the threshold followed by one at or above it. This is cheap enough to run on every held-out trace after every
training epoch (eFEL's features are used for the feature tables; this count only decides firing).

Firing accounting of predicted against true traces (all rates in percent, ``nan`` for an empty set):

* ``missed_firing_pct``: true traces that spike but whose prediction is silent;
* ``false_firing_pct``: true traces that are silent but whose prediction spikes;
* ``spike_count_rel_err_pct``: mean of ``|n_pred - n_true| / n_true`` over true spiking traces (a missed trace
  counts 100%);
* ``within_one_pct``: spiking traces whose predicted count is within +/-1 of the true one.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Voltage (mV) an upward crossing of which counts as a spike.
SPIKE_THRESHOLD_MV = -20.0


def window_mask(time_ms: np.ndarray, start_ms: float, end_ms: float) -> np.ndarray:
    """Boolean mask of the samples with ``start_ms <= t < end_ms`` (times in ms)."""
    t = np.asarray(time_ms, dtype=float)
    if end_ms <= start_ms:
        raise ValueError(f"the window must end after it starts (got {start_ms} to {end_ms} ms)")
    return (t >= start_ms) & (t < end_ms)


def spike_counts(voltage_mV: Any, mask: np.ndarray | None = None, threshold_mV: float = SPIKE_THRESHOLD_MV) -> np.ndarray:
    """Spike count per trace of ``voltage_mV`` ``[N, T]`` (numpy or torch, mV) inside ``mask`` ``[T]``; int ``[N]``."""
    if hasattr(voltage_mV, "detach"):
        voltage_mV = voltage_mV.detach().cpu().numpy()
    v = np.asarray(voltage_mV, dtype=np.float32)
    if v.ndim == 1:
        v = v[None, :]
    if v.ndim != 2:
        raise ValueError(f"voltage must be [N, T], not shape {v.shape}")
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != (v.shape[1],):
            raise ValueError(f"mask has shape {m.shape}, the traces have {v.shape[1]} samples")
        v = v[:, m]
    above = v >= threshold_mV
    return np.count_nonzero(~above[:, :-1] & above[:, 1:], axis=1).astype(np.int64)


def spike_times(voltage_mV: np.ndarray, time_ms: np.ndarray, mask: np.ndarray,
                threshold_mV: float = SPIKE_THRESHOLD_MV) -> list[np.ndarray]:
    """Times (ms) of the upward threshold crossings that :func:`spike_counts` counts, per trace ``[N, T]``."""
    v = np.asarray(voltage_mV)[:, mask]
    t = np.asarray(time_ms)[mask]
    above = v >= threshold_mV
    return [t[1:][~above[i, :-1] & above[i, 1:]] for i in range(v.shape[0])]


@dataclass(frozen=True)
class FiringReport:
    """Firing accounting of predicted against true spike counts (rates in percent)."""

    n_traces: int
    n_spiking: int  # true traces with at least one spike
    n_silent: int
    missed_firing_pct: float
    false_firing_pct: float
    spike_count_rel_err_pct: float
    within_one_pct: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _pct(part: int | float, whole: int) -> float:
    return 100.0 * float(part) / whole if whole else float("nan")


def firing_report(pred_counts: np.ndarray, true_counts: np.ndarray) -> FiringReport:
    """Compare predicted and true spike counts ``[N]`` (see the module docstring)."""
    pred = np.asarray(pred_counts, dtype=np.int64)
    true = np.asarray(true_counts, dtype=np.int64)
    if pred.shape != true.shape:
        raise ValueError(f"predicted counts {pred.shape} and true counts {true.shape} differ in shape")
    spiking = true > 0
    silent = ~spiking
    n_sp, n_si = int(spiking.sum()), int(silent.sum())
    rel = np.abs(pred[spiking] - true[spiking]) / true[spiking]
    return FiringReport(
        n_traces=int(true.size),
        n_spiking=n_sp,
        n_silent=n_si,
        missed_firing_pct=_pct(int((pred[spiking] == 0).sum()), n_sp),
        false_firing_pct=_pct(int((pred[silent] > 0).sum()), n_si),
        spike_count_rel_err_pct=100.0 * float(rel.mean()) if n_sp else float("nan"),
        within_one_pct=_pct(int((np.abs(pred[spiking] - true[spiking]) <= 1).sum()), n_sp),
    )


def firing_selection_score(rel_l4: float, report: FiringReport) -> float:
    """Checkpoint-selection score that sees firing (lower is better).

    ``rel_l4 + missed + false + count_err`` with the three firing terms as fractions (an undefined term, for a
    set without spiking or without silent traces, counts 0). A silent model scores about 2 on a set with
    spiking traces however smooth its traces are, so a firing model with misplaced spikes is preferred to it.
    """
    terms = (report.missed_firing_pct, report.false_firing_pct, report.spike_count_rel_err_pct)
    return float(rel_l4) + sum(t / 100.0 for t in terms if np.isfinite(t))


__all__ = ["SPIKE_THRESHOLD_MV", "FiringReport", "firing_report", "firing_selection_score", "spike_counts",
           "spike_times", "window_mask"]
