"""Staged training: a run continued on coarser traces and back, each stage from the previous stage's weights."""
from __future__ import annotations

import csv
import json

import pytest

from noble import load_model
from noble.hashing import sha256_file
from noble.training import TrainingError, load_config, read_dataset
from noble.training.stages import (STAGE_FILE, STAGES_LOG, ResolutionStage, coarse_padded_length, regridded,
                                   stage_config, stage_finished, train_stages)
from conftest import SYNTH_TABLE, SYNTH_TEST_HOFS, SYNTH_TRAIN_HOFS, write_synthetic

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KW = {"feature_table": SYNTH_TABLE, "train_hofs": SYNTH_TRAIN_HOFS, "test_hofs": SYNTH_TEST_HOFS, "progress": False}


def test_stage_settings_are_checked():
    for bad in ({"factor": 0}, {"factor": 2.0}, {"epochs": 0}, {"hold_epochs": 5}, {"learning_rate": 0.0},
                {"min_lr_fraction": 1.5}, {"quantile_weight": -0.5}, {"smooth_weight": -1.0},
                {"smooth_ms": 0.0}):
        args = {"factor": 2, "epochs": 3, "hold_epochs": 1, "learning_rate": 0.01, **bad}
        with pytest.raises(TrainingError):
            ResolutionStage(**args)
    for bad in ({"extra_samples": -1}, {"extra_samples": 2.5}, {"extra_seed": -3}, {"extra_samples": True}):
        with pytest.raises(TrainingError, match="non-negative integer"):
            ResolutionStage(2, 3, 1, 0.01, **bad)
    for stage in (ResolutionStage(2, 3, 1, 0.01), ResolutionStage(2, 3, 1, 0.01, quantile_weight=1.0),
                  ResolutionStage(2, 3, 1, 0.01, extra_samples=40, extra_seed=21),
                  ResolutionStage(2, 3, 1, 0.01, smooth_weight=2.0, smooth_ms=7.5)):
        assert ResolutionStage.from_dict(stage.as_dict()) == stage
    assert "smooth_weight" not in ResolutionStage(2, 3, 1, 0.01, smooth_ms=9.0).as_dict()  # off: older signature
    # a stage that adds no traces keeps the dictionary (and so the signature) of older recipes
    assert "extra_samples" not in ResolutionStage(2, 3, 1, 0.01).as_dict()
    assert ResolutionStage(2, 3, 1, 0.01, extra_samples=40, extra_seed=21).as_dict()["extra_seed"] == 21


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
    smooth = stage_config(base, ResolutionStage(2, 22, 15, 0.002, smooth_weight=2.0, smooth_ms=5.0), 2, 4292)
    assert (smooth.training.smooth_weight, smooth.training.smooth_ms) == (2.0, 5.0)
    assert "smooth_weight" not in config.as_dict()["training"]


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


