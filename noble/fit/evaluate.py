"""Scoring one individual: model JSON -> simulation of the experimental steps -> eFEL features -> z-scores.

Units: currents nA, voltages mV, times ms. Everything a worker process needs travels in one picklable
:class:`StageSetup` (plain data only); the simulator engine is created once per worker process.
"""
from __future__ import annotations

import importlib
import inspect
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from noble.data import HofModel
from noble.data.params import parse_model_parameters
from noble.features import extract_features
from noble.fit.parameters import ModelTemplate, ParameterSpace
from noble.fit.targets import MAX_SCORE, FitTargets
from noble.sim import StepProtocol, get_engine
from noble.sim.engine import ENGINES

#: Name given to the model of an individual in messages (it has no file until it enters the hall of fame).
INDIVIDUAL_SOURCE = Path("<fit individual>")


@dataclass(frozen=True)
class FitProtocol:
    """The simulated version of the experimental Long Square steps (ms).

    Each step lasts ``stim_duration`` (the experiment's 1 s) after ``stim_start`` ms of baseline and is followed
    by ``post`` ms; ``settle`` ms of stimulus-free run are simulated first and discarded so that the baseline
    is the model's own rest. ``dt`` is the solver step and ``discretization`` the engine's compartment rule.
    """

    stim_start: float = 100.0
    stim_duration: float = 1000.0
    post: float = 200.0
    settle: float = 300.0
    dt: float = 0.05
    discretization: str = "max_extent:100"

    @property
    def t_stop(self) -> float:
        return self.stim_start + self.stim_duration + self.post

    @property
    def stim_end(self) -> float:
        return self.stim_start + self.stim_duration

    def step_protocol(self):
        """The engine's :class:`noble.sim.StepProtocol` (raw samples, no decimation)."""
        n_raw = int(round(self.t_stop / self.dt))
        return StepProtocol(
            t_stop=self.t_stop,
            stim_start=self.stim_start,
            stim_duration=self.stim_duration,
            dt=self.dt,
            decimation=1,
            n_samples=n_raw,
            settle=self.settle,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "stim_start": self.stim_start,
            "stim_duration": self.stim_duration,
            "post": self.post,
            "settle": self.settle,
            "dt": self.dt,
            "discretization": self.discretization,
        }


@dataclass(frozen=True)
class StageSetup:
    """Everything needed to score an individual of one stage (picklable)."""

    cell: str
    morphology: str
    template: Mapping[str, Any]  # a published model JSON: the skeleton of every individual
    space: ParameterSpace  # the free parameters of this stage
    fixed: Mapping[str, float]  # parameters held at a value (stage 2: the stage-1 passive fit)
    keep_mechanisms: tuple[str, ...] | None  # None: every mechanism of the template
    targets: FitTargets
    protocol: FitProtocol
    engine: str = "arbor"
    max_score: float = MAX_SCORE
    engine_options: Mapping[str, Any] = field(default_factory=dict)

    def model_json(self, genome: Sequence[float]) -> dict[str, Any]:
        """The Allen model JSON of a unit-cube genome."""
        values = dict(self.fixed)
        values.update(self.space.decode(genome))
        keep = set(self.keep_mechanisms) if self.keep_mechanisms is not None else None
        return ModelTemplate(self.template, INDIVIDUAL_SOURCE).build(values, keep)


@dataclass(frozen=True)
class Evaluation:
    """The score of one individual: z-score per target (target order) and the model's feature values."""

    errors: tuple[float, ...]
    features: Mapping[str, float]

    @property
    def total(self) -> float:
        """Mean z-score over the targets (the paper's HoF criterion)."""
        return float(np.mean(self.errors))


@lru_cache(maxsize=4)
def _engine(name: str, options: tuple[tuple[str, Any], ...]):
    return get_engine(name, **dict(options))


def engine_options(name: str, protocol: FitProtocol, extra: Mapping[str, Any] | None = None) -> tuple:
    """Constructor options of an engine: the protocol's ``discretization`` where the engine takes one."""

    options = dict(extra or {})
    if name in ENGINES:
        module, cls = ENGINES[name]
        try:
            klass = getattr(importlib.import_module(module), cls)
        except ImportError:
            klass = None
        if klass is not None and "discretization" in inspect.signature(klass).parameters:
            options.setdefault("discretization", protocol.discretization)
    return tuple(sorted(options.items()))


def get_fit_engine(name: str, protocol: FitProtocol, extra: Mapping[str, Any] | None = None):
    """The (per-process cached) engine a fit simulates with."""
    return _engine(name, engine_options(name, protocol, extra))


def hof_model_from_json(raw: Mapping[str, Any], cell: str, path: Path = INDIVIDUAL_SOURCE, index: int = 0):
    """A :class:`noble.data.HofModel` (no published features) from a model JSON."""
    return HofModel(cell, None, index, index, Path(path), parse_model_parameters(raw, Path(path)), {})


def simulate_features(setup: StageSetup, raw: Mapping[str, Any]) -> dict[str, float]:
    """Features (``<step>.<eFEL name>`` -> value, NaN when absent) of a model JSON on the target steps."""
    steps = setup.targets.steps
    engine = get_fit_engine(setup.engine, setup.protocol, setup.engine_options)
    protocol = setup.protocol.step_protocol()
    model = hof_model_from_json(raw, setup.cell)
    voltage = engine.simulate(model, Path(setup.morphology), [setup.targets.amplitudes[s] for s in steps], protocol)
    time = protocol.raw_time()
    out: dict[str, float] = {}
    for step, trace in zip(steps, voltage):
        names = setup.targets.features_of(step)
        if not np.all(np.isfinite(trace)):
            out.update({f"{step}.{n}": math.nan for n in names})
            continue
        row = extract_features(trace, time, setup.protocol.stim_start, setup.protocol.stim_end, names)[0]
        out.update({f"{step}.{n}": float(v) for n, v in row.items()})
    return out


def evaluate(setup: StageSetup, genome: Sequence[float]) -> Evaluation:
    """Score one individual; a model whose simulation fails numerically gets ``max_score`` on every target."""
    raw = setup.model_json(genome)
    try:
        features = simulate_features(setup, raw)
    except (RuntimeError, FloatingPointError):  # the solver gave up on an unstable parameter set
        features = {}
    return Evaluation(tuple(setup.targets.z_scores(features, setup.max_score)), features)
