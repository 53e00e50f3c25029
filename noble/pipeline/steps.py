"""The cached steps behind the notebooks: cell package, HoF fit, PDE datasets, trained models, metrics.

Every ``ensure_*`` function computes what is missing and reuses what a previous call left in the run's
:class:`~noble.pipeline.layout.RunLayout`, so a notebook runs standalone and a rerun takes seconds. A cached
result is reused only when the settings that produced it are unchanged (each step stores a signature of its
inputs); otherwise it is recomputed.

Units: current nA, voltage mV, time ms; errors in percent.

The PDE datasets are simulated on the cell package's published HoF models (the paper's models). The fit step
(:func:`ensure_fit`) runs the same two-stage optimisation at the profile's scale to show the method and its
error history; at the paper's scale it is a cluster job (about 600,000 CPU core hours per cell).

A cell's training settings are data, not code: :func:`model_config` applies its ``CellSpec.settings`` (for the
VIP cell the paper's K = 11 amplitude frequencies, epochs x1.5 (450 for 300) and ReduceLROnPlateau factor 0.8;
for an added package its descriptor's ``settings``).

Length: about 600 lines because every cached step of the run folder shares one signature and pretrained-
weights mechanism; splitting it per step would spread that contract over several modules.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np

from noble.checkpoint import build_card, load_model, save_model
from noble.data import Cell, load_cell
from noble.data.fetch import cache_status, fetch_cell
from noble.data.registry import DEFAULT_CELL, cell_spec
from noble.errors import NobleError
from noble.evaluation import SagFinetuneConfig, evaluate_model, finetune_sag, negative_step_rows, sag_metrics
from noble.evaluation.evaluate import training_reference
from noble.fit import FitError, load_fit_result, run_fit
from noble.hashing import sha256_file
from noble.jsonfile import write_json_atomic
from noble.paths import shared_data_dir
from noble.pipeline.layout import RunLayout
from noble.pipeline.layout import figures_dir as default_figures_dir
from noble.pipeline.profiles import Profile, get_profile
from noble.pipeline.provenance import git_commit
from noble.plotting.style import set_provenance
from noble.sim.dataset import generate_dataset, grid_plan, sampled_plan
from noble.sim.traces import TraceDataset, concat_datasets, read_dataset, upgrade_dataset
from noble.training import load_config, train
from noble.training.loop import load_split
from noble.training.stages import STAGES_LOG, ResolutionStage, mark_stage_finished, stage_finished, train_stages


#: Seeds of the sampled datasets (fixed, recorded in each data card).
TRAIN_SEED = 1
UNSEEN_SEED = 2
TEST_SEED = 3

DATASET_KEYS = ("train", "unseen_currents", "test_hofs", "fi_grid")
SIGNATURE_FILE = "pipeline_step.json"


class PipelineError(NobleError):
    """A pipeline step cannot run with the given settings (bad tag, unknown HoF model, missing model...)."""


# ------------------------------------------------------------------------------------------------ helpers


def _as_profile(profile: Profile | str) -> Profile:
    return profile if isinstance(profile, Profile) else get_profile(profile)


def _check_tag(tag: str) -> str:
    if not tag or not all(ch.isalnum() or ch in "_-." for ch in tag) or tag.startswith("."):
        raise PipelineError(f"model tag {tag!r} must be a non-empty name of letters, digits, '_', '-' or '.'")
    return tag


def _write_json(path: Path, data: Any) -> None:
    write_json_atomic(path, data, sort_keys=True, default=str)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


# ------------------------------------------------------------------------------------------------ settings


def run_settings(profile: str, cell: str, work_dir: str | Path | None = None) -> tuple[Profile, RunLayout]:
    """The profile and the (created) run folder of one notebook run; ``work_dir`` None: $NOBLE_WORK_DIR/default."""
    prof = get_profile(profile)
    layout = RunLayout.for_run(prof.name, cell, Path(work_dir) if work_dir is not None else None)
    set_provenance(profile=prof.name, cell=cell, commit=git_commit())
    return prof, layout.ensure()


def output_dir(figures_dir: str | Path | None, cell: str) -> Path:
    """Where a run's figures and tables go: the figures folder for the paper's PVALB cell, a subfolder per other cell.

    ``figures_dir`` None: :func:`noble.pipeline.layout.figures_dir` ($NOBLE_FIGURES_DIR or ``<repo>/figures``).
    """
    root = Path(figures_dir) if figures_dir is not None else default_figures_dir()
    out = root if cell == DEFAULT_CELL else root / cell
    out.mkdir(parents=True, exist_ok=True)
    return out


def ensure_cell(cell: str):
    """The cell package ``cell`` as a :class:`noble.data.Cell`, fetched first when missing.

    Files are copied from the read-only reference copy ``../shared/data`` beside the checkout when present,
    else downloaded from the upstream sources pinned in the cell's manifest (into :func:`noble.paths.data_dir`).
    """
    if cell_spec(cell).user_package:  # added with `noble cells add`: already in the data cache
        return load_cell(cell)
    _, present, listed = cache_status(cell)
    if present < listed:
        shared = shared_data_dir()
        source = shared if shared is not None and (shared / "cells" / cell).is_dir() else None
        fetch_cell(cell, source_dir=source, progress=False)
    return load_cell(cell)


def hof_pools(profile: Profile | str, cell: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(train HoF indices, test HoF indices) used by a profile: the first ``n_*_hofs`` of the cell's split."""
    prof = _as_profile(profile)
    c = ensure_cell(cell)
    train = tuple(int(h) for h in c.split.train)
    test = tuple(int(h) for h in c.split.test)
    if prof.n_train_hofs is not None:
        train = train[: prof.n_train_hofs]
    if prof.n_test_hofs is not None:
        test = test[: prof.n_test_hofs]
    return train, test


