"""The paper's tables as DataFrames beside the paper's numbers, written as CSV, Markdown and a rendered PNG/PDF.

Errors are relative errors in percent; speed-table times are seconds (for 10,000 traces where so named).
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from noble.plotting.style import save_figure

#: Column order of Tables 1-2 and the metric key of each column in ``table1_pct`` dicts.
TABLE1_COLUMNS: dict[str, str] = {
    "Voltage": "voltage",
    "Steady state voltage": "steady_state_voltage",
    "Spikecount": "Spikecount",
    "AP1 width": "AP1_width",
    "Mean AP amplitude": "mean_AP_amplitude",
}

#: Paper Table 1 (test set of the train HoF models), percent; None where the model never fires.
PAPER_TABLE1: dict[str, dict[str, float | None]] = {
    "None": {"Voltage": 12.1, "Steady state voltage": 1.31, "Spikecount": None, "AP1 width": None, "Mean AP amplitude": None},
    "s_thr": {"Voltage": 2.83, "Steady state voltage": 1.33, "Spikecount": 4.9, "AP1 width": 233, "Mean AP amplitude": 13},
    "I_thr": {"Voltage": 2.73, "Steady state voltage": 1.20, "Spikecount": 4.4, "AP1 width": 107, "Mean AP amplitude": 14},
    "s_thr, I_thr": {"Voltage": 1.92, "Steady state voltage": 1.02, "Spikecount": 3.1, "AP1 width": 27, "Mean AP amplitude": 8.9},
    "s_thr, I_thr, AHP_depth": {"Voltage": 2.16, "Steady state voltage": 1.04, "Spikecount": 3.3, "AP1 width": 22,
                                "Mean AP amplitude": 9.5},
}

#: Paper Table 2 (test HoF models), percent, by the number of train HoF models.
PAPER_TABLE2: dict[int, dict[str, float]] = {
    50: {"Voltage": 11.7, "Steady state voltage": 2.0, "Spikecount": 9.2, "AP1 width": 350, "Mean AP amplitude": 14},
    40: {"Voltage": 10.9, "Steady state voltage": 1.8, "Spikecount": 19, "AP1 width": 920, "Mean AP amplitude": 17},
    30: {"Voltage": 10.9, "Steady state voltage": 1.9, "Spikecount": 20, "AP1 width": 3004, "Mean AP amplitude": 20},
    20: {"Voltage": 10.6, "Steady state voltage": 1.9, "Spikecount": 45, "AP1 width": 1698, "Mean AP amplitude": 20},
}

#: Paper Table 3 (sag fine-tuning; test set of the train HoF models), percent, by lambda and stage; the three
#: checkpoints are the paper's epochs 100, 200 and 300.
PAPER_TABLE3: dict[float, dict[str, float]] = {
    0.0: {"Before: Voltage": 0.14, "Before: Sag": 69.6, "Checkpoint 1: Voltage": 0.064, "Checkpoint 1: Sag": 22.2,
          "Checkpoint 2: Voltage": 0.041, "Checkpoint 2: Sag": 20.3, "Checkpoint 3: Voltage": 0.043,
          "Checkpoint 3: Sag": 19.2},
    25.0: {"Before: Voltage": 0.14, "Before: Sag": 69.6, "Checkpoint 1: Voltage": 0.055, "Checkpoint 1: Sag": 13.2,
           "Checkpoint 2: Voltage": 0.047, "Checkpoint 2: Sag": 12.2, "Checkpoint 3: Voltage": 0.035,
           "Checkpoint 3: Sag": 9.6},
}
#: The paper's fine-tuning epochs of the three checkpoints.
PAPER_TABLE3_EPOCHS: tuple[int, int, int] = (100, 200, 300)

#: The paper's VIP results (train HoF models), percent.
PAPER_VIP: dict[str, float] = {"Voltage": 2.5, "Steady state voltage": 0.99, "Spikecount": 9.0, "AP1 width": 20,
                               "Mean AP amplitude": 10}

#: The paper's Table 1 rows by the embedded feature names of noble.
FEATURE_SET_LABELS: dict[tuple[str, ...], str] = {
    (): "None",
    ("slope",): "s_thr",
    ("intercept",): "I_thr",
    ("slope", "intercept"): "s_thr, I_thr",
    ("slope", "intercept", "depol.AHP_depth"): "s_thr, I_thr, AHP_depth",
}


def paper_hof_count(n: int, n_pool: int, paper_pool: int = 50) -> int:
    """The paper's Table 2 row (50, 40, 30 or 20 HoF models) for ``n`` of ``n_pool`` train HoF models here."""
    if not 0 < n <= n_pool:
        raise ValueError(f"number of HoF models {n} must be in 1..{n_pool}")
    return min(PAPER_TABLE2, key=lambda k: (abs(k - paper_pool * n / n_pool), k))  # ties: the smaller row


def metrics_row(table1_pct: Mapping[str, float]) -> dict[str, float]:
    """Table columns from an evaluation's ``table1_pct`` dict (missing metrics are NaN)."""
    return {col: float(table1_pct.get(key, math.nan)) for col, key in TABLE1_COLUMNS.items()}


