"""Values of the evaluation layer recomputed independently: evaluate_model / evaluate_directory against direct
calls of the metrics and baselines, the text table, variability, F-I curves, latent sampling, the accounting.

These tests complement tests/test_evaluate.py (which checks the structure and the CLI); each compares a number
with the same number computed another way, so a wrong row, metric, key or unit fails here.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial import Delaunay

from noble import load_model
from noble.embedding import EmbeddingError
from noble.evaluation import account, evaluate_directory, fi_curves, hull_samples, neighbourhood_samples
from noble.evaluation.baselines import BaselineError, constant_rest, nearest_neighbour
from noble.evaluation.evaluate import SUMMARY_LABELS, evaluate_model, firing_summary, format_table, score_traces
from noble.evaluation.metrics import relative_lp_error
from noble.evaluation.variability import MIN_SPEARMAN, Variability, spearman, variability
from noble.spikes import firing_report, spike_counts, window_mask
from noble.training import load_config, read_dataset, train
from noble.training.loop import load_split
from conftest import SYNTH_TABLE as TABLE
from conftest import SYNTH_TEST_HOFS as TEST_HOFS
from conftest import SYNTH_TRAIN_HOFS as TRAIN_HOFS
from conftest import write_synthetic as write

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 1-epoch model on synthetic traces, its training file and a separate file of train and test HoFs."""
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("values")
    rng = np.random.default_rng(4)
    hofs = np.repeat(np.arange(8), 5)
    data = write(root / "train.h5", rng.uniform(-0.11, 0.28, hofs.size), hofs)
    config = load_config("quick").with_training(epochs=1, holdout_fraction=0.2)
    train(data, config, root / "model", feature_table=TABLE, train_hofs=TRAIN_HOFS, test_hofs=TEST_HOFS,
          progress=False)
    other = write(root / "other.h5", rng.uniform(-0.11, 0.28, 14), np.array([0, 0, 1, 2, 3, 4, 5, 5, 6, 6, 6, 7, 7, 7]),
                  seed=9)
    only_train = write(root / "only_train.h5", rng.uniform(0.0, 0.2, 4), np.array([0, 1, 2, 3]), seed=3)
    return root / "model", data, other, only_train


def _separate_file(run):
    """The model, the separate file, the training file, the model's split and its training rows."""
    model_dir, data, other, _ = run
    split = load_split(model_dir)
    return load_model(model_dir), read_dataset(other), read_dataset(data), split, np.asarray(split["train"])


def _mean_pct(values: np.ndarray) -> float:
    return float(100 * np.mean(values))


def _expected_set(model, ds, rows, reference, ref_rows):
    """Metrics of one evaluation set computed directly (no features): model, constant rest, nearest neighbour."""
    tmpl = model.template
    true = ds.voltage[rows]
    mask = window_mask(ds.time, tmpl.delay_ms, tmpl.stim_end_ms)
    pred = model.predict(ds.amplitude[rows], hofs=ds.hof[rows])
    rest = constant_rest(true, ds.time, tmpl.delay_ms)
    latent = {h: model.scaler.transform(model.features_for_hofs([h]))[0] for h in range(8)}
    near = nearest_neighbour(ds.amplitude[rows], ds.hof[rows], reference.voltage[ref_rows],
                             reference.amplitude[ref_rows], reference.hof[ref_rows], latent=latent)
    out = {}
    for key, trace in (("model", pred), ("constant_rest", rest), ("nearest_neighbour", near)):
        out[key] = {"l2": _mean_pct(relative_lp_error(trace, true, 2)), "l4": _mean_pct(relative_lp_error(trace, true, 4)),
                    "firing": firing_report(spike_counts(trace, mask), spike_counts(true, mask)).as_dict()}
    return out


def _check_set(res, expected):
    for key, exp in expected.items():
        got = res if key == "model" else res["baselines"][key]
        assert got["voltage_rel_l2"]["mean_pct"] == pytest.approx(exp["l2"], rel=1e-6), key
        assert got["voltage_rel_l4"]["mean_pct"] == pytest.approx(exp["l4"], rel=1e-6), key
        assert got["table1_pct"] == {"voltage": got["voltage_rel_l2"]["mean_pct"]}
        assert got["firing"] == pytest.approx(exp["firing"], nan_ok=True), key


