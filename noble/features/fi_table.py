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
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from noble.data import load_cell
from noble.features.fi import threshold_and_slope
from noble.progress import tqdm
from noble.sim import get_engine
from noble.sim.protocol import StepProtocol

#: Protocol for F-I analysis: the paper's step (15-415 ms) from rest; the trace can end with the step.
FI_T_STOP = 415.0

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


def build_table(cell_name: str, out: str | Path, root=None, engine: str = "arbor", hofs=None, progress: bool = True) -> Path:
    """Compute I_thr and s_thr for the HoF models of a cell (all by default) and write/extend the CSV ``out``."""

    cell = load_cell(cell_name, root=root)
    eng = get_engine(engine)
    out = Path(out)
    done = {int(r["index"]) for r in read_table(out)} if out.is_file() else set()
    models = [m for m in cell.hof_models if (hofs is None or m.index in hofs) and m.index not in done]
    test = set(cell.split.test)
    protocol = fi_protocol()
    new = not out.is_file()
    with out.open("a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(COLUMNS)
        for m in tqdm(models, desc="I_thr/s_thr", unit="HoF", disable=not progress):
            ts, curve = threshold_and_slope(eng, m, cell.morphology, protocol)
            writer.writerow([
                m.index, m.seed, m.hof, "test" if m.index in test else "train", f"{ts.threshold:.6g}",
                f"{ts.slope:.6g}", f"{ts.intercept_fit:.6g}", f"{ts.bracket[0]:.6g}", f"{ts.bracket[1]:.6g}",
                f"{m.features.get('intercept', math.nan):.6g}", f"{m.features.get('slope', math.nan):.6g}",
                len(curve.amplitude),
            ])
            fh.flush()
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
    args = parser.parse_args(argv)
    build_table(args.cell, args.out, root=args.data_root, engine=args.engine)
    for key, value in summarize(read_table(args.out)).items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