# ------------------------------------------------------------------------------------------------ fit


def cell_lacks(c: Cell, needed: str) -> str | None:
    """Why a step that needs ``needed`` from the cell package cannot run on ``c`` (``None`` when it can).

    ``needed``: ``"experimental features"`` (the HoF fit, Fig 5B's errors against the experiment).
    """
    if needed == "experimental features":
        if not c.experimental_features:
            return (f"{c.name} has no experimental feature table (the package ships only models and a morphology); "
                    "steps that compare with the experiment are skipped")
        return None
    raise PipelineError(f"unknown requirement {needed!r}; known: 'experimental features'")


def per_hof_features(cell: str) -> set[str]:
    """The names of the per-HoF features a cell package provides (what a model can embed)."""
    return set(ensure_cell(cell).hof_models[0].features)


def ensure_fit(profile: Profile | str, cell: str, layout: RunLayout):
    """Run (or resume, or reuse) the profile's two-stage HoF fit into ``layout.fit_dir``; a :class:`FitResult`."""
    prof = _as_profile(profile)
    lacking = cell_lacks(ensure_cell(cell), "experimental features")
    if lacking:
        raise PipelineError(f"no HoF fit: {lacking}")
    out = layout.fit_dir
    info = _read_json(out / "fit.json")
    if info is not None and (info.get("cell") != cell or info.get("profile", {}).get("name") != prof.fit_profile):
        shutil.rmtree(out)  # a fit of another cell or profile: start over
        info = None
    if info is not None and info.get("status") == "finished":
        try:
            return load_fit_result(out)
        except FitError:
            pass
    return run_fit(cell, prof.fit_profile, seed=1, out_dir=out, workers=prof.workers)


# ------------------------------------------------------------------------------------------------ datasets


def dataset_plans(profile: Profile | str, cell: str) -> dict[str, Any]:
    """The :class:`noble.sim.dataset.DatasetPlan` of each dataset of a profile, keyed like :data:`DATASET_KEYS`.

    * ``train``: ``n_train_samples`` skew-normal amplitudes (nA), each on a random train HoF model;
    * ``unseen_currents``: ``n_test_samples_per_hof`` new amplitudes per train HoF (another seed);
    * ``test_hofs``: as many amplitudes per held-out test HoF model;
    * ``fi_grid``: every train and test HoF at every amplitude of the profile's F-I grid.
    """
    prof = _as_profile(profile)
    train, test = hof_pools(prof, cell)
    options = {"discretization": prof.discretization}
    return {
        "train": sampled_plan(cell, prof.n_train_samples, TRAIN_SEED, hofs=train, engine_options=options),
        "unseen_currents": sampled_plan(
            cell, prof.n_test_samples_per_hof * len(train), UNSEEN_SEED, hofs=train, engine_options=options
        ),
        "test_hofs": sampled_plan(
            cell, prof.n_test_samples_per_hof * len(test), TEST_SEED, hofs=test, engine_options=options
        ),
        "fi_grid": grid_plan(cell, sorted(train + test), prof.fi_amplitudes, engine_options=options, recipe="fi_grid"),
    }