def test_evaluate_model_equals_direct_metrics_on_a_separate_file(run):
    model, ds, train_ds, split, ref_rows = _separate_file(run)
    metrics = evaluate_model(model, ds, split, reference=train_ds, reference_rows=ref_rows, features=False,
                             progress=False)
    assert metrics["data"] == ds.describe()
    for name, hofs in (("train_hofs_unseen_currents", TRAIN_HOFS), ("test_hofs", TEST_HOFS)):
        rows = np.flatnonzero(np.isin(ds.hof, hofs))
        res = metrics["sets"][name]
        assert res["n_traces"] == rows.size and res["n_hofs"] == np.unique(ds.hof[rows]).size
        _check_set(res, _expected_set(model, ds, rows, train_ds, ref_rows))


def test_the_firing_summary_repeats_each_predictors_numbers(run):
    model, ds, train_ds, split, ref_rows = _separate_file(run)
    res = evaluate_model(model, ds, split, reference=train_ds, reference_rows=ref_rows, features=False,
                         progress=False)["sets"]["train_hofs_unseen_currents"]
    summary = firing_summary(res)
    assert list(summary) == ["model", "constant_rest", "nearest_neighbour"]
    for name, row in summary.items():
        got = res if name == "model" else res["baselines"][name]
        assert row == {"n_traces": res["n_traces"], "missed_firing_pct": got["firing"]["missed_firing_pct"],
                       "false_firing_pct": got["firing"]["false_firing_pct"],
                       "spike_count_err_pct": got["firing"]["spike_count_rel_err_pct"],
                       "voltage_rel_l2_pct": got["voltage_rel_l2"]["mean_pct"]}
    assert set(SUMMARY_LABELS) <= set(summary["model"])


def test_evaluate_model_on_its_training_file_uses_the_held_out_and_training_rows(run):
    model_dir, data, _, _ = run
    model, ds = load_model(model_dir), read_dataset(data)
    split = load_split(model_dir)
    metrics = evaluate_model(model, ds, split, features=False, progress=False)
    held_out = np.asarray(split["holdout"])
    res = metrics["sets"]["train_hofs_unseen_currents"]
    assert res["n_traces"] == held_out.size
    # the nearest neighbour of a held-out trace is drawn from the training rows only, never from itself
    _check_set(res, _expected_set(model, ds, held_out, ds, np.asarray(split["train"])))
    assert res["baselines"]["nearest_neighbour"]["voltage_rel_l2"]["mean_pct"] > 0


def test_max_traces_draws_a_seeded_subset_and_empty_sets_are_reported(run):
    model, ds, train_ds, split, ref_rows = _separate_file(run)
    metrics = evaluate_model(model, ds, split, reference=train_ds, reference_rows=ref_rows, features=False,
                             progress=False, max_traces=3, seed=5)
    rng = np.random.default_rng(5)
    for name, hofs in (("train_hofs_unseen_currents", TRAIN_HOFS), ("test_hofs", TEST_HOFS)):
        rows = np.flatnonzero(np.isin(ds.hof, hofs))
        rows = np.sort(rng.choice(rows, size=3, replace=False)) if rows.size > 3 else rows
        assert metrics["sets"][name]["n_traces"] == 3
        _check_set(metrics["sets"][name], _expected_set(model, ds, rows, train_ds, ref_rows))
    exact = evaluate_model(model, ds, split, features=False, progress=False, max_traces=6, baselines=False)
    assert exact["sets"]["test_hofs"]["n_traces"] == 6  # exactly max_traces rows: all of them, unsampled
    assert "baselines" not in exact["sets"]["test_hofs"]
    no_test = evaluate_model(model, read_dataset(run[3]), split, features=False, progress=False)
    assert no_test["sets"]["test_hofs"] == {"n_traces": 0}
    assert no_test["sets"]["train_hofs_unseen_currents"]["n_traces"] == 4


