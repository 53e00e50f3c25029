"""Raw somatic voltage of HoF model objects (edited parameters allowed) at the solver resolution, with Arbor, in
worker processes. Units: mV on the 0.02 ms grid, current nA.
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from noble.errors import AnalysisError
from noble.progress import tqdm
from noble.sim import PAPER_PROTOCOL, get_engine

if TYPE_CHECKING:  # pragma: no cover
    from noble.data import HofModel


def _simulate_raw(task: tuple[str, "HofModel", Path, list[float]]) -> np.ndarray:
    """Raw somatic voltage ``[A, n_raw]`` (mV, 0.02 ms grid) of one model with Arbor (runs in worker processes)."""
    discretization, model, morphology, amps = task
    raw = np.asarray(get_engine("arbor", discretization=discretization).simulate(model, morphology, amps, PAPER_PROTOCOL))
    if not np.all(np.isfinite(raw)):
        raise AnalysisError(f"non-finite voltage simulating {model.path.name} at {amps} nA")
    return raw


def simulate_models(models: Sequence["HofModel"], morphology: Path, amplitudes_nA: Sequence[float],
                    discretization: str, workers: int = 1, desc: str = "PDE") -> list[np.ndarray]:
    """Raw PDE traces ``[A, n_raw]`` (mV) of each model at every amplitude (nA), in ``workers`` processes."""
    tasks = [(discretization, m, Path(morphology), [float(a) for a in amplitudes_nA]) for m in models]
    if workers > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
            return list(tqdm(pool.map(_simulate_raw, tasks), total=len(tasks), desc=desc))
    return [_simulate_raw(t) for t in tqdm(tasks, desc=desc)]
