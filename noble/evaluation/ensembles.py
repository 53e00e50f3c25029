"""The paper's analyses on a trained model: F-I curves, ensembles, and sampling of the feature latent space.

Units: current nA, voltage mV, time ms, firing rate Hz. Latent points are handled in the scaled feature space
(each feature min-max scaled to the embedding's ``feature_range``, [0.5, 3.5] in the paper) and converted back to
raw feature values with the model's scaler before prediction.

Predictions go through :meth:`noble.model.NobleModel.predict`, so they use its default engine (the fast path of
:mod:`noble.fast`); ``engine="reference"`` forces the neuralop FNO.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.spatial import Delaunay

from noble.embedding import EmbeddingError
from noble.features.efel_features import spike_counts
from noble.model import NobleModel
from noble.progress import tqdm

#: Radius (scaled feature units) of the neighbourhood sampled around a test HoF model; the paper does not
#: give its value. 0.1 is 1/30 of the [0.5, 3.5] range, i.e. about 0.4 pA in I_thr and 3.5 Hz/nA in s_thr
#: for the PVALB cell.
NEIGHBOURHOOD_RADIUS = 0.1


@dataclass(frozen=True)
class FICurves:
    """Spike counts and rates of many models over the same amplitudes."""

    amplitudes_nA: np.ndarray  # [A]
    spike_counts: np.ndarray  # [M, A]
    rates_hz: np.ndarray  # [M, A] spikes per second of the step


def fi_curves(
    model: NobleModel,
    amplitudes_nA: Sequence[float],
    features: np.ndarray | None = None,
    hofs: Sequence[int] | None = None,
    batch_size: int = 256,
    progress: bool = True,
    max_traces: int = 4096,
    engine: str | None = None,
) -> FICurves:
    """Predicted F-I curves of M models (raw ``features`` [M, F] or ``hofs`` [M]) at the same amplitudes.

    All (model, amplitude) pairs are predicted together in batches, at most ``max_traces`` traces held at once;
    spikes are counted by eFEL inside the stimulus window. ``engine``: ``"fast"`` or ``"reference"`` (``None``:
    the default of :meth:`NobleModel.predict`, the fast path).
    """
    amps = np.asarray(amplitudes_nA, dtype=float)
    if (features is None) == (hofs is None):
        raise EmbeddingError("give the models as either raw features [M, F] or HoF indices, not both")
    feats = model.features_for_hofs(list(hofs)) if hofs is not None else np.asarray(features, dtype=float)
    if feats.ndim != 2 or feats.shape[1] != len(model.feature_names):
        raise EmbeddingError(f"features must be [M, {len(model.feature_names)}] ({list(model.feature_names)})")
    tmpl = model.template
    time = tmpl.time()
    n_models, n_amps = feats.shape[0], amps.size
    counts = np.zeros((n_models, n_amps), dtype=np.int64)
    per_chunk = max(1, max_traces // max(n_amps, 1))  # models per chunk: bounded memory for the traces
    for m0 in tqdm(range(0, n_models, per_chunk), desc="F-I curves", disable=not progress):
        m1 = min(n_models, m0 + per_chunk)
        rows_feats = np.repeat(feats[m0:m1], n_amps, axis=0)  # model-major: [m0 a0, m0 a1, ..., m1 aA]
        volt = model.predict(np.tile(amps, m1 - m0), features=rows_feats, batch_size=batch_size, **_engine(engine))
        counts[m0:m1] = spike_counts(volt, time, tmpl.delay_ms, tmpl.stim_end_ms).reshape(m1 - m0, n_amps)
    return FICurves(amps, counts, counts / (tmpl.duration_ms / 1000.0))


def train_embeddings(model: NobleModel, scaled: bool = True) -> np.ndarray:
    """Features ``[n_train, F]`` of the model's train HoF models (scaled, or raw with ``scaled=False``)."""
    raw = model.features_for_hofs(list(model.train_hofs))
    return np.asarray(model.scaler.transform(raw)) if scaled else raw


def ensemble_predict(
    model: NobleModel, amplitude_nA: float, features: np.ndarray, batch_size: int = 256, engine: str | None = None,
) -> np.ndarray:
    """Voltage ``[M, T]`` (mV) of M models (raw features ``[M, F]``) at one amplitude: parallel queries.

    ``engine``: ``"fast"`` or ``"reference"`` (``None``: the default of :meth:`NobleModel.predict`, the fast path).
    """
    feats = np.asarray(features, dtype=float)
    return model.predict(np.full(feats.shape[0], float(amplitude_nA)), features=feats, batch_size=batch_size,
                         **_engine(engine))


def _engine(engine: str | None) -> dict[str, str]:
    """``predict`` keyword for an explicit engine; none for the default."""
    return {} if engine is None else {"engine": engine}


def hull_samples(points: np.ndarray, n: int, seed: int = 0, max_tries: int = 1000) -> np.ndarray:
    """``n`` points uniform inside the convex hull of ``points`` [P, D] (rejection sampling in the bounding box)."""
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[0] <= pts.shape[1]:
        raise EmbeddingError(f"need more than {pts.shape[-1]} points of dimension {pts.shape[-1]} for a hull, got {pts.shape}")
    tri = Delaunay(pts)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    have = 0
    for _ in range(max_tries):
        cand = rng.uniform(lo, hi, size=(max(2 * n, 64), pts.shape[1]))
        inside = cand[tri.find_simplex(cand) >= 0]
        out.append(inside)
        have += inside.shape[0]
        if have >= n:
            break
    samples = np.concatenate(out)[:n]
    if samples.shape[0] < n:
        raise EmbeddingError("the convex hull is too thin to sample from")
    return samples


def neighbourhood_samples(center: Sequence[float], n: int, radius: float = NEIGHBOURHOOD_RADIUS, seed: int = 0) -> np.ndarray:
    """``n`` points uniform in the ball (a disc in 2-D) of ``radius`` around ``center`` (scaled units)."""
    c = np.asarray(center, dtype=float)
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=(n, c.size))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    r = radius * rng.uniform(size=(n, 1)) ** (1.0 / c.size)
    return c[None, :] + r * direction


def to_raw(model: NobleModel, scaled_points: np.ndarray) -> np.ndarray:
    """Convert scaled latent points ``[M, F]`` to raw feature values for :meth:`NobleModel.predict`."""
    return model.scaler.inverse(scaled_points)
