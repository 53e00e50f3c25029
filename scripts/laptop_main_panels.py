"""Trace panels of a model against the PDE on a held-out dataset: what its voltage errors and spike counts look like.

Usage: ``python scripts/laptop_main_panels.py --model DIR --data F.h5 --out PANEL.png [--n 8] [--title T]``

Picks ``--n`` traces of ``F.h5`` at amplitudes spread over its range (spiking and silent ones), predicts them with
the model and draws PDE and NOBLE one above the other; each panel's title gives the amplitude (nA), the HoF model
and both spike counts (upward crossings of -20 mV inside the step). Units: nA, mV, ms.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from noble import load_model  # noqa: E402
from noble.plotting import COLORS, apply_style, save_figure  # noqa: E402
from noble.sim.traces import read_dataset  # noqa: E402
from noble.spikes import spike_counts, window_mask  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="PNG path (provenance in its noble-provenance text chunk)")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--title", default="")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    apply_style()
    model, ds = load_model(args.model), read_dataset(args.data)
    order = np.argsort(ds.amplitude)
    pick = order[np.unique(np.linspace(0, len(order) - 1, min(args.n, len(order))).round().astype(int))]
    amps, hofs = ds.amplitude[pick], ds.hof[pick]
    pred = model.predict(amps, hofs=hofs.tolist())
    t = ds.template.time()
    window = window_mask(t, ds.template.delay_ms, ds.template.delay_ms + ds.template.duration_ms)
    n_pde, n_noble = spike_counts(ds.voltage[pick], window), spike_counts(pred, window)
    fig, axes = plt.subplots(len(pick), 1, figsize=(7.0, 1.25 * len(pick) + 0.6), sharex=True, squeeze=False)
    for ax, i in zip(axes[:, 0], range(len(pick))):
        ax.plot(t, ds.voltage[pick[i]], color=COLORS["pde"], lw=0.7, label="PDE")
        ax.plot(t, pred[i], color=COLORS["noble"], lw=0.7, label="NOBLE")
        ax.set_title(f"I = {amps[i]:.3f} nA, HoF {int(hofs[i])}: spikes PDE {int(n_pde[i])}, NOBLE {int(n_noble[i])}",
                     fontsize=7, loc="left")
        ax.set_ylabel("V (mV)", fontsize=7)
    axes[0, 0].legend(frameon=False, fontsize=6, loc="upper right")
    axes[-1, 0].set_xlabel("time (ms)")
    if args.title:
        fig.suptitle(args.title, fontsize=8)
    fig.tight_layout()
    save_figure(fig, args.out.stem, args.out.parent, formats=("png",))
    print(f"{args.out}: {len(pick)} traces, spikes PDE {n_pde.tolist()}, NOBLE {n_noble.tolist()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
