"""Cached analyses of the figure notebooks: helpers on synthetic data, and the PVALB cell where a cell is needed (nA, mV, ms, Hz, %)."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from noble import errors
from noble.data import edits
from noble.data.params import ModelParameters, SectionParameters
from noble.pipeline import (
    ablations,
    cache,
    experiment,
    fi_curves,
    latent_space,
    pde_baselines,
    profiles,
    sag_finetuning,
    subsampling,
)
from noble.sim import raw_batch, subsample


def params(gbar: float, g_pas: float, ra: float = 100.0, mech: str = "NaV") -> ModelParameters:
    soma = SectionParameters(cm=1.0, g_pas=g_pas, e_pas=-70.0, mechanisms={mech: {"gbar": gbar, "vshift": 2.0}})
    dend = SectionParameters(cm=2.0, g_pas=g_pas / 2, e_pas=-70.0, mechanisms={"Ih": {"gbar": 1e-5}})
    return ModelParameters(Path("m.json"), ra, 34.0, -70.0, True, {"soma": soma, "dend": dend})


def test_experimental_fi_is_the_fitted_line_above_threshold():
    amps, rates = fi_curves.experimental_fi(380.7, 0.02, np.array([-0.1, 0.0, 0.12, 0.22]))
    assert 0.02 in amps  # the kink is drawn exactly
    assert rates[amps <= 0.02].max() == 0.0
    assert rates[amps == 0.12][0] == pytest.approx(38.07)
    with pytest.raises(errors.AnalysisError, match="finite"):
        fi_curves.experimental_fi(math.nan, 0.02)


def test_grid_table_arranges_traces_by_hof_and_amplitude():
    amp = np.array([0.1, -0.11, 0.1, 0.2])
    hof = np.array([3, 3, 7, 7])
    hofs, amps, table = fi_curves.grid_table(amp, hof, np.array([10.0, 0.0, 12.0, 30.0]))
    assert hofs.tolist() == [3, 7] and amps.tolist() == [-0.11, 0.1, 0.2]
    assert table[0].tolist()[:2] == [0.0, 10.0] and math.isnan(table[0, 2])
    assert table[1, 1:].tolist() == [12.0, 30.0] and math.isnan(table[1, 0])


def test_cached_arrays_recompute_only_when_the_signature_changes(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(3.0), "kind": np.array(["a", "b"])}

    path = tmp_path / "r.npz"
    first = cache.cached_arrays(path, {"w": "abc", "n": 3}, compute)
    again = cache.cached_arrays(path, {"n": 3, "w": "abc"}, compute)
    assert len(calls) == 1 and np.array_equal(first["x"], again["x"]) and again["kind"].tolist() == ["a", "b"]
    cache.cached_arrays(path, {"w": "abd", "n": 3}, compute)
    assert len(calls) == 2
    with pytest.raises(errors.AnalysisError, match="numeric"):
        cache.cached_arrays(tmp_path / "o.npz", {}, lambda: {"x": np.array([{"a": 1}], dtype=object)})


def test_cached_json_recomputes_on_new_inputs(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"errors": [1.0, float("nan")]}

    path = tmp_path / "r.json"
    assert cache.cached_json(path, {"a": 1}, compute)["errors"][0] == 1.0
    res = cache.cached_json(path, {"a": 1}, compute)
    assert len(calls) == 1 and math.isnan(res["errors"][1])
    cache.cached_json(path, {"a": 2}, compute)
    assert len(calls) == 2


def test_interpolate_parameters_mixes_every_value():
    a, b = params(0.1, 1e-4, ra=100.0), params(0.3, 3e-4, ra=200.0)
    assert edits.interpolate_parameters(a, b, 0.0) == a
    mid = edits.interpolate_parameters(a, b, 0.5)
    assert mid.ra == pytest.approx(150.0)
    assert mid.sections["soma"].mechanisms["NaV"]["gbar"] == pytest.approx(0.2)
    assert mid.sections["soma"].mechanisms["NaV"]["vshift"] == pytest.approx(2.0)
    assert mid.sections["dend"].g_pas == pytest.approx(1e-4)
    with pytest.raises(errors.AnalysisError, match="different mechanisms"):
        edits.interpolate_parameters(a, params(0.1, 1e-4, mech="Kv3_1"), 0.5)
    with pytest.raises(errors.AnalysisError, match="alpha"):
        edits.interpolate_parameters(a, b, 1.5)


def test_perturb_parameters_changes_only_conductances():
    p = params(0.1, 1e-4)
    same = edits.perturb_parameters(p, 0.0, np.random.default_rng(0))
    assert same == p
    q = edits.perturb_parameters(p, 0.2, np.random.default_rng(0))
    assert q.sections["soma"].mechanisms["NaV"]["gbar"] != 0.1
    assert q.sections["soma"].mechanisms["NaV"]["vshift"] == 2.0
    assert q.sections["soma"].g_pas != 1e-4 and q.sections["soma"].e_pas == -70.0 and q.ra == p.ra
    assert edits.is_conductance("gbar") and edits.is_conductance("gK_Pstbar") and not edits.is_conductance("gamma")


def test_subsampling_strategies_keep_duration_and_slow_signals():
    dt = 0.02
    t = np.arange(25750) * dt
    slow = -70 + 5 * np.sin(2 * np.pi * t / 515.0)
    for strategy in subsample.SUBSAMPLING_STRATEGIES:
        ts, v = subsample.subsample(slow, 3, strategy, dt)
        assert v.shape[-1] == 8584 and ts[1] == pytest.approx(0.06, rel=1e-3) and ts[-1] < 515.0
        assert np.max(np.abs(v[100:-100] - slow[::3][100:-100])) < 0.05, strategy
    ts1, v1 = subsample.subsample(slow, 1, "lpf_decimate", dt)
    assert np.array_equal(v1, slow)
    const = np.full(3000, -65.0)
    assert np.allclose(subsample.subsample(const, 4, "lpf_decimate", dt)[1], -65.0)
    with pytest.raises(errors.AnalysisError, match="strategy"):
        subsample.subsample(slow, 3, "median", dt)
    with pytest.raises(errors.AnalysisError, match=">= 1"):
        subsample.subsample(slow, 0, "decimate", dt)


def test_subsampling_errors_are_zero_at_factor_one_and_grow_for_spikes():
    dt = 0.02
    t = np.arange(0, 515, dt)
    v = np.full(t.shape, -70.0)
    for t0 in np.arange(30, 400, 25.0):
        v += 95 * np.exp(-(((t - t0) / 0.25) ** 2))
    errors, original = subsampling.subsampling_errors(v[None], np.array([0.1]), dt, [1, 8], ["Spikecount", "AP1_peak"],
                                             strategies=("lpf_decimate", "decimate"))
    assert original[0]["Spikecount"] == 15
    assert errors["AP1_peak"]["lpf_decimate"][0, 0] == 0.0
    assert errors["AP1_peak"]["lpf_decimate"][1, 0] > 1.0  # filtering a 0.25 ms spike lowers its peak
    assert errors["Spikecount"]["decimate"].shape == (2, 1)


def test_relative_errors_and_experiment_values():
    assert subsampling.relative_errors([11.0, np.nan], [10.0, 10.0])[0] == pytest.approx(10.0, rel=1e-6)
    exp = {"depol.Spikecount": 69.0, "depol.AP1_width": 0.5, "hyperpol.voltage_base": -67.5}
    assert experiment.experimental_value(exp, "mean_frequency") == 69.0  # spikes over the 1 s step
    assert experiment.experimental_value(exp, "voltage_base", depolarising=False) == -67.5
    assert math.isnan(experiment.experimental_value(exp, "AHP_depth"))
    err = experiment.errors_vs_experiment([{"AP1_width": 0.6, "mean_frequency": 60.0}, {"AP1_width": math.nan}], exp,
                                  ["AP1_width", "mean_frequency", "AHP_depth"])
    assert err["AP1_width"][0] == pytest.approx(20.0) and math.isnan(err["AP1_width"][1])
    assert err["mean_frequency"][0] == pytest.approx(100 * 9 / 69)
    assert np.isnan(err["AHP_depth"]).all()


def test_experiment_gap_takes_the_best_amplitude_per_hof():
    rows = [{"AP1_width": 0.6}, {"AP1_width": 0.55}, {"AP1_width": 0.5}, {"AP1_width": math.nan}]
    gap = subsampling.experiment_gap(rows, np.array([0.1, 0.2, 0.1, 0.2]), np.array([0, 0, 1, 1]),
                            {"depol.AP1_width": 0.5}, ["AP1_width", "sag_amplitude"])
    assert gap["AP1_width"][0] == pytest.approx(5.0, rel=1e-4)  # mean of 10% (HoF 0) and 0% (HoF 1)
    assert gap["AP1_width"][1] == pytest.approx(5.0, rel=1e-4)
    assert all(math.isnan(v) for v in gap["sag_amplitude"])


def test_table_helpers():
    assert ablations.hof_counts(50, (1.0, 0.8, 0.6, 0.4)) == [50, 40, 30, 20]
    assert ablations.hof_counts(4, (1.0, 0.5, 0.1)) == [4, 2]
    with pytest.raises(errors.AnalysisError, match="at least 2"):
        ablations.hof_counts(1, (1.0,))
    assert sag_finetuning.checkpoint_epochs(300) == [100, 200, 300] and sag_finetuning.checkpoint_epochs(2) == [1, 1, 2]
    with pytest.raises(errors.AnalysisError, match="at least one epoch"):
        sag_finetuning.checkpoint_epochs(0)
    assert ablations.feature_set_tag(("slope", "intercept")) == "main"
    assert ablations.feature_set_tag(("slope", "intercept"), main=False) == "feat-slope-intercept"
    assert ablations.feature_set_tag(()) == "feat-none"
    assert ablations.feature_set_tag(("slope", "intercept", "depol.AHP_depth")) == "feat-slope-intercept-AHP_depth"


def test_ablation_profile_and_settings():
    from noble.pipeline.profiles import get_profile

    quick = get_profile("quick")
    assert ablations.ablation_profile(quick).epochs == profiles.analysis_settings("quick").ablation_epochs
    laptop = get_profile("laptop")
    assert ablations.ablation_profile(laptop).max_minutes == profiles.analysis_settings("laptop").ablation_max_minutes
    assert ablations.ablation_profile(laptop).epochs == laptop.epochs
    with pytest.raises(errors.AnalysisError, match="no analysis settings"):
        profiles.analysis_settings("huge")
    assert set(profiles.ANALYSIS_SETTINGS) >= {"quick", "laptop", "paper"}


def test_small_notebook_helpers():
    assert fi_curves.nearest_amplitude([-0.11, 0.1, 0.2], 0.18) == 0.2
    pts = np.array([[0.0, 0.0], [1.0, 1.0], [0.2, 0.1]])
    assert latent_space.nearest_hofs(pts, [5, 6, 7], np.array([0.1, 0.0]), k=2) == [5, 7]
    with pytest.raises(errors.AnalysisError, match="no values"):
        fi_curves.nearest_index([], 0.1)


def test_latent_points_of_the_pvalb_cell(pvalb, tmp_path, monkeypatch):
    lat = latent_space.latent_points(pvalb)
    assert lat["train"].shape == (50, 2) and lat["test"].shape == (10, 2)
    assert lat["train"].min() == pytest.approx(0.5) and lat["train"].max() == pytest.approx(3.5)
    assert lat["test_hofs"].tolist() == [32, 2, 12, 40, 5, 52, 21, 29, 16, 37]
    assert experiment.specimen_id(pvalb) == 689331391
    monkeypatch.setenv("NOBLE_CACHE_DIR", str(tmp_path))
    assert experiment.experimental_sweeps(pvalb, [0.1]) is None  # no NWB file cached and no download asked for


def test_speed_settings_are_valid_bench_settings():
    from dataclasses import fields

    from noble.bench.speed_table import BenchSettings

    known = {f.name for f in fields(BenchSettings)}
    for name, s in profiles.ANALYSIS_SETTINGS.items():
        keys = set(s.speed) - {"cpu_batches", "gpu_batches"}
        assert keys <= known, (name, keys - known)
        assert s.speed["cpu_batches"] and s.speed["gpu_batches"]


def test_interpolated_model_at_alpha_zero_simulates_like_its_first_partner(pvalb):
    a, b = pvalb.hof(0), pvalb.hof(1)
    mixed = replace(a, params=edits.interpolate_parameters(a.params, b.params, 0.0))
    raws = raw_batch.simulate_models([a, mixed], pvalb.morphology, [-0.05], "max_extent:100")
    assert raws[0].shape == (1, 25750) and np.isfinite(raws[0]).all()
    np.testing.assert_allclose(raws[1], raws[0], atol=1e-9)


def test_fig4_pde_baselines_simulate_the_edited_parameters(pvalb, tmp_path, monkeypatch):
    """The interpolated and perturbed models handed to the simulator carry the edited parameters."""
    seen = []

    def fake_simulate(models, morphology, amps, discretization, workers=1, desc=""):
        seen.extend(models)
        return [np.full((len(amps), 25750), -70.0) for _ in models]

    monkeypatch.setattr(pde_baselines, "simulate_models", fake_simulate)
    pde_baselines.pde_baselines_cached(pvalb, 32, (0, 1), (0.25, 0.75), 2, 0.2, [0.1], "max_extent:100", tmp_path, seed=0)
    a, b, base = pvalb.hof(0), pvalb.hof(1), pvalb.hof(32)
    assert len(seen) == 4
    for model, alpha in zip(seen[:2], (0.25, 0.75)):
        assert model.params == edits.interpolate_parameters(a.params, b.params, alpha)
        assert model.params != a.params and model.params != b.params
    rng = np.random.default_rng(0)
    for model in seen[2:]:
        assert model.params == edits.perturb_parameters(base.params, 0.2, rng)
        assert model.params != base.params
