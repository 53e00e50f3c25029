"""More data or more epochs? Continue the laptop main model on 2x coarser traces and score it on clean held-out traces.

Usage::

    python scripts/data_study.py train --init MODEL --train T.h5 [--extra E.h5 ...] --out DIR [--epochs 24]
        [--hold-epochs 16] [--factor 2] [--quantile-weight W] [--smooth-weight W --smooth-ms MS] [--threads 2]
    python scripts/data_study.py score --init MODEL --train T.h5 [--on U.h5] --out CSV RUN[:EPOCH,EPOCH...] ...
    python scripts/data_study.py regrid --init MODEL --out DIR RUN[:EPOCH]

``train`` continues the weights of ``MODEL`` (a model directory written by the pipeline, with its ``split.json``)
on the rows of ``T.h5`` it trained on, plus every trace of each ``--extra E.h5`` file (more traces per HoF), coarsened
``--factor`` times, at Adam's 0.002 held for ``--hold-epochs`` and then a cosine decay; no rows are held out inside
the run and every epoch's weights are kept (``DIR/checkpoints``); ``--quantile-weight`` adds the timing-free
quantile term to the loss (:attr:`noble.training.TrainConfig.quantile_weight`), ``--smooth-weight`` the slow-voltage
term (:attr:`noble.training.TrainConfig.smooth_weight`). ``score`` puts checkpoints of runs
(``RUN`` a run directory of ``train`` or a stage directory of :func:`noble.training.stages.train_stages`) on the
paper's grid and scores them on the rows of ``T.h5`` that ``MODEL`` held out for its own selection (neither run
trained on them), or on every trace of ``--on U.h5`` (e.g. the unseen currents or the test HoFs of the pipeline):
missed firing, spike-count error, voltage relative L2 and L4, beside ``MODEL`` itself and the two baselines on the same traces.
``regrid`` writes the weights of one checkpoint of ``RUN`` on ``MODEL``'s grid (and padded length) as a model
directory with its own card and ``MODEL``'s ``split.json``, so that ``noble evaluate`` (e.g.
``MODEL=DIR bash scripts/laptop_main_report.sh OUT``) scores it like a pipeline model. Units: nA, mV, ms.
"""
from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from noble.checkpoint import load_model, read_weight_tensors, save_model
from noble.evaluation.evaluate import SUMMARY_LABELS, evaluate_model, firing_summary
from noble.model import NobleModel
from noble.sim.traces import TraceDataset, concat_datasets, read_dataset
from noble.training import load_config, train
from noble.training.loop import checkpoint_file, load_split
from noble.training.stages import coarse_padded_length, regridded


def training_rows(init: Path, train_ds: TraceDataset) -> tuple[np.ndarray, np.ndarray]:
    """(rows ``init`` trained on, rows it held out) of its training file, checked against the file's data card."""
    split = load_split(init)
    if split is None or split["data_card_sha256"] != train_ds.data_card_sha256:
        raise SystemExit(f"{init}: its split.json does not describe {train_ds.path}")
    return np.asarray(split["train"], dtype=np.int64), np.asarray(split["holdout"], dtype=np.int64)


def run_train(args: argparse.Namespace) -> None:
    train_ds = read_dataset(args.train)
    rows, _ = training_rows(args.init, train_ds)
    data = concat_datasets([train_ds.select(rows), *(read_dataset(e) for e in args.extra)])  # card names every part
    data = data.coarsened(args.factor)
    base = load_config("laptop")
    config = replace(base, name=f"data-study-coarse{args.factor}-{len(data)}",
                     model=replace(base.model, padded_length=coarse_padded_length(base.model.padded_length,
                                                                                  data.template.n_samples,
                                                                                  args.factor)))
    config = config.with_training(epochs=args.epochs, hold_epochs=args.hold_epochs, holdout_fraction=0.0,
                                  checkpoint_every=1, schedule="cosine", quantile_weight=args.quantile_weight,
                                  smooth_weight=args.smooth_weight, smooth_ms=args.smooth_ms)
    resume = (args.out / "state" / "last.pt").is_file()
    result = train(data, config, args.out, resume=resume, init_weights=None if resume else args.init, progress=False)
    print(f"{args.out}: {result.epochs_completed} epochs on {len(data)} traces, {result.wall_time_s:.0f} s", flush=True)


