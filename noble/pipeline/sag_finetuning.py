"""Paper Table 3: voltage and sag errors (%) before and at three checkpoints of the sag fine-tuning, per loss
weight, the constant-rest and nearest-neighbour baselines on the same traces, and the table's status.
"""
from __future__ import annotations

import csv
import json
import math
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from noble.checkpoint import load_model
from noble.errors import AnalysisError
from noble.evaluation import SagFinetuneConfig, negative_step_rows
from noble.evaluation.evaluate import baseline_traces
from noble.evaluation.finetune import sag_metrics_of_traces
from noble.pipeline.profiles import analysis_settings
from noble.pipeline.status import TOLERANCE, Status, record
from noble.pipeline.steps import ensure_dataset, ensure_model, hof_pools, training_data_path
from noble.plotting.tables import PAPER_TABLE3
from noble.sim.traces import read_dataset

if TYPE_CHECKING:  # pragma: no cover
    from noble.pipeline.layout import RunLayout
    from noble.pipeline.profiles import Profile


#: Table 3's count of traces left out of the bounded sag metric.
SMALL_SAG_COLUMN = "Traces with |sag| < 0.1 mV (excluded from Sag L2)"


def small_sag_cell(n_small: Any, n: Any) -> str:
    """"k of n" traces with a true sag under 0.1 mV (a count, never a percentage); "n/a" when not recorded."""
    if n_small is None or n is None:
        return "n/a"
    return f"{int(n_small)} of {int(n)}"


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
        row[SMALL_SAG_COLUMN] = small_sag_cell(before.get("n_small_sag"), before.get("n"))
        out[float(lam)] = row
    return out, epochs


#: Table 3's baseline rows and the baselines behind them (:func:`noble.evaluation.evaluate.baseline_traces`).
TABLE3_BASELINES: dict[str, str] = {"Constant rest (same traces)": "constant_rest",
                                    "Nearest neighbour (same traces)": "nearest_neighbour"}


def table3_baselines(profile: "Profile", cell: str, layout: "RunLayout", columns: Sequence[str],
                     temperature: float = SagFinetuneConfig().temperature) -> dict[str, dict[str, float | str]]:
    """Rows of Table 3 for the two baselines, scored by the same sag metric on the very traces the fine-tuning
    is evaluated on (negative steps of the unseen currents of the train HoFs); the nearest neighbour draws on
    the main model's training set. ``columns``: the table's columns (checkpoint columns say "no training")."""
    model_dir = ensure_model(profile, cell, layout)
    model = load_model(model_dir)
    unseen = read_dataset(ensure_dataset(profile, cell, layout, "unseen_currents"))
    reference = read_dataset(training_data_path(layout, model_dir, ensure_dataset(profile, cell, layout, "train")))
    pool_train, _ = hof_pools(profile, cell)
    rows = negative_step_rows(unseen, pool_train)
    if rows.size == 0:
        raise AnalysisError(f"{unseen.path}: no negative steps of the train HoF models to score the sag on")
    traces = baseline_traces(model, unseen, rows, reference, None)
    window = np.asarray(model.template.window())
    out: dict[str, dict[str, float | str]] = {}
    for label, key in TABLE3_BASELINES.items():
        if key not in traces:
            continue
        m = sag_metrics_of_traces(traces[key], unseen.voltage[rows], window, temperature)
        row: dict[str, float | str] = {c: "n/a (no training)" for c in columns}
        row.update({"Before: Voltage": m["voltage_rel_l2_pct"], "Before: Sag": m["sag_rel_error_pct"],
                    "Before: Sag L2 (|sag| >= 0.1 mV)": m["sag_rel_l2_bounded_pct"],
                    SMALL_SAG_COLUMN: small_sag_cell(m["n_small_sag"], m["n"])})
        out[label] = row
    return out
