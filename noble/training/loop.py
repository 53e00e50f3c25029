"""Training a NOBLE model on a trace dataset: seeded, resumable, checkpointed, logged to CSV.

Length: about 460 lines; the resumable loop, its state file and the per-epoch held-out evaluation that selects
the checkpoint must stay in step, so they live together (one epoch's pass and its log row are functions).

Units: current nA, voltage mV, time ms. The loss is the relative L^p error per trace (p = 4 in the paper),
averaged over the batch; Adam; ReduceLROnPlateau stepped on the epoch's mean training loss (the paper's) or a
per-epoch cosine schedule with an optional constant hold (TrainConfig.schedule). The rows of HoF
models in the cell's test split never enter training nor the feature scaler; a random fraction of the train HoFs'
rows is held out as the "train-HoF test" set (unseen currents), which also selects the best checkpoint.

Engine: the steps and the per-epoch evaluation run through the model itself, whose FNO is
:class:`noble.fast.FastFNO` with the fixed spectral rule of :func:`noble.model.training_spectral`. Weights are
saved in neuralop's layout (:meth:`NobleModel.weight_tensors`); the optimizer state in the model's own layout,
tagged, and resume states of the earlier neuralop layout are converted when loaded
(:mod:`noble.fast.optimizer_layout`).

Output directory::

    model.safetensors, model_card.json   the selected epoch: lowest held-out selection score (TrainConfig.selection:
                                         "firing" = rel. L4 + missed + false firing + spike-count error, or
                                         "rel_l4"); the training loss when nothing is held out
    checkpoints/epoch_NNNN.safetensors   periodic weights (same card)
    state/last.pt                        resume state (weights, optimizer, scheduler, RNG states, history)
    metrics.csv                          one row per epoch
    split.json                           the row split (with the dataset's data-card SHA-256)
    run_config.json                      the run configuration
"""
from __future__ import annotations

import contextlib
import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from noble.checkpoint import (
    build_card,
    load_training_state,
    save_model,
    save_training_state,
    save_weights,
)
from noble.data import load_cell
from noble.embedding import FeatureScaler, FeatureTable, cell_feature_table, feature_rows
from noble.errors import NobleError
from noble.fast.optimizer_layout import optimizer_state_from_neuralop
from noble.model import NobleModel, build_fno
from noble.progress import tqdm
from noble.spikes import FiringReport, firing_report, firing_selection_score, spike_counts, window_mask
from noble.training.config import RunConfig, TrainConfig, config_from_dict
from noble.training.data import DataSplit, TraceDataset, read_dataset, split_rows
from noble.training.losses import relative_lp

CSV_FIELDS = (
    "epoch", "train_loss", "learning_rate", "holdout_rel_l4", "holdout_rel_l2", "test_hofs_rel_l4",
    "test_hofs_rel_l2", "epoch_time_s", "step_time_s", "elapsed_s",
    "holdout_missed_firing_pct", "holdout_false_firing_pct", "holdout_spike_count_err_pct", "holdout_selection_score",
)


class TrainingError(NobleError):
    """A training run that cannot start or resume as asked."""


@dataclass
class TrainResult:
    """What a finished (or stopped) run reports."""

    out_dir: Path
    epochs_completed: int
    best_epoch: int | None
    best_metric: float | None
    stopped: str  # "epochs" or "max_minutes"
    history: list[dict[str, float]] = field(default_factory=list)
    wall_time_s: float = 0.0

    @property
    def mean_step_time_s(self) -> float:
        times = [r["step_time_s"] for r in self.history if r.get("step_time_s")]
        return float(np.median(times)) if times else float("nan")


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


