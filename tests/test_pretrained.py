"""The shipped laptop weights: they load, they are the laptop recipe's, and they fire (nA, mV, ms)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import noble
from noble.pipeline import steps
from noble.spikes import spike_counts, window_mask

CELL = "human_pvalb_689331391"
SHIPPED = steps.pretrained_dir("laptop", CELL, "main")
STAGE1 = steps.pretrained_dir("laptop", CELL, "main.stage1")

pytestmark = pytest.mark.skipif(not (SHIPPED / "model.safetensors").is_file(), reason="no shipped laptop weights")


def test_shipped_weights_are_the_laptop_recipe(data_root, monkeypatch):
    from noble.hashing import sha256_file

    monkeypatch.setenv("NOBLE_DATA_DIR", str(data_root))
    profile = steps.get_profile("laptop")
    train, test = steps.hof_pools("laptop", CELL)
    config = steps.model_config("laptop", CELL, name="laptop-main").as_dict()
    for shipped in (STAGE1, SHIPPED):
        info = json.loads((shipped / steps.SIGNATURE_FILE).read_text())
        assert info["status"] == "finished"
        sig = info["signature"]
        # the configuration make figures would train with today: otherwise the weights would silently not be used
        assert sig["config"] == config
        assert sig["train_hofs"] == list(train) and sig["test_hofs"] == list(test)
        card = json.loads((shipped / "model_card.json").read_text())
        assert card["embedding"]["features"] == ["slope", "intercept"] and card["units"]["voltage"] == "mV"
    stage1 = json.loads((STAGE1 / steps.SIGNATURE_FILE).read_text())["signature"]
    card1 = json.loads((STAGE1 / "model_card.json").read_text())
    assert card1["data"]["data_card_sha256"] == stage1["data_card_sha256"]  # trained on the dataset it names
    assert "stages" not in stage1
    # the main model: the profile's continuation stages, from the shipped stage-1 weights, on the named extra traces
    sig = json.loads((SHIPPED / steps.SIGNATURE_FILE).read_text())["signature"]
    assert sig["stages"] == [s.as_dict() for s in profile.main_stages]
    plans = [steps._extra_plan(profile, CELL, train, s) for s in profile.main_stages]
    assert sig["stage_extra_plans"] == [p.fingerprint() if p is not None else None for p in plans]
    assert {k: v for k, v in sig.items() if k not in ("stages", "stage_extra_plans")} == stage1
    card = json.loads((SHIPPED / "model_card.json").read_text())
    assert card["training"]["init_weights_sha256"] == sha256_file(STAGE1 / "model.safetensors")
    assert card["stimulus"] == card1["stimulus"]  # back on the paper's grid
    tree = SHIPPED.parent.parent
    assert sum(p.stat().st_size for p in tree.rglob("*") if p.is_file()) < 25e6


def test_shipped_model_fires_above_threshold_and_is_silent_below(one_torch_thread):
    model = noble.load_model(SHIPPED)  # verifies the weights' SHA-256 against the card
    hofs = list(model.train_hofs[:10])
    t = model.template.time()
    window = window_mask(t, model.template.delay_ms, model.template.delay_ms + model.template.duration_ms)
    counts = {a: spike_counts(model.predict(np.full(len(hofs), a), hofs=hofs), window) for a in (-0.11, 0.0, 0.1)}
    assert counts[-0.11].sum() == 0 and counts[0.0].sum() == 0  # no spikes without depolarising current
    assert (counts[0.1] > 0).sum() >= 8  # the PDE fires at 0.1 nA in every one of these HoF models
