"""The free parameters of a fit, their prior bounds, and the model JSON an individual becomes.

Units as in the Allen model files (see :mod:`noble.data.params`): conductance densities S/cm^2, ``cm`` uF/cm^2,
``Ra`` ohm*cm, ``e_pas`` mV, CaDynamics ``decay`` ms and ``gamma`` (fraction).

A parameter is named like the upstream parameter tables: ``<genome name>.<section>`` (e.g. ``gbar_NaV.soma``),
``<genome name>.all`` when every published model gives it the same value on all its sections (e.g.
``g_pas.all``), and ``Ra`` for the cell-wide axial resistivity. An individual is a vector in the unit cube; each
coordinate maps linearly (or log-linearly, for conductances) onto the parameter's bounds.
"""
from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from noble.fit.errors import FitError

#: Stage 1 ("passive") parameters: passive membrane and axial properties plus Ih, which shapes the sag.
PASSIVE_KEYS = ("Ra", "cm", "g_pas", "e_pas", "gbar_Ih")


def _is_conductance(name: str) -> bool:
    genome_name = name.split(".", 1)[0]
    return genome_name.startswith("gbar_") or genome_name == "g_pas"


@dataclass(frozen=True)
class FreeParameter:
    """One free parameter with its bounds (file units) and scale."""

    name: str  # e.g. "gbar_NaV.soma", "g_pas.all", "Ra"
    lower: float
    upper: float
    log: bool  # sample uniformly in log space (conductances)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lower) and math.isfinite(self.upper)):
            raise FitError(f"parameter {self.name}: bounds must be finite, got [{self.lower!r}, {self.upper!r}]")
        if self.lower > self.upper:
            raise FitError(f"parameter {self.name}: lower bound {self.lower:g} exceeds upper bound {self.upper:g}")
        if self.log and self.lower <= 0:
            raise FitError(
                f"parameter {self.name}: log-scale bounds must be positive, got lower bound {self.lower:g}"
            )

    @property
    def genome_name(self) -> str:
        """The name inside the model file (``gbar_NaV``, ``cm``, ``Ra``)."""
        return self.name.split(".", 1)[0]

    @property
    def section(self) -> str | None:
        """The section list it is painted on, ``"all"`` for tied sections, None for ``Ra``."""
        return self.name.split(".", 1)[1] if "." in self.name else None

    @property
    def is_passive(self) -> bool:
        """Part of stage 1 (passive properties and Ih)."""
        return self.genome_name in PASSIVE_KEYS

    def from_unit(self, x: float) -> float:
        """Map a unit-interval coordinate onto the bounds."""
        x = min(max(float(x), 0.0), 1.0)
        if self.log:
            lo, hi = math.log(self.lower), math.log(self.upper)
            return math.exp(lo + x * (hi - lo))
        return self.lower + x * (self.upper - self.lower)

    def to_unit(self, value: float) -> float:
        """Inverse of :meth:`from_unit` (clipped to [0, 1])."""
        if self.upper == self.lower:
            return 0.5
        if self.log:
            x = (math.log(value) - math.log(self.lower)) / (math.log(self.upper) - math.log(self.lower))
        else:
            x = (value - self.lower) / (self.upper - self.lower)
        return min(max(x, 0.0), 1.0)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "lower": self.lower, "upper": self.upper, "log": self.log}


class ModelTemplate:
    """A published model file used as the skeleton of every individual (conditions, sections, mechanisms)."""

    def __init__(self, raw: Mapping[str, Any], source: Path):
        if not isinstance(raw, Mapping) or "genome" not in raw or "passive" not in raw:
            raise FitError(f"{source}: not an Allen model file (needs 'passive' and 'genome')")
        self.raw = copy.deepcopy(dict(raw))
        self.source = Path(source)

    @classmethod
    def from_file(cls, path: str | Path) -> "ModelTemplate":
        path = Path(path)
        try:
            return cls(json.loads(path.read_text()), path)
        except (OSError, json.JSONDecodeError) as exc:
            raise FitError(f"{path}: cannot read model template ({exc})") from None

    def genome_keys(self) -> list[tuple[str, str]]:
        """``(name, section)`` of every genome entry, in file order."""
        return [(g["name"], g["section"]) for g in self.raw["genome"]]

    def build(self, values: Mapping[str, float], keep_mechanisms: set[str] | None = None) -> dict[str, Any]:
        """A model JSON with the given parameter values (names as in :class:`FreeParameter`).

        Genome entries that ``values`` does not cover keep the template's value. With ``keep_mechanisms``
        given, entries of other mechanisms are dropped (passive entries, mechanism ``""``, always stay).
        """
        raw = copy.deepcopy(self.raw)
        used: set[str] = set()
        genome = []
        for entry in raw["genome"]:
            mech = entry.get("mechanism", "")
            if keep_mechanisms is not None and mech and mech not in keep_mechanisms:
                used.update(k for k in (f"{entry['name']}.{entry['section']}", f"{entry['name']}.all") if k in values)
                continue
            for key in (f"{entry['name']}.{entry['section']}", f"{entry['name']}.all"):
                if key in values:
                    entry["value"] = float(values[key])
                    used.add(key)
                    break
            genome.append(entry)
        raw["genome"] = genome
        if "Ra" in values:
            raw["passive"] = [{**raw["passive"][0], "ra": float(values["Ra"])}]
            used.add("Ra")
        unknown = set(values) - used
        if unknown:
            raise FitError(f"parameters {sorted(unknown)} match no genome entry of {self.source}")
        return raw


