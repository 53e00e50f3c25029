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


# --- tiny synthetic setups shared by the model, training and evaluation tests --------------------------------------
# Voltage in mV, current in nA, time in ms; the synthetic traces come from noble.training.synthetic.

SYNTH_TEMPLATE_KW = {"n_samples": 300, "dt_ms": 1.0, "delay_ms": 15.0, "duration_ms": 200.0}
SYNTH_TABLE = {h: {"slope": 740.0 + 9.0 * h, "intercept": 0.014 + 0.0007 * ((3 * h) % 8)} for h in range(8)}
SYNTH_TRAIN_HOFS, SYNTH_TEST_HOFS = [0, 1, 2, 3, 4, 5], [6, 7]
SMALL_TABLE = {0: {"slope": 750.0, "intercept": 0.015}, 1: {"slope": 800.0, "intercept": 0.019},
               5: {"slope": 780.0, "intercept": 0.017}}


def synth_template():
    """The 300-sample, 1 ms grid of the synthetic datasets (step from 15 ms for 200 ms)."""
    from noble.embedding import StimulusTemplate

    return StimulusTemplate(**SYNTH_TEMPLATE_KW)


def write_synthetic(path: Path, amps, hofs, seed: int = 0) -> Path:
    """Write synthetic traces of ``SYNTH_TABLE``'s HoFs at ``amps`` (nA) as a training dataset at ``path``."""
    import numpy as np

    from noble.sim.protocol import grid_protocol
    from noble.training import write_dataset
    from noble.training.synthetic import synthetic_traces

    template = synth_template()
    amps, hofs = np.asarray(amps, float), np.asarray(hofs)
    volt = synthetic_traces(amps, [SYNTH_TABLE[h]["intercept"] for h in hofs],
                            [SYNTH_TABLE[h]["slope"] for h in hofs], template)
    return write_dataset(path, volt, amps, hofs, grid_protocol(template), cell="synthetic_cell",
                         engine="synthetic", seed=seed)


def small_model(seed: int = 0):
    """A quick-profile NOBLE model of ``SMALL_TABLE`` (train HoFs 0, 1; test HoF 5) on the synthetic grid."""
    import torch

    from noble.embedding import EmbeddingSpec, FeatureScaler
    from noble.model import MODEL_PROFILES, NobleModel

    torch.manual_seed(seed)
    scaler = FeatureScaler.fit(SMALL_TABLE, [0, 1], ("slope", "intercept"))
    return NobleModel(MODEL_PROFILES["quick"], EmbeddingSpec(), scaler, synth_template(), SMALL_TABLE,
                      train_hofs=[0, 1], test_hofs=[5])


@pytest.fixture()
def one_torch_thread():
    """Tiny models run fastest (and steadiest on a shared machine) on one thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 synthetic traces: 6 random amplitudes in [-0.11, 0.28] nA for each of ``SYNTH_TABLE``'s 8 HoFs."""
    import numpy as np

    rng = np.random.default_rng(0)
    hofs = np.repeat(np.arange(8), 6)
    return write_synthetic(tmp_path_factory.mktemp("synthetic-data") / "train.h5",
                           rng.uniform(-0.11, 0.28, hofs.size), hofs)
