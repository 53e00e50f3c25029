"""Paper Figs 6-7: eFEL feature errors (%) of subsampled solver-resolution traces against the original traces,
beside the gap between the HoF models and the experiment.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from noble.errors import AnalysisError
from noble.features import PAPER_FEATURES, extract_features
from noble.pipeline.cache import cached_arrays, cached_json
from noble.pipeline.experiment import EXPERIMENT_STEP_MS, SIMULATED_STEP_MS, experimental_value
from noble.progress import tqdm
from noble.sim import PAPER_PROTOCOL
from noble.sim.protocol import PAPER_STEP_END_MS, PAPER_STEP_START_MS
from noble.sim.raw_batch import simulate_models
from noble.sim.subsample import SUBSAMPLING_STRATEGIES, subsample

if TYPE_CHECKING:  # pragma: no cover
    from noble.data import Cell


def relative_errors(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``100 |values - reference| / |reference + 1e-6|`` (%), NaN where either is NaN."""
    v, r = np.asarray(values, dtype=float), np.asarray(reference, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * np.abs(v - r) / np.abs(r + 1e-6)


def subsampling_errors(raw: np.ndarray, amplitudes_nA: np.ndarray, dt_ms: float, factors: Sequence[int],
                       features: Sequence[str], delay_ms: float = PAPER_STEP_START_MS,
                       end_ms: float = PAPER_STEP_END_MS,
                       strategies: Sequence[str] = tuple(SUBSAMPLING_STRATEGIES), progress: bool = False
                       ) -> tuple[dict[str, dict[str, np.ndarray]], list[dict[str, float]]]:
    """eFEL feature errors (%) of subsampled raw traces ``[N, n]`` against the original traces.

    Returns (``errors[feature][strategy]`` ``[len(factors), N]``, the original traces' feature rows).
    """
    raw = np.atleast_2d(np.asarray(raw, dtype=float))
    t0 = np.arange(raw.shape[-1]) * dt_ms
    original = extract_features(raw, t0, delay_ms, end_ms, features=tuple(features))
    ref = {f: np.asarray([r[f] for r in original], dtype=float) for f in features}
    errors = {f: {s: np.full((len(factors), raw.shape[0]), np.nan) for s in strategies} for f in features}
    jobs = [(i, k, s) for i, k in enumerate(factors) for s in strategies]
    for i, k, s in tqdm(jobs, desc="subsampling", disable=not progress):
        t, sub = subsample(raw, int(k), s, dt_ms)
        rows = original if k == 1 else extract_features(sub, t, delay_ms, end_ms, features=tuple(features))
        for f in features:
            errors[f][s][i] = relative_errors([r[f] for r in rows], ref[f])
    return errors, original


def experiment_gap(original: Sequence[Mapping[str, float]], amplitudes_nA: np.ndarray, hofs: np.ndarray,
                   cell_features: Mapping[str, float], features: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Per feature, mean and sd over HoF models of the smallest relative error (%) between a HoF model's
    original trace and the experiment, over its amplitudes of the experiment's sweep sign."""
    amps = np.asarray(amplitudes_nA, dtype=float)
    hofs = np.asarray(hofs)
    out: dict[str, tuple[float, float]] = {}
    for f in features:
        best = []
        for h in np.unique(hofs):
            errs = []
            for depol in (True, False):
                ref = experimental_value(cell_features, f, depol)
                if not math.isfinite(ref):
                    continue
                rows = np.flatnonzero((hofs == h) & ((amps > 0) if depol else (amps < 0)))
                vals = np.asarray([original[i].get(f, math.nan) for i in rows], dtype=float)
                if f == "Spikecount" and depol:  # the experimental step lasts 1 s, the simulated one 400 ms
                    vals = vals * (EXPERIMENT_STEP_MS / SIMULATED_STEP_MS)
                errs += relative_errors(vals, np.full(vals.shape, ref)).tolist()
            errs = [e for e in errs if math.isfinite(e)]
            if errs:
                best.append(min(errs))
        out[f] = (float(np.mean(best)), float(np.std(best))) if best else (math.nan, math.nan)
    return out


def subsampling_cached(cell: "Cell", hofs: Sequence[int], amplitudes_nA: Sequence[float], factors: Sequence[int],
                       discretization: str, results_dir: Path, features: Sequence[str] | None = None,
                       workers: int = 1) -> dict[str, Any]:
    """Figs 6-7: simulate ``hofs`` x ``amplitudes_nA`` at the solver's 0.02 ms step, subsample them with every
    strategy and factor, and return JSON-ready ``{"factors", "features", "errors", "gap", "n_traces"}``."""
    feats = list(features or PAPER_FEATURES)
    amps = [float(a) for a in amplitudes_nA]
    sig = {"cell": cell.name, "hofs": [int(h) for h in hofs], "amps": amps, "factors": [int(k) for k in factors],
           "disc": discretization, "features": feats}

    def simulate() -> dict[str, np.ndarray]:
        raw = simulate_models([cell.hof(int(h)) for h in hofs], cell.morphology, amps, discretization, workers,
                              "solver-resolution traces")
        return {"raw": np.concatenate(raw).astype(np.float32), "hof": np.repeat(np.asarray(hofs, dtype=np.int64), len(amps)),
                "amplitude": np.tile(np.asarray(amps), len(hofs))}

    def compute() -> dict[str, Any]:
        sim = cached_arrays(results_dir / "subsampling_raw.npz", {k: sig[k] for k in ("cell", "hofs", "amps", "disc")},
                            simulate)
        errors, original = subsampling_errors(sim["raw"], sim["amplitude"], PAPER_PROTOCOL.dt, factors, feats,
                                              PAPER_PROTOCOL.stim_start, PAPER_PROTOCOL.stim_end, progress=True)
        gap = experiment_gap(original, sim["amplitude"], sim["hof"], cell.experimental_features, feats)
        return {"factors": [int(k) for k in factors], "features": feats, "n_traces": int(sim["raw"].shape[0]),
                "errors": {f: {s: np.where(np.isfinite(e), e, np.nan).tolist() for s, e in per.items()}
                           for f, per in errors.items()},
                "gap": {f: list(v) for f, v in gap.items()}}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return cached_json(results_dir / "subsampling.json", sig, compute)


def subsampling_summary(result: Mapping[str, Any], factor: int = 3) -> "Any":
    """A DataFrame: per feature, the mean subsampling error (%) of each strategy at ``factor`` and the HoF-experiment gap."""
    import pandas as pd  # lazy: pandas (a slow import) only builds a display table here

    if factor not in result["factors"]:
        raise AnalysisError(f"factor {factor} was not analysed (factors: {result['factors']})")
    i = result["factors"].index(factor)
    rows = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for f in result["features"]:
            row = {SUBSAMPLING_STRATEGIES[s]: float(np.nanmean(np.asarray(e, dtype=float)[i]))
                   for s, e in result["errors"][f].items()}
            row["HoF vs experiment (mean)"] = float(result["gap"][f][0])
            rows[f] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = f"feature (factor {factor}, %)"
    return df
