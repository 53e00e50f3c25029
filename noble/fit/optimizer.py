"""A checkpointed (mu + lambda) multi-objective evolution with DEAP/BluePyOpt operators.

The loop follows BluePyOpt's ``eaAlphaMuPlusLambda``: each generation varies the parents (simulated binary
crossover and polynomial mutation on the unit cube, DEAP's bounded operators), scores the offspring, records
statistics, updates the hall of fame and selects the next parents from parents + offspring with IBEA
(BluePyOpt's ``selIBEA``) or NSGA-II (DEAP's ``selNSGA2``). Every objective is minimised.

After each generation the whole state (parents with their scores, hall of fame, history, and the state of
Python's ``random`` generator that the DEAP operators draw from) is written as JSON, so a killed run resumes and
ends exactly where an uninterrupted run with the same seed ends. The generator state is swapped in only around
the operators, so other users of ``random`` neither disturb nor are disturbed by the fit.
"""
from __future__ import annotations

import copy
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from noble.fit.errors import FitError
from noble.progress import tqdm

CHECKPOINT_FORMAT = "noble-fit-checkpoint"
CHECKPOINT_VERSION = 1
ALGORITHMS = ("ibea", "nsga2")


@dataclass(frozen=True)
class EvolutionSettings:
    """Size and operators of one evolution stage."""

    population: int  # parents (mu) and offspring per generation
    generations: int  # generations after the initial population
    algorithm: str = "ibea"
    n_hof: int = 20  # hall-of-fame size
    eta: float = 10.0  # crowding degree of crossover and mutation (BluePyOpt's default)
    cxpb: float = 1.0  # crossover probability of a pair
    mutpb: float = 1.0  # mutation probability of an individual
    indpb: float = 0.5  # mutation probability of a gene

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise FitError(f"unknown algorithm {self.algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
        if self.population < 2:
            raise FitError(f"population must be >= 2, not {self.population}")
        if self.generations < 0:
            raise FitError(f"generations must be >= 0, not {self.generations}")
        if self.n_hof < 1:
            raise FitError(f"hall-of-fame size must be >= 1, not {self.n_hof}")


@dataclass
class Scored:
    """An individual (unit-cube genome) with its objective values and feature values."""

    genome: list[float]
    errors: list[float]
    features: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """Mean of the objectives (mean z-score)."""
        return float(np.mean(self.errors))

    def to_json(self) -> dict[str, Any]:
        return {
            "genome": list(self.genome),
            "errors": list(self.errors),
            "features": {k: (v if math.isfinite(v) else None) for k, v in self.features.items()},
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "Scored":
        feats = {k: (math.nan if v is None else float(v)) for k, v in raw.get("features", {}).items()}
        return cls([float(x) for x in raw["genome"]], [float(e) for e in raw["errors"]], feats)


@dataclass
class StageOutcome:
    """What a finished stage leaves: hall of fame (best first), history rows, counts and time."""

    hall_of_fame: list[Scored]
    history: list[dict[str, Any]]
    n_evaluations: int
    seconds: float


#: ``evaluate_batch(genomes, on_done) -> [(errors, features), ...]`` in genome order.
BatchEvaluator = Callable[[list[list[float]], Callable[[], None] | None], list[tuple[Sequence[float], Mapping[str, float]]]]


class _Rng:
    """A saved state of Python's ``random`` generator, swapped in only inside ``with``."""

    def __init__(self, state: tuple):
        self.state = state

    @classmethod
    def seeded(cls, seed: int) -> "_Rng":
        return cls(random.Random(seed).getstate())

    def __enter__(self) -> "_Rng":
        self._outside = random.getstate()
        random.setstate(self.state)
        return self

    def __exit__(self, *exc) -> None:
        self.state = random.getstate()
        random.setstate(self._outside)

    def to_json(self) -> list:
        version, internal, gauss = self.state
        return [version, list(internal), gauss]

    @classmethod
    def from_json(cls, raw: Sequence) -> "_Rng":
        return cls((int(raw[0]), tuple(int(x) for x in raw[1]), raw[2]))


def _deap_classes(n_objectives: int):
    from deap import base  # lazy: fit-only dependency, loaded when a fit runs

    fitness = type("FitFitness", (base.Fitness,), {"weights": (-1.0,) * n_objectives})

    class Individual(list):
        def __init__(self, genes=(), index: int = -1):
            super().__init__(genes)
            self.fitness = fitness()
            self.index = index

    return Individual


def _toolbox(settings: EvolutionSettings):
    from deap import base, tools  # lazy: fit-only dependency, loaded when a fit runs

    tb = base.Toolbox()
    tb.register("mate", tools.cxSimulatedBinaryBounded, eta=settings.eta, low=0.0, up=1.0)
    tb.register("mutate", tools.mutPolynomialBounded, eta=settings.eta, low=0.0, up=1.0, indpb=settings.indpb)
    if settings.algorithm == "ibea":
        from bluepyopt.deapext.tools import selIBEA  # lazy: fit-only dependency, loaded when a fit runs

        tb.register("select", selIBEA)
    else:
        tb.register("select", tools.selNSGA2)
    return tb


def _statistics(population: Sequence[Scored], hall: Sequence[Scored]) -> dict[str, float]:
    totals = np.array([s.total for s in population])
    return {
        "min_error": float(totals.min()),
        "mean_error": float(totals.mean()),
        "median_error": float(np.median(totals)),
        "best_error": hall[0].total,
    }


def _update_hall(hall: list[Scored], population: Sequence[Scored], size: int) -> list[Scored]:
    seen: set[tuple[float, ...]] = set()
    merged = []
    for s in list(hall) + list(population):
        key = tuple(s.genome)
        if key not in seen:
            seen.add(key)
            merged.append(s)
    merged.sort(key=lambda s: s.total)
    return merged[:size]


def _atomic_write_json(path: Path, payload: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)


def _load_checkpoint(path: Path, identity: Mapping[str, Any]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise FitError(f"{path}: corrupt checkpoint ({exc.msg} at line {exc.lineno}); delete it to start over") from None
    if raw.get("format") != CHECKPOINT_FORMAT or raw.get("version") != CHECKPOINT_VERSION:
        raise FitError(f"{path}: not a noble fit checkpoint of version {CHECKPOINT_VERSION}")
    if raw.get("identity") != json.loads(json.dumps(identity)):
        raise FitError(
            f"{path}: checkpoint belongs to another fit (different settings, seed, parameters or targets); "
            "use a new output folder"
        )
    return raw


def evolve(
    name: str,
    n_genes: int,
    objectives: Sequence[str],
    evaluate_batch: BatchEvaluator,
    settings: EvolutionSettings,
    seed: int,
    checkpoint: str | Path,
    on_generation: Callable[[str, int, dict[str, Any]], None] | None = None,
    progress: bool = True,
    identity: Mapping[str, Any] | None = None,
) -> StageOutcome:
    """Run (or resume from ``checkpoint``) one evolution stage and return its outcome.

    ``identity`` (JSON-able) is stored in the checkpoint; resuming with a different one is an error.
    ``on_generation(name, generation, history_row)`` is called after each generation's checkpoint is written.
    """
    if n_genes < 1:
        raise FitError(f"stage {name}: no free parameters")
    if not objectives:
        raise FitError(f"stage {name}: no objectives")
    checkpoint = Path(checkpoint)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    ident = {
        "stage": name,
        "n_genes": n_genes,
        "objectives": list(objectives),
        "settings": asdict(settings),
        "seed": seed,
        **({"fit": identity} if identity else {}),
    }
    Individual = _deap_classes(len(objectives))
    toolbox = _toolbox(settings)

    def as_individuals(scored: Sequence[Scored]) -> list:
        """DEAP individuals of scored genomes (errors as fitness values, ``index`` = position in ``scored``)."""
        out = []
        for i, s in enumerate(scored):
            ind = Individual(s.genome, i)
            ind.fitness.values = tuple(s.errors)
            out.append(ind)
        return out

    state = _load_checkpoint(checkpoint, ident)
    total_evals = settings.population * (settings.generations + 1)
    bar = tqdm(total=total_evals, desc=f"fit {name}", unit="model", disable=not progress, leave=True)
    started = time.perf_counter()
    prior_seconds = 0.0

    def score(genomes: list[list[float]]) -> list[Scored]:
        results = evaluate_batch(genomes, lambda: bar.update(1))
        if len(results) != len(genomes):
            raise FitError(f"stage {name}: {len(genomes)} individuals scored as {len(results)}")
        out = []
        for g, (errors, feats) in zip(genomes, results):
            errors = [float(e) for e in errors]
            if len(errors) != len(objectives):
                raise FitError(f"stage {name}: evaluator returned {len(errors)} objectives, expected {len(objectives)}")
            out.append(Scored(list(g), errors, dict(feats)))
        return out

    def save(gen: int, parents, hall, history, rng, n_evals) -> None:
        _atomic_write_json(
            checkpoint,
            {
                "format": CHECKPOINT_FORMAT,
                "version": CHECKPOINT_VERSION,
                "identity": ident,
                "generation": gen,
                "n_evaluations": n_evals,
                "seconds": prior_seconds + time.perf_counter() - started,
                "rng_state": rng.to_json(),
                "parents": [p.to_json() for p in parents],
                "hall_of_fame": [h.to_json() for h in hall],
                "history": history,
            },
        )

    try:
        if state is None:
            rng = _Rng.seeded(seed)
            with rng:
                genomes = [[random.random() for _ in range(n_genes)] for _ in range(settings.population)]
            parents = score(genomes)
            hall = _update_hall([], parents, settings.n_hof)
            history = [{"generation": 0, "n_evaluations": len(parents), **_statistics(parents, hall)}]
            gen, n_evals = 0, len(parents)
            save(gen, parents, hall, history, rng, n_evals)
            if on_generation:
                on_generation(name, gen, history[-1])
        else:
            rng = _Rng.from_json(state["rng_state"])
            parents = [Scored.from_json(p) for p in state["parents"]]
            hall = [Scored.from_json(h) for h in state["hall_of_fame"]]
            history = list(state["history"])
            gen, n_evals = int(state["generation"]), int(state["n_evaluations"])
            prior_seconds = float(state.get("seconds", 0.0))
            bar.update(min(n_evals, total_evals))

        while gen < settings.generations:
            gen += 1
            with rng:
                offspring = _vary(as_individuals(parents), toolbox, settings)
            children = score([list(map(float, ind)) for ind in offspring])
            n_evals += len(children)
            population = parents + children
            hall = _update_hall(hall, population, settings.n_hof)
            history.append({"generation": gen, "n_evaluations": n_evals, **_statistics(population, hall)})
            with rng:
                selected = toolbox.select(as_individuals(population), settings.population)
            parents = [copy.deepcopy(population[ind.index]) for ind in selected]
            save(gen, parents, hall, history, rng, n_evals)
            bar.set_postfix(best=f"{hall[0].total:.3g}", median=f"{history[-1]['median_error']:.3g}")
            if on_generation:
                on_generation(name, gen, history[-1])
    finally:
        bar.close()
    return StageOutcome(hall, history, n_evals, prior_seconds + time.perf_counter() - started)


def _vary(parents, toolbox, settings: EvolutionSettings):
    """BluePyOpt's offspring step: DEAP ``varAnd`` (crossover of pairs, then mutation) on clones."""
    from deap import algorithms  # lazy: fit-only dependency, loaded when a fit runs

    return algorithms.varAnd(parents, toolbox, settings.cxpb, settings.mutpb)
