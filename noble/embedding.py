"""NOBLE's input embedding: the step current and a neuron model's features as trigonometric channels.

Units: the public API takes currents in nA, features in their own published units (``slope`` Hz/nA on the
authors' scale, ``intercept`` nA), time in ms.

For a trace grid of ``L`` samples let ``t_j = 2*pi*j/(L-1)`` (``linspace(0, 2*pi, L)``). A scalar ``p`` is
encoded with ``K`` frequencies as the ``2K`` channels ``sin(2^k*pi*p*t), cos(2^k*pi*p*t)`` for
``k = 0..K-1``, interleaved sin, cos per ``k`` (NeRF style, with the frequency scaled by ``p``).

The channels of one input, in order:

1. the raw current: the step (zero outside the stimulus window) in nA times ``current_scale``
   (default 10, i.e. the authors' 0.1 nA units, so the channel spans -1.1 .. 2.8 for -0.11 .. 0.28 nA);
2. the step amplitude encoded with ``amplitude_frequencies`` (paper: 9) and ``p = amplitude_nA *
   amplitude_scale`` (default 10: the authors' 0.1 nA units);
3. each neuron feature, in the recorded order of ``features``, min-max scaled to ``feature_range``
   (paper: [0.5, 3.5], fitted on the training HoF models only) and encoded with ``feature_frequencies``
   (paper: 1).

The paper's model thus has 1 + 2*9 + 2*1*2 = 23 input channels.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from noble.errors import NobleError

#: The embedded features of the paper's model, in the authors' channel order.
PAPER_FEATURES: tuple[str, ...] = ("slope", "intercept")

#: A table of per-HoF features: global HoF index -> {feature name: value}.
FeatureTable = Mapping[int, Mapping[str, float]]


class EmbeddingError(NobleError):
    """Inputs that do not match an embedding (feature names, shapes, units, non-finite values)."""


@dataclass(frozen=True)
class StimulusTemplate:
    """The grid of a trace and its step window (ms): ``n_samples`` samples ``dt_ms`` apart from t = 0.

    Derived from a dataset's :class:`noble.sim.protocol.StepProtocol` (``noble.sim.protocol.template_of``;
    the paper's is ``noble.sim.protocol.PAPER_TEMPLATE``) and recorded in the model card.
    """

    n_samples: int
    dt_ms: float
    delay_ms: float
    duration_ms: float

    def __post_init__(self) -> None:
        if self.n_samples < 2:
            raise EmbeddingError(f"stimulus template needs at least 2 samples, not {self.n_samples}")
        if not (self.dt_ms > 0 and math.isfinite(self.dt_ms)):
            raise EmbeddingError(f"stimulus template dt must be a positive number of ms, not {self.dt_ms!r}")
        if not (0 <= self.delay_ms and self.duration_ms > 0):
            raise EmbeddingError(f"stimulus window {self.delay_ms} + {self.duration_ms} ms is not valid")

    @property
    def stim_end_ms(self) -> float:
        """End of the step (ms)."""
        return self.delay_ms + self.duration_ms

    def time(self) -> np.ndarray:
        """Sample times (ms), shape ``[n_samples]``."""
        return np.arange(self.n_samples) * self.dt_ms

    def window(self) -> np.ndarray:
        """Boolean mask of the samples inside the step, shape ``[n_samples]``."""
        t = self.time()
        return (t >= self.delay_ms - 1e-9) & (t < self.stim_end_ms - 1e-9)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "StimulusTemplate":
        return cls(int(data["n_samples"]), float(data["dt_ms"]), float(data["delay_ms"]), float(data["duration_ms"]))

    def check_matches(self, other: "StimulusTemplate", where: str) -> None:
        """Raise :class:`EmbeddingError` when ``other`` (e.g. a dataset's grid) differs from this template."""
        for name in ("n_samples", "dt_ms", "delay_ms", "duration_ms"):
            a, b = getattr(self, name), getattr(other, name)
            if not math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9):
                raise EmbeddingError(f"{where}: {name} is {b}, the model was trained with {a}")