def _dataset_plan_sha(path: Path) -> str | None:
    try:
        with h5py.File(path, "r") as fh:
            value = fh.attrs.get("plan_sha256")
    except OSError:
        return None
    return value.decode() if isinstance(value, bytes) else (str(value) if value is not None else None)


def _simulate(out: Path, plan, workers: int) -> Path:
    """Simulate ``plan`` into ``out`` (resumable), reusing a file of the same plan.

    A file of the same plan in the older training layout (from an earlier version) is upgraded in place,
    keeping its data card, so models trained on it still match.
    """
    fingerprint = plan.fingerprint()
    if out.is_file() and _dataset_plan_sha(out) == fingerprint:
        upgrade_dataset(out)
        return out
    if out.exists():
        out.unlink()  # another plan (the profile changed): regenerate
    return generate_dataset(out, plan, workers=workers, overwrite=True)


def _dataset_targets(layout: RunLayout) -> dict[str, Path]:
    return {
        "train": layout.train_data,
        "unseen_currents": layout.unseen_currents_data,
        "test_hofs": layout.test_hofs_data,
        "fi_grid": layout.fi_data,
    }


def ensure_dataset(profile: Profile | str, cell: str, layout: RunLayout, key: str) -> Path:
    """Simulate (or reuse) one PDE dataset of a run, ``key`` one of :data:`DATASET_KEYS`; its path."""
    if key not in DATASET_KEYS:
        raise PipelineError(f"unknown dataset {key!r}; choose one of {', '.join(DATASET_KEYS)}")
    prof = _as_profile(profile)
    ensure_cell(cell)
    layout.ensure()
    return _simulate(_dataset_targets(layout)[key], dataset_plans(prof, cell)[key], prof.workers)


def ensure_datasets(profile: Profile | str, cell: str, layout: RunLayout) -> dict[str, Path]:
    """Simulate the missing PDE datasets of a run; paths keyed ``train``, ``unseen_currents``, ``test_hofs``, ``fi_grid``."""
    prof = _as_profile(profile)
    ensure_cell(cell)
    layout.ensure()
    plans = dataset_plans(prof, cell)
    targets = _dataset_targets(layout)
    return {key: _simulate(targets[key], plans[key], prof.workers) for key in DATASET_KEYS}


# ------------------------------------------------------------------------------------------------ models


#: Cell settings :func:`model_config` understands (a cell's ``CellSpec.settings`` or package descriptor).
CELL_SETTINGS = ("amplitude_frequencies", "epoch_scale", "plateau_factor")


def cell_settings(cell: str) -> dict[str, Any]:
    """The training settings of a cell (its registry entry or package descriptor); unknown keys are an error."""
    settings = dict(cell_spec(cell).settings)
    unknown = sorted(set(settings) - set(CELL_SETTINGS))
    if unknown:
        raise PipelineError(f"cell {cell!r}: unknown training settings {unknown}; known: {list(CELL_SETTINGS)}")
    return settings


def model_config(profile: Profile | str, cell: str, features: Sequence[str] | None = None, name: str | None = None):
    """The :class:`noble.training.RunConfig` of a run: the profile's model, its epochs and time cap, the VIP settings.

    ``features`` replaces the embedded neuron features (names of the cell's per-HoF feature table, in order).
    """
    prof = _as_profile(profile)
    cfg = load_config(prof.model_profile)
    emb = cfg.embedding
    if features is not None:
        emb = replace(emb, features=tuple(str(f) for f in features))
    epochs = prof.epochs if prof.epochs is not None else cfg.training.epochs
    max_minutes = prof.max_minutes
    plateau = cfg.training.plateau_factor
    settings = cell_settings(cell)
    if "amplitude_frequencies" in settings:
        emb = replace(emb, amplitude_frequencies=int(settings["amplitude_frequencies"]))
    if "epoch_scale" in settings:
        scale = float(settings["epoch_scale"])
        epochs = int(math.ceil(epochs * scale))
        max_minutes = None if max_minutes is None else max_minutes * scale
    if "plateau_factor" in settings:
        plateau = float(settings["plateau_factor"])
    cfg = replace(cfg, embedding=emb, name=name or cfg.name)
    cfg = replace(cfg, training=replace(cfg.training, epochs=epochs, max_minutes=max_minutes, plateau_factor=plateau))
    return cfg