def test_evaluate_directory_records_the_model_and_takes_training_rows_from_the_split(run):
    model_dir, data, other, _ = run
    model, ds, train_ds, split, ref_rows = _separate_file(run)
    metrics = evaluate_directory(model_dir, other, train_data=data, features=False, progress=False)
    assert metrics["model"] == {"dir": str(model_dir), "name": model.card["name"],
                                "weights_sha256": model.card["weights"]["sha256"],
                                "trained_on_data_card_sha256": train_ds.data_card_sha256,
                                "nearest_neighbour_reference": {"files": [str(data)], "n_traces": len(train_ds),
                                                                "rows": "the model's training rows"}}
    rows = np.flatnonzero(np.isin(ds.hof, TRAIN_HOFS))
    _check_set(metrics["sets"]["train_hofs_unseen_currents"],
               _expected_set(model, ds, rows, train_ds, ref_rows))
    plain = evaluate_directory(model_dir, other, features=False, progress=False)
    assert set(plain["sets"]["test_hofs"]["baselines"]) == {"constant_rest"}  # no training traces given
    # a file the split does not describe is used whole, and the metrics say so
    whole = evaluate_directory(model_dir, other, train_data=[other], features=False, progress=False)
    assert whole["model"]["nearest_neighbour_reference"]["rows"].startswith("every row")


def test_score_traces_with_features_reports_the_papers_accounting(run):
    model_dir, _, other, _ = run
    model, ds = load_model(model_dir), read_dataset(other)
    tmpl = model.template
    true = ds.voltage[:6]
    pred = true + 1.5  # a shifted copy: spikes where the truth spikes, voltage error known
    res = score_traces(pred, true, ds.time, tmpl.delay_ms, tmpl.stim_end_ms, features=True)
    assert res["voltage_rel_l2"]["mean_pct"] == pytest.approx(_mean_pct(relative_lp_error(pred, true, 2)), rel=1e-9)
    f = res["features"]
    assert f["n_traces"] == 6 and f["missed_firing"] == 0 and f["missed_non_firing"] == 0
    assert set(res["table1_pct"]) == {"voltage", "steady_state_voltage", "Spikecount", "AP1_width", "mean_AP_amplitude"}
    assert res["table1_pct"]["Spikecount"] in (0.0,) or math.isnan(res["table1_pct"]["Spikecount"])
    assert res["table1_pct"]["steady_state_voltage"] == pytest.approx(f["features"]["steady_state_voltage"]["mean_pct"])
    mask = window_mask(ds.time, tmpl.delay_ms, tmpl.stim_end_ms)
    assert res["firing"]["n_spiking"] == int((spike_counts(true, mask) > 0).sum())
    silent = score_traces(np.full_like(true, -70.0), true, ds.time, tmpl.delay_ms, tmpl.stim_end_ms, features=True)
    n_spiking = res["firing"]["n_spiking"]
    assert silent["features"]["missed_firing"] == n_spiking and silent["firing"]["missed_firing_pct"] == (
        100.0 if n_spiking else silent["firing"]["missed_firing_pct"])


def test_score_traces_counts_spikes_inside_the_step_only():
    time = np.arange(300, dtype=float)  # 1 ms grid, step 15-215 ms
    true = np.full((1, 300), -70.0)
    pred = true.copy()
    true[0, [50, 60]] = 10.0  # two spikes inside the step
    pred[0, [50, 250]] = 10.0  # one inside, one after the step
    res = score_traces(pred, true, time, 15.0, 215.0, features=False)
    assert res["firing"]["n_spiking"] == 1
    assert res["firing"]["spike_count_rel_err_pct"] == pytest.approx(50.0)
    assert res["voltage_rel_l4"]["mean_pct"] == pytest.approx(_mean_pct(relative_lp_error(pred, true, 4)))


