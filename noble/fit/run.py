"""The two-stage fit of a cell's HoF models and its output folder.

Stage 1 (``passive``) fits the passive properties and Ih (``Ra``, ``cm``, ``g_pas``, ``e_pas``, ``gbar_Ih``) of
a model without its other channels to the hyperpolarising-step features. Stage 2 (``active``) holds the best
stage-1 values and fits every other parameter (active conductances, calcium dynamics) to all targets (both
experimental steps and the sub-threshold step, see :mod:`noble.fit.targets`). Units: nA, mV, ms; parameters
in the model-file units.

Output folder::

    fit.json            settings, parameter prior, targets, timings, hall of fame with z-scores
    history.csv         stage, generation, stage_generation, n_evaluations, min/mean/median/best error
    hall_of_fame/       the best models as Allen model JSON (the cell's HoF file naming), best first
    checkpoints/        passive.json, active.json: the state after the last finished generation
"""
from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping

from noble.data import Cell, load_cell
from noble.data.allen import allen_cache_dir
from noble.data.fitted import RESULT_FILE as _FIT_RESULT_FILE
from noble.data.fitted import load_fitted_models as _load_fitted
from noble.data.fitted import read_fit_info
from noble.fit.errors import FitError
from noble.fit.evaluate import StageSetup, evaluate, get_fit_engine
from noble.fit.optimizer import EvolutionSettings, Scored, StageOutcome, evolve
from noble.fit.parallel import make_mapper
from noble.fit.parameters import ModelTemplate, ParameterSpace, prior_space
from noble.fit.profiles import FitProfile, get_fit_profile
from noble.fit.targets import FitTargets, allen_targets, cached_allen_nwb, cell_targets, passes_qc

RESULT_FILE = _FIT_RESULT_FILE  # "fit.json", defined where fit folders are read (noble.data.fitted)
HISTORY_FILE = "history.csv"
HISTORY_COLUMNS = (
    "stage",
    "generation",
    "stage_generation",
    "n_evaluations",
    "min_error",
    "mean_error",
    "median_error",
    "best_error",
)
STAGES = ("passive", "active")


@dataclass
class FitResult:
    """A finished fit: hall-of-fame files (best first), error history and timings (s)."""

    out_dir: Path
    cell: str
    profile: str
    seed: int
    hall_of_fame: list[Path]
    hof_errors: list[float]  # mean z-score of each hall-of-fame model
    history: Any  # pandas.DataFrame with HISTORY_COLUMNS
    timings: dict[str, float]
    n_evaluations: dict[str, int]
    targets: FitTargets
    parameters: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def best_error(self) -> float:
        """Mean z-score of the best model."""
        return self.hof_errors[0]

    def models(self):
        """The hall of fame as :class:`noble.data.HofModel` objects, ready for a simulator engine."""
        return load_fitted_models(self.out_dir)


def _resolve_cell(cell, root):
    return cell if isinstance(cell, Cell) else load_cell(str(cell), root=root)


def hof_file_name(spec, seed: int, rank: int) -> str:
    """A file name that the cell's HoF naming accepts, for fit seed ``seed`` and rank ``rank``."""
    candidates = (
        f"{spec.cell_type.upper()}__{spec.specimen_id}_seed_{seed}_hof_{rank}.json",
        f"{spec.cell_type}__{spec.specimen_id}_seed_{seed}_hof_{rank}.json",
        f"hof_param_{spec.specimen_id}_{rank}.json",
    )
    for name in candidates:
        if spec.parse_hof_name(name) is not None:
            return name
    return candidates[0]


def _stage_setups(cell, profile: FitProfile, targets: FitTargets, space: ParameterSpace, engine: str):
    template = ModelTemplate.from_file(cell.hof_models[0].path)
    common = dict(
        cell=cell.name,
        morphology=str(cell.morphology),
        template=template.raw,
        targets=targets,
        protocol=profile.protocol,
        engine=engine,
    )
    passive_steps = [s for s in ("hyperpol",) if s in targets.steps]
    if not passive_steps:
        raise FitError(f"{targets.source}: no hyperpolarising-step feature for the passive stage")
    passive = StageSetup(
        **{**common, "targets": targets.only_steps(passive_steps)},
        space=space.subset(passive=True),
        fixed={},
        keep_mechanisms=("Ih",),
    )
    return passive, dict(common, space=space.subset(passive=False), keep_mechanisms=None)


