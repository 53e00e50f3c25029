"""Capacity check: the architecture and training loop fit the spike trains of one HoF model (real PDE traces).

A short protocol keeps it to about a minute: HoF 0 of the PVALB cell, 8 amplitudes in 0.05-0.28 nA, a 70 ms
step, 1,500 samples at 0.06 ms. A model that cannot fire fails it (checked on a flat prediction).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from noble.sim.protocol import StepProtocol
from noble.training.capacity import (
    WITHIN_ONE_TARGET_PCT,
    paired_timing_error_ms,
    run_capacity_check,
    score_capacity,
)

SHORT = StepProtocol(t_stop=90.0, stim_start=10.0, stim_duration=70.0, n_samples=1500)


@pytest.fixture(scope="module")
def spiking_set(data_root, tmp_path_factory):
    from noble.sim.dataset import generate_dataset, grid_plan
    from noble.training.data import read_dataset

    out = tmp_path_factory.mktemp("capacity") / "hof0.h5"
    plan = grid_plan("human_pvalb_689331391", [0], np.linspace(0.05, 0.28, 8), protocol=SHORT, root=data_root)
    generate_dataset(out, plan, root=data_root, workers=2, progress=False)
    return read_dataset(out)


def test_pde_traces_spike_more_with_current(spiking_set):
    result = score_capacity(spiking_set.voltage, spiking_set, epochs=0)
    counts = np.asarray(result.true_counts)
    assert counts.min() >= 1 and counts[-1] > counts[0]
    assert result.passed and result.timing_error_ms == 0.0  # the truth scores perfectly against itself


def test_a_silent_model_fails(spiking_set):
    rest = np.repeat(spiking_set.voltage[:, :1], spiking_set.voltage.shape[1], axis=1)
    result = score_capacity(rest, spiking_set, epochs=0)
    assert not result.passed and result.missed_firing_pct == 100.0 and result.within_one_pct < WITHIN_ONE_TARGET_PCT


def test_paired_timing_error():
    assert paired_timing_error_ms([np.array([1.0, 5.0])], [np.array([1.5, 4.0, 9.0])]) == pytest.approx(0.75)
    assert np.isnan(paired_timing_error_ms([np.array([])], [np.array([2.0])]))


def test_fno_overfits_spike_trains(spiking_set, tmp_path):
    from noble.training import load_config

    cfg = load_config("laptop")
    cfg = replace(cfg, model=replace(cfg.model, n_layers=4, hidden_channels=16, n_modes=64, padded_length=None))
    cfg = cfg.with_training(learning_rate=0.004, batch_size=8, seed=0, schedule="cosine", min_lr_fraction=0.05)
    result, pred = run_capacity_check(spiking_set, cfg, tmp_path / "model", epochs=300, hof=0)
    assert pred.shape == spiking_set.voltage.shape
    assert result.within_one_pct >= WITHIN_ONE_TARGET_PCT, result
    assert result.missed_firing_pct == 0.0
    assert result.timing_error_ms < 2.0, result