def with_paper(ours: pd.DataFrame, paper: Mapping[Any, Mapping[str, float | None]]) -> pd.DataFrame:
    """Interleave ``<column> (paper)`` after every column of ``ours`` (rows matched by index; NaN if absent)."""
    out = {}
    for col in ours.columns:
        out[col] = ours[col]
        out[f"{col} (paper)"] = [
            (math.nan if paper.get(idx, {}).get(col) is None else float(paper[idx][col])) if idx in paper else math.nan
            for idx in ours.index
        ]
    return pd.DataFrame(out, index=ours.index)


def table_frame(rows: Mapping[Any, Mapping[str, float]], index_name: str,
                paper: Mapping[Any, Mapping[str, float | None]] | None = None) -> pd.DataFrame:
    """A table from ``{row label: {column: value}}``, optionally with the paper's values beside each column."""
    if not rows:
        raise ValueError("no rows for the table")
    df = pd.DataFrame.from_dict({k: dict(v) for k, v in rows.items()}, orient="index")
    df.index.name = index_name
    return with_paper(df, paper) if paper is not None else df


def format_pct(value: Any) -> str:
    """A percentage with 3 significant digits; "n/a" for NaN/None (no number exists for that cell)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, (int, float, np.floating)):
        v = float(value)
        return f"{v:.3g}%" if abs(v) < 1000 else f"{v:.0f}%"
    return str(value)


def to_markdown(df: pd.DataFrame, fmt=format_pct) -> str:
    """A GitHub Markdown table (index first)."""
    header = [str(df.index.name or "")] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [fmt(v) for v in row.tolist()]) + " |")
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int) -> str:
    """``text`` broken into lines of at most ``width`` characters at spaces (existing line breaks kept)."""
    return "\n".join(textwrap.fill(part, width, break_long_words=False) or part for part in text.split("\n"))


def render_table(df: pd.DataFrame, title: str = "", fmt=format_pct, col_width: float = 1.15,
                 wrap: int = 16) -> Figure:
    """The table drawn with matplotlib (for PNG/PDF output); headers and cells wrap at ``wrap`` characters."""
    cells = [[_wrap(str(idx), wrap)] + [_wrap(fmt(v), wrap) for v in row.tolist()] for idx, row in df.iterrows()]
    cols = [_wrap(str(df.index.name or ""), wrap)] + [
        _wrap(str(c).replace(": ", ":\n").replace(" (paper)", "\n(paper)"), wrap) for c in df.columns]
    header_lines = max(c.count("\n") + 1 for c in cols)
    row_lines = [max(c.count("\n") + 1 for c in row) for row in cells]
    height = 0.9 + 0.2 * (header_lines + 1) + sum(0.2 * (n + 0.6) for n in row_lines)
    fig = Figure(figsize=(max(4.0, col_width * len(cols)), height), layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=cols, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1.0, 1.5)
    for (r, c), cell in table.get_celld().items():
        lines = header_lines if r == 0 else row_lines[r - 1]
        cell.set_height(cell.get_height() * (0.6 + 0.55 * lines))
        if r == 0:
            cell.set_text_props(weight="bold")
        if c > 0 and r > 0 and "(paper)" in cols[c]:
            cell.set_facecolor("#f0f0f0")
    if title:
        ax.set_title(title)
    return fig


def write_table(df: pd.DataFrame, name: str, out_dir: str | Path, title: str = "", fmt=format_pct) -> list[Path]:
    """``<name>.csv``, ``<name>.md`` and the rendered ``<name>.png``/``.pdf`` in ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv = out / f"{name}.csv"
    df.to_csv(csv)
    md = out / f"{name}.md"
    md.write_text((f"**{title}**\n\n" if title else "") + to_markdown(df, fmt))
    fig = render_table(df, title, fmt)
    return [csv, md, *save_figure(fig, name, out)]


#: Columns of the rendered speed table (the CSV keeps them all).
SPEED_COLUMNS: tuple[str, ...] = ("part", "method", "device", "precision", "workers", "batch_size", "s_per_10k",
                                  "speedup_vs_neuron", "speedup_vs_arbor", "speedup_vs_neuron_equal_cores",
                                  "rel_l2_vs_pde", "paper_s_per_10k")


def speed_frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = SPEED_COLUMNS) -> pd.DataFrame:
    """The speed table (rows of :func:`noble.bench.table.read_csv`) with the chosen columns."""
    if not rows:
        raise ValueError("the speed table has no rows")
    df = pd.DataFrame([{c: r.get(c, "") for c in columns} for r in rows])
    df.index = [f"{r['part']}: {r['method']}" for r in rows]
    df.index.name = "row"
    return df.drop(columns=[c for c in ("part", "method") if c in df.columns])


def format_number(value: Any) -> str:
    """A number: thousands separated and no decimals from 1,000 on, else 4 significant digits (blank if empty/NaN)."""
    if value is None or value == "" or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3g}" if (v != 0 and abs(v) < 1e-3) else f"{v:.4g}"
    return str(value)