def _finetune_config(profile: Profile, finetune: Any):
    if isinstance(finetune, SagFinetuneConfig):
        return finetune
    if finetune is True:
        finetune = {}
    if not isinstance(finetune, Mapping):
        raise PipelineError(f"finetune must be a SagFinetuneConfig, a mapping of its fields or True, not {finetune!r}")
    known = {f.name for f in fields(SagFinetuneConfig)}
    unknown = sorted(set(finetune) - known)
    if unknown:
        raise PipelineError(f"unknown sag fine-tuning setting(s) {unknown}; known: {sorted(known)}")
    settings = dict(finetune)
    if "epochs" not in settings and profile.finetune_epochs is not None:
        settings["epochs"] = profile.finetune_epochs
    if "max_minutes" not in settings and profile.max_minutes is not None:
        settings["max_minutes"] = profile.max_minutes
    return SagFinetuneConfig(**settings)


def _subset_rows(dataset: TraceDataset, n: int) -> TraceDataset:
    """The first ``n`` traces of a dataset (its rows are in random order, so this is a random subset)."""
    if n < 1 or n > len(dataset):
        raise PipelineError(f"n_train_samples must be in 1..{len(dataset)} (the traces of {dataset.path}), not {n}")
    return dataset.select(slice(0, n))


def subset_training_path(layout: RunLayout, train_hofs: Sequence[int]) -> Path:
    """Where the training set simulated on a subset of the train HoF models is kept (one file per subset, shared
    by every seed and tag trained on it)."""
    hofs = sorted(int(h) for h in train_hofs)
    digest = hashlib.sha256(",".join(map(str, hofs)).encode()).hexdigest()[:10]
    return layout.data_dir / f"train_hofs-{len(hofs)}-{digest}.h5"


def training_data_path(layout: RunLayout, model_dir: Path, default: Path) -> Path:
    """The training set a pipeline model was trained on (recorded by :func:`ensure_model`), else ``default``."""
    state = _read_json(model_dir / SIGNATURE_FILE) or {}
    recorded = state.get("train_data")
    if not recorded:
        return default
    for candidate in (Path(recorded), layout.data_dir / Path(recorded).name):  # the run folder may have moved
        if candidate.is_file():
            return candidate
    raise PipelineError(f"{model_dir}: its training set {recorded} is gone; rerun ensure_model to simulate it again")


def training_data_paths(prof: Profile, cell: str, layout: RunLayout, model_dir: Path, default: Path) -> list[Path]:
    """Every file a pipeline model trained on, in the order its split counts rows: :func:`training_data_path`,
    then the extra traces of its continuation stages (named by its signature; simulated again when missing, e.g.
    for shipped weights, whose extra traces a run that only uses them never needed)."""
    state = _read_json(model_dir / SIGNATURE_FILE) or {}
    signature = state.get("signature") or {}
    paths = [training_data_path(layout, model_dir, default)]
    for stage in signature.get("stages") or []:
        for plan in _extra_plans(prof, cell, signature["train_hofs"], ResolutionStage.from_dict(stage)):
            paths.append(_simulate_extra(layout, plan, prof.workers))
    return paths


def _check_train_hofs(cell: str, train_hofs: Sequence[int]) -> tuple[int, ...]:
    c = ensure_cell(cell)
    hofs = tuple(sorted({int(h) for h in train_hofs}))
    unknown = sorted(set(hofs) - set(int(h) for h in c.split.train))
    if not hofs or unknown:
        raise PipelineError(
            f"train_hofs must be train HoF models of {cell}: "
            + (f"{unknown} are not" if unknown else "none given")
        )
    return hofs


