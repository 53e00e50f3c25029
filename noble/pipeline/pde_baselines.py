"""The PDE baselines of paper Fig 4: models with parameters interpolated between two train HoFs and models with
perturbed conductances of a test HoF, simulated and cached. Units: mV, ms, nA, Hz.
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from noble.data.edits import interpolate_parameters, perturb_parameters
from noble.errors import AnalysisError
from noble.pipeline.cache import cached_arrays
from noble.pipeline.fi_curves import rates_from_traces
from noble.sim import PAPER_PROTOCOL, decimate_traces
from noble.sim.raw_batch import simulate_models

if TYPE_CHECKING:  # pragma: no cover
    from noble.data import Cell, HofModel


def pde_baselines_cached(cell: "Cell", test_hof: int, partners: Sequence[int], alphas: Sequence[float],
                         n_perturbed: int, perturbation: float, amplitudes_nA: Sequence[float],
                         discretization: str, results_dir: Path, seed: int = 0, workers: int = 1) -> dict[str, np.ndarray]:
    """PDE simulations of the Fig 4 baselines at ``amplitudes_nA``: models with parameters interpolated
    between the two ``partners`` (weights ``alphas``) and models with perturbed conductances of ``test_hof``.

    Returns ``kind`` [K] ("interpolated"/"perturbed"), ``alpha`` [K], ``amplitudes`` [A], ``voltage`` [K, A, T]
    (mV, decimated to the dataset grid), ``rates`` [K, A] (Hz) and ``time`` [T] (ms).
    """
    if len(partners) != 2:
        raise AnalysisError(f"interpolation needs two partner HoF models, got {list(partners)}")
    amps = [float(a) for a in amplitudes_nA]
    sig = {"cell": cell.name, "test": int(test_hof), "partners": [int(h) for h in partners], "alphas": list(alphas),
           "n_perturbed": n_perturbed, "sd": perturbation, "amps": amps, "disc": discretization, "seed": seed,
           "files": [str(cell.hof(int(h)).path.name) for h in (test_hof, *partners)]}

    def compute() -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        a, b = cell.hof(int(partners[0])), cell.hof(int(partners[1]))
        models: list[tuple[str, float, "HofModel"]] = [
            ("interpolated", float(al), replace(a, params=interpolate_parameters(a.params, b.params, float(al))))
            for al in alphas]
        base = cell.hof(int(test_hof))
        models += [("perturbed", math.nan, replace(base, params=perturb_parameters(base.params, perturbation, rng)))
                   for _ in range(n_perturbed)]
        raws = simulate_models([m for _, _, m in models], cell.morphology, amps, discretization, workers, "PDE baselines")
        volts = [decimate_traces(raw, PAPER_PROTOCOL).astype(np.float32) for raw in raws]
        voltage = np.stack(volts) if volts else np.zeros((0, len(amps), PAPER_PROTOCOL.n_samples), np.float32)
        time = PAPER_PROTOCOL.time()
        rates = rates_from_traces(voltage.reshape(-1, voltage.shape[-1]), time, PAPER_PROTOCOL.stim_start,
                                  PAPER_PROTOCOL.stim_duration).reshape(voltage.shape[:2])
        return {"kind": np.asarray([k for k, _, _ in models], dtype=str), "alpha": np.asarray([al for _, al, _ in models]),
                "amplitudes": np.asarray(amps), "voltage": voltage, "rates": rates, "time": time}

    return cached_arrays(results_dir / f"pde_baselines_hof{int(test_hof)}.npz", sig, compute)
