"""Named fit profiles: how large and how long the two-stage evolution is.

``quick`` proves the pipeline in well under a minute on 2 CPU cores (CI); ``demo`` shows the error falling in
under 15 minutes on 2 cores; ``paper`` is the cluster scale of the published fits (4,096 individuals, 50 passive
+ 200 all-active generations, 20 hall-of-fame models per seed, 3 seeds run as 3 jobs), with the paper's
segmentation and solver step.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from noble.fit.errors import FitError
from noble.fit.evaluate import FitProtocol
from noble.fit.optimizer import EvolutionSettings

PROFILE_NAMES = ("quick", "demo", "paper")


@dataclass(frozen=True)
class FitProfile:
    """A fit profile: stage sizes, prior, protocol and parallelism."""

    name: str
    passive: EvolutionSettings  # stage 1: passive properties and Ih on the hyperpolarising step
    active: EvolutionSettings  # stage 2: active conductances on every step
    protocol: FitProtocol
    widen: float = 2.0  # prior: published range widened by this factor (see noble.fit.parameters.prior_space)
    workers: int = 2  # local processes
    seeds: tuple[int, ...] = (1,)  # seeds of the documented run (one `noble fit` per seed)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_overrides(self, **changes: Any) -> "FitProfile":
        """A copy with top-level fields replaced, or stage fields via ``passive_<field>``/``active_<field>``."""
        top, passive, active = {}, {}, {}
        for key, value in changes.items():
            if key.startswith("passive_"):
                passive[key[len("passive_"):]] = value
            elif key.startswith("active_"):
                active[key[len("active_"):]] = value
            else:
                top[key] = value
        out = replace(self, **top) if top else self
        if passive:
            out = replace(out, passive=replace(out.passive, **passive))
        if active:
            out = replace(out, active=replace(out.active, **active))
        return out


PROFILES: dict[str, FitProfile] = {
    "quick": FitProfile(
        name="quick",
        passive=EvolutionSettings(population=4, generations=3, n_hof=1),
        active=EvolutionSettings(population=4, generations=3, n_hof=3),
        protocol=FitProtocol(settle=200.0, dt=0.05, discretization="max_extent:100"),
    ),
    "demo": FitProfile(
        name="demo",
        passive=EvolutionSettings(population=32, generations=15, n_hof=1),
        active=EvolutionSettings(population=40, generations=30, n_hof=10),
        protocol=FitProtocol(settle=300.0, dt=0.05, discretization="max_extent:100"),
    ),
    "paper": FitProfile(
        name="paper",
        passive=EvolutionSettings(population=4096, generations=50, n_hof=1),
        active=EvolutionSettings(population=4096, generations=200, n_hof=20),
        protocol=FitProtocol(settle=500.0, dt=0.02, discretization="paper"),
        workers=16,
        seeds=(1, 2, 3),
    ),
}


def get_fit_profile(name: str) -> FitProfile:
    """A fit profile by name."""
    try:
        return PROFILES[name]
    except KeyError:
        raise FitError(f"unknown fit profile {name!r}; choose one of {', '.join(PROFILE_NAMES)}") from None
