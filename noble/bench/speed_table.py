"""Build the paper's speed table (appendix E) on this machine: PDE solvers, then NOBLE on CPU and GPU.

PDE: seconds per trace of NEURON on one core and Arbor on one core and on every core
(:func:`noble.bench.simulators.bench_sim`).  NOBLE: the reference neuralop FNO and the fast path at batch sizes
1, 64 and 1000, on the CPU and on the GPU when one is present, warm-up excluded and reported, host-device
transfers included.  Accuracy: relative L2 of each path against PDE traces when a trained model is given,
otherwise the fast path's relative difference from the reference FNO.  Units: nA, mV, seconds.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from noble.bench.inference import (
    BenchInputs,
    Variant,
    bench_variant,
    default_variants,
    make_inputs,
    make_predictor,
    relative_l2,
)
from noble.bench.simulators import bench_sim
from noble.bench.table import add_speedups, make_row
from noble.checkpoint import load_model
from noble.data import load_cell
from noble.embedding import EmbeddingSpec, FeatureScaler, StimulusTemplate, cell_feature_table
from noble.errors import NobleError
from noble.model import NobleModel, model_profile
from noble.sim import AMPLITUDE_RANGE, PAPER_PROTOCOL, decimate_traces, get_engine
from noble.sim.protocol import PAPER_TEMPLATE

if TYPE_CHECKING:  # pragma: no cover
    from noble.data import Cell


__all__ = ["BenchError", "BenchSettings", "QUICK", "untrained_model", "noble_rows", "pde_rows", "speed_table",
           "pde_reference"]

DEFAULT_CELL = "human_pvalb_689331391"


class BenchError(NobleError):
    """A benchmark that cannot run as asked (no GPU, missing engine, bad batch sizes...)."""


@dataclass(frozen=True)
class BenchSettings:
    """What to measure.  ``n_traces`` is per batch size (raised to the batch size when smaller)."""

    cell: str = DEFAULT_CELL
    profile: str = "paper"
    devices: tuple[str, ...] = ("cpu", "cuda")
    batches: tuple[int, ...] = (1, 64, 1000)
    cpu_batches: tuple[int, ...] | None = None  # batch sizes on the CPU when they should differ from ``batches``
    n_traces: int = 256
    gpu_n_traces: int = 2000
    engines: tuple[str, ...] = ("neuron", "arbor")
    pde_traces: int = 4
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    accuracy_traces: int = 8
    accuracy_engine: str = "arbor"
    seed: int = 0
    progress: bool = True


#: ``noble bench --quick``: a CPU smoke run of every part (paper-size network, a few traces, Arbor only).
QUICK = BenchSettings(devices=("cpu",), batches=(1, 4), n_traces=4, gpu_n_traces=4, engines=("arbor",),
                      pde_traces=1, accuracy_traces=2)


def available_devices(requested: Sequence[str]) -> list[str]:
    """``requested`` minus ``cuda`` when no GPU is visible (``cpu`` is always available)."""
    out = []
    for name in requested:
        if name == "cuda" and not torch.cuda.is_available():
            continue
        if name not in ("cpu", "cuda"):
            raise BenchError(f"unknown device {name!r}: use cpu or cuda")
        out.append(name)
    return out


def untrained_model(cell: "Cell", profile: str, seed: int = 0) -> "NobleModel":
    """A randomly initialised NOBLE model of a named size with the paper's embedding, for timing."""
    spec = EmbeddingSpec()
    table = cell_feature_table(cell, spec.features)
    train = [m.index for m in cell.models("train")]
    scaler = FeatureScaler.fit(table, train, spec.features, spec.feature_range)
    torch.manual_seed(seed)
    return NobleModel(model_profile(profile), spec, scaler, PAPER_TEMPLATE, feature_table=table,
                      train_hofs=train, test_hofs=[m.index for m in cell.models("test")], cell=cell.name).eval()


def pde_reference(cell: "Cell", inputs: BenchInputs, engine_name: str) -> np.ndarray:
    """PDE voltages ``[N, 8583]`` (mV) for the queries, simulated with ``engine_name`` and decimated."""
    engine = get_engine(engine_name)
    out = np.empty((len(inputs), PAPER_PROTOCOL.n_samples))
    amps = inputs.amplitudes_nA.numpy()
    for hof in sorted(set(inputs.hofs)):
        rows = [i for i, h in enumerate(inputs.hofs) if h == hof]
        raw = engine.simulate(cell.hof(hof), cell.morphology, [float(amps[i]) for i in rows], PAPER_PROTOCOL)
        out[rows] = decimate_traces(np.asarray(raw), PAPER_PROTOCOL)
    return out


def _variants_for(device: str, batch: int) -> list[Variant]:
    variants = default_variants(device)
    if device == "cuda" and batch <= 64:
        variants += [Variant(v.path, v.precision, cuda_graphs=True) for v in variants
                     if v.path != "neuralop" and v.precision in ("fp32", "bf16")]
    return variants


