"""Data-parallel CPU training: two one-thread processes follow the one-process run and resume it exactly."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from noble import load_model
from noble.training import load_config, read_dataset, train
from noble.training.parallel import GradientReducer, ParallelError, check_workers
from conftest import SYNTH_TABLE, SYNTH_TEST_HOFS, SYNTH_TRAIN_HOFS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KW = {"feature_table": SYNTH_TABLE, "train_hofs": SYNTH_TRAIN_HOFS, "test_hofs": SYNTH_TEST_HOFS, "progress": False}


def _curves(result):
    return np.array([[h["train_loss"], h["holdout_rel_l4"], h["learning_rate"]] for h in result.history])


def test_two_processes_follow_the_one_process_run(synthetic_dataset, tmp_path):
    dataset = read_dataset(synthetic_dataset)
    # batch 7 does not split evenly over two processes, and the last batch is smaller still
    config = load_config("quick").with_training(epochs=3, batch_size=7)
    one = train(dataset, config, tmp_path / "one", **KW)
    two = train(dataset, config, tmp_path / "two", workers=2, **KW)
    np.testing.assert_allclose(_curves(two), _curves(one), rtol=1e-5)
    a, b = load_model(tmp_path / "one").weight_tensors(), load_model(tmp_path / "two").weight_tensors()
    for name in a:
        np.testing.assert_allclose(b[name].numpy(), a[name].numpy(), rtol=1e-4, atol=1e-6)
    assert load_model(tmp_path / "two").card["training"]["data_parallel_workers"] == 2
    assert "data_parallel_workers" not in load_model(tmp_path / "one").card["training"]


def test_a_data_parallel_run_resumes_as_if_uninterrupted(synthetic_dataset, tmp_path):
    dataset = read_dataset(synthetic_dataset)
    config = load_config("quick").with_training(epochs=3, batch_size=8)
    whole = train(dataset, config, tmp_path / "whole", **KW)
    train(dataset, config.with_training(epochs=2), tmp_path / "cut", workers=2, **KW)
    resumed = train(dataset, config, tmp_path / "cut", resume=True, workers=2, **KW)
    np.testing.assert_allclose(_curves(resumed), _curves(whole), rtol=1e-5)


def test_worker_counts_are_checked_and_batches_are_shared_out():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ParallelError, match="positive integer"):
            check_workers(bad, torch.device("cpu"))
    with pytest.raises(ParallelError, match="CPU cores"):
        check_workers(10_000, torch.device("cpu"))
    with pytest.raises(ParallelError, match="for CPU cores"):
        check_workers(2, torch.device("cuda"))
    check_workers(1, torch.device("cuda"))  # one process: any device
    rows = torch.arange(7)
    shares = [GradientReducer(r, 2).shard(rows).tolist() for r in (0, 1)]
    assert shares == [[0, 2, 4, 6], [1, 3, 5]]


def test_the_training_benchmark_times_both_paths_on_the_same_run():
    from noble.bench.training import TrainingBenchError, TrainingBenchSettings, training_throughput

    settings = TrainingBenchSettings(config="quick", settings=((1, 1), (2, 1)), n_traces=24, n_hofs=4, epochs=2)
    before = torch.get_num_threads()
    rows = training_throughput(settings, log=None)
    assert torch.get_num_threads() == before  # the benchmark and the data-parallel run give the threads back
    assert [(r["workers"], r["threads_per_worker"]) for r in rows] == [(1, 1), (2, 1)]
    for row in rows:
        assert row["samples_per_s"] == pytest.approx(row["n_train"] * row["epochs_timed"] / row["train_s"])
        assert row["samples_per_s"] > 0 and row["n_train"] < 24  # the held-out rows do not count
    assert rows[1]["speedup_vs_first"] == pytest.approx(rows[1]["samples_per_s"] / rows[0]["samples_per_s"])
    assert rows[0]["loss_max_rel_diff"] == 0.0 and rows[1]["loss_max_rel_diff"] < 1e-5
    with pytest.raises(TrainingBenchError, match="CPU cores"):
        training_throughput(TrainingBenchSettings(config="quick", settings=((10_000, 1),)), log=None)
    with pytest.raises(TrainingBenchError, match="warm-up"):
        training_throughput(TrainingBenchSettings(config="quick", epochs=1), log=None)


def test_pipeline_training_workers_come_from_the_environment(monkeypatch):
    from noble.pipeline import steps
    from noble.pipeline.steps import PipelineError

    monkeypatch.delenv(steps.TRAIN_WORKERS_ENV, raising=False)
    assert steps.training_workers() == 1
    monkeypatch.setenv(steps.TRAIN_WORKERS_ENV, "2")
    assert steps.training_workers() == 2
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(steps.TRAIN_WORKERS_ENV, bad)
        with pytest.raises(PipelineError, match="positive integer"):
            steps.training_workers()


def test_noble_train_takes_workers(synthetic_dataset, tmp_path, monkeypatch):
    import json

    from noble.cli import main

    # the CLI takes the split from the cell package; this synthetic cell has none, so give it here
    monkeypatch.setattr("noble.training.loop.resolve_features", lambda ds, table, tr, te, root: (
        {int(h): dict(v) for h, v in table.items()}, tuple(SYNTH_TRAIN_HOFS), tuple(SYNTH_TEST_HOFS), "given"))
    table = tmp_path / "table.json"
    table.write_text(json.dumps({str(h): row for h, row in SYNTH_TABLE.items()}))
    out = tmp_path / "run"
    assert main(["train", "--data", str(synthetic_dataset), "--profile", "quick", "--out", str(out), "--epochs", "1",
                 "--features-table", str(table), "--workers", "2", "--no-progress"]) == 0
    assert load_model(out).card["training"]["data_parallel_workers"] == 2
