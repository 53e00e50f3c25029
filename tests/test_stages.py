"""Staged training: a run continued on coarser traces and back, each stage from the previous stage's weights."""
from __future__ import annotations

import csv
import json

import pytest

from noble import load_model
from noble.hashing import sha256_file
from noble.training import TrainingError, load_config, read_dataset
from noble.training.stages import (STAGE_FILE, STAGES_LOG, ResolutionStage, coarse_padded_length, stage_config,
                                   stage_finished, train_stages)
from conftest import SYNTH_TABLE, SYNTH_TEST_HOFS, SYNTH_TRAIN_HOFS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KW = {"feature_table": SYNTH_TABLE, "train_hofs": SYNTH_TRAIN_HOFS, "test_hofs": SYNTH_TEST_HOFS, "progress": False}


def test_stage_settings_are_checked():
    for bad in ({"factor": 0}, {"factor": 2.0}, {"epochs": 0}, {"hold_epochs": 5}, {"learning_rate": 0.0},
                {"min_lr_fraction": 1.5}, {"quantile_weight": -0.5}):
        args = {"factor": 2, "epochs": 3, "hold_epochs": 1, "learning_rate": 0.01, **bad}
        with pytest.raises(TrainingError):
            ResolutionStage(**args)
    for stage in (ResolutionStage(2, 3, 1, 0.01), ResolutionStage(2, 3, 1, 0.01, quantile_weight=1.0)):
        assert ResolutionStage.from_dict(stage.as_dict()) == stage


def test_coarse_grids_keep_an_fft_friendly_length():
    assert coarse_padded_length(8640, 8583, 1) == 8640  # the full grid is the base run's own
    assert coarse_padded_length(8640, 4292, 2) == 4320  # 8,640 / 2 holds 4,292 samples
    assert coarse_padded_length(8640, 2861, 3) == 2880
    assert coarse_padded_length(None, 4292, 2) >= 4292
    length = coarse_padded_length(None, 4292, 2)
    for p in (2, 3, 5, 7):
        while length % p == 0:
            length //= p
    assert length == 1


def test_stage_configurations_follow_the_base_run():
    base = load_config("laptop")
    config = stage_config(base, ResolutionStage(2, 50, 34, 0.002), 2, 4292)
    assert config.model.padded_length == 4320 and config.name == f"{base.name}-stage2-coarse2"
    assert (config.training.epochs, config.training.hold_epochs, config.training.schedule) == (50, 34, "cosine")
    assert (config.model.n_layers, config.model.n_modes, config.embedding) == (base.model.n_layers,
                                                                              base.model.n_modes, base.embedding)
    assert config.training.quantile_weight == 0.0 and "quantile_weight" not in config.as_dict()["training"]
    last = stage_config(base, ResolutionStage(1, 3, 0, 0.0002), 3, 8583)
    assert last.model == base.model and last.training.learning_rate == 0.0002
    weighted = stage_config(base, ResolutionStage(2, 50, 34, 0.002, quantile_weight=1.0), 2, 4292)
    assert weighted.training.quantile_weight == 1.0 and weighted.as_dict()["training"]["quantile_weight"] == 1.0


def test_stages_chain_their_weights_log_every_epoch_and_are_not_rerun(synthetic_dataset, tmp_path):
    dataset = read_dataset(synthetic_dataset)
    base = load_config("quick").with_training(epochs=2, batch_size=8)
    stages = (ResolutionStage(2, 2, 1, 0.004), ResolutionStage(1, 1, 0, 0.001))
    dirs = [tmp_path / "s1", tmp_path / "s2", tmp_path / "model"]
    kw = KW
    summaries = train_stages(dataset, base, stages, dirs, train_kwargs=kw, log=lambda _: None)
    assert [s["factor"] for s in summaries] == [1, 2, 1]
    assert [s["epochs_completed"] for s in summaries] == [2, 2, 1]
    # each stage starts from the weights the stage before it saved
    for before, after in zip(dirs, dirs[1:]):
        card = load_model(after).card
        assert card["training"]["init_weights_sha256"] == sha256_file(before / "model.safetensors")
    assert "init_weights_sha256" not in load_model(dirs[0]).card["training"]
    # the coarse stage trained on half the samples, the last one is back on the dataset's grid
    assert load_model(dirs[1]).template.n_samples == -(-dataset.template.n_samples // 2)
    assert load_model(dirs[2]).template == dataset.template
    with (dirs[2] / STAGES_LOG).open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["stage"], r["factor"], r["epoch"]) for r in rows] == [("1", "1", "1"), ("1", "1", "2"), ("2", "2", "1"),
                                                                    ("2", "2", "2"), ("3", "1", "1")]
    assert [int(r["total_epoch"]) for r in rows] == [1, 2, 3, 4, 5]
    # a second call finds every stage finished and trains nothing
    stamp = (dirs[2] / "model.safetensors").stat().st_mtime_ns
    again = train_stages(dataset, base, stages, dirs, train_kwargs=kw, log=lambda _: None)
    assert (dirs[2] / "model.safetensors").stat().st_mtime_ns == stamp
    assert [s["epochs_completed"] for s in again] == [2, 2, 1]
    # a changed recipe for the last stage retrains that stage only, replacing its old directory
    changed = (stages[0], ResolutionStage(1, 2, 0, 0.001))
    first_stamp = (dirs[0] / "model.safetensors").stat().st_mtime_ns
    third = train_stages(dataset, base, changed, dirs, train_kwargs=kw, log=lambda _: None)
    assert third[-1]["epochs_completed"] == 2
    assert (dirs[0] / "model.safetensors").stat().st_mtime_ns == first_stamp
    assert json.loads((dirs[2] / STAGE_FILE).read_text())["config"]["training"]["epochs"] == 2
    assert not stage_finished(dirs[2], stage_config(base, stages[1], 3, dataset.template.n_samples))