def noble_rows(model: "NobleModel", settings: BenchSettings, cell: "Cell | None" = None,
               trained: bool = False) -> list[dict]:
    """NOBLE timing and accuracy rows for every device, variant and batch size."""
    batches_for = {"cpu": settings.cpu_batches or settings.batches, "cuda": settings.batches}
    all_batches = tuple(batches_for["cpu"]) + tuple(settings.batches)
    if not all_batches or any(b < 1 for b in all_batches):
        raise BenchError(f"batch sizes must be positive, got {list(all_batches)}")
    devices = available_devices(settings.devices)
    max_traces = max(max(all_batches), settings.n_traces, settings.gpu_n_traces)
    inputs = make_inputs(model, max_traces, AMPLITUDE_RANGE, seed=settings.seed)
    n_acc = max(1, min(settings.accuracy_traces, len(inputs)))
    acc_inputs = BenchInputs(inputs.amplitudes_nA[:n_acc], inputs.features[:n_acc], inputs.hofs[:n_acc])
    target, note = None, ""
    if trained and cell is not None:
        target = pde_reference(cell, acc_inputs, settings.accuracy_engine)
        note = f"rel_l2_vs_pde on {n_acc} {settings.accuracy_engine} traces"

    rows = []
    for device in devices:
        name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
        threads = 1 if device == "cuda" else torch.get_num_threads()
        reference = make_predictor(model, Variant("neuralop", "fp32"), device)(
            acc_inputs.amplitudes_nA, acc_inputs.features)
        accuracy: dict[Variant, tuple[float | str, float | str]] = {}
        predictors: dict[Variant, Callable] = {}  # one per variant and device, reused across batch sizes
        for batch in batches_for[device]:
            n = max(batch, settings.gpu_n_traces if device == "cuda" else settings.n_traces)
            for variant in _variants_for(device, batch):
                timing, predictors[variant] = bench_variant(model, variant, inputs, device, batch, n,
                                                            progress=settings.progress,
                                                            predict=predictors.get(variant))
                key = replace(variant, cuda_graphs=False)
                if key not in accuracy:
                    predict = predictors.get(key) or make_predictor(model, key, device)
                    pred = predict(acc_inputs.amplitudes_nA, acc_inputs.features)
                    equiv = "" if key.path == "neuralop" and key.precision == "fp32" else relative_l2(pred, reference)
                    vs_pde = relative_l2(pred, torch.as_tensor(target)) if target is not None else ""
                    accuracy[key] = (vs_pde, equiv)
                vs_pde, equiv = accuracy[key]
                rows.append(make_row(
                    "noble", variant.path + (f"[{variant.spectral}]" if variant.spectral != "auto" else "")
                    + ("+graphs" if variant.cuda_graphs else ""),
                    device=f"{device}:{name}" if device == "cuda" else "cpu", precision=variant.precision,
                    workers=threads, batch_size=batch, n_traces=timing.n_traces, warmup_s=timing.warmup_s,
                    total_s=timing.total_s, cpu_s_per_trace=timing.cpu_seconds_per_trace,
                    rel_l2_vs_pde=vs_pde, equivalence_rel_err=equiv,
                    note=note or ("equivalence vs neuralop fp32 on the same device" if equiv != "" else "reference"),
                ))
    return rows


def pde_rows(cell: "Cell", settings: BenchSettings) -> list[dict]:
    """PDE rows from :func:`noble.bench.simulators.bench_sim`: every engine on one core with
    ``settings.pde_traces`` traces (the first engine is the accuracy reference of the others), then every engine
    on ``settings.workers`` cores with ``pde_traces`` traces per worker (the same amplitudes, cycled), so the
    parallel rate is measured on as much work per core as the serial one."""
    rng = np.random.default_rng(settings.seed)
    amplitudes = [float(a) for a in rng.uniform(*AMPLITUDE_RANGE, size=settings.pde_traces)]
    engines = list(settings.engines)
    rows = []
    for workers in sorted({1, settings.workers}):
        results = bench_sim(cell.name, engines, settings.pde_traces * workers, amplitudes, workers)
        rows += [_pde_row(r, reference=engines[0] if i else "") for i, r in enumerate(results)]
    return rows


def _pde_row(result: dict, reference: str = "") -> dict:
    """Map one ``bench_sim`` result to a table row (``reference``: the engine its rel. L2 is against)."""
    n = int(result["n_traces"])
    spt = float(result["seconds_per_trace"])
    cpu = result.get("cpu_seconds_per_trace", "")
    cpu = "" if isinstance(cpu, float) and np.isnan(cpu) else cpu
    hof = result.get("hof", "")
    note = f"{result.get('version', '')}, HoF {hof}" + (f"; rel_l2_vs_pde is against {reference}" if reference else "")
    return make_row("pde", str(result["engine"]), device="cpu", precision="fp64", workers=int(result["workers"]),
                    n_traces=n, total_s=spt * n, s_per_trace=spt, cpu_s_per_trace=cpu,
                    rel_l2_vs_pde=float(result["rel_l2_vs_first"]) if reference else "", note=note)


def speed_table(settings: BenchSettings, model_dir: str | Path | None = None, include_pde: bool = True,
                include_noble: bool = True, log: Callable[[str], None] = print) -> list[dict]:
    """Every row of the speed table, speed-ups filled in."""
    model = None
    if model_dir is not None:

        model = load_model(model_dir)
        if not model.cell:
            raise BenchError(f"{model_dir}: the model card names no cell")
        settings = replace(settings, cell=model.cell)
    cell = load_cell(settings.cell)
    rows: list[dict] = []
    if include_pde:
        log(f"PDE: {', '.join(settings.engines)} on {cell.name}, {settings.pde_traces} trace(s) each")
        rows += pde_rows(cell, settings)
    if include_noble:
        trained = model is not None
        model = model if trained else untrained_model(cell, settings.profile, settings.seed)
        log(f"NOBLE: {'trained model ' + str(model_dir) if trained else settings.profile + ' profile (untrained)'}"
            f" on {', '.join(available_devices(settings.devices))}, batches {list(settings.batches)}")
        rows += noble_rows(model, settings, cell, trained=trained)
    return add_speedups(rows)