@dataclass(frozen=True)
class ParameterSpace:
    """An ordered list of free parameters (the genome of an individual)."""

    parameters: tuple[FreeParameter, ...]

    def __post_init__(self) -> None:
        if not self.parameters:
            raise FitError("the parameter space is empty: nothing to fit")
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise FitError(f"duplicate parameter names in {names}")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def __len__(self) -> int:
        return len(self.parameters)

    def decode(self, unit: Sequence[float]) -> dict[str, float]:
        """Parameter values (file units) of a unit-cube genome."""
        if len(unit) != len(self.parameters):
            raise FitError(f"genome has {len(unit)} genes, the parameter space {len(self.parameters)}")
        return {p.name: p.from_unit(x) for p, x in zip(self.parameters, unit)}

    def encode(self, values: Mapping[str, float]) -> list[float]:
        """Unit-cube genome of parameter values."""
        return [p.to_unit(values[p.name]) for p in self.parameters]

    def subset(self, passive: bool) -> "ParameterSpace":
        """The stage-1 (``passive=True``) or stage-2 parameters."""
        return ParameterSpace(tuple(p for p in self.parameters if p.is_passive == passive))

    def as_list(self) -> list[dict[str, Any]]:
        return [p.as_dict() for p in self.parameters]

    @classmethod
    def from_list(cls, items: Sequence[Mapping[str, Any]]) -> "ParameterSpace":
        return cls(tuple(FreeParameter(str(i["name"]), float(i["lower"]), float(i["upper"]), bool(i["log"])) for i in items))


def published_values(templates: Sequence[ModelTemplate]) -> dict[str, list[float]]:
    """Every genome value of the published models, named as free parameters (tied sections become ``.all``)."""
    if not templates:
        raise FitError("no published models to derive parameter bounds from")
    per_entry: dict[tuple[str, str], list[float]] = {}
    order: list[tuple[str, str]] = []
    ra: list[float] = []
    for t in templates:
        ra.append(float(t.raw["passive"][0]["ra"]))
        for g in t.raw["genome"]:
            key = (g["name"], g["section"])
            if key not in per_entry:
                per_entry[key] = []
                order.append(key)
            per_entry[key].append(float(g["value"]))
    out: dict[str, list[float]] = {"Ra": ra}
    by_name: dict[str, list[str]] = {}
    for name, section in order:
        by_name.setdefault(name, []).append(section)
    for name, sections in by_name.items():
        columns = [per_entry[(name, s)] for s in sections]
        tied = len(sections) > 1 and all(len(c) == len(columns[0]) for c in columns) and all(
            np.allclose(c, columns[0], rtol=1e-12, atol=0) for c in columns[1:]
        )
        if tied:
            out[f"{name}.all"] = columns[0]
        else:
            for s, c in zip(sections, columns):
                out[f"{name}.{s}"] = c
    return out


def prior_space(templates: Sequence[ModelTemplate], widen: float = 2.0) -> ParameterSpace:
    """The documented prior: the range of the published models widened by ``widen``.

    Conductances (``gbar_*``, ``g_pas``) are searched in log space within ``[min / widen, max * widen]``;
    other parameters linearly within their range stretched ``widen``-fold about its centre, and parameters that
    are positive in every published model keep a positive lower bound of at least ``min / widen``.
    """
    if not (math.isfinite(widen) and widen >= 1.0):
        raise FitError(f"the prior widening factor must be >= 1, not {widen!r}")
    params = []
    for name, vals in published_values(templates).items():
        lo, hi = min(vals), max(vals)
        if _is_conductance(name):
            if lo <= 0:
                raise FitError(f"published values of {name} include {lo:g} <= 0: cannot use a log-scale prior")
            params.append(FreeParameter(name, lo / widen, hi * widen, True))
            continue
        centre, half = (lo + hi) / 2, (hi - lo) / 2 * widen
        if half == 0:
            half = abs(centre) * (widen - 1) / 2 or 1.0
        lower, upper = centre - half, centre + half
        if lo > 0:
            lower = max(lower, lo / widen)
        params.append(FreeParameter(name, lower, upper, False))
    return ParameterSpace(tuple(params))
