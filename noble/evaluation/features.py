"""eFEL feature errors with the paper's missed-firing / missed-non-firing accounting.

Per trace and feature the relative error is ``|F_hat - F| / |F + 1e-6|``. A trace pair is classified by the
eFEL ``Spikecount`` of the true and predicted trace:

* both spike: the 14 spiking features (:data:`SPIKING_FEATURES`) are compared;
* neither spikes: the 5 non-spiking features (:data:`NON_SPIKING_FEATURES`) are compared;
* the truth spikes and the prediction does not: "missed firing", excluded from the feature errors;
* the prediction spikes and the truth does not: "missed non-firing", excluded as well.

A feature eFEL cannot compute (NaN) in either trace is skipped for that trace and counted. ``mean_pct`` (the
mean of the per-trace errors, as the authors' code logs it) is the headline number; ``norm_ratio_pct``
(``||F_hat - F||_2 / ||F||_2`` over traces) is reported too, since the paper's aggregation is not stated.
Units: mV, ms.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from noble.features.efel_features import extract_features
from noble.sim.protocol import PAPER_STEP_END_MS, PAPER_STEP_START_MS

SPIKE_FEATURE = "Spikecount"

#: Features compared when both traces spike (paper Appendix B minus decay_time_constant and sag).
SPIKING_FEATURES: tuple[str, ...] = (
    "AHP_depth", "AHP_time_from_peak", "AHP1_depth_from_peak", "AP1_peak", "AP1_width", "depol_block",
    "inv_first_ISI", "mean_AP_amplitude", "mean_frequency", "Spikecount", "steady_state_voltage",
    "steady_state_voltage_stimend", "time_to_first_spike", "voltage_base",
)
#: Features compared when neither trace spikes.
NON_SPIKING_FEATURES: tuple[str, ...] = (
    "decay_time_constant_after_stim", "sag_amplitude", "steady_state_voltage", "steady_state_voltage_stimend",
    "voltage_base",
)
#: Every feature the accounting needs, in a fixed order.
ALL_FEATURES: tuple[str, ...] = tuple(dict.fromkeys(SPIKING_FEATURES + NON_SPIKING_FEATURES))
#: The paper's Table 1 features.
TABLE1_FEATURES: tuple[str, ...] = ("steady_state_voltage", "Spikecount", "AP1_width", "mean_AP_amplitude")


def relative_feature_error(pred: float, true: float) -> float:
    """``|pred - true| / |true + 1e-6|`` (NaN when either is NaN)."""
    if not (math.isfinite(pred) and math.isfinite(true)):
        return math.nan
    return abs(pred - true) / abs(true + 1e-6)


def _norm_ratio_pct(pairs: Sequence[tuple[float, float]]) -> float:
    """``100 * ||F_hat - F||_2 / ||F||_2`` over traces (the other reading of the paper's "relative L2")."""
    if not pairs:
        return math.nan
    arr = np.asarray(pairs, dtype=float)
    denom = np.linalg.norm(arr[:, 1])
    return float(100 * np.linalg.norm(arr[:, 0] - arr[:, 1]) / denom) if denom > 0 else math.nan


@dataclass
class FeatureErrorReport:
    """Feature errors of one set of traces (percentages) and the trace accounting."""

    n_traces: int
    n_both_spiking: int
    n_both_silent: int
    missed_firing: int
    missed_non_firing: int
    features: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> mean_pct, median_pct, n, n_nan

    def mean_pct(self, name: str) -> float:
        return self.features.get(name, {}).get("mean_pct", math.nan)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def account(true_rows: Sequence[Mapping[str, float]], pred_rows: Sequence[Mapping[str, float]]) -> FeatureErrorReport:
    """Apply the paper's accounting to per-trace eFEL feature dicts (true and predicted, same order)."""
    if len(true_rows) != len(pred_rows):
        raise ValueError(f"{len(true_rows)} true and {len(pred_rows)} predicted feature rows")
    errors: dict[str, list[float]] = {n: [] for n in ALL_FEATURES}
    pairs: dict[str, list[tuple[float, float]]] = {n: [] for n in ALL_FEATURES}
    nan_counts = {n: 0 for n in ALL_FEATURES}
    counts = {"both": 0, "silent": 0, "missed_firing": 0, "missed_non_firing": 0}
    for t, p in zip(true_rows, pred_rows):
        t_spikes = (t.get(SPIKE_FEATURE) or 0) > 0 if math.isfinite(t.get(SPIKE_FEATURE, math.nan)) else False
        p_spikes = (p.get(SPIKE_FEATURE) or 0) > 0 if math.isfinite(p.get(SPIKE_FEATURE, math.nan)) else False
        if t_spikes and not p_spikes:
            counts["missed_firing"] += 1
            continue
        if p_spikes and not t_spikes:
            counts["missed_non_firing"] += 1
            continue
        names = SPIKING_FEATURES if t_spikes else NON_SPIKING_FEATURES
        counts["both" if t_spikes else "silent"] += 1
        for name in names:
            err = relative_feature_error(float(p.get(name, math.nan)), float(t.get(name, math.nan)))
            if math.isnan(err):
                nan_counts[name] += 1
            else:
                errors[name].append(err)
                pairs[name].append((float(p[name]), float(t[name])))
    feats: dict[str, dict[str, float]] = {}
    for name in ALL_FEATURES:
        vals = np.asarray(errors[name])
        feats[name] = {
            "mean_pct": float(100 * vals.mean()) if vals.size else math.nan,
            "median_pct": float(100 * np.median(vals)) if vals.size else math.nan,
            "norm_ratio_pct": _norm_ratio_pct(pairs[name]),
            "n": int(vals.size),
            "n_nan": nan_counts[name],
        }
    return FeatureErrorReport(len(true_rows), counts["both"], counts["silent"], counts["missed_firing"],
                              counts["missed_non_firing"], feats)


def feature_errors(
    pred_mV: np.ndarray, true_mV: np.ndarray, time_ms: np.ndarray, stim_start: float = PAPER_STEP_START_MS,
    stim_end: float = PAPER_STEP_END_MS,
    true_rows: Sequence[Mapping[str, float]] | None = None,
) -> FeatureErrorReport:
    """eFEL features of predicted and true traces ``[N, T]`` (mV) and their errors (see :func:`account`).

    ``true_rows`` may pass precomputed features of the true traces.
    """
    pred_rows = extract_features(pred_mV, time_ms, stim_start, stim_end, features=ALL_FEATURES)
    if true_rows is None:
        true_rows = extract_features(true_mV, time_ms, stim_start, stim_end, features=ALL_FEATURES)
    return account(true_rows, pred_rows)
