"""The model is the fast FNO: inference and training run through it and give the neuralop reference's results."""
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
from noble.fast.model import FastFNO
from noble.fast.optimizer_layout import optimizer_state_from_neuralop, optimizer_state_to_neuralop
from noble.model import MODEL_PROFILES, ConfigError, NobleModel, build_fno
from noble.training import load_config, relative_lp, train
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
        model.fno.gate.uniform_(0.5, 1.5)
    return model


AMPS = np.linspace(-0.11, 0.28, 20)
HOFS = np.arange(20) % 8


def test_predict_uses_the_fast_path_and_matches_the_reference():
    model = quick_model()
    assert isinstance(model.fno, FastFNO)
    rng_before = torch.get_rng_state()
    fast = model.predict(AMPS, hofs=HOFS, batch_size=12)  # two batches, each chunked on the CPU
    reference = model.predict(AMPS, hofs=HOFS, batch_size=12, engine="reference")
    assert fast.shape == reference.shape == (20, TEMPLATE.n_samples)
    assert rel(fast, reference) < 1e-4
    assert not np.array_equal(fast, reference)  # a different computation, not the reference again
    assert torch.equal(torch.get_rng_state(), rng_before)  # neither path draws random numbers
    assert np.array_equal(model.predict(AMPS, hofs=HOFS, batch_size=12), fast)


def test_the_initial_weights_are_neuralops_for_the_same_seed():
    torch.manual_seed(3)
    scaler = FeatureScaler.fit(TABLE, TRAIN_HOFS, ("slope", "intercept"))
    model = NobleModel(MODEL_PROFILES["quick"], EmbeddingSpec(), scaler, TEMPLATE, TABLE)
    after_model = torch.rand(1)
    torch.manual_seed(3)
    reference = build_fno(MODEL_PROFILES["quick"], EmbeddingSpec().in_channels)
    after_reference = torch.rand(1)
    weights = model.weight_tensors()
    expected = {k: v for k, v in reference.state_dict().items() if isinstance(v, torch.Tensor)}
    assert set(weights) == {f"fno.{k}" for k in expected}
    assert all(torch.equal(weights[f"fno.{k}"], v) for k, v in expected.items())
    assert torch.equal(after_model, after_reference)  # the same random draws, so data order etc. is unchanged


def test_weight_changes_reach_both_engines():
    model = quick_model(seed=0)
    before = model.predict(AMPS, hofs=HOFS)
    model.load_weight_tensors(quick_model(seed=1).weight_tensors())  # e.g. loading a checkpoint
    loaded = model.predict(AMPS, hofs=HOFS)
    assert rel(loaded, before) > 1e-2
    assert rel(loaded, model.predict(AMPS, hofs=HOFS, engine="reference")) < 1e-4
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)  # an in-place training step
    model(torch.tensor([0.1]), torch.tensor([[760.0, 0.016]])).square().mean().backward()
    optimizer.step()
    stepped = model.predict(AMPS, hofs=HOFS)
    assert rel(stepped, loaded) > 1e-4
    assert rel(stepped, model.predict(AMPS, hofs=HOFS, engine="reference")) < 1e-4
    with pytest.raises(ConfigError, match="do not fit"):
        model.load_weight_tensors({k: v for k, v in model.weight_tensors().items() if "lifting" not in k})


def test_checkpoint_round_trip_is_unchanged(tmp_path):
    model = quick_model()
    expected = model.predict(AMPS, hofs=HOFS, engine="reference")
    assert len(list(model.parameters())) == len(list(model.fno.parameters()))
    save_model(tmp_path / "m", model, build_card(model))
    saved = load_file(str(tmp_path / "m" / "model.safetensors"))
    assert set(saved) == set(model.weight_tensors())
    assert all(torch.equal(saved[k], v) for k, v in model.weight_tensors().items())
    assert any(v.is_complex() for v in saved.values())  # neuralop's layout: complex spectral weights
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
    reference = model.reference_module()
    amp = torch.as_tensor(AMPS[:8])
    feats = torch.as_tensor([[TABLE[h]["slope"], TABLE[h]["intercept"]] for h in HOFS[:8]])
    target = torch.as_tensor(synthetic_traces(AMPS[:8], feats[:, 1].numpy(), feats[:, 0].numpy(), TEMPLATE))
    losses, grads = [], []
    for net in (reference, model):
        loss = relative_lp(net(amp, feats), target, 4).mean()
        loss.backward()
        losses.append(loss.item())
        grads.append({n: p.grad for n, p in net.fno.named_parameters()})
    assert abs(losses[1] - losses[0]) < 1e-4 * abs(losses[0])
    fast_grads = state_to_neuralop(grads[1], model.fno.config)
    assert fast_grads.keys() == grads[0].keys()
    for name, g in grads[0].items():
        assert rel(fast_grads[name], g) < 1e-4, name

    # Adam's state moves between the two layouts bit for bit, into the reference optimizer's structure
    opt_fast = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt_ref = torch.optim.Adam(reference.parameters(), lr=1e-3)
    opt_fast.step()
    opt_ref.step()
    as_ref = optimizer_state_to_neuralop(model.fno, reference.fno, opt_fast.state_dict())
    ref_state = opt_ref.state_dict()
    assert as_ref["param_groups"] == ref_state["param_groups"]
    for i, entry in ref_state["state"].items():
        for key, value in entry.items():
            converted = as_ref["state"][i][key]
            assert converted.shape == value.shape and converted.dtype == value.dtype
            assert rel(converted, value) < 1e-4 if value.ndim else torch.equal(converted, value)
    back = optimizer_state_from_neuralop(model.fno, reference.fno, as_ref)
    for i, entry in opt_fast.state_dict()["state"].items():
        assert all(torch.equal(back["state"][i][k], v) for k, v in entry.items())
    opt_ref.load_state_dict(as_ref)  # loads into the reference optimizer


