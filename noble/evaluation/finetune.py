"""Fine-tuning on the sag amplitude (paper Table 3): L = L_data + lambda * L_sag.

``L_data`` is the relative L4 voltage error per trace averaged over the batch; ``L_sag`` is the batch's squared
relative L2 error of the differentiable sag amplitude (:func:`noble.training.losses.sag_amplitude`: steady
state = mean V over the last 10% of the stimulus, minimum = softmin with temperature 50 over the stimulus
window, V in mV), the truth's sag computed the same way. Adam at 5e-4 with ReduceLROnPlateau (factor 0.4,
patience 12) on the epoch loss. Only train-HoF traces with negative, non-zero amplitudes are used. The loss is
the training loop's objective option :class:`noble.training.epoch.SagObjective`, stepped by the same pass
(:func:`noble.training.epoch.optimize_epoch`). Units: nA, mV, ms.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from noble.model import NobleModel
from noble.progress import tqdm
from noble.training.data import TraceDataset
from noble.training.epoch import SagObjective, optimize_epoch, seeded_order
from noble.training.losses import relative_lp, sag_amplitude

#: Traces whose true sag amplitude is below this (mV) are left out of the bounded sag error (and counted).
MIN_SAG_MV = 0.1


@dataclass(frozen=True)
class SagFinetuneConfig:
    """Settings of the sag fine-tuning; defaults are the paper's."""

    weight: float = 25.0  # lambda
    epochs: int = 300
    batch_size: int = 64
    learning_rate: float = 5e-4
    plateau_factor: float = 0.4
    plateau_patience: int = 12
    temperature: float = 50.0
    seed: int = 0
    max_minutes: float | None = None


def negative_step_rows(dataset: TraceDataset, hofs: Sequence[int]) -> np.ndarray:
    """Rows of ``hofs`` with negative, non-zero amplitudes."""
    return np.flatnonzero(np.isin(dataset.hof, list(hofs)) & (dataset.amplitude < 0))


@torch.no_grad()
def sag_metrics(model: NobleModel, dataset: TraceDataset, rows: np.ndarray, temperature: float = 50.0,
                batch_size: int = 128) -> dict[str, float]:
    """Voltage and sag errors (percent) over ``rows``.

    ``voltage_rel_l2_pct``: mean per-trace relative L2 voltage error; ``sag_rel_error_pct``: mean per-trace
    relative sag error ``|s_hat - s| / (|s| + 1e-6)`` (the paper's feature-error convention; it grows without
    bound for traces whose true sag is near zero); ``sag_rel_l2_pct``: ``||s_hat - s||_2 / ||s||_2`` over the
    traces, which stays finite in that case; ``sag_rel_l2_bounded_pct``: the same over the traces whose true sag
    is at least :data:`MIN_SAG_MV` (0.1 mV), the others counted in ``n_small_sag``.
    """
    if rows.size == 0:
        return _empty_sag_metrics()
    device = next(model.parameters()).device
    window = torch.as_tensor(model.template.window(), device=device)
    terms = []
    model.eval()
    for i in range(0, rows.size, batch_size):
        r = rows[i:i + batch_size]
        true = torch.as_tensor(dataset.voltage[r], device=device)
        feats = torch.as_tensor(model.features_for_hofs(dataset.hof[r].tolist()), device=device)
        pred = model(torch.as_tensor(dataset.amplitude[r], device=device), feats)
        terms.append(_sag_terms(pred, true, window, temperature))
    return _sag_summary(terms)


@torch.no_grad()
def sag_metrics_of_traces(pred_mV: np.ndarray, true_mV: np.ndarray, window: np.ndarray, temperature: float = 50.0,
                          batch_size: int = 128) -> dict[str, float]:
    """:func:`sag_metrics` of given predictions ``[N, T]`` (mV) against the true traces, e.g. of a baseline;
    ``window`` is the stimulus window ``[T]`` of the model's template (1 inside the step)."""
    pred_mV, true_mV = np.asarray(pred_mV, dtype=np.float32), np.asarray(true_mV, dtype=np.float32)
    if pred_mV.shape != true_mV.shape or pred_mV.ndim != 2:
        raise ValueError(f"predictions {pred_mV.shape} and true traces {true_mV.shape} must both be [N, T]")
    if pred_mV.shape[0] == 0:
        return _empty_sag_metrics()
    w = torch.as_tensor(np.asarray(window, dtype=np.float32))
    terms = [_sag_terms(torch.as_tensor(pred_mV[i:i + batch_size]), torch.as_tensor(true_mV[i:i + batch_size]), w,
                        temperature) for i in range(0, pred_mV.shape[0], batch_size)]
    return _sag_summary(terms)


