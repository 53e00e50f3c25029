"""Evaluation: the paper's missed-firing accounting, evaluation sets, analyses, sag fine-tuning."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.spatial import Delaunay

from noble import load_model
from noble.cli import main
from noble.sim.protocol import PAPER_TEMPLATE
from noble.embedding import StimulusTemplate
from noble.evaluation import (
    NON_SPIKING_FEATURES,
    SPIKING_FEATURES,
    SagFinetuneConfig,
    account,
    ensemble_predict,
    evaluate_directory,
    feature_errors,
    fi_curves,
    finetune_sag,
    hull_samples,
    negative_step_rows,
    neighbourhood_samples,
    sag_metrics,
    to_raw,
    train_embeddings,
)
from noble.training import load_config, read_dataset, train
from noble.training.losses import sag_amplitude
from noble.training.synthetic import synthetic_traces
from conftest import SYNTH_TABLE as TABLE
from conftest import SYNTH_TEST_HOFS as TEST_HOFS
from conftest import SYNTH_TRAIN_HOFS as TRAIN_HOFS
from conftest import write_synthetic as write


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_feature_lists_follow_the_paper():
    assert len(SPIKING_FEATURES) == 14 and len(NON_SPIKING_FEATURES) == 5
    assert "sag_amplitude" not in SPIKING_FEATURES and "Spikecount" not in NON_SPIKING_FEATURES


def test_missed_firing_accounting_on_crafted_traces():
    tmpl = PAPER_TEMPLATE  # the paper's grid: 8583 samples, 0.06 ms
    # pairs: (true amplitude, true threshold) vs (predicted amplitude, predicted threshold), nA
    true = synthetic_traces(np.array([0.1, 0.1, 0.01, -0.1]), np.array([0.017, 0.017, 0.017, 0.017]), np.full(4, 790.0))
    pred = synthetic_traces(np.array([0.1, 0.1, 0.01, -0.09]), np.array([0.017, 0.2, 0.005, 0.017]), np.full(4, 790.0))
    report = feature_errors(pred, true, tmpl.time())
    assert (report.n_traces, report.n_both_spiking, report.n_both_silent) == (4, 1, 1)
    assert (report.missed_firing, report.missed_non_firing) == (1, 1)
    assert report.features["Spikecount"]["n"] == 1 and report.mean_pct("Spikecount") == 0.0
    assert report.mean_pct("AP1_width") == 0.0 and report.mean_pct("mean_AP_amplitude") == 0.0
    assert report.features["sag_amplitude"]["n"] == 1 and report.mean_pct("sag_amplitude") > 1.0
    # steady_state_voltage is compared in the spiking pair (error 0) and the silent pair (error > 0)
    assert report.features["steady_state_voltage"]["n"] == 2 and report.mean_pct("steady_state_voltage") > 0


def test_accounting_uses_the_papers_relative_error():
    t = [{"Spikecount": 4.0, "AP1_width": 0.5, "voltage_base": -70.0}, {"Spikecount": 0.0, "voltage_base": -70.0, "sag_amplitude": 2.0}]
    p = [{"Spikecount": 5.0, "AP1_width": 0.6, "voltage_base": -63.0}, {"Spikecount": 0.0, "voltage_base": -77.0, "sag_amplitude": 3.0}]
    report = account(t, p)
    assert report.mean_pct("Spikecount") == pytest.approx(100 * 1 / (4 + 1e-6))
    assert report.mean_pct("AP1_width") == pytest.approx(100 * 0.1 / (0.5 + 1e-6))
    assert report.mean_pct("voltage_base") == pytest.approx(10.0, rel=1e-6)
    assert report.mean_pct("sag_amplitude") == pytest.approx(50.0, rel=1e-6)
    assert report.features["voltage_base"]["norm_ratio_pct"] == pytest.approx(100 * math.hypot(7, 7) / math.hypot(70, 70))
    assert report.features["AP1_peak"]["n_nan"] == 1  # absent in the spiking pair: skipped and counted


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    rng = np.random.default_rng(1)
    hofs = np.repeat(np.arange(8), 5)
    data = write(root / "train.h5", rng.uniform(-0.11, 0.28, hofs.size), hofs)
    torch.set_num_threads(1)
    config = load_config("quick").with_training(epochs=2, holdout_fraction=0.2)
    train(data, config, root / "model", feature_table=TABLE, train_hofs=TRAIN_HOFS, test_hofs=TEST_HOFS, progress=False)
    other = write(root / "unseen.h5", rng.uniform(-0.11, 0.28, 16), np.repeat([0, 1, 6, 7], 4), seed=5)
    return root / "model", data, other


def test_evaluation_sets_and_cli(trained, tmp_path):
    model_dir, data, other = trained
    same = evaluate_directory(model_dir, data, features=False, progress=False)
    assert same["sets"]["train_hofs_unseen_currents"]["n_traces"] == 6  # the held-out rows only
    assert same["sets"]["test_hofs"]["n_traces"] == 10
    fresh = evaluate_directory(model_dir, other, features=False, progress=False)
    assert fresh["sets"]["train_hofs_unseen_currents"]["n_traces"] == 8  # a separate file: every train-HoF row
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--model", str(model_dir), "--data", str(other), "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads(out.read_text())
    for name in ("train_hofs_unseen_currents", "test_hofs"):
        res = metrics["sets"][name]
        assert set(res["table1_pct"]) == {"voltage", "steady_state_voltage", "Spikecount", "AP1_width", "mean_AP_amplitude"}
        f = res["features"]
        assert f["n_both_spiking"] + f["n_both_silent"] + f["missed_firing"] + f["missed_non_firing"] == res["n_traces"]
        assert math.isfinite(res["voltage_rel_l2"]["mean_pct"])


def test_evaluation_rejects_another_grid(trained, tmp_path):
    model_dir, _, _ = trained
    from noble.sim.protocol import grid_protocol
    from noble.training import write_dataset

    tmpl = StimulusTemplate(n_samples=200, dt_ms=1.0, delay_ms=15.0, duration_ms=100.0)
    path = write_dataset(tmp_path / "x.h5", np.zeros((1, 200)), [0.1], [0], grid_protocol(tmpl),
                         cell="synthetic_cell", engine="synthetic", seed=0)
    with pytest.raises(Exception, match="n_samples is 200"):
        evaluate_directory(model_dir, path, features=False, progress=False)


def test_latent_space_analyses(trained):
    model = load_model(trained[0])
    points = train_embeddings(model)
    assert points.shape == (6, 2) and points.min() >= 0.5 - 1e-9 and points.max() <= 3.5 + 1e-9
    inside = hull_samples(points, 40, seed=1)
    assert inside.shape == (40, 2) and np.all(Delaunay(points).find_simplex(inside) >= 0)
    near = neighbourhood_samples(points[0], 30, radius=0.1, seed=2)
    assert np.all(np.linalg.norm(near - points[0], axis=1) <= 0.1 + 1e-12)
    raw = to_raw(model, inside[:3])
    np.testing.assert_allclose(model.scaler.transform(raw), inside[:3])
    assert ensemble_predict(model, 0.1, raw).shape == (3, model.template.n_samples)
    curves = fi_curves(model, [-0.05, 0.1, 0.2], hofs=[0, 6], progress=False)
    assert curves.spike_counts.shape == (2, 3)
    np.testing.assert_allclose(curves.rates_hz, curves.spike_counts / 0.2)  # a 200 ms step


def test_differentiable_sag_amplitude():
    t = torch.arange(300, dtype=torch.float64)
    window = (t >= 15) & (t < 215)
    v = torch.full((1, 300), -70.0, dtype=torch.float64)
    s = t[15:215] - 15
    v[0, 15:215] = -75.0 - 5.0 * torch.exp(-s / 10.0) * (s > 0) - 5.0 * (s == 0)  # dips to -80, settles at -75
    v.requires_grad_(True)
    sag = sag_amplitude(v, window, temperature=50.0)
    assert sag.item() == pytest.approx(5.0, abs=0.05)
    sag.sum().backward()
    assert v.grad is not None and torch.isfinite(v.grad).all()


def test_sag_finetuning_runs_on_negative_train_hof_steps(trained):
    model_dir, data, _ = trained
    model = load_model(model_dir)
    ds = read_dataset(data)
    rows = negative_step_rows(ds, model.train_hofs)
    assert rows.size > 0 and np.all(ds.amplitude[rows] < 0) and set(ds.hof[rows]) <= set(TRAIN_HOFS)
    before = sag_metrics(model, ds, rows)
    history = finetune_sag(model, ds, rows, SagFinetuneConfig(epochs=2, batch_size=8), eval_rows=rows, progress=False)
    assert len(history) == 2 and all(math.isfinite(h["loss"]) for h in history)
    assert math.isfinite(before["sag_rel_error_pct"]) and math.isfinite(history[-1]["sag_rel_error_pct"])
    # the norm-ratio sag error, recomputed by hand from the differentiable sag of truth and prediction
    import torch

    from noble.training.losses import sag_amplitude

    window = torch.as_tensor(model.template.window())
    with torch.no_grad():
        true = torch.as_tensor(ds.voltage[rows])
        pred = model(torch.as_tensor(ds.amplitude[rows]), torch.as_tensor(model.features_for_hofs(ds.hof[rows].tolist())))
        s_true, s_pred = sag_amplitude(true, window, 50.0), sag_amplitude(pred, window, 50.0)
    expected = 100 * float(torch.linalg.norm(s_pred - s_true) / torch.linalg.norm(s_true))
    after = sag_metrics(model, ds, rows)
    assert after["sag_rel_l2_pct"] == pytest.approx(expected, rel=1e-4)


def test_fi_curves_of_many_models_keep_models_and_amplitudes_apart(trained, monkeypatch):
    """Batched F-I curves: each (model, amplitude) count lands in its own cell (traces from the synthetic model)."""
    from noble.features.efel_features import spike_counts

    model = load_model(trained[0])
    tmpl = PAPER_TEMPLATE

    def fake_predict(amplitudes_nA, features=None, hofs=None, batch_size=256):
        feats = np.asarray(features)
        return synthetic_traces(np.asarray(amplitudes_nA), feats[:, 1], feats[:, 0], tmpl)

    monkeypatch.setattr(model, "predict", fake_predict)
    monkeypatch.setattr(model, "template", tmpl)
    amps = np.array([0.02, 0.1, 0.2, 0.28])
    feats = np.array([[750.0, 0.015], [850.0, 0.05], [800.0, 0.25]])  # thresholds 15, 50, 250 pA
    curves = fi_curves(model, amps, features=feats, progress=False, max_traces=8)  # two models per chunk
    for m in range(3):
        expected = spike_counts(synthetic_traces(amps, np.full(4, feats[m, 1]), np.full(4, feats[m, 0]), tmpl), tmpl.time())
        np.testing.assert_array_equal(curves.spike_counts[m], expected)
    assert curves.spike_counts[0, 0] > 0 and curves.spike_counts[1, 0] == 0 and curves.spike_counts[2, 2] == 0
    assert curves.spike_counts[2, 3] > 0 and np.all(np.diff(curves.spike_counts[0]) > 0)



def test_sag_finetuning_changes_the_weights_and_lowers_its_loss(trained):
    """A fine-tuning that never steps its optimiser leaves the weights as they were: this fails for it."""
    import torch

    model_dir, data, _ = trained
    model = load_model(model_dir)
    ds = read_dataset(data)
    rows = negative_step_rows(ds, model.train_hofs)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    history = finetune_sag(model, ds, rows, SagFinetuneConfig(epochs=4, batch_size=64, learning_rate=2e-3),
                           eval_rows=rows, progress=False)
    changed = [k for k, v in model.named_parameters() if not torch.equal(v.detach(), before[k])]
    assert changed, "no weight changed during fine-tuning"
    assert history[-1]["loss"] < history[0]["loss"]
