"""Exact values of the error metrics, the bootstrap interval and the training losses (hand-computed cases).

These pin the numbers themselves (norms, exponents, axes, defaults, the empty and single-trace cases), so a
changed constant or operator in noble/evaluation/metrics.py or noble/training/losses.py fails a test.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from noble.evaluation.metrics import bootstrap_ci, relative_lp_error, summarize
from noble.training.losses import (gaussian_smooth, relative_l2_squared, relative_lp, relative_quantile_lp,
                                   relative_smooth_l2, sag_amplitude)

TRUE = np.array([[3.0, 4.0, 0.0], [1.0, 1.0, 1.0]])
PRED = np.array([[3.0, 4.0, 5.0], [1.0, 3.0, 1.0]])


def test_relative_lp_error_hand_computed():
    # row 0: ||(0, 0, 5)||_2 / ||(3, 4, 0)||_2 = 5 / 5; row 1: 2 / sqrt(3)
    np.testing.assert_allclose(relative_lp_error(PRED, TRUE), [1.0, 2.0 / math.sqrt(3.0)], rtol=1e-12)
    # p = 1: 5 / 7 and 2 / 3; p = 4: 5 / (81 + 256) ** 0.25 and 2 / 3 ** 0.25
    np.testing.assert_allclose(relative_lp_error(PRED, TRUE, 1), [5.0 / 7.0, 2.0 / 3.0], rtol=1e-12)
    np.testing.assert_allclose(relative_lp_error(PRED, TRUE, 4), [5.0 / 337.0 ** 0.25, 2.0 / 3.0 ** 0.25], rtol=1e-12)


def test_relative_lp_error_reduces_the_last_axis_only_and_in_float64():
    stacked = relative_lp_error(np.stack([PRED, PRED]), np.stack([TRUE, TRUE]))
    assert stacked.shape == (2, 2)
    np.testing.assert_allclose(stacked, [[1.0, 2.0 / math.sqrt(3.0)]] * 2, rtol=1e-12)
    small = relative_lp_error(np.float32([[1.0 + 1e-7]]), np.float32([[1.0]]))
    assert small.dtype == np.float64
    # float32 inputs are promoted before differencing: 1 + 2**-23 (float32's step at 1) differs from 1 by 2**-23
    np.testing.assert_allclose(relative_lp_error(np.float32([[1.0 + 2**-23]]), np.float32([[1.0]]), 4), [2.0**-23])
    ints = relative_lp_error(np.array([[200, 0]], dtype=np.int16), np.array([[0, 1]], dtype=np.int16), 4)
    np.testing.assert_allclose(ints, [200.0], rtol=1e-9)  # 200**4 overflows int16: computed in float64


def test_relative_lp_error_of_a_zero_trace_divides_by_1e_12():
    np.testing.assert_allclose(relative_lp_error(np.array([[1e-13, 0.0]]), np.zeros((1, 2))), [0.1], rtol=1e-9)
    with pytest.raises(ValueError, match=r"\(1, 2\) and true traces \(1, 3\)"):
        relative_lp_error(np.zeros((1, 2)), np.zeros((1, 3)))


def _reference_ci(values, n_resamples, level, seed):
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(values), size=(n_resamples, len(values)))
    means = np.asarray(values)[draws].mean(axis=1)
    return tuple(np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2]))


def test_bootstrap_ci_values_defaults_and_edge_cases():
    v = np.array([0.1, 0.4, 0.2, 0.9, 0.3, 0.05, 0.6])
    lo, hi = bootstrap_ci(v)
    assert (lo, hi) == pytest.approx(_reference_ci(v, 1000, 0.95, 0), rel=1e-12)
    assert (lo, hi) == bootstrap_ci(v, n_resamples=1000, level=0.95, seed=0)
    assert (lo, hi) != bootstrap_ci(v, n_resamples=1001)
    assert (lo, hi) != bootstrap_ci(v, seed=1)
    assert bootstrap_ci(v, level=0.5) == pytest.approx(_reference_ci(v, 1000, 0.5, 0), rel=1e-12)
    assert lo < v.mean() < hi
    assert bootstrap_ci(np.array([3.0])) == (3.0, 3.0)  # one value: a zero-width interval, not nan
    assert all(math.isnan(x) for x in bootstrap_ci(np.array([])))
    assert bootstrap_ci([1, 1, 1]) == (1.0, 1.0)  # a list of ints is accepted


def test_summarize_values_and_non_finite_accounting():
    s = summarize(np.array([0.1, 0.2, 0.9, np.nan, np.inf]))
    assert s["mean_pct"] == pytest.approx(40.0) and s["median_pct"] == pytest.approx(20.0)
    assert s["n"] == 3 and s["n_nonfinite"] == 2
    lo, hi = bootstrap_ci(np.array([0.1, 0.2, 0.9]))
    assert s["ci95_pct"] == pytest.approx([100 * lo, 100 * hi], rel=1e-12)
    one = summarize([0.5])
    assert one == {"mean_pct": 50.0, "median_pct": 50.0, "ci95_pct": [50.0, 50.0], "n": 1, "n_nonfinite": 0}
    empty = summarize(np.array([np.nan]))
    assert set(empty) == {"mean_pct", "median_pct", "ci95_pct", "n", "n_nonfinite"}
    assert empty["n"] == 0 and empty["n_nonfinite"] == 1
    assert math.isnan(empty["mean_pct"]) and math.isnan(empty["median_pct"])
    assert all(math.isnan(x) for x in empty["ci95_pct"]) and len(empty["ci95_pct"]) == 2


def test_relative_lp_loss_hand_computed():
    pred, true = torch.tensor(PRED), torch.tensor(TRUE)
    torch.testing.assert_close(relative_lp(pred, true), torch.tensor([5.0 / 337.0 ** 0.25, 2.0 / 3.0 ** 0.25],
                                                                      dtype=torch.float64))
    torch.testing.assert_close(relative_lp(pred, true, 2), torch.tensor([1.0, 2.0 / math.sqrt(3.0)], dtype=torch.float64))
    stacked = relative_lp(torch.stack([pred, pred]), torch.stack([true, true]), 2)
    assert stacked.shape == (2, 2)
    # a zero target: the error divided by eps = 1e-8
    torch.testing.assert_close(relative_lp(torch.tensor([[1e-9, 0.0]]), torch.zeros(1, 2)), torch.tensor([0.1]))


def test_sag_amplitude_hand_computed():
    window = torch.tensor([False, True, True, True, True, True, True, True, True, True, True, False])
    v = torch.tensor([[-70.0, -80.0, -90.0, -85.0, -84.0, -83.0, -82.0, -81.0, -80.0, -79.0, -75.0, -70.0]])
    # steady state = the last 10% of the 10 window samples (one sample, -75 mV); softmin at T = 50 is -90 mV
    torch.testing.assert_close(sag_amplitude(v, window), torch.tensor([15.0]), atol=1e-4, rtol=0)
    # steady_fraction 0.2: the last two window samples (-79, -75) -> -77 mV
    torch.testing.assert_close(sag_amplitude(v, window, steady_fraction=0.2), torch.tensor([13.0]), atol=1e-4, rtol=0)
    # a soft minimum: at T = 0.1 the weights spread, the "minimum" lies above -90 mV
    soft = sag_amplitude(v, window, temperature=0.1)
    weights = torch.softmax(-0.1 * v[0, 1:11], dim=0)
    torch.testing.assert_close(soft, (-75.0 - (weights * v[0, 1:11]).sum()).reshape(1))
    assert sag_amplitude(v, window, temperature=51.0) != sag_amplitude(v, window, temperature=0.5)
    two = sag_amplitude(torch.cat([v, v + 5.0]), window)
    torch.testing.assert_close(two, torch.tensor([15.0, 15.0]), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="the stimulus window is empty"):
        sag_amplitude(v, torch.zeros(12, dtype=torch.bool))
    one = torch.zeros(12, dtype=torch.bool)
    one[3] = True
    torch.testing.assert_close(sag_amplitude(v, one), torch.tensor([0.0]))  # a one-sample window: no sag


def test_sag_amplitude_default_temperature_is_50():
    window = torch.ones(3, dtype=torch.bool)
    v = torch.tensor([[-80.0, -80.02, -79.0]])
    expected = -79.0 - (torch.softmax(-50.0 * v[0], dim=0) * v[0]).sum()
    torch.testing.assert_close(sag_amplitude(v, window), expected.reshape(1))


def test_relative_l2_squared_hand_computed():
    pred, true = torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0])
    torch.testing.assert_close(relative_l2_squared(pred, true), torch.tensor(2.0 / 8.0))
    torch.testing.assert_close(relative_l2_squared(torch.tensor([3.0]), torch.tensor([1.0])), torch.tensor(4.0))
    torch.testing.assert_close(relative_l2_squared(torch.tensor([1e-7]), torch.tensor([0.0])), torch.tensor(1e-14 / 1e-12))


def test_relative_quantile_lp_ignores_timing_but_not_damped_peaks():
    t = torch.arange(200, dtype=torch.float64)
    spike = torch.where((t >= 50) & (t < 55), 20.0, -70.0)
    late = torch.roll(spike, 7)  # the same spike, 7 samples late
    damped = torch.where((t >= 50) & (t < 55), -30.0, -70.0)  # on time, but peaking at -30 mV
    both = torch.stack([late, damped])
    target = torch.stack([spike, spike])
    quantile = relative_quantile_lp(both, target, 4)
    pointwise = relative_lp(both, target, 4)
    assert quantile[0] == 0.0 and pointwise[0] > 0.0  # no double penalty for a misplaced spike
    torch.testing.assert_close(quantile[1], pointwise[1])  # a damped spike costs what it costs pointwise
    # hand-computed: sorted [-70 x 195, 20 x 5] against [-70 x 197, 10 x 3] (unsorted order of the input)
    pred = torch.cat([torch.full((3,), 10.0), torch.full((197,), -70.0)]).double()
    expected = ((2 * 90.0**4 + 3 * 10.0**4) ** 0.25) / ((195 * 70.0**4 + 5 * 20.0**4) ** 0.25)
    torch.testing.assert_close(relative_quantile_lp(pred[None], spike[None], 4),
                               torch.tensor([expected], dtype=torch.float64))


def test_the_quantile_term_of_the_training_objective():
    from noble.training.epoch import RelativeLpObjective

    torch.manual_seed(0)
    target = torch.randn(6, 50) * 10 - 65
    pred = torch.randn(4, 50) * 10 - 65
    rows = torch.tensor([0, 2, 3, 5])
    plain_loss, plain = RelativeLpObjective(target, 4)(pred, rows)
    loss, per_trace = RelativeLpObjective(target, 4, quantile_weight=0.5)(pred, rows)
    torch.testing.assert_close(plain, relative_lp(pred, target[rows], 4))
    torch.testing.assert_close(per_trace, plain + 0.5 * relative_quantile_lp(pred, target[rows], 4))
    torch.testing.assert_close(loss, per_trace.mean())
    assert loss > plain_loss


def test_gaussian_smooth_keeps_levels_and_area():
    flat = torch.full((2, 300), -70.0, dtype=torch.float64)
    torch.testing.assert_close(gaussian_smooth(flat, 10.0), flat)  # replicated ends: no droop at the edges
    pulse = torch.zeros(1, 400, dtype=torch.float64)
    pulse[0, 200] = 1.0
    smooth = gaussian_smooth(pulse, 8.0)
    torch.testing.assert_close(smooth.sum(), torch.tensor(1.0, dtype=torch.float64))  # unit-area kernel
    assert int(smooth.argmax()) == 200 and float(smooth.max()) < 0.06  # 1 / (8 sqrt(2 pi)) = 0.0499
    with pytest.raises(ValueError, match="smoothing width"):
        gaussian_smooth(pulse, 0.0)


def test_relative_smooth_l2_sees_offsets_and_missing_spikes_not_small_shifts():
    t = torch.arange(2000, dtype=torch.float64)
    spikes = torch.full((2000,), -70.0, dtype=torch.float64)
    for k in (400, 800, 1200, 1600):
        spikes[(t >= k) & (t < k + 10)] = 20.0
    shifted = torch.roll(spikes, 3)  # every spike 3 samples late
    missing = spikes.clone()
    missing[(t >= 1600) & (t < 1610)] = -70.0  # the last spike missed
    offset = spikes - 2.0  # 2 mV low everywhere
    target = spikes.expand(3, -1)
    pred = torch.stack([shifted, missing, offset])
    smooth = relative_smooth_l2(pred, target, 50.0)
    l4 = relative_lp(pred, target, 4)
    assert smooth[0] < 0.1 * smooth[1]  # a small shift is nearly free, a missing spike is not
    # hand-computed: a uniform offset survives smoothing unchanged, so it costs 2 mV over the smoothed norm
    torch.testing.assert_close(smooth[2], 2.0 * 2000**0.5 / torch.linalg.vector_norm(gaussian_smooth(target[:1], 50.0)))
    # the pointwise L4 error ranks the offset far below the shifted train; the slow-voltage error the other way
    assert l4[2] < l4[0] and smooth[2] > smooth[0]


def test_the_smooth_term_of_the_training_objective():
    from noble.training.epoch import RelativeLpObjective

    torch.manual_seed(1)
    target = torch.randn(5, 80) * 10 - 65
    pred = torch.randn(3, 80) * 10 - 65
    rows = torch.tensor([1, 2, 4])
    _, plain = RelativeLpObjective(target, 4, quantile_weight=0.5)(pred, rows)
    loss, per_trace = RelativeLpObjective(target, 4, quantile_weight=0.5, smooth_weight=2.0, smooth_samples=3.0)(pred, rows)
    torch.testing.assert_close(per_trace, plain + 2.0 * relative_smooth_l2(pred, target[rows], 3.0))
    torch.testing.assert_close(loss, per_trace.mean())
