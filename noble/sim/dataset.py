"""Simulated datasets: plan (HoF, amplitude) pairs and simulate them resumably into one dataset file.

The file is written by :func:`noble.sim.traces.write_dataset` (the one format; read it with
:func:`noble.sim.traces.read_dataset`). Besides the format's fields it records ``engine_version``,
``engine_options``, ``sampler``, ``split``, ``recipe``, ``checksums`` (SHA-256 of the morphology and of every
model file used), ``plan_sha256`` and a data card describing all of it (:func:`data_card`).

Generation is resumable: finished chunks (traces of one HoF) are kept in ``<out>.parts/`` (each written
atomically); rerunning the same command simulates only the missing chunks, then assembles the file, so an
interrupted and resumed run gives exactly the file an uninterrupted run gives.
"""
from __future__ import annotations

import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import h5py
import numpy as np

from noble.data import load_cell
from noble.data.fitted import load_fitted_models
from noble.errors import DataError, NobleError
from noble.hashing import canonical_json, sha256_file, sha256_text
from noble.progress import tqdm
from noble.sim.engine import DEFAULT_ENGINE, ENGINES, UnknownEngineError, get_engine
from noble.sim.protocol import PAPER_PROTOCOL, StepProtocol, check_amplitudes, decimate_traces
from noble.sim.sampling import PAPER_SAMPLER, SkewNormalSampler, sample_pairs
from noble.sim.traces import write_dataset
from noble.version import __version__

#: Traces simulated together in one task (all of one HoF model).
DEFAULT_CHUNK = 8

#: The quick recipe: a few HoF models (two train, one test of the PVALB split) at a few amplitudes (nA).
QUICK_HOFS: tuple[int, ...] = (0, 1, 32)
QUICK_AMPLITUDES: tuple[float, ...] = (-0.11, 0.02, 0.1, 0.2)


@dataclass(frozen=True)
class DatasetPlan:
    """What to simulate: one (global HoF index, amplitude nA) per trace, and how."""

    cell: str
    hof: tuple[int, ...]
    amplitude: tuple[float, ...]
    engine: str = DEFAULT_ENGINE
    engine_options: Mapping[str, Any] = field(default_factory=dict)
    protocol: StepProtocol = PAPER_PROTOCOL
    seed: int | None = None
    sampler: Mapping[str, Any] | None = None
    split: str | None = None
    recipe: str | None = None
    models_dir: str | None = None  # a fit folder (`noble fit --out`): simulate its HoF models (index = rank)

    def __post_init__(self) -> None:
        if len(self.hof) != len(self.amplitude):
            raise DataError(f"plan has {len(self.hof)} HoF indices but {len(self.amplitude)} amplitudes")
        if not self.hof:
            raise DataError("plan has no traces")
        if self.models_dir is not None:
            object.__setattr__(self, "models_dir", str(Path(self.models_dir).resolve()))
        if self.engine not in ENGINES:
            raise UnknownEngineError(f"unknown engine {self.engine!r}; choose one of: {', '.join(ENGINES)}")
        check_amplitudes(self.amplitude)

    def describe(self) -> dict[str, Any]:
        """Plain values identifying the plan (for fingerprints and data cards)."""
        fitted = {"models_dir": self.models_dir} if self.models_dir is not None else {}
        return {
            "cell": self.cell,
            "hof": list(self.hof),
            "amplitude": [float(a) for a in self.amplitude],
            "engine": self.engine,
            "engine_options": dict(self.engine_options),
            "protocol": self.protocol.as_dict(),
            "seed": self.seed,
            "sampler": dict(self.sampler) if self.sampler else None,
            "split": self.split,
            "recipe": self.recipe,
            **fitted,
        }

    def fingerprint(self) -> str:
        """SHA-256 of the plan's canonical JSON."""
        return sha256_text(canonical_json(self.describe()))

    def chunks(self, size: int = DEFAULT_CHUNK) -> list[list[int]]:
        """Trace indices grouped by HoF model (in plan order), in pieces of at most ``size``."""
        by_hof: dict[int, list[int]] = {}
        for i, h in enumerate(self.hof):
            by_hof.setdefault(int(h), []).append(i)
        out: list[list[int]] = []
        for h in sorted(by_hof):
            idx = by_hof[h]
            out.extend(idx[k : k + size] for k in range(0, len(idx), size))
        return out


