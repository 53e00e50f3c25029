"""Self-describing checkpoints: round trip, model card contents, loud failures, weights-only resume state."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from noble import load_model
from noble.checkpoint import (
    CheckpointError,
    build_card,
    load_training_state,
    read_card,
    save_model,
    save_training_state,
)
from noble.units import UNITS
from conftest import small_model


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def saved(tmp_path):
    model = small_model(seed=3)
    card = build_card(model, data={"data_card_sha256": "ab" * 32}, metrics={"holdout_rel_l4": 0.1}, name="t")
    save_model(tmp_path / "m", model, card)
    return model, tmp_path / "m"


def test_round_trip_gives_identical_outputs(saved):
    model, path = saved
    loaded = load_model(path)
    amps = np.array([-0.11, 0.0, 0.05, 0.28])
    np.testing.assert_array_equal(loaded.predict(amps, hofs=[0, 1, 5, 0]), model.predict(amps, hofs=[0, 1, 5, 0]))
    assert loaded.feature_names == ("slope", "intercept")
    assert loaded.scaler == model.scaler and loaded.template == model.template


def test_card_records_what_is_needed_to_rebuild(saved):
    model, path = saved
    card, _ = read_card(path)
    assert card["units"] == dict(UNITS)
    assert card["embedding"]["features"] == ["slope", "intercept"] and card["embedding"]["in_channels"] == 23
    assert card["scaler"]["fitted_on_hofs"] == [0, 1]
    assert card["stimulus"]["n_samples"] == 300
    assert card["data"]["data_card_sha256"] == "ab" * 32
    assert card["hofs"] == {"train": [0, 1], "test": [5]}
    assert set(card["library_versions"]) >= {"torch", "neuraloperator", "safetensors"}
    assert len(card["weights"]["sha256"]) == 64


def test_tampered_checkpoints_fail_loudly(saved, tmp_path):
    _, path = saved
    card_path = path / "model_card.json"
    card = json.loads(card_path.read_text())
    card["units"]["voltage"] = "V"
    card_path.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="units"):
        load_model(path)
    card["units"]["voltage"] = "mV"
    card["scaler"]["names"] = ["intercept", "slope"]
    card_path.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="scaler features"):
        load_model(path)
    card["scaler"]["names"] = ["slope", "intercept"]
    card_path.write_text(json.dumps(card))
    (path / "model.safetensors").write_bytes((path / "model.safetensors").read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_model(path)
    with pytest.raises(CheckpointError, match="no model card"):
        load_model(tmp_path / "missing")


def test_training_state_is_read_with_weights_only(tmp_path):
    model = small_model()
    opt = torch.optim.Adam(model.parameters(), lr=0.004)
    model(torch.tensor([0.1]), torch.tensor([[750.0, 0.015]])).sum().backward()
    opt.step()
    save_training_state(tmp_path / "s.pt", {"model": model.weight_tensors(), "optimizer": opt.state_dict(),
                                            "rng": {"torch": torch.get_rng_state()}, "epoch": 3})
    state = load_training_state(tmp_path / "s.pt")
    assert state["epoch"] == 3
    opt.load_state_dict(state["optimizer"])
    torch.save({"obj": argparse.Namespace(code="arbitrary object")}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_training_state(tmp_path / "evil.pt")
