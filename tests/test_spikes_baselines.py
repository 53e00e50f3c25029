"""Spike counting, firing accounting, baselines and the bootstrap interval, on hand-made traces with known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from noble.evaluation.baselines import BaselineError, constant_rest, nearest_neighbour, resting_voltage
from noble.evaluation.metrics import bootstrap_ci, relative_lp_error, summarize
from noble.spikes import firing_report, firing_selection_score, spike_counts, window_mask

T = np.arange(0, 100, 0.5)  # ms


def spiky(times_ms, base=-70.0):
    v = np.full(T.shape, base)
    for t in times_ms:
        v[(T >= t) & (T < t + 1.0)] = 20.0
    return v


def test_spike_counts_only_inside_the_window():
    v = np.stack([spiky([5, 30, 60]), spiky([]), spiky([95])])
    mask = window_mask(T, 10, 90)
    assert spike_counts(v, mask).tolist() == [2, 0, 0]
    assert spike_counts(v).tolist() == [3, 0, 1]


def test_spike_counts_accepts_torch_and_checks_shapes():
    torch = pytest.importorskip("torch")
    assert spike_counts(torch.tensor(spiky([20, 40])[None])).tolist() == [2]
    with pytest.raises(ValueError, match="mask"):
        spike_counts(spiky([1])[None], np.ones(3, bool))
    with pytest.raises(ValueError, match="window"):
        window_mask(T, 50, 10)


def test_firing_report_counts_each_case():
    true = np.array([4, 2, 0, 0, 10])
    pred = np.array([4, 0, 1, 0, 5])
    r = firing_report(pred, true)
    assert (r.n_spiking, r.n_silent) == (3, 2)
    assert r.missed_firing_pct == pytest.approx(100 / 3)
    assert r.false_firing_pct == pytest.approx(50.0)
    assert r.spike_count_rel_err_pct == pytest.approx(100 * (0 + 1 + 0.5) / 3)
    assert r.within_one_pct == pytest.approx(100 / 3)
    empty = firing_report(np.array([0]), np.array([0]))
    assert math.isnan(empty.missed_firing_pct) and empty.false_firing_pct == 0.0


def test_selection_score_prefers_a_firing_model_to_a_silent_one():
    true = np.array([5, 6, 7, 0])
    silent = firing_report(np.zeros(4, int), true)
    firing = firing_report(np.array([4, 7, 5, 0]), true)
    # the silent model has the smaller Lp error (double penalty) and still loses
    assert firing_selection_score(0.18, firing) < firing_selection_score(0.15, silent)
    assert firing_selection_score(0.15, silent) == pytest.approx(0.15 + 1.0 + 0.0 + 1.0)


def test_constant_rest_is_the_pre_step_mean():
    v = np.stack([spiky([30], base=-71.0), spiky([], base=-65.0)])
    assert resting_voltage(v, T, 10.0).tolist() == [-71.0, -65.0]
    flat = constant_rest(v, T, 10.0)
    assert flat.shape == v.shape and np.all(flat[1] == -65.0)
    with pytest.raises(BaselineError, match="before the step"):
        resting_voltage(v, T, 0.0)


def test_nearest_neighbour_same_hof_then_latent_neighbour():
    ref_v = np.stack([np.full(T.shape, k, float) for k in range(4)])
    ref_amp = np.array([0.0, 0.1, 0.0, 0.2])
    ref_hof = np.array([1, 1, 2, 2])
    out = nearest_neighbour(np.array([0.09, 0.15]), np.array([1, 2]), ref_v, ref_amp, ref_hof)
    assert out[:, 0].tolist() == [1.0, 3.0]
    latent = {1: np.array([0.0, 0.0]), 2: np.array([3.0, 3.0]), 9: np.array([2.5, 2.0])}
    out = nearest_neighbour(np.array([0.01]), np.array([9]), ref_v, ref_amp, ref_hof, latent=latent)
    assert out[0, 0] == 2.0  # HoF 2 is nearest to 9; its trace at 0.0 nA
    with pytest.raises(BaselineError, match="latent"):
        nearest_neighbour(np.array([0.01]), np.array([9]), ref_v, ref_amp, ref_hof)


def test_relative_l2_is_normalised():
    true = np.full((1, 10), -70.0)
    assert relative_lp_error(true + 7.0, true, 2)[0] == pytest.approx(0.1)
    assert relative_lp_error(2 * true, 2 * true, 4)[0] == 0.0


def test_summarize_counts_non_finite_and_gives_an_interval():
    s = summarize(np.array([0.1, 0.2, 0.3, np.nan, np.inf]))
    assert s["n"] == 3 and s["n_nonfinite"] == 2
    assert s["mean_pct"] == pytest.approx(20.0)
    lo, hi = s["ci95_pct"]
    assert 10.0 <= lo <= 20.0 <= hi <= 30.0
    assert bootstrap_ci(np.full(50, 0.5)) == (0.5, 0.5)
    assert summarize(np.array([np.nan]))["n_nonfinite"] == 1


def test_variability_ranks_and_spreads():
    from noble.evaluation.variability import Variability, spearman

    assert spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3, 4]), np.array([4, 3, 2, 1])) == pytest.approx(-1.0)
    assert math.isnan(spearman(np.array([1, 2, 3]), np.array([5, 5, 5])))
    v = Variability(0.1, (0, 1, 2), (10, 20, 30), (12, 18, 25), 1.0, 8.16, 5.34)
    assert v.spread_ratio == pytest.approx(5.34 / 8.16) and v.meets_targets
    assert not Variability(0.1, (0, 1), (10, 20), (15, 15), float("nan"), 5.0, 0.0).meets_targets
