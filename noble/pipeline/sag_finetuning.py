"""Paper Table 3: voltage and sag errors (%) before and at three checkpoints of the sag fine-tuning, per loss
weight, and the table's status.
"""
from __future__ import annotations

import csv
import json
import math
from typing import TYPE_CHECKING, Mapping, Sequence

from noble.errors import AnalysisError
from noble.pipeline.profiles import analysis_settings
from noble.pipeline.status import TOLERANCE, Status, record
from noble.pipeline.steps import ensure_model
from noble.plotting.tables import PAPER_TABLE3

if TYPE_CHECKING:  # pragma: no cover
    from noble.pipeline.layout import RunLayout
    from noble.pipeline.profiles import Profile


def record_table3_status(profile: "Profile", layout: "RunLayout", rows: Mapping[float, Mapping[str, float]]) -> dict[str, str]:
    """Record Table 3's status: the last checkpoint's sag error at lambda = 25 against the paper's (9.6%)."""
    lam = 25.0 if 25.0 in rows else max(rows)
    row = rows[lam]
    before, after = float(row.get("Before: Sag", math.nan)), float(row.get("Checkpoint 3: Sag", math.nan))
    paper = PAPER_TABLE3[25.0]["Checkpoint 3: Sag"]
    detail = (f"lambda {lam:g}: sag error before {before:.3g}%, after {after:.3g}% (paper {PAPER_TABLE3[25.0]['Before: Sag']}%"
              f" -> {paper}%)")
    if math.isfinite(after) and after <= TOLERANCE * paper:
        label = "reproduced"
    elif math.isfinite(after) and math.isfinite(before) and after < before:
        label = f"regenerated at {profile.name} scale"
    else:
        label = "not reproduced"
    status = Status(label, detail)
    record(layout.results_dir, "Table 3", status, profile.name)
    return status.as_dict()


def checkpoint_epochs(total: int, n: int = 3) -> list[int]:
    """``n`` evenly spaced epochs ending at ``total`` (the paper's 100/200/300 of 300; repeats when ``total < n``)."""
    if total < 1:
        raise AnalysisError(f"fine-tuning needs at least one epoch, not {total}")
    return [max(1, int(round(total * (k + 1) / n))) for k in range(n)]


def table3_results(profile: "Profile", cell: str, layout: "RunLayout", weights: Sequence[float] = (0.0, 25.0)
                   ) -> tuple[dict[float, dict[str, float]], list[int]]:
    """Table 3: voltage and sag errors (%) before and at three checkpoints of the sag fine-tuning, per loss weight
    lambda (rows), and the checkpoint epochs."""

    out: dict[float, dict[str, float]] = {}
    epochs: list[int] = []
    for lam in weights:
        finetune: dict[str, float] = {"weight": float(lam)}
        if analysis_settings(profile).finetune_max_minutes is not None:
            finetune["max_minutes"] = float(analysis_settings(profile).finetune_max_minutes)
        model_dir = ensure_model(profile, cell, layout, tag=f"sag-l{lam:g}", finetune=finetune)
        state = json.loads((model_dir / "pipeline_step.json").read_text())
        with (model_dir / "finetune_history.csv").open() as fh:
            history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]
        if not history:
            raise AnalysisError(f"{model_dir}: the fine-tuning history is empty")
        before = state.get("before", {})
        row = {"Before: Voltage": float(before.get("voltage_rel_l2_pct", math.nan)),
               "Before: Sag": float(before.get("sag_rel_error_pct", math.nan)),
               "Before: Sag L2 (|sag| >= 0.1 mV)": float(before.get("sag_rel_l2_bounded_pct", math.nan))}
        epochs = checkpoint_epochs(len(history))
        for k, ep in enumerate(epochs, start=1):
            h = history[ep - 1]
            row[f"Checkpoint {k}: Voltage"] = h.get("voltage_rel_l2_pct", math.nan)
            row[f"Checkpoint {k}: Sag"] = h.get("sag_rel_error_pct", math.nan)
            row[f"Checkpoint {k}: Sag L2 (|sag| >= 0.1 mV)"] = h.get("sag_rel_l2_bounded_pct", math.nan)
        row["Traces with |sag| < 0.1 mV (excluded from Sag L2)"] = float(before.get("n_small_sag", math.nan))
        out[float(lam)] = row
    return out, epochs