def _cell(name: str, root: str | Path | None, models_dir: str | Path | None = None):
    """The cell package ``name``; with ``models_dir``, its HoF models replaced by those of that fit folder."""

    cell = load_cell(name, root=root)
    if models_dir is None:
        return cell
    models = fitted_models(models_dir)
    if models[0].cell != cell.name:
        raise DataError(f"{models_dir}: the fit is of cell {models[0].cell!r}, not {cell.name!r}")
    return replace(cell, hof_models=models)


def fitted_models(models_dir: str | Path) -> tuple:
    """The hall of fame of a fit folder (``noble fit --out DIR``); each model's index is its rank."""
    models = load_fitted_models(models_dir)
    if not models:
        raise DataError(f"{models_dir}: the fit has an empty hall of fame")
    return models


def _check_hofs(cell, hofs: Iterable[int], models_dir: str | Path | None = None) -> list[int]:
    known = {m.index for m in cell.hof_models}
    hofs = [int(h) for h in hofs]
    unknown = sorted(set(hofs) - known)
    if unknown:
        if models_dir is not None:
            raise DataError(f"the fit {models_dir} has no HoF model of rank {unknown[0]} (0..{max(known)})")
        raise DataError(f"cell {cell.name} has no HoF model with global index {unknown[0]} (0..{max(known)})")
    return hofs


def grid_plan(
    cell: str,
    hofs: Sequence[int],
    amplitudes: Sequence[float],
    engine: str = DEFAULT_ENGINE,
    protocol: StepProtocol = PAPER_PROTOCOL,
    root: str | Path | None = None,
    engine_options: Mapping[str, Any] | None = None,
    recipe: str | None = None,
    models_dir: str | Path | None = None,
) -> DatasetPlan:
    """Every listed HoF model at every amplitude (nA), HoF-major (of the fit ``models_dir`` when given)."""
    c = _cell(cell, root, models_dir)
    hofs = _check_hofs(c, hofs, models_dir)
    amps = check_amplitudes(amplitudes)
    pairs = [(h, float(a)) for h in hofs for a in amps]
    return DatasetPlan(
        cell, tuple(p[0] for p in pairs), tuple(p[1] for p in pairs), engine, dict(engine_options or {}),
        protocol, recipe=recipe, models_dir=None if models_dir is None else str(models_dir),
    )


def sampled_plan(
    cell: str,
    n_samples: int,
    seed: int,
    split: str = "train",
    hofs: Sequence[int] | None = None,
    engine: str = DEFAULT_ENGINE,
    protocol: StepProtocol = PAPER_PROTOCOL,
    sampler: SkewNormalSampler = PAPER_SAMPLER,
    root: str | Path | None = None,
    engine_options: Mapping[str, Any] | None = None,
    models_dir: str | Path | None = None,
) -> DatasetPlan:
    """``n_samples`` skew-normal amplitudes, each paired with a random HoF of ``split`` (or of ``hofs``).

    With ``models_dir`` (a fit folder) the HoF models are the fit's, all of them unless ``hofs`` are given.
    """
    if n_samples < 1:
        raise DataError(f"--n-samples must be at least 1, not {n_samples}")
    c = _cell(cell, root, models_dir)
    if hofs is None and models_dir is not None:
        hofs = [m.index for m in c.hof_models]
    if hofs is None:
        try:
            pool = [m.index for m in c.models(split)]
        except ValueError as exc:
            raise DataError(str(exc)) from None
    else:
        pool = _check_hofs(c, hofs, models_dir)
        split = "custom"
    hof, amp = sample_pairs(pool, n_samples, seed, sampler)
    return DatasetPlan(
        cell, tuple(int(h) for h in hof), tuple(float(a) for a in amp), engine, dict(engine_options or {}),
        protocol, seed=int(seed), sampler=sampler.as_dict(), split=split,
        models_dir=None if models_dir is None else str(models_dir),
    )


def quick_plan(cell: str = "human_pvalb_689331391", root: str | Path | None = None, engine: str = DEFAULT_ENGINE) -> DatasetPlan:
    """The quick recipe: HoFs 0, 1 (train) and 32 (test) at -0.11, 0.02, 0.1 and 0.2 nA (12 traces)."""
    return grid_plan(cell, QUICK_HOFS, QUICK_AMPLITUDES, engine=engine, root=root, recipe="quick")


# ---------------------------------------------------------------------------------------------- simulation

