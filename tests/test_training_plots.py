"""The training-curve figure of notebook 04, for a model trained in one run and for a staged model."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from noble.plotting.pipeline_plots import fig_training_curves, read_stages_log, read_training_log, staged_epoch


def _log(epochs: int, offset: int = 0) -> pd.DataFrame:
    e = np.arange(1, epochs + 1)
    return pd.DataFrame({"epoch": e, "train_loss": 0.2 / (e + offset), "learning_rate": 0.002,
                         "holdout_rel_l4": 0.18, "holdout_rel_l2": 0.08, "test_hofs_rel_l4": np.nan,
                         "test_hofs_rel_l2": np.nan, "holdout_missed_firing_pct": 100.0 / (e + offset),
                         "holdout_false_firing_pct": 0.0, "holdout_spike_count_err_pct": 50.0,
                         "holdout_selection_score": 1.0 / (e + offset)})


def _staged() -> pd.DataFrame:
    parts = []
    for stage, (factor, n) in enumerate(((1, 4), (2, 3), (1, 2)), start=1):
        part = _log(n)
        part.insert(0, "factor", factor)
        part.insert(0, "stage", stage)
        parts.append(part)
    log = pd.concat(parts, ignore_index=True)
    log.insert(2, "total_epoch", np.arange(1, len(log) + 1))
    return log


def test_logs_are_read_and_a_model_without_stages_has_none(tmp_path):
    _log(3).to_csv(tmp_path / "metrics.csv", index=False)
    assert len(read_training_log(tmp_path)) == 3
    assert read_stages_log(tmp_path) is None
    _staged().to_csv(tmp_path / "stages.csv", index=False)
    assert read_stages_log(tmp_path)["total_epoch"].tolist() == list(range(1, 10))
    pd.DataFrame(columns=["stage", "epoch"]).to_csv(tmp_path / "stages.csv", index=False)
    with pytest.raises(ValueError, match="no epoch"):
        read_stages_log(tmp_path)
    with pytest.raises(FileNotFoundError, match="no training log"):
        read_training_log(tmp_path / "missing")


def test_the_saved_epoch_of_the_last_stage_is_found_on_the_running_axis():
    log = _staged()
    assert staged_epoch(log, 1) == 8 and staged_epoch(log, 2) == 9
    with pytest.raises(ValueError, match="no epoch 3"):
        staged_epoch(log, 3)


def test_a_staged_log_is_drawn_over_all_stages_with_their_starts_marked():
    log = _staged()
    fig = fig_training_curves(log, selected_epoch=staged_epoch(log, 2))
    loss_axis = fig.axes[0]
    assert loss_axis.lines[0].get_xdata().tolist() == list(range(1, 10))
    dotted = [line.get_xdata()[0] for line in loss_axis.lines if line.get_linestyle() == ":" and
              len(set(line.get_xdata())) == 1]
    assert sorted(dotted) == [4.5, 7.5]  # stage 2 starts at running epoch 5, stage 3 at 8
    dashed = [line.get_xdata()[0] for line in loss_axis.lines if line.get_linestyle() == "--" and
              len(set(line.get_xdata())) == 1]
    assert dashed == [9]
    labels = [t.get_text() for t in fig.axes[2].texts]
    assert any("2x coarser" in t for t in labels) and any("stage 3: full grid" in t for t in labels)
    plain = fig_training_curves(_log(4), selected_epoch=2)
    assert plain.axes[0].lines[0].get_xdata().tolist() == [1, 2, 3, 4]
    assert not plain.axes[2].texts
