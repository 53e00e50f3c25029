"""What a fit aims at: the cell's experimental features, their spreads (sd) and the steps that produce them.

Units: currents nA, voltages mV, times ms, frequencies Hz. A target is named like the cell package's
experimental table, ``<step>.<eFEL feature>`` (``hyperpol.sag_amplitude``, ``depol.Spikecount``); ``hyperpol``
is the hyperpolarising step and ``depol`` the supra-threshold step of the experimental Long Square protocol;
``subthreshold`` is a step of half the experimental F-I threshold current that must give no spike.

The z-score of a feature is ``|model - experiment| / sd``. Only one experimental value per feature is
available, so the sd follows a documented rule (:data:`SD_RULE`): the larger of the spread (standard deviation)
of that feature across the cell's published HoF models, ``rel_floor`` (5%) of the experimental value's
magnitude, and ``abs_floor`` (1e-3 in the feature's unit).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from noble.data.allen import allen_cache_dir, read_long_square_sweeps
from noble.features import extract_features
from noble.fit.errors import FitError

#: The steps of the experimental feature tables (Long Square sweeps of 1 s), with their amplitudes in nA.
#: PVALB 689331391: the hyperpolarising step is the most negative experimental amplitude (-0.11 nA) and the
#: depolarising one 0.18 nA; both reproduce the published HoF features (see docs/fitting.md).
DEFAULT_STEP_AMPLITUDES: dict[str, float] = {"hyperpol": -0.11, "depol": 0.18}

#: Features of the cell tables that are not fitted as such: the F-I embedding needs a whole F-I sweep. The
#: threshold (``intercept``) enters through the ``subthreshold`` step instead (:func:`threshold_target`).
NOT_FITTED = ("slope", "intercept")

#: The sub-threshold step: this fraction of the experimental F-I threshold current must leave the cell silent.
SUBTHRESHOLD_FRACTION = 0.5
SUBTHRESHOLD_STEP = "subthreshold"

SD_RULE = "sd = max(sd across the published HoF models, 5% of |experimental value|, 1e-3)"

#: Largest z-score of one feature; also the score of a feature the model does not produce (e.g. no spikes).
MAX_SCORE = 250.0


@dataclass(frozen=True)
class FeatureTarget:
    """One experimental feature: value and sd in the feature's unit."""

    name: str  # "<step>.<eFEL name>"
    value: float
    sd: float

    def __post_init__(self) -> None:
        if "." not in self.name:
            raise FitError(f"target {self.name!r} must be named '<step>.<eFEL feature>'")
        if not math.isfinite(self.value):
            raise FitError(f"target {self.name}: experimental value {self.value!r} is not finite")
        if not (math.isfinite(self.sd) and self.sd > 0):
            raise FitError(f"target {self.name}: sd must be positive and finite, not {self.sd!r}")

    @property
    def step(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def feature(self) -> str:
        """The eFEL feature name."""
        return self.name.split(".", 1)[1]

    def z_score(self, model_value: float, max_score: float = MAX_SCORE) -> float:
        """``|model - experiment| / sd``, ``max_score`` when the model value is missing, capped at it."""
        if model_value is None or not math.isfinite(model_value):
            return max_score
        return min(abs(model_value - self.value) / self.sd, max_score)


@dataclass(frozen=True)
class FitTargets:
    """Experimental features in a fixed order, with the step amplitudes (nA) that produce them."""

    targets: tuple[FeatureTarget, ...]
    amplitudes: Mapping[str, float]
    source: str
    sd_rule: str = SD_RULE

    def __post_init__(self) -> None:
        if not self.targets:
            raise FitError(f"{self.source}: no experimental features to fit")
        names = [t.name for t in self.targets]
        if len(set(names)) != len(names):
            raise FitError(f"{self.source}: duplicate target features {names}")
        missing = sorted({t.step for t in self.targets} - set(self.amplitudes))
        if missing:
            raise FitError(f"{self.source}: no step amplitude for step(s) {missing}")

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.targets]

    @property
    def steps(self) -> list[str]:
        """Steps that the targets need, in a fixed order (amplitudes' order)."""
        used = {t.step for t in self.targets}
        return [s for s in self.amplitudes if s in used]

    def features_of(self, step: str) -> list[str]:
        """eFEL feature names needed on one step, in target order."""
        return [t.feature for t in self.targets if t.step == step]

    def only_steps(self, steps: Sequence[str]) -> "FitTargets":
        """The targets of some steps only (stage 1 uses the hyperpolarising step)."""
        kept = tuple(t for t in self.targets if t.step in steps)
        return FitTargets(kept, {s: a for s, a in self.amplitudes.items() if s in steps}, self.source, self.sd_rule)

    def z_scores(self, features: Mapping[str, float], max_score: float = MAX_SCORE) -> list[float]:
        """Z-score of every target given model features keyed by target name."""
        return [t.z_score(features.get(t.name, math.nan), max_score) for t in self.targets]

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sd_rule": self.sd_rule,
            "amplitudes_nA": dict(self.amplitudes),
            "targets": [{"name": t.name, "value": t.value, "sd": t.sd} for t in self.targets],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "FitTargets":
        return cls(
            tuple(FeatureTarget(str(t["name"]), float(t["value"]), float(t["sd"])) for t in raw["targets"]),
            {str(k): float(v) for k, v in raw["amplitudes_nA"].items()},
            str(raw["source"]),
            str(raw.get("sd_rule", SD_RULE)),
        )


