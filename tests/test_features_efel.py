"""eFEL features with the stimulus window set, on synthetic and on simulated traces."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from noble.cli import main
from noble.features import PAPER_FEATURES, FeatureError, extract_features, feature_matrix, spike_counts
from noble.sim.traces import read_dataset


def _spiky(times_ms, t):
    """A -70 mV trace with 1 ms square spikes to +20 mV at the given times (ms)."""
    v = np.full_like(t, -70.0)
    for s in times_ms:
        v[(t >= s) & (t < s + 1.0)] = 20.0
    return v


def test_paper_feature_list():
    assert len(PAPER_FEATURES) == 16 and len(set(PAPER_FEATURES)) == 16
    assert {"Spikecount", "AP1_width", "mean_AP_amplitude", "steady_state_voltage", "sag_amplitude"} <= set(PAPER_FEATURES)


def test_spike_count_only_inside_the_window():
    t = np.arange(0, 515, 0.06)
    v = np.stack([_spiky([5.0, 100.0, 200.0, 300.0, 450.0], t), np.full_like(t, -70.0)])
    assert spike_counts(v, t).tolist() == [3, 0]
    assert spike_counts(v, t, stim_start=0.0, stim_end=515.0).tolist() == [5, 0]


def test_features_are_ordered_and_nan_when_absent():
    t = np.arange(0, 515, 0.06)
    silent = np.where((t >= 16) & (t < 415), -80.0, -70.0)
    rows = extract_features(silent, t)  # a 1-D trace
    assert len(rows) == 1 and list(rows[0]) == list(PAPER_FEATURES)
    assert math.isnan(rows[0]["AP1_width"]) and math.isnan(rows[0]["mean_frequency"])
    assert rows[0]["Spikecount"] == 0
    assert rows[0]["voltage_base"] == pytest.approx(-70.0)
    assert rows[0]["steady_state_voltage_stimend"] == pytest.approx(-80.0)
    m = feature_matrix(rows)
    assert m.shape == (1, 16)


def test_bad_input_errors():
    t = np.arange(0, 10, 0.1)
    with pytest.raises(FeatureError, match="match voltage"):
        extract_features(np.zeros((2, 50)), t)
    with pytest.raises(FeatureError, match="unknown eFEL feature"):
        extract_features(np.zeros(100), t, features=("voltage_base", "no_such_feature"))
    with pytest.raises(FeatureError, match="increasing"):
        extract_features(np.zeros(100), t[::-1])


def test_features_of_simulated_traces(quick_dataset: Path, pvalb):
    ds = read_dataset(quick_dataset)
    rows = extract_features(ds.voltage, ds.time)
    counts = spike_counts(ds.voltage, ds.time)
    for i, row in enumerate(rows):
        assert row["Spikecount"] == counts[i]
        published = pvalb.hof(int(ds.hof[i])).features["hyperpol.voltage_base"]
        assert abs(row["voltage_base"] - published) < 0.5
        if counts[i] > 0:
            assert 0.1 < row["AP1_width"] < 2.0 and row["AP1_peak"] > -10.0 and row["mean_frequency"] > 0
        else:
            assert math.isnan(row["AP1_width"])
    hyper = [r for r, a in zip(rows, ds.amplitude) if a < 0]
    assert all(r["sag_amplitude"] >= 0 and r["steady_state_voltage_stimend"] < r["voltage_base"] for r in hyper)


def test_features_cli(quick_dataset: Path, tmp_path):
    out = tmp_path / "features.csv"
    assert main(["features", str(quick_dataset), "--out", str(out), "--features", "Spikecount,voltage_base"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "index,hof,amplitude_nA,Spikecount,voltage_base"
    assert len(lines) == 1 + len(read_dataset(quick_dataset))


def test_features_cli_needs_a_dataset(tmp_path, capsys):
    assert main(["features", "--out", str(tmp_path / "f.csv")]) == 2
    assert "give a dataset file" in capsys.readouterr().err
