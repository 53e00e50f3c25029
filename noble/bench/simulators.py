"""Simulator benchmark rows for ``noble bench sim``: cost per trace and agreement between engines.

Units: seconds, traces/s, amplitudes nA. Relative L2 is ``||v - v_ref|| / ||v_ref||`` on the stored
(decimated, mV) traces, against the first engine listed, averaged over traces.
"""
from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from typing import Sequence

import numpy as np

from noble.data import load_cell
from noble.data.registry import DEFAULT_CELL
from noble.features.efel_features import spike_counts
from noble.sim.dataset import simulate_chunk
from noble.sim.engine import get_engine
from noble.sim.protocol import PAPER_PROTOCOL, StepProtocol


def _bench_task(args: tuple) -> np.ndarray:
    return simulate_chunk(args[0])


def _warm_worker(task: dict) -> None:
    """A 1-ms simulation in a pool worker (imports and compiles the simulator there), then a short pause so
    that each of the pool's workers takes one of these tasks."""
    simulate_chunk(task)
    time.sleep(0.5)


def _simulate(engine: str, cell: str, root, hof: int, amplitudes: list[float], protocol: StepProtocol, workers: int):
    tasks = [
        {"cell": cell, "root": None if root is None else str(root), "hof": hof, "amplitudes": [a], "engine": engine,
         "engine_options": {}, "protocol": protocol.as_dict()}
        for a in amplitudes
    ]
    warm = {**tasks[0], "amplitudes": [0.0], "protocol": {**protocol.as_dict(), "t_stop": 1.0, "stim_start": 0.5,
                                                          "stim_duration": 0.1, "n_samples": 1, "settle": 0.0}}
    simulate_chunk(warm)  # warm-up
    start, cpu_start = time.perf_counter(), time.process_time()
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            # start every worker and load the simulator there before the clock starts, so the rate is the
            # simulation's, not the pool's start-up
            list(pool.map(_warm_worker, [warm] * workers))
            start = time.perf_counter()
            parts = list(pool.map(_bench_task, [(t,) for t in tasks]))
    else:
        parts = [simulate_chunk(t) for t in tasks]
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start if workers == 1 else float("nan")
    return np.concatenate(parts, axis=0), elapsed, cpu


def bench_sim(
    cell: str = DEFAULT_CELL,
    engines: Sequence[str] = ("arbor",),
    n_traces: int = 4,
    amplitudes: Sequence[float] = (0.1, 0.03, -0.11),
    workers: int = 1,
    root=None,
    hof: int | None = None,
    protocol: StepProtocol = PAPER_PROTOCOL,
) -> list[dict]:
    """One row per engine: ``engine``, ``version``, ``n_traces``, ``workers``, ``seconds_per_trace``,
    ``traces_per_s_per_core``, ``cpu_seconds_per_trace`` (process CPU time, ``workers=1`` only; robust to other
    load on the machine), ``rel_l2_vs_first`` (mean), ``rel_l2_by_amplitude`` and ``spike_counts``.

    Traces are HoF ``hof`` (default: the first train model) at ``amplitudes`` cycled to ``n_traces``.
    """
    if n_traces < 1 or workers < 1:
        raise ValueError("n_traces and workers must be at least 1")
    c = load_cell(cell, root=root)
    hof = c.split.train[0] if hof is None else hof
    amps = [float(amplitudes[i % len(amplitudes)]) for i in range(n_traces)]
    rows: list[dict] = []
    reference = None
    for name in engines:
        engine = get_engine(name)
        traces, elapsed, cpu = _simulate(name, cell, root, hof, amps, protocol, workers)
        if reference is None:
            reference = traces
        err = np.linalg.norm(traces - reference, axis=1) / np.linalg.norm(reference, axis=1)
        by_amp = {f"{a:g}": float(np.mean(err[[i for i, b in enumerate(amps) if b == a]])) for a in dict.fromkeys(amps)}
        rows.append({
            "engine": name,
            "version": engine.version(),
            "cell": cell,
            "hof": int(hof),
            "n_traces": n_traces,
            "workers": workers,
            "seconds_per_trace": elapsed / n_traces,
            "traces_per_s_per_core": n_traces / elapsed / workers,
            "cpu_seconds_per_trace": cpu / n_traces,
            "rel_l2_vs_first": float(np.mean(err)),
            "rel_l2_by_amplitude": by_amp,
            "spike_counts": spike_counts(traces, protocol.time(), protocol.stim_start, protocol.stim_end).tolist(),
        })
    return rows