def test_a_wrong_number_of_directories_is_refused(synthetic_dataset, tmp_path):
    with pytest.raises(TrainingError, match="directories"):
        train_stages(read_dataset(synthetic_dataset), load_config("quick"), (ResolutionStage(2, 1, 0, 0.01),),
                     [tmp_path / "only-one"])


def test_the_pipeline_trains_a_profiles_main_model_in_its_stages(quick_dataset, data_root, tmp_path, monkeypatch):
    from dataclasses import replace

    from noble.pipeline import steps
    from noble.pipeline.profiles import get_profile

    monkeypatch.setenv("NOBLE_DATA_DIR", str(data_root))
    monkeypatch.setenv(steps.RETRAIN_ENV, "1")
    monkeypatch.setattr(steps, "ensure_dataset", lambda *args, **kw: quick_dataset)
    cell = "human_pvalb_689331391"
    plain = get_profile("quick")
    train_hofs = sorted(set(read_dataset(quick_dataset).hof.tolist()) - set(steps.hof_pools(plain, cell)[1]))
    prof = replace(plain, n_train_hofs=None, epochs=1, max_minutes=None,
                   main_stages=(ResolutionStage(2, 1, 0, 0.004),))
    monkeypatch.setattr(steps, "hof_pools", lambda *args: (tuple(train_hofs), (32,)))
    _, layout = steps.run_settings("quick", cell, tmp_path)
    out = steps.ensure_model(prof, cell, layout)
    info = json.loads((out / steps.SIGNATURE_FILE).read_text())
    assert info["status"] == "finished" and info["signature"]["stages"] == [prof.main_stages[0].as_dict()]
    assert [s["factor"] for s in info["stages"]] == [1, 2]
    assert info["wall_time_s"] == pytest.approx(sum(s["wall_time_s"] for s in info["stages"]))
    first = steps.stage_directories(out, 2)[0]
    assert load_model(out).card["training"]["init_weights_sha256"] == sha256_file(first / "model.safetensors")
    with (out / STAGES_LOG).open() as fh:
        assert [r["stage"] for r in csv.DictReader(fh)] == ["1", "2"]
    # the same call again finds the finished model; a profile without stages names none in its signature
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert steps.ensure_model(prof, cell, layout) == out and (out / "model.safetensors").stat().st_mtime_ns == stamp
    single = steps.ensure_model(replace(prof, main_stages=()), cell, layout)
    assert "stages" not in json.loads((single / steps.SIGNATURE_FILE).read_text())["signature"]
    assert not (single / STAGES_LOG).exists()


def test_a_model_moves_to_another_grid_with_the_same_weights():
    from dataclasses import replace as dc_replace

    import numpy as np
    import torch

    from conftest import small_model

    model = small_model().eval()
    same = model.on_grid(model.template, model.config.padded_length)
    np.testing.assert_array_equal(same.predict([0.1, -0.05], hofs=[0, 1]), model.predict([0.1, -0.05], hofs=[0, 1]))
    finer = dc_replace(model.template, n_samples=2 * model.template.n_samples - 1, dt_ms=model.template.dt_ms / 2)
    moved = model.on_grid(finer, 640)
    assert moved.template == finer and moved.config.padded_length == 640 and model.config.padded_length is None
    assert moved.predict([0.1], hofs=[0]).shape == (1, finer.n_samples)
    for name, tensor in model.weight_tensors().items():
        assert torch.equal(tensor, moved.weight_tensors()[name])
    assert not moved.training and not hasattr(moved, "card")
