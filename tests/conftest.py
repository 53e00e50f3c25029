"""Shared fixtures: a writable data root seeded from the reference copy ``../shared/data``."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from noble.data.registry import CELLS
from noble.paths import shared_data_dir

os.environ.setdefault("MPLBACKEND", "Agg")


def _has_all_cells(root: Path) -> bool:
    return all((root / "cells" / name).is_dir() for name in CELLS)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding every cell package: ``$NOBLE_DATA_DIR`` when seeded, else a temporary copy."""
    env = os.environ.get("NOBLE_DATA_DIR")
    if env and _has_all_cells(Path(env)):
        return Path(env)
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("no cell packages: run `make data` or set NOBLE_DATA_DIR")
    root = tmp_path_factory.mktemp("noble-data")
    shutil.copytree(shared / "cells", root / "cells")
    for path in (root / "cells").rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    os.environ["NOBLE_DATA_DIR"] = str(root)
    return root


@pytest.fixture(scope="session")
def pvalb(data_root: Path):
    """The paper's PVALB cell package."""
    from noble.data import load_cell

    return load_cell("human_pvalb_689331391", root=data_root)


@pytest.fixture(scope="session")
def quick_dataset(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quick-recipe HDF5 dataset (3 PVALB HoF models x 4 amplitudes), generated once per session."""
    from noble.cli import main

    out = tmp_path_factory.mktemp("quick-dataset") / "quick.h5"
    code = main(["simulate", "--recipe", "quick", "--root", str(data_root), "--workers", "2", "--quiet", "--out", str(out)])
    assert code == 0 and out.is_file()
    return out
