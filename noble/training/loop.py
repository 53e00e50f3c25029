"""Training a NOBLE model on a trace dataset: seeded, resumable, checkpointed, logged to CSV.

:func:`train` prepares a run (directory, split, scaler, model, optional initial weights) and drives a
:class:`noble.training.trainer.Trainer` epoch by epoch: learning rate, one pass, held-out evaluation, the log row,
the selected weights and the resume state. The pass itself is :func:`noble.training.epoch.optimize_epoch`, shared
with the sag fine-tuning of Table 3 (another objective, the same loop).

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
    CheckpointError,
    build_card,
    read_card,
    read_weight_tensors,
    load_training_state,
    save_model,
    save_training_state,
    save_weights,
)
from noble.data import load_cell
from noble.embedding import FeatureScaler, FeatureTable, cell_feature_table
from noble.model import ConfigError, NobleModel
from noble.progress import tqdm
from noble.spikes import FiringReport
from noble.training.config import RunConfig, config_from_dict
from noble.training.data import DataSplit, TraceDataset, read_dataset, split_rows
from noble.training.parallel import ParallelGroup, check_workers
from noble.training.trainer import Trainer, TrainingError, pick_device

CSV_FIELDS = (
    "epoch", "train_loss", "learning_rate", "holdout_rel_l4", "holdout_rel_l2", "test_hofs_rel_l4",
    "test_hofs_rel_l2", "epoch_time_s", "step_time_s", "elapsed_s",
    "holdout_missed_firing_pct", "holdout_false_firing_pct", "holdout_spike_count_err_pct", "holdout_selection_score",
    "train_time_s",
)


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


def epoch_row(epoch: int, train_loss: float, learning_rate: float, holdout: tuple[float, float],
              test_hofs: tuple[float, float], firing: FiringReport | None, score: float, epoch_time_s: float,
              step_time_s: float, elapsed_s: float, train_time_s: float) -> dict[str, float]:
    """The metrics.csv row of an epoch (0-based ``epoch``): losses, rel. L4/L2 of the held-out and test-HoF
    traces, the held-out firing accounting (%) and the selection score, times (s): the whole epoch, its
    optimisation pass alone (``train_time_s``) and that per batch (``step_time_s``)."""
    row = {"epoch": epoch + 1, "train_loss": train_loss, "learning_rate": learning_rate,
           "holdout_rel_l4": holdout[0], "holdout_rel_l2": holdout[1], "test_hofs_rel_l4": test_hofs[0],
           "test_hofs_rel_l2": test_hofs[1], "epoch_time_s": epoch_time_s, "step_time_s": step_time_s,
           "elapsed_s": elapsed_s, "train_time_s": train_time_s}
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


def check_run_directory(out: Path, config: RunConfig, resume: bool) -> Path:
    """Refuse a resume that would not continue the same run, or a fresh run over an existing one; writes
    ``run_config.json`` and returns the resume-state path."""
    state_path = out / "state" / "last.pt"
    cfg_path = out / "run_config.json"
    tc = config.training
    if resume:
        if not state_path.is_file():
            raise TrainingError(f"{state_path}: nothing to resume (train without --resume first)")
        saved = config_from_dict(json.loads(cfg_path.read_text()), str(cfg_path))
        if (saved.model, saved.embedding) != (config.model, config.embedding):
            raise TrainingError(f"{cfg_path}: the run was started with another model or embedding configuration")
        changed = [k for k in RESUME_FROZEN if getattr(saved.training, k) != getattr(tc, k)]
        if changed:
            raise TrainingError(f"{cfg_path}: cannot resume with changed training settings {changed}")
    elif state_path.is_file():
        raise TrainingError(f"{out} already holds a run: pass --resume to continue it or choose another --out")
    cfg_path.write_text(json.dumps(config.as_dict(), indent=2) + "\n")
    return state_path


#: Training settings a resumed run must share with the run it continues.
RESUME_FROZEN = ("batch_size", "learning_rate", "seed", "holdout_fraction", "loss_p", "quantile_weight",
                 "smooth_weight", "smooth_ms", "plateau_factor", "plateau_patience")


def initial_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """Weights to start a run from: a model directory written by ``noble train`` (its card's weights file, whose
    SHA-256 must match the card) or a ``.safetensors`` file; returns the tensors and their SHA-256."""
    path = Path(path)
    expected = None
    if path.is_dir():
        card, directory = read_card(path)
        expected = card["weights"].get("sha256")
        path = directory / card["weights"]["file"]
    if not path.is_file():
        raise TrainingError(f"{path}: initial weights not found (a model directory or a .safetensors file)")
    try:
        return read_weight_tensors(path, expected)
    except CheckpointError as err:
        raise TrainingError(str(err)) from None


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
    init_weights: str | Path | None = None,
    holdout_rows: Sequence[int] | None = None,
    workers: int = 1,
    progress: bool = True,
) -> TrainResult:
    """Train (or with ``resume=True`` continue) a model; see the module docstring for the output directory.

    ``init_weights`` (a model directory or ``.safetensors`` file of the same architecture) starts a fresh run
    from those weights instead of the seeded initialisation (e.g. full-resolution fine-tuning of a model trained
    on coarser traces; the FNO is resolution-agnostic); the card records their SHA-256. ``holdout_rows`` (rows of
    train HoF models) are held out for selection instead of a random ``holdout_fraction`` of them. ``workers`` > 1
    trains data-parallel on that many CPU processes of one thread each (:mod:`noble.training.parallel`; the same
    run up to floating-point summation order).
    """
    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if resume and init_weights is not None:
        raise TrainingError("init_weights starts a new run; a resumed run continues from its own state")
    state_path = check_run_directory(out, config, resume)
    tc = config.training

    dataset = data if isinstance(data, TraceDataset) else read_dataset(data)
    table, train_set, test_set, feature_source = resolve_features(dataset, feature_table, train_hofs, test_hofs,
                                                                  cell_root)
    split = split_rows(dataset.hof, train_set, test_set, tc.holdout_fraction, tc.seed, holdout_rows)
    if split.train.size == 0:
        raise TrainingError(f"{dataset.path}: no training traces (no rows of train HoF models)")
    (out / "split.json").write_text(json.dumps({"data_card_sha256": dataset.data_card_sha256, **split.as_dict()}) + "\n")

    names = config.embedding.features
    used_train_hofs = sorted(set(dataset.hof[split.train].tolist()))
    scaler = FeatureScaler.fit(table, used_train_hofs, names, config.embedding.feature_range)
    card_table = {h: {n: float(table[h][n]) for n in names} for h in sorted(set(train_set) | set(test_set)) if h in table}

    device = pick_device(tc.device)
    check_workers(workers, device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = tc.tf32
        torch.backends.cudnn.allow_tf32 = tc.tf32

    torch.manual_seed(tc.seed)
    model = NobleModel(config.model, config.embedding, scaler, dataset.template, card_table,
                       train_hofs=train_set, test_hofs=test_set, cell=dataset.cell).to(device)
    state, init_sha = None, None
    if resume:
        state = load_training_state(state_path)
        if state["data_card_sha256"] != dataset.data_card_sha256:
            raise TrainingError(f"{dataset.path}: not the dataset this run was started on (data card differs)")
        model.load_weight_tensors(state["model"])
    elif init_weights is not None:
        tensors, init_sha = initial_weights(init_weights)
        try:
            model.load_weight_tensors(tensors)
        except ConfigError as err:
            raise TrainingError(f"{init_weights}: the initial weights do not fit this architecture: {err}") from None
    trainer = Trainer(model, config, dataset, split, table, device)

    start_epoch, best, best_epoch, history, elapsed_before = 0, math.inf, None, [], 0.0
    if state is not None:
        trainer.restore(state)
        start_epoch = int(state["epoch"])
        best = float(state["best"])
        best_epoch = state["best_epoch"] if state["best_epoch"] >= 0 else None
        history = [dict(r) for r in state["history"]]
        elapsed_before = float(state["elapsed_s"])
        init_sha = state.get("init_weights_sha256") or None

    loggers = _Loggers(out, config, start_epoch)
    data_info = dataset.describe()
    training_info = {"config": config.as_dict(), "device": str(device), "engine": "fast",
                     "feature_source": feature_source,
                     "n_train": int(split.train.size),
                     "n_holdout": int(split.holdout.size), "n_test_hofs": int(split.test_hofs.size)}
    if init_sha is not None:
        training_info["init_weights_sha256"] = init_sha
    if workers > 1:
        training_info["data_parallel_workers"] = int(workers)
    group = ParallelGroup(workers, {"model": model, "training": tc, "optimizer": trainer.optimizer.state_dict(),
                                    "start_epoch": start_epoch, "train_rows": trainer.train_rows, "amp": trainer.amp,
                                    "feats": trainer.feats, "volt": trainer.volt} if workers > 1 else {})
    stopped = "epochs"
    bar = tqdm(range(start_epoch, tc.epochs), desc="train", unit="epoch", disable=not progress, initial=start_epoch,
               total=tc.epochs)
    try:
        with group:
            trainer.reducer = group.reducer
            for epoch in bar:
                t_epoch = time.perf_counter()
                trainer.set_learning_rate(epoch)
                group.next_epoch(trainer.optimizer.param_groups[0]["lr"])
                train_loss = trainer.train_epoch(epoch)
                train_time = time.perf_counter() - t_epoch
                holdout, test_errors, firing, score = trainer.evaluate()
                trainer.step_plateau(train_loss, score)
                elapsed = elapsed_before + time.perf_counter() - t_start
                row = epoch_row(epoch, train_loss, trainer.optimizer.param_groups[0]["lr"], holdout, test_errors,
                                firing, score, time.perf_counter() - t_epoch, train_time / trainer.n_batches,
                                elapsed, train_time)
                history.append(row)
                loggers.log(row)
                monitor = trainer.monitor(train_loss, holdout[0], score)
                if monitor < best:
                    best, best_epoch = monitor, epoch + 1
                    card = build_card(model, data=data_info, training={**training_info, "epoch": epoch + 1},
                                      metrics={k: v for k, v in row.items() if k != "epoch"}
                                      | {"best_epoch": epoch + 1}, name=config.name)
                    save_model(out, model, card)
                if tc.checkpoint_every and (epoch + 1) % tc.checkpoint_every == 0:
                    save_weights(model, checkpoint_file(out, epoch + 1))
                save_training_state(state_path, {
                    "epoch": epoch + 1, **trainer.state(),
                    "best": best, "best_epoch": best_epoch if best_epoch is not None else -1, "history": history,
                    "elapsed_s": elapsed, "data_card_sha256": dataset.data_card_sha256,
                    "init_weights_sha256": init_sha or "",
                })
                bar.set_postfix(loss=f"{train_loss:.4g}", holdout_l4=f"{holdout[0]:.4g}",
                                lr=f"{row['learning_rate']:.2g}")
                if tc.max_minutes is not None and time.perf_counter() - t_start > tc.max_minutes * 60:
                    stopped = "max_minutes"
                    break
    finally:
        bar.close()
        loggers.close()
    return TrainResult(out, len(history), best_epoch, best if math.isfinite(best) else None, stopped, history,
                       time.perf_counter() - t_start)


def checkpoint_file(run_dir: str | Path, epoch: int) -> Path:
    """The periodic checkpoint of epoch ``epoch`` (1-based) in a run directory (``TrainConfig.checkpoint_every``)."""
    return Path(run_dir) / "checkpoints" / f"epoch_{epoch:04d}.safetensors"


def load_split(model_dir: str | Path) -> dict[str, Any] | None:
    """The row split a run recorded (``None`` when the directory has none)."""
    path = Path(model_dir) / "split.json"
    return json.loads(path.read_text()) if path.is_file() else None


__all__ = ["DataSplit", "TrainResult", "TrainingError", "checkpoint_file", "initial_weights", "load_split", "pick_device",
           "train"]