@pytest.fixture()
def dataset(synthetic_dataset):
    return synthetic_dataset


def run(dataset, out, epochs, resume=False):
    config = load_config("quick").with_training(epochs=epochs, batch_size=16, checkpoint_every=1)
    return train(dataset, config, out, resume=resume, feature_table=TABLE, train_hofs=TRAIN_HOFS,
                 test_hofs=TEST_HOFS, progress=False)


def metrics(out):
    with (out / "metrics.csv").open(newline="") as fh:
        return [(r["epoch"], r["train_loss"], r["holdout_rel_l4"], r["test_hofs_rel_l4"]) for r in csv.DictReader(fh)]


def test_training_resumes_exactly_also_from_a_resume_state_in_neuralops_layout(dataset, tmp_path):
    from noble.checkpoint import save_training_state

    run(dataset, tmp_path / "full", 3)
    run(dataset, tmp_path / "part", 1)
    run(dataset, tmp_path / "part", 3, resume=True)
    for epoch in (1, 2, 3):
        name = f"checkpoints/epoch_{epoch:04d}.safetensors"
        full, part = load_file(str(tmp_path / "full" / name)), load_file(str(tmp_path / "part" / name))
        assert full.keys() == part.keys() and all(torch.equal(full[k], part[k]) for k in full), epoch
    assert metrics(tmp_path / "full") == metrics(tmp_path / "part") and len(metrics(tmp_path / "full")) == 3
    assert load_model(tmp_path / "full").card["training"]["engine"] == "fast"

    # a resume state written before the model trained its FastFNO directly: optimizer in neuralop's layout
    run(dataset, tmp_path / "legacy", 1)
    state_path = tmp_path / "legacy" / "state" / "last.pt"
    state = load_training_state(state_path)
    assert state.pop("optimizer_layout") == "noble.fast.FastFNO"
    model = load_model(tmp_path / "legacy", weights="checkpoints/epoch_0001.safetensors")
    with torch.random.fork_rng(devices=[]):
        reference = build_fno(model.config, model.spec.in_channels)
    state["optimizer"] = optimizer_state_to_neuralop(model.fno, reference, state["optimizer"])
    assert any(s["exp_avg"].is_complex() for s in state["optimizer"]["state"].values())
    save_training_state(state_path, state)
    run(dataset, tmp_path / "legacy", 3, resume=True)
    final = load_file(str(tmp_path / "full" / "checkpoints/epoch_0003.safetensors"))
    legacy = load_file(str(tmp_path / "legacy" / "checkpoints/epoch_0003.safetensors"))
    assert all(torch.equal(final[k], legacy[k]) for k in final)
    assert metrics(tmp_path / "legacy") == metrics(tmp_path / "full")


def test_analyses_take_the_engine():
    from noble.evaluation.ensembles import ensemble_predict

    model = quick_model()
    feats = np.array([[TABLE[h]["slope"], TABLE[h]["intercept"]] for h in range(4)])
    fast = ensemble_predict(model, 0.1, feats)
    reference = ensemble_predict(model, 0.1, feats, engine="reference")
    assert fast.shape == (4, TEMPLATE.n_samples) and rel(fast, reference) < 1e-4
    assert np.array_equal(ensemble_predict(model, 0.1, feats, engine="fast"), fast)


def test_training_through_neuralops_fno_is_refused_with_a_reason():
    from noble.training import TrainConfig
    from noble.training.config import config_from_dict

    assert TrainConfig().fast is None and TrainConfig(fast=True).fast is True
    with pytest.raises(ConfigError, match="train through their own FNO"):
        config_from_dict({"model_profile": "quick", "training": {"fast": False}})
    with pytest.raises(ConfigError, match="fast must be"):
        TrainConfig(fast="yes")