def ensure_model(
    profile: Profile | str,
    cell: str,
    layout: RunLayout,
    tag: str = "main",
    features: Sequence[str] | None = None,
    train_hofs: Sequence[int] | None = None,
    n_train_samples: int | None = None,
    finetune: Any = None,
    seed: int | None = None,
) -> Path:
    """Train (or resume, or reuse) a model into ``layout.model_dir / tag``; returns that directory.

    ``features``: embedded neuron features (Table 1 ablation; default the configuration's slope, intercept);
    ``train_hofs``: train on a subset of the train HoF models, with a dataset of the same size simulated on
    that subset (Table 2); ``n_train_samples``: train on the first ``n`` traces of the training set;
    ``finetune``: sag fine-tuning (Table 3; a :class:`noble.evaluation.SagFinetuneConfig` or a mapping of its
    fields) of the model the other arguments describe, trained first under tag ``main`` (or ``<tag>-base``);
    ``seed``: the training seed (initialisation, batch order, hold-out split; default the configuration's), for
    seed-to-seed spreads of the same model on the same data.
    """
    prof = _as_profile(profile)
    tag = _check_tag(tag)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise PipelineError(f"seed must be a non-negative integer, not {seed!r}")
    if finetune is not None and seed is not None:
        raise PipelineError("a training seed cannot be given with finetune (the fine-tuned model keeps its base's)")
    if finetune is not None:
        return _ensure_finetuned(prof, cell, layout, tag, features, train_hofs, n_train_samples, finetune)
    pool_train, pool_test = hof_pools(prof, cell)
    use_train = pool_train
    if train_hofs is not None:
        use_train = _check_train_hofs(cell, train_hofs)
    if features is not None:
        known = per_hof_features(cell)
        unknown = [f for f in features if f not in known]
        if unknown:
            raise PipelineError(f"features {unknown} are not per-HoF features of {cell}; known: {sorted(known)}")
    if n_train_samples is not None and (not isinstance(n_train_samples, (int, np.integer)) or n_train_samples < 1):
        raise PipelineError(f"n_train_samples must be a positive integer, not {n_train_samples!r}")
    data_path = ensure_dataset(prof, cell, layout, "train")
    if train_hofs is not None:
        plan = sampled_plan(cell, n_train_samples or prof.n_train_samples, TRAIN_SEED, hofs=use_train,
                            engine_options={"discretization": prof.discretization})
        data_path = _simulate(subset_training_path(layout, use_train), plan, prof.workers)
    dataset = read_dataset(data_path)
    if n_train_samples is not None and train_hofs is None:
        dataset = _subset_rows(dataset, int(n_train_samples))
    config = model_config(prof, cell, features, name=f"{prof.model_profile}-{tag}")
    if seed is not None:
        config = replace(config, training=replace(config.training, seed=int(seed)))
    signature = {
        "config": config.as_dict(),
        "data_card_sha256": dataset.data_card_sha256,
        "n_traces": len(dataset),
        "train_hofs": list(use_train),
        "test_hofs": list(pool_test),
    }
    stages = prof.main_stages if (tag == "main" and seed is None and features is None and train_hofs is None
                                  and n_train_samples is None) else ()
    stage1_signature = dict(signature)
    extra_plans = [_extra_plans(prof, cell, use_train, s) for s in stages]
    if stages:
        signature["stages"] = [s.as_dict() for s in stages]
    if any(extra_plans):
        signature["stage_extra_plans"] = [_plans_fingerprint(p) for p in extra_plans]
    out = layout.model_dir / tag
    state = _read_json(out / SIGNATURE_FILE)
    same = state is not None and state.get("signature") == signature
    if same and state.get("status") == "finished" and (out / "model_card.json").is_file():
        _note_main_model(tag, out)
        return out
    if not retrain_requested() and not (same and (out / "state" / "last.pt").is_file()):
        if _use_pretrained(prof.name, cell, tag, signature, dataset, out):
            _note_main_model(tag, out)
            return out
    resume = same and (out / "state" / "last.pt").is_file()
    if not resume and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / SIGNATURE_FILE, {"status": "running", "signature": signature})
    if stages:
        done = _train_stages(prof, cell, layout, dataset, config, stages, extra_plans, out, use_train, pool_test,
                             stage1_signature)
    else:
        result = train(dataset, config, out, resume=resume, train_hofs=use_train, test_hofs=pool_test,
                       workers=training_workers())
        done = {"epochs_completed": result.epochs_completed, "best_epoch": result.best_epoch,
                "stopped": result.stopped, "wall_time_s": result.wall_time_s}
    if not (out / "model_card.json").is_file():
        raise PipelineError(f"{out}: training finished without saving a model (epochs = {config.training.epochs})")
    _write_json(out / SIGNATURE_FILE, {"status": "finished", "signature": signature, "train_data": str(data_path),
                                       **done})
    _note_main_model(tag, out)
    return out