def _batch(mapper, setup: StageSetup):
    fn = partial(evaluate, setup)

    def run(genomes, on_done):
        return [(e.errors, e.features) for e in mapper.map(fn, genomes, on_done)]

    return run


def _write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row[k] for k in HISTORY_COLUMNS})


def _history_rows(outcomes: Mapping[str, StageOutcome]) -> list[dict[str, Any]]:
    rows, offset = [], 0
    for stage in STAGES:
        if stage not in outcomes:
            continue
        for r in outcomes[stage].history:
            rows.append({**r, "stage": stage, "generation": offset + r["generation"], "stage_generation": r["generation"]})
        offset += len(outcomes[stage].history)
    return rows


def run_fit(
    cell,
    profile: str | FitProfile = "quick",
    seed: int = 1,
    out_dir: str | Path = "fit",
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    engine: str = "arbor",
    targets: FitTargets | str = "auto",
    root: str | Path | None = None,
    progress: bool = True,
    on_generation: Callable[[str, int, dict[str, Any]], None] | None = None,
) -> FitResult:
    """Fit HoF models of ``cell`` (a name or :class:`noble.data.Cell`) and write them under ``out_dir``.

    ``targets``: ``"table"`` (the cell package's experimental feature table), ``"allen"`` (the cell's Allen
    Long Square sweeps, from an NWB file already in the Allen cache), ``"auto"`` (Allen sweeps when cached, else
    the table) or a :class:`FitTargets`.
    Re-running with the same arguments resumes from the checkpoints in ``out_dir``. ``workers`` (default: the
    profile's) local processes score individuals, or a Dask cluster when ``scheduler`` is an address.
    """
    started = time.perf_counter()
    cell = _resolve_cell(cell, root)
    profile = get_fit_profile(profile) if isinstance(profile, str) else profile
    if not isinstance(seed, int) or seed < 0:
        raise FitError(f"seed must be a non-negative integer, not {seed!r}")
    targets = resolve_targets(cell, targets)
    templates = [ModelTemplate.from_file(m.path) for m in cell.hof_models]
    space = prior_space(templates, profile.widen)
    out = Path(out_dir)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    passive_setup, active_common = _stage_setups(cell, profile, targets, space, engine)
    engine_version = get_fit_engine(engine, profile.protocol).version()

    identity = {
        "cell": cell.name,
        "profile": {k: v for k, v in profile.as_dict().items() if k not in ("workers",)},
        "engine": engine,
        "targets": targets.as_dict(),
        "parameters": space.as_list(),
        "template": str(Path(cell.hof_models[0].path).name),
    }
    info: dict[str, Any] = {
        "format": "noble-fit",
        "status": "running",
        "cell": cell.name,
        "seed": seed,
        "engine": engine_version,
        "profile": profile.as_dict(),
        "targets": targets.as_dict(),
        "parameters": space.as_list(),
        "template": str(cell.hof_models[0].path),
    }
    (out / RESULT_FILE).write_text(json.dumps(info, indent=1))

    outcomes: dict[str, StageOutcome] = {}
    with make_mapper(workers if workers is not None else profile.workers, scheduler) as mapper:
        info["backend"] = mapper.description

        def run_stage(
            name: str, setup: StageSetup, settings: EvolutionSettings, seed_offset: int, stage_identity: dict
        ) -> StageOutcome:
            return evolve(
                name,
                len(setup.space),
                setup.targets.names,
                _batch(mapper, setup),
                settings,
                seed * 10 + seed_offset,
                out / "checkpoints" / f"{name}.json",
                on_generation=on_generation,
                progress=progress,
                identity=stage_identity,
            )

        outcomes["passive"] = run_stage("passive", passive_setup, profile.passive, 1, identity)
        best_passive = passive_setup.space.decode(outcomes["passive"].hall_of_fame[0].genome)
        active_setup = StageSetup(**active_common, fixed=best_passive)
        active_identity = {**identity, "passive_fit": best_passive}
        outcomes["active"] = run_stage("active", active_setup, profile.active, 2, active_identity)

    hof_dir = out / "hall_of_fame"
    hof_dir.mkdir(exist_ok=True)
    for old in hof_dir.glob("*.json"):
        old.unlink()
    hof_records = []
    for rank, member in enumerate(outcomes["active"].hall_of_fame):
        raw = active_setup.model_json(member.genome)
        raw["noble_fit"] = {
            "profile": profile.name,
            "seed": seed,
            "rank": rank,
            "mean_z_score": member.total,
            "z_scores": dict(zip(active_setup.targets.names, member.errors)),
            "passes_qc": passes_qc(member.features, active_setup.targets),
        }
        path = hof_dir / hof_file_name(cell.spec, seed, rank)
        path.write_text(json.dumps(raw, indent=4))
        hof_records.append(_hof_record(path, rank, member, active_setup))

    rows = _history_rows(outcomes)
    _write_history(out / HISTORY_FILE, rows)
    info.update(
        status="finished",
        passive_fit=best_passive,
        hall_of_fame=hof_records,
        timings_s={
            "passive": outcomes["passive"].seconds,
            "active": outcomes["active"].seconds,
            "this_call": time.perf_counter() - started,
        },
        n_evaluations={s: o.n_evaluations for s, o in outcomes.items()},
    )
    (out / RESULT_FILE).write_text(json.dumps(info, indent=1))
    return load_fit_result(out)