_WORKER_CACHE: dict[tuple, Any] = {}


def simulate_chunk(task: Mapping[str, Any]) -> np.ndarray:
    """Simulate the traces of one task (one HoF model) and return them decimated, ``[n, n_samples]`` float32 mV.

    ``task``: ``cell``, ``root``, ``models_dir``, ``hof``, ``amplitudes`` (nA), ``engine``, ``engine_options``,
    ``protocol``.
    Runs in worker processes (or Dask workers); the loaded cell and engine are cached per process.
    """
    protocol = StepProtocol(**task["protocol"])
    key_cell = ("cell", task["cell"], task["root"], task.get("models_dir"))
    if key_cell not in _WORKER_CACHE:
        _WORKER_CACHE[key_cell] = _cell(task["cell"], task["root"], task.get("models_dir"))
    key_engine = ("engine", task["engine"], canonical_json(task["engine_options"]))
    if key_engine not in _WORKER_CACHE:
        _WORKER_CACHE[key_engine] = get_engine(task["engine"], **task["engine_options"])
    cell, engine = _WORKER_CACHE[key_cell], _WORKER_CACHE[key_engine]
    model = cell.hof(int(task["hof"]))
    raw = engine.simulate(model, cell.morphology, list(task["amplitudes"]), protocol)
    if not np.all(np.isfinite(raw)):
        raise NobleError(f"{engine.name}: non-finite voltage for HoF {task['hof']} at {task['amplitudes']} nA")
    return decimate_traces(raw, protocol).astype(np.float32)


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, array)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _engine_description(plan: DatasetPlan) -> dict[str, Any]:
    engine = get_engine(plan.engine, **plan.engine_options)
    desc = {"engine": engine.name, "version": engine.version()}
    describe = getattr(engine, "describe", None)
    if callable(describe):
        desc.update(describe())
    return desc


def _checksums(plan: DatasetPlan, root: str | Path | None) -> dict[str, str]:
    """SHA-256 of the morphology and of every model file used (fitted ones named ``fit/<file in the fit folder>``)."""
    cell = _cell(plan.cell, root, plan.models_dir)
    files = {cell.morphology.relative_to(cell.root).as_posix(): sha256_file(cell.morphology)}
    for h in sorted(set(plan.hof)):
        model = cell.hof(h)
        if plan.models_dir is None:
            name = Path(model.path).relative_to(cell.root).as_posix()
        else:
            name = "fit/" + Path(model.path).relative_to(plan.models_dir).as_posix()
        files[name] = sha256_file(model.path)
    return files


def data_card(plan: DatasetPlan, engine: Mapping[str, Any], checksums: Mapping[str, str]) -> str:
    """The canonical JSON description of a dataset (its SHA-256 identifies the data a model was trained on)."""
    protocol = plan.protocol
    amps = np.asarray(plan.amplitude)
    card = {
        "format": "noble-sim-dataset/1",
        "noble_version": __version__,
        "cell": plan.cell,
        "engine": dict(engine),
        "protocol": protocol.as_dict(),
        "units": {"voltage": "mV", "amplitude": "nA", "time": "ms"},
        "fields": {
            "voltage": f"[N, {protocol.n_samples}] float32 mV, somatic, low-pass filtered and decimated",
            "amplitude": "[N] float64 nA, step amplitude",
            "hof": "[N] int64, global HoF index",
            "time": f"[{protocol.n_samples}] float64 ms",
        },
        "filter": f"zero-phase Hamming FIR, {protocol.decimation * 20 + 1} taps, cutoff 1/{protocol.decimation} Nyquist",
        "n_traces": len(plan.hof),
        "hofs": sorted(set(int(h) for h in plan.hof)),
        "amplitude_range": [float(amps.min()), float(amps.max())],
        "seed": plan.seed,
        "sampler": dict(plan.sampler) if plan.sampler else None,
        "split": plan.split,
        "recipe": plan.recipe,
        "plan_sha256": plan.fingerprint(),
        "checksums": dict(checksums),
    }
    if plan.models_dir is not None:
        card["fitted_models"] = {"dir": plan.models_dir, "index": "hall-of-fame rank"}
    return canonical_json(card)