@dataclass(frozen=True)
class EmbeddingSpec:
    """Which channels the model sees; every field is recorded in the model card."""

    features: tuple[str, ...] = PAPER_FEATURES
    amplitude_frequencies: int = 9
    feature_frequencies: int = 1
    amplitude_scale: float = 10.0  # p of the amplitude embedding = amplitude_nA * amplitude_scale
    current_scale: float = 10.0  # raw current channel = step_nA * current_scale
    include_current: bool = True
    feature_range: tuple[float, float] = (0.5, 3.5)

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(str(f) for f in self.features))
        object.__setattr__(self, "feature_range", tuple(float(v) for v in self.feature_range))
        if len(set(self.features)) != len(self.features):
            raise EmbeddingError(f"embedding features must be distinct, got {list(self.features)}")
        if self.amplitude_frequencies < 0 or self.feature_frequencies < 0:
            raise EmbeddingError("the numbers of embedding frequencies must be >= 0")
        if self.features and self.feature_frequencies == 0:
            raise EmbeddingError("features are embedded with feature_frequencies = 0: set it >= 1 or drop them")
        lo, hi = self.feature_range
        if not lo < hi:
            raise EmbeddingError(f"feature_range must be increasing, not {self.feature_range}")

    @property
    def in_channels(self) -> int:
        """Number of input channels of the FNO (without its grid channel)."""
        return (
            int(self.include_current)
            + 2 * self.amplitude_frequencies
            + 2 * self.feature_frequencies * len(self.features)
        )

    def channel_names(self) -> list[str]:
        """A name per input channel, in order (e.g. ``amplitude.sin.k0``)."""
        names = ["current"] if self.include_current else []
        for k in range(self.amplitude_frequencies):
            names += [f"amplitude.sin.k{k}", f"amplitude.cos.k{k}"]
        for feat in self.features:
            for k in range(self.feature_frequencies):
                names += [f"{feat}.sin.k{k}", f"{feat}.cos.k{k}"]
        return names

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["features"] = list(self.features)
        out["feature_range"] = list(self.feature_range)
        out["in_channels"] = self.in_channels
        out["channels"] = self.channel_names()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EmbeddingSpec":
        keys = ("features", "amplitude_frequencies", "feature_frequencies", "amplitude_scale", "current_scale",
                "include_current", "feature_range")
        unknown = set(data) - set(keys) - {"in_channels", "channels"}
        if unknown:
            raise EmbeddingError(f"unknown embedding setting(s): {sorted(unknown)}")
        kwargs = {k: data[k] for k in keys if k in data}
        if "features" in kwargs:
            kwargs["features"] = tuple(kwargs["features"])
        if "feature_range" in kwargs:
            kwargs["feature_range"] = tuple(kwargs["feature_range"])
        spec = cls(**kwargs)
        if "in_channels" in data and int(data["in_channels"]) != spec.in_channels:
            raise EmbeddingError(f"embedding records {data['in_channels']} channels, its settings give {spec.in_channels}")
        return spec


