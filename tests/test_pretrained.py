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

pytestmark = pytest.mark.skipif(not (SHIPPED / "model.safetensors").is_file(), reason="no shipped laptop weights")


def test_shipped_weights_are_the_laptop_recipe(data_root, monkeypatch):
    monkeypatch.setenv("NOBLE_DATA_DIR", str(data_root))
    info = json.loads((SHIPPED / steps.SIGNATURE_FILE).read_text())
    assert info["status"] == "finished"
    sig = info["signature"]
    # the configuration make figures would train with today: otherwise the weights would silently not be used
    assert sig["config"] == steps.model_config("laptop", CELL, name="laptop-main").as_dict()
    train, test = steps.hof_pools("laptop", CELL)
    assert sig["train_hofs"] == list(train) and sig["test_hofs"] == list(test)
    card = json.loads((SHIPPED / "model_card.json").read_text())
    assert card["data"]["data_card_sha256"] == sig["data_card_sha256"]  # trained on the dataset it names
    assert card["embedding"]["features"] == ["slope", "intercept"] and card["units"]["voltage"] == "mV"
    assert sum(p.stat().st_size for p in SHIPPED.iterdir()) < 25e6


def test_shipped_model_fires_above_threshold_and_is_silent_below(one_torch_thread):
    model = noble.load_model(SHIPPED)  # verifies the weights' SHA-256 against the card
    hofs = list(model.train_hofs[:10])
    t = model.template.time()
    window = window_mask(t, model.template.delay_ms, model.template.delay_ms + model.template.duration_ms)
    counts = {a: spike_counts(model.predict(np.full(len(hofs), a), hofs=hofs), window) for a in (-0.11, 0.0, 0.1)}
    assert counts[-0.11].sum() == 0 and counts[0.0].sum() == 0  # no spikes without depolarising current
    assert (counts[0.1] > 0).sum() >= 8  # the PDE fires at 0.1 nA in every one of these HoF models


STAGED = steps.pretrained_dir("laptop", CELL, "main-staged")


@pytest.mark.skipif(not (STAGED / "model.safetensors").is_file(), reason="no shipped staged weights")
def test_shipped_staged_weights_continue_the_main_model_with_the_firing_recipe(data_root, monkeypatch, one_torch_thread):
    from noble.hashing import sha256_file
    from noble.pipeline.profiles import LAPTOP_FIRING_STAGES

    monkeypatch.setenv("NOBLE_DATA_DIR", str(data_root))
    sig = json.loads((STAGED / steps.SIGNATURE_FILE).read_text())["signature"]
    base = json.loads((SHIPPED / steps.SIGNATURE_FILE).read_text())["signature"]
    assert sig["stages"] == [s.as_dict() for s in LAPTOP_FIRING_STAGES]
    assert {k: v for k, v in sig.items() if k not in ("stages", "stage_extra_plans")} == base
    card = json.loads((STAGED / "model_card.json").read_text())
    assert card["training"]["init_weights_sha256"] == sha256_file(SHIPPED / "model.safetensors")
    assert card["stimulus"] == json.loads((SHIPPED / "model_card.json").read_text())["stimulus"]  # the paper's grid
    model = noble.load_model(STAGED)
    hofs = list(model.train_hofs[:10])
    t = model.template.time()
    window = window_mask(t, model.template.delay_ms, model.template.delay_ms + model.template.duration_ms)
    assert spike_counts(model.predict(np.full(len(hofs), -0.11), hofs=hofs), window).sum() == 0
    assert (spike_counts(model.predict(np.full(len(hofs), 0.2), hofs=hofs), window) > 0).sum() >= 8
