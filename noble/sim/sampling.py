"""Step amplitudes (nA): the paper's skew-normal sampler on [-0.11, 0.28] nA, or a grid.

The paper states only that amplitudes follow a skew-normal law supported on [-0.11, 0.28] nA with its mode in
the peri-threshold window 0-0.05 nA and a heavier positive tail. :data:`PAPER_SAMPLER` (shape 2.5, location
-0.03 nA, scale 0.1 nA, truncated to the range) puts its mode at 0.020 nA and 27% of samples below 0 nA, which
matches the share of negative amplitudes in the paper's data (19,600 of 75,600 = 26%); 31% fall in 0-0.05 nA and
42% above 0.05 nA.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import skewnorm

from noble.sim.protocol import AMPLITUDE_RANGE, ProtocolError, check_amplitudes


@dataclass(frozen=True)
class SkewNormalSampler:
    """A skew-normal law (``shape``, ``loc`` nA, ``scale`` nA) truncated to ``[low, high]`` nA."""

    shape: float = 2.5
    loc: float = -0.03
    scale: float = 0.1
    low: float = AMPLITUDE_RANGE[0]
    high: float = AMPLITUDE_RANGE[1]

    def __post_init__(self) -> None:
        if not (self.scale > 0 and np.isfinite([self.shape, self.loc, self.scale, self.low, self.high]).all()):
            raise ProtocolError(f"invalid skew-normal parameters {self}")
        if not self.low < self.high:
            raise ProtocolError(f"sampler range [{self.low}, {self.high}] nA is empty")

    def _law(self):
        return skewnorm(self.shape, loc=self.loc, scale=self.scale)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` amplitudes (nA) by inverse-CDF sampling of the truncated law (deterministic for ``rng``)."""
        if n < 0:
            raise ProtocolError(f"number of samples must be >= 0, not {n}")
        law = self._law()
        lo, hi = law.cdf(self.low), law.cdf(self.high)
        u = lo + (hi - lo) * rng.random(n)
        return np.clip(law.ppf(u), self.low, self.high)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density (1/nA) of the truncated law."""
        law = self._law()
        x = np.asarray(x, dtype=float)
        z = law.cdf(self.high) - law.cdf(self.low)
        return np.where((x >= self.low) & (x <= self.high), law.pdf(x) / z, 0.0)

    def mode(self, resolution: float = 1e-5) -> float:
        """The most likely amplitude (nA), found on a fine grid."""
        x = np.arange(self.low, self.high + resolution, resolution)
        return float(x[np.argmax(self.pdf(x))])

    def as_dict(self) -> dict[str, float | str]:
        return {"law": "truncated skew-normal", **asdict(self)}


#: The sampler used for the paper-like datasets (see the module docstring).
PAPER_SAMPLER = SkewNormalSampler()


def amplitude_grid(low: float, high: float, n: int) -> np.ndarray:
    """``n`` evenly spaced amplitudes (nA) from ``low`` to ``high`` inclusive, inside the validated range."""
    if n < 1:
        raise ProtocolError(f"a grid needs at least one amplitude, not {n}")
    return check_amplitudes(np.linspace(low, high, n))


def sample_pairs(
    hofs: list[int], n: int, seed: int, sampler: SkewNormalSampler = PAPER_SAMPLER
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (HoF index, amplitude nA) pairs: amplitudes from ``sampler``, each paired with a random HoF."""
    if not hofs:
        raise ProtocolError("no HoF models to pair amplitudes with")
    rng = np.random.default_rng(seed)
    amplitudes = sampler.sample(n, rng)
    chosen = rng.integers(0, len(hofs), size=n)
    return np.asarray(hofs, dtype=np.int64)[chosen], amplitudes
