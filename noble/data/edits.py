"""Edits of HoF model parameters: interpolation between two models and log-normal perturbation of the
conductances (the PDE baselines of paper Fig 4). Conductances S/cm^2, as in the model files.
"""
from __future__ import annotations

from dataclasses import fields, replace
from typing import TYPE_CHECKING

import numpy as np

from noble.data.params import SectionParameters
from noble.errors import AnalysisError

if TYPE_CHECKING:  # pragma: no cover
    from noble.data.params import ModelParameters


def interpolate_parameters(a: "ModelParameters", b: "ModelParameters", alpha: float) -> "ModelParameters":
    """Parameters ``(1 - alpha) * a + alpha * b``, value by value (both models must set the same parameters)."""
    if not 0.0 <= alpha <= 1.0:
        raise AnalysisError(f"interpolation weight alpha must lie in [0, 1], not {alpha}")

    def mix(x, y, what: str):
        if x is None and y is None:
            return None
        if x is None or y is None:
            raise AnalysisError(f"{what} is set in only one of {a.source.name} and {b.source.name}")
        return (1.0 - alpha) * float(x) + alpha * float(y)

    if set(a.sections) != set(b.sections):
        raise AnalysisError(f"{a.source.name} and {b.source.name} have different sections")
    sections = {}
    for name, sa in a.sections.items():
        sb = b.sections[name]
        if set(sa.mechanisms) != set(sb.mechanisms):
            raise AnalysisError(f"{name}: {a.source.name} and {b.source.name} insert different mechanisms")
        mechs = {}
        for mech, pa in sa.mechanisms.items():
            pb = sb.mechanisms[mech]
            if set(pa) != set(pb):
                raise AnalysisError(f"{name}/{mech}: the two models set different parameters")
            mechs[mech] = {p: mix(pa[p], pb[p], f"{name}/{mech}/{p}") for p in pa}
        kw = {f.name: mix(getattr(sa, f.name), getattr(sb, f.name), f"{name}/{f.name}")
              for f in fields(SectionParameters) if f.name != "mechanisms"}
        sections[name] = SectionParameters(mechanisms=mechs, **kw)
    return replace(a, ra=mix(a.ra, b.ra, "Ra"), celsius=mix(a.celsius, b.celsius, "celsius"),
                   v_init=mix(a.v_init, b.v_init, "v_init"), sections=sections)


def is_conductance(name: str) -> bool:
    """Whether a mechanism parameter is a maximal conductance (``gbar``, ``gSKv3_1bar``, ``gK_Pstbar``...)."""
    return name.startswith("g") and (name.endswith("bar") or name == "gbar")


def perturb_parameters(p: "ModelParameters", sd: float, rng: np.random.Generator) -> "ModelParameters":
    """Every maximal conductance (and ``g_pas``) multiplied by an independent log-normal factor ``exp(N(0, sd))``."""
    sections = {}
    for name, sec in p.sections.items():
        mechs = {m: {k: (float(v) * float(np.exp(rng.normal(0.0, sd))) if is_conductance(k) else v)
                     for k, v in params.items()} for m, params in sec.mechanisms.items()}
        g_pas = None if sec.g_pas is None else float(sec.g_pas) * float(np.exp(rng.normal(0.0, sd)))
        sections[name] = replace(sec, mechanisms=mechs, g_pas=g_pas)
    return replace(p, sections=sections)
