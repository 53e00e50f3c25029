"""eFEL features of somatic voltage traces with the stimulus window set.

Units: voltage mV, time ms, current nA; frequencies Hz. Features are returned per trace as a dict keyed by
eFEL name in the order requested; a feature eFEL cannot compute for a trace (e.g. ``AP1_width`` of a silent
trace) is NaN. Array-valued features (one value per spike, e.g. ``AHP_depth``) are reduced to their mean.
"""
from __future__ import annotations

import math
from typing import Sequence

import efel
import numpy as np

from noble.errors import NobleError

#: The 16 eFEL features of the paper (Appendix B), in a fixed order. ``Spikecount`` is the paper's "spikecount".
PAPER_FEATURES: tuple[str, ...] = (
    "AHP_depth",
    "AHP_time_from_peak",
    "AHP1_depth_from_peak",
    "AP1_peak",
    "AP1_width",
    "decay_time_constant_after_stim",
    "depol_block",
    "inv_first_ISI",
    "mean_AP_amplitude",
    "mean_frequency",
    "sag_amplitude",
    "Spikecount",
    "steady_state_voltage",
    "steady_state_voltage_stimend",
    "time_to_first_spike",
    "voltage_base",
)

#: The paper's four key features (Tables 1-2).
KEY_FEATURES: tuple[str, ...] = ("Spikecount", "AP1_width", "mean_AP_amplitude", "steady_state_voltage")

#: eFEL's default spike detection threshold (mV), used for every feature here.
SPIKE_THRESHOLD_MV = -20.0


class FeatureError(NobleError):
    """Voltage/time arrays or feature names that eFEL cannot work with."""


def _as_traces(voltage: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(voltage, dtype=float)
    t = np.asarray(time, dtype=float)
    if v.ndim == 1:
        v = v[None, :]
    if v.ndim != 2:
        raise FeatureError(f"voltage must have shape [N, T] or [T], not {tuple(np.shape(voltage))}")
    if t.ndim != 1 or t.size != v.shape[1]:
        raise FeatureError(f"time has shape {t.shape}, expected [{v.shape[1]}] to match voltage {v.shape}")
    if t.size > 1 and not np.all(np.diff(t) > 0):
        raise FeatureError("time must be strictly increasing (ms)")
    return v, t


def _check_names(features: Sequence[str]) -> tuple[str, ...]:
    names = tuple(features)
    known = set(efel.get_feature_names())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise FeatureError(f"unknown eFEL feature(s): {', '.join(unknown)}")
    return names


def _reduce(value) -> float:
    if value is None:
        return math.nan
    arr = np.asarray(value, dtype=float).ravel()
    if arr.size == 0:
        return math.nan
    return float(np.mean(arr))


def extract_features(
    voltage: np.ndarray,
    time: np.ndarray,
    stim_start: float = 15.0,
    stim_end: float = 415.0,
    features: Sequence[str] = PAPER_FEATURES,
) -> list[dict[str, float]]:
    """eFEL features (NaN when absent) of each trace of ``voltage`` [N, T] or [T] (mV) sampled at ``time`` [T] (ms).

    ``stim_start``/``stim_end`` (ms) bound the step; one dict per trace, keys in the order of ``features``.
    """
    v, t = _as_traces(voltage, time)
    names = _check_names(features)
    if not (stim_start < stim_end):
        raise FeatureError(f"stim_start {stim_start} ms must precede stim_end {stim_end} ms")
    efel.reset()
    efel.set_setting("Threshold", SPIKE_THRESHOLD_MV)
    traces = [{"T": t, "V": row, "stim_start": [float(stim_start)], "stim_end": [float(stim_end)]} for row in v]
    if not names:
        return [{} for _ in traces]
    values = efel.get_feature_values(traces, list(names), raise_warnings=False)
    return [{n: _reduce(res.get(n)) for n in names} for res in values]


def spike_counts(
    voltage: np.ndarray, time: np.ndarray, stim_start: float = 15.0, stim_end: float = 415.0
) -> np.ndarray:
    """Number of spikes inside ``[stim_start, stim_end]`` (ms) of each trace (eFEL ``Spikecount_stimint``)."""
    rows = extract_features(voltage, time, stim_start, stim_end, features=("Spikecount_stimint",))
    return np.array([0 if math.isnan(r["Spikecount_stimint"]) else int(r["Spikecount_stimint"]) for r in rows])


def feature_matrix(rows: Sequence[dict[str, float]], features: Sequence[str] = PAPER_FEATURES) -> np.ndarray:
    """Stack per-trace feature dicts into ``[N, len(features)]`` float64 in the given order."""
    return np.array([[r.get(n, math.nan) for n in features] for r in rows], dtype=float).reshape(len(rows), len(features))