def _run_tasks(tasks: list[dict], pending: list[int], workers: int, scheduler: str | None, on_done) -> None:
    if scheduler:
        try:
            from distributed import Client  # lazy: dask.distributed is needed only with a scheduler address
            from distributed import as_completed as dask_completed  # lazy: dask.distributed is needed only with a scheduler address
        except ImportError as exc:  # pragma: no cover - dask.distributed is a base requirement
            raise NobleError(f"--scheduler needs dask.distributed: {exc}") from exc
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise NobleError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from None
        try:
            futures = {client.submit(simulate_chunk, tasks[i], pure=False): i for i in pending}
            for fut in dask_completed(futures):
                on_done(futures[fut], fut.result())
        finally:
            client.close()
    elif workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(simulate_chunk, tasks[i]): i for i in pending}
            for fut in as_completed(futures):
                on_done(futures[fut], fut.result())
    else:
        for i in pending:
            on_done(i, simulate_chunk(tasks[i]))


def generate_dataset(
    out: str | Path,
    plan: DatasetPlan,
    root: str | Path | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Simulate ``plan`` and write the HDF5 dataset ``out`` (resumable; see the module docstring)."""

    out = Path(out)
    if workers < 1:
        raise DataError(f"--workers must be at least 1, not {workers}")
    fingerprint = plan.fingerprint()
    if out.exists():
        if not overwrite:
            try:
                with h5py.File(out, "r") as fh:
                    same = fh.attrs.get("plan_sha256") == fingerprint
            except OSError:
                same = False
            if same:
                return out
            raise DataError(f"{out}: exists and holds another dataset; choose another --out or remove it")
        out.unlink()
    parts = _parts_dir(out)
    plan_file = parts / "plan.json"
    if parts.exists():
        previous = plan_file.read_text() if plan_file.is_file() else ""
        if previous != canonical_json(plan.describe()):
            if not overwrite:
                raise DataError(
                    f"{parts}: holds partial results of a different run; rerun that command, or remove the folder"
                )
            shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    if not plan_file.is_file():
        tmp = plan_file.with_name("plan.json.tmp")
        tmp.write_text(canonical_json(plan.describe()))
        os.replace(tmp, plan_file)

    engine_desc = _engine_description(plan)
    checks = _checksums(plan, root)
    chunks = plan.chunks(chunk_size)
    root_str = str(root) if root is not None else None
    tasks = [
        {
            "cell": plan.cell,
            "root": root_str,
            "models_dir": plan.models_dir,
            "hof": int(plan.hof[idx[0]]),
            "amplitudes": [float(plan.amplitude[i]) for i in idx],
            "engine": plan.engine,
            "engine_options": dict(plan.engine_options),
            "protocol": plan.protocol.as_dict(),
        }
        for idx in chunks
    ]
    part_path = [parts / f"chunk_{k:06d}.npy" for k in range(len(chunks))]
    pending = [k for k in range(len(chunks)) if not part_path[k].is_file()]
    n_done = sum(len(chunks[k]) for k in range(len(chunks)) if k not in set(pending))
    bar = tqdm(total=len(plan.hof), initial=n_done, unit="trace", desc=f"simulate {plan.cell}", disable=not progress)

    def on_done(k: int, traces: np.ndarray) -> None:
        if traces.shape != (len(chunks[k]), plan.protocol.n_samples):
            raise NobleError(f"chunk {k}: expected {(len(chunks[k]), plan.protocol.n_samples)} traces, got {traces.shape}")
        _save_atomic(part_path[k], traces)
        bar.update(len(chunks[k]))

    try:
        _run_tasks(tasks, pending, workers, scheduler, on_done)
    finally:
        bar.close()

    n = len(plan.hof)
    voltage = np.empty((n, plan.protocol.n_samples), dtype=np.float32)
    for k, idx in enumerate(chunks):
        arr = np.load(part_path[k], allow_pickle=False)
        voltage[idx] = arr
    write_dataset(
        out, voltage, plan.amplitude, plan.hof, plan.protocol, cell=plan.cell, engine=engine_desc["engine"],
        seed=-1 if plan.seed is None else int(plan.seed), data_card=data_card(plan, engine_desc, checks),
        attrs={
            "engine_version": engine_desc["version"],
            "engine_options": engine_desc,
            "sampler": dict(plan.sampler) if plan.sampler else None,
            "split": plan.split or "",
            "recipe": plan.recipe or "",
            "checksums": checks,
            "plan_sha256": fingerprint,
            "noble_version": __version__,
        },
    )
    shutil.rmtree(parts)
    return out
