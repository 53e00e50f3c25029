"""Cell packages brought by the user: any folder of Allen all-active HoF model files and one SWC morphology.

``add_package(source, name)`` scans ``source`` (any subfolders, e.g. upstream's ``json/`` and ``swc/``), checks
every file, and copies the package into the data cache as ``cells/<name>/`` with a generated descriptor
``noble_cell.json`` (format, species, type, specimen id when the names carry it, the HoF index of every file,
the split, training settings, and the SHA-256 of every source file, so a later ``add`` detects a changed
source). The copied HoF files are named ``hof_<index>.json``; :func:`descriptor_spec` turns a descriptor into the
:class:`~noble.data.registry.CellSpec` that :func:`noble.data.load_cell` uses.

HoF naming (one scheme per package, else an error):

* upstream: ``PVALB__689331391_stage_1_seed_1_hof_0_Layer3_Inh L2-4 PVALB WFDC2.json`` (spaces allowed), and
  the short form ``PVALB__689331391_seed_1_hof_0.json``; global index ``(seed - 1) * 20 + hof``;
* ``hof_param_<specimen>_<hof>.json``: index ``hof``;
* anything else: the files in sorted (byte) order get indices 0, 1, ... (recorded in the descriptor).

Split: ``round(n / 6)`` test models (at least 1) drawn by ``numpy.random.default_rng(seed)`` from the sorted
indices, unless ``test_hofs`` are given.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from noble.data.params import load_model_parameters
from noble.errors import DataError
from noble.hashing import sha256_file

DESCRIPTOR = "noble_cell.json"
FORMAT = "noble-cell/1"
HOFS_PER_SEED = 20

_UPSTREAM = re.compile(r"^(?P<type>[A-Za-z0-9]+)__(?P<sid>\d+)_(?:stage_\d+_)?seed_(?P<seed>\d+)_hof_(?P<hof>\d+)(?:_.*)?\.json$")
_PARAM = re.compile(r"^hof_param_(?P<sid>\d+)_(?P<hof>\d+)\.json$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class PackageError(DataError):
    """A folder that cannot become a cell package; the message names the file and the problem."""


@dataclass(frozen=True)
class ScannedPackage:
    """What :func:`scan_package` found in a source folder."""

    source: Path
    morphology: Path
    hof_files: dict[int, Path]  # global index -> file
    naming: str  # "upstream", "hof_param" or "sorted"
    cell_type: str | None
    specimen_id: int | None
    mechanisms: tuple[str, ...]


def _is_dynamics_params(path: Path) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageError(f"{path}: not valid JSON ({exc})") from None
    return isinstance(data, Mapping) and "genome" in data and ("passive" in data or "conditions" in data)


def scan_package(source: str | Path) -> ScannedPackage:
    """Find and check the morphology and the HoF model files of ``source`` (see the module docstring)."""
    source = Path(source)
    if not source.is_dir():
        raise PackageError(f"{source}: not a folder")
    swcs = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() == ".swc")
    if not swcs:
        raise PackageError(f"{source}: no SWC morphology file (*.swc) in the folder or its subfolders")
    if len(swcs) > 1:
        raise PackageError(f"{source}: {len(swcs)} SWC files, a package has one: " + ", ".join(str(p) for p in swcs))
    jsons = sorted(p for p in source.rglob("*.json") if p.is_file() and p.name != DESCRIPTOR)
    models = []
    for path in jsons:
        if not _is_dynamics_params(path):
            raise PackageError(f"{path}: not an Allen all-active model file (dynamics_params with 'genome' and "
                               "'passive' or 'conditions')")
        models.append(path)
    if not models:
        raise PackageError(f"{source}: no HoF model files (*.json)")
    upstream = [_UPSTREAM.match(p.name) for p in models]
    param = [_PARAM.match(p.name) for p in models]
    hof_files: dict[int, Path] = {}
    cell_type = specimen = None
    if all(upstream):
        naming = "upstream"
        keys = {(m["type"], m["sid"]) for m in upstream}
        if len(keys) > 1:
            raise PackageError(f"{source}: HoF files of several cells {sorted(keys)}; a package holds one cell")
        cell_type, specimen = next(iter(keys))[0], int(next(iter(keys))[1])
        for path, m in zip(models, upstream):
            seed, hof = int(m["seed"]), int(m["hof"])
            if seed < 1 or hof >= HOFS_PER_SEED:
                raise PackageError(f"{path}: seed {seed}, hof {hof} outside the upstream range (seed >= 1, hof < 20)")
            _put(hof_files, (seed - 1) * HOFS_PER_SEED + hof, path)
    elif all(param):
        naming = "hof_param"
        specimen = int(param[0]["sid"])
        for path, m in zip(models, param):
            _put(hof_files, int(m["hof"]), path)
    elif any(upstream) or any(param):
        odd = [p.name for p, u, q in zip(models, upstream, param) if not (u or q)]
        raise PackageError(f"{source}: mixed HoF naming; these files follow no scheme of the others: {odd[:5]}")
    else:
        naming = "sorted"
        for i, path in enumerate(sorted(models, key=lambda p: str(p.relative_to(source)))):
            hof_files[i] = path
    mechanisms: set[str] = set()
    for path in hof_files.values():
        mechanisms |= set(load_model_parameters(path).mechanism_names())
    return ScannedPackage(source, swcs[0], dict(sorted(hof_files.items())), naming, cell_type, specimen,
                          tuple(sorted(mechanisms)))


def _put(files: dict[int, Path], index: int, path: Path) -> None:
    if index in files:
        raise PackageError(f"{path}: duplicate HoF index {index} (also {files[index]})")
    files[index] = path


def default_test_hofs(indices: Sequence[int], seed: int = 0, fraction: float = 1 / 6) -> tuple[int, ...]:
    """``round(fraction * n)`` (at least 1, fewer than n) indices drawn by ``default_rng(seed)``, sorted."""
    idx = sorted(int(i) for i in indices)
    if len(idx) < 2:
        raise PackageError(f"a package needs at least 2 HoF models to split into train and test, it has {len(idx)}")
    n_test = min(len(idx) - 1, max(1, int(round(fraction * len(idx)))))
    rng = np.random.default_rng(seed)
    return tuple(sorted(int(i) for i in rng.choice(idx, size=n_test, replace=False)))


def descriptor_path(root: Path, name: str) -> Path:
    return Path(root) / "cells" / name / DESCRIPTOR


def read_descriptor(root: Path, name: str) -> dict[str, Any] | None:
    """The descriptor of a user package ``name`` under ``root``, or None when there is none."""
    path = descriptor_path(root, name)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PackageError(f"{path}: not valid JSON ({exc})") from None
    if data.get("format") != FORMAT:
        raise PackageError(f"{path}: unknown descriptor format {data.get('format')!r} (expected {FORMAT})")
    return data


def user_cells(root: Path) -> list[str]:
    """Names of the user packages registered under ``root``."""
    cells = Path(root) / "cells"
    return sorted(p.parent.name for p in cells.glob(f"*/{DESCRIPTOR}")) if cells.is_dir() else []


def add_package(
    source: str | Path, name: str | None, root: str | Path, *, test_hofs: Sequence[int] | None = None,
    seed: int = 0, species: str = "unknown", settings: Mapping[str, Any] | None = None,
    reserved: Sequence[str] = (), update: bool = False,
) -> tuple[Path, dict[str, Any], str]:
    """Register ``source`` as cell ``name`` under ``root``; returns (package folder, descriptor, what happened).

    ``reserved``: names that may not be used (the shipped cells). Adding the same unchanged source again is a
    no-op ("unchanged"); a changed source needs ``update=True``.
    """
    scan = scan_package(source)
    if name is None:
        base = f"{(scan.cell_type or Path(source).name)}_{scan.specimen_id}" if scan.specimen_id else Path(source).name
        name = re.sub(r"[^a-z0-9_.-]+", "_", base.lower()).strip("_")
    if not _NAME.match(name):
        raise PackageError(f"cell name {name!r}: use lower-case letters, digits, '_', '-' and '.'")
    if name in reserved:
        raise PackageError(f"cell name {name!r} clashes with a shipped cell; choose another --name")
    root = Path(root)
    files = {"morphology": scan.morphology, **{f"hof:{i}": p for i, p in scan.hof_files.items()}}
    checksums = {key: sha256_file(path) for key, path in files.items()}
    existing = read_descriptor(root, name)
    if existing is not None:
        if existing["provenance"]["sha256"] == checksums and existing["provenance"]["source"] == str(Path(source).resolve()):
            return descriptor_path(root, name).parent, existing, "unchanged"
        if not update:
            raise PackageError(f"cell {name!r} is already registered from {existing['provenance']['source']} and the "
                               "source differs now; pass --update to replace it, or choose another --name")
    indices = list(scan.hof_files)
    test = tuple(sorted(int(i) for i in test_hofs)) if test_hofs is not None else default_test_hofs(indices, seed)
    unknown = sorted(set(test) - set(indices))
    if unknown:
        raise PackageError(f"test HoF indices {unknown} have no model file in {source}")
    descriptor = {
        "format": FORMAT,
        "name": name,
        "species": species,
        "cell_type": scan.cell_type or "unknown",
        "specimen_id": scan.specimen_id,
        "naming": scan.naming,
        "morphology": f"morphology/{scan.morphology.name}",
        "hof_files": {str(i): p.relative_to(scan.source).as_posix() for i, p in scan.hof_files.items()},
        "mechanisms": list(scan.mechanisms),
        "split": {"test": list(test), "note": ("given on the command line" if test_hofs is not None else
                                               f"{len(test)} of {len(indices)} drawn by numpy default_rng({seed})")},
        "settings": dict(settings or {}),
        "provenance": {"source": str(Path(source).resolve()), "sha256": checksums},
    }
    folder = root / "cells" / name
    tmp = root / "cells" / f".{name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "hof_params").mkdir(parents=True)
    (tmp / "morphology").mkdir()
    shutil.copy2(scan.morphology, tmp / descriptor["morphology"])
    for i, path in scan.hof_files.items():
        shutil.copy2(path, tmp / "hof_params" / f"hof_{i}.json")
    (tmp / DESCRIPTOR).write_text(json.dumps(descriptor, indent=2) + "\n")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder, descriptor, "updated" if existing is not None else "added"


__all__ = ["DESCRIPTOR", "FORMAT", "PackageError", "ScannedPackage", "add_package", "default_test_hofs",
           "read_descriptor", "scan_package", "user_cells"]
