"""Which definition of I_thr and s_thr ranks the HoF models like the published ``intercept`` and ``slope``?

The paper does not say how its two features were computed. This study simulates one F-I grid per HoF model
(Arbor, the paper's 400 ms step from rest, spike times kept) and scores candidate definitions by their Spearman
rank correlation with the published columns over all HoF models of the cell:

* rate: spikes in the step / 0.4 s (``count``), or 1 / mean inter-spike interval (``isi``), or 1 / first ISI;
* s_thr: least-squares slope of rate against amplitude over the firing amplitudes in [first firing, + span],
  with or without the last silent amplitude (rate 0), for several spans;
* I_thr: the bisected threshold of ``docs/fi_<cell>.csv`` or the current-axis intercept of the same line.

Two phases, both resumable::

    python scripts/fi_definition_study.py simulate --workers 1     # one .npz per HoF under cache/fi_study/
    python scripts/fi_definition_study.py analyse                  # docs/results/fi_definition_study.*

Units: nA, ms, Hz, Hz/nA.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CELL = "human_pvalb_689331391"
#: Step amplitudes (nA): every 10 pA over the firing range, 5 pA steps just above the published thresholds.
GRID_NA = tuple(sorted({round(a, 4) for a in [0.015, 0.025, 0.035, *np.arange(0.01, 0.3001, 0.01)]}))
SPANS_NA = (0.02, 0.03, 0.05, 0.1, 0.2, 0.3)
STEP_S = 0.4


def out_dir(cell: str) -> Path:
    base = Path(os.environ.get("NOBLE_CACHE_DIR", ROOT / "cache"))
    return base / "fi_study" / cell


def simulate_hof(cell_name: str, index: int) -> Path:
    """Spike times (ms, inside the step) of every grid amplitude of one HoF, saved as ``hof_NNN.npz``."""
    from noble.data import load_cell
    from noble.features.fi_table import fi_protocol
    from noble.sim import get_engine
    from noble.spikes import spike_times

    path = out_dir(cell_name) / f"hof_{index:03d}.npz"
    if path.exists():
        return path
    cell = load_cell(cell_name)
    protocol = fi_protocol()
    raw = get_engine("arbor").simulate(cell.hof(index), cell.morphology, list(GRID_NA), protocol)
    t = protocol.raw_time()
    mask = (t >= protocol.stim_start) & (t <= protocol.stim_end)
    times = spike_times(raw, t, mask)
    flat = np.concatenate(times) if times else np.zeros(0)
    offsets = np.cumsum([0] + [len(x) for x in times])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, amplitude_nA=np.asarray(GRID_NA), spike_times_ms=flat, offsets=offsets,
             stim_start_ms=protocol.stim_start, stim_end_ms=protocol.stim_end)
    os.replace(tmp, path)
    return path


def cmd_simulate(args: argparse.Namespace) -> int:
    from noble.data import load_cell

    cell = load_cell(args.cell)
    todo = [m.index for m in cell.hof_models if not (out_dir(args.cell) / f"hof_{m.index:03d}.npz").exists()]
    print(f"{len(todo)} HoF models to simulate, {len(GRID_NA)} amplitudes each", flush=True)
    if args.workers <= 1:
        for i, index in enumerate(todo, 1):
            simulate_hof(args.cell, index)
            print(f"[{i}/{len(todo)}] HoF {index}", flush=True)
        return 0
    with ProcessPoolExecutor(args.workers) as pool:
        futures = {pool.submit(simulate_hof, args.cell, index): index for index in todo}
        for i, fut in enumerate(as_completed(futures), 1):
            fut.result()
            print(f"[{i}/{len(todo)}] HoF {futures[fut]}", flush=True)
    return 0


def rates(spikes: list[np.ndarray], kind: str) -> np.ndarray:
    """Firing rate (Hz) per amplitude: ``count`` (spikes / 0.4 s), ``isi`` (1 / mean ISI), ``first_isi``."""
    out = []
    for s in spikes:
        if len(s) == 0:
            out.append(0.0)
        elif kind == "count":
            out.append(len(s) / STEP_S)
        elif len(s) < 2:
            out.append(1.0 / STEP_S)  # one spike: no interval; the count rate
        elif kind == "isi":
            out.append(1000.0 / float(np.mean(np.diff(s))))
        else:
            out.append(1000.0 / float(s[1] - s[0]))
    return np.asarray(out)


def line(a: np.ndarray, r: np.ndarray, span: float, with_silent: bool) -> tuple[float, float]:
    """(slope Hz/nA, current-axis intercept nA) over [first firing, + span], optionally with the last silent."""
    firing = np.flatnonzero(r > 0)
    if len(firing) == 0:
        return math.nan, math.nan
    first = firing[0]
    keep = (a >= a[first] - 1e-12) & (a <= a[first] + span + 1e-12) & (r > 0)
    if with_silent and first > 0:
        keep[first - 1] = True
    if keep.sum() < 2:
        return math.nan, math.nan
    slope, offset = np.polyfit(a[keep], r[keep], 1)
    return float(slope), float(-offset / slope) if slope else math.nan


def cmd_analyse(args: argparse.Namespace) -> int:
    from scipy.stats import spearmanr

    from noble.data import load_cell

    cell = load_cell(args.cell)
    bisected = {}
    table = ROOT / "docs" / f"fi_{args.cell}.csv"
    if table.exists():
        with table.open() as fh:
            bisected = {int(r["index"]): float(r["I_thr_nA"]) for r in csv.DictReader(fh)}
    hofs, published, curves = [], [], []
    for m in cell.hof_models:
        path = out_dir(args.cell) / f"hof_{m.index:03d}.npz"
        if not path.exists():
            continue
        z = np.load(path)
        off = z["offsets"]
        spikes = [z["spike_times_ms"][off[i]:off[i + 1]] for i in range(len(off) - 1)]
        hofs.append(m.index)
        published.append((m.features["intercept"], m.features["slope"]))
        curves.append((z["amplitude_nA"], spikes))
    if len(hofs) < 5:
        print(f"only {len(hofs)} HoF models simulated; run the simulate phase first", file=sys.stderr)
        return 1
    pub = np.asarray(published)
    rows = []
    for kind in ("count", "isi", "first_isi"):
        for span in SPANS_NA:
            for with_silent in (False, True):
                fits = np.array([line(a, rates(s, kind), span, with_silent) for a, s in curves])
                ok = np.all(np.isfinite(fits), axis=1)
                rho_s = spearmanr(fits[ok, 0], pub[ok, 1]).statistic
                rho_i = spearmanr(fits[ok, 1], pub[ok, 0]).statistic
                rows.append({
                    "rate": kind, "span_nA": span, "with_last_silent": with_silent, "n": int(ok.sum()),
                    "spearman_slope": round(float(rho_s), 3), "spearman_intercept_fit": round(float(rho_i), 3),
                    "median_slope_ratio": round(float(np.median(fits[ok, 0] / pub[ok, 1])), 3),
                    "median_intercept_ratio": round(float(np.median(fits[ok, 1] / pub[ok, 0])), 3),
                })
    grid_thr = np.array([a[np.flatnonzero(rates(s, "count") > 0)[0]] if any(len(x) for x in s) else math.nan
                         for a, s in curves])
    summary = {"cell": args.cell, "n_hofs": len(hofs), "grid_nA": list(GRID_NA), "engine": "arbor",
               "spearman_first_firing_grid_vs_intercept": round(float(spearmanr(grid_thr, pub[:, 0]).statistic), 3)}
    if bisected:
        b = np.array([bisected.get(h, math.nan) for h in hofs])
        ok = np.isfinite(b)
        summary["spearman_bisected_I_thr_vs_intercept"] = round(float(spearmanr(b[ok], pub[ok, 0]).statistic), 3)
    best_s = max(rows, key=lambda r: r["spearman_slope"])
    best_i = max(rows, key=lambda r: r["spearman_intercept_fit"])
    summary["best_slope_definition"] = best_s
    summary["best_intercept_definition"] = best_i
    res = ROOT / "docs" / "results"
    res.mkdir(parents=True, exist_ok=True)
    with (res / "fi_definition_study.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    from noble.jsonfile import write_json_atomic

    write_json_atomic(res / "fi_definition_study.json", summary)
    print(f"{len(hofs)} HoF models; best s_thr: {best_s}; best I_thr: {best_i}")
    for k, v in summary.items():
        if k.startswith("spearman"):
            print(f"{k}: {v}")
    _plot(curves, hofs, pub, best_s, res / "fi_definition_study.png")
    return 0


def _plot(curves, hofs, pub, best, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import spearmanr

    fits = np.array([line(a, rates(s, best["rate"]), best["span_nA"], best["with_last_silent"]) for a, s in curves])
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for a, s in curves:
        axes[0].plot(a, rates(s, "count"), color="0.3", lw=0.6, alpha=0.5)
    axes[0].set(xlabel="step amplitude (nA)", ylabel="rate, spikes / 0.4 s (Hz)",
                title=f"Arbor F-I curves of {len(hofs)} HoF models")
    axes[1].scatter(pub[:, 1], fits[:, 0], s=12)
    axes[1].set(xlabel="published slope", ylabel="fitted slope (Hz/nA)",
                title=f"best s_thr: {best['rate']}, span {best['span_nA']} nA, silent={best['with_last_silent']}\n"
                      f"Spearman {spearmanr(fits[:, 0], pub[:, 1], nan_policy='omit').statistic:.2f}")
    axes[2].scatter(pub[:, 0] * 1e3, fits[:, 1] * 1e3, s=12)
    axes[2].set(xlabel="published intercept (pA)", ylabel="intercept of the same line (pA)",
                title=f"Spearman {spearmanr(fits[:, 1], pub[:, 0], nan_policy='omit').statistic:.2f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("simulate")
    s.add_argument("--cell", default=CELL)
    s.add_argument("--workers", type=int, default=1)
    a = sub.add_parser("analyse")
    a.add_argument("--cell", default=CELL)
    args = parser.parse_args(argv)
    return cmd_simulate(args) if args.command == "simulate" else cmd_analyse(args)


if __name__ == "__main__":
    sys.exit(main())