#: Quality control of the published fits: these features within +-40% of the experiment.
QC_FEATURES = ("depol.AHP1_depth_from_peak", "depol.AP1_width")
QC_TOLERANCE = 0.4


def passes_qc(features: Mapping[str, float], targets: FitTargets) -> bool:
    """The upstream quality control: every :data:`QC_FEATURES` target within 40% of the experimental value."""
    by_name = {t.name: t for t in targets.targets}
    for name in QC_FEATURES:
        if name not in by_name:
            continue
        value = features.get(name, math.nan)
        if value is None or not math.isfinite(value):
            return False
        if abs(value - by_name[name].value) > QC_TOLERANCE * abs(by_name[name].value):
            return False
    return True


def threshold_target(intercept: float, fraction: float = SUBTHRESHOLD_FRACTION) -> tuple[FeatureTarget, float] | None:
    """The target derived from the experimental F-I threshold ``intercept`` (nA), with its step amplitude (nA).

    A step of ``fraction * intercept`` must give no spike: ``subthreshold.Spikecount`` = 0 with sd 1 spike, so
    its z-score is the number of spikes. None when the intercept is missing or not positive.
    """
    if intercept is None or not math.isfinite(float(intercept)) or float(intercept) <= 0:
        return None
    return FeatureTarget(f"{SUBTHRESHOLD_STEP}.Spikecount", 0.0, 1.0), fraction * float(intercept)


def with_threshold(targets: FitTargets, intercept: float | None) -> FitTargets:
    """``targets`` plus :func:`threshold_target` of ``intercept`` (unchanged when there is none)."""
    extra = threshold_target(intercept) if intercept is not None else None
    if extra is None or extra[0].name in targets.names:
        return targets
    target, amplitude = extra
    return FitTargets(
        targets.targets + (target,),
        {**dict(targets.amplitudes), SUBTHRESHOLD_STEP: amplitude},
        targets.source,
        targets.sd_rule + f"; {target.name}: sd 1 spike at {SUBTHRESHOLD_FRACTION:g} x the F-I threshold",
    )


def build_targets(
    experimental: Mapping[str, float],
    population: Sequence[Mapping[str, float]] = (),
    amplitudes: Mapping[str, float] | None = None,
    source: str = "experimental features",
    rel_floor: float = 0.05,
    abs_floor: float = 1e-3,
) -> FitTargets:
    """Targets from experimental features (``<step>.<feature>`` -> value) and the published HoF features.

    Features that are NaN in the experiment, and :data:`NOT_FITTED` ones, are left out; an empty result is an
    error naming ``source``.
    """
    amplitudes = dict(DEFAULT_STEP_AMPLITUDES if amplitudes is None else amplitudes)
    if not experimental:
        raise FitError(f"{source}: the experimental feature table is empty")
    targets = []
    for name, value in experimental.items():
        if name in NOT_FITTED or "." not in name or value is None or not math.isfinite(float(value)):
            continue
        if name.split(".", 1)[0] not in amplitudes:
            continue
        spread_values = [float(p[name]) for p in population if name in p and math.isfinite(float(p[name]))]
        spread = float(np.std(spread_values)) if len(spread_values) > 1 else 0.0
        sd = max(spread, rel_floor * abs(float(value)), abs_floor)
        targets.append(FeatureTarget(name, float(value), sd))
    if not targets:
        raise FitError(f"{source}: no finite experimental feature of steps {sorted(amplitudes)} to fit")
    return FitTargets(tuple(targets), amplitudes, source)


