"""F-I curves and the threshold current / slope method, and the documented PVALB table."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from noble.features.fi import FICurve, firing_rates, threshold_and_slope, threshold_slope_from_curve
from noble.features.fi_table import fi_protocol, read_table, summarize
from noble.sim import get_engine

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "docs" / "fi_human_pvalb_689331391.csv"
DOC = ROOT / "docs" / "simulation.md"


def test_rates_are_spikes_per_second_in_the_window():
    t = np.arange(0, 515, 0.06)
    v = np.full((1, t.size), -70.0)
    for s in (50.0, 150.0, 250.0, 350.0, 450.0):  # the last one is after the step
        v[0, (t >= s) & (t < s + 1)] = 20.0
    assert firing_rates(v, t).tolist() == [10.0]  # 4 spikes in 0.4 s


def test_threshold_and_slope_of_a_known_curve():
    amps = np.round(np.arange(0.0, 0.1001, 0.005), 6)
    rates = np.where(amps >= 0.02, 500.0 * (amps - 0.01), 0.0)
    ts = threshold_slope_from_curve(FICurve(amps, rates))
    assert ts.bracket == (0.015, 0.02)
    assert ts.threshold == pytest.approx(0.0175)
    assert ts.slope == pytest.approx(500.0)
    assert ts.intercept_fit == pytest.approx(0.01)
    silent = threshold_slope_from_curve(FICurve(amps, np.zeros_like(amps)))
    assert math.isnan(silent.threshold) and math.isnan(silent.slope)


@pytest.mark.parametrize("index", [0, 32])
def test_simulated_threshold_matches_the_table(pvalb, index):
    if not TABLE.is_file():
        pytest.skip(f"{TABLE} not generated")
    row = {int(r["index"]): r for r in read_table(TABLE)}[index]
    # a coarser search than the table's (one round of 3 points instead of two of 7) brackets its threshold
    ts, curve = threshold_and_slope(
        get_engine("arbor"), pvalb.hof(index), pvalb.morphology, fi_protocol(), points=3, rounds=1, slope_points=2
    )
    lo, hi = ts.bracket
    assert hi - lo == pytest.approx(0.1 / 4)
    below, above = curve.rate[curve.amplitude <= lo], curve.rate[curve.amplitude >= hi]
    assert np.all(below == 0) and np.all(above > 0) and np.all(np.diff(above) >= 0)
    assert lo <= row["bracket_low_nA"] + 1e-6 and row["bracket_high_nA"] <= hi + 1e-6
    assert ts.slope > 0
    assert 0.005 < ts.threshold < 0.04  # the published range is 0.014-0.019 nA


def test_documented_table_matches_the_csv():
    if not TABLE.is_file():
        pytest.skip(f"{TABLE} not generated")
    rows = read_table(TABLE)
    assert len(rows) == 60
    s = summarize(rows)
    text = DOC.read_text()
    for key in ("spearman_I_thr_vs_intercept", "spearman_s_thr_vs_slope", "ratio_I_thr_to_intercept",
                "ratio_s_thr_to_slope", "ratio_mean_s_thr_to_experimental_slope",
                "ratio_mean_I_thr_to_experimental_intercept"):
        match = re.search(rf"`{key}`\s*\|\s*(-?[0-9.]+)", text)
        assert match, f"{DOC} does not report {key}"
        assert float(match.group(1)) == pytest.approx(s[key], abs=0.006), key
