"""Does a model keep the variability of the HoF population? Spike counts across HoF embeddings at one current.

For each HoF model, the PDE trace and the model's prediction at the same amplitude are reduced to a spike count
(upward crossings of -20 mV inside the step, :mod:`noble.spikes`). Reported: Spearman's rank correlation of the
two counts across HoFs (does the model rank the neurons like the PDE?), and the spread (standard deviation of
the counts across HoFs) of each, with their ratio (model / PDE). Units: nA, mV, ms.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
from scipy.stats import spearmanr

from noble.spikes import spike_counts, window_mask

#: The issue's bars for the laptop recipe: rank agreement and a spread of at least half the PDE's.
MIN_SPEARMAN = 0.6
MIN_SPREAD_RATIO = 0.5


@dataclass(frozen=True)
class Variability:
    amplitude_nA: float
    hofs: tuple[int, ...]
    pde_counts: tuple[int, ...]
    model_counts: tuple[int, ...]
    spearman: float
    pde_spread: float
    model_spread: float

    @property
    def spread_ratio(self) -> float:
        return self.model_spread / self.pde_spread if self.pde_spread > 0 else float("nan")

    @property
    def meets_targets(self) -> bool:
        return bool(self.spearman >= MIN_SPEARMAN and self.spread_ratio >= MIN_SPREAD_RATIO)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "spread_ratio": self.spread_ratio, "meets_targets": self.meets_targets}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); ``nan`` when either is constant."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def variability(model, pde_voltage_mV: np.ndarray, hofs: Sequence[int], amplitude_nA: float) -> Variability:
    """Compare the model's spike counts across ``hofs`` at ``amplitude_nA`` with the PDE traces ``[H, T]`` (mV)."""
    tmpl = model.template
    mask = window_mask(tmpl.time(), tmpl.delay_ms, tmpl.stim_end_ms)
    pred = model.predict(np.full(len(hofs), float(amplitude_nA)), hofs=list(hofs))
    pde_c, mod_c = spike_counts(pde_voltage_mV, mask), spike_counts(pred, mask)
    return Variability(float(amplitude_nA), tuple(int(h) for h in hofs), tuple(int(c) for c in pde_c),
                       tuple(int(c) for c in mod_c), spearman(pde_c, mod_c), float(np.std(pde_c)),
                       float(np.std(mod_c)))


__all__ = ["MIN_SPEARMAN", "MIN_SPREAD_RATIO", "Variability", "spearman", "variability"]