def cell_targets(cell, amplitudes: Mapping[str, float] | None = None) -> FitTargets:
    """Targets of a :class:`noble.data.Cell` from its experimental feature table."""
    table = cell.spec.experimental_features
    source = f"{cell.root / table}" if table else f"cell {cell.name}"
    if not cell.experimental_features:
        raise FitError(f"{source}: cell {cell.name} has no experimental features to fit")
    targets = build_targets(
        cell.experimental_features, [m.features for m in cell.hof_models], amplitudes, source=source
    )
    return with_threshold(targets, cell.experimental_features.get("intercept"))


def sweep_targets(
    sweeps: Sequence[Any],
    population: Sequence[Mapping[str, float]] = (),
    amplitudes: Mapping[str, float] | None = None,
    features: Mapping[str, Sequence[str]] | None = None,
    tolerance: float = 0.005,
    source: str = "Allen Long Square sweeps",
    rel_floor: float = 0.05,
    abs_floor: float = 1e-3,
) -> FitTargets:
    """Targets from recorded sweeps (:class:`noble.data.allen.LongSquareSweep`: ms, mV, nA).

    For each step, the sweeps whose amplitude lies within ``tolerance`` nA of the step's amplitude give one
    eFEL value each: the target is their mean and, with two or more sweeps, its sd is their standard deviation
    (the upstream rule), floored as in :data:`SD_RULE`; with one sweep the sd follows :data:`SD_RULE`.
    ``features`` maps step -> eFEL names (default: the feature names of the cell tables).
    """
    amplitudes = dict(DEFAULT_STEP_AMPLITUDES if amplitudes is None else amplitudes)
    features = dict(TABLE_FEATURES if features is None else features)
    targets = []
    for step, amplitude in amplitudes.items():
        chosen = [s for s in sweeps if abs(float(s.amplitude) - amplitude) <= tolerance]
        names = list(features.get(step, ()))
        if not chosen or not names:
            continue
        rows = [extract_features(s.v, s.t, s.stim_start, s.stim_end, names)[0] for s in chosen]
        for name in names:
            values = np.array([r[name] for r in rows], dtype=float)
            values = values[np.isfinite(values)]
            if values.size == 0:
                continue
            key = f"{step}.{name}"
            spread = [float(p[key]) for p in population if key in p and math.isfinite(float(p[key]))]
            sd_sweeps = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
            sd_hof = float(np.std(spread)) if values.size == 1 and len(spread) > 1 else 0.0
            mean = float(values.mean())
            targets.append(FeatureTarget(key, mean, max(sd_sweeps, sd_hof, rel_floor * abs(mean), abs_floor)))
    if not targets:
        raise FitError(
            f"{source}: no sweep within {tolerance} nA of the step amplitudes "
            f"{', '.join(f'{s} {a:g} nA' for s, a in amplitudes.items())} gave a feature"
        )
    rule = "sd = max(sd across repeated sweeps, or the HoF spread for a single sweep, 5% of |value|, 1e-3)"
    return FitTargets(tuple(targets), amplitudes, source, rule)


#: eFEL features of the cell packages' experimental tables, per step.
TABLE_FEATURES: dict[str, tuple[str, ...]] = {
    "hyperpol": (
        "decay_time_constant_after_stim",
        "sag_amplitude",
        "steady_state_voltage",
        "steady_state_voltage_stimend",
        "voltage_base",
    ),
    "depol": (
        "AHP1_depth_from_peak",
        "AHP_depth",
        "AHP_time_from_peak",
        "AP1_peak",
        "AP1_width",
        "Spikecount",
        "decay_time_constant_after_stim",
        "depol_block",
        "inv_first_ISI",
        "mean_AP_amplitude",
        "steady_state_voltage",
        "steady_state_voltage_stimend",
        "time_to_first_spike",
        "voltage_base",
    ),
}


def cached_allen_nwb(cell, cache: str | Path | None = None) -> Path | None:
    """The cell's Allen NWB file when it is already in the Allen cache (nothing is downloaded), else None."""
    folder = Path(cache) if cache is not None else allen_cache_dir()
    path = folder / f"specimen_{cell.spec.specimen_id}" / "ephys.nwb"
    return path if path.is_file() else None


def allen_targets(cell, nwb: str | Path, amplitudes: Mapping[str, float] | None = None) -> FitTargets:
    """Targets of a cell from its Allen NWB file (its Long Square sweeps)."""
    sweeps = read_long_square_sweeps(nwb)
    targets = sweep_targets(sweeps, [m.features for m in cell.hof_models], amplitudes, source=str(nwb))
    return with_threshold(targets, cell.experimental_features.get("intercept"))
