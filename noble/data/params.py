"""Typed parsing of Allen all-active HoF model files (``dynamics_params`` JSON).

Units as in the files and in NEURON: ``cm`` uF/cm^2, ``g_pas`` and every ``gbar`` S/cm^2, potentials mV,
``Ra`` ohm*cm, CaDynamics ``decay`` ms and ``gamma`` (dimensionless fraction), temperature degrees C.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from noble.errors import DataError, UnknownMechanismError
from noble.jsonfile import read_json_file

#: Membrane mechanisms noble can simulate, with the parameters a model file may set on each.
KNOWN_MECHANISMS: Mapping[str, frozenset[str]] = {
    "NaV": frozenset({"gbar"}),
    "Kv3_1": frozenset({"gbar", "vshift"}),
    "K_Pst": frozenset({"gbar"}),
    "K_Tst": frozenset({"gbar"}),
    "SK": frozenset({"gbar"}),
    "Ca_HVA": frozenset({"gbar"}),
    "Ca_LVA": frozenset({"gbar"}),
    "CaDynamics": frozenset({"gamma", "decay", "depth", "minCai"}),
    "Ih": frozenset({"gbar"}),
    "Im_v2": frozenset({"gbar"}),
    "Kd": frozenset({"gbar"}),
    "Kv2like": frozenset({"gbar"}),
}

#: Passive properties a genome entry with an empty mechanism may set.
PASSIVE_NAMES = frozenset({"cm", "g_pas", "e_pas", "Ra"})

#: Section lists of the Allen format.
SECTION_NAMES = ("soma", "dend", "apic", "axon")


@dataclass(frozen=True)
class SectionParameters:
    """Parameters painted on one section list (soma, dend, apic or axon)."""

    cm: float | None = None  # uF/cm^2
    g_pas: float | None = None  # S/cm^2
    e_pas: float | None = None  # mV
    ra: float | None = None  # ohm*cm, overrides the cell-wide value when set
    ena: float | None = None  # mV
    ek: float | None = None  # mV
    mechanisms: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelParameters:
    """One HoF model: passive and active parameters per section, conditions and axon handling."""

    source: Path
    ra: float  # ohm*cm
    celsius: float  # degrees C
    v_init: float  # mV
    delete_axon: bool
    sections: Mapping[str, SectionParameters]

    def mechanism_names(self) -> set[str]:
        """All mechanisms inserted anywhere in the cell."""
        return {m for s in self.sections.values() for m in s.mechanisms}

    def value(self, section: str, name: str) -> float:
        """A parameter by its model-file key, e.g. ``value("soma", "gbar_NaV")``."""
        sec = self.sections[section]
        if name in ("cm", "g_pas", "e_pas", "ena", "ek"):
            v = getattr(sec, name)
        elif name == "Ra":
            v = sec.ra if sec.ra is not None else self.ra
        else:
            param, _, mech = _split_key(name, self.source)
            v = sec.mechanisms.get(mech, {}).get(param)
        if v is None:
            raise KeyError(f"{name} is not set on {section} in {self.source}")
        return float(v)

    def as_flat_dict(self) -> dict[str, float]:
        """``{"<name>.<section>": value}`` for every genome value, e.g. ``"gbar_NaV.soma"``."""
        out: dict[str, float] = {"Ra": self.ra}
        for sec_name, sec in self.sections.items():
            for key in ("cm", "g_pas", "e_pas"):
                v = getattr(sec, key)
                if v is not None:
                    out[f"{key}.{sec_name}"] = v
            for mech, params in sec.mechanisms.items():
                for p, v in params.items():
                    out[f"{p}_{mech}.{sec_name}"] = v
        return out


def _split_key(name: str, source: Path) -> tuple[str, str, str]:
    """Split ``gbar_Kv3_1`` into (``gbar``, ``_``, ``Kv3_1``) using the known mechanism names."""
    for mech in sorted(KNOWN_MECHANISMS, key=len, reverse=True):
        suffix = "_" + mech
        if name.endswith(suffix):
            return name[: -len(suffix)], "_", mech
    raise UnknownMechanismError(f"{source}: parameter {name!r} belongs to no known mechanism")


def _require(mapping: Mapping[str, Any], key: str, where: str, source: Path) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise DataError(f"{source}: missing {key!r} in {where}")
    return mapping[key]


def _as_float(value: Any, what: str, source: Path) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{source}: {what} is not a number: {value!r}") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise DataError(f"{source}: {what} is not finite: {value!r}")
    return out


def parse_model_parameters(raw: Mapping[str, Any], source: Path) -> ModelParameters:
    """Parse an already loaded model JSON; ``source`` names the file in error messages."""
    if not isinstance(raw, Mapping):
        raise DataError(f"{source}: expected a JSON object at the top level")
    passive = _require(raw, "passive", "the top level", source)
    if not isinstance(passive, list) or not passive:
        raise DataError(f"{source}: 'passive' must be a non-empty list")
    ra = _as_float(_require(passive[0], "ra", "passive[0]", source), "passive ra", source)
    conditions = _require(raw, "conditions", "the top level", source)
    if not isinstance(conditions, list) or not conditions:
        raise DataError(f"{source}: 'conditions' must be a non-empty list")
    cond = conditions[0]
    celsius = _as_float(_require(cond, "celsius", "conditions[0]", source), "celsius", source)
    v_init = _as_float(_require(cond, "v_init", "conditions[0]", source), "v_init", source)
    delete_axon = bool(raw.get("axon_morph") and raw["axon_morph"][0].get("delete_axon"))

    fields: dict[str, dict[str, Any]] = {}

    def section(name: str) -> dict[str, Any]:
        if name not in SECTION_NAMES:
            raise DataError(f"{source}: unknown section {name!r} (expected one of {SECTION_NAMES})")
        return fields.setdefault(name, {"mechanisms": {}})

    for entry in cond.get("erev", []):
        sec = section(_require(entry, "section", "conditions[0].erev", source))
        for ion in ("ena", "ek"):
            if ion in entry:
                sec[ion] = _as_float(entry[ion], f"{ion} on {entry['section']}", source)

    genome = _require(raw, "genome", "the top level", source)
    if not isinstance(genome, list):
        raise DataError(f"{source}: 'genome' must be a list")
    for i, entry in enumerate(genome):
        name = _require(entry, "name", f"genome[{i}]", source)
        mech = _require(entry, "mechanism", f"genome[{i}]", source)
        sec = section(_require(entry, "section", f"genome[{i}]", source))
        value = _as_float(_require(entry, "value", f"genome[{i}]", source), f"genome[{i}] {name}", source)
        if not mech:
            if name not in PASSIVE_NAMES:
                raise DataError(f"{source}: genome[{i}] sets unknown passive property {name!r}")
            sec["ra" if name == "Ra" else name] = value
            continue
        if mech not in KNOWN_MECHANISMS:
            raise UnknownMechanismError(
                f"{source}: genome[{i}] uses unknown mechanism {mech!r} "
                f"(known: {', '.join(sorted(KNOWN_MECHANISMS))})"
            )
        suffix = "_" + mech
        if not name.endswith(suffix):
            raise DataError(f"{source}: genome[{i}] name {name!r} does not end with {suffix!r}")
        param = name[: -len(suffix)]
        if param not in KNOWN_MECHANISMS[mech]:
            raise DataError(f"{source}: genome[{i}] sets unknown parameter {param!r} of {mech}")
        sec["mechanisms"].setdefault(mech, {})[param] = value

    sections = {
        name: SectionParameters(**{k: v for k, v in f.items() if k != "mechanisms"}, mechanisms=f["mechanisms"])
        for name, f in fields.items()
    }
    return ModelParameters(
        source=source, ra=ra, celsius=celsius, v_init=v_init, delete_axon=delete_axon, sections=sections
    )


def load_model_parameters(path: str | Path) -> ModelParameters:
    """Read and parse one HoF model JSON file."""
    path = Path(path)
    return parse_model_parameters(read_json_file(path, DataError, "model file not found"), path)
