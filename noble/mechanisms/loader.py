"""Choosing and loading a set of compiled mechanisms into the running NEURON process.

NEURON can hold only one set of compiled mechanisms per process (a second library that defines the same
names is rejected), so the first set loaded here is remembered and a request for a different set raises
:class:`MechanismConflictError`; run such work in a fresh Python process.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from noble.errors import NobleError
from noble.mechanisms.compile import NMODL_DIR, compile_mechanisms, mod_files, source_digest

#: Names accepted for ``mechanisms=``: the project's own NMODL files or the cell package's.
MECHANISM_SOURCES = ("noble", "package")


class MechanismConflictError(NobleError):
    """A second, different set of compiled mechanisms was requested in a process that already has one."""


class MissingMechanismsError(NobleError):
    """The requested mechanism sources are not available (e.g. a cell package fetched without them)."""


@dataclass(frozen=True)
class MechanismSet:
    """One set of NMODL sources: where they are and their checksum."""

    kind: str  # "noble" or "package"
    source: Path
    digest: str
    names: frozenset[str]  # mechanism file stems, e.g. {"NaV", "SK", ...}


_loaded: MechanismSet | None = None


def package_mechanism_dir(cell_dir: str | Path) -> Path:
    """``<cell package>/mechanisms``, with a clear message when the package carries no NMODL files."""
    folder = Path(cell_dir) / "mechanisms"
    if not folder.is_dir() or not any(folder.glob("*.mod")):
        raise MissingMechanismsError(
            f"{folder}: the cell package has no NMODL files; get them with "
            f"`noble fetch --cell {Path(cell_dir).name} --mechanisms`, "
            "or use the project's own mechanisms (mechanisms='noble')"
        )
    return folder


def mechanism_set(kind: str = "noble", cell_dir: str | Path | None = None) -> MechanismSet:
    """Describe a mechanism set: ``"noble"`` (the project's files) or ``"package"`` (``cell_dir``'s files)."""
    if kind == "noble":
        folder = NMODL_DIR
    elif kind == "package":
        if cell_dir is None:
            raise MissingMechanismsError("mechanisms='package' needs the cell package folder")
        folder = package_mechanism_dir(cell_dir)
    else:
        raise MissingMechanismsError(f"mechanisms must be one of {MECHANISM_SOURCES}, not {kind!r}")
    files = mod_files(folder)
    return MechanismSet(kind, folder, source_digest(files), frozenset(p.stem for p in files))


def loaded_mechanism_set() -> MechanismSet | None:
    """The set loaded into this process by :func:`load_mechanism_set`, if any."""
    return _loaded


def load_mechanism_set(mset: MechanismSet, cache_root: str | Path | None = None) -> MechanismSet:
    """Compile (once, cached) and load ``mset`` into NEURON; a no-op when the same sources are loaded.

    Raises :class:`MechanismConflictError` before compiling anything when another set is already loaded.
    """
    global _loaded
    if _loaded is not None:
        if _loaded.digest == mset.digest:
            return _loaded
        raise MechanismConflictError(
            f"this process already runs NEURON with the {_loaded.kind} mechanisms from {_loaded.source}; "
            f"NEURON cannot load a second set ({mset.kind}, {mset.source}) into the same process: "
            "run it in a new Python process"
        )
    library = compile_mechanisms(mset.source, cache_root)
    from neuron import h  # lazy: NEURON is an optional engine and loads compiled mechanisms on import

    foreign = sorted(n for n in mset.names if _is_defined(h, n))
    if foreign:
        raise MechanismConflictError(
            f"NEURON in this process already defines {', '.join(foreign)} from another library (NEURON loads "
            "./<arch>/libnrnmech.so from the working directory on import): run from another directory"
        )
    h.nrn_load_dll(str(library))
    _loaded = mset
    return mset


def _is_defined(h, name: str) -> bool:
    """Whether NEURON already knows a density mechanism called ``name``."""
    mt = h.MechanismType(0)
    selected = h.ref("")
    for i in range(int(mt.count())):
        mt.select(i)
        mt.selected(selected)
        if selected[0] == name:
            return True
    return False
