"""The one-command GPU training script, run on the CPU with ``--smoke``."""
from __future__ import annotations

import csv
import importlib.util
import json

import torch

from noble.paths import project_root


def test_gpu_script_smoke_run_writes_a_summary(tmp_path, data_root):
    spec = importlib.util.spec_from_file_location("gpu_train_paper", project_root() / "scripts" / "gpu_train_paper.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    threads = torch.get_num_threads()
    try:
        assert script.main(["--smoke", "--out", str(tmp_path), "--cell-root", str(data_root)]) == 0
    finally:
        torch.set_num_threads(threads)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["config"] == "quick"
    assert "features: published" in summary["data"]
    assert summary["step_ms_benchmark"] > 0 and len(summary["weights_sha256"]) == 64
    assert set(summary["table1_pct"]) == {"train_hofs_unseen_currents", "test_hofs"}
    rows = list(csv.reader((tmp_path / "summary.csv").open()))
    assert rows[0][1:] == list(script.PAPER_TABLE1) and len(rows) == 4
