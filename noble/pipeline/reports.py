"""The main model's errors beside the paper's (notebook 05): unseen currents on train HoFs and test HoFs.

Errors are mean relative errors in percent (voltage: relative L2 per trace; features: |F_hat - F| / |F|).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import pandas as pd

from noble.pipeline.status import record_model_results
from noble.plotting.tables import PAPER_TABLE2, PAPER_VIP, TABLE1_COLUMNS

#: The paper's final PVALB model on the unseen currents of the train HoF models (Sec. 4.2 text), percent.
PAPER_PVALB_MAIN: dict[str, float] = {"Voltage": 2.18, "Steady state voltage": 0.83, "Spikecount": 3.0,
                                      "AP1 width": 32.8, "Mean AP amplitude": 8.54}
#: The paper's PVALB model on the 10 test HoF models (Table 2, 50 train HoFs), percent.
PAPER_PVALB_TEST_HOFS: dict[str, float] = dict(PAPER_TABLE2[50])
#: The paper's numbers by cell and evaluation set: (source, numbers by column). A cell without an entry (for
#: example one registered with ``noble cells add``) has no paper column.
PAPER_REFERENCES: dict[str, dict[str, tuple[str, Mapping[str, float]]]] = {
    "human_pvalb_689331391": {"train_hofs_unseen_currents": ("paper, Sec. 4.2", PAPER_PVALB_MAIN),
                              "test_hofs": ("paper, Table 2 (50 HoFs)", PAPER_PVALB_TEST_HOFS)},
    "human_vip_685806972": {"train_hofs_unseen_currents": ("paper, VIP model", PAPER_VIP)},
}

SET_LABELS = {"train_hofs_unseen_currents": "unseen currents", "test_hofs": "test HoFs"}


def paper_reference(cell: str) -> dict[str, tuple[str, Mapping[str, float]]]:
    """Per evaluation set: (source, paper's numbers by column) for the cell; empty when the paper has none."""
    return dict(PAPER_REFERENCES.get(cell, {}))


FIRING_ROWS: dict[str, str] = {
    "Missed firing (% of spiking PDE traces)": "missed_firing_pct",
    "False firing (% of silent PDE traces)": "false_firing_pct",
    "Spike-count error (% per spiking trace)": "spike_count_rel_err_pct",
}
SPIKE_COLUMNS = ("Spikecount", "AP1 width", "Mean AP amplitude")
BASELINE_LABELS = {"constant_rest": "constant rest", "nearest_neighbour": "nearest neighbour"}


def _cell(value: Any) -> float:
    return float(value) if value is not None and not (isinstance(value, float) and math.isnan(value)) else math.nan


def _spike_cell(result: Mapping[str, Any], col: str) -> float | str:
    """A spike-feature cell: the error, or why there is none (every spiking PDE trace missed, none spiking)."""
    value = _cell(result.get("table1_pct", {}).get(TABLE1_COLUMNS[col]))
    if not math.isnan(value):
        return value
    f = result.get("features", {})
    if not f:
        return "not computed"
    spiking = f.get("n_both_spiking", 0) + f.get("missed_firing", 0)
    if spiking == 0:
        return "no spiking PDE trace"
    return f"none: {f.get('missed_firing', 0)} of {spiking} spiking traces missed"


def result_column(result: Mapping[str, Any]) -> dict[str, float | str]:
    """One evaluation set's cells: the Table 1 errors (spike features say why when blank), the voltage's
    bootstrap 95% CI, missed/false firing, the spike-count error (percent) and the traces behind them."""
    col: dict[str, float | str] = {}
    for name, key in TABLE1_COLUMNS.items():
        col[name] = _spike_cell(result, name) if name in SPIKE_COLUMNS else _cell(result.get("table1_pct", {}).get(key))
    ci = result.get("voltage_rel_l2", {}).get("ci95_pct")
    col["Voltage, 95% CI"] = f"{ci[0]:.2f}-{ci[1]:.2f}" if ci and all(c is not None for c in ci) else "n/a"
    firing = result.get("firing", {})
    for name, key in FIRING_ROWS.items():
        col[name] = _cell(firing.get(key))
    col["Traces (spiking / silent PDE)"] = (f"{firing.get('n_spiking', '?')} / {firing.get('n_silent', '?')}"
                                            if firing else str(result.get("n_traces", 0)))
    return col


def comparison_table(metrics: Mapping[str, Any], cell: str) -> pd.DataFrame:
    """Rows: metric; columns per set: this run's model, the two baselines on the same traces, the paper's (percent).

    Column names are short ("Ours, unseen currents", "Constant rest, unseen currents", "Paper, test HoFs");
    :func:`paper_reference` names the source of each paper column. A spike-feature cell without a number says
    why (for example "none: 40 of 40 spiking traces missed"). Baselines: :mod:`noble.evaluation.baselines`.
    """
    reference = paper_reference(cell)
    columns: dict[str, dict[str, float | str]] = {}
    for set_name, label in SET_LABELS.items():
        result = metrics.get("sets", {}).get(set_name, {})
        columns[f"Ours, {label}"] = result_column(result)
        for key, base_label in BASELINE_LABELS.items():
            base = result.get("baselines", {}).get(key)
            if base is not None:
                columns[f"{base_label.capitalize()}, {label}"] = result_column(base)
        if set_name in reference:
            _, numbers = reference[set_name]
            columns[f"Paper, {label}"] = {col: float(numbers.get(col, math.nan)) for col in TABLE1_COLUMNS}
    df = pd.DataFrame(columns)
    df.index.name = "relative error (%)"
    return df


def trace_accounting(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Per set: traces, both spiking, both silent, missed firing, missed non-firing (the paper's accounting)."""
    rows = {}
    for set_name, label in SET_LABELS.items():
        f = metrics.get("sets", {}).get(set_name, {}).get("features", {})
        rows[label] = {k: f.get(k) for k in ("n_traces", "n_both_spiking", "n_both_silent", "missed_firing",
                                              "missed_non_firing")}
    return pd.DataFrame(rows).T


def record_main_status(results_dir, profile: str, cell: str, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Record the status of the items that show the main model (from its metrics); returns them by item."""
    ref = {name: dict(numbers) for name, (_, numbers) in paper_reference(cell).items()}
    sets = metrics.get("sets", {})
    unseen = {"unseen currents": sets.get("train_hofs_unseen_currents", {})}
    test = {"test HoFs": sets.get("test_hofs", {})}
    papers = {"unseen currents": ref.get("train_hofs_unseen_currents", {}), "test HoFs": ref.get("test_hofs", {})}
    out = {
        "unseen": record_model_results(results_dir, profile, ("Fig 3", "Fig 5A", "Fig 5B"), unseen, papers),
        "test": record_model_results(results_dir, profile, ("Fig 4", "Fig 12", "Fig 13"), test, papers),
        "main": record_model_results(results_dir, profile, ("Main errors",), {**unseen, **test}, papers),
    }
    return {k: v.as_dict() for k, v in out.items()}


#: The CPU recipe's targets (laptop profile): (set, what, metric path, bound, "<=" or ">=").
RECIPE_TARGETS: tuple[tuple[str, str, tuple[str, ...], float, str], ...] = (
    ("train_hofs_unseen_currents", "missed firing (% of spiking traces)", ("firing", "missed_firing_pct"), 10.0, "<="),
    ("train_hofs_unseen_currents", "spike-count relative error (%)", ("firing", "spike_count_rel_err_pct"), 15.0, "<="),
    ("train_hofs_unseen_currents", "voltage relative L2 (%)", ("voltage_rel_l2", "mean_pct"), 5.0, "<="),
    ("train_hofs_unseen_currents", "steady-state voltage error (%)", ("table1_pct", "steady_state_voltage"), 1.0, "<="),
    ("test_hofs", "missed firing on test HoFs (%)", ("firing", "missed_firing_pct"), 20.0, "<="),
)


def _dig(data: Mapping[str, Any], path: Sequence[str]) -> float:
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return math.nan
        data = data[key]
    return _cell(data)


def recipe_targets(sets: Mapping[str, Mapping[str, Any]], variability: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The laptop recipe's targets beside the measured numbers (``sets`` as in ``metrics["sets"]``).

    Rows also give the constant-rest baseline's value where the metric applies to it. ``variability``
    (:class:`noble.evaluation.variability.Variability` as a dict) adds the rank and spread targets.
    """
    rows = []
    for set_name, what, path, bound, op in RECIPE_TARGETS:
        result = sets.get(set_name, {})
        value = _dig(result, path)
        rest = _dig(result.get("baselines", {}).get("constant_rest", {}), path)
        met = (value <= bound) if op == "<=" else (value >= bound)
        rows.append({"target": f"{what} {op} {bound:g}", "measured": value, "constant rest": rest,
                     "met": bool(met) if math.isfinite(value) else False})
    if variability:
        for what, key, bound in (("Spearman of spike counts across train HoFs at 0.1 nA", "spearman", 0.6),
                                 ("spread ratio NOBLE / PDE at 0.1 nA", "spread_ratio", 0.5)):
            value = _cell(variability.get(key))
            rows.append({"target": f"{what} >= {bound:g}", "measured": value, "constant rest": math.nan,
                         "met": bool(math.isfinite(value) and value >= bound)})
    return pd.DataFrame(rows).set_index("target")
