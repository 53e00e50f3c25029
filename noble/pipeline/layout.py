"""Where one pipeline run keeps its cached results, so figures rerun in seconds."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from noble.paths import project_root

WORK_DIR_ENV = "NOBLE_WORK_DIR"
FIGURES_DIR_ENV = "NOBLE_FIGURES_DIR"


def work_dir() -> Path:
    """Root of pipeline results: ``$NOBLE_WORK_DIR`` or ``<repo>/cache/runs``."""
    env = os.environ.get(WORK_DIR_ENV)
    return Path(env).expanduser() if env else project_root() / "cache" / "runs"


def figures_dir() -> Path:
    """Where figures are written: ``$NOBLE_FIGURES_DIR`` or ``<repo>/figures``."""
    env = os.environ.get(FIGURES_DIR_ENV)
    return Path(env).expanduser() if env else project_root() / "figures"


@dataclass(frozen=True)
class RunLayout:
    """The files of one (profile, cell) run."""

    root: Path

    @classmethod
    def for_run(cls, profile: str, cell: str, base: Path | None = None) -> "RunLayout":
        return cls((base or work_dir()) / profile / cell)

    @property
    def fit_dir(self) -> Path:
        return self.root / "fit"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def train_data(self) -> Path:
        """Sampled currents paired with train HoF models (training set)."""
        return self.data_dir / "train.h5"

    @property
    def unseen_currents_data(self) -> Path:
        """Unseen currents on train HoF models (the paper's Table 1 test set)."""
        return self.data_dir / "train_hofs_unseen_currents.h5"

    @property
    def test_hofs_data(self) -> Path:
        """Held-out test HoF models (Table 2, Fig 12)."""
        return self.data_dir / "test_hofs.h5"

    @property
    def fi_data(self) -> Path:
        """PDE traces on the F-I amplitude grid for every HoF model."""
        return self.data_dir / "fi_grid.h5"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def results_dir(self) -> Path:
        """Cached analysis results (metrics JSON, predicted ensembles, tables as CSV)."""
        return self.root / "results"

    def ensure(self) -> "RunLayout":
        for d in (self.fit_dir, self.data_dir, self.model_dir, self.results_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self
