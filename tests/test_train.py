"""Training: overfitting a few traces, the HoF split, exact resume, the CLI."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from safetensors.torch import load_file

from noble import load_model
from noble.cli import main
from noble.sim.protocol import PAPER_TEMPLATE
from noble.embedding import StimulusTemplate
from noble.training import TrainingError, load_config, read_dataset, split_rows, train
from conftest import SYNTH_TABLE, SYNTH_TEST_HOFS, SYNTH_TRAIN_HOFS, synth_template, write_synthetic


pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEMPLATE = synth_template()
TABLE, TRAIN_HOFS, TEST_HOFS = SYNTH_TABLE, SYNTH_TRAIN_HOFS, SYNTH_TEST_HOFS
write = write_synthetic


@pytest.fixture()
def dataset(synthetic_dataset):
    return synthetic_dataset


def test_a_few_traces_are_overfitted(tmp_path):
    data = write(tmp_path / "few.h5", [-0.1, -0.05, 0.005, -0.08], [0, 1, 0, 1])
    config = load_config("quick").with_training(epochs=150, batch_size=4, holdout_fraction=0.0, learning_rate=0.01)
    result = train(data, config, tmp_path / "run", feature_table=TABLE, train_hofs=[0, 1], test_hofs=[6], progress=False)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0] / 8  # the first epoch's loss is the untrained model's (one batch)
    assert result.best_epoch is not None
    card = json.loads((tmp_path / "run" / "model_card.json").read_text())
    assert card["training"]["feature_source"] == "given"  # the card says where the embedded features came from


def test_split_keeps_test_hofs_out_of_training_and_the_scaler(dataset, tmp_path):
    config = load_config("quick").with_training(epochs=1)
    train(dataset, config, tmp_path / "run", feature_table=TABLE, train_hofs=TRAIN_HOFS, test_hofs=TEST_HOFS, progress=False)
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    hof = read_dataset(dataset).hof
    assert set(hof[split["train"]]) == set(TRAIN_HOFS) and set(hof[split["holdout"]]) <= set(TRAIN_HOFS)
    assert set(hof[split["test_hofs"]]) == set(TEST_HOFS)
    assert not set(split["train"]) & set(split["holdout"])
    assert len(split["holdout"]) == 4  # 10% of the 36 traces of train HoF models
    card = load_model(tmp_path / "run").card
    assert card["scaler"]["fitted_on_hofs"] == TRAIN_HOFS
    assert card["data"]["data_card_sha256"] == split["data_card_sha256"]
    with pytest.raises(TrainingError, match="--resume"):
        train(dataset, config, tmp_path / "run", feature_table=TABLE, train_hofs=TRAIN_HOFS, test_hofs=TEST_HOFS, progress=False)


def test_split_rejects_traces_outside_the_split():
    with pytest.raises(Exception, match="neither the train nor the test split"):
        split_rows(np.array([0, 1, 9]), [0], [1], 0.1, 0)


def _features_file(tmp_path):
    path = tmp_path / "features.json"
    path.write_text(json.dumps({str(h): v for h, v in TABLE.items()}))
    return path


def test_resume_equals_an_uninterrupted_run(dataset, tmp_path, monkeypatch):
    # the CLI takes the split from the cell package; this synthetic cell has none, so give it here
    monkeypatch.setattr("noble.training.loop.resolve_features", lambda ds, table, tr, te, root: (
        {int(h): dict(v) for h, v in table.items()}, tuple(TRAIN_HOFS), tuple(TEST_HOFS), "given"))
    feats = _features_file(tmp_path)
    common = ["--data", str(dataset), "--features-table", str(feats), "--no-progress", "--checkpoint-every", "2"]
    assert main(["train", "--profile", "quick", "--out", str(tmp_path / "full"), "--epochs", "4", *common]) == 0
    assert main(["train", "--profile", "quick", "--out", str(tmp_path / "part"), "--epochs", "2", *common]) == 0
    assert main(["train", "--resume", "--out", str(tmp_path / "part"), "--epochs", "4", *common]) == 0
    full = load_file(str(tmp_path / "full" / "checkpoints" / "epoch_0004.safetensors"))
    part = load_file(str(tmp_path / "part" / "checkpoints" / "epoch_0004.safetensors"))
    assert full.keys() == part.keys()
    for key in full:
        assert np.array_equal(full[key].numpy(), part[key].numpy()), key
    rows = lambda d: [(r["epoch"], r["train_loss"], r["holdout_rel_l4"]) for r in csv.DictReader((d / "metrics.csv").open())]  # noqa: E731
    assert rows(tmp_path / "full") == rows(tmp_path / "part") and len(rows(tmp_path / "full")) == 4


def test_reads_the_simulators_file_layout(tmp_path):
    import h5py

    from noble.sim.protocol import PAPER_PROTOCOL

    path = tmp_path / "sim.h5"
    with h5py.File(path, "w") as fh:
        fh["voltage"] = np.full((2, PAPER_PROTOCOL.n_samples), -70.0, dtype=np.float32)
        fh["amplitude"] = np.array([0.1, -0.05])
        fh["hof"] = np.array([0, 2])
        fh["time"] = PAPER_PROTOCOL.time()
        attrs = {"cell": "human_pvalb_689331391", "engine": "arbor", "dt_ms": PAPER_PROTOCOL.dt,
                 "dt_out_ms": PAPER_PROTOCOL.dt_out, "decimation": 3, "protocol": json.dumps(PAPER_PROTOCOL.as_dict()),
                 "seed": -1, "data_card": json.dumps({"engine": "arbor"}, sort_keys=True)}
        fh.attrs.update(attrs)
    ds = read_dataset(path)
    assert ds.template == PAPER_TEMPLATE  # 8583 samples of 0.06 ms, step 15-415 ms: the paper's grid
    assert len(ds) == 2 and ds.voltage.dtype == np.float32


@pytest.mark.parametrize("name, channels", [("ablation_none", 19), ("ablation_ahp", 25)])
def test_table1_ablations_are_configuration_changes(name, channels, dataset, tmp_path):
    from dataclasses import replace

    from noble.model import MODEL_PROFILES

    table = {h: {**row, "depol.AHP_depth": -9.0 + 0.3 * ((5 * h) % 8)} for h, row in TABLE.items()}
    config = replace(load_config(name), model=MODEL_PROFILES["quick"]).with_training(epochs=1, batch_size=16)
    train(dataset, config, tmp_path / name, feature_table=table, train_hofs=TRAIN_HOFS, test_hofs=TEST_HOFS, progress=False)
    model = load_model(tmp_path / name)
    assert model.card["architecture"]["in_channels"] == channels
    assert model.card["embedding"]["features"] == list(load_config(name).embedding.features)
    assert model.predict([0.1, -0.1], hofs=[0, 6]).shape == (2, TEMPLATE.n_samples)


def test_cosine_schedule_holds_then_decays_to_its_floor():
    from noble.model import ConfigError
    from noble.training.config import TrainConfig
    from noble.training.trainer import cosine_lr

    lrs = [cosine_lr(0.002, e, 34, 0.05, hold_epochs=26) for e in range(34)]
    assert lrs[:27] == [0.002] * 27  # the hold, then the first decay epoch still at the top of the cosine
    assert all(a > b for a, b in zip(lrs[26:], lrs[27:]))  # strictly decreasing after the hold
    assert lrs[-1] == pytest.approx(0.002 * 0.05)
    assert cosine_lr(0.002, 40, 34, 0.05, hold_epochs=26) == pytest.approx(0.0001)  # past the end: the floor
    plain = [cosine_lr(0.004, e, 10, 0.1) for e in range(10)]
    assert plain[0] == 0.004 and plain[-1] == pytest.approx(0.0004)
    with pytest.raises(ConfigError, match="hold_epochs"):
        TrainConfig(epochs=10, schedule="cosine", hold_epochs=11)


def test_a_run_starts_from_another_runs_weights_and_records_them(dataset, tmp_path):
    from noble.checkpoint import sha256_file

    config = load_config("quick").with_training(epochs=6, batch_size=8)
    kw = dict(feature_table=TABLE, train_hofs=TRAIN_HOFS, test_hofs=TEST_HOFS, progress=False)
    first = train(dataset, config, tmp_path / "first", **kw)
    warm = train(dataset, config.with_training(epochs=1), tmp_path / "warm", init_weights=tmp_path / "first", **kw)
    cold = train(dataset, config.with_training(epochs=1), tmp_path / "cold", **kw)
    # the warm run's first epoch continues from the trained weights, the cold one starts from the seeded init
    assert warm.history[0]["train_loss"] < cold.history[0]["train_loss"]
    assert warm.history[0]["train_loss"] < first.history[0]["train_loss"]
    card = load_model(tmp_path / "warm").card
    assert card["training"]["init_weights_sha256"] == sha256_file(tmp_path / "first" / "model.safetensors")
    assert "init_weights_sha256" not in load_model(tmp_path / "cold").card["training"]
    # resuming keeps the record; a resume cannot also take initial weights
    train(dataset, config.with_training(epochs=2), tmp_path / "warm", resume=True, **kw)
    assert load_model(tmp_path / "warm").card["training"].get("init_weights_sha256", card["training"]["init_weights_sha256"]) \
        == card["training"]["init_weights_sha256"]
    with pytest.raises(TrainingError, match="new run"):
        train(dataset, config, tmp_path / "warm", resume=True, init_weights=tmp_path / "first", **kw)


def test_initial_weights_of_another_architecture_or_a_tampered_file_are_refused(dataset, tmp_path):
    from dataclasses import replace

    from noble.model import model_profile

    kw = dict(feature_table=TABLE, train_hofs=TRAIN_HOFS, test_hofs=TEST_HOFS, progress=False)
    config = load_config("quick").with_training(epochs=1, batch_size=16)
    train(dataset, config, tmp_path / "small", **kw)
    wide = replace(config, model=model_profile("quick", hidden_channels=12))
    with pytest.raises(TrainingError, match="do not fit this architecture"):
        train(dataset, wide, tmp_path / "wide", init_weights=tmp_path / "small", **kw)
    with pytest.raises(TrainingError, match="not found"):
        train(dataset, config, tmp_path / "none", init_weights=tmp_path / "missing", **kw)
    weights = tmp_path / "small" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(TrainingError, match="SHA-256"):
        train(dataset, config, tmp_path / "tampered", init_weights=tmp_path / "small", **kw)


def test_the_quantile_weight_is_recorded_only_when_set_and_frozen_on_resume(dataset, tmp_path):
    from noble.model import ConfigError
    from noble.training.config import config_from_dict

    config = load_config("quick").with_training(epochs=1, batch_size=16)
    assert "quantile_weight" not in config.as_dict()["training"]  # earlier cards and signatures stay valid
    weighted = config.with_training(quantile_weight=0.5)
    assert weighted.as_dict()["training"]["quantile_weight"] == 0.5
    assert config_from_dict(weighted.as_dict()) == weighted and config_from_dict(config.as_dict()) == config
    with pytest.raises(ConfigError, match="quantile_weight"):
        config.with_training(quantile_weight=-1.0)
    kw = dict(feature_table=TABLE, train_hofs=TRAIN_HOFS, test_hofs=TEST_HOFS, progress=False)
    plain = train(dataset, config, tmp_path / "plain", **kw)
    run = train(dataset, weighted, tmp_path / "weighted", **kw)
    # the same seed and batches: the logged per-trace loss carries the extra term
    assert run.history[0]["train_loss"] > plain.history[0]["train_loss"]
    with pytest.raises(TrainingError, match="quantile_weight"):
        train(dataset, weighted.with_training(epochs=2, quantile_weight=1.0), tmp_path / "weighted", resume=True, **kw)


def test_the_smooth_weight_is_recorded_only_when_set_and_frozen_on_resume(dataset, tmp_path):
    from noble.model import ConfigError
    from noble.training.config import config_from_dict

    config = load_config("quick").with_training(epochs=1, batch_size=16)
    assert not {"smooth_weight", "smooth_ms"} & set(config.as_dict()["training"])  # earlier signatures stay valid
    smooth = config.with_training(smooth_weight=3.0, smooth_ms=2.0)
    assert smooth.as_dict()["training"]["smooth_weight"] == 3.0 and smooth.as_dict()["training"]["smooth_ms"] == 2.0
    assert config_from_dict(smooth.as_dict()) == smooth
    for bad in ({"smooth_weight": -1.0}, {"smooth_ms": 0.0}, {"smooth_ms": float("nan")}):
        with pytest.raises(ConfigError, match="smooth_"):
            config.with_training(**bad)
    kw = dict(feature_table=TABLE, train_hofs=TRAIN_HOFS, test_hofs=TEST_HOFS, progress=False)
    plain = train(dataset, config, tmp_path / "plain", **kw)
    run = train(dataset, smooth, tmp_path / "smooth", **kw)
    assert run.history[0]["train_loss"] > plain.history[0]["train_loss"]  # same batches, plus the term
    with pytest.raises(TrainingError, match="smooth_ms"):
        train(dataset, smooth.with_training(epochs=2, smooth_ms=4.0), tmp_path / "smooth", resume=True, **kw)


def test_metrics_log_the_optimisation_time_of_each_epoch(dataset, tmp_path):
    import csv

    from noble.training.loop import CSV_FIELDS

    config = load_config("quick").with_training(epochs=2, batch_size=16)
    run = train(dataset, config, tmp_path / "run", feature_table=TABLE, train_hofs=TRAIN_HOFS, test_hofs=TEST_HOFS,
                progress=False)
    n_batches = -(-json.loads((tmp_path / "run" / "model_card.json").read_text())["training"]["n_train"] // 16)
    for row in run.history:
        assert 0 < row["train_time_s"] <= row["epoch_time_s"]  # the pass alone, without evaluation and saving
        assert row["train_time_s"] == pytest.approx(row["step_time_s"] * n_batches)
    with (tmp_path / "run" / "metrics.csv").open(newline="") as fh:
        logged = list(csv.DictReader(fh))
    assert tuple(logged[0]) == CSV_FIELDS and float(logged[1]["train_time_s"]) == pytest.approx(run.history[1]["train_time_s"])