def test_format_table_prints_every_set_baseline_and_count():
    res = {"n_traces": 10, "table1_pct": {"voltage": 7.25, "steady_state_voltage": 1.5, "Spikecount": 12.0,
                                          "AP1_width": 3.0, "mean_AP_amplitude": 4.125},
           "baselines": {"constant_rest": {"table1_pct": {"voltage": 9.5}}},
           "firing": {"n_spiking": 6, "n_silent": 4, "missed_firing_pct": 16.66, "false_firing_pct": 0.0,
                      "spike_count_rel_err_pct": 40.04},
           "features": {"n_traces": 10, "n_both_spiking": 5, "n_both_silent": 4, "missed_firing": 1,
                        "missed_non_firing": 0}}
    text = format_table({"sets": {"train_hofs_unseen_currents": res, "test_hofs": {"n_traces": 0}}})
    lines = text.split("\n")
    assert len(lines) == 6
    assert lines[0] == "set".ljust(28) + "".join(c.rjust(24) for c in ("voltage", "steady_state_voltage", "Spikecount",
                                                                       "AP1_width", "mean_AP_amplitude"))
    assert lines[1] == "train_hofs_unseen_currents".ljust(28) + "".join(
        f"{v:24.3f}" for v in (7.25, 1.5, 12.0, 3.0, 4.125))
    assert lines[2] == "  baseline constant_rest".ljust(28) + f"{9.5:24.3f}" + f"{math.nan:24.3f}" * 4
    assert lines[3] == ("  firing: 6 spiking, 4 silent PDE traces; missed firing 16.7%, false firing 0.0%,"
                        " spike-count error 40.0%")
    assert lines[4] == "  traces 10: both spiking 5, both silent 4, missed firing 1, missed non-firing 0"
    assert lines[5] == "test_hofs".ljust(28) + "(no traces in this dataset)"
    assert format_table({}) == lines[0]


class _CountingModel:
    """A stand-in for NobleModel.predict: each trace spikes ``round(10 * amplitude * slope / 800)`` times."""

    feature_names = ("slope", "intercept")

    def __init__(self, template):
        self.template = template
        self.calls: list[int] = []

    def features_for_hofs(self, hofs):
        return np.array([[TABLE[h]["slope"], TABLE[h]["intercept"]] for h in hofs])

    def predict(self, amplitudes_nA, features=None, hofs=None, batch_size=256, **kw):
        if hofs is not None:
            features = self.features_for_hofs(hofs)
        self.calls.append(len(amplitudes_nA))
        t = self.template.time()
        out = np.full((len(amplitudes_nA), t.size), -70.0)
        for i, (a, f) in enumerate(zip(amplitudes_nA, np.asarray(features))):
            n = max(0, int(round(10 * a * f[0] / 800.0)))
            times = self.template.delay_ms + (np.arange(n) + 0.5) * self.template.duration_ms / max(n, 1)
            for ts in times:
                j = int(np.searchsorted(t, ts))
                out[i, j:j + 2] = 20.0
        return out


def test_fi_curves_count_every_model_and_amplitude_in_bounded_chunks():
    from conftest import synth_template

    fake = _CountingModel(synth_template())
    amps = [0.0, 0.5, 1.0]
    curves = fi_curves(fake, amps, hofs=[0, 4, 7], progress=False, max_traces=6)  # 2 models per chunk
    assert fake.calls == [6, 3]
    expected = np.array([[max(0, round(10 * a * TABLE[h]["slope"] / 800.0)) for a in amps] for h in (0, 4, 7)])
    np.testing.assert_array_equal(curves.spike_counts, expected)
    np.testing.assert_allclose(curves.rates_hz, expected / 0.2)  # a 200 ms step: counts per second
    np.testing.assert_array_equal(curves.amplitudes_nA, amps)
    same = fi_curves(fake, amps, features=fake.features_for_hofs([0, 4, 7]), progress=False)
    np.testing.assert_array_equal(same.spike_counts, expected)
    with pytest.raises(EmbeddingError, match="either raw features"):
        fi_curves(fake, amps, progress=False)
    with pytest.raises(EmbeddingError, match=r"features must be \[M, 2\] \(\['slope', 'intercept'\]\)"):
        fi_curves(fake, amps, features=np.ones((3, 3)), progress=False)
    with pytest.raises(EmbeddingError, match=r"features must be \[M, 2\]"):
        fi_curves(fake, amps, features=np.ones(2), progress=False)


