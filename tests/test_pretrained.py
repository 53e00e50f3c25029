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
STAGE1 = steps.pretrained_dir("laptop", CELL, "main.stage1")  # the model the firing continuation starts from

pytestmark = pytest.mark.skipif(not (SHIPPED / "model.safetensors").is_file(), reason="no shipped laptop weights")


def test_shipped_weights_are_the_laptop_recipe(data_root, monkeypatch):
    from noble.hashing import sha256_file
    from noble.pipeline.profiles import get_profile

    monkeypatch.setenv("NOBLE_DATA_DIR", str(data_root))
    info = json.loads((SHIPPED / steps.SIGNATURE_FILE).read_text())
    assert info["status"] == "finished"
    sig = info["signature"]
    # the configuration and stages make figures would train with today: otherwise the weights would silently not
    # be used
    assert sig["config"] == steps.model_config("laptop", CELL, name="laptop-main").as_dict()
    assert sig["stages"] == [s.as_dict() for s in get_profile("laptop").main_stages] and sig["stages"]
    train, test = steps.hof_pools("laptop", CELL)
    assert sig["train_hofs"] == list(train) and sig["test_hofs"] == list(test)
    card = json.loads((SHIPPED / "model_card.json").read_text())
    assert card["embedding"]["features"] == ["slope", "intercept"] and card["units"]["voltage"] == "mV"
    # stage 1 is shipped beside it with the signature of the unstaged run, and the last stage continued its weights
    base = json.loads((STAGE1 / steps.SIGNATURE_FILE).read_text())["signature"]
    assert {k: v for k, v in sig.items() if k not in ("stages", "stage_extra_plans")} == base
    stage1_card = json.loads((STAGE1 / "model_card.json").read_text())
    assert stage1_card["data"]["data_card_sha256"] == sig["data_card_sha256"]  # trained on the dataset it names
    # the last stage trained on the training set plus the stage's extra traces (a concatenation with its own card)
    extra = sum(s["extra_samples"] for s in sig["stages"])
    assert card["data"]["n_traces"] == sig["n_traces"] + extra and card["data"]["data_card_sha256"] != sig[
        "data_card_sha256"]
    assert card["training"]["init_weights_sha256"] == sha256_file(STAGE1 / "model.safetensors")
    assert card["stimulus"] == json.loads((STAGE1 / "model_card.json").read_text())["stimulus"]  # the paper's grid
    shipped = [p for d in (SHIPPED, STAGE1) for p in d.iterdir()]
    assert sum(p.stat().st_size for p in shipped) < 25e6


def _window(model):
    t = model.template.time()
    return window_mask(t, model.template.delay_ms, model.template.delay_ms + model.template.duration_ms)


def test_shipped_model_fires_above_threshold_and_is_silent_below(one_torch_thread):
    model = noble.load_model(SHIPPED)  # verifies the weights' SHA-256 against the card
    hofs = list(model.train_hofs[:10])
    window = _window(model)
    counts = {a: spike_counts(model.predict(np.full(len(hofs), a), hofs=hofs), window) for a in (-0.11, 0.0, 0.2)}
    assert counts[-0.11].sum() == 0 and counts[0.0].sum() == 0  # no spikes without depolarising current
    assert (counts[0.2] > 0).sum() >= 8  # the PDE fires at 0.2 nA in every one of these HoF models


def test_shipped_stage1_weights_load_and_fire(one_torch_thread):
    model = noble.load_model(STAGE1)
    hofs = list(model.train_hofs[:10])
    counts = spike_counts(model.predict(np.full(len(hofs), 0.1), hofs=hofs), _window(model))
    assert (counts > 0).sum() >= 8
