"""Baselines scored on the very traces a model is scored on, so that an error can be read against them.

* ``constant_rest``: each trace's resting voltage held flat for the whole 515 ms (the mean of the samples
  before the step; every trace starts from its HoF model's steady state, so this is the HoF's rest). A model
  that does not beat it has learnt nothing about the response to the step.
* ``nearest_neighbour``: a PDE trace from the training set, with no learning at all: the training trace of the
  same HoF model whose amplitude is nearest; for a HoF model without training traces (a test HoF), the training
  trace of the nearest amplitude of the train HoF model nearest in the scaled latent (embedding) space.

Units: voltage mV, current nA, time ms.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from noble.errors import NobleError

BASELINES = ("constant_rest", "nearest_neighbour")


class BaselineError(NobleError):
    """A baseline that cannot be built from the data given."""


def resting_voltage(voltage_mV: np.ndarray, time_ms: np.ndarray, delay_ms: float) -> np.ndarray:
    """Mean voltage (mV) of each trace ``[N, T]`` before the step starts at ``delay_ms``: shape ``[N]``."""
    before = np.asarray(time_ms) < delay_ms
    if not before.any():
        raise BaselineError(f"no samples before the step at {delay_ms} ms: the resting voltage is undefined")
    return np.asarray(voltage_mV, dtype=np.float64)[:, before].mean(axis=1)


def constant_rest(voltage_mV: np.ndarray, time_ms: np.ndarray, delay_ms: float) -> np.ndarray:
    """The constant-rest baseline of traces ``[N, T]`` (mV): each trace's resting voltage, flat."""
    rest = resting_voltage(voltage_mV, time_ms, delay_ms)
    return np.repeat(rest[:, None], np.asarray(voltage_mV).shape[1], axis=1).astype(np.float32)


def nearest_neighbour(
    amplitude_nA: np.ndarray,
    hof: np.ndarray,
    ref_voltage_mV: np.ndarray,
    ref_amplitude_nA: np.ndarray,
    ref_hof: np.ndarray,
    latent: Mapping[int, np.ndarray] | None = None,
) -> np.ndarray:
    """The nearest-neighbour baseline ``[N, T]`` (mV) of traces at ``amplitude_nA`` on HoF models ``hof``.

    ``ref_*`` are the training traces. ``latent`` maps HoF index -> scaled embedding point; it is needed only
    for HoF models without training traces (their neighbour is the nearest train HoF in that space).
    """
    amplitude_nA = np.asarray(amplitude_nA, dtype=np.float64)
    hof = np.asarray(hof, dtype=np.int64)
    ref_amp = np.asarray(ref_amplitude_nA, dtype=np.float64)
    ref_hof = np.asarray(ref_hof, dtype=np.int64)
    if ref_amp.size == 0:
        raise BaselineError("the nearest-neighbour baseline needs training traces; none were given")
    ref_pool = np.unique(ref_hof)
    donor: dict[int, int] = {}
    for h in np.unique(hof):
        h = int(h)
        if h in set(ref_pool.tolist()):
            donor[h] = h
            continue
        if latent is None or h not in latent or any(int(r) not in latent for r in ref_pool):
            raise BaselineError(f"HoF model {h} has no training traces and no latent position to find a neighbour")
        here = np.asarray(latent[h], dtype=np.float64)
        dist = [float(np.linalg.norm(np.asarray(latent[int(r)], dtype=np.float64) - here)) for r in ref_pool]
        donor[h] = int(ref_pool[int(np.argmin(dist))])
    out = np.empty((amplitude_nA.size, np.asarray(ref_voltage_mV).shape[1]), dtype=np.float32)
    for i, (a, h) in enumerate(zip(amplitude_nA, hof)):
        rows = np.flatnonzero(ref_hof == donor[int(h)])
        out[i] = ref_voltage_mV[rows[int(np.argmin(np.abs(ref_amp[rows] - a)))]]
    return out


__all__ = ["BASELINES", "BaselineError", "constant_rest", "nearest_neighbour", "resting_voltage"]