def test_variability_counts_spikes_per_hof_and_compares_ranks():
    from conftest import synth_template

    fake = _CountingModel(synth_template())
    hofs = [0, 3, 7]
    pde = fake.predict(np.full(3, 2.0), hofs=hofs)
    v = variability(fake, pde[::-1].copy(), hofs, 2.0)  # PDE counts in the reverse order of the model's
    model_counts = [round(20 * TABLE[h]["slope"] / 800.0) for h in hofs]
    assert len(set(model_counts)) == 3
    assert v.hofs == (0, 3, 7) and v.amplitude_nA == 2.0
    assert v.model_counts == tuple(model_counts) and v.pde_counts == tuple(model_counts[::-1])
    assert v.spearman == pytest.approx(-1.0)
    assert v.model_spread == pytest.approx(np.std(model_counts)) == pytest.approx(v.pde_spread)
    assert v.spread_ratio == pytest.approx(1.0) and not v.meets_targets
    d = v.as_dict()
    assert d["spread_ratio"] == pytest.approx(1.0) and d["meets_targets"] is False and d["pde_counts"] == v.pde_counts
    good = Variability(0.1, (0, 1), (1, 2), (1, 3), MIN_SPEARMAN, 1.0, 0.5)
    assert good.meets_targets and good.spread_ratio == 0.5
    assert not Variability(0.1, (0, 1), (1, 2), (1, 3), MIN_SPEARMAN, 1.0, 0.49).meets_targets
    assert math.isnan(Variability(0.1, (0, 1), (2, 2), (1, 3), 0.0, 0.0, 1.0).spread_ratio)


def test_spearman_uses_average_ranks_and_is_undefined_for_constant_input():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2], [2, 1]) == pytest.approx(-1.0)
    # ties get average ranks: ranks (1.5, 1.5, 3) and (1, 2, 3) correlate at sqrt(3)/2
    assert spearman(np.array([5, 5, 7]), np.array([1, 2, 3])) == pytest.approx(math.sqrt(3) / 2)
    assert spearman([1, 2, 3], [4, 2, 4]) == pytest.approx(0.0)
    for a, b in (([3], [1]), ([2, 2, 2], [1, 2, 3]), ([1, 2, 3], [0, 0, 0])):
        assert math.isnan(spearman(a, b))
    assert math.isnan(spearman([1, 1], [1, 2])) and not math.isnan(spearman([1, 0, 1], [1, 2, 2]))


def test_hull_samples_are_uniform_in_the_hull_and_reproducible():
    triangle = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0], [1.0, 1.0]])  # hull: the triangle (area 4.5)
    a = hull_samples(triangle, 4000, seed=3)
    assert a.shape == (4000, 2) and np.all(Delaunay(triangle).find_simplex(a) >= 0)
    np.testing.assert_allclose(a.mean(axis=0), [1.0, 1.0], atol=0.05)  # uniform: the triangle's centroid
    assert a[:, 0].min() < 0.02 and a[:, 1].min() < 0.02 and (a.sum(axis=1)).max() > 2.95  # reaches the edges
    np.testing.assert_array_equal(a, hull_samples(triangle, 4000, seed=3))
    assert not np.array_equal(a[:10], hull_samples(triangle, 10, seed=4))
    few = hull_samples(triangle, 10, seed=3)
    assert few.shape == (10, 2)
    thin = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1e-3], [1.0, 1e-3], [0.5, 0.5]])
    assert hull_samples(thin, 500, seed=0).shape == (500, 2)  # many draws of the box, concatenated
    with pytest.raises(EmbeddingError, match=r"need more than 2 points of dimension 2 for a hull, got \(2, 2\)"):
        hull_samples(np.array([[0.0, 0.0], [1.0, 1.0]]), 5)
    with pytest.raises(EmbeddingError, match="need more than"):
        hull_samples(np.array([0.0, 1.0, 2.0]), 5)
    sliver = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.001]])  # a diagonal sliver: 0.05% of its bounding box
    with pytest.raises(EmbeddingError, match="too thin to sample from"):
        hull_samples(sliver, 10_000, max_tries=1)