def _empty_sag_metrics() -> dict[str, float]:
    return {"voltage_rel_l2_pct": math.nan, "sag_rel_error_pct": math.nan, "sag_rel_l2_pct": math.nan,
            "sag_rel_l2_bounded_pct": math.nan, "n_small_sag": 0, "n": 0}


def _sag_terms(pred: torch.Tensor, true: torch.Tensor, window: torch.Tensor, temperature: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per trace of one batch: voltage rel. L2, relative sag error, and the (predicted, true) sag pairs (mV)."""
    s_true = sag_amplitude(true, window, temperature)
    s_pred = sag_amplitude(pred, window, temperature)
    return (relative_lp(pred, true, 2).cpu().numpy(), ((s_pred - s_true).abs() / (s_true.abs() + 1e-6)).cpu().numpy(),
            torch.stack([s_pred, s_true], dim=1).cpu().numpy())


def _sag_summary(terms: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, float]:
    v_err = np.concatenate([t[0] for t in terms])
    s_err = np.concatenate([t[1] for t in terms])
    pairs = np.concatenate([t[2] for t in terms])
    norm_ratio = np.linalg.norm(pairs[:, 0] - pairs[:, 1]) / max(float(np.linalg.norm(pairs[:, 1])), 1e-12)
    big = np.abs(pairs[:, 1]) >= MIN_SAG_MV
    bounded = (float(np.linalg.norm(pairs[big, 0] - pairs[big, 1]) / np.linalg.norm(pairs[big, 1]))
               if big.any() else math.nan)
    return {"voltage_rel_l2_pct": float(100 * v_err.mean()),
            "sag_rel_error_pct": float(100 * s_err.mean()),
            "sag_rel_l2_pct": float(100 * norm_ratio),
            "sag_rel_l2_bounded_pct": 100 * bounded, "n_small_sag": int((~big).sum()), "n": int(v_err.size)}


def finetune_sag(
    model: NobleModel,
    dataset: TraceDataset,
    rows: np.ndarray | None = None,
    config: SagFinetuneConfig = SagFinetuneConfig(),
    eval_rows: np.ndarray | None = None,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Fine-tune ``model`` in place; returns one row of metrics per epoch (evaluated on ``eval_rows`` if given)."""
    if rows is None:
        rows = negative_step_rows(dataset, model.train_hofs)
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        raise ValueError(f"{dataset.path}: no train-HoF traces with negative amplitudes to fine-tune on")
    device = next(model.parameters()).device
    window = torch.as_tensor(model.template.window(), device=device)
    volt = torch.as_tensor(dataset.voltage[rows], device=device)
    amp = torch.as_tensor(dataset.amplitude[rows], device=device)
    feats = torch.as_tensor(model.features_for_hofs(dataset.hof[rows].tolist()), device=device)
    with torch.no_grad():
        sag_true = torch.cat([sag_amplitude(volt[i:i + 256], window, config.temperature) for i in range(0, len(rows), 256)])
    opt = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=config.plateau_factor, patience=config.plateau_patience)
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    objective = SagObjective(volt, sag_true, window, config.weight, config.temperature)
    for epoch in tqdm(range(config.epochs), desc="sag fine-tuning", disable=not progress):
        order = seeded_order(rows.size, config.seed * 7919 + epoch).to(device)
        epoch_loss = optimize_epoch(model, opt, order, config.batch_size, amp, feats, objective).per_batch
        sched.step(epoch_loss)
        row = {"epoch": epoch + 1, "loss": epoch_loss, "learning_rate": opt.param_groups[0]["lr"]}
        if eval_rows is not None:
            row.update(sag_metrics(model, dataset, eval_rows, config.temperature))
        history.append(row)
        if config.max_minutes is not None and time.perf_counter() - t0 > 60 * config.max_minutes:
            break
    model.eval()
    return history