@dataclass(frozen=True)
class FeatureScaler:
    """Per-feature min-max scaling to ``feature_range``, fitted on the training HoF models only."""

    names: tuple[str, ...]
    minimum: tuple[float, ...]
    maximum: tuple[float, ...]
    feature_range: tuple[float, float] = (0.5, 3.5)
    fitted_on: tuple[int, ...] = field(default=())  # global HoF indices

    @classmethod
    def fit(
        cls,
        table: FeatureTable,
        hofs: Iterable[int],
        names: Sequence[str],
        feature_range: tuple[float, float] = (0.5, 3.5),
    ) -> "FeatureScaler":
        """Fit on the features of ``hofs`` (the training HoF models) looked up in ``table``."""
        hofs = tuple(sorted(int(h) for h in hofs))
        if names and not hofs:
            raise EmbeddingError("cannot fit the feature scaler on an empty set of HoF models")
        values = feature_rows(table, hofs, names)
        mins = tuple(float(v) for v in values.min(axis=0)) if names else ()
        maxs = tuple(float(v) for v in values.max(axis=0)) if names else ()
        for name, lo, hi in zip(names, mins, maxs):
            if not hi > lo:
                raise EmbeddingError(f"feature {name!r} is constant ({lo}) over the training HoF models: cannot scale it")
        return cls(tuple(names), mins, maxs, tuple(float(v) for v in feature_range), hofs)

    def transform(self, values: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Scale raw values ``[N, F]`` (columns in ``names`` order) to ``feature_range``."""
        lo, hi = self.feature_range
        if isinstance(values, torch.Tensor):
            mn = torch.as_tensor(self.minimum, dtype=values.dtype, device=values.device)
            mx = torch.as_tensor(self.maximum, dtype=values.dtype, device=values.device)
        else:
            values = np.asarray(values, dtype=float)
            mn, mx = np.asarray(self.minimum), np.asarray(self.maximum)
        return lo + (values - mn) * (hi - lo) / (mx - mn)

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        """Map scaled values ``[N, F]`` back to raw feature values."""
        lo, hi = self.feature_range
        scaled = np.asarray(scaled, dtype=float)
        mn, mx = np.asarray(self.minimum), np.asarray(self.maximum)
        return mn + (scaled - lo) * (mx - mn) / (hi - lo)

    def as_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "minimum": list(self.minimum),
            "maximum": list(self.maximum),
            "feature_range": list(self.feature_range),
            "fitted_on_hofs": list(self.fitted_on),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FeatureScaler":
        return cls(
            tuple(data["names"]),
            tuple(float(v) for v in data["minimum"]),
            tuple(float(v) for v in data["maximum"]),
            tuple(float(v) for v in data["feature_range"]),
            tuple(int(h) for h in data.get("fitted_on_hofs", ())),
        )


def feature_rows(table: FeatureTable, hofs: Sequence[int], names: Sequence[str]) -> np.ndarray:
    """Raw feature values ``[len(hofs), len(names)]`` from a table, with clear errors for gaps."""
    out = np.empty((len(hofs), len(names)), dtype=float)
    for i, hof in enumerate(hofs):
        row = table.get(int(hof))
        if row is None:
            raise EmbeddingError(f"no features for HoF model {hof} in the feature table")
        for j, name in enumerate(names):
            if name not in row:
                raise EmbeddingError(f"HoF model {hof} has no feature {name!r} (it has {sorted(row)[:8]}...)")
            value = float(row[name])
            if not math.isfinite(value):
                raise EmbeddingError(f"feature {name!r} of HoF model {hof} is not finite ({value})")
            out[i, j] = value
    return out


def cell_feature_table(cell, names: Sequence[str] | None = None) -> dict[int, dict[str, float]]:
    """The published per-HoF features of a :class:`noble.data.Cell` (all, or only ``names``)."""
    table: dict[int, dict[str, float]] = {}
    for model in cell.hof_models:
        feats = dict(model.features)
        if names is not None:
            missing = [n for n in names if n not in feats]
            if missing:
                raise EmbeddingError(f"{cell.name} HoF model {model.index} has no feature(s) {missing}")
            feats = {n: float(feats[n]) for n in names}
        table[model.index] = feats
    return table


def nerf_channels(p: torch.Tensor, t: torch.Tensor, n_frequencies: int) -> torch.Tensor:
    """``[B, 2K, L]`` channels ``sin(2^k*pi*p*t), cos(2^k*pi*p*t)`` (interleaved per k) of ``p`` [B] on ``t`` [L]."""
    k = torch.arange(n_frequencies, device=p.device, dtype=p.dtype)
    freq = (2.0 ** k) * math.pi  # [K]
    arg = p[:, None, None] * freq[None, :, None] * t[None, None, :]  # [B, K, L]
    return torch.stack((torch.sin(arg), torch.cos(arg)), dim=2).reshape(p.shape[0], 2 * n_frequencies, t.shape[0])


class Embedding(nn.Module):
    """Builds the FNO input ``[B, C, L]`` from step amplitudes (nA) and raw features (no trainable weights)."""

    def __init__(self, spec: EmbeddingSpec, scaler: FeatureScaler, template: StimulusTemplate) -> None:
        super().__init__()
        if tuple(scaler.names) != tuple(spec.features):
            raise EmbeddingError(
                f"feature scaler covers {list(scaler.names)}, the embedding expects {list(spec.features)} in that order"
            )
        self.spec = spec
        self.scaler = scaler
        self.template = template
        t = torch.linspace(0.0, 2.0 * math.pi, template.n_samples, dtype=torch.float64)
        self.register_buffer("grid", t, persistent=False)
        self.register_buffer("window", torch.as_tensor(template.window()), persistent=False)

    def forward(self, amplitude_nA: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Input channels ``[B, C, L]`` (float32) for amplitudes ``[B]`` (nA) and raw features ``[B, F]``."""
        spec = self.spec
        amp = amplitude_nA.to(device=self.grid.device, dtype=torch.float64).reshape(-1)
        feats = features.to(device=self.grid.device, dtype=torch.float64).reshape(amp.shape[0], -1)
        if feats.shape[1] != len(spec.features):
            raise EmbeddingError(f"expected {len(spec.features)} features {list(spec.features)}, got {feats.shape[1]}")
        parts = []
        if spec.include_current:
            parts.append((amp[:, None] * spec.current_scale * self.window[None, :].to(amp.dtype))[:, None, :])
        if spec.amplitude_frequencies:
            parts.append(nerf_channels(amp * spec.amplitude_scale, self.grid, spec.amplitude_frequencies))
        if spec.features:
            scaled = self.scaler.transform(feats)
            for j in range(len(spec.features)):
                parts.append(nerf_channels(scaled[:, j], self.grid, spec.feature_frequencies))
        return torch.cat(parts, dim=1).to(torch.float32)
