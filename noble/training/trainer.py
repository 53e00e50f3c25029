"""The small trainer behind :func:`noble.training.loop.train`: one run's model, optimiser, schedulers and the
tensors of its split, with one method per thing an epoch does (learning rate, training pass, held-out
evaluation and selection score, resume state).

Units: current nA, voltage mV, time ms. The training pass is :func:`noble.training.epoch.optimize_epoch` with
the paper's relative L^p objective, in the order drawn from ``(seed, epoch)`` so a resumed run repeats it.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch

from noble.embedding import feature_rows
from noble.errors import NobleError
from noble.fast.optimizer_layout import optimizer_state_from_neuralop
from noble.model import NobleModel, build_fno
from noble.spikes import FiringReport, firing_report, firing_selection_score, spike_counts, window_mask
from noble.training.config import RunConfig, TrainConfig
from noble.training.data import DataSplit, TraceDataset
from noble.training.epoch import RelativeLpObjective, autocast, optimize_epoch, seeded_order
from noble.training.losses import relative_lp
from noble.training.parallel import GradientReducer


class TrainingError(NobleError):
    """A training run that cannot start or resume as asked."""


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"device {name!r} asked for, but no CUDA GPU is available")
    return torch.device(name)


#: Tag of the optimizer state in resume files: the parameter layout of :class:`noble.fast.FastFNO`.
OPTIMIZER_LAYOUT = "noble.fast.FastFNO"


def optimizer_state_for(model: NobleModel, state: Mapping[str, Any]) -> Mapping[str, Any]:
    """The optimizer state of a resume file in ``model``'s layout (files without the layout tag hold neuralop's)."""
    if state.get("optimizer_layout") == OPTIMIZER_LAYOUT:
        return state["optimizer"]
    with torch.random.fork_rng(devices=[]):
        reference = build_fno(model.config, model.spec.in_channels)
    return optimizer_state_from_neuralop(model.fno, reference, state["optimizer"])


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


@torch.no_grad()
def mean_errors(
    model: NobleModel, amp: torch.Tensor, feats: torch.Tensor, volt: torch.Tensor, rows: torch.Tensor,
    batch: int,
    amp_dtype: torch.dtype | None = None,
    mask: np.ndarray | None = None,
) -> tuple[float, float, np.ndarray | None]:
    """Mean relative L4 and L2 voltage errors over ``rows`` of ``model``; NaN for an empty set.

    With ``mask`` (the stimulus window on the time grid) also the predicted spike counts of ``rows``
    (:func:`noble.spikes.spike_counts`), else ``None``.
    """
    if rows.numel() == 0:
        return float("nan"), float("nan"), None
    was = model.training
    model.eval()
    l4 = torch.zeros((), device=volt.device, dtype=torch.float64)
    l2 = torch.zeros((), device=volt.device, dtype=torch.float64)
    counts = []
    for start in range(0, rows.numel(), batch):
        idx = rows[start:start + batch]
        with autocast(volt.device, amp_dtype):
            pred = model(amp[idx], feats[idx])
        pred = pred.float()
        l4 += relative_lp(pred, volt[idx], 4).double().sum()
        l2 += relative_lp(pred, volt[idx], 2).double().sum()
        if mask is not None:
            counts.append(spike_counts(pred, mask))
    model.train(was)
    n = rows.numel()
    return float(l4) / n, float(l2) / n, (np.concatenate(counts) if mask is not None else None)


def holdout_metrics(
    model: NobleModel, amp: torch.Tensor, feats: torch.Tensor, volt: torch.Tensor, rows: torch.Tensor,
    batch: int, mask: np.ndarray, true_counts: np.ndarray, amp_dtype: torch.dtype | None = None,
) -> tuple[float, float, FiringReport | None]:
    """:func:`mean_errors` over ``rows`` and the firing accounting of their predictions against ``true_counts``
    (the PDE spike counts of ``rows``); the report is ``None`` for an empty set."""
    l4, l2, counts = mean_errors(model, amp, feats, volt, rows, batch, amp_dtype, mask)
    return l4, l2, (firing_report(counts, true_counts) if counts is not None else None)


def cosine_lr(base_lr: float, epoch: int, epochs: int, min_fraction: float, hold_epochs: int = 0) -> float:
    """Learning rate of ``epoch`` (0-based): ``base_lr`` for the first ``hold_epochs`` epochs, then a cosine from
    ``base_lr`` down to ``base_lr * min_fraction`` at the last epoch."""
    decay = epochs - hold_epochs
    if epoch < hold_epochs or decay <= 1:
        return base_lr
    low = base_lr * min_fraction
    step = min(epoch - hold_epochs, decay - 1)
    return low + 0.5 * (base_lr - low) * (1.0 + math.cos(math.pi * step / (decay - 1)))


def run_epoch(net: NobleModel, optimizer: torch.optim.Optimizer, grad_scaler: torch.amp.GradScaler, tc: TrainConfig,
              epoch: int, train_rows: torch.Tensor, amp: torch.Tensor, feats: torch.Tensor, volt: torch.Tensor,
              amp_dtype: torch.dtype | None, reducer: GradientReducer | None = None) -> float:
    """One pass over the training rows in the epoch's seeded order (Adam steps on the relative L^p loss, plus the
    quantile and slow-voltage terms when ``tc.quantile_weight`` / ``tc.smooth_weight`` are set); returns the mean
    per-trace loss of the epoch. With ``reducer`` this process takes its share of each batch
    (:mod:`noble.training.parallel`)."""
    order = train_rows[seeded_order(int(train_rows.numel()), tc.seed * 1_000_003 + epoch).to(volt.device)]
    objective = RelativeLpObjective(volt, tc.loss_p, tc.quantile_weight, tc.smooth_weight,
                                    tc.smooth_ms / float(net.template.dt_ms))
    loss = optimize_epoch(net, optimizer, order, tc.batch_size, amp, feats, objective, grad_scaler, amp_dtype, reducer)
    return loss.per_trace


class Trainer:
    """The state of one run: model, optimiser, schedulers and the tensors of its split, with one method per
    thing an epoch does (train, evaluate, record); :func:`train` drives it."""

    def __init__(self, model: NobleModel, config: RunConfig, dataset: TraceDataset, split: DataSplit,
                 table: Mapping[int, Mapping[str, float]], device: torch.device,
                 reducer: GradientReducer | None = None) -> None:
        tc = self.tc = config.training
        self.model, self.device, self.reducer = model, device, reducer
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(tc.amp) if device.type == "cuda" else None
        self.optimizer = torch.optim.Adam(model.parameters(), lr=tc.learning_rate, weight_decay=tc.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=tc.plateau_factor, patience=tc.plateau_patience
        )
        self.grad_scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        names = config.embedding.features
        self.volt = torch.as_tensor(dataset.voltage, device=device)
        self.amp = torch.as_tensor(dataset.amplitude, device=device)
        self.feats = torch.as_tensor(feature_rows(table, dataset.hof.tolist(), names), device=device)
        self.train_rows = torch.as_tensor(split.train, device=device)
        self.hold_rows = torch.as_tensor(split.holdout, device=device)
        self.test_rows = torch.as_tensor(split.test_hofs, device=device)
        self.window = window_mask(dataset.time, dataset.template.delay_ms,
                                  dataset.template.delay_ms + dataset.template.duration_ms)
        self.hold_counts = spike_counts(dataset.voltage[split.holdout], self.window)
        self.n_batches = math.ceil(int(split.train.size) / tc.batch_size)
        self.has_holdout = bool(split.holdout.size)

    def set_learning_rate(self, epoch: int) -> None:
        """The cosine schedule's rate for ``epoch`` (0-based); the plateau schedule sets its own."""
        if self.tc.schedule == "cosine":
            for group in self.optimizer.param_groups:
                group["lr"] = cosine_lr(self.tc.learning_rate, epoch, self.tc.epochs, self.tc.min_lr_fraction,
                                        self.tc.hold_epochs)

    def train_epoch(self, epoch: int) -> float:
        """One pass over the training rows; the mean per-trace loss."""
        loss = run_epoch(self.model, self.optimizer, self.grad_scaler, self.tc, epoch, self.train_rows, self.amp,
                         self.feats, self.volt, self.amp_dtype, self.reducer)
        if not math.isfinite(loss):
            raise TrainingError(f"training loss became {loss} at epoch {epoch + 1}: lower the learning rate")
        return loss

    def evaluate(self) -> tuple[tuple[float, float], tuple[float, float], FiringReport | None, float]:
        """Held-out rel. L4/L2, test-HoF rel. L4/L2, the held-out firing report and the selection score."""
        tc = self.tc
        h4, h2, firing = holdout_metrics(self.model, self.amp, self.feats, self.volt, self.hold_rows,
                                         tc.eval_batch_size, self.window, self.hold_counts, self.amp_dtype)
        t4, t2, _ = mean_errors(self.model, self.amp, self.feats, self.volt, self.test_rows, tc.eval_batch_size,
                                self.amp_dtype)
        score = firing_selection_score(h4, firing) if firing is not None else float("nan")
        return (h4, h2), (t4, t2), firing, score

    def step_plateau(self, train_loss: float, score: float) -> None:
        """Step the plateau scheduler on the training loss (the paper's) or the held-out selection score."""
        if self.tc.schedule == "plateau":
            watched = score if self.tc.plateau_metric == "selection" and math.isfinite(score) else train_loss
            self.scheduler.step(watched)

    def monitor(self, train_loss: float, holdout_l4: float, score: float) -> float:
        """What the saved weights minimise: the selection criterion on the held-out rows, else the training loss."""
        if not self.has_holdout:
            return train_loss
        return score if self.tc.selection == "firing" else holdout_l4

    def state(self) -> dict[str, Any]:
        """Weights, optimiser, schedulers and RNG states for the resume file."""
        return {"model": self.model.weight_tensors(), "optimizer": self.optimizer.state_dict(),
                "optimizer_layout": OPTIMIZER_LAYOUT, "scheduler": self.scheduler.state_dict(), "rng": _rng_state(),
                "grad_scaler": self.grad_scaler.state_dict()}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load what :meth:`state` saved (the weights are loaded before the optimiser is built)."""
        self.optimizer.load_state_dict(optimizer_state_for(self.model, state))
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("grad_scaler"):
            self.grad_scaler.load_state_dict(state["grad_scaler"])
        _set_rng_state(state["rng"])