def stage_directories(out: Path, stages: Sequence[ResolutionStage]) -> tuple[list[Path], Path | None]:
    """Directories of a staged model: ``<tag>.stage1``, ``<tag>.stage2``, ... and ``out`` for the last stage; when
    the last stage runs on coarser traces it keeps its own ``<tag>.stageN`` and ``out`` (the second value) receives
    its model on the dataset's grid."""
    n = len(stages) + 1
    if stages and stages[-1].factor > 1:
        return [out.parent / f"{out.name}.stage{i}" for i in range(1, n + 1)], out
    return [out.parent / f"{out.name}.stage{i}" for i in range(1, n)] + [out], None


def extra_training_path(layout: RunLayout, n_samples: int, seed: int) -> Path:
    """Where the extra training traces of a continuation stage are simulated."""
    return layout.data_dir / f"train_extra-{n_samples}-seed{seed}.h5"


def _simulate_extra(layout: RunLayout, plan, workers: int) -> Path:
    """Simulate (or reuse) the extra traces of ``plan`` at :func:`extra_training_path`."""
    return _simulate(extra_training_path(layout, len(plan.hof), plan.seed), plan, workers)


def _extra_plans(prof: Profile, cell: str, use_train: Sequence[int], stage: ResolutionStage) -> list:
    """The simulation plans of the traces a stage adds, one per extra set (none when it adds none): new
    skew-normal amplitudes on the train HoF models, seeded by the stage."""
    for seed in stage.extra_seeds:
        if seed in (TRAIN_SEED, UNSEEN_SEED, TEST_SEED):
            raise PipelineError(f"a stage's extra seed {seed} would repeat the amplitudes of another dataset of "
                                f"the run (seeds {TRAIN_SEED}, {UNSEEN_SEED}, {TEST_SEED})")
    return [sampled_plan(cell, stage.extra_samples, seed, hofs=use_train,
                         engine_options={"discretization": prof.discretization}) for seed in stage.extra_seeds]


def _plans_fingerprint(plans: Sequence) -> str | list[str] | None:
    """What the signature records of a stage's extra plans (one set: its fingerprint, as before sets existed)."""
    if not plans:
        return None
    return plans[0].fingerprint() if len(plans) == 1 else [p.fingerprint() for p in plans]


def _read_extra(layout: RunLayout, plans: Sequence, workers: int):
    """A stage's extra traces, its sets simulated (or reused) and concatenated in seed order (``None``: none)."""
    if not plans:
        return None
    return concat_datasets([read_dataset(_simulate_extra(layout, plan, workers)) for plan in plans])


def _train_stages(prof: Profile, cell: str, layout: RunLayout, dataset, config, stages, extra_plans, out: Path,
                  use_train, pool_test, stage1_signature: Mapping[str, Any]) -> dict[str, Any]:
    """Train the main model in its profile's stages (:func:`noble.training.stages.train_stages`), starting from
    shipped stage-1 weights when they match ``stage1_signature``; what the last stage reported, its epochs and
    the wall time of all stages (s)."""
    directories, final_dir = stage_directories(out, stages)
    first = directories[0]
    if not retrain_requested() and not stage_finished(first, config, dataset.data_card_sha256) \
            and not (first / "state" / "last.pt").is_file():
        if _use_pretrained(prof.name, cell, first.name, stage1_signature, dataset, first):
            shipped = _read_json(first / SIGNATURE_FILE) or {}
            mark_stage_finished(first, config, 1, 1, {k: shipped.get(k) for k in
                                                      ("epochs_completed", "best_epoch", "stopped", "wall_time_s")},
                                dataset.data_card_sha256)
    extra = [_read_extra(layout, plans, prof.workers) for plans in extra_plans]
    summaries = train_stages(dataset, config, stages, directories, extra=extra, final_dir=final_dir,
                             train_kwargs={"train_hofs": use_train, "test_hofs": pool_test,
                                           "workers": training_workers()})
    last = summaries[-1]
    return {"epochs_completed": last["epochs_completed"], "best_epoch": last["best_epoch"], "stopped": last["stopped"],
            "wall_time_s": float(sum(s["wall_time_s"] or 0.0 for s in summaries)),
            "stages": [{k: s.get(k) for k in ("stage", "factor", "epochs_completed", "best_epoch", "wall_time_s")}
                       for s in summaries]}


