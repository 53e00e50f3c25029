"""PDE against NOBLE on a few traces of a dataset the model never saw: a panel to judge by eye whether it fires.

Usage: ``python scripts/trace_panel.py --model DIR --data F.h5 --out PNG [--n 6] [--seed 0] [--padded-length P]``.
Picks ``--n`` traces (half of them among the PDE-spiking ones, the rest at random), predicts them and draws the
PDE trace, the NOBLE trace and their spike counts (upward -20 mV crossings inside the step). A model trained on
another grid (e.g. a coarse continuation stage) runs on the data's grid with the same weights
(:meth:`noble.model.NobleModel.on_grid`, padded to ``--padded-length``). Units: mV, ms, nA.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from noble import load_model  # noqa: E402
from noble.plotting import apply_style, save_figure  # noqa: E402
from noble.spikes import spike_counts, window_mask  # noqa: E402
from noble.training.data import read_dataset  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--padded-length", type=int, default=None,
                        help="FFT grid of the data's resolution, for a model trained on another grid")
    args = parser.parse_args()
    model = load_model(args.model)
    ds = read_dataset(args.data)
    if model.template.n_samples != ds.template.n_samples:
        model = model.on_grid(ds.template, args.padded_length)
    window = window_mask(ds.time, ds.template.delay_ms, ds.template.delay_ms + ds.template.duration_ms)
    true_counts = spike_counts(ds.voltage, window)
    rng = np.random.default_rng(args.seed)
    spiking = np.flatnonzero(true_counts > 0)
    n_spk = min(len(spiking), (args.n + 1) // 2)
    rows = list(rng.choice(spiking, n_spk, replace=False)) if n_spk else []
    rest = np.setdiff1d(np.arange(len(ds.amplitude)), rows)
    rows += list(rng.choice(rest, min(len(rest), args.n - len(rows)), replace=False))
    rows = sorted((int(r) for r in rows), key=lambda r: ds.amplitude[r])
    pred = model.predict(ds.amplitude[rows], hofs=[int(h) for h in ds.hof[rows]])
    pred_counts = spike_counts(pred, window)
    apply_style()
    fig, axs = plt.subplots(len(rows), 1, figsize=(7.0, 1.5 * len(rows)), sharex=True)
    for ax, r, v, c in zip(np.atleast_1d(axs), rows, pred, pred_counts):
        ax.plot(ds.time, ds.voltage[r], color="k", lw=0.7, label="PDE (Arbor)")
        ax.plot(ds.time, v, color="tab:red", lw=0.7, label="NOBLE")
        ax.set_ylabel("mV")
        ax.set_title(f"HoF {int(ds.hof[r])}, {ds.amplitude[r]:+.3f} nA: PDE {int(true_counts[r])} spikes, "
                     f"NOBLE {int(c)}", fontsize=8)
    np.atleast_1d(axs)[0].legend(fontsize=7, loc="upper right")
    np.atleast_1d(axs)[-1].set_xlabel("time (ms)")
    fig.suptitle(f"{args.model.name} on {args.data.name} (traces outside training and selection)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, args.out.stem, args.out.parent, formats=("png",))
    print(f"wrote {args.out}: rows {rows}, PDE counts {true_counts[rows].tolist()}, NOBLE {pred_counts.tolist()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
