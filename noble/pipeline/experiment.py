"""Ensembles against the experiment (paper Figs 3B, 5B): experimental feature values, relative errors of model
features against them, and the recorded Long Square sweeps.

Units: current nA, voltage mV, time ms, errors %.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from noble.checkpoint import load_model
from noble.data.allen import allen_cache_dir, long_square_sweeps, read_long_square_sweeps
from noble.errors import AnalysisError
from noble.features import extract_features
from noble.pipeline.cache import cached_json, signature_of, weights_sha
from noble.pipeline.fi_curves import nearest_index, pde_traces
from noble.sim.protocol import PAPER_STEP_END_MS, PAPER_STEP_START_MS, PAPER_T_STOP_MS

if TYPE_CHECKING:  # pragma: no cover
    from noble.data import Cell


#: The depolarising amplitude (nA) at which the paper's notebook compares ensembles with the experiment.
EXPERIMENT_DEPOL_NA = 0.18


#: Duration (ms) of the experimental Long Square step (the simulated step lasts 400 ms).
EXPERIMENT_STEP_MS = 1000.0


#: Duration (ms) of the simulated step.
SIMULATED_STEP_MS = 400.0


#: Fig 5B features: the paper's key features with mean_frequency in place of Spikecount.
FIG5_FEATURES: tuple[str, ...] = ("mean_frequency", "AP1_width", "mean_AP_amplitude", "steady_state_voltage")


def experimental_value(cell_features: Mapping[str, float], feature: str, depolarising: bool = True) -> float:
    """The experiment's value of an eFEL feature (``depol.``/``hyperpol.`` sweep).

    ``mean_frequency`` is not in the table: it is the depolarising sweep's spike count over its 1 s step (Hz).
    """
    prefix = "depol." if depolarising else "hyperpol."
    if feature == "mean_frequency" and depolarising:
        count = cell_features.get("depol.Spikecount")
        return math.nan if count is None else float(count) / (EXPERIMENT_STEP_MS / 1000.0)
    return float(cell_features.get(prefix + feature, math.nan))


def errors_vs_experiment(rows: Sequence[Mapping[str, float]], cell_features: Mapping[str, float],
                         features: Sequence[str] = FIG5_FEATURES, depolarising: bool = True) -> dict[str, np.ndarray]:
    """Relative errors (%) ``|F_model - F_exp| / |F_exp|`` per model for each feature (NaN where undefined)."""
    out = {}
    for feat in features:
        ref = experimental_value(cell_features, feat, depolarising)
        vals = np.asarray([float(r.get(feat, math.nan)) for r in rows], dtype=float)
        out[feat] = 100.0 * np.abs(vals - ref) / abs(ref) if math.isfinite(ref) and ref != 0 else np.full(vals.size, np.nan)
    return out


def trace_features(voltage_mV: np.ndarray, time_ms: np.ndarray, delay_ms: float = PAPER_STEP_START_MS,
                   end_ms: float = PAPER_STEP_END_MS,
                   features: Sequence[str] = FIG5_FEATURES) -> list[dict[str, float]]:
    """eFEL features (see :func:`noble.features.extract_features`) of traces ``[N, T]``."""
    return extract_features(np.asarray(voltage_mV, dtype=float), np.asarray(time_ms, dtype=float), delay_ms, end_ms,
                            features=tuple(features))


def specimen_id(cell: "Cell") -> int:
    """The Allen specimen id of a cell package (the number ending its name)."""
    tail = cell.name.rsplit("_", 1)[-1]
    if not tail.isdigit():
        raise AnalysisError(f"cell name {cell.name!r} does not end with an Allen specimen id")
    return int(tail)


def experimental_sweeps(cell: "Cell", amplitudes_nA: Sequence[float], download: bool = False, tol_nA: float = 0.015,
                        t_stop_ms: float = PAPER_T_STOP_MS,
                        delay_ms: float = PAPER_STEP_START_MS) -> dict[float, tuple[np.ndarray, np.ndarray]] | None:
    """Recorded Long Square sweeps nearest to each amplitude, shifted so their step starts at ``delay_ms`` and
    cut at ``t_stop_ms``: ``{amplitude: (time ms, voltage mV)}``.

    Uses an NWB file already in the Allen cache (:func:`noble.data.allen.allen_cache_dir`); with ``download``
    it fetches it (needs internet). ``None`` when no file is available.
    """
    try:
        sid = specimen_id(cell)
    except AnalysisError:
        return None  # a package without an Allen specimen id has no recorded sweeps to look up
    local = sorted(allen_cache_dir().glob(f"**/specimen_{sid}/*.nwb"))
    if local:
        sweeps = read_long_square_sweeps(local[0])
    elif download:
        sweeps = long_square_sweeps(sid)
    else:
        return None
    out = {}
    for a in amplitudes_nA:
        near = [s for s in sweeps if abs(s.amplitude - a) <= tol_nA]
        if near:
            s = min(near, key=lambda s: abs(s.amplitude - a))
            t = s.t - s.stim_start + delay_ms
            keep = (t >= 0) & (t <= t_stop_ms)
            out[float(a)] = (t[keep], s.v[keep])
    return out or None


def ensemble_feature_errors_cached(fi_path: Path, model_dir: Path, hofs: Sequence[int], amplitude_nA: float,
                                   hull: Mapping[str, np.ndarray], cell: "Cell", results_dir: Path,
                                   features: Sequence[str] = FIG5_FEATURES) -> dict[str, dict[str, np.ndarray]]:
    """Fig 5B: per-model relative errors (%) against the experiment of the PDE and NOBLE ensembles of ``hofs``
    and of the hull samples (``hull`` from :func:`hull_ensemble_cached`, which must include ``amplitude_nA``)."""
    j = nearest_index(hull["amplitudes"], amplitude_nA)
    if abs(float(hull["amplitudes"][j]) - amplitude_nA) > 1e-9:
        raise AnalysisError(f"the hull ensemble has no traces at {amplitude_nA} nA")
    sig = {"weights": weights_sha(model_dir), "hofs": [int(h) for h in hofs], "amp": amplitude_nA,
           "hull": signature_of(np.asarray(hull["raw"]).round(12).tolist()), "features": list(features),
           "exp": dict(cell.experimental_features)}

    def compute() -> dict[str, Any]:
        pde, time = pde_traces(fi_path, hofs, amplitude_nA)
        model = load_model(model_dir)
        nob = model.predict(np.full(len(hofs), amplitude_nA), hofs=[int(h) for h in hofs])
        out = {}
        for name, traces in (("PDE, train HoFs", pde), ("NOBLE, train HoFs", nob), ("NOBLE, hull samples", hull["traces"][j])):
            rows = trace_features(traces, time, features=features)
            out[name] = {f: np.where(np.isfinite(e), e, np.nan).tolist()
                         for f, e in errors_vs_experiment(rows, cell.experimental_features, features).items()}
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = cached_json(results_dir / "ensemble_feature_errors.json", sig, compute)
    return {src: {f: np.asarray(v, dtype=float) for f, v in per.items()} for src, per in res.items()}