def _note_main_model(tag: str, out: Path) -> None:
    """Record the main model's card checksum in the provenance of the figures saved from now on."""
    if tag == "main" and (out / "model_card.json").is_file():
        set_provenance(main_model_card_sha256=sha256_file(out / "model_card.json"))


#: Data-parallel CPU processes (one thread each) for the models the pipeline trains (``make figures
#: TRAIN_WORKERS=2``); not part of any signature, since the runs agree up to floating-point summation order.
TRAIN_WORKERS_ENV = "NOBLE_TRAIN_WORKERS"


def training_workers() -> int:
    """``$NOBLE_TRAIN_WORKERS`` as a positive integer (default 1)."""
    text = os.environ.get(TRAIN_WORKERS_ENV, "").strip()
    if not text:
        return 1
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise PipelineError(f"${TRAIN_WORKERS_ENV}={text!r}: expected a positive integer of CPU processes")
    return value


#: Set to 1 to train every model from scratch even when matching pretrained weights are shipped.
RETRAIN_ENV = "NOBLE_RETRAIN"
#: Files of a model directory that are shipped as pretrained weights.
PRETRAINED_FILES = ("model.safetensors", "model_card.json", "metrics.csv", "split.json", "run_config.json",
                    SIGNATURE_FILE, STAGES_LOG)


def retrain_requested() -> bool:
    """Whether ``$NOBLE_RETRAIN`` asks to ignore the shipped pretrained weights (``make figures RETRAIN=1``)."""
    return os.environ.get(RETRAIN_ENV, "").strip() not in ("", "0", "false", "no")


def pretrained_dir(profile: str, cell: str, tag: str) -> Path:
    """Where the weights shipped with noble for a (profile, cell, model tag) live: ``noble/pretrained/...``."""
    return Path(__file__).resolve().parent.parent / "pretrained" / profile / cell / tag


def _use_pretrained(profile: str, cell: str, tag: str, signature: Mapping[str, Any], dataset, out: Path) -> bool:
    """Copy shipped weights into ``out`` when they were trained with exactly this signature (configuration, data
    card, HoF split) and their card matches the dataset's grid; ``False`` when there are none or they differ."""
    src = pretrained_dir(profile, cell, tag)
    info = _read_json(src / SIGNATURE_FILE)
    if info is None or info.get("signature") != signature:
        return False
    model = load_model(src)  # verifies the weights' SHA-256 against the card
    model.template.check_matches(dataset.template, str(dataset.path))
    if tuple(model.feature_names) != tuple(signature["config"]["embedding"]["features"]):
        raise PipelineError(f"{src}: the shipped card embeds {model.feature_names}, the configuration "
                            f"{signature['config']['embedding']['features']}")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in PRETRAINED_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, out / name)
    _write_json(out / SIGNATURE_FILE, {**info, "status": "finished", "source": f"pretrained ({src})"})
    return True


def ship_pretrained(model_dir: str | Path, profile: str, cell: str, tag: str) -> Path:
    """Copy a finished pipeline model into :func:`pretrained_dir` (the files of :data:`PRETRAINED_FILES`)."""
    src = Path(model_dir)
    info = _read_json(src / SIGNATURE_FILE)
    if info is None or info.get("status") != "finished":
        raise PipelineError(f"{src}: not a finished pipeline model (no finished {SIGNATURE_FILE})")
    dst = pretrained_dir(profile, cell, tag)
    dst.mkdir(parents=True, exist_ok=True)
    for name in PRETRAINED_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    return dst


