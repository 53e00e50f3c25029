"""Pipeline steps: settings, VIP configuration, HoF pools, dataset plans, simulation cache, argument checks."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from noble.errors import NobleError
from noble.pipeline import steps
from noble.pipeline.profiles import get_profile

PVALB = "human_pvalb_689331391"
VIP = "human_vip_685806972"


def test_run_settings_creates_the_run_folder(tmp_path):
    prof, layout = steps.run_settings("quick", PVALB, tmp_path)
    assert prof.name == "quick"
    assert layout.root == tmp_path / "quick" / PVALB
    for d in (layout.fit_dir, layout.data_dir, layout.model_dir, layout.results_dir):
        assert d.is_dir()
    with pytest.raises(ValueError, match="unknown profile"):
        steps.run_settings("nope", PVALB, tmp_path)


def test_output_dir_per_cell(tmp_path):
    assert steps.output_dir(tmp_path, PVALB) == tmp_path
    assert steps.output_dir(tmp_path, VIP) == tmp_path / VIP and (tmp_path / VIP).is_dir()


def test_model_config_follows_the_profile():
    for name in ("quick", "laptop", "paper"):
        prof = get_profile(name)
        cfg = steps.model_config(prof, PVALB)
        assert cfg.embedding.amplitude_frequencies == 9
        assert cfg.embedding.features == ("slope", "intercept")
        assert cfg.training.plateau_factor == 0.4
        assert cfg.training.max_minutes == prof.max_minutes
        if prof.epochs is not None:
            assert cfg.training.epochs == prof.epochs
    assert steps.model_config("paper", PVALB).training.epochs == 300
    assert steps.model_config("paper", PVALB).embedding.in_channels == 23


def test_vip_gets_the_papers_vip_settings():
    paper = steps.model_config("paper", VIP)
    assert paper.embedding.amplitude_frequencies == 11 and paper.embedding.in_channels == 27
    assert paper.training.epochs == 450 and paper.training.plateau_factor == 0.8
    assert paper.training.learning_rate == 0.004 and paper.training.plateau_patience == 4
    quick = get_profile("quick")
    q = steps.model_config(quick, VIP)
    assert q.training.epochs == -(-quick.epochs * 3 // 2)  # scaled like 300 -> 450
    assert q.training.max_minutes == pytest.approx(quick.max_minutes * 1.5)


def test_model_config_features_replace_the_embedding():
    cfg = steps.model_config("quick", PVALB, features=["slope", "intercept", "depol.AHP_depth"])
    assert cfg.embedding.features == ("slope", "intercept", "depol.AHP_depth")
    assert steps.model_config("quick", PVALB, features=[]).embedding.features == ()


def test_hof_pools_take_the_first_models_of_the_split(pvalb):
    quick = get_profile("quick")
    train, test = steps.hof_pools(quick, PVALB)
    assert train == tuple(pvalb.split.train[: quick.n_train_hofs])
    assert test == tuple(pvalb.split.test[: quick.n_test_hofs])
    train_all, test_all = steps.hof_pools("paper", PVALB)
    assert len(train_all) == 50 and len(test_all) == 10 and not set(train_all) & set(test_all)


def test_dataset_plans_sizes_and_pools(pvalb):
    quick = get_profile("quick")
    plans = steps.dataset_plans(quick, PVALB)
    assert set(plans) == set(steps.DATASET_KEYS)
    train, test = steps.hof_pools(quick, PVALB)
    assert len(plans["train"].hof) == quick.n_train_samples and set(plans["train"].hof) <= set(train)
    assert len(plans["unseen_currents"].hof) == quick.n_test_samples_per_hof * len(train)
    assert set(plans["unseen_currents"].hof) <= set(train)
    assert set(plans["test_hofs"].hof) <= set(test)
    assert len(plans["fi_grid"].hof) == len(quick.fi_amplitudes) * (len(train) + len(test))
    assert plans["train"].engine_options == {"discretization": quick.discretization}
    assert plans["train"].amplitude != plans["unseen_currents"].amplitude[: len(plans["train"].amplitude)]
    assert len({p.fingerprint() for p in plans.values()}) == 4


def test_bad_arguments_fail_before_any_work(pvalb, tmp_path):
    prof, layout = steps.run_settings("quick", PVALB, tmp_path)
    with pytest.raises(steps.PipelineError, match=r"\[32\] are not"):
        steps.ensure_model(prof, PVALB, layout, tag="t", train_hofs=[32])  # a test HoF
    with pytest.raises(steps.PipelineError, match="not per-HoF features"):
        steps.ensure_model(prof, PVALB, layout, tag="t", features=["slope", "no_such_feature"])
    with pytest.raises(steps.PipelineError, match="n_train_samples"):
        steps.ensure_model(prof, PVALB, layout, tag="t", n_train_samples=0)
    with pytest.raises(steps.PipelineError, match="model tag"):
        steps.ensure_model(prof, PVALB, layout, tag="../escape")
    with pytest.raises(steps.PipelineError, match="no trained model 'absent'"):
        steps.ensure_metrics(prof, PVALB, layout, tag="absent")
    with pytest.raises(steps.PipelineError, match="unknown sag fine-tuning"):
        steps.ensure_model(prof, PVALB, layout, tag="ft", finetune={"no_such_setting": 1})
    with pytest.raises(NobleError, match="unknown cell 'nope'"):
        steps.ensure_cell("nope")
    assert not any(layout.data_dir.iterdir())


def test_simulate_writes_the_training_layout_and_caches_by_plan(pvalb, tmp_path):
    from noble.sim.dataset import grid_plan
    from noble.training import read_dataset

    options = {"discretization": "max_extent:200"}
    plan = grid_plan(PVALB, [pvalb.split.train[0]], [-0.05], engine_options=options)
    out = steps._simulate(tmp_path / "d.h5", plan, workers=1)
    ds = read_dataset(out)
    assert ds.voltage.shape == (1, 8583) and ds.template.delay_ms == 15.0 and ds.template.duration_ms == 400.0
    assert ds.dt_ms == pytest.approx(0.06)
    assert -100 < float(ds.voltage[0, 0]) < -40  # rest (mV)
    assert float(ds.voltage[0, 6000]) < float(ds.voltage[0, 0])  # hyperpolarised during the negative step
    assert steps._dataset_plan_sha(out) == plan.fingerprint()
    assert not list(tmp_path.glob("*.sim.h5"))
    mtime = out.stat().st_mtime_ns
    assert steps._simulate(out, plan, workers=1) == out and out.stat().st_mtime_ns == mtime  # cached
    other = replace(plan, amplitude=(-0.04,))
    steps._simulate(out, other, workers=1)
    assert steps._dataset_plan_sha(out) == other.fingerprint()
    assert float(read_dataset(out).amplitude[0]) == pytest.approx(-0.04)
