"""The CPU study figure of docs/model.md: how the laptop model's held-out firing evolves with each schedule.

Usage: ``python scripts/cpu_study_figure.py [--out docs/results/cpu_study.png] NAME=metrics.csv ...``

Each ``metrics.csv`` is a training log (``noble train``); the figure plots, against the training traces seen
(epochs x ``--traces-per-epoch``; the legend gives each run's CPU-hours on this machine), the training loss, the held-out missed firing (% of the spiking held-out
traces where the model is silent) and the held-out spike-count error (%), with the learning rate below.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from noble.plotting import apply_style, save_figure  # noqa: E402


def read_log(path: Path) -> dict[str, list[float]]:
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    return {k: [float(r[k]) if r[k] not in ("", "nan") else float("nan") for r in rows] for k in rows[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", help="NAME=path/to/metrics.csv")
    parser.add_argument("--out", type=Path, default=Path("docs/results/cpu_study.png"))
    parser.add_argument("--threads", type=int, default=2, help="threads the runs used (CPU-hours = wall x threads)")
    parser.add_argument("--traces-per-epoch", type=int, default=2880, help="training traces per epoch")
    args = parser.parse_args()
    apply_style()
    fig, axs = plt.subplots(4, 1, figsize=(7.0, 9.0), sharex=True, gridspec_kw={"height_ratios": [3, 3, 3, 1.6]})
    for spec in args.logs:
        name, path = spec.split("=", 1)
        log = read_log(Path(path))
        seen = [e * args.traces_per_epoch / 1000.0 for e in log["epoch"]]
        cpu_h = log["elapsed_s"][-1] * args.threads / 3600.0
        name = f"{name} ({cpu_h:.1f} CPU-h)"
        axs[0].plot(seen, log["train_loss"], marker=".", label=name)
        axs[1].plot(seen, log["holdout_missed_firing_pct"], marker=".", label=name)
        axs[2].plot(seen, log["holdout_spike_count_err_pct"], marker=".", label=name)
        axs[3].plot(seen, [1000 * v for v in log["learning_rate"]], marker=".", label=name)
    axs[0].set_ylabel("training rel. L4")
    axs[1].set_ylabel("held-out missed\nfiring (%)")
    axs[1].axhline(10, color="0.5", ls=":", lw=1)
    axs[1].text(0.0, 11, "target 10% (on unseen currents)", color="0.4", fontsize=7)
    axs[2].set_ylabel("held-out spike-count\nerror (%)")
    axs[2].axhline(15, color="0.5", ls=":", lw=1)
    axs[3].set_ylabel("learning rate\n(x 1e-3)")
    axs[3].set_xlabel("training traces seen (thousands; batch 8)")
    axs[0].legend(fontsize=7)
    axs[0].set_title("Laptop model (4 x 24 x 256, 3,200 traces of 50 HoFs): when does it fire?")
    fig.tight_layout()
    out = args.out
    save_figure(fig, out.stem, out.parent, formats=("png",))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
