"""Tables 1-2: rows averaged over training seeds with their spread, baselines on the same traces, seed tags and
the training set a model's nearest-neighbour baseline draws on."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from noble.errors import AnalysisError
from noble.pipeline import ablations, profiles, steps
from noble.pipeline.layout import RunLayout
from noble.pipeline.steps import PipelineError


def _result(voltage: float, missed: float = 50.0, spikecount: float | None = 20.0, n_spiking: int = 4,
            n_silent: int = 2, ci: tuple[float, float] = (1.0, 2.0)) -> dict:
    """An evaluation set result with the fields evaluate_model reports (percent)."""
    pct = {"voltage": voltage, "steady_state_voltage": voltage / 10}
    if spikecount is not None:
        pct.update(Spikecount=spikecount, AP1_width=2 * spikecount, mean_AP_amplitude=spikecount / 2)
    missed_n = int(round(missed / 100 * n_spiking))
    return {
        "n_traces": n_spiking + n_silent,
        "table1_pct": pct,
        "voltage_rel_l2": {"mean_pct": voltage, "ci95_pct": list(ci)},
        "features": {"n_traces": n_spiking + n_silent, "n_both_spiking": n_spiking - missed_n,
                     "missed_firing": missed_n, "n_both_silent": n_silent, "missed_non_firing": 0},
        "firing": {"missed_firing_pct": missed, "false_firing_pct": 0.0, "spike_count_rel_err_pct": missed + 5,
                   "n_spiking": n_spiking, "n_silent": n_silent},
    }


def _with_baselines(result: dict, rest_voltage: float = 9.0, nn_voltage: float = 8.0) -> dict:
    result["baselines"] = {"constant_rest": _result(rest_voltage, missed=100.0, spikecount=None),
                           "nearest_neighbour": _result(nn_voltage, missed=0.0, spikecount=3.0)}
    return result


def _row(*results: dict) -> ablations.AblationRow:
    return ablations.AblationRow(tuple(f"t{i}" for i in range(len(results))), tuple(range(len(results))), results)


def test_row_cells_average_the_seeds_and_give_their_spread():
    row = _row(_result(10.0, missed=25.0, ci=(9.0, 11.0)), _result(12.0, missed=50.0), _result(14.0, missed=75.0))
    cells = ablations.row_cells(row)
    assert cells["Voltage"] == pytest.approx(12.0)
    assert cells["Voltage, sd over seeds"] == pytest.approx(2.0)  # sample sd of 10, 12, 14
    assert cells["Missed firing, sd over seeds"] == pytest.approx(25.0)
    assert cells["Missed firing (% of spiking PDE traces)"] == pytest.approx(50.0)
    assert cells["Spike-count error (% per spiking trace)"] == pytest.approx(55.0)
    assert cells["Steady state voltage"] == pytest.approx(1.2)
    assert cells["Voltage, 95% CI (first seed)"] == "9.00-11.00"
    assert cells["Traces (spiking / silent PDE)"] == "4 / 2"
    assert cells["Seeds"] == "3: 0, 1, 2"


def test_a_spike_feature_without_a_number_in_any_seed_says_why():
    row = _row(_result(10.0, missed=100.0, spikecount=None), _result(11.0, missed=100.0, spikecount=None))
    cells = ablations.row_cells(row)
    assert cells["Spikecount"] == "none: 4 of 4 spiking traces missed"
    assert cells["AP1 width"] == "none: 4 of 4 spiking traces missed"
    assert cells["Missed firing, sd over seeds"] == pytest.approx(0.0)


def test_a_spike_feature_is_averaged_over_the_seeds_that_have_it():
    row = _row(_result(10.0, missed=100.0, spikecount=None), _result(11.0, spikecount=30.0),
               _result(12.0, spikecount=10.0))
    assert ablations.row_cells(row)["Spikecount"] == pytest.approx(20.0)


def test_one_seed_has_no_spread():
    cells = ablations.row_cells(_row(_result(10.0)))
    assert cells["Voltage"] == pytest.approx(10.0)
    assert cells["Voltage, sd over seeds"] == "n/a (1 seed)"
    assert cells["Seeds"] == "1: 0"


def test_table1_ends_with_both_baselines_on_the_same_traces_and_the_paper_beside_each_error():
    results = {("slope", "intercept"): _row(_with_baselines(_result(10.0)), _result(12.0)),
               (): _row(_result(15.0), _result(17.0))}
    df = ablations.table1_frame(results)
    assert list(df.index) == ["s_thr, I_thr", "None", "Constant rest (same traces)", "Nearest neighbour (same traces)"]
    assert df.loc["s_thr, I_thr", "Voltage"] == pytest.approx(11.0)
    assert df.loc["None", "Voltage"] == pytest.approx(16.0)
    assert df.loc["s_thr, I_thr", "Voltage (paper)"] == 1.92 and df.loc["None", "Voltage (paper)"] == 12.1
    assert df.loc["Constant rest (same traces)", "Voltage"] == pytest.approx(9.0)
    assert df.loc["Constant rest (same traces)", "Spikecount"] == "none: 4 of 4 spiking traces missed"
    assert df.loc["Constant rest (same traces)", "Missed firing (% of spiking PDE traces)"] == 100.0
    assert df.loc["Nearest neighbour (same traces)", "Voltage"] == pytest.approx(8.0)
    assert df.loc["Nearest neighbour (same traces)", "Voltage, sd over seeds"] == "n/a (no training)"
    assert math.isnan(df.loc["Nearest neighbour (same traces)", "Voltage (paper)"])
    cols = list(df.columns)
    assert cols[:2] == ["Voltage", "Voltage (paper)"] and "Seeds" in cols and "Seeds (paper)" not in cols


def test_table2_takes_each_rows_nearest_neighbour_from_that_rows_own_training():
    results = {4: _row(_with_baselines(_result(10.0), nn_voltage=7.0)),
               2: _row(_with_baselines(_result(11.0), nn_voltage=9.5))}
    df = ablations.table2_frame(results, 4)
    assert list(df.index) == ["4 of 4 (paper: 50)", "2 of 4 (paper: 20)", "Constant rest (same traces)",
                              "Nearest neighbour of 4 train HoFs (same traces)",
                              "Nearest neighbour of 2 train HoFs (same traces)"]
    assert df.loc["2 of 4 (paper: 20)", "Voltage (paper)"] == 10.6
    assert df.loc["Nearest neighbour of 4 train HoFs (same traces)", "Voltage"] == pytest.approx(7.0)
    assert df.loc["Nearest neighbour of 2 train HoFs (same traces)", "Voltage"] == pytest.approx(9.5)
    with pytest.raises(AnalysisError, match="no rows"):
        ablations.ablation_frame({}, "x", {}, {})


def test_seed_tags_and_seed_checks():
    quick = profiles.get_profile("quick")
    assert ablations.seed_tag("feat-none", None) == "feat-none"
    assert ablations.seed_tag("feat-none", 2) == "feat-none-seed2"
    assert ablations._seeds(quick, (0, 3)) == (None, 3)  # the configuration's own seed keeps the row's tag
    assert len(ablations._seeds(quick, None)) == len(profiles.analysis_settings("quick").ablation_seeds)
    assert len(profiles.analysis_settings("laptop").ablation_seeds) >= 3
    for bad in ((), (1, 1), (-1,), (True,), (0.5,)):
        with pytest.raises(AnalysisError, match="distinct non-negative"):
            ablations._seeds(quick, bad)


@pytest.mark.parametrize("seed", [-1, True, 1.5])
def test_ensure_model_refuses_a_bad_seed_before_any_work(tmp_path, seed):
    layout = RunLayout(tmp_path)
    with pytest.raises(PipelineError, match="seed must be a non-negative integer"):
        steps.ensure_model("quick", "human_pvalb_689331391", layout, tag="x", seed=seed)
    assert not (layout.model_dir / "x").exists()


def test_a_subset_training_file_is_shared_by_every_tag_of_the_same_hofs(tmp_path):
    layout = RunLayout(tmp_path)
    a = steps.subset_training_path(layout, [5, 1, 3])
    assert a == steps.subset_training_path(layout, (1, 3, 5)) and a.parent == layout.data_dir
    assert a != steps.subset_training_path(layout, [1, 3, 6]) and a.name.startswith("train_hofs-3-")


def test_metrics_draw_on_the_training_set_the_model_recorded(tmp_path):
    layout = RunLayout(tmp_path)
    model_dir = layout.model_dir / "hofs-2"
    model_dir.mkdir(parents=True)
    default = tmp_path / "train.h5"
    assert steps.training_data_path(layout, model_dir, default) == default  # nothing recorded: the main set
    own = layout.data_dir / "train_hofs-2-abc.h5"
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_bytes(b"")
    state = model_dir / steps.SIGNATURE_FILE
    state.write_text(json.dumps({"status": "finished", "train_data": str(own)}))
    assert steps.training_data_path(layout, model_dir, default) == own
    state.write_text(json.dumps({"status": "finished", "train_data": "/moved/away/train_hofs-2-abc.h5"}))
    assert steps.training_data_path(layout, model_dir, default) == own  # found in the run's data folder
    own.unlink()
    with pytest.raises(PipelineError, match="training set .* is gone"):
        steps.training_data_path(layout, model_dir, default)


def test_sd_over_seeds_is_the_sample_sd():
    values = [3.0, 5.0, 10.0]
    assert ablations._sd(values) == pytest.approx(float(np.std(values, ddof=1)))
    assert ablations._sd([3.0, math.nan]) == "n/a (1 of 2 seeds with a number)"


def test_the_status_of_a_row_is_judged_on_its_mean_over_seeds():
    a, b = _with_baselines(_result(10.0, missed=20.0)), _result(14.0, missed=40.0, spikecount=None)
    mean = ablations.mean_result([a, b])
    assert mean["table1_pct"]["voltage"] == pytest.approx(12.0)
    assert mean["table1_pct"]["Spikecount"] == pytest.approx(20.0)  # only the seed that has one
    assert mean["firing"]["missed_firing_pct"] == pytest.approx(30.0)
    assert mean["baselines"] is a["baselines"]
    with pytest.raises(AnalysisError, match="no results"):
        ablations.mean_result([])