class _Loggers:
    """CSV always; TensorBoard and wandb only when asked."""

    def __init__(self, out: Path, config: RunConfig, resume_epoch: int) -> None:
        self.csv_path = out / "metrics.csv"
        rows: list[dict[str, str]] = []
        if resume_epoch and self.csv_path.is_file():
            with self.csv_path.open(newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["epoch"]) <= resume_epoch]
        with self.csv_path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        self.tb = None
        self.wandb = None
        if config.training.log_tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter  # lazy: optional logger
            except ImportError:
                raise TrainingError("TensorBoard logging asked for, but the tensorboard package is not installed") from None
            self.tb = SummaryWriter(str(out / "tensorboard"))
        if config.training.log_wandb:
            try:
                import wandb  # lazy: optional logger
            except ImportError:
                raise TrainingError("wandb logging asked for, but the wandb package is not installed") from None
            self.wandb = wandb.init(project="noble", name=config.name, config=config.as_dict(), dir=str(out))

    def log(self, row: Mapping[str, float]) -> None:
        with self.csv_path.open("a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=CSV_FIELDS).writerow({k: row.get(k, "") for k in CSV_FIELDS})
        if self.tb is not None:
            for k, v in row.items():
                if k != "epoch" and v is not None and math.isfinite(v):
                    self.tb.add_scalar(k, v, int(row["epoch"]))
        if self.wandb is not None:
            self.wandb.log(dict(row))

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Mixed-precision context on CUDA when ``dtype`` is set; a no-op otherwise."""
    if dtype is None or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=dtype)


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


def run_epoch(net: torch.nn.Module, optimizer: torch.optim.Optimizer, grad_scaler: torch.amp.GradScaler, tc: TrainConfig,
              epoch: int, train_rows: torch.Tensor, amp: torch.Tensor, feats: torch.Tensor, volt: torch.Tensor,
              amp_dtype: torch.dtype | None) -> float:
    """One pass over the training rows in the epoch's seeded order (Adam steps on the relative L^p loss);
    returns the mean per-trace loss of the epoch."""
    device = volt.device
    n_train = int(train_rows.numel())
    gen = torch.Generator().manual_seed(tc.seed * 1_000_003 + epoch)
    perm = train_rows[torch.randperm(n_train, generator=gen).to(device)]
    net.train()
    total = torch.zeros((), device=device, dtype=torch.float64)
    for b in range(math.ceil(n_train / tc.batch_size)):
        idx = perm[b * tc.batch_size:(b + 1) * tc.batch_size]
        with autocast(device, amp_dtype):
            pred = net(amp[idx], feats[idx])
        per_trace = relative_lp(pred.float(), volt[idx], tc.loss_p)
        optimizer.zero_grad(set_to_none=True)
        grad_scaler.scale(per_trace.mean()).backward()
        grad_scaler.step(optimizer)
        grad_scaler.update()
        total += per_trace.detach().double().sum()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return float(total) / n_train


def epoch_row(epoch: int, train_loss: float, learning_rate: float, holdout: tuple[float, float],
              test_hofs: tuple[float, float], firing: FiringReport | None, score: float, epoch_time_s: float,
              step_time_s: float, elapsed_s: float) -> dict[str, float]:
    """The metrics.csv row of an epoch (0-based ``epoch``): losses, rel. L4/L2 of the held-out and test-HoF
    traces, the held-out firing accounting (%) and the selection score, times (s)."""
    row = {"epoch": epoch + 1, "train_loss": train_loss, "learning_rate": learning_rate,
           "holdout_rel_l4": holdout[0], "holdout_rel_l2": holdout[1], "test_hofs_rel_l4": test_hofs[0],
           "test_hofs_rel_l2": test_hofs[1], "epoch_time_s": epoch_time_s, "step_time_s": step_time_s,
           "elapsed_s": elapsed_s}
    if firing is not None:
        row |= {"holdout_missed_firing_pct": firing.missed_firing_pct,
                "holdout_false_firing_pct": firing.false_firing_pct,
                "holdout_spike_count_err_pct": firing.spike_count_rel_err_pct,
                "holdout_selection_score": score}
    return row


def resolve_features(
    dataset: TraceDataset,
    feature_table: FeatureTable | None,
    train_hofs: Sequence[int] | None,
    test_hofs: Sequence[int] | None,
    cell_root: str | Path | None,
) -> tuple[dict[int, dict[str, float]], tuple[int, ...], tuple[int, ...], str]:
    """Feature table, split and where the features came from (``given`` when passed in, else the cell package's
    :attr:`noble.data.Cell.feature_source`: ``published`` or ``computed``)."""
    cell = None
    if feature_table is None or train_hofs is None or test_hofs is None:
        cell = load_cell(dataset.cell, root=cell_root)
    table = {int(h): dict(v) for h, v in (feature_table or cell_feature_table(cell)).items()}
    train = tuple(int(h) for h in (train_hofs if train_hofs is not None else cell.split.train))
    test = tuple(int(h) for h in (test_hofs if test_hofs is not None else cell.split.test))
    return table, train, test, ("given" if feature_table is not None else cell.feature_source)


def train(
    data: str | Path | TraceDataset,
    config: RunConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    feature_table: FeatureTable | None = None,
    train_hofs: Sequence[int] | None = None,
    test_hofs: Sequence[int] | None = None,
    cell_root: str | Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train (or with ``resume=True`` continue) a model; see the module docstring for the output directory."""
    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "state" / "last.pt"
    cfg_path = out / "run_config.json"
    tc = config.training
    if resume:
        if not state_path.is_file():
            raise TrainingError(f"{state_path}: nothing to resume (train without --resume first)")
        saved = config_from_dict(json.loads(cfg_path.read_text()), str(cfg_path))
        if (saved.model, saved.embedding) != (config.model, config.embedding):
            raise TrainingError(f"{cfg_path}: the run was started with another model or embedding configuration")
        frozen = ("batch_size", "learning_rate", "seed", "holdout_fraction", "loss_p", "plateau_factor", "plateau_patience")
        changed = [k for k in frozen if getattr(saved.training, k) != getattr(tc, k)]
        if changed:
            raise TrainingError(f"{cfg_path}: cannot resume with changed training settings {changed}")
    elif state_path.is_file():
        raise TrainingError(f"{out} already holds a run: pass --resume to continue it or choose another --out")
    cfg_path.write_text(json.dumps(config.as_dict(), indent=2) + "\n")

    dataset = data if isinstance(data, TraceDataset) else read_dataset(data)
    table, train_set, test_set, feature_source = resolve_features(dataset, feature_table, train_hofs, test_hofs,
                                                                  cell_root)
    split = split_rows(dataset.hof, train_set, test_set, tc.holdout_fraction, tc.seed)
    if split.train.size == 0:
        raise TrainingError(f"{dataset.path}: no training traces (no rows of train HoF models)")
    (out / "split.json").write_text(json.dumps({"data_card_sha256": dataset.data_card_sha256, **split.as_dict()}) + "\n")

    names = config.embedding.features
    used_train_hofs = sorted(set(dataset.hof[split.train].tolist()))
    scaler = FeatureScaler.fit(table, used_train_hofs, names, config.embedding.feature_range)
    card_table = {h: {n: float(table[h][n]) for n in names} for h in sorted(set(train_set) | set(test_set)) if h in table}

    device = pick_device(tc.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = tc.tf32
        torch.backends.cudnn.allow_tf32 = tc.tf32
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(tc.amp) if device.type == "cuda" else None

    torch.manual_seed(tc.seed)
    model = NobleModel(config.model, config.embedding, scaler, dataset.template, card_table,
                       train_hofs=train_set, test_hofs=test_set, cell=dataset.cell).to(device)
    state = None
    if resume:
        state = load_training_state(state_path)
        if state["data_card_sha256"] != dataset.data_card_sha256:
            raise TrainingError(f"{dataset.path}: not the dataset this run was started on (data card differs)")
        model.load_weight_tensors(state["model"])
    optimizer = torch.optim.Adam(model.parameters(), lr=tc.learning_rate, weight_decay=tc.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=tc.plateau_factor, patience=tc.plateau_patience
    )
    scaler_amp = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    volt = torch.as_tensor(dataset.voltage, device=device)
    amp = torch.as_tensor(dataset.amplitude, device=device)
    feats = torch.as_tensor(feature_rows(table, dataset.hof.tolist(), names), device=device)
    train_rows = torch.as_tensor(split.train, device=device)
    hold_rows = torch.as_tensor(split.holdout, device=device)
    test_rows = torch.as_tensor(split.test_hofs, device=device)
    window = window_mask(dataset.time, dataset.template.delay_ms,
                         dataset.template.delay_ms + dataset.template.duration_ms)
    hold_counts = spike_counts(dataset.voltage[split.holdout], window)

    start_epoch, best, best_epoch, history, elapsed_before = 0, math.inf, None, [], 0.0
    if state is not None:
        optimizer.load_state_dict(optimizer_state_for(model, state))
        scheduler.load_state_dict(state["scheduler"])
        if state.get("grad_scaler"):
            scaler_amp.load_state_dict(state["grad_scaler"])
        _set_rng_state(state["rng"])
        start_epoch = int(state["epoch"])
        best = float(state["best"])
        best_epoch = state["best_epoch"] if state["best_epoch"] >= 0 else None
        history = [dict(r) for r in state["history"]]
        elapsed_before = float(state["elapsed_s"])

    loggers = _Loggers(out, config, start_epoch)
    data_info = dataset.describe()
    training_info = {"config": config.as_dict(), "device": str(device), "engine": "fast",
                     "feature_source": feature_source,
                     "n_train": int(split.train.size),
                     "n_holdout": int(split.holdout.size), "n_test_hofs": int(split.test_hofs.size)}
    n_train = int(split.train.size)
    n_batches = math.ceil(n_train / tc.batch_size)
    stopped = "epochs"
    epochs = range(start_epoch, tc.epochs)
    bar = tqdm(epochs, desc="train", unit="epoch", disable=not progress, initial=start_epoch, total=tc.epochs)
    try:
        for epoch in bar:
            t_epoch = time.perf_counter()
            if tc.schedule == "cosine":
                for group in optimizer.param_groups:
                    group["lr"] = cosine_lr(tc.learning_rate, epoch, tc.epochs, tc.min_lr_fraction, tc.hold_epochs)
            train_loss = run_epoch(model, optimizer, scaler_amp, tc, epoch, train_rows, amp, feats, volt, amp_dtype)
            train_time = time.perf_counter() - t_epoch
            if not math.isfinite(train_loss):
                raise TrainingError(f"training loss became {train_loss} at epoch {epoch + 1}: lower the learning rate")
            h4, h2, firing = holdout_metrics(model, amp, feats, volt, hold_rows, tc.eval_batch_size, window,
                                             hold_counts, amp_dtype)
            t4, t2, _ = mean_errors(model, amp, feats, volt, test_rows, tc.eval_batch_size, amp_dtype)
            score = firing_selection_score(h4, firing) if firing is not None else float("nan")
            if tc.schedule == "plateau":
                watched = score if tc.plateau_metric == "selection" and math.isfinite(score) else train_loss
                scheduler.step(watched)
            elapsed = elapsed_before + time.perf_counter() - t_start
            row = epoch_row(epoch, train_loss, optimizer.param_groups[0]["lr"], (h4, h2), (t4, t2), firing, score,
                            time.perf_counter() - t_epoch, train_time / n_batches, elapsed)
            history.append(row)
            loggers.log(row)
            if not split.holdout.size:
                monitor = train_loss
            else:
                monitor = score if tc.selection == "firing" else h4
            if monitor < best:
                best, best_epoch = monitor, epoch + 1
                card = build_card(model, data=data_info, training={**training_info, "epoch": epoch + 1},
                                  metrics={k: v for k, v in row.items() if k != "epoch"} | {"best_epoch": epoch + 1},
                                  name=config.name)
                save_model(out, model, card)
            if tc.checkpoint_every and (epoch + 1) % tc.checkpoint_every == 0:
                save_weights(model, out / "checkpoints" / f"epoch_{epoch + 1:04d}.safetensors")
            save_training_state(state_path, {
                "epoch": epoch + 1, "model": model.weight_tensors(),
                "optimizer": optimizer.state_dict(), "optimizer_layout": OPTIMIZER_LAYOUT,
                "scheduler": scheduler.state_dict(), "rng": _rng_state(),
                "grad_scaler": scaler_amp.state_dict(),
                "best": best, "best_epoch": best_epoch if best_epoch is not None else -1, "history": history,
                "elapsed_s": elapsed, "data_card_sha256": dataset.data_card_sha256,
            })
            bar.set_postfix(loss=f"{train_loss:.4g}", holdout_l4=f"{h4:.4g}", lr=f"{row['learning_rate']:.2g}")
            if tc.max_minutes is not None and time.perf_counter() - t_start > tc.max_minutes * 60:
                stopped = "max_minutes"
                break
    finally:
        bar.close()
        loggers.close()
    return TrainResult(out, len(history), best_epoch, best if math.isfinite(best) else None, stopped, history,
                       time.perf_counter() - t_start)


def load_split(model_dir: str | Path) -> dict[str, Any] | None:
    """The row split a run recorded (``None`` when the directory has none)."""
    path = Path(model_dir) / "split.json"
    return json.loads(path.read_text()) if path.is_file() else None


__all__ = ["DataSplit", "TrainResult", "TrainingError", "load_split", "mean_errors", "pick_device", "train",
           "optimizer_state_for"]
