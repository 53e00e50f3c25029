"""Training in stages: a run continued from its own weights on coarser (or the same) traces.

The FNO is resolution-agnostic, so a model trained at the paper's grid can go on training on traces coarsened
``factor`` times (:meth:`noble.sim.traces.TraceDataset.coarsened`), where an epoch costs about half as much, and
come back to the full grid for a short last stage. Each stage is a plain :func:`noble.training.train` run started
from the previous stage's saved weights (``init_weights``), with the same hold-out split (the split depends only on
the HoF labels and the seed) and the same selection criterion, in its own directory, resumable; a stage that
finished is not run again. The last stage's directory is the model; when that stage ran on coarser traces, the
model is also written on the dataset's own grid into a final directory of its own (same weights, its own card).

A stage may add ``extra_sets`` sets of ``extra_samples`` new traces each (new amplitude, train-HoF pairs, simulated
by the caller with the seeds ``extra_seed``, ``extra_seed + 1``, ...) to its training set: it then trains on the first stage's training rows plus those traces and keeps
the first stage's held-out rows for selection, so no held-out trace is ever trained on. Units: nA, mV, ms.
"""
from __future__ import annotations

import csv
import json
import math
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from noble.checkpoint import build_card, load_model, save_model
from noble.fast.chirpz import smooth_length
from noble.jsonfile import write_json_atomic
from noble.sim.protocol import coarser_protocol
from noble.sim.traces import TraceDataset
from noble.training.config import RunConfig
from noble.training.loop import TrainingError, TrainResult, load_split, train

#: The marker a finished stage leaves in its directory.
STAGE_FILE = "stage.json"
#: The concatenated per-epoch log of every stage, written into the last stage's directory.
STAGES_LOG = "stages.csv"


