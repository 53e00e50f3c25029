"""Capacity check: can the architecture and the training loop fit spike trains at all?

The model is trained, with no held-out rows, on the spiking traces of one HoF model over a grid of amplitudes
and then scored on those same traces: the fraction of traces whose predicted spike count is within +/-1 of the
PDE's, and how well spike times line up (mean |t_pred - t_true| over spikes paired in order). A model that
cannot fire fails it whatever its voltage error. Neuron features are not embedded (one HoF model: they would
be constant), so the input is the current and its embedding only.

Units: current nA, voltage mV, time ms.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from noble.checkpoint import load_model
from noble.spikes import firing_report, spike_counts, spike_times, window_mask
from noble.training.config import RunConfig
from noble.training.data import TraceDataset
from noble.training.loop import train

#: Pass mark of the capacity check: traces with a spike count within +/-1 of the PDE's (percent).
WITHIN_ONE_TARGET_PCT = 90.0


def paired_timing_error_ms(pred: list[np.ndarray], true: list[np.ndarray]) -> float:
    """Mean |t_pred - t_true| (ms) over spikes paired in order (the first min(n_pred, n_true) of each trace)."""
    diffs = [np.abs(p[: min(p.size, q.size)] - q[: min(p.size, q.size)]) for p, q in zip(pred, true)]
    flat = np.concatenate(diffs) if diffs else np.array([])
    return float(flat.mean()) if flat.size else float("nan")


@dataclass(frozen=True)
class CapacityResult:
    """Scores of a capacity-check model on the traces it was fitted to."""

    n_traces: int
    epochs: int
    within_one_pct: float
    missed_firing_pct: float
    spike_count_rel_err_pct: float
    timing_error_ms: float
    passed: bool
    true_counts: tuple[int, ...]
    pred_counts: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def capacity_config(config: RunConfig, epochs: int) -> RunConfig:
    """``config`` with no neuron features, no held-out rows and ``epochs`` epochs, selecting the last epoch."""
    emb = replace(config.embedding, features=())
    training = replace(config.training, epochs=epochs, holdout_fraction=0.0, checkpoint_every=0,
                       schedule=config.training.schedule, max_minutes=None)
    return replace(config, name=f"{config.name}-capacity", embedding=emb, training=training)


def score_capacity(pred_mV: np.ndarray, dataset: TraceDataset, epochs: int) -> CapacityResult:
    """Score predictions ``[N, T]`` (mV) of every trace of ``dataset`` against its PDE traces."""
    tmpl = dataset.template
    mask = window_mask(dataset.time, tmpl.delay_ms, tmpl.delay_ms + tmpl.duration_ms)
    true_c, pred_c = spike_counts(dataset.voltage, mask), spike_counts(pred_mV, mask)
    report = firing_report(pred_c, true_c)
    timing = paired_timing_error_ms(spike_times(pred_mV, dataset.time, mask), spike_times(dataset.voltage, dataset.time, mask))
    within = 100.0 * float(np.mean(np.abs(pred_c - true_c) <= 1))
    return CapacityResult(len(dataset), epochs, within, report.missed_firing_pct, report.spike_count_rel_err_pct,
                          timing, within >= WITHIN_ONE_TARGET_PCT, tuple(int(c) for c in true_c),
                          tuple(int(c) for c in pred_c))


def run_capacity_check(dataset: TraceDataset, config: RunConfig, out_dir: str | Path, epochs: int,
                       hof: int, progress: bool = False) -> tuple[CapacityResult, np.ndarray]:
    """Train ``config`` (see :func:`capacity_config`) on every trace of ``dataset`` (one HoF model ``hof``).

    Returns the scores and the predictions ``[N, T]`` (mV) of the last epoch's weights.
    """
    hofs = np.unique(dataset.hof)
    if hofs.size != 1 or int(hofs[0]) != int(hof):
        raise ValueError(f"the capacity check fits one HoF model ({hof}); the dataset has {hofs.tolist()}")
    cfg = capacity_config(config, epochs)
    train(dataset, cfg, out_dir, feature_table={int(hof): {}}, train_hofs=[int(hof)], test_hofs=[],
          progress=progress)
    model = load_model(out_dir)
    pred = model.predict(dataset.amplitude, hofs=dataset.hof)
    return score_capacity(pred, dataset, epochs), pred


__all__ = ["WITHIN_ONE_TARGET_PCT", "CapacityResult", "capacity_config", "paired_timing_error_ms",
           "run_capacity_check", "score_capacity", "spike_times"]
