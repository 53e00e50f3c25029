"""Voltage-trace error metrics (mV traces; relative errors are unitless fractions)."""
from __future__ import annotations

import numpy as np


def relative_lp_error(pred: np.ndarray, true: np.ndarray, p: int = 2) -> np.ndarray:
    """Per-trace ``||pred - true||_p / ||true||_p`` over the last axis of ``[N, T]`` arrays: shape ``[N]``."""
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape:
        raise ValueError(f"predicted traces {pred.shape} and true traces {true.shape} differ in shape")
    diff = np.sum(np.abs(pred - true) ** p, axis=-1) ** (1.0 / p)
    norm = np.sum(np.abs(true) ** p, axis=-1) ** (1.0 / p)
    return diff / np.maximum(norm, 1e-12)


def bootstrap_ci(values: np.ndarray, n_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampling traces); ``(nan, nan)`` when empty."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_resamples, v.size))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def summarize(values: np.ndarray) -> dict[str, float]:
    """Mean, median, 95% bootstrap interval of the mean (percent) and counts of the finite and non-finite values.

    Non-finite values (a trace whose error is undefined) are left out of the statistics and counted in
    ``n_nonfinite``, so a reader sees how many were dropped.
    """
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    n_bad = int((~finite).sum())
    v = v[finite]
    if v.size == 0:
        return {"mean_pct": float("nan"), "median_pct": float("nan"), "ci95_pct": [float("nan"), float("nan")],
                "n": 0, "n_nonfinite": n_bad}
    lo, hi = bootstrap_ci(v)
    return {"mean_pct": float(100 * v.mean()), "median_pct": float(100 * np.median(v)),
            "ci95_pct": [100 * lo, 100 * hi], "n": int(v.size), "n_nonfinite": n_bad}