def test_a_stage_adds_traces_keeps_the_first_stages_held_out_rows_and_ends_on_the_full_grid(synthetic_dataset,
                                                                                            tmp_path):
    import numpy as np

    dataset = read_dataset(synthetic_dataset)
    rng = np.random.default_rng(5)
    hofs = np.repeat(np.asarray(SYNTH_TRAIN_HOFS), 4)
    extra = read_dataset(write_synthetic(tmp_path / "extra.h5", rng.uniform(-0.11, 0.28, hofs.size), hofs, seed=5))
    base = load_config("quick").with_training(epochs=1, batch_size=8)
    stages = (ResolutionStage(2, 2, 1, 0.004, quantile_weight=1.0, extra_samples=len(extra), extra_seed=5),)
    dirs, final = [tmp_path / "s1", tmp_path / "s2"], tmp_path / "model"
    summaries = train_stages(dataset, base, stages, dirs, extra=[extra], final_dir=final, train_kwargs=KW,
                             log=lambda _: None)
    first = json.loads((dirs[0] / "split.json").read_text())
    second = json.loads((dirs[1] / "split.json").read_text())
    # stage 2 trains on stage 1's training rows plus every extra trace and selects on stage 1's held-out rows
    assert first["holdout"] and second["holdout"] == first["holdout"]
    extra_rows = list(range(len(dataset), len(dataset) + len(extra)))
    assert second["train"] == sorted(first["train"] + extra_rows)
    assert not set(second["train"]) & set(first["holdout"])
    stage_card = dataset.concat(extra).coarsened(2).data_card_sha256
    assert second["data_card_sha256"] == stage_card == summaries[1]["data_card_sha256"]
    assert load_model(dirs[1]).card["training"]["n_train"] == len(first["train"]) + len(extra)
    # the coarse last stage's weights, moved onto the dataset's grid, are the model
    coarse, model = load_model(dirs[1]), load_model(final)
    assert coarse.template.n_samples == -(-dataset.template.n_samples // 2) and model.template == dataset.template
    for name, tensor in coarse.weight_tensors().items():
        assert np.array_equal(tensor.numpy(), model.weight_tensors()[name].numpy())
    assert model.card["training"]["regridded"]["to_samples"] == dataset.template.n_samples
    assert model.card["metrics"] == coarse.card["metrics"] and "checkpoint_epoch" not in model.card["training"]
    # a checkpoint moved the same way says which epoch it is and keeps no metrics of the saved epoch
    moved, card = regridded(coarse, dataset.template, None, checkpoint_epoch=1, name="epoch 1")
    assert card["training"]["checkpoint_epoch"] == 1 and not card["metrics"] and card["name"] == "epoch 1"
    assert moved.template == dataset.template
    assert (final / STAGES_LOG).is_file() and (final / "split.json").read_text() == (dirs[1] / "split.json").read_text()
    # the nearest-neighbour baseline finds those training rows on the full grid, and only with the extra traces
    from noble.evaluation.evaluate import training_reference

    reference, rows = training_reference(second, [dataset, extra])
    assert len(reference) == len(dataset) + len(extra) and rows.tolist() == second["train"]
    assert training_reference(second, [dataset])[1] is None
    # finished stages are found again; other extra traces make stage 2 train anew
    stamp = (dirs[1] / "model.safetensors").stat().st_mtime_ns
    train_stages(dataset, base, stages, dirs, extra=[extra], final_dir=final, train_kwargs=KW, log=lambda _: None)
    assert (dirs[1] / "model.safetensors").stat().st_mtime_ns == stamp
    other = read_dataset(write_synthetic(tmp_path / "other.h5", rng.uniform(-0.11, 0.28, hofs.size), hofs, seed=6))
    assert not stage_finished(dirs[1], stage_config(base, stages[0], 2, coarse.template.n_samples),
                              dataset.concat(other).coarsened(2).data_card_sha256)


def test_stages_refuse_missing_or_unasked_extra_traces_and_a_coarse_end_without_a_final_directory(
        synthetic_dataset, tmp_path):
    dataset = read_dataset(synthetic_dataset)
    base = load_config("quick").with_training(epochs=1, batch_size=8)
    dirs = [tmp_path / "s1", tmp_path / "s2"]
    with pytest.raises(TrainingError, match="final_dir"):
        train_stages(dataset, base, (ResolutionStage(2, 1, 0, 0.004),), dirs, train_kwargs=KW, log=lambda _: None)
    with pytest.raises(TrainingError, match="adding 12 traces needs them"):
        train_stages(dataset, base, (ResolutionStage(1, 1, 0, 0.004, extra_samples=12),), dirs, train_kwargs=KW,
                     log=lambda _: None)
    with pytest.raises(TrainingError, match="adds none"):
        train_stages(dataset, base, (ResolutionStage(1, 1, 0, 0.004),), dirs, extra=[dataset], train_kwargs=KW,
                     log=lambda _: None)


def test_explicit_held_out_rows_replace_the_random_split():
    import numpy as np

    from noble.errors import DataError
    from noble.training.data import split_rows

    hof = np.array([0, 0, 1, 1, 2, 2, 7, 7])
    split = split_rows(hof, [0, 1, 2], [7], 0.5, 0, holdout_rows=[3, 0])
    assert split.holdout.tolist() == [0, 3] and split.train.tolist() == [1, 2, 4, 5] and split.test_hofs.tolist() == [6, 7]
    with pytest.raises(DataError, match="not rows of train HoF models"):
        split_rows(hof, [0, 1, 2], [7], 0.5, 0, holdout_rows=[6])


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
    directories, final = steps.stage_directories(out, prof.main_stages)
    assert final == out and [d.name for d in directories] == ["main.stage1", "main.stage2"]
    assert load_model(out).card["training"]["init_weights_sha256"] == sha256_file(directories[0] / "model.safetensors")
    assert load_model(out).template == read_dataset(quick_dataset).template  # the coarse stage, on the data's grid
    with (out / STAGES_LOG).open() as fh:
        assert [r["stage"] for r in csv.DictReader(fh)] == ["1", "2"]
    # the same call again finds the finished model; a profile without stages names none in its signature
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert steps.ensure_model(prof, cell, layout) == out and (out / "model.safetensors").stat().st_mtime_ns == stamp
    single = steps.ensure_model(replace(prof, main_stages=()), cell, layout)
    assert "stages" not in json.loads((single / steps.SIGNATURE_FILE).read_text())["signature"]
    assert not (single / STAGES_LOG).exists()
    # shipped stage-1 weights (a stage-free main model of the same signature) start the stages without training
    shipped = tmp_path / "shipped"
    monkeypatch.setattr(steps, "pretrained_dir", lambda profile, cell, tag: shipped / tag)
    steps.ship_pretrained(single, "quick", cell, "main.stage1")
    monkeypatch.delenv(steps.RETRAIN_ENV)
    _, fresh = steps.run_settings("quick", cell, tmp_path / "fresh")
    staged = steps.ensure_model(prof, cell, fresh)
    stage1 = steps.stage_directories(staged, prof.main_stages)[0][0]
    assert sha256_file(stage1 / "model.safetensors") == sha256_file(single / "model.safetensors")
    assert "pretrained" in json.loads((stage1 / steps.SIGNATURE_FILE).read_text())["source"]
    assert (stage1 / STAGE_FILE).is_file() and not (stage1 / "state").exists()  # copied, not trained
    assert load_model(staged).card["training"]["init_weights_sha256"] == sha256_file(single / "model.safetensors")


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


def test_the_pipeline_simulates_a_stages_extra_traces_and_names_their_plan(quick_dataset, data_root, tmp_path,
                                                                           monkeypatch):
    from dataclasses import replace

    from noble.pipeline import steps
    from noble.pipeline.profiles import get_profile

    monkeypatch.setenv("NOBLE_DATA_DIR", str(data_root))
    monkeypatch.setenv(steps.RETRAIN_ENV, "1")
    monkeypatch.setattr(steps, "ensure_dataset", lambda *args, **kw: quick_dataset)
    cell = "human_pvalb_689331391"
    train_hofs = sorted(set(read_dataset(quick_dataset).hof.tolist()) - {32})
    monkeypatch.setattr(steps, "hof_pools", lambda *args: (tuple(train_hofs), (32,)))
    stage = ResolutionStage(1, 1, 0, 0.004, quantile_weight=1.0, extra_samples=3, extra_seed=9)
    prof = replace(get_profile("quick"), n_train_hofs=None, epochs=1, max_minutes=None, main_stages=(stage,))
    _, layout = steps.run_settings("quick", cell, tmp_path)
    out = steps.ensure_model(prof, cell, layout)
    extra = read_dataset(steps.extra_training_path(layout, 3, 9))
    assert len(extra) == 3 and set(extra.hof.tolist()) <= set(train_hofs) and extra.seed == 9
    signature = json.loads((out / steps.SIGNATURE_FILE).read_text())["signature"]
    assert signature["stages"][0]["extra_samples"] == 3
    assert signature["stage_extra_plans"] == [steps._dataset_plan_sha(steps.extra_training_path(layout, 3, 9))]
    first, second = (json.loads((d / "split.json").read_text()) for d in steps.stage_directories(out, (stage,))[0])
    assert second["holdout"] == first["holdout"] and len(second["train"]) == len(first["train"]) + 3
    # evaluation draws its nearest neighbours from both files, on the rows the model trained on
    from noble.evaluation.evaluate import training_reference

    paths = steps.training_data_paths(prof, cell, layout, out, quick_dataset)
    assert paths == [quick_dataset, steps.extra_training_path(layout, 3, 9)]
    reference, rows = training_reference(second, [read_dataset(p) for p in paths])
    assert len(reference) == len(read_dataset(quick_dataset)) + 3 and rows.tolist() == second["train"]
    # the extra traces never repeat another dataset's amplitudes
    with pytest.raises(steps.PipelineError, match="extra seed 1 would repeat"):
        steps.ensure_model(replace(prof, main_stages=(replace(stage, extra_seed=steps.TRAIN_SEED),)), cell, layout)
    with pytest.raises(steps.PipelineError, match="extra seed 1 would repeat"):  # the second set's seed
        steps.ensure_model(replace(prof, main_stages=(replace(stage, extra_seed=0, extra_sets=2),)), cell, layout)
    # two sets: seeds 9 and 10, simulated into their own files, concatenated in seed order
    two = replace(stage, extra_sets=2)
    assert two.extra_seeds == (9, 10) and two.n_extra == 6 and two.as_dict()["extra_sets"] == 2
    assert "extra_sets" not in stage.as_dict() and ResolutionStage.from_dict(two.as_dict()) == two
    out = steps.ensure_model(replace(prof, main_stages=(two,)), cell, layout)
    files = [steps.extra_training_path(layout, 3, seed) for seed in (9, 10)]
    signature = json.loads((out / steps.SIGNATURE_FILE).read_text())["signature"]
    assert signature["stage_extra_plans"] == [[steps._dataset_plan_sha(f) for f in files]]
    second = json.loads((steps.stage_directories(out, (two,))[0][1] / "split.json").read_text())
    assert len(second["train"]) == len(first["train"]) + 6
    paths = steps.training_data_paths(replace(prof, main_stages=(two,)), cell, layout, out, quick_dataset)
    assert paths == [quick_dataset, *files]
    reference, rows = training_reference(second, [read_dataset(p) for p in paths])
    assert rows is not None and rows.tolist() == second["train"]  # the split's card names these files