def resolve_targets(cell, targets: FitTargets | str = "auto") -> FitTargets:
    """The fit targets of a cell for ``"table"``, ``"allen"`` or ``"auto"`` (see :func:`run_fit`)."""
    if isinstance(targets, FitTargets):
        return targets
    if targets not in ("auto", "table", "allen"):
        raise FitError(f"targets must be 'auto', 'table', 'allen' or FitTargets, not {targets!r}")
    nwb = cached_allen_nwb(cell) if targets in ("auto", "allen") else None
    if nwb is not None:
        return allen_targets(cell, nwb)
    if targets == "allen":
        raise FitError(
            f"the Allen NWB file of specimen {cell.spec.specimen_id} is not in {allen_cache_dir()}; download it "
            f"with noble.data.allen.download_ephys_nwb({cell.spec.specimen_id}) (needs network access)"
        )
    return cell_targets(cell)


def _hof_record(path: Path, rank: int, member: Scored, setup: StageSetup) -> dict[str, Any]:
    return {
        "rank": rank,
        "file": f"hall_of_fame/{path.name}",
        "mean_z_score": member.total,
        "passes_qc": passes_qc(member.features, setup.targets),
        "z_scores": dict(zip(setup.targets.names, member.errors)),
        "features": {k: (v if v == v else None) for k, v in member.features.items()},
        "parameters": {**dict(setup.fixed), **setup.space.decode(member.genome)},
    }


def _read_info(out: Path) -> dict[str, Any]:
    return read_fit_info(out, FitError)


def load_fit_result(out_dir: str | Path) -> FitResult:
    """Read a finished fit folder written by :func:`run_fit`."""
    import pandas as pd  # lazy: pandas (a slow import) only builds a display table here

    out = Path(out_dir)
    info = _read_info(out)
    history = pd.read_csv(out / HISTORY_FILE)
    hof = info["hall_of_fame"]
    return FitResult(
        out_dir=out,
        cell=info["cell"],
        profile=info["profile"]["name"],
        seed=int(info["seed"]),
        hall_of_fame=[out / h["file"] for h in hof],
        hof_errors=[float(h["mean_z_score"]) for h in hof],
        history=history,
        timings={k: float(v) for k, v in info["timings_s"].items()},
        n_evaluations={k: int(v) for k, v in info["n_evaluations"].items()},
        targets=FitTargets.from_dict(info["targets"]),
        parameters=[p["name"] for p in info["parameters"]],
        info=info,
    )


def load_fitted_models(out_dir: str | Path):
    """The hall of fame of a fit folder as :class:`noble.data.HofModel` (seed = fit seed, hof = rank)."""
    return _load_fitted(out_dir, FitError)
