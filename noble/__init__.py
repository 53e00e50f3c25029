"""noble: a reproducible companion to NOBLE (arXiv 2506.04536).

One unit system everywhere: current in nA, voltage in mV, time in ms (see :mod:`noble.units`).
"""
from __future__ import annotations

from noble.version import __version__

# load_cell and load_model import their modules on first call, so `import noble` stays light (no torch).

__all__ = ["__version__", "load_cell", "load_model"]


def load_cell(name: str = "human_pvalb_689331391", **kwargs):
    """Load a cell package by name (see :func:`noble.data.load_cell`)."""
    from noble.data import load_cell as _load_cell

    return _load_cell(name, **kwargs)


def load_model(path, **kwargs):
    """Load a trained NOBLE checkpoint directory (see :func:`noble.checkpoint.load_model`)."""
    from noble.checkpoint import load_model as _load_model

    return _load_model(path, **kwargs)
