"""Reading JSON files with errors that name the file and the problem."""
from __future__ import annotations

import json
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
