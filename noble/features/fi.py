"""F-I curves and the embedding features I_thr (threshold current) and s_thr (F-I slope at threshold).

Units: current nA, rate Hz (spikes inside the step window divided by its duration in s), slope Hz/nA.

Method (the paper does not describe its own; see docs/simulation.md for how ours relates to the published
``intercept`` and ``slope``):

* **I_thr**: the smallest step amplitude that elicits at least one spike inside the step window. From an F-I
  curve on a grid it is the midpoint between the last silent and the first firing amplitude;
  :func:`threshold_and_slope` narrows that bracket by repeated grid refinement with the simulator
  (``points`` amplitudes per round, so the bracket shrinks by ``points + 1`` each round).
* **s_thr**: the least-squares slope of rate against amplitude over the firing amplitudes in
  ``[I_thr, I_thr + span]`` (span 0.05 nA by default), i.e. the local F-I slope just above threshold.
  The line's current-axis intercept is reported too (``intercept_fit``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from noble.features.efel_features import FeatureError, spike_counts
from noble.sim.protocol import PAPER_STEP_END_MS, PAPER_STEP_START_MS

if TYPE_CHECKING:  # pragma: no cover
    from noble.data import HofModel
    from noble.sim.engine import Engine
    from noble.sim.protocol import StepProtocol


#: Default width (nA) of the supra-threshold window in which s_thr is fitted.
SLOPE_SPAN = 0.05


def firing_rates(
    voltage: np.ndarray, time: np.ndarray, stim_start: float = PAPER_STEP_START_MS,
    stim_end: float = PAPER_STEP_END_MS
) -> np.ndarray:
    """Firing rate (Hz) inside the step window of each trace (``voltage`` [N, T] mV, ``time`` [T] ms)."""
    counts = spike_counts(voltage, time, stim_start, stim_end)
    return counts / ((stim_end - stim_start) / 1000.0)


@dataclass(frozen=True)
class FICurve:
    """An F-I curve: amplitudes (nA, increasing) and rates (Hz)."""

    amplitude: np.ndarray
    rate: np.ndarray

    def __post_init__(self) -> None:
        a, r = np.asarray(self.amplitude, float), np.asarray(self.rate, float)
        if a.ndim != 1 or a.shape != r.shape or a.size == 0:
            raise FeatureError(f"F-I curve needs equal 1-D amplitude and rate arrays, got {a.shape} and {r.shape}")
        order = np.argsort(a, kind="stable")
        object.__setattr__(self, "amplitude", a[order])
        object.__setattr__(self, "rate", r[order])


@dataclass(frozen=True)
class ThresholdSlope:
    """I_thr (nA), s_thr (Hz/nA) and the fitted line's current intercept (nA) of one F-I curve."""

    threshold: float
    slope: float
    intercept_fit: float
    bracket: tuple[float, float]  # last silent, first firing amplitude (nA)


def threshold_bracket(curve: FICurve) -> tuple[float, float]:
    """(last silent amplitude below the first firing one, first firing amplitude), NaN where absent."""
    firing = np.flatnonzero(curve.rate > 0)
    if firing.size == 0:
        return (float(curve.amplitude[-1]), math.nan)
    first = int(firing[0])
    below = float(curve.amplitude[first - 1]) if first > 0 else math.nan
    return (below, float(curve.amplitude[first]))


def fit_slope(curve: FICurve, threshold: float, span: float = SLOPE_SPAN) -> tuple[float, float]:
    """(slope Hz/nA, current-axis intercept nA) of the line through the firing points in [threshold, +span]."""
    a, r = curve.amplitude, curve.rate
    keep = (a >= threshold) & (a <= threshold + span + 1e-12) & (r > 0)
    if keep.sum() < 2:
        return math.nan, math.nan
    slope, offset = np.polyfit(a[keep], r[keep], 1)
    return float(slope), float(-offset / slope) if slope != 0 else math.nan


def threshold_slope_from_curve(curve: FICurve, span: float = SLOPE_SPAN) -> ThresholdSlope:
    """I_thr and s_thr of an F-I curve on a grid (I_thr: midpoint of the silent/firing bracket)."""
    lo, hi = threshold_bracket(curve)
    if math.isnan(hi):
        return ThresholdSlope(math.nan, math.nan, math.nan, (lo, hi))
    thr = hi if math.isnan(lo) else 0.5 * (lo + hi)
    slope, icpt = fit_slope(curve, hi, span)
    return ThresholdSlope(thr, slope, icpt, (lo, hi))


def simulate_fi(
    engine: "Engine", model: "HofModel", morphology: Path, amplitudes: Sequence[float], protocol: "StepProtocol"
) -> FICurve:
    """Simulate an F-I curve (rates from the raw traces inside the protocol's step window)."""
    raw = engine.simulate(model, morphology, [float(a) for a in amplitudes], protocol)
    rates = firing_rates(raw, protocol.raw_time(), protocol.stim_start, protocol.stim_end)
    return FICurve(np.asarray(amplitudes, float), rates)


def threshold_and_slope(
    engine: "Engine",
    model: "HofModel",
    morphology: Path,
    protocol: "StepProtocol",
    low: float = 0.0,
    high: float = 0.1,
    points: int = 5,
    rounds: int = 3,
    span: float = SLOPE_SPAN,
    slope_points: int = 6,
) -> tuple[ThresholdSlope, FICurve]:
    """I_thr and s_thr of a model by simulation; returns them with every simulated (amplitude, rate).

    ``low`` must be silent and ``high`` must fire (both nA); each round simulates ``points`` amplitudes inside
    the current bracket; then ``slope_points`` amplitudes spread over ``[first firing, + span]`` give s_thr.
    """
    amps: list[float] = []
    rates: list[float] = []

    def run(values: Sequence[float]) -> None:
        values = [v for v in values if not any(abs(v - a) < 1e-12 for a in amps)]
        if values:
            curve = simulate_fi(engine, model, morphology, values, protocol)
            amps.extend(curve.amplitude.tolist())
            rates.extend(curve.rate.tolist())

    run([low, high])
    lo, hi = low, high
    for _ in range(rounds):
        run(np.linspace(lo, hi, points + 2)[1:-1].tolist())
        cur = FICurve(np.array(amps), np.array(rates))
        lo, hi = threshold_bracket(cur)
        if math.isnan(hi) or math.isnan(lo):
            break
    if not (math.isnan(hi) or math.isnan(lo)):
        run(np.linspace(hi, hi + span, slope_points + 1)[1:].tolist())
    curve = FICurve(np.array(amps), np.array(rates))
    return threshold_slope_from_curve(curve, span), curve
