"""The main model's errors beside the paper's (notebook 05): unseen currents on train HoFs and test HoFs.

Errors are mean relative errors in percent (voltage: relative L2 per trace; features: |F_hat - F| / |F|).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import pandas as pd

from noble.plotting.tables import PAPER_TABLE2, PAPER_VIP, TABLE1_COLUMNS

#: The paper's final PVALB model on the unseen currents of the train HoF models (Sec. 4.2 text), percent.
PAPER_PVALB_MAIN: dict[str, float] = {"Voltage": 2.18, "Steady state voltage": 0.83, "Spikecount": 3.0,
                                      "AP1 width": 32.8, "Mean AP amplitude": 8.54}
#: The paper's PVALB model on the 10 test HoF models (Table 2, 50 train HoFs), percent.
PAPER_PVALB_TEST_HOFS: dict[str, float] = dict(PAPER_TABLE2[50])
#: The cell whose results the paper reports for VIP.
VIP_CELL = "human_vip_685806972"

SET_LABELS = {"train_hofs_unseen_currents": "unseen currents", "test_hofs": "test HoFs"}


def paper_reference(cell: str) -> dict[str, tuple[str, Mapping[str, float]]]:
    """Per evaluation set: (source, paper's numbers by column) for the cell; empty when the paper has none."""
    if cell == VIP_CELL:
        return {"train_hofs_unseen_currents": ("paper, VIP model", PAPER_VIP)}
    if cell.startswith("human_pvalb_689331391"):
        return {"train_hofs_unseen_currents": ("paper, Sec. 4.2", PAPER_PVALB_MAIN),
                "test_hofs": ("paper, Table 2 (50 HoFs)", PAPER_PVALB_TEST_HOFS)}
    return {}


def comparison_table(metrics: Mapping[str, Any], cell: str) -> pd.DataFrame:
    """Rows: metric; columns: this run's error per set and, where the paper reports it, the paper's (percent).

    Column names are short ("Ours, unseen currents", "Paper, test HoFs"); :func:`paper_reference` names
    the source of each paper column and :func:`trace_accounting` the number of traces of each set.
    """
    reference = paper_reference(cell)
    columns: dict[str, dict[str, float]] = {}
    for set_name, label in SET_LABELS.items():
        t1 = metrics.get("sets", {}).get(set_name, {}).get("table1_pct", {})
        columns[f"Ours, {label}"] = {
            col: float(t1[key]) if t1.get(key) is not None else math.nan for col, key in TABLE1_COLUMNS.items()
        }
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
