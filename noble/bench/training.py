"""Training throughput on the CPU: samples per second of one configuration, today's one-process path beside
data-parallel processes (:mod:`noble.training.parallel`), measured in one run on the same traces.

The traces are synthetic (:mod:`noble.training.synthetic`) on the paper's grid (8,583 samples, 0.06 ms): the
cost of a training step depends on the grid and the network, not on what the traces show. Each setting trains
the same seeded run for ``epochs`` epochs; the first epoch is warm-up, and samples per second is the training
rows of the later epochs over their optimisation time (evaluation excluded). The loss curves of the
data-parallel rows are compared with the one-process row (they agree up to floating-point summation order).
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from noble.errors import NobleError

#: Columns of the training-throughput table.
COLUMNS = ("config", "workers", "threads_per_worker", "n_train", "batch_size", "epochs_timed", "train_s",
           "samples_per_s", "speedup_vs_first", "loss_max_rel_diff", "note")


class TrainingBenchError(NobleError):
    """The training benchmark cannot run as asked."""


@dataclass(frozen=True)
class TrainingBenchSettings:
    """What :func:`training_throughput` times."""

    config: str = "laptop"  # a shipped training configuration (noble.training.load_config)
    settings: tuple[tuple[int, int], ...] = ((1, 2), (1, 1), (2, 1))  # (workers, torch threads per worker)
    n_traces: int = 176  # synthetic traces; 10% are held out for the per-epoch evaluation
    n_hofs: int = 8
    epochs: int = 3  # the first is warm-up
    batch_size: int | None = None  # None: the configuration's


def _synthetic_split(n_traces: int, n_hofs: int, seed: int = 0):
    """Synthetic traces of ``n_hofs`` made-up HoF models on the paper's grid; (dataset path, table, train, test)."""
    from noble.sim.protocol import PAPER_TEMPLATE, grid_protocol
    from noble.sim.traces import write_dataset
    from noble.training.synthetic import synthetic_traces

    if n_hofs < 2:
        raise TrainingBenchError(f"n_hofs must be at least 2 (one is a test HoF), not {n_hofs}")
    rng = np.random.default_rng(seed)
    table = {h: {"slope": 700.0 + 10.0 * h, "intercept": 0.012 + 0.001 * h} for h in range(n_hofs)}
    hofs = np.arange(n_traces) % (n_hofs - 1)  # the last HoF is the test HoF and gets no traces
    amps = rng.uniform(-0.11, 0.28, n_traces)
    volt = synthetic_traces(amps, [table[h]["intercept"] for h in hofs], [table[h]["slope"] for h in hofs],
                            PAPER_TEMPLATE)
    path = Path(tempfile.mkdtemp(prefix="noble-train-bench-")) / "synthetic.h5"
    write_dataset(path, volt, amps, hofs, grid_protocol(PAPER_TEMPLATE), cell="synthetic_cell", engine="synthetic",
                  seed=seed)
    return path, table, list(range(n_hofs - 1)), [n_hofs - 1]


def training_throughput(settings: TrainingBenchSettings = TrainingBenchSettings(),
                        log: Callable[[str], None] | None = print) -> list[dict[str, object]]:
    """One row per (workers, threads) setting: samples per second of training, its speed-up over the first
    setting and the largest relative difference of its per-epoch training loss from the first setting's."""
    from noble.training import load_config, read_dataset, train

    if settings.epochs < 2:
        raise TrainingBenchError(f"epochs must be at least 2 (the first is warm-up), not {settings.epochs}")
    cores = os.cpu_count() or 1
    for workers, threads in settings.settings:
        if workers < 1 or threads < 1 or workers * threads > cores:
            raise TrainingBenchError(f"{workers} workers x {threads} threads does not fit this machine's {cores} "
                                     "CPU cores")
    path, table, train_hofs, test_hofs = _synthetic_split(settings.n_traces, settings.n_hofs)
    dataset = read_dataset(path)
    base = load_config(settings.config)
    config = base.with_training(epochs=settings.epochs, batch_size=settings.batch_size, checkpoint_every=0,
                                max_minutes=None, hold_epochs=min(base.training.hold_epochs, settings.epochs))
    rows: list[dict[str, object]] = []
    first_loss: np.ndarray | None = None
    first_rate: float | None = None
    before = torch.get_num_threads()
    try:
        for workers, threads in settings.settings:
            torch.set_num_threads(threads)
            with tempfile.TemporaryDirectory(prefix="noble-train-bench-run-") as out:
                t0 = time.perf_counter()
                result = train(dataset, config, out, feature_table=table, train_hofs=train_hofs,
                               test_hofs=test_hofs, workers=workers, progress=False)
                wall = time.perf_counter() - t0
                n_train = int(json.loads((Path(out) / "model_card.json").read_text())["training"]["n_train"])
            timed = result.history[1:]
            train_s = float(sum(r["train_time_s"] for r in timed))  # the optimisation passes, as timed
            rate = n_train * len(timed) / train_s
            loss = np.array([r["train_loss"] for r in result.history])
            if first_loss is None:
                first_loss, first_rate = loss, rate
            diff = float(np.max(np.abs(loss - first_loss) / np.abs(first_loss)))
            rows.append({"config": settings.config, "workers": workers, "threads_per_worker": threads,
                         "n_train": n_train, "batch_size": config.training.batch_size, "epochs_timed": len(timed),
                         "train_s": train_s, "samples_per_s": rate, "speedup_vs_first": rate / first_rate,
                         "loss_max_rel_diff": diff, "note": f"wall {wall:.1f} s incl. warm-up and evaluation"})
            if log is not None:
                log(f"[noble bench train] {workers} worker(s) x {threads} thread(s): {rate:.1f} samples/s "
                    f"({rate / first_rate:.2f}x the first row; loss curve max rel. diff {diff:.1e})")
    finally:
        torch.set_num_threads(before)
        for p in path.parent.iterdir():
            p.unlink()
        path.parent.rmdir()
    return rows


def format_rows(rows: Sequence[dict[str, object]]) -> str:
    """The table as aligned text."""
    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1e-2 or abs(v) >= 1e4 else f"{v:.2f}"
        return str(v)

    table = [list(COLUMNS)] + [[cell(r.get(c, "")) for c in COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths)) for line in table)


__all__ = ["COLUMNS", "TrainingBenchError", "TrainingBenchSettings", "format_rows", "training_throughput"]