def run_score(args: argparse.Namespace) -> None:
    train_ds = read_dataset(args.train)
    rows, holdout = training_rows(args.init, train_ds)
    val = read_dataset(args.on) if args.on else train_ds.select(holdout)
    reference = load_model(args.init)
    entries: list[tuple[str, NobleModel]] = [(f"{args.init}", reference)]
    for spec in args.runs:
        run, _, epochs = spec.partition(":")
        model = load_model(run)
        for epoch in [int(e) for e in epochs.split(",")] if epochs else [None]:
            load_epoch(model, run, epoch)
            entries.append((f"{run}:{epoch or 'saved'}", model.on_grid(val.template, reference.config.padded_length)))
    table = []
    for name, model in entries:
        metrics = evaluate_model(model, val, None, reference=train_ds, reference_rows=rows, features=False,
                                 progress=False)
        scored = [r for r in metrics["sets"].values() if r.get("n_traces")]  # e.g. only the test-HoF set
        predictors = firing_summary(scored[0])
        if table:  # the baselines once, beside the starting model
            predictors = {"model": predictors["model"]}
        table.extend({"run": name, "predictor": predictor, **r} for predictor, r in predictors.items())
        print(json.dumps(table[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(table).to_csv(args.out, index=False)
    plot_scores(table, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


def load_epoch(model: NobleModel, run: str | Path, epoch: int | None) -> None:
    """Put the weights of ``run``'s checkpoint ``epoch`` into ``model`` (``None``: keep the run's saved weights)."""
    if epoch is not None:
        tensors, _ = read_weight_tensors(checkpoint_file(run, epoch))
        model.load_weight_tensors(tensors)


def run_regrid(args: argparse.Namespace) -> None:
    reference = load_model(args.init)
    run, _, epoch_text = args.run.partition(":")
    model, epoch = load_model(run), int(epoch_text) if epoch_text else None
    load_epoch(model, run, epoch)
    moved, card = regridded(model, reference.template, reference.config.padded_length, checkpoint_epoch=epoch,
                            name=f"{args.run} on the paper grid")
    save_model(args.out, moved, card)
    shutil.copy2(Path(args.init) / "split.json", args.out / "split.json")
    print(f"wrote {args.out}: {args.run} on {reference.template.n_samples} samples")


def plot_scores(table: list[dict], path: Path) -> None:
    """Per scored run, each criterion against the checkpoint's epoch; the starting model and the baselines as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = [r for r in table if r["predictor"] == "model"][0]
    baselines = [r for r in table if r["predictor"] != "model"]
    runs: dict[str, list[tuple[int, dict]]] = {}
    for r in table[len(baselines) + 1:]:
        run, _, epoch = r["run"].rpartition(":")
        if epoch.isdigit():
            runs.setdefault(run, []).append((int(epoch), r))
    columns = list(SUMMARY_LABELS.items())
    fig, axes = plt.subplots(1, len(columns), figsize=(11, 3.2), constrained_layout=True)
    for ax, (key, title) in zip(axes, columns):
        for run, points in runs.items():
            points.sort()
            ax.plot([e for e, _ in points], [p[key] for _, p in points], marker="o", ms=3, label=Path(run).name)
        ax.axhline(start[key], color="0.55", ls="-", lw=1.2, label="starting model (stage 1)")
        for r, style in zip(baselines, ("--", ":")):
            ax.axhline(r[key], color="k", ls=style, lw=0.8, label=r["predictor"].replace("_", " "))
        ax.set_xlabel("epoch of the continuation")
        ax.set_title(title, fontsize=9)
        ax.set_ylim(bottom=0)
    axes[0].legend(fontsize=6, frameon=False)
    fig.suptitle(f"continuing the laptop main model: scored on {start['n_traces']} traces no run trained on",
                 fontsize=9)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--init", type=Path, required=True)
    t.add_argument("--train", type=Path, required=True)
    t.add_argument("--extra", type=Path, action="append", default=[], help="more traces (repeatable)")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--epochs", type=int, default=24)
    t.add_argument("--hold-epochs", type=int, default=16)
    t.add_argument("--factor", type=int, default=2)
    t.add_argument("--quantile-weight", type=float, default=None)
    t.add_argument("--smooth-weight", type=float, default=0.0,
                   help="weight of the slow-voltage term (TrainConfig.smooth_weight)")
    t.add_argument("--smooth-ms", type=float, default=5.0, help="its Gaussian width (ms)")
    t.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("score")
    s.add_argument("--init", type=Path, required=True)
    s.add_argument("--train", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--on", type=Path, help="score on every trace of this file instead of MODEL's held-out rows")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("runs", nargs="+")
    g = sub.add_parser("regrid")
    g.add_argument("--init", type=Path, required=True)
    g.add_argument("--out", type=Path, required=True)
    g.add_argument("run")
    args = parser.parse_args()
    torch.set_num_threads(getattr(args, "threads", 2))
    {"train": run_train, "score": run_score, "regrid": run_regrid}[args.cmd](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
