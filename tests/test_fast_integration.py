"""noble runs inference and training through the fast FNO path, with the results of the neuralop reference."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from noble import load_model
from noble.checkpoint import build_card, load_training_state, save_model
from noble.embedding import EmbeddingSpec, FeatureScaler
from noble.fast.convert import state_to_neuralop
from noble.fast.noble_model import FastNoble, accelerate, optimizer_state_from_neuralop, optimizer_state_to_neuralop
from noble.model import MODEL_PROFILES, ConfigError, NobleModel
from noble.training import load_config, relative_lp, train
from noble.training.loop import use_fast_path
from noble.training.synthetic import synthetic_traces
from conftest import SYNTH_TABLE, SYNTH_TEST_HOFS, SYNTH_TRAIN_HOFS, synth_template


pytestmark = pytest.mark.usefixtures("one_torch_thread")


TEMPLATE = synth_template()
TABLE, TRAIN_HOFS, TEST_HOFS = SYNTH_TABLE, SYNTH_TRAIN_HOFS, SYNTH_TEST_HOFS


def rel(a, b) -> float:
    a, b = (torch.view_as_real(t) if t.is_complex() else t for t in (torch.as_tensor(a), torch.as_tensor(b)))
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm())


def quick_model(seed: int = 0) -> NobleModel:
    """A quick-profile model with non-trivial soft gates (they start at 1)."""
    torch.manual_seed(seed)
    scaler = FeatureScaler.fit(TABLE, TRAIN_HOFS, ("slope", "intercept"))
    model = NobleModel(MODEL_PROFILES["quick"], EmbeddingSpec(), scaler, TEMPLATE, TABLE,
                       train_hofs=TRAIN_HOFS, test_hofs=TEST_HOFS)
    with torch.no_grad():
        for gate in model.fno.fno_blocks.channel_mlp_skips:
            gate.weight.uniform_(0.5, 1.5)
    return model


AMPS = np.linspace(-0.11, 0.28, 20)
HOFS = np.arange(20) % 8


def test_predict_uses_the_fast_path_and_matches_the_reference():
    model = quick_model()
    rng_before = torch.get_rng_state()
    fast = model.predict(AMPS, hofs=HOFS, batch_size=12)  # two batches, each chunked on the CPU
    reference = model.predict(AMPS, hofs=HOFS, batch_size=12, engine="reference")
    assert fast.shape == reference.shape == (20, TEMPLATE.n_samples)
    assert rel(fast, reference) < 1e-4
    assert not np.array_equal(fast, reference)  # a different computation, not the reference again
    assert torch.equal(torch.get_rng_state(), rng_before)  # building the fast twin draws no random numbers
    twin = model.fast_module()
    assert isinstance(twin, FastNoble) and model.fast_module() is twin  # built once, then reused
    assert np.array_equal(model.predict(AMPS, hofs=HOFS, batch_size=12), fast)


def test_fast_twin_follows_every_weight_change():
    model = quick_model(seed=0)
    before = model.predict(AMPS, hofs=HOFS)
    model.load_state_dict(quick_model(seed=1).weight_tensors())  # e.g. loading a checkpoint
    loaded = model.predict(AMPS, hofs=HOFS)
    assert rel(loaded, before) > 1e-2
    assert rel(loaded, model.predict(AMPS, hofs=HOFS, engine="reference")) < 1e-4
    twin = model.fast_module()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)  # an in-place training step
    model(torch.tensor([0.1]), torch.tensor([[760.0, 0.016]])).square().mean().backward()
    optimizer.step()
    assert model.fast_module() is not twin
    stepped = model.predict(AMPS, hofs=HOFS)
    assert rel(stepped, loaded) > 1e-4
    assert rel(stepped, model.predict(AMPS, hofs=HOFS, engine="reference")) < 1e-4
    model.invalidate_fast()
    assert model.fast_module() is not twin


def test_checkpoint_round_trip_is_unchanged(tmp_path):
    model = quick_model()
    keys = set(model.state_dict())
    expected = model.predict(AMPS, hofs=HOFS, engine="reference")
    model.predict(AMPS, hofs=HOFS)  # builds the fast twin
    assert set(model.state_dict()) == keys  # it is not a submodule: weights stay in neuralop's layout
    assert len(list(model.parameters())) == len(list(model.fno.parameters()))
    save_model(tmp_path / "m", model, build_card(model))
    saved = load_file(str(tmp_path / "m" / "model.safetensors"))
    assert set(saved) == set(model.weight_tensors())
    assert all(torch.equal(saved[k], v) for k, v in model.weight_tensors().items())
    loaded = load_model(tmp_path / "m")
    assert np.array_equal(loaded.predict(AMPS, hofs=HOFS, engine="reference"), expected)
    assert rel(loaded.predict(AMPS, hofs=HOFS), expected) < 1e-4


def test_unknown_engine_or_precision_is_named():
    model = quick_model()
    with pytest.raises(ConfigError, match="engine 'jax'"):
        model.predict([0.1], hofs=0, engine="jax")
    with pytest.raises(ConfigError, match="precision 'fp8'"):
        model.predict([0.1], hofs=0, precision="fp8")


def test_a_training_step_through_the_fast_path_matches_the_reference():
    model = quick_model()
    fast = accelerate(model)
    amp = torch.as_tensor(AMPS[:8])
    feats = torch.as_tensor([[TABLE[h]["slope"], TABLE[h]["intercept"]] for h in HOFS[:8]])
    target = torch.as_tensor(synthetic_traces(AMPS[:8], feats[:, 1].numpy(), feats[:, 0].numpy(), TEMPLATE))
    losses, grads = [], []
    for net in (model, fast):
        loss = relative_lp(net(amp, feats), target, 4).mean()
        loss.backward()
        losses.append(loss.item())
        grads.append({n: p.grad for n, p in net.fno.named_parameters()})
    assert abs(losses[1] - losses[0]) < 1e-4 * abs(losses[0])
    fast_grads = state_to_neuralop(grads[1], fast.fno.config)
    assert fast_grads.keys() == grads[0].keys()
    for name, g in grads[0].items():
        assert rel(fast_grads[name], g) < 1e-4, name

    # Adam's state moves between the two layouts bit for bit, into the reference optimizer's structure
    opt_fast = torch.optim.Adam(fast.parameters(), lr=1e-3)
    opt_ref = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt_fast.step()
    opt_ref.step()
    as_ref = optimizer_state_to_neuralop(fast, model, opt_fast.state_dict())
    ref_state = opt_ref.state_dict()
    assert as_ref["param_groups"] == ref_state["param_groups"]
    for i, entry in ref_state["state"].items():
        for key, value in entry.items():
            converted = as_ref["state"][i][key]
            assert converted.shape == value.shape and converted.dtype == value.dtype
            assert rel(converted, value) < 1e-4 if value.ndim else torch.equal(converted, value)
    back = optimizer_state_from_neuralop(fast, model, as_ref)
    for i, entry in opt_fast.state_dict()["state"].items():
        assert all(torch.equal(back["state"][i][k], v) for k, v in entry.items())
    opt_ref.load_state_dict(as_ref)  # loads into the reference optimizer


def test_auto_engine():
    assert use_fast_path(None, torch.device("cpu")) and use_fast_path(None, torch.device("cuda"))
    assert not use_fast_path(None, torch.device("meta"))
    assert not use_fast_path(False, torch.device("cpu")) and use_fast_path(True, torch.device("meta"))


@pytest.fixture()
def dataset(synthetic_dataset):
    return synthetic_dataset


def run(dataset, out, epochs, fast, resume=False):
    config = load_config("quick").with_training(epochs=epochs, batch_size=16, checkpoint_every=1, fast=fast)
    return train(dataset, config, out, resume=resume, feature_table=TABLE, train_hofs=TRAIN_HOFS,
                 test_hofs=TEST_HOFS, progress=False)


def metrics(out):
    with (out / "metrics.csv").open(newline="") as fh:
        return [(r["epoch"], r["train_loss"], r["holdout_rel_l4"], r["test_hofs_rel_l4"]) for r in csv.DictReader(fh)]


def test_training_through_the_fast_path_resumes_exactly_and_matches_the_reference(dataset, tmp_path):
    run(dataset, tmp_path / "full", 3, fast=True)
    run(dataset, tmp_path / "part", 1, fast=True)
    run(dataset, tmp_path / "part", 3, fast=True, resume=True)
    for epoch in (1, 2, 3):
        name = f"checkpoints/epoch_{epoch:04d}.safetensors"
        full, part = load_file(str(tmp_path / "full" / name)), load_file(str(tmp_path / "part" / name))
        assert full.keys() == part.keys() and all(torch.equal(full[k], part[k]) for k in full), epoch
    assert metrics(tmp_path / "full") == metrics(tmp_path / "part") and len(metrics(tmp_path / "full")) == 3
    assert load_model(tmp_path / "full").card["training"]["engine"] == "fast"

    # the resume state is in neuralop's layout (complex Adam moments of the spectral weights) ...
    state = load_training_state(tmp_path / "full" / "state" / "last.pt")
    moments = [s["exp_avg"] for s in state["optimizer"]["state"].values()]
    assert len(moments) == len(state["model"]) and any(m.is_complex() for m in moments)
    # ... so the reference engine gives the same run up to rounding, and can resume a fast run
    run(dataset, tmp_path / "ref", 3, fast=False)
    run(dataset, tmp_path / "mixed", 1, fast=True)
    run(dataset, tmp_path / "mixed", 3, fast=False, resume=True)
    fast_final = load_file(str(tmp_path / "full" / "checkpoints/epoch_0003.safetensors"))
    for other in ("ref", "mixed"):
        weights = load_file(str(tmp_path / other / "checkpoints/epoch_0003.safetensors"))
        for key, value in weights.items():
            assert rel(fast_final[key], value) < 1e-4, (other, key)
        for row_fast, row_other in zip(metrics(tmp_path / "full"), metrics(tmp_path / other)):
            assert all(abs(float(a) - float(b)) <= 1e-4 * abs(float(b)) for a, b in zip(row_fast, row_other))
    assert load_model(tmp_path / "ref").card["training"]["engine"] == "reference"


def test_analyses_take_the_engine():
    from noble.evaluation.ensembles import ensemble_predict

    model = quick_model()
    feats = np.array([[TABLE[h]["slope"], TABLE[h]["intercept"]] for h in range(4)])
    fast = ensemble_predict(model, 0.1, feats)
    reference = ensemble_predict(model, 0.1, feats, engine="reference")
    assert fast.shape == (4, TEMPLATE.n_samples) and rel(fast, reference) < 1e-4
    assert np.array_equal(ensemble_predict(model, 0.1, feats, engine="fast"), fast)


def test_training_engine_is_a_configuration_field(tmp_path):
    from noble.training import TrainConfig
    from noble.training.config import config_from_dict

    assert TrainConfig().fast is None
    config = config_from_dict({"model_profile": "quick", "training": {"fast": False}})
    assert config.training.fast is False and config.as_dict()["training"]["fast"] is False
    with pytest.raises(ConfigError, match="fast must be"):
        TrainConfig(fast="yes")
