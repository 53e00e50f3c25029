"""Comparing somatic voltage traces of two engines (or two time steps): spike counts and relative L2.

Units: voltage mV, time ms. A spike is an upward crossing of ``threshold`` (mV).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Spike detection threshold (mV), as Arbor's threshold detector in the project's docs.
SPIKE_THRESHOLD = -20.0


def spike_times(v: np.ndarray, dt: float, threshold: float = SPIKE_THRESHOLD) -> np.ndarray:
    """Times (ms) of upward crossings of ``threshold`` by one trace sampled every ``dt`` ms (interpolated)."""
    v = np.asarray(v, dtype=float)
    i = np.flatnonzero((v[:-1] < threshold) & (v[1:] >= threshold))
    frac = (threshold - v[i]) / (v[i + 1] - v[i])
    return (i + frac) * dt


def spike_count(v: np.ndarray, threshold: float = SPIKE_THRESHOLD) -> int:
    """Number of upward crossings of ``threshold`` (mV)."""
    v = np.asarray(v, dtype=float)
    return int(np.count_nonzero((v[:-1] < threshold) & (v[1:] >= threshold)))


def relative_l2(x: np.ndarray, reference: np.ndarray) -> float:
    """||x - reference||_2 / ||reference||_2 over one trace."""
    x = np.asarray(x, dtype=float)
    reference = np.asarray(reference, dtype=float)
    return float(np.linalg.norm(x - reference) / np.linalg.norm(reference))


@dataclass(frozen=True)
class TraceComparison:
    """How one trace of a candidate (e.g. Arbor) differs from a reference (e.g. NEURON)."""

    amplitude: float  # nA
    spikes_reference: int
    spikes_candidate: int
    relative_l2: float
    max_abs_mV: float
    first_spike_shift_ms: float  # candidate minus reference; nan without spikes
    last_spike_shift_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def compare_traces(reference: np.ndarray, candidate: np.ndarray, amplitude: float, dt: float) -> TraceComparison:
    """Compare two traces of the same stimulus sampled every ``dt`` ms on the same grid."""
    ts_ref = spike_times(reference, dt)
    ts_can = spike_times(candidate, dt)
    both = min(len(ts_ref), len(ts_can)) > 0
    return TraceComparison(
        amplitude=float(amplitude),
        spikes_reference=len(ts_ref),
        spikes_candidate=len(ts_can),
        relative_l2=relative_l2(candidate, reference),
        max_abs_mV=float(np.max(np.abs(np.asarray(candidate) - np.asarray(reference)))),
        first_spike_shift_ms=float(ts_can[0] - ts_ref[0]) if both else float("nan"),
        last_spike_shift_ms=float(ts_can[-1] - ts_ref[-1]) if both else float("nan"),
    )
