"""Per-HoF simulated features and the experimental features of a cell package.

The upstream tables repeat feature names for the hyperpolarising and depolarising steps; here every
feature is named ``hyperpol.<name>`` or ``depol.<name>`` as in the experimental table, plus ``slope``
(F-I slope, authors' scale, Hz/nA) and ``intercept`` (F-I threshold current, nA).
"""
from __future__ import annotations

import csv
from pathlib import Path

from noble.errors import DataError

#: The first depolarising-step feature column in the per-HoF table: columns before it are hyperpolarising.
_FIRST_DEPOL = "AHP1_depth_from_peak"
_ID_COLUMNS = ("cell_type", "cell_id", "model", "seed", "hof")
_EMBEDDING_COLUMNS = ("slope", "intercept")


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        raise DataError(f"{path}: feature table not found")
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if len(rows) < 2:
        raise DataError(f"{path}: feature table has no data rows")
    return rows[0], rows[1:]


def _number(text: str, path: Path, row: int, column: str) -> float:
    if text.strip() == "":
        return float("nan")
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{path}: row {row}, column {column!r}: not a number: {text!r}") from None


def read_model_features(path: str | Path) -> dict[tuple[int, int], dict[str, float]]:
    """Per-HoF features keyed by ``(seed, hof)``, names prefixed ``hyperpol.``/``depol.``."""
    path = Path(path)
    header, rows = _read_rows(path)
    for col in _ID_COLUMNS + _EMBEDDING_COLUMNS + (_FIRST_DEPOL,):
        if col not in header:
            raise DataError(f"{path}: missing column {col!r}")
    names: list[str] = []
    prefix = "hyperpol."
    for col in header:
        if col == _FIRST_DEPOL:
            prefix = "depol."
        names.append(col if col in _ID_COLUMNS + _EMBEDDING_COLUMNS else prefix + col)
    out: dict[tuple[int, int], dict[str, float]] = {}
    for i, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise DataError(f"{path}: row {i} has {len(row)} columns, header has {len(header)}")
        rec = dict(zip(names, row))
        key = (int(_number(rec["seed"], path, i, "seed")), int(_number(rec["hof"], path, i, "hof")))
        out[key] = {n: _number(rec[n], path, i, n) for n in names if n not in _ID_COLUMNS}
    return out


def read_experimental_features(path: str | Path) -> dict[str, float]:
    """The cell's measured features (one row): ``hyperpol.*``, ``depol.*``, ``slope``, ``intercept``."""
    path = Path(path)
    header, rows = _read_rows(path)
    row = rows[0]
    out: dict[str, float] = {}
    for i, name in enumerate(header):
        if name.startswith(("hyperpol.", "depol.")) or name in _EMBEDDING_COLUMNS:
            out[name] = _number(row[i], path, 2, name)
    if not out:
        raise DataError(f"{path}: no hyperpol./depol. feature columns")
    return out
