"""Reduced-resolution pretraining on a CPU: does training on 2x coarser traces, then fine-tuning at the paper's
resolution, buy more than training at full resolution for the same CPU time? (docs/model.md, CPU study)

Usage::

    python scripts/resolution_study.py coarse --train T.h5 --out DIR [--factor 2] [--minutes 35] [--fine-minutes 10]
    python scripts/resolution_study.py report --train T.h5 --val V.h5 --out DIR RUN ...

``coarse`` trains the laptop model (constant learning rate 0.002, batch 8) on ``T.h5`` coarsened by ``--factor``
(:meth:`noble.sim.traces.TraceDataset.coarsened`; padded to an FFT-friendly length) for ``--minutes``, then
fine-tunes those weights on the full-resolution traces for ``--fine-minutes`` (``noble train --init-from``).
The full-resolution arm is a plain ``noble train`` of the same recipe. ``report`` scores every RUN directory
(full-resolution models; ``DIR/coarse`` is scored zero-shot at full resolution) on ``V.h5`` beside the
constant-rest and nearest-neighbour baselines: missed firing, spike-count error, voltage relative L2, CPU time.
Units: nA, mV, ms.
"""
from __future__ import annotations

import argparse
import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from noble.checkpoint import load_model
from noble.evaluation.evaluate import SUMMARY_LABELS, evaluate_model, firing_summary, json_safe
from noble.sim.traces import read_dataset
from noble.training import load_config, train
from noble.training.loop import load_split

#: FFT-friendly lengths of the coarse grids (8,583 samples coarsened by 2: 4,292 -> 4,320 = 2^5 3^3 5).
PADDED = {1: 8640, 2: 4320, 3: 2880, 4: 2160}


def recipe(name: str, padded_length: int, minutes: float):
    """The laptop recipe at a constant learning rate, stopped by wall time (epochs only bound it)."""
    config = load_config("laptop")
    config = replace(config, name=name, model=replace(config.model, padded_length=padded_length))
    return config.with_training(epochs=10_000, hold_epochs=10_000, max_minutes=minutes, checkpoint_every=0)


def run_coarse(args: argparse.Namespace) -> None:
    full = read_dataset(args.train)
    coarse = full.coarsened(args.factor)
    out = Path(args.out)
    first = train(coarse, recipe(f"res-coarse{args.factor}", PADDED[args.factor], args.minutes), out / "coarse",
                  progress=False, resume=(out / "coarse" / "state" / "last.pt").is_file())
    print(f"coarse: {first.epochs_completed} epochs, selected {first.best_epoch}", flush=True)
    fine = train(full, recipe(f"res-coarse{args.factor}-fine", PADDED[1], args.fine_minutes), out / "fine",
                 init_weights=out / "coarse", progress=False)
    print(f"fine: {fine.epochs_completed} epochs, selected {fine.best_epoch}", flush=True)


def cpu_seconds(run_dir: Path) -> float:
    """Training wall time of a run (s), from its log; one thread, so CPU-seconds."""
    with (run_dir / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    return float(rows[-1]["elapsed_s"]) if rows else float("nan")


def run_report(args: argparse.Namespace) -> None:
    train_ds, val = read_dataset(args.train), read_dataset(args.val)
    table = []
    for run in args.runs:
        run = Path(run)
        model = load_model(run)
        if model.template != val.template:
            model = model.on_grid(val.template, PADDED[1])
        split = load_split(run)
        # every run trains on T.h5 or its coarsening (the same rows): its training rows are the reference
        ref_rows = (np.asarray(split["train"]) if split else np.flatnonzero(np.isin(train_ds.hof, model.train_hofs)))
        metrics = evaluate_model(model, val, None, reference=train_ds, reference_rows=ref_rows, features=False,
                                 progress=False)
        (run / "val_metrics.json").write_text(json.dumps(json_safe(metrics), indent=1))
        chain = [run] + ([run.parent / "coarse"] if run.name == "fine" else [])
        seconds = sum(cpu_seconds(r) for r in chain)
        for name, r in firing_summary(metrics["sets"]["train_hofs_unseen_currents"]).items():
            table.append({"run": str(run), "predictor": name, "cpu_hours": round(seconds / 3600, 3),
                          "epochs": model.card["training"]["epoch"], **r})
    out = Path(args.out) / "resolution_study.csv"
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    for row in table:
        print(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    plot_report(table, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


def plot_report(table: list[dict], path: Path) -> None:
    """Bars per run (model) for missed firing, spike-count error and voltage rel. L2 (%), baselines as lines."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [r for r in table if r["predictor"] == "model"]
    baselines = {r["predictor"]: r for r in table if r["predictor"] != "model"}
    columns = list(SUMMARY_LABELS.items())
    fig, axes = plt.subplots(1, len(columns), figsize=(11, 3.4), constrained_layout=True)
    labels = [f"{Path(r['run']).name if Path(r['run']).name not in ('coarse', 'fine') else r['run']}\n"
              f"{r['cpu_hours']:.2f} CPU-h" for r in models]
    for ax, (key, title) in zip(axes, columns):
        ax.bar(range(len(models)), [r[key] for r in models], color="tab:blue")
        for (name, r), style in zip(baselines.items(), ("--", ":")):
            ax.axhline(r[key], color="k", ls=style, lw=1, label=name.replace("_", " "))
        ax.set_xticks(range(len(models)), labels, fontsize=7)
        ax.set_title(title, fontsize=9)
    axes[0].legend(fontsize=7)
    n = models[0]["n_traces"] if models else 0
    fig.suptitle(f"reduced-resolution pretraining: {n} validation traces of the train HoFs (one thread per run)",
                 fontsize=9)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("coarse")
    c.add_argument("--train", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--factor", type=int, default=2, choices=sorted(set(PADDED) - {1}))
    c.add_argument("--minutes", type=float, default=35.0)
    c.add_argument("--fine-minutes", type=float, default=10.0)
    r = sub.add_parser("report")
    r.add_argument("--train", type=Path, required=True)
    r.add_argument("--val", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("runs", nargs="+")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    (run_coarse if args.cmd == "coarse" else run_report)(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
