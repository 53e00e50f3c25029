"""Reading and validating SWC morphologies (lengths and radii in um)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noble.errors import DataError

SOMA, AXON, DEND, APIC = 1, 2, 3, 4


@dataclass(frozen=True)
class SwcTable:
    """The samples of an SWC file as arrays (ids, types, xyz and radius in um, parent ids)."""

    path: Path
    ids: np.ndarray
    types: np.ndarray
    xyz: np.ndarray
    radius: np.ndarray
    parents: np.ndarray

    def count(self, swc_type: int) -> int:
        """Number of samples of one SWC type."""
        return int(np.sum(self.types == swc_type))


def read_swc(path: str | Path) -> SwcTable:
    """Read an SWC file and check its structure (numbers, one root, parents defined before children)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: morphology file not found")
    rows: list[list[float]] = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        if len(parts) != 7:
            raise DataError(f"{path}: line {lineno}: expected 7 columns (id type x y z r parent), got {len(parts)}")
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            raise DataError(f"{path}: line {lineno}: non-numeric value in {text!r}") from None
    if not rows:
        raise DataError(f"{path}: no samples in SWC file")
    arr = np.asarray(rows)
    ids = arr[:, 0].astype(int)
    parents = arr[:, 6].astype(int)
    if len(set(ids.tolist())) != len(ids):
        raise DataError(f"{path}: duplicate sample ids")
    roots = np.flatnonzero(parents == -1)
    if len(roots) != 1:
        raise DataError(f"{path}: expected exactly one root sample (parent -1), found {len(roots)}")
    known = set(ids.tolist())
    missing = [int(p) for p in parents if p != -1 and p not in known]
    if missing:
        raise DataError(f"{path}: parent id {missing[0]} refers to no sample")
    if np.any(arr[:, 5] <= 0):
        bad = int(ids[np.flatnonzero(arr[:, 5] <= 0)[0]])
        raise DataError(f"{path}: sample {bad} has a non-positive radius")
    table = SwcTable(path, ids, arr[:, 1].astype(int), arr[:, 2:5], arr[:, 5], parents)
    if table.count(SOMA) == 0:
        raise DataError(f"{path}: no soma sample (type 1)")
    return table
