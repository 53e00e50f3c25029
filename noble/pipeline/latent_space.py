"""The feature latent space (paper Figs 2C, 4, 5): HoF models in the scaled feature space, NOBLE ensembles of
synthetic models sampled in its convex hull or around one HoF.

Latent points are the embedded features min-max scaled to [0.5, 3.5] (unitless); voltage mV, rate Hz.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from noble.checkpoint import load_model
from noble.embedding import FeatureScaler, cell_feature_table, feature_rows
from noble.evaluation import (
    NEIGHBOURHOOD_RADIUS,
    ensemble_predict,
    fi_curves,
    hull_samples,
    neighbourhood_samples,
    to_raw,
    train_embeddings,
)
from noble.pipeline.cache import cached_arrays, weights_sha

if TYPE_CHECKING:  # pragma: no cover
    from noble.data import Cell


def latent_points(cell: "Cell", names: Sequence[str] = ("slope", "intercept"),
                  feature_range: tuple[float, float] = (0.5, 3.5)) -> dict[str, np.ndarray]:
    """The cell's HoF models in the scaled feature space (min-max over its train split, as the paper):
    ``train`` [N, F], ``test`` [M, F] and their global HoF indices ``train_hofs``, ``test_hofs``."""
    table = cell_feature_table(cell, names)
    train, test = list(cell.split.train), list(cell.split.test)
    scaler = FeatureScaler.fit(table, train, tuple(names), feature_range)
    return {"train": np.asarray(scaler.transform(feature_rows(table, train, names))),
            "test": np.asarray(scaler.transform(feature_rows(table, test, names))) if test else np.zeros((0, len(names))),
            "train_hofs": np.asarray(train), "test_hofs": np.asarray(test)}


def hull_ensemble_cached(model_dir: Path, n: int, amplitudes_nA: Sequence[float], results_dir: Path,
                         seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` synthetic models sampled uniformly in the convex hull of the model's train HoFs (scaled space) and
    their NOBLE traces: ``scaled`` [n, F], ``raw`` [n, F], ``traces`` [A, n, T] mV."""
    amps = [float(a) for a in amplitudes_nA]

    def compute() -> dict[str, np.ndarray]:
        model = load_model(model_dir)
        scaled = hull_samples(train_embeddings(model), n, seed=seed)
        raw = to_raw(model, scaled)
        traces = np.stack([ensemble_predict(model, a, raw) for a in amps]).astype(np.float32)
        return {"scaled": scaled, "raw": raw, "traces": traces, "amplitudes": np.asarray(amps)}

    return cached_arrays(results_dir / "hull_ensemble.npz",
                         {"weights": weights_sha(model_dir), "n": n, "amps": amps, "seed": seed}, compute)


def neighbourhood_cached(model_dir: Path, hof: int, n: int, amplitudes_nA: Sequence[float],
                         fi_amplitudes_nA: Sequence[float], results_dir: Path, radius: float | None = None,
                         seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` synthetic models sampled in a disc around HoF ``hof`` (scaled space), their NOBLE traces
    ``traces`` [A, n, T] mV at ``amplitudes_nA`` and F-I curves ``rates`` [n, A'] Hz at ``fi_amplitudes_nA``."""
    r = float(NEIGHBOURHOOD_RADIUS if radius is None else radius)
    amps = [float(a) for a in amplitudes_nA]
    fi_amps = [float(a) for a in fi_amplitudes_nA]

    def compute() -> dict[str, np.ndarray]:
        model = load_model(model_dir)
        centre = np.asarray(model.scaler.transform(model.features_for_hofs([int(hof)])))[0]
        scaled = neighbourhood_samples(centre, n, radius=r, seed=seed)
        raw = to_raw(model, scaled)
        traces = np.stack([ensemble_predict(model, a, raw) for a in amps]).astype(np.float32)
        curves = fi_curves(model, fi_amps, features=raw)
        return {"centre": centre, "scaled": scaled, "raw": raw, "traces": traces, "amplitudes": np.asarray(amps),
                "fi_amplitudes": np.asarray(fi_amps), "rates": curves.rates_hz, "radius": np.asarray(r)}

    sig = {"weights": weights_sha(model_dir), "hof": int(hof), "n": n, "amps": amps, "fi": fi_amps, "r": r, "seed": seed}
    return cached_arrays(results_dir / f"neighbourhood_hof{int(hof)}.npz", sig, compute)


def nearest_hofs(points: np.ndarray, hofs: Sequence[int], centre: np.ndarray, k: int = 2) -> list[int]:
    """The ``k`` HoF indices whose points ``[N, F]`` are nearest to ``centre`` [F] (Euclidean, scaled space)."""
    d = np.linalg.norm(np.asarray(points, dtype=float) - np.asarray(centre, dtype=float)[None, :], axis=1)
    return [int(hofs[i]) for i in np.argsort(d, kind="stable")[:k]]
