"""The registry of cell packages noble knows: layout, HoF naming, provenance and the train/test split."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from noble.data.packages import read_descriptor, user_cells
from noble.errors import UnknownCellError
from noble.paths import data_dir

#: NOBLE's held-out PVALB HoF models (global index ``(seed-1)*20 + hof``), from the authors' code.
PAPER_PVALB_TEST_HOFS = (32, 2, 12, 40, 5, 52, 21, 29, 16, 37)


@dataclass(frozen=True)
class CellSpec:
    """How one cell package is laid out and split."""

    name: str
    species: str
    cell_type: str
    specimen_id: int
    nwb_id: int | None
    hof_pattern: str  # regex on the HoF file name with groups seed (optional) and hof
    hofs_per_seed: int  # global index = (seed - 1) * hofs_per_seed + hof; 0 when files carry no seed
    morphology: str  # path inside the package
    model_features: str | None  # per-HoF feature table inside the package
    experimental_features: str | None
    test_hofs: tuple[int, ...]
    split_note: str
    #: training settings of this cell (e.g. VIP's amplitude_frequencies, epoch_scale, plateau_factor)
    settings: Mapping[str, Any] = field(default_factory=dict)
    user_package: bool = False  # registered with `noble cells add` (a descriptor in the data cache)
    #: I_thr and s_thr computed by `noble features --fi --cell NAME` (a table keyed by global index), used as the
    #: embedded ``intercept`` and ``slope`` when the package publishes no feature table
    computed_features: str | None = None

    def global_index(self, seed: int | None, hof: int) -> int:
        """NOBLE's global HoF index."""
        if seed is None or self.hofs_per_seed == 0:
            return hof
        return (seed - 1) * self.hofs_per_seed + hof

    def parse_hof_name(self, filename: str) -> tuple[int | None, int] | None:
        """``(seed, hof)`` from a HoF file name, or None when the name does not match."""
        m = re.fullmatch(self.hof_pattern, filename)
        if not m:
            return None
        seed = m.groupdict().get("seed")
        return (int(seed) if seed is not None else None, int(m.group("hof")))


def documented_test_split(n_models: int, n_test: int, seed: int = 0) -> tuple[int, ...]:
    """A reproducible held-out set: ``n_test`` global indices drawn without replacement by numpy's
    ``default_rng(seed)``; used where the paper gives no split."""
    rng = np.random.default_rng(seed)
    return tuple(int(i) for i in rng.choice(n_models, size=n_test, replace=False))


_HUMAN_PATTERN = r"{prefix}__{sid}_seed_(?P<seed>\d+)_hof_(?P<hof>\d+)\.json"

CELLS: dict[str, CellSpec] = {
    "human_pvalb_689331391": CellSpec(
        name="human_pvalb_689331391",
        species="human",
        cell_type="PVALB",
        specimen_id=689331391,
        nwb_id=689331378,
        hof_pattern=_HUMAN_PATTERN.format(prefix="PVALB", sid=689331391),
        hofs_per_seed=20,
        morphology="morphology/PVALB__689331391_transformed.swc",
        model_features="features/model_ephys_sim_features.csv",
        experimental_features="features/experimental_ephys_features.csv",
        test_hofs=PAPER_PVALB_TEST_HOFS,
        split_note="the paper's split: 10 test HoF models from the authors' code, the other 50 train",
    ),
    "human_vip_685806972": CellSpec(
        name="human_vip_685806972",
        species="human",
        cell_type="VIP",
        specimen_id=685806972,
        nwb_id=None,
        hof_pattern=_HUMAN_PATTERN.format(prefix="VIP", sid=685806972),
        hofs_per_seed=20,
        morphology="morphology/VIP__685806972_transformed.swc",
        model_features="features/model_ephys_sim_features.csv",
        experimental_features="features/experimental_ephys_features.csv",
        test_hofs=documented_test_split(60, 10, seed=0),
        split_note="the paper gives no VIP split: 10 of 60 drawn by numpy default_rng(0).choice(60, 10)",
        # the paper's VIP model: K = 11 amplitude frequencies, 450 instead of 300 epochs, plateau factor 0.8
        settings={"amplitude_frequencies": 11, "epoch_scale": 450 / 300, "plateau_factor": 0.8},
    ),
    "mouse_pvalb_569998790": CellSpec(
        name="mouse_pvalb_569998790",
        species="mouse",
        cell_type="Pvalb",
        specimen_id=569998790,
        nwb_id=None,
        hof_pattern=r"hof_param_569998790_(?P<hof>\d+)\.json",
        hofs_per_seed=0,
        morphology="morphology/Pvalb_569998790_Cell.swc",
        model_features=None,
        experimental_features=None,
        test_hofs=documented_test_split(40, 8, seed=0),
        split_note="not in the paper: 8 of 40 drawn by numpy default_rng(0).choice(40, 8)",
    ),
}

DEFAULT_CELL = "human_pvalb_689331391"


def descriptor_spec(descriptor: Mapping[str, Any]) -> CellSpec:
    """The :class:`CellSpec` of a package registered with ``noble cells add`` (:mod:`noble.data.packages`)."""
    return CellSpec(
        name=str(descriptor["name"]),
        species=str(descriptor.get("species", "unknown")),
        cell_type=str(descriptor.get("cell_type", "unknown")),
        specimen_id=int(descriptor["specimen_id"]) if descriptor.get("specimen_id") is not None else 0,
        nwb_id=None,
        hof_pattern=r"hof_(?P<hof>\d+)\.json",
        hofs_per_seed=0,
        morphology=str(descriptor["morphology"]),
        model_features=descriptor.get("model_features"),
        experimental_features=None,
        test_hofs=tuple(int(i) for i in descriptor["split"]["test"]),
        split_note=str(descriptor["split"]["note"]),
        settings=dict(descriptor.get("settings", {})),
        user_package=True,
        computed_features=descriptor.get("computed_features"),
    )


def cell_spec(name: str, root: str | Path | None = None) -> CellSpec:
    """The registry entry of a cell (a shipped one, or a package added under ``root``), with a clear error."""
    if name in CELLS:
        return CELLS[name]
    base = Path(root) if root is not None else data_dir()
    descriptor = read_descriptor(base, name)
    if descriptor is None:
        known = sorted(CELLS) + user_cells(base)
        raise UnknownCellError(f"unknown cell {name!r}; known cells: {', '.join(known)} (add your own with "
                               f"`noble cells add DIR --name {name}`)")
    return descriptor_spec(descriptor)


def package_dir(root: Path, name: str) -> Path:
    """The folder of a cell package inside a data root (``<root>/cells/<name>``)."""
    return Path(root) / "cells" / cell_spec(name, root).name