def test_neighbourhood_samples_fill_the_disc_uniformly():
    c = np.array([2.0, 1.0])
    s = neighbourhood_samples(c, 20_000, radius=0.3, seed=1)
    r = np.linalg.norm(s - c, axis=1)
    assert r.max() <= 0.3 + 1e-12
    # uniform in a disc: P(r <= x) = (x / R)^2, so the median radius is R / sqrt(2) and the mean is 2R/3
    assert np.median(r) == pytest.approx(0.3 / math.sqrt(2), rel=0.02)
    assert r.mean() == pytest.approx(0.2, rel=0.02)
    np.testing.assert_allclose(s.mean(axis=0), c, atol=0.01)
    np.testing.assert_array_equal(s, neighbourhood_samples(c, 20_000, radius=0.3, seed=1))
    r3 = np.linalg.norm(neighbourhood_samples(np.zeros(3), 20_000, radius=1.0, seed=2), axis=1)
    assert np.median(r3) == pytest.approx(0.5 ** (1 / 3), rel=0.02)  # a ball in 3-D: P(r <= x) = x^3


def test_account_counts_nan_features_and_rejects_unequal_lists():
    spk = {"Spikecount": 3.0, "AP1_width": 1.0, "mean_AP_amplitude": 80.0}
    rows_t = [dict(spk), dict(spk), {"Spikecount": 0.0, "steady_state_voltage": -70.0},
              {"Spikecount": float("nan"), "steady_state_voltage": -60.0}, {"Spikecount": 0.0}, {"Spikecount": 0.0}]
    rows_p = [{**spk, "AP1_width": 1.5}, {**spk, "AP1_width": float("nan")}, {"Spikecount": 1.0},
              {"Spikecount": 0.0, "steady_state_voltage": -66.0}, {"Spikecount": 2.0}, {"Spikecount": 0.0}]
    rep = account(rows_t, rows_p)
    assert (rep.n_traces, rep.n_both_spiking, rep.n_both_silent) == (6, 2, 2)
    assert (rep.missed_firing, rep.missed_non_firing) == (0, 2)  # a NaN count reads as silent
    w = rep.features["AP1_width"]
    assert w["n"] == 1 and w["n_nan"] == 1
    assert w["mean_pct"] == pytest.approx(100 * 0.5 / (1.0 + 1e-6)) == pytest.approx(w["median_pct"])
    assert rep.features["steady_state_voltage"]["mean_pct"] == pytest.approx(100 * 6.0 / 60.0, rel=1e-6)
    # steady state is scored on both kinds of pair: the two spiking pairs and the last silent pair lack it
    assert rep.features["steady_state_voltage"]["n_nan"] == 3
    assert math.isnan(rep.features["inv_first_ISI"]["mean_pct"]) and rep.features["inv_first_ISI"]["n_nan"] == 2
    errs = account([{"Spikecount": 0.0, "voltage_base": -70.0}] * 3,
                   [{"Spikecount": 0.0, "voltage_base": v} for v in (-70.0, -63.0, -56.0)])
    vb = errs.features["voltage_base"]
    assert vb["median_pct"] == pytest.approx(10.0, rel=1e-6) and vb["mean_pct"] == pytest.approx(10.0, rel=1e-6)
    one = account([{"Spikecount": 2.0}], [{"Spikecount": 1.0}])
    assert one.n_both_spiking == 1 and one.features["Spikecount"]["mean_pct"] == pytest.approx(50.0, rel=1e-6)
    with pytest.raises(ValueError, match="2 true and 1 predicted feature rows"):
        account([spk, spk], [spk])


