#!/usr/bin/env python
"""Train the paper-size NOBLE model on one GPU inside a fixed time budget, evaluate it, print a summary.

One command for a single H100/H200 and one ~10-minute run:

1. reads a dataset (``--data FILE.h5``, noble's HDF5 layout) or generates a synthetic one on the GPU with the
   cell's published HoF features (``noble.training.synthetic``: a caricature for timing, not the paper's data);
2. times training steps of the paper's FNO at the paper's batch size (64);
3. trains with the paper's configuration for as many epochs as fit in ``--minutes``;
4. evaluates the best checkpoint (voltage and eFEL feature errors, paper accounting) on unseen currents of the
   train HoF models and on the test HoF models;
5. prints a table (card, epochs, wall time, per-step time, Table 1 metrics reached against the paper's) and
   writes it to ``OUT/summary.json`` and ``OUT/summary.csv``.

``--smoke`` runs the same logic on a CPU in seconds with the ``quick`` model and a few traces.
Units: current nA, voltage mV, time ms; errors in percent.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from noble.checkpoint import load_model
from noble.embedding import StimulusTemplate, cell_feature_table
from noble.evaluation import evaluate_model, format_table, json_safe
from noble.model import NobleModel
from noble.sim.protocol import PAPER_TEMPLATE
from noble.training import load_config, read_dataset, train
from noble.training.loop import load_split, pick_device
from noble.training.losses import relative_lp

#: The paper's Table 1 (s_thr, I_thr row), percent; and the reference step time (H200, paper size, batch 64).
PAPER_TABLE1 = {"voltage": 1.92, "steady_state_voltage": 1.02, "Spikecount": 3.1, "AP1_width": 27.0, "mean_AP_amplitude": 8.9}
REFERENCE_STEP_MS = 48.0
PAPER_TEST_HOFS = (32, 2, 12, 40, 5, 52, 21, 29, 16, 37)


def feature_table_and_split(cell_name: str, cell_root: str | None, seed: int):
    """Published features and split of the cell package, or a stand-in table spanning the published ranges."""
    try:
        from noble.data import load_cell

        cell = load_cell(cell_name, root=cell_root)
        return cell_feature_table(cell, ("slope", "intercept")), cell.split.train, cell.split.test, "published"
    except Exception as exc:  # no cell package on this machine
        print(f"cell package unavailable ({exc}); using a stand-in feature table", file=sys.stderr)
        rng = np.random.default_rng(seed)
        table = {h: {"slope": float(rng.uniform(742.9, 848.0)), "intercept": float(rng.uniform(0.01389, 0.0194))}
                 for h in range(60)}
        test = PAPER_TEST_HOFS
        return table, tuple(h for h in range(60) if h not in test), test, "stand-in (published ranges)"


def make_dataset(path: Path, n_traces: int, template: StimulusTemplate, args, device) -> tuple[Path, str]:
    from noble.training.synthetic import synthetic_dataset

    table, train_hofs, test_hofs, source = feature_table_and_split(args.cell, args.cell_root, args.seed)
    args._table, args._train, args._test = table, train_hofs, test_hofs
    synthetic_dataset(path, table, list(train_hofs) + list(test_hofs), n_traces, seed=args.seed, template=template,
                      cell=args.cell, device=str(device))
    return path, f"synthetic ({n_traces} traces, features: {source})"


def time_steps(model: NobleModel, batch: int, n_steps: int, template: StimulusTemplate, device, amp_dtype) -> float:
    """Median wall time (ms) of a training step (forward, relative L4, backward, Adam) at ``batch``."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-6)
    amps = torch.rand(batch, device=device) * 0.39 - 0.11
    feats = torch.as_tensor(model.features_for_hofs(list(model.train_hofs[:1]) * batch), device=device)
    target = torch.full((batch, template.n_samples), -70.0, device=device)
    times = []
    for i in range(n_steps + 3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=amp_dtype, enabled=amp_dtype is not None and device.type == "cuda"):
            pred = model(amps, feats)
        loss = relative_lp(pred.float(), target, 4).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 3:
            times.append(1000 * (time.perf_counter() - t0))
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="training dataset (noble HDF5 layout); default: synthetic")
    parser.add_argument("--eval-data", type=Path, help="separate dataset of unseen currents / test HoFs")
    parser.add_argument("--n-traces", type=int, default=12800, help="size of the synthetic dataset")
    parser.add_argument("--minutes", type=float, default=6.0, help="training wall-clock budget")
    parser.add_argument("--config", default="paper", help="configuration name or JSON file")
    parser.add_argument("--amp", choices=("bf16", "fp16"), help="mixed precision (default: float32 with TF32)")
    parser.add_argument("--eval-traces", type=int, default=384, help="traces per evaluation set (eFEL is CPU-bound)")
    parser.add_argument("--cell", default="human_pvalb_689331391")
    parser.add_argument("--cell-root", help="data root of the cell package (default NOBLE_DATA_DIR)")
    parser.add_argument("--out", type=Path, default=Path("runs/gpu_paper"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run of the same logic (quick model)")
    args = parser.parse_args(argv)

    t_total = time.perf_counter()
    config = load_config("quick" if args.smoke else args.config)
    if args.smoke:
        args.n_traces, args.eval_traces = min(args.n_traces, 48), min(args.eval_traces, 8)
        config = config.with_training(epochs=2, batch_size=8, checkpoint_every=0, device="cpu")
        torch.set_num_threads(1)
    else:
        config = config.with_training(max_minutes=args.minutes, amp=args.amp, checkpoint_every=0)
    device = pick_device(config.training.device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {gpu}; torch {torch.__version__}; config {config.name}")
    args.out.mkdir(parents=True, exist_ok=True)
    template = PAPER_TEMPLATE

    t0 = time.perf_counter()
    table = train_hofs = test_hofs = None
    if args.data is not None:
        data_path, data_source = args.data, f"file {args.data}"
    else:
        data_path, data_source = make_dataset(args.out / "synthetic.h5", args.n_traces, template, args, device)
        table, train_hofs, test_hofs = args._table, args._train, args._test
    dataset = read_dataset(data_path)
    data_time = time.perf_counter() - t0
    print(f"data: {data_source}, {len(dataset)} traces ({data_time:.1f} s)")

    run_dir = args.out / "model"
    if (run_dir / "state" / "last.pt").exists():
        import shutil

        shutil.rmtree(run_dir)
    t0 = time.perf_counter()
    result = train(dataset, config, run_dir, feature_table=table, train_hofs=train_hofs, test_hofs=test_hofs,
                   cell_root=args.cell_root, progress=True)
    train_time = time.perf_counter() - t0

    model = load_model(run_dir, device=device)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.training.amp)
    step_ms = time_steps(model, config.training.batch_size, 5 if args.smoke else 20, template, device, amp_dtype)
    model = load_model(run_dir, device=device)

    t0 = time.perf_counter()
    eval_set = read_dataset(args.eval_data) if args.eval_data else dataset
    split = None if args.eval_data else load_split(run_dir)
    metrics = evaluate_model(model, eval_set, split, max_traces=args.eval_traces, device=str(device),
                             seed=args.seed, progress=True)
    eval_time = time.perf_counter() - t0
    (args.out / "metrics.json").write_text(json.dumps(json_safe(metrics), indent=2) + "\n")
    print(format_table(metrics))

    card = model.card
    summary = {
        "device": gpu,
        "config": config.name,
        "data": data_source,
        "n_traces": len(dataset),
        "model_dir": str(run_dir),
        "weights_sha256": card["weights"]["sha256"],
        "n_real_parameters": card["architecture"]["n_real_parameters"],
        "epochs": result.epochs_completed,
        "best_epoch": result.best_epoch,
        "stopped": result.stopped,
        "train_wall_s": round(train_time, 1),
        "data_wall_s": round(data_time, 1),
        "eval_wall_s": round(eval_time, 1),
        "total_wall_s": round(time.perf_counter() - t_total, 1),
        "step_ms_benchmark": round(step_ms, 2),
        "step_ms_training_median": round(1000 * result.mean_step_time_s, 2),
        "reference_step_ms_h200": REFERENCE_STEP_MS,
        "batch_size": config.training.batch_size,
        "amp": config.training.amp or "fp32+tf32" if device.type == "cuda" else "fp32",
        "table1_pct": {s: metrics["sets"][s].get("table1_pct", {}) for s in metrics["sets"]},
        "paper_table1_pct": PAPER_TABLE1,
    }
    (args.out / "summary.json").write_text(json.dumps(json_safe(summary), indent=2) + "\n")
    with (args.out / "summary.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["set", *PAPER_TABLE1])
        writer.writerow(["paper (Table 1, s_thr + I_thr)", *PAPER_TABLE1.values()])
        for name, t1 in summary["table1_pct"].items():
            writer.writerow([name, *(t1.get(k, math.nan) for k in PAPER_TABLE1)])

    print("\nsummary")
    for key in ("device", "config", "data", "model_dir", "weights_sha256", "n_real_parameters", "epochs", "best_epoch",
                "stopped", "train_wall_s", "total_wall_s", "step_ms_benchmark", "step_ms_training_median",
                "reference_step_ms_h200", "amp"):
        print(f"  {key:26s} {summary[key]}")
    print(f"  {'metric (%)':26s} " + "".join(f"{k[:18]:>20s}" for k in PAPER_TABLE1))
    print(f"  {'paper':26s} " + "".join(f"{v:20.3g}" for v in PAPER_TABLE1.values()))
    for name, t1 in summary["table1_pct"].items():
        print(f"  {name[:26]:26s} " + "".join(f"{t1.get(k, math.nan):20.3g}" for k in PAPER_TABLE1))
    print(f"written: {args.out / 'summary.json'}, {args.out / 'summary.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