def _ensure_finetuned(prof, cell, layout, tag, features, train_hofs, n_train_samples, finetune) -> Path:
    """Sag fine-tuning of a trained model on the negative steps of its training set (paper Table 3)."""
    config = _finetune_config(prof, finetune)
    plain = features is None and train_hofs is None and n_train_samples is None
    base_tag = "main" if plain else f"{tag}-base"
    base = ensure_model(prof, cell, layout, base_tag, features, train_hofs, n_train_samples)
    paths = ensure_datasets(prof, cell, layout)
    train_ds = read_dataset(paths["train"])
    unseen = read_dataset(paths["unseen_currents"])
    out = layout.model_dir / tag
    signature = {"base_weights_sha256": sha256_file(base / "model.safetensors"), "finetune": asdict(config),
                 "train_card": train_ds.data_card_sha256, "eval_card": unseen.data_card_sha256}
    state = _read_json(out / SIGNATURE_FILE)
    if state is not None and state.get("signature") == signature and state.get("status") == "finished":
        return out
    if out.exists():
        shutil.rmtree(out)
    model = load_model(base)
    both = train_ds.concat(unseen)
    n_train = len(train_ds)
    rows = negative_step_rows(train_ds, model.train_hofs)
    eval_rows = n_train + negative_step_rows(unseen, model.train_hofs)
    before = sag_metrics(model, both, eval_rows, config.temperature)
    history = finetune_sag(model, both, rows, config, eval_rows=eval_rows)
    card = build_card(model, data=train_ds.describe(),
                      training={"finetune_sag": asdict(config), "base_model": str(base.name),
                                "base_weights_sha256": signature["base_weights_sha256"], "n_train": int(rows.size),
                                "epochs_completed": len(history)},
                      metrics={"before": before, "after": {k: v for k, v in history[-1].items() if k != "epoch"}},
                      name=f"{prof.model_profile}-{tag}")
    save_model(out, model, card)
    with (out / "finetune_history.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    _write_json(out / SIGNATURE_FILE, {"status": "finished", "signature": signature, "before": before,
                                       "epochs_completed": len(history)})
    return out


# ------------------------------------------------------------------------------------------------ metrics


def ensure_metrics(profile: Profile | str, cell: str, layout: RunLayout, tag: str = "main") -> dict:
    """Metrics (percent) of model ``tag`` on the unseen-currents and test-HoF sets, cached as JSON.

    Returns ``{"cell", "profile", "tag", "model", "sets": {"train_hofs_unseen_currents": {...},
    "test_hofs": {...}}}``; each set as :func:`noble.evaluation.evaluate_model` reports it (``table1_pct``:
    voltage and the Table 1 features). The model must exist (:func:`ensure_model`) unless ``tag`` is ``main``.
    """
    prof = _as_profile(profile)
    tag = _check_tag(tag)
    model_dir = layout.model_dir / tag
    if tag == "main":
        ensure_model(prof, cell, layout)
    elif not (model_dir / "model_card.json").is_file():
        raise PipelineError(f"{model_dir}: no trained model {tag!r}; call ensure_model(..., tag={tag!r}) first")
    paths = {key: ensure_dataset(prof, cell, layout, key) for key in ("train", "unseen_currents", "test_hofs")}
    model = load_model(model_dir)
    unseen = read_dataset(paths["unseen_currents"])
    test = read_dataset(paths["test_hofs"])
    # the nearest-neighbour baseline draws on what this model was trained on (a Table 2 model: its HoF subset)
    split = load_split(model_dir)
    train_ds, train_rows = training_reference(
        split, [read_dataset(p) for p in training_data_paths(prof, cell, layout, model_dir, paths["train"])])
    signature = {"weights_sha256": model.card["weights"]["sha256"], "unseen": unseen.data_card_sha256,
                 "test": test.data_card_sha256, "reference": train_ds.data_card_sha256, "metrics_version": 2}
    out = layout.results_dir / f"metrics_{tag}.json"
    cached = _read_json(out)
    if cached is not None and cached.get("signature") == signature:
        return cached
    ref = {"reference": train_ds, "reference_rows": train_rows}
    sets = {
        "train_hofs_unseen_currents": evaluate_model(model, unseen, **ref)["sets"]["train_hofs_unseen_currents"],
        "test_hofs": evaluate_model(model, test, **ref)["sets"]["test_hofs"],
    }
    metrics = {"cell": cell, "profile": prof.name, "tag": tag, "signature": signature,
               "model": {"dir": str(model_dir), "name": model.card.get("name"),
                         "embedding": model.card.get("embedding", {}).get("features"),
                         "best_epoch": model.card.get("metrics", {}).get("best_epoch")},
               "sets": sets}
    _write_json(out, metrics)
    return json.loads(json.dumps(metrics, default=str))


__all__ = [
    "DATASET_KEYS",
    "PipelineError",
    "cell_lacks",
    "dataset_plans",
    "ensure_cell",
    "ensure_dataset",
    "ensure_datasets",
    "ensure_fit",
    "ensure_metrics",
    "ensure_model",
    "hof_pools",
    "model_config",
    "output_dir",
    "per_hof_features",
    "pretrained_dir",
    "run_settings",
    "ship_pretrained",
    "extra_training_path",
    "stage_directories",
    "training_data_paths",
]