def test_nearest_neighbour_picks_the_same_hof_or_the_nearest_hof_in_latent_space():
    ref_v = np.arange(5, dtype=float)[:, None] * np.ones((5, 3))  # trace i is flat at i mV
    ref_amp = np.array([0.1, 0.2, 0.3, 0.1, 0.25])
    ref_hof = np.array([0, 0, 0, 1, 1])
    out = nearest_neighbour([0.21, 0.12, 0.3, 0.29], [0, 1, 1, 2], ref_v, ref_amp, ref_hof,
                            latent={0: np.array([0.0, 0.0]), 1: np.array([1.0, 1.0]), 2: np.array([0.9, 0.8])})
    np.testing.assert_array_equal(out[:, 0], [1.0, 3.0, 4.0, 4.0])  # HoF 2's neighbour is HoF 1
    assert out.dtype == np.float32 and out.shape == (4, 3)
    with pytest.raises(BaselineError, match="HoF model 2 has no training traces"):
        nearest_neighbour([0.1], [2], ref_v, ref_amp, ref_hof)
    with pytest.raises(BaselineError, match="HoF model 2 has no training traces"):
        nearest_neighbour([0.1], [2], ref_v, ref_amp, ref_hof, latent={2: np.zeros(2), 0: np.zeros(2)})
    with pytest.raises(BaselineError, match="needs training traces"):
        nearest_neighbour([0.1], [0], ref_v[:0], ref_amp[:0], ref_hof[:0])


def _sag_loss(model, ds, rows, weight, temperature):
    """Table 3's objective over ``rows`` as one batch, computed from the losses module directly."""
    import torch

    from noble.training.losses import relative_l2_squared, relative_lp, sag_amplitude

    window = torch.as_tensor(model.template.window())
    with torch.no_grad():
        true = torch.as_tensor(ds.voltage[rows])
        pred = model(torch.as_tensor(ds.amplitude[rows]), torch.as_tensor(model.features_for_hofs(ds.hof[rows].tolist())))
        sag = relative_l2_squared(sag_amplitude(pred, window, temperature), sag_amplitude(true, window, temperature))
        return float(relative_lp(pred, true, 4).mean() + weight * sag)


def test_sag_finetuning_loss_schedule_and_defaults_equal_a_direct_computation(run):
    from noble.evaluation import SagFinetuneConfig, finetune_sag, negative_step_rows, sag_metrics

    model_dir, data, _, _ = run
    ds = read_dataset(data)
    model = load_model(model_dir)
    rows = negative_step_rows(ds, model.train_hofs)
    np.testing.assert_array_equal(rows, np.flatnonzero(np.isin(ds.hof, TRAIN_HOFS) & (ds.amplitude < 0)))
    for weight, temperature in ((25.0, 50.0), (0.0, 50.0), (4.0, 10.0)):
        model = load_model(model_dir)
        expected = _sag_loss(model, ds, rows, weight, temperature)
        before = sag_metrics(model, ds, rows, temperature)
        config = SagFinetuneConfig(weight=weight, temperature=temperature, epochs=3, batch_size=rows.size,
                                   learning_rate=1e-7, plateau_factor=0.5, plateau_patience=0)
        history = finetune_sag(model, ds, None, config, eval_rows=rows, progress=False)  # rows: the default
        assert history[0]["loss"] == pytest.approx(expected, rel=1e-5), (weight, temperature)
        assert [h["epoch"] for h in history] == [1, 2, 3]
        # a loss that does not improve halves the rate after every epoch (patience 0)
        assert [h["learning_rate"] for h in history] == pytest.approx([1e-7, 5e-8, 2.5e-8])
        for key in ("voltage_rel_l2_pct", "sag_rel_l2_pct", "n"):
            assert history[-1][key] == pytest.approx(before[key], rel=1e-3)
    model = load_model(model_dir)
    stopped = finetune_sag(model, ds, rows, SagFinetuneConfig(epochs=5, batch_size=4, max_minutes=0.0), progress=False)
    assert len(stopped) == 1 and "voltage_rel_l2_pct" not in stopped[0]
    with pytest.raises(ValueError, match="no train-HoF traces with negative amplitudes"):
        finetune_sag(model, ds, np.array([], dtype=np.int64), progress=False)


