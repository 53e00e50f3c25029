"""Loading a cell package into typed objects."""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from noble.data.features import read_experimental_features, read_model_features
from noble.data.params import ModelParameters, load_model_parameters
from noble.data.registry import CellSpec, cell_spec, package_dir
from noble.errors import DataError
from noble.paths import data_dir


@dataclass(frozen=True)
class HofModel:
    """One Hall-of-Fame model of a cell."""

    cell: str
    seed: int | None
    hof: int
    index: int  # NOBLE's global index
    path: Path
    params: ModelParameters
    features: dict[str, float] = field(default_factory=dict)  # simulated features, see noble.data.features

    @property
    def slope(self) -> float:
        """Published F-I slope (authors' scale, Hz/nA)."""
        return self.features["slope"]

    @property
    def intercept(self) -> float:
        """Published F-I threshold current (nA)."""
        return self.features["intercept"]


@dataclass(frozen=True)
class Split:
    """Global HoF indices used for training and held out for testing."""

    train: tuple[int, ...]
    test: tuple[int, ...]
    note: str


@dataclass(frozen=True)
class Cell:
    """A cell package: morphology, HoF models, features and split."""

    spec: CellSpec
    root: Path
    morphology: Path
    hof_models: tuple[HofModel, ...]
    experimental_features: dict[str, float]
    split: Split

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def feature_source(self) -> str:
        """Where the per-HoF features (I_thr, s_thr, ...) come from: ``published`` (the package's feature table),
        ``computed`` (``noble features --fi --cell``, stored in the package) or ``none``."""
        if self.spec.model_features:
            return "published"
        if self.spec.computed_features and any(m.features for m in self.hof_models):
            return "computed"
        return "none"

    def hof(self, index: int) -> HofModel:
        """The HoF model with a global index."""
        for m in self.hof_models:
            if m.index == index:
                return m
        raise KeyError(f"{self.name} has no HoF model with global index {index}")

    def models(self, split: str = "all") -> tuple[HofModel, ...]:
        """HoF models of a split: ``train``, ``test`` or ``all``, in global-index order."""
        if split == "all":
            return self.hof_models
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}")
        keep = set(getattr(self.split, split))
        return tuple(m for m in self.hof_models if m.index in keep)


def _missing_package_message(name: str, root: Path) -> str:
    return (
        f"cell package {name!r} not found under {root}; run `noble fetch --cell {name}` "
        f"(or `noble fetch --cell {name} --from DIR` from a local copy), or set NOBLE_DATA_DIR"
    )


def read_computed_features(path: Path) -> dict[int, dict[str, float]]:
    """``{global index: {"slope": s_thr (Hz/nA), "intercept": I_thr (nA)}}`` from a ``noble features --fi`` table."""
    if not path.is_file():
        raise DataError(f"{path}: computed feature table not found (rerun `noble features --fi --cell ...`)")
    out: dict[int, dict[str, float]] = {}
    with path.open(newline="") as fh:
        for i, rec in enumerate(csv.DictReader(fh), start=2):
            try:
                out[int(float(rec["index"]))] = {"slope": float(rec["s_thr_Hz_per_nA"]), "intercept": float(rec["I_thr_nA"])}
            except (KeyError, TypeError, ValueError):
                raise DataError(f"{path}: line {i}: expected index, I_thr_nA and s_thr_Hz_per_nA numbers") from None
    return out


def load_cell(name: str = "human_pvalb_689331391", root: str | Path | None = None) -> Cell:
    """Load a cell package from the data cache (``root`` overrides :func:`noble.paths.data_dir`)."""
    root = Path(root) if root is not None else data_dir()
    spec = cell_spec(name, root)
    folder = package_dir(root, name)
    if not folder.is_dir():
        raise DataError(_missing_package_message(name, root))
    morphology = folder / spec.morphology
    if not morphology.is_file():
        raise DataError(f"{morphology}: morphology file not found")

    model_features: dict[tuple[int, int], dict[str, float]] = {}
    if spec.model_features:
        model_features = read_model_features(folder / spec.model_features)
    experimental = read_experimental_features(folder / spec.experimental_features) if spec.experimental_features else {}

    computed: dict[int, dict[str, float]] = {}
    if spec.computed_features and not spec.model_features:
        computed = read_computed_features(folder / spec.computed_features)

    hof_dir = folder / "hof_params"
    models: list[HofModel] = []
    for path in sorted(hof_dir.glob("*.json")):
        parsed = spec.parse_hof_name(path.name)
        if parsed is None:
            raise DataError(f"{path}: file name does not match the HoF naming of {name} ({spec.hof_pattern})")
        seed, hof = parsed
        feats = model_features.get((seed if seed is not None else 0, hof), {}) or computed.get(
            spec.global_index(seed, hof), {})
        if spec.model_features and not feats:
            raise DataError(f"{folder / spec.model_features}: no row for seed {seed}, hof {hof}")
        models.append(
            HofModel(name, seed, hof, spec.global_index(seed, hof), path, load_model_parameters(path), feats)
        )
    if not models:
        raise DataError(f"{hof_dir}: no HoF model files")
    models.sort(key=lambda m: m.index)
    indices = [m.index for m in models]
    if len(set(indices)) != len(indices):
        raise DataError(f"{hof_dir}: duplicate global HoF indices")
    unknown = set(spec.test_hofs) - set(indices)
    if unknown:
        raise DataError(f"{hof_dir}: test HoF indices {sorted(unknown)} have no model file")
    train = tuple(i for i in indices if i not in set(spec.test_hofs))
    split = Split(train=train, test=tuple(spec.test_hofs), note=spec.split_note)
    return Cell(spec, folder, morphology, tuple(models), experimental, split)
