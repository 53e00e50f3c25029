"""I_thr and s_thr of every HoF model of a cell, compared with the published ``intercept`` and ``slope``.

Run once (minutes of CPU per cell)::

    python -m noble.features.fi_table --cell human_pvalb_689331391 --out docs/fi_human_pvalb_689331391.csv

The CSV has one row per HoF (resumable: rows already present are kept). :func:`summarize` gives the Spearman
rank correlations and scale ratios reported in docs/simulation.md. Units: nA, Hz, Hz/nA.
"""
from __future__ import annotations

import argparse
import csv
import math
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import spearmanr

from noble.data import load_cell
from noble.features.fi import threshold_and_slope
from noble.progress import tqdm
from noble.sim import get_engine
from noble.sim.protocol import PAPER_STEP_END_MS, StepProtocol

if TYPE_CHECKING:  # pragma: no cover
    from noble.data import Cell

#: Protocol for F-I analysis: the paper's step (15-415 ms) from rest; the trace can end with the step.
FI_T_STOP = PAPER_STEP_END_MS

COLUMNS = (
    "index", "seed", "hof", "split", "I_thr_nA", "s_thr_Hz_per_nA", "intercept_fit_nA",
    "bracket_low_nA", "bracket_high_nA", "published_intercept_nA", "published_slope", "n_simulated",
)


def fi_protocol():
    """The paper's step protocol, stopped at the end of the step (415 ms)."""
    return StepProtocol(t_stop=FI_T_STOP, n_samples=int(FI_T_STOP / 0.06))


def read_table(path: str | Path) -> list[dict[str, float | str]]:
    """Rows of a table written by :func:`build_table` (numbers as floats)."""
    rows = []
    with Path(path).open(newline="") as fh:
        for rec in csv.DictReader(fh):
            rows.append({k: (v if k == "split" else (float(v) if v != "" else math.nan)) for k, v in rec.items()})
    return rows


def _row(cell: "Cell", engine: str, index: int) -> list:
    """The CSV row of one HoF model."""
    m = cell.hof(index)
    ts, curve = threshold_and_slope(get_engine(engine), m, cell.morphology, fi_protocol())
    return [
        m.index, m.seed, m.hof, "test" if m.index in set(cell.split.test) else "train", f"{ts.threshold:.6g}",
        f"{ts.slope:.6g}", f"{ts.intercept_fit:.6g}", f"{ts.bracket[0]:.6g}", f"{ts.bracket[1]:.6g}",
        f"{m.features.get('intercept', math.nan):.6g}", f"{m.features.get('slope', math.nan):.6g}",
        len(curve.amplitude),
    ]


_WORKER_CELL: "Cell | None" = None


def _init_worker(cell_name: str, root) -> None:
    """Read the cell package once per worker process."""
    global _WORKER_CELL
    _WORKER_CELL = load_cell(cell_name, root=root)


def _worker_row(engine: str, index: int) -> list:
    return _row(_WORKER_CELL, engine, index)


def build_table(cell_name: str, out: str | Path, root=None, engine: str = "arbor", hofs=None, progress: bool = True,
                workers: int = 1) -> Path:
    """Compute I_thr and s_thr for the HoF models of a cell (all by default) and write/extend the CSV ``out``.

    Resumable: a row is written (and flushed) as soon as its model is done, models already in ``out`` are
    skipped; with ``workers > 1`` the models run in that many processes (rows then arrive in completion order).
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    cell = load_cell(cell_name, root=root)
    out = Path(out)
    done = {int(r["index"]) for r in read_table(out)} if out.is_file() else set()
    todo = [m.index for m in cell.hof_models if (hofs is None or m.index in hofs) and m.index not in done]
    new = not out.is_file()
    with out.open("a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(COLUMNS)
        bar = tqdm(total=len(todo), desc="I_thr/s_thr", unit="HoF", disable=not progress)
        if workers > 1 and len(todo) > 1:
            with ProcessPoolExecutor(max_workers=min(workers, len(todo)), initializer=_init_worker,
                                     initargs=(cell_name, root)) as pool:
                futures = [pool.submit(_worker_row, engine, i) for i in todo]
                for fut in as_completed(futures):
                    writer.writerow(fut.result())
                    fh.flush()
                    bar.update()
        else:
            for i in todo:
                writer.writerow(_row(cell, engine, i))
                fh.flush()
                bar.update()
        bar.close()
    return out


def summarize(rows, experimental_slope: float = 380.7, experimental_intercept: float = 0.02) -> dict[str, float]:
    """Spearman correlations and scale ratios of ours against the published and experimental values."""
    thr = np.array([r["I_thr_nA"] for r in rows], float)
    slope = np.array([r["s_thr_Hz_per_nA"] for r in rows], float)
    pub_i = np.array([r["published_intercept_nA"] for r in rows], float)
    pub_s = np.array([r["published_slope"] for r in rows], float)
    ok = np.isfinite(thr) & np.isfinite(slope) & np.isfinite(pub_i) & np.isfinite(pub_s)
    thr, slope, pub_i, pub_s = thr[ok], slope[ok], pub_i[ok], pub_s[ok]
    return {
        "n": int(ok.sum()),
        "spearman_I_thr_vs_intercept": float(spearmanr(thr, pub_i).statistic),
        "spearman_s_thr_vs_slope": float(spearmanr(slope, pub_s).statistic),
        "ratio_I_thr_to_intercept": float(np.median(thr / pub_i)),
        "ratio_s_thr_to_slope": float(np.median(slope / pub_s)),
        "mean_I_thr_nA": float(thr.mean()),
        "sd_I_thr_nA": float(thr.std(ddof=1)) if thr.size > 1 else math.nan,
        "mean_s_thr_Hz_per_nA": float(slope.mean()),
        "sd_s_thr_Hz_per_nA": float(slope.std(ddof=1)) if slope.size > 1 else math.nan,
        "mean_published_intercept_nA": float(pub_i.mean()),
        "mean_published_slope": float(pub_s.mean()),
        "ratio_mean_s_thr_to_experimental_slope": float(slope.mean() / experimental_slope),
        "ratio_mean_I_thr_to_experimental_intercept": float(thr.mean() / experimental_intercept),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="human_pvalb_689331391")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--engine", default="arbor")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--workers", type=int, default=1, help="HoF models simulated in parallel")
    args = parser.parse_args(argv)
    build_table(args.cell, args.out, root=args.data_root, engine=args.engine, workers=args.workers)
    for key, value in summarize(read_table(args.out)).items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
