"""Capacity check at the paper's protocol: overfit the spiking traces of one train HoF model and plot it.

Usage: ``python scripts/capacity_check.py --out DIR [--hof 0] [--n-amplitudes 24] [--epochs 400] [--threads 1]``.
Simulates the HoF model at ``--n-amplitudes`` amplitudes evenly spaced in 0.03-0.28 nA (515 ms, step 15-415 ms,
dt 0.02 ms, 8,583 samples), trains the ``laptop`` configuration on all of them (no neuron features, no held-out
rows; noble.training.capacity) and writes ``capacity.json`` (spike counts, within +/-1, timing error) and
``capacity_traces.png`` (PDE and NOBLE traces with their spike times). Resumable: the dataset is cached in DIR.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--cell", default="human_pvalb_689331391")
    parser.add_argument("--hof", type=int, default=0)
    parser.add_argument("--n-amplitudes", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--config", default="laptop")
    parser.add_argument("--learning-rate", type=float, default=0.004)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="simulation processes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from noble.plotting import apply_style, save_figure
    from noble.sim.dataset import generate_dataset, grid_plan
    from noble.spikes import window_mask
    from noble.training import load_config
    from noble.training.capacity import run_capacity_check, spike_times
    from noble.training.data import read_dataset

    args.out.mkdir(parents=True, exist_ok=True)
    data = args.out / f"hof{args.hof}_grid.h5"
    t0 = time.perf_counter()
    if not data.is_file():
        plan = grid_plan(args.cell, [args.hof], np.linspace(0.03, 0.28, args.n_amplitudes))
        generate_dataset(data, plan, workers=args.workers)
    sim_s = time.perf_counter() - t0
    ds = read_dataset(data)
    cfg = load_config(args.config).with_training(learning_rate=args.learning_rate)
    t1 = time.perf_counter()
    result, pred = run_capacity_check(ds, cfg, args.out / "model", args.epochs, args.hof, progress=True)
    train_s = time.perf_counter() - t1
    report = {**result.as_dict(), "simulation_s": sim_s, "training_s": train_s, "config": args.config,
              "learning_rate": args.learning_rate, "threads": args.threads,
              "amplitudes_nA": [float(a) for a in ds.amplitude]}
    (args.out / "capacity.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("true_counts", "pred_counts", "amplitudes_nA")}))

    import matplotlib.pyplot as plt

    apply_style()
    picks = np.unique(np.linspace(0, len(ds) - 1, 4).round().astype(int))
    fig, axes = plt.subplots(len(picks) + 1, 1, figsize=(7.0, 1.6 * (len(picks) + 1)), sharex=False)
    mask = window_mask(ds.time, ds.template.delay_ms, ds.template.stim_end_ms)
    t_true, t_pred = spike_times(ds.voltage, ds.time, mask), spike_times(pred, ds.time, mask)
    for ax, i in zip(axes[:-1], picks):
        ax.plot(ds.time, ds.voltage[i], lw=0.6, label="PDE")
        ax.plot(ds.time, pred[i], lw=0.6, label="NOBLE", alpha=0.8)
        ax.set_title(f"{ds.amplitude[i]:.3f} nA: PDE {result.true_counts[i]} spikes, NOBLE {result.pred_counts[i]}",
                     fontsize=8)
        ax.set_ylabel("mV")
    axes[0].legend(loc="upper right", fontsize=7)
    ax = axes[-1]
    for i in range(len(ds)):
        ax.plot(t_true[i], np.full(t_true[i].size, ds.amplitude[i]), "|", color="C0", ms=4)
        ax.plot(t_pred[i], np.full(t_pred[i].size, ds.amplitude[i]) + 0.004, "|", color="C1", ms=4)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("nA")
    ax.set_title(f"spike times, PDE (blue) and NOBLE (orange); within +/-1 spike: {result.within_one_pct:.0f}%,"
                 f" timing error {result.timing_error_ms:.2f} ms", fontsize=8)
    fig.tight_layout()
    save_figure(fig, "capacity_traces", args.out, formats=("png",))
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