def test_sag_metrics_values_and_the_small_sag_count(run):
    import torch

    from noble.evaluation import negative_step_rows, sag_metrics
    from noble.evaluation.finetune import MIN_SAG_MV
    from noble.training.losses import relative_lp, sag_amplitude

    model_dir, data, _, _ = run
    model, ds = load_model(model_dir), read_dataset(data)
    rows = np.concatenate([negative_step_rows(ds, model.train_hofs), np.flatnonzero(ds.amplitude > 0)[:3]])
    got = sag_metrics(model, ds, rows, batch_size=3)  # several batches
    window = torch.as_tensor(model.template.window())
    with torch.no_grad():
        true = torch.as_tensor(ds.voltage[rows])
        pred = model(torch.as_tensor(ds.amplitude[rows]), torch.as_tensor(model.features_for_hofs(ds.hof[rows].tolist())))
        s_t, s_p = sag_amplitude(true, window, 50.0).numpy(), sag_amplitude(pred, window, 50.0).numpy()
        v = relative_lp(pred, true, 2).numpy()
    big = np.abs(s_t) >= MIN_SAG_MV
    assert got["n"] == rows.size and got["n_small_sag"] == int((~big).sum())
    assert got["voltage_rel_l2_pct"] == pytest.approx(100 * v.mean(), rel=1e-5)
    assert got["sag_rel_error_pct"] == pytest.approx(100 * np.mean(np.abs(s_p - s_t) / (np.abs(s_t) + 1e-6)), rel=1e-4)
    assert got["sag_rel_l2_bounded_pct"] == pytest.approx(
        100 * np.linalg.norm(s_p[big] - s_t[big]) / np.linalg.norm(s_t[big]), rel=1e-4)
    empty = sag_metrics(model, ds, np.array([], dtype=np.int64))
    assert empty["n"] == 0 and empty["n_small_sag"] == 0 and math.isnan(empty["voltage_rel_l2_pct"])


def test_sag_metrics_of_given_traces_equal_the_models_and_score_a_flat_line_at_100(run):
    import torch

    from noble.evaluation import negative_step_rows, sag_metrics
    from noble.evaluation.baselines import constant_rest
    from noble.evaluation.finetune import sag_metrics_of_traces

    model_dir, data, _, _ = run
    model, ds = load_model(model_dir), read_dataset(data)
    rows = negative_step_rows(ds, model.train_hofs)
    window = model.template.window()
    with torch.no_grad():
        pred = model(torch.as_tensor(ds.amplitude[rows]),
                     torch.as_tensor(model.features_for_hofs(ds.hof[rows].tolist()))).numpy()
    given = sag_metrics_of_traces(pred, ds.voltage[rows], window, batch_size=2)
    direct = sag_metrics(model, ds, rows)
    for key in ("voltage_rel_l2_pct", "sag_rel_error_pct", "sag_rel_l2_pct", "n_small_sag", "n"):
        assert given[key] == pytest.approx(direct[key], rel=1e-5), key
    perfect = sag_metrics_of_traces(ds.voltage[rows], ds.voltage[rows], window)
    assert perfect["voltage_rel_l2_pct"] == 0.0 and perfect["sag_rel_l2_pct"] == 0.0
    flat = sag_metrics_of_traces(constant_rest(ds.voltage[rows], ds.time, model.template.delay_ms),
                                 ds.voltage[rows], window)
    assert flat["sag_rel_l2_pct"] == pytest.approx(100.0, abs=0.01)  # a flat line has no sag
    assert flat["n_small_sag"] == direct["n_small_sag"]  # counted on the true traces
    with pytest.raises(ValueError, match=r"must both be \[N, T\]"):
        sag_metrics_of_traces(pred[:, :10], ds.voltage[rows], window)
    assert math.isnan(sag_metrics_of_traces(pred[:0], ds.voltage[rows][:0], window)["sag_rel_error_pct"])


def test_table3_counts_small_sags_as_counts():
    from noble.pipeline.sag_finetuning import small_sag_cell

    assert small_sag_cell(3, 40) == "3 of 40" and small_sag_cell(None, 40) == "n/a"
