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


def summarize(values: np.ndarray) -> dict[str, float]:
    """Mean, median and count of finite values, as percentages for the first two."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean_pct": float("nan"), "median_pct": float("nan"), "n": 0}
    return {"mean_pct": float(100 * v.mean()), "median_pct": float(100 * np.median(v)), "n": int(v.size)}
