"""Run configurations: model size, embedding and training settings, from JSON files or named profiles.

A configuration file (see ``noble/configs/*.json``) has the sections ``model`` (:class:`noble.model.FNOConfig`
fields, optionally on top of ``model_profile``), ``embedding`` (:class:`noble.embedding.EmbeddingSpec`
fields) and ``training`` (:class:`TrainConfig` fields). Missing values take the paper's defaults.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from noble.embedding import EmbeddingSpec
from noble.model import MODEL_PROFILES, ConfigError, FNOConfig


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; the defaults are the paper's (relative L4 loss, Adam 0.004, plateau 0.4/4, 300 epochs)."""

    epochs: int = 300
    batch_size: int = 64
    learning_rate: float = 0.004
    weight_decay: float = 0.0
    plateau_factor: float = 0.4
    plateau_patience: int = 4
    # learning-rate schedule: "plateau" (ReduceLROnPlateau, the paper's) or "cosine" (from learning_rate down to
    # learning_rate * min_lr_fraction over the epochs after `hold_epochs`, stepped once per epoch)
    schedule: str = "plateau"
    hold_epochs: int = 0  # cosine only: epochs at the full learning_rate before the decay starts
    plateau_metric: str = "train_loss"  # what the plateau scheduler watches: "train_loss" (paper) or "selection"
    min_lr_fraction: float = 0.05
    # checkpoint selection on the held-out train-HoF traces: "firing" (relative L4 + missed + false firing +
    # spike-count error, see noble.spikes.firing_selection_score) or "rel_l4" (the authors' criterion)
    selection: str = "firing"
    loss_p: int = 4  # relative L^p loss per trace, averaged over the batch
    # weight of the timing-free quantile term (noble.training.losses.relative_quantile_lp, same p) added to the
    # pointwise loss; 0 is the paper's loss. Written into configurations only when non-zero (LATER_FIELDS).
    quantile_weight: float = 0.0
    # weight of the slow-voltage term (noble.training.losses.relative_smooth_l2: relative L2 of both traces
    # smoothed by a Gaussian of smooth_ms) added to the per-trace loss; 0 is the paper's loss. Both are written
    # into configurations only when they differ from these defaults (LATER_FIELDS).
    smooth_weight: float = 0.0
    smooth_ms: float = 5.0
    seed: int = 0
    holdout_fraction: float = 0.1  # unseen currents of train HoF models held out (train-HoF test set)
    checkpoint_every: int = 25  # epochs between periodic checkpoints (0: none)
    max_minutes: float | None = None  # stop after the epoch that crosses this wall-clock budget
    device: str = "auto"  # "auto": CUDA when present, else CPU
    tf32: bool = True  # allow TF32 matmuls on CUDA
    amp: str | None = None  # None, "bf16" or "fp16": autocast on CUDA
    eval_batch_size: int = 128
    # kept for the cards of earlier runs: the model's FNO is noble.fast.FastFNO, so training always runs
    # through it (null or true); false (training through neuralop's FNO) is no longer offered
    fast: bool | None = None
    log_tensorboard: bool = False
    log_wandb: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1:
            raise ConfigError(f"epochs must be >= 0 and batch_size >= 1 (got {self.epochs}, {self.batch_size})")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ConfigError(f"holdout_fraction must be in [0, 1), not {self.holdout_fraction}")
        if self.amp not in (None, "bf16", "fp16"):
            raise ConfigError(f"amp must be null, 'bf16' or 'fp16', not {self.amp!r}")
        if not self.quantile_weight >= 0.0:
            raise ConfigError(f"quantile_weight must be >= 0, not {self.quantile_weight}")
        if not self.smooth_weight >= 0.0:
            raise ConfigError(f"smooth_weight must be >= 0, not {self.smooth_weight}")
        if not (self.smooth_ms > 0.0 and math.isfinite(self.smooth_ms)):
            raise ConfigError(f"smooth_ms must be a positive number of ms, not {self.smooth_ms}")
        if self.loss_p < 1:
            raise ConfigError(f"loss_p must be >= 1, not {self.loss_p}")
        if self.schedule not in ("plateau", "cosine"):
            raise ConfigError(f"schedule must be 'plateau' or 'cosine', not {self.schedule!r}")
        if not 0 <= self.hold_epochs <= max(self.epochs, 0):
            raise ConfigError(f"hold_epochs must be in [0, epochs={self.epochs}], not {self.hold_epochs}")
        if self.plateau_metric not in ("train_loss", "selection"):
            raise ConfigError(f"plateau_metric must be 'train_loss' or 'selection', not {self.plateau_metric!r}")
        if self.selection not in ("firing", "rel_l4"):
            raise ConfigError(f"selection must be 'firing' or 'rel_l4', not {self.selection!r}")
        if not 0.0 <= self.min_lr_fraction <= 1.0:
            raise ConfigError(f"min_lr_fraction must be in [0, 1], not {self.min_lr_fraction}")
        if self.fast is not None and self.fast is not True:
            raise ConfigError(f"fast must be true or null, not {self.fast!r}: models train through their own FNO"
                              " (noble.fast.FastFNO); neuralop's FNO is the reference of predict(engine='reference')")


