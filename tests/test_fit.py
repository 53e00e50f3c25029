"""The quick fit profile end to end: CLI, error history, hall of fame, resume, simulation of a fitted model."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from noble.cli import main
from noble.fit import FitError, load_fit_result, load_fitted_models, run_fit
from noble.fit.profiles import get_fit_profile
from noble.fit.run import HISTORY_COLUMNS

CELL = "human_pvalb_689331391"


@pytest.fixture(scope="module")
def quick_fit(data_root, tmp_path_factory) -> Path:
    """A quick fit through the CLI with 2 worker processes."""
    out = tmp_path_factory.mktemp("fit") / "quick"
    code = main(
        ["fit", "--cell", CELL, "--profile", "quick", "--seed", "3", "--out", str(out),
         "--workers", "2", "--data-root", str(data_root), "--targets", "table", "--no-progress"]
    )
    assert code == 0
    return out


def test_history_is_recorded_and_matches_the_hall_of_fame(quick_fit):
    """Layout and bookkeeping of the fit's history; that the evolution improves models is tested on an analytic
    objective in test_fit_parts.py (test_evolution_beats_random_search_of_the_same_budget)."""
    result = load_fit_result(quick_fit)
    profile = get_fit_profile("quick")
    history = result.history
    assert tuple(history.columns) == HISTORY_COLUMNS
    for stage, settings in (("passive", profile.passive), ("active", profile.active)):
        rows = history[history["stage"] == stage]
        assert list(rows["stage_generation"]) == list(range(settings.generations + 1))
        assert list(rows["n_evaluations"]) == [settings.population * (g + 1) for g in range(settings.generations + 1)]
        assert np.all(rows["best_error"] <= rows["min_error"] + 1e-12)
        assert np.all(rows["min_error"] <= rows["median_error"]) and np.all(rows["median_error"] > 0)
    assert list(history["generation"]) == list(range(len(history)))
    active = history[history["stage"] == "active"]
    assert result.best_error == pytest.approx(active["best_error"].iloc[-1]) == pytest.approx(result.hof_errors[0])
    assert result.n_evaluations == {"passive": 16, "active": 16}
    assert result.timings["passive"] > 0 and result.timings["active"] > 0


def test_hall_of_fame_files_are_model_files_with_their_scores(quick_fit, pvalb):
    result = load_fit_result(quick_fit)
    assert len(result.hall_of_fame) == get_fit_profile("quick").active.n_hof
    assert result.hof_errors == sorted(result.hof_errors)
    models = load_fitted_models(quick_fit)
    published = pvalb.hof_models[0].params
    for rank, (path, model) in enumerate(zip(result.hall_of_fame, models)):
        assert path.name == f"PVALB__689331391_seed_3_hof_{rank}.json"
        assert pvalb.spec.parse_hof_name(path.name) == (3, rank)
        assert model.params.mechanism_names() == published.mechanism_names()
        assert set(model.params.as_flat_dict()) == set(published.as_flat_dict())
        record = json.loads(path.read_text())["noble_fit"]
        assert record["mean_z_score"] == pytest.approx(result.hof_errors[rank])
        assert set(record["z_scores"]) == set(result.targets.names)
    passive = result.info["passive_fit"]
    for name, value in passive.items():  # stage 2 kept the stage-1 passive fit
        genome_name, section = name.split(".") if "." in name else ("Ra", None)
        if name == "Ra":
            assert models[0].params.ra == pytest.approx(value)
        elif section == "all":
            assert models[0].params.value("soma", genome_name) == pytest.approx(value)
        else:
            assert models[0].params.value(section, genome_name) == pytest.approx(value)


def test_interrupted_fit_resumes_to_the_uninterrupted_result(quick_fit, pvalb, tmp_path):
    class Stop(Exception):
        pass

    def stop(stage, gen, row):
        if stage == "active" and gen == 1:
            raise Stop

    out = tmp_path / "resumed"
    with pytest.raises(Stop):
        run_fit(pvalb, "quick", 3, out, workers=1, targets="table", progress=False, on_generation=stop)
    assert json.loads((out / "checkpoints" / "active.json").read_text())["generation"] == 1
    with pytest.raises(FitError, match="has not finished"):
        load_fit_result(out)
    resumed = run_fit(pvalb, "quick", 3, out, workers=1, targets="table", progress=False)
    reference = load_fit_result(quick_fit)
    assert resumed.history.equals(reference.history)
    assert resumed.hof_errors == reference.hof_errors
    for a, b in zip(resumed.hall_of_fame, reference.hall_of_fame):
        assert json.loads(a.read_text()) == json.loads(b.read_text())


def test_fitted_model_goes_through_noble_simulate_and_the_fi_analysis(quick_fit, data_root, tmp_path, capsys):
    from noble.features.fi import FICurve, firing_rates, threshold_slope_from_curve
    from noble.sim import read_dataset
    from noble.sim.dataset import sha256_file

    model = load_fitted_models(quick_fit)[0]
    amplitudes = [-0.11, 0.0, 0.1, 0.15, 0.28]
    out = tmp_path / "fitted.h5"
    command = ["simulate", "--models", str(quick_fit), "--root", str(data_root), "--quiet", "--out", str(out),
               "--amplitudes=" + ",".join(map(str, amplitudes))]
    assert main([*command, "--hofs", str(model.index)]) == 0
    ds = read_dataset(out)
    assert ds.hof.tolist() == [model.index] * 5 and ds.amplitude.tolist() == amplitudes
    card = json.loads(ds.data_card)
    assert card["fitted_models"]["dir"] == str(quick_fit.resolve()) and card["hofs"] == [model.index]
    model_file = "fit/" + Path(model.path).relative_to(quick_fit.resolve()).as_posix()
    assert card["checksums"][model_file] == sha256_file(model.path) == ds.attrs["checksums"][model_file]
    protocol = ds.protocol
    curve = FICurve(ds.amplitude, firing_rates(ds.voltage, ds.time, protocol.stim_start, protocol.stim_end))
    assert curve.rate[0] == 0 and curve.rate[1] == 0  # silent below rest and without current
    assert curve.rate[-1] > 0  # fitted to fire at 0.18 nA: it fires at 0.28 nA
    assert np.all(np.diff(curve.rate[1:]) >= 0)  # the F-I curve rises
    fi = threshold_slope_from_curve(curve)
    assert 0.0 < fi.threshold <= 0.28 and fi.bracket[1] > fi.bracket[0]
    capsys.readouterr()
    n_fitted = len(load_fitted_models(quick_fit))
    assert main([*command, "--hofs", str(n_fitted + 5), "--out", str(tmp_path / "x.h5")]) == 2
    assert f"has no HoF model of rank {n_fitted + 5}" in capsys.readouterr().err
    assert main([*command, "--cell", "mouse_pvalb_569998790", "--out", str(tmp_path / "y.h5")]) == 2
    assert f"holds models of {CELL}" in capsys.readouterr().err


def test_bad_cli_input_gives_clean_errors(data_root, tmp_path, capsys):
    assert main(["fit", "--cell", "no_such_cell", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "unknown cell 'no_such_cell'" in capsys.readouterr().err
    assert main(["fit", "--cell", CELL, "--data-root", str(data_root), "--workers", "0", "--out", str(tmp_path / "y"),
                 "--no-progress"]) == 2
    assert "workers must be >= 1" in capsys.readouterr().err
    with pytest.raises(FitError, match="no fit result here"):
        load_fit_result(tmp_path / "nothing")
