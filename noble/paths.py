"""Where noble keeps downloaded data and cached results."""
from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "NOBLE_DATA_DIR"
CACHE_DIR_ENV = "NOBLE_CACHE_DIR"


def data_dir() -> Path:
    """Root of the cell-package cache: ``$NOBLE_DATA_DIR`` or ``~/.cache/noble/data``."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "noble" / "data"


def cache_dir() -> Path:
    """Root for derived caches (compiled mechanisms, datasets): ``$NOBLE_CACHE_DIR`` or ``~/.cache/noble``."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "noble"


def project_root() -> Path:
    """The repository root when running from a source checkout."""
    return Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """The read-only reference copy ``../shared/data`` beside a checkout, when present."""
    candidate = project_root().parent / "shared" / "data"
    return candidate if candidate.is_dir() else None
