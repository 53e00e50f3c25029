"""One optimisation pass over a set of traces, shared by training and fine-tuning.

A pass takes the rows in a given order, predicts each batch, asks a :class:`BatchObjective` for the scalar to
minimise, and steps the optimiser. What differs between the paper's training (relative L^p per trace) and the
Table 3 fine-tuning (relative L4 plus lambda times the sag error) is only the objective, so both run through
:func:`optimize_epoch`. Units: current nA, voltage mV.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch

from noble.training.losses import (relative_l2_squared, relative_lp, relative_quantile_lp, relative_smooth_l2,
                                   sag_amplitude)

if TYPE_CHECKING:  # typing only: noble.training.parallel does not import this module
    from noble.training.parallel import GradientReducer


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Mixed-precision context on CUDA when ``dtype`` is set; a no-op otherwise."""
    if dtype is None or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=dtype)


class BatchObjective(Protocol):
    """The loss of one batch: ``(scalar to minimise, per-trace values [B] to log, or None)``."""

    def __call__(self, pred_mV: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]: ...


@dataclass(frozen=True)
class RelativeLpObjective:
    """The paper's loss: the relative L^p error of each trace (:func:`relative_lp`), averaged over the batch;
    with ``quantile_weight`` > 0, plus that weight times the timing-free :func:`relative_quantile_lp` of the trace;
    with ``smooth_weight`` > 0, plus that weight times the slow-voltage error :func:`relative_smooth_l2` (Gaussian of
    ``smooth_samples`` samples).

    ``voltage_mV`` ``[N, T]`` holds the targets; ``rows`` index it.
    """

    voltage_mV: torch.Tensor
    p: int = 4
    quantile_weight: float = 0.0
    smooth_weight: float = 0.0
    smooth_samples: float = 0.0

    def __call__(self, pred_mV: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pred, target = pred_mV.float(), self.voltage_mV[rows]
        per_trace = relative_lp(pred, target, self.p)
        if self.quantile_weight:
            per_trace = per_trace + self.quantile_weight * relative_quantile_lp(pred, target, self.p)
        if self.smooth_weight:
            per_trace = per_trace + self.smooth_weight * relative_smooth_l2(pred, target, self.smooth_samples)
        return per_trace.mean(), per_trace


@dataclass(frozen=True)
class SagObjective:
    """Table 3's loss ``L_data + weight * L_sag``: the batch-mean relative L4 error plus ``weight`` times the
    batch's squared relative L2 error of the differentiable sag amplitude (mV) against ``sag_true_mV`` ``[N]``
    over the stimulus ``window`` ``[T]`` (:func:`sag_amplitude` at ``temperature``)."""

    voltage_mV: torch.Tensor
    sag_true_mV: torch.Tensor
    window: torch.Tensor
    weight: float
    temperature: float = 50.0

    def __call__(self, pred_mV: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, None]:
        data_loss = relative_lp(pred_mV, self.voltage_mV[rows], 4).mean()
        sag_loss = relative_l2_squared(sag_amplitude(pred_mV, self.window, self.temperature), self.sag_true_mV[rows])
        return data_loss + self.weight * sag_loss, None


@dataclass(frozen=True)
class EpochLoss:
    """Mean losses of a pass: over the traces (NaN when the objective gives no per-trace values) and over the
    batches (the mean of the minimised scalars)."""

    per_trace: float
    per_batch: float


def seeded_order(n: int, seed: int) -> torch.Tensor:
    """A permutation of ``range(n)`` drawn from its own generator seeded with ``seed`` (CPU, int64)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def optimize_epoch(
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    order: torch.Tensor,
    batch_size: int,
    amplitude_nA: torch.Tensor,
    features: torch.Tensor,
    objective: BatchObjective,
    grad_scaler: torch.amp.GradScaler | None = None,
    amp_dtype: torch.dtype | None = None,
    reducer: "GradientReducer | None" = None,
) -> EpochLoss:
    """Step ``optimizer`` once per batch of ``order`` (row indices into the inputs and the objective's targets).

    With ``reducer`` (:class:`noble.training.parallel.GradientReducer`) this process takes its share of every
    batch and the gradients and logged losses are summed over the processes, which then all take the full
    batch's step.
    """
    device = amplitude_nA.device
    net.train()
    trace_total = torch.zeros((), device=device, dtype=torch.float64)
    batch_total = torch.zeros((), device=device, dtype=torch.float64)
    n = int(order.numel())
    n_batches, logged = math.ceil(n / batch_size), True
    for b in range(n_batches):
        idx = order[b * batch_size:(b + 1) * batch_size]
        rows = idx if reducer is None else reducer.shard(idx)
        optimizer.zero_grad(set_to_none=True)
        loss, per_trace = torch.zeros((), device=device), None
        if rows.numel():
            with autocast(device, amp_dtype):
                pred = net(amplitude_nA[rows], features[rows])
            loss, per_trace = objective(pred, rows)
            if reducer is not None:
                loss = loss * (rows.numel() / idx.numel())  # the summed gradient is then the batch mean's
        if rows.numel():
            (loss if grad_scaler is None else grad_scaler.scale(loss)).backward()
        if reducer is not None:
            reducer.sum_gradients_(net)
        if grad_scaler is None:
            optimizer.step()
        else:
            grad_scaler.step(optimizer)
            grad_scaler.update()
        batch_total += loss.detach().double()
        if per_trace is None:
            logged = logged and reducer is not None and not rows.numel()
        else:
            trace_total += per_trace.detach().double().sum()
    if reducer is not None:
        totals = reducer.sum_(torch.stack([trace_total, batch_total]))
        trace_total, batch_total = totals[0], totals[1]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return EpochLoss(float(trace_total) / n if logged and n else math.nan, float(batch_total) / max(n_batches, 1))


__all__ = ["BatchObjective", "EpochLoss", "RelativeLpObjective", "SagObjective", "autocast", "optimize_epoch",
           "seeded_order"]
