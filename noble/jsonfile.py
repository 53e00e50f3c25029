"""Reading JSON files with errors that name the file and the problem, and writing them atomically."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from noble.errors import DataError, NobleError


def read_json_file(path: str | Path, error: type[NobleError] = DataError, missing: str = "file not found") -> Any:
    """Parse a JSON file; a missing file raises ``error("<path>: <missing>")``, bad JSON names line and column."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {missing}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise error(f"{path}: malformed JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None


def write_json_atomic(path: str | Path, data: Any, *, sort_keys: bool = False, default: Any = None) -> Path:
    """Write ``data`` as indented JSON to ``path`` through a temporary file renamed into place, so a reader (or
    a rerun after a kill) never sees a half-written file; parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=sort_keys, default=default) + "\n")
    os.replace(tmp, path)
    return path
