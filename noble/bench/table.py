"""The speed table (appendix E of the paper): rows, speed-up ratios, printing and CSV.

One row per measurement; times in seconds.  ``s_per_10k`` is the time for 10,000 traces at the measured rate,
the unit the paper quotes.  ``cpu_s_per_trace`` is the process CPU time per trace (all threads): on a
shared machine it measures the work done, where wall-clock time also counts waiting for the cores.
Speed-ups are against the NEURON solver on one core (``speedup_vs_neuron``, the paper's baseline) and
against Arbor on all cores used (``speedup_vs_arbor``).
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["COLUMNS", "PAPER_S_PER_10K", "format_value", "make_row", "add_speedups", "format_table", "write_csv",
           "read_csv"]

COLUMNS = (
    "part", "method", "device", "precision", "workers", "batch_size", "n_traces", "warmup_s", "total_s",
    "s_per_trace", "s_per_10k", "traces_per_s", "cpu_s_per_trace", "speedup_vs_neuron", "speedup_vs_arbor",
    "speedup_vs_neuron_equal_cores", "speedup_vs_arbor_equal_cores", "rel_l2_vs_pde", "equivalence_rel_err",
    "paper_s_per_10k", "note",
)

#: Appendix E (one RTX 4090; Ryzen 9 7900X): seconds for 10,000 predictions.
PAPER_S_PER_10K = {"pde": 36_200.0, "noble_batch_1": 157.0, "noble_batch_1000": 8.59}


def make_row(part: str, method: str, **values: object) -> dict[str, object]:
    """A row with every column (missing ones empty); derives the per-trace and per-10k columns."""
    row: dict[str, object] = {c: "" for c in COLUMNS}
    row.update(part=part, method=method)
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown speed-table column(s): {sorted(unknown)}")
    row.update(values)
    total, n = row.get("total_s"), row.get("n_traces")
    if row["s_per_trace"] == "" and isinstance(total, (int, float)) and isinstance(n, int) and n > 0:
        row["s_per_trace"] = total / n
    spt = row["s_per_trace"]
    if isinstance(spt, (int, float)) and spt > 0:
        row["s_per_10k"] = spt * 10_000
        row["traces_per_s"] = 1.0 / spt
    if row["paper_s_per_10k"] == "":
        row["paper_s_per_10k"] = _paper_value(row)
    return row


def _paper_value(row: Mapping[str, object]) -> object:
    if row["part"] == "pde" and row["method"] == "neuron" and row.get("workers") == 1:
        return PAPER_S_PER_10K["pde"]
    if row["part"] == "noble" and str(row.get("device", "")).startswith("cuda"):
        return PAPER_S_PER_10K.get(f"noble_batch_{row.get('batch_size')}", "")
    return ""


def add_speedups(rows: Sequence[dict[str, object]]) -> list[dict[str, object]]:
    """Fill the speed-up columns from the PDE rows present.

    ``speedup_vs_neuron`` / ``speedup_vs_arbor``: against that simulator on one core (the paper's convention);
    ``speedup_vs_*_equal_cores``: against the simulator's row with as many workers as this row uses (NOBLE's
    threads), so both sides have the same cores; blank when no such row was measured.
    """
    def spt(r: Mapping[str, object]) -> float | None:
        v = r.get("s_per_trace")
        return float(v) if isinstance(v, (int, float)) and v > 0 else None

    pde: dict[tuple[str, int], float] = {}
    for r in rows:
        if r["part"] == "pde" and spt(r) and (str(r["method"]), int(r.get("workers") or 1)) not in pde:
            pde[(str(r["method"]), int(r.get("workers") or 1))] = spt(r)  # type: ignore[assignment]
    out = []
    for r in rows:
        r = dict(r)
        s = spt(r)
        if s:
            cores = int(r.get("workers") or 1)
            for engine in ("neuron", "arbor"):
                if (engine, 1) in pde:
                    r[f"speedup_vs_{engine}"] = pde[(engine, 1)] / s
                if (engine, cores) in pde:
                    r[f"speedup_vs_{engine}_equal_cores"] = pde[(engine, cores)] / s
        out.append(r)
    return out


def format_value(value: object) -> str:
    """A compact text form of a table cell (4 significant digits)."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value == 0:
            return "0"
        if abs(value) >= 1e5 or abs(value) < 1e-3:
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


#: Columns shown on the terminal (the CSV has them all).
SHOWN = ("part", "method", "device", "precision", "workers", "batch_size", "n_traces", "warmup_s", "s_per_10k",
         "traces_per_s", "cpu_s_per_trace", "speedup_vs_neuron", "speedup_vs_arbor", "speedup_vs_neuron_equal_cores",
         "rel_l2_vs_pde", "equivalence_rel_err", "paper_s_per_10k")


def format_table(rows: Iterable[Mapping[str, object]], columns: Sequence[str] = SHOWN) -> str:
    """A fixed-width text table."""
    body = [[format_value(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(line[i]) for line in body]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths)) for line in body]
    return "\n".join(lines)


def write_csv(rows: Iterable[Mapping[str, object]], path: str | Path) -> Path:
    """Write rows with the fixed :data:`COLUMNS` header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="raise")
        writer.writeheader()
        for r in rows:
            writer.writerow({c: r.get(c, "") for c in COLUMNS})
    return path


def read_csv(path: str | Path) -> list[dict[str, object]]:
    """Read a speed table written by :func:`write_csv`, numbers parsed back to int/float."""
    def parse(v: str) -> object:
        for kind in (int, float):
            try:
                return kind(v)
            except ValueError:
                pass
        return v

    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: not a noble speed table (columns {reader.fieldnames})")
        return [{k: parse(v) for k, v in row.items()} for row in reader]


def best_rows(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per device: the NOBLE variant and batch size with the shortest time per trace, i.e. the choice
    of batch and spectral transform this machine should use."""
    best: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        spt = r.get("s_per_trace")
        if r.get("part") != "noble" or not isinstance(spt, (int, float)):
            continue
        if r["device"] not in best or spt < best[r["device"]]["s_per_trace"]:
            best[r["device"]] = r
    return [f"fastest on {dev}: {r['method']} {r['precision']} at batch {r['batch_size']}, "
            f"{1000.0 * float(r['s_per_trace']):.3g} ms per trace" for dev, r in best.items()]
