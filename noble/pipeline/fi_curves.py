"""F-I curves and trace panels (paper Figs 2B, 3, 5A, 12): the experimental F-I line, PDE F-I curves and traces
of the F-I grid dataset, NOBLE F-I curves and traces.

Units: current nA, voltage mV, time ms, firing rate Hz.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from noble.checkpoint import load_model
from noble.errors import AnalysisError
from noble.evaluation import fi_curves
from noble.features.fi import firing_rates
from noble.pipeline.cache import cached_arrays, prediction_signature
from noble.training.data import read_dataset

if TYPE_CHECKING:  # pragma: no cover
    from noble.data import Cell


#: Amplitudes (nA) of the paper's trace panels.
TRACE_AMPLITUDES: tuple[float, float] = (0.1, -0.11)


def experimental_fi(slope_hz_per_nA: float, intercept_nA: float, amplitudes_nA: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The experimental F-I curve as the fitted line: rate = slope * (I - I_thr) above I_thr, 0 below (Hz).

    The recorded sweeps need the Allen download; the cell package gives the fitted slope and intercept.
    """
    if not (math.isfinite(slope_hz_per_nA) and math.isfinite(intercept_nA)):
        raise AnalysisError(f"experimental slope {slope_hz_per_nA} and intercept {intercept_nA} must be finite")
    amps = np.linspace(-0.11, 0.28, 400) if amplitudes_nA is None else np.asarray(amplitudes_nA, dtype=float)
    amps = np.union1d(amps, [intercept_nA]) if amps.min() < intercept_nA < amps.max() else amps
    return amps, np.maximum(0.0, slope_hz_per_nA * (amps - intercept_nA))


def cell_experimental_fi(cell: "Cell") -> tuple[np.ndarray, np.ndarray]:
    """:func:`experimental_fi` from ``cell.experimental_features`` (keys ``slope`` Hz/nA, ``intercept`` nA)."""
    feats = cell.experimental_features
    missing = [k for k in ("slope", "intercept") if k not in feats]
    if missing:
        raise AnalysisError(f"{cell.name}: experimental features lack {missing}")
    return experimental_fi(float(feats["slope"]), float(feats["intercept"]))


def experimental_fi_or_none(cell: "Cell") -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`cell_experimental_fi`, or ``None`` (with a printed note) for a package without the experiment's
    slope and threshold; the figures then show the models only."""
    feats = cell.experimental_features
    if "slope" in feats and "intercept" in feats:
        return cell_experimental_fi(cell)
    print(f"note: {cell.name} has no experimental F-I slope and threshold; the F-I panels show the models only")
    return None


def rates_from_traces(voltage_mV: np.ndarray, time_ms: np.ndarray, delay_ms: float, duration_ms: float) -> np.ndarray:
    """Firing rate (Hz) of each trace ``[N, T]``: eFEL spikes inside the step divided by its duration."""
    return firing_rates(np.asarray(voltage_mV), np.asarray(time_ms), delay_ms, delay_ms + duration_ms)


def grid_table(amplitude: np.ndarray, hof: np.ndarray, values: np.ndarray, tol: float = 1e-6
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrange per-trace ``values`` of a (HoF x amplitude) grid dataset as ``[M, A]``: (hofs, amplitudes, table).

    Missing grid points are NaN.
    """
    amps = np.unique(np.round(np.asarray(amplitude, dtype=float), 9))
    hofs = np.unique(np.asarray(hof, dtype=np.int64))
    table = np.full((hofs.size, amps.size) + np.shape(values)[1:], np.nan)
    for k, (a, h) in enumerate(zip(amplitude, hof)):
        i = int(np.searchsorted(hofs, h))
        j = int(np.argmin(np.abs(amps - a)))
        if abs(amps[j] - a) <= tol:
            table[i, j] = values[k]
    return hofs, amps, table


def pde_fi_cached(fi_path: Path, results_dir: Path) -> dict[str, np.ndarray]:
    """PDE F-I curves of the F-I grid dataset: ``hofs`` [M], ``amplitudes`` [A] nA, ``rates`` [M, A] Hz."""
    ds = read_dataset(fi_path)

    def compute() -> dict[str, np.ndarray]:
        rates = rates_from_traces(ds.voltage, ds.time, ds.protocol.stim_start, ds.protocol.stim_duration)
        hofs, amps, table = grid_table(ds.amplitude, ds.hof, rates)
        return {"hofs": hofs, "amplitudes": amps, "rates": table}

    return cached_arrays(results_dir / "pde_fi.npz", {"data": ds.data_card_sha256}, compute)


def pde_traces(fi_path: Path, hofs: Sequence[int], amplitude_nA: float, tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """PDE traces ``[M, T]`` (mV) of ``hofs`` at one grid amplitude, and the time axis (ms)."""
    ds = read_dataset(fi_path)
    out = []
    for h in hofs:
        rows = np.flatnonzero((ds.hof == int(h)) & (np.abs(ds.amplitude - amplitude_nA) <= tol))
        if rows.size == 0:
            raise AnalysisError(f"{fi_path}: no trace of HoF {h} at {amplitude_nA} nA (grid: "
                                f"{sorted(set(np.round(ds.amplitude, 4).tolist()))} nA)")
        out.append(ds.voltage[rows[0]])
    return np.stack(out), ds.time


def noble_fi_cached(model_dir: Path, amplitudes_nA: Sequence[float], results_dir: Path, name: str,
                    hofs: Sequence[int] | None = None, features: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """NOBLE F-I curves of models given as HoF indices or raw features ``[M, F]``: ``rates`` [M, A] Hz."""
    amps = [float(a) for a in amplitudes_nA]
    sig = prediction_signature(model_dir, amps, hofs, features)

    def compute() -> dict[str, np.ndarray]:
        model = load_model(model_dir)
        curves = fi_curves(model, amps, features=features, hofs=hofs)
        return {"amplitudes": curves.amplitudes_nA, "rates": curves.rates_hz, "counts": curves.spike_counts}

    return cached_arrays(results_dir / f"noble_fi_{name}.npz", sig, compute)


def noble_traces_cached(model_dir: Path, amplitudes_nA: Sequence[float], results_dir: Path, name: str,
                        hofs: Sequence[int] | None = None, features: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """NOBLE traces (mV) of M models at each amplitude: ``traces`` [A, M, T], ``amplitudes`` [A], ``time`` [T]."""
    amps = [float(a) for a in amplitudes_nA]
    sig = prediction_signature(model_dir, amps, hofs, features)

    def compute() -> dict[str, np.ndarray]:
        model = load_model(model_dir)
        if hofs is not None:
            feats = model.features_for_hofs([int(h) for h in hofs])
        elif features is not None:
            feats = np.asarray(features, dtype=float)
        else:
            raise AnalysisError("give the models as hofs or features")
        traces = np.stack([model.predict(np.full(len(feats), a), features=feats) for a in amps])
        return {"traces": traces.astype(np.float32), "amplitudes": np.asarray(amps), "time": model.template.time()}

    return cached_arrays(results_dir / f"noble_traces_{name}.npz", sig, compute)


def nearest_index(values: Sequence[float], target: float) -> int:
    """Index of the value nearest to ``target``."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise AnalysisError("no values to choose from")
    return int(np.argmin(np.abs(v - target)))


def nearest_amplitude(amplitudes_nA: Sequence[float], target_nA: float) -> float:
    """The amplitude (nA) of a grid nearest to ``target_nA``."""
    return float(np.asarray(amplitudes_nA, dtype=float)[nearest_index(amplitudes_nA, target_nA)])