#: Training settings added after version 0.1.0 shipped weights, with the default that reproduces the earlier
#: behaviour: :meth:`RunConfig.as_dict` leaves them out at that default, so the configurations, cards and cache
#: signatures of earlier runs (and the pretrained weights) stay valid.
LATER_FIELDS: dict[str, Any] = {"quantile_weight": 0.0, "smooth_weight": 0.0, "smooth_ms": 5.0}


def training_dict(training: "TrainConfig") -> dict[str, Any]:
    """``training`` as a plain dict, without the :data:`LATER_FIELDS` that hold their earlier default."""
    return {k: v for k, v in asdict(training).items() if not (k in LATER_FIELDS and v == LATER_FIELDS[k])}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run."""

    name: str = "paper"
    model: FNOConfig = field(default_factory=FNOConfig)
    embedding: EmbeddingSpec = field(default_factory=EmbeddingSpec)
    training: TrainConfig = field(default_factory=TrainConfig)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model.as_dict(),
            "embedding": {k: v for k, v in self.embedding.as_dict().items() if k not in ("in_channels", "channels")},
            "training": training_dict(self.training),
        }

    def with_training(self, **overrides: Any) -> "RunConfig":
        """A copy with some training settings replaced (``None`` values are ignored)."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, training=replace(self.training, **clean))


def _only_known(cls, data: Mapping[str, Any], where: str) -> dict[str, Any]:
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
    return dict(data)


def config_from_dict(data: Mapping[str, Any], where: str = "configuration") -> RunConfig:
    """Build a :class:`RunConfig` from a parsed configuration file."""
    allowed = {"name", "description", "model_profile", "model", "embedding", "training"}
    unknown = set(data) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    profile = data.get("model_profile", "paper")
    if profile not in MODEL_PROFILES:
        raise ConfigError(f"{where}: unknown model_profile {profile!r}; choose one of {sorted(MODEL_PROFILES)}")
    model = replace(MODEL_PROFILES[profile], **_only_known(FNOConfig, data.get("model", {}), f"{where} [model]"))
    emb = dict(data.get("embedding", {}))
    emb.pop("in_channels", None)
    emb.pop("channels", None)
    emb = _only_known(EmbeddingSpec, emb, f"{where} [embedding]")
    if "features" in emb:
        emb["features"] = tuple(emb["features"])
    if "feature_range" in emb:
        emb["feature_range"] = tuple(emb["feature_range"])
    training = TrainConfig(**_only_known(TrainConfig, data.get("training", {}), f"{where} [training]"))
    return RunConfig(str(data.get("name", profile)), model, EmbeddingSpec(**emb), training)


def available_configs() -> list[str]:
    """Names of the configurations shipped in ``noble/configs``."""
    folder = resources.files("noble") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def load_config(name_or_path: str | Path) -> RunConfig:
    """A shipped configuration by name (``paper``, ``laptop``, ``quick``, ``ablation_*``) or a JSON file."""
    path = Path(name_or_path)
    if path.suffix == ".json" or path.exists():
        if not path.is_file():
            raise ConfigError(f"{path}: configuration file not found")
        text, where = path.read_text(), str(path)
    else:
        res = resources.files("noble") / "configs" / f"{name_or_path}.json"
        if not res.is_file():
            raise ConfigError(f"unknown configuration {str(name_or_path)!r}; shipped: {', '.join(available_configs())}")
        text, where = res.read_text(), f"noble/configs/{name_or_path}.json"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc})") from None
    return config_from_dict(data, where)