@dataclass(frozen=True)
class ResolutionStage:
    """One continuation stage: ``factor`` times coarser traces (1: the dataset's own grid), ``epochs`` epochs at
    ``learning_rate`` held for ``hold_epochs`` and then a cosine decay to ``min_lr_fraction`` of it; the loss
    gains the timing-free quantile term at ``quantile_weight`` (:attr:`noble.training.TrainConfig.quantile_weight`;
    0: the stage-1 loss) and the slow-voltage term at ``smooth_weight`` with a Gaussian of ``smooth_ms``
    (:attr:`noble.training.TrainConfig.smooth_weight`)."""

    factor: int
    epochs: int
    hold_epochs: int
    learning_rate: float
    min_lr_fraction: float = 0.05
    quantile_weight: float = 0.0
    extra_samples: int = 0  # new traces added to this stage's training set (0: the first stage's rows only)
    extra_seed: int = 0  # seed of the amplitude sampling of those traces (used when extra_samples > 0)
    extra_sets: int = 1  # sets of extra_samples traces each, seeded extra_seed, extra_seed + 1, ...
    smooth_weight: float = 0.0
    smooth_ms: float = 5.0

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
        if not self.smooth_weight >= 0 or not (self.smooth_ms > 0 and math.isfinite(self.smooth_ms)):
            raise TrainingError(f"a stage needs smooth_weight >= 0 and a positive smooth_ms, not "
                                f"{self.smooth_weight} / {self.smooth_ms}")
        for name in ("extra_samples", "extra_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise TrainingError(f"a stage's {name} must be a non-negative integer, not {value!r}")
        if isinstance(self.extra_sets, bool) or not isinstance(self.extra_sets, int) or self.extra_sets < 1:
            raise TrainingError(f"a stage's extra_sets must be a positive integer, not {self.extra_sets!r}")

    @property
    def extra_seeds(self) -> tuple[int, ...]:
        """The seeds of the stage's extra sets (none when it adds no traces)."""
        return tuple(self.extra_seed + i for i in range(self.extra_sets)) if self.extra_samples else ()

    @property
    def n_extra(self) -> int:
        """How many traces the stage adds."""
        return self.extra_samples * len(self.extra_seeds)

    def as_dict(self) -> dict[str, Any]:
        """The stage's settings; the extra-trace fields only when traces are added, ``extra_sets`` only when
        above 1 and the slow-voltage fields only when the term is on (older recipes keep their signature)."""
        data = asdict(self)
        if not self.smooth_weight:
            del data["smooth_weight"], data["smooth_ms"]
        if not self.extra_samples:
            del data["extra_samples"], data["extra_seed"], data["extra_sets"]
        elif self.extra_sets == 1:
            del data["extra_sets"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ResolutionStage":
        return cls(int(data["factor"]), int(data["epochs"]), int(data["hold_epochs"]), float(data["learning_rate"]),
                   float(data.get("min_lr_fraction", 0.05)), float(data.get("quantile_weight", 0.0)),
                   int(data.get("extra_samples", 0)), int(data.get("extra_seed", 0)), int(data.get("extra_sets", 1)),
                   float(data.get("smooth_weight", 0.0)), float(data.get("smooth_ms", 5.0)))


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
                       max_minutes=None, quantile_weight=stage.quantile_weight, smooth_weight=stage.smooth_weight,
                       smooth_ms=stage.smooth_ms)
    return replace(base, name=f"{base.name}{suffix}", model=model, training=training)


def stage_finished(directory: Path, config: RunConfig, data_card_sha256: str | None = None) -> bool:
    """Whether ``directory`` holds a finished stage trained with ``config`` (and, when given, on the data of
    that card)."""
    marker = directory / STAGE_FILE
    if not marker.is_file() or not (directory / "model_card.json").is_file():
        return False
    info = json.loads(marker.read_text())
    if data_card_sha256 is not None and info.get("data_card_sha256", data_card_sha256) != data_card_sha256:
        return False
    return info.get("config") == config.as_dict()


def mark_stage_finished(directory: Path, config: RunConfig, index: int, factor: int, result: Mapping[str, Any],
                        data_card_sha256: str | None = None) -> None:
    """Leave the marker of a finished stage (its configuration, its data card and what it reported)."""
    card = {"data_card_sha256": data_card_sha256} if data_card_sha256 is not None else {}
    write_json_atomic(directory / STAGE_FILE, {"stage": index, "factor": factor, "config": config.as_dict(),
                                               **card, **dict(result)})


def first_stage_holdout(directory: Path, dataset: TraceDataset) -> np.ndarray:
    """The rows of ``dataset`` the first stage (in ``directory``) held out, checked against its data card."""
    split = load_split(directory)
    if split is None or split.get("data_card_sha256") != dataset.data_card_sha256:
        raise TrainingError(f"{directory}: its split.json does not describe {dataset.path} (the first stage's data)")
    return np.asarray(split["holdout"], dtype=np.int64)


def stage_data(dataset: TraceDataset, stage: ResolutionStage, extra: TraceDataset | None,
               first_dir: Path) -> tuple[TraceDataset, np.ndarray | None]:
    """A stage's traces (``dataset``, plus ``extra`` when the stage adds traces, coarsened ``stage.factor``
    times) and the rows it must hold out (``None``: its own seeded split, as the first stage's)."""
    holdout = None
    if stage.extra_samples:
        if extra is None or len(extra) != stage.n_extra:
            raise TrainingError(f"a stage adding {stage.n_extra} traces needs them, not "
                                f"{'none' if extra is None else len(extra)}")
        holdout = first_stage_holdout(first_dir, dataset)  # rows of ``dataset``, which comes first in the concat
        dataset = dataset.concat(extra)
    elif extra is not None:
        raise TrainingError("extra traces were given for a stage that adds none (extra_samples = 0)")
    return (dataset if stage.factor == 1 else dataset.coarsened(stage.factor)), holdout


def regridded(model, template, padded_length: int | None, *, stage_dir: str | None = None,
              checkpoint_epoch: int | None = None, name: str | None = None):
    """``model`` moved onto ``template``'s grid (same weights; the FNO is resolution-agnostic) and the card of the
    moved model, which records the move. ``checkpoint_epoch``: the weights are that epoch's checkpoint, not the
    run's saved ones, so the card keeps no metrics of the saved epoch."""
    moved = model.on_grid(template, padded_length)
    card = model.card
    move = {"from_samples": model.template.n_samples, "to_samples": template.n_samples, "padded_length": padded_length}
    if stage_dir is not None:
        move["stage_dir"] = stage_dir
    training = {**card.get("training", {}), "regridded": move}
    if checkpoint_epoch is not None:
        training["checkpoint_epoch"] = int(checkpoint_epoch)
    new = build_card(moved, data=card.get("data"), training=training,
                     metrics=card.get("metrics") if checkpoint_epoch is None else None,
                     name=name if name is not None else card.get("name"))
    return moved, new


def write_full_grid_model(stage_dir: Path, out: Path, dataset: TraceDataset, padded_length: int | None) -> Path:
    """Write the model of a coarse last stage on ``dataset``'s grid into ``out``: the same weights, a card that
    records the move, and the stage's ``split.json``, ``metrics.csv`` and ``run_config.json``."""
    moved, card = regridded(load_model(stage_dir), dataset.template, padded_length, stage_dir=stage_dir.name)
    out.mkdir(parents=True, exist_ok=True)
    save_model(out, moved, card)
    for name in ("split.json", "metrics.csv", "run_config.json"):
        if (stage_dir / name).is_file():
            shutil.copy2(stage_dir / name, out / name)
    return out


def train_stages(
    dataset: TraceDataset,
    base: RunConfig,
    stages: Sequence[ResolutionStage],
    directories: Sequence[Path],
    *,
    extra: Sequence[TraceDataset | None] | None = None,
    final_dir: Path | None = None,
    train_kwargs: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Stage 1 (``base`` on ``dataset``) and then every ``stages`` entry, stage ``i`` in ``directories[i-1]``.

    ``extra[k]``: the traces stage ``k + 2`` adds (``None`` for a stage that adds none; see the module docstring).
    ``final_dir``: where the model of a coarse last stage is written on ``dataset``'s grid (required then).
    Returns one summary per stage (index, factor, epochs, selected epoch, wall time in s); the model's directory
    (the last stage's, or ``final_dir``) also receives :data:`STAGES_LOG`, the per-epoch logs of all stages with
    ``stage`` and ``factor`` columns.
    """
    if len(directories) != len(stages) + 1:
        raise TrainingError(f"{len(stages) + 1} stages need as many directories, not {len(directories)}")
    extras = list(extra) if extra is not None else [None] * len(stages)
    if len(extras) != len(stages):
        raise TrainingError(f"extra traces are given for {len(extras)} stages, not the {len(stages)} continuation "
                            f"stages")
    coarse_last = bool(stages) and stages[-1].factor > 1
    if coarse_last and final_dir is None:
        raise TrainingError("a last stage on coarser traces needs a final_dir for its model on the dataset's grid")
    kwargs = dict(train_kwargs or {})
    configs = [base]
    for i, stage in enumerate(stages, start=2):
        configs.append(stage_config(base, stage, i, coarser_protocol(dataset.protocol, stage.factor).n_samples))
    factors = [1] + [s.factor for s in stages]
    summaries = []
    for i, (config, factor, directory) in enumerate(zip(configs, factors, directories), start=1):
        directory = Path(directory)
        if i == 1:
            data, holdout = dataset, None
        else:
            data, holdout = stage_data(dataset, stages[i - 2], extras[i - 2], Path(directories[0]))
        if stage_finished(directory, config, data.data_card_sha256):
            summaries.append(json.loads((directory / STAGE_FILE).read_text()))
            log(f"stage {i} (factor {factor}) already finished in {directory}")
            continue
        _drop_stale(directory, config)
        resume = (directory / "state" / "last.pt").is_file()
        init = None if (resume or i == 1) else directories[i - 2]
        grid = "traces" if factor == 1 else f"{factor}x coarser traces"
        log(f"stage {i}: {config.training.epochs} epochs on {len(data)} {grid}" + (" (resumed)" if resume else ""))
        result: TrainResult = train(data, config, directory, resume=resume, init_weights=init, holdout_rows=holdout,
                                    **kwargs)
        if not (directory / "model_card.json").is_file():
            raise TrainingError(f"{directory}: stage {i} finished without saving a model")
        info = {"epochs_completed": result.epochs_completed, "best_epoch": result.best_epoch,
                "stopped": result.stopped, "wall_time_s": result.wall_time_s}
        mark_stage_finished(directory, config, i, factor, info, data.data_card_sha256)
        summaries.append({"stage": i, "factor": factor, "config": config.as_dict(),
                          "data_card_sha256": data.data_card_sha256, **info})
    model_dir = Path(directories[-1])
    if coarse_last:
        model_dir = write_full_grid_model(model_dir, Path(final_dir), dataset, base.model.padded_length)
    write_stages_log(directories, factors, model_dir / STAGES_LOG)
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
