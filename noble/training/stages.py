"""Training in stages: a run continued from its own weights on coarser (or the same) traces.

The FNO is resolution-agnostic, so a model trained at the paper's grid can go on training on traces coarsened
``factor`` times (:meth:`noble.sim.traces.TraceDataset.coarsened`), where an epoch costs about half as much, and
come back to the full grid for a short last stage. Each stage is a plain :func:`noble.training.train` run started
from the previous stage's saved weights (``init_weights``), with the same hold-out split (the split depends only on
the HoF labels and the seed) and the same selection criterion, in its own directory, resumable; a stage that
finished is not run again. The last stage's directory is the model. Units: nA, mV, ms.
"""
from __future__ import annotations

import csv
import json
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from noble.fast.chirpz import smooth_length
from noble.jsonfile import write_json_atomic
from noble.sim.protocol import coarser_protocol
from noble.sim.traces import TraceDataset
from noble.training.config import RunConfig
from noble.training.loop import TrainingError, TrainResult, train

#: The marker a finished stage leaves in its directory.
STAGE_FILE = "stage.json"
#: The concatenated per-epoch log of every stage, written into the last stage's directory.
STAGES_LOG = "stages.csv"


@dataclass(frozen=True)
class ResolutionStage:
    """One continuation stage: ``factor`` times coarser traces (1: the dataset's own grid), ``epochs`` epochs at
    ``learning_rate`` held for ``hold_epochs`` and then a cosine decay to ``min_lr_fraction`` of it; the loss
    gains the timing-free quantile term at ``quantile_weight`` (:attr:`noble.training.TrainConfig.quantile_weight`;
    0: the stage-1 loss)."""

    factor: int
    epochs: int
    hold_epochs: int
    learning_rate: float
    min_lr_fraction: float = 0.05
    quantile_weight: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.factor, bool) or not isinstance(self.factor, int) or self.factor < 1:
            raise TrainingError(f"a stage's coarsening factor must be a positive integer, not {self.factor!r}")
        if self.epochs < 1 or not 0 <= self.hold_epochs <= self.epochs:
            raise TrainingError(f"a stage needs epochs >= 1 and 0 <= hold_epochs <= epochs, not "
                                f"{self.epochs} / {self.hold_epochs}")
        if not self.learning_rate > 0 or not 0 < self.min_lr_fraction <= 1:
            raise TrainingError(f"a stage needs a positive learning rate and 0 < min_lr_fraction <= 1, not "
                                f"{self.learning_rate} / {self.min_lr_fraction}")
        if not self.quantile_weight >= 0:
            raise TrainingError(f"a stage's quantile_weight must be >= 0, not {self.quantile_weight}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ResolutionStage":
        return cls(int(data["factor"]), int(data["epochs"]), int(data["hold_epochs"]), float(data["learning_rate"]),
                   float(data.get("min_lr_fraction", 0.05)), float(data.get("quantile_weight", 0.0)))


def coarse_padded_length(padded_length: int | None, n_samples: int, factor: int) -> int | None:
    """The FFT-friendly grid of a ``factor`` times coarser run: the full run's padded length divided by ``factor``
    when that divides evenly and still holds the coarse trace, otherwise the next 2-3-5-7-smooth length."""
    if factor == 1:
        return padded_length
    if padded_length is not None and padded_length % factor == 0 and padded_length // factor >= n_samples:
        return padded_length // factor
    return smooth_length(n_samples)


def stage_config(base: RunConfig, stage: ResolutionStage, index: int, n_coarse_samples: int) -> RunConfig:
    """The run configuration of stage ``index`` (2, 3, ...; stage 1 is ``base`` itself)."""
    suffix = f"-stage{index}" + (f"-coarse{stage.factor}" if stage.factor > 1 else "")
    model = replace(base.model, padded_length=coarse_padded_length(base.model.padded_length, n_coarse_samples,
                                                                    stage.factor))
    training = replace(base.training, epochs=stage.epochs, hold_epochs=stage.hold_epochs,
                       learning_rate=stage.learning_rate, min_lr_fraction=stage.min_lr_fraction, schedule="cosine",
                       max_minutes=None, quantile_weight=stage.quantile_weight)
    return replace(base, name=f"{base.name}{suffix}", model=model, training=training)


def stage_finished(directory: Path, config: RunConfig) -> bool:
    """Whether ``directory`` holds a finished stage trained with ``config``."""
    marker = directory / STAGE_FILE
    if not marker.is_file() or not (directory / "model_card.json").is_file():
        return False
    return json.loads(marker.read_text()).get("config") == config.as_dict()


def mark_stage_finished(directory: Path, config: RunConfig, index: int, factor: int, result: Mapping[str, Any]) -> None:
    """Leave the marker of a finished stage (its configuration and what it reported)."""
    write_json_atomic(directory / STAGE_FILE, {"stage": index, "factor": factor, "config": config.as_dict(),
                                               **dict(result)})


def train_stages(
    dataset: TraceDataset,
    base: RunConfig,
    stages: Sequence[ResolutionStage],
    directories: Sequence[Path],
    *,
    train_kwargs: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Stage 1 (``base`` on ``dataset``) and then every ``stages`` entry, stage ``i`` in ``directories[i-1]``.

    Returns one summary per stage (index, factor, epochs, selected epoch, wall time in s); the last directory
    then also holds :data:`STAGES_LOG`, the per-epoch logs of all stages with ``stage`` and ``factor`` columns.
    """
    if len(directories) != len(stages) + 1:
        raise TrainingError(f"{len(stages) + 1} stages need as many directories, not {len(directories)}")
    kwargs = dict(train_kwargs or {})
    configs = [base]
    for i, stage in enumerate(stages, start=2):
        configs.append(stage_config(base, stage, i, coarser_protocol(dataset.protocol, stage.factor).n_samples))
    factors = [1] + [s.factor for s in stages]
    summaries = []
    for i, (config, factor, directory) in enumerate(zip(configs, factors, directories), start=1):
        directory = Path(directory)
        if stage_finished(directory, config):
            summaries.append(json.loads((directory / STAGE_FILE).read_text()))
            log(f"stage {i} (factor {factor}) already finished in {directory}")
            continue
        _drop_stale(directory, config)
        data = dataset if factor == 1 else dataset.coarsened(factor)
        resume = (directory / "state" / "last.pt").is_file()
        init = None if (resume or i == 1) else directories[i - 2]
        log(f"stage {i}: {config.training.epochs} epochs on {'the full grid' if factor == 1 else f'{factor}x coarser traces'}"
            + (" (resumed)" if resume else ""))
        result: TrainResult = train(data, config, directory, resume=resume, init_weights=init, **kwargs)
        if not (directory / "model_card.json").is_file():
            raise TrainingError(f"{directory}: stage {i} finished without saving a model")
        info = {"epochs_completed": result.epochs_completed, "best_epoch": result.best_epoch,
                "stopped": result.stopped, "wall_time_s": result.wall_time_s}
        mark_stage_finished(directory, config, i, factor, info)
        summaries.append({"stage": i, "factor": factor, "config": config.as_dict(), **info})
    write_stages_log(directories, factors, Path(directories[-1]) / STAGES_LOG)
    return summaries


def _drop_stale(directory: Path, config: RunConfig) -> None:
    """Remove a stage directory left by another recipe (its ``run_config.json`` differs), so it is trained anew."""
    saved = directory / "run_config.json"
    if saved.is_file() and json.loads(saved.read_text()) != config.as_dict():
        shutil.rmtree(directory)


def write_stages_log(directories: Sequence[Path], factors: Sequence[int], path: Path) -> Path:
    """Concatenate the stages' ``metrics.csv`` into ``path`` with ``stage``, ``factor`` and a running
    ``total_epoch`` column."""
    rows: list[dict[str, str]] = []
    for i, (directory, factor) in enumerate(zip(directories, factors), start=1):
        with (Path(directory) / "metrics.csv").open() as fh:
            for row in csv.DictReader(fh):
                rows.append({"stage": str(i), "factor": str(factor), "total_epoch": str(len(rows) + 1), **row})
    if not rows:
        raise TrainingError(f"{directories[0]}: the stages logged no epoch")
    fields = list(rows[0])
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return path
