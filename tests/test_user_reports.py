"""Small things users hit: a clear error for unknown HoF models, a training summary that reports the saved weights."""
from __future__ import annotations

from pathlib import Path

from noble.commands.train import training_summary
from noble.training.loop import TrainResult


def test_features_fi_with_unknown_hofs_is_an_error(data_root, tmp_path, capsys):
    from noble.cli import main

    out = tmp_path / "fi.csv"
    code = main(["features", "--fi", "--cell", "human_pvalb_689331391", "--hofs", "999", "--root", str(data_root),
                 "--out", str(out)])
    assert code != 0 and not out.exists()
    assert "no HoF model [999]" in capsys.readouterr().err


def test_training_summary_reports_the_saved_epoch_not_the_last():
    history = [
        {"epoch": 1, "holdout_rel_l4": 0.10, "holdout_rel_l2": 0.05, "holdout_missed_firing_pct": 100.0,
         "holdout_spike_count_err_pct": 100.0},
        {"epoch": 2, "holdout_rel_l4": 0.20, "holdout_rel_l2": 0.09, "holdout_missed_firing_pct": 5.0,
         "holdout_spike_count_err_pct": 30.0},
        {"epoch": 3, "holdout_rel_l4": 0.30, "holdout_rel_l2": 0.12, "holdout_missed_firing_pct": 50.0,
         "holdout_spike_count_err_pct": 60.0},
    ]
    result = TrainResult(Path("m"), 3, 2, 1.55, "epochs", history, 12.0)
    text = training_summary(result, "firing")
    assert "epoch 2" in text and "missed firing % 5" in text and "rel. L2 0.09" in text
    assert "0.3" not in text.split("\n")[1]  # nothing of the last epoch
    assert "no weights" in training_summary(TrainResult(Path("m"), 0, None, None, "epochs", [], 0.0), "firing")
