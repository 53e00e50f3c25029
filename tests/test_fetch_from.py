"""Seeding the cache from a local copy (``noble fetch --from DIR``) and loading what it wrote."""
from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
import stat
from pathlib import Path

import pytest

from noble.cli import main
from noble.data import load_cell
from noble.data.fetch import RECORD_NAME, UnpinnedChecksumWarning, fetch_cell, load_manifest
from noble.errors import ChecksumError, DataError
from noble.paths import shared_data_dir

CELL = "human_pvalb_689331391"


def _read_only_copy(data_root: Path, tmp_path: Path, cell: str = CELL) -> Path:
    """A copy of one package with read-only files and folders, laid out as DIR/cells/<cell>/."""
    src = tmp_path / "src"
    shutil.copytree(data_root / "cells" / cell, src / "cells" / cell)
    for p in sorted((src / "cells" / cell).rglob("*"), reverse=True):
        p.chmod(0o555 if p.is_dir() else 0o444)
    (src / "cells" / cell).chmod(0o555)
    return src


def _make_writable(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)


@pytest.fixture()
def shared_or_copy(data_root: Path) -> Path:
    """The reference copy ``../shared/data`` when present (read-only), else the test data root."""
    return shared_data_dir() or data_root


def test_fetch_from_read_only_copy_is_verified_writable_and_idempotent(data_root, tmp_path):
    src = _read_only_copy(data_root, tmp_path)
    try:
        dest = tmp_path / "cache"
        first = fetch_cell(CELL, dest, source_dir=src, progress=False)
        files = load_manifest(CELL).files()
        assert len(first.fetched) == len(files) and first.present == []
        for f in files:
            out = dest / "cells" / CELL / f.path
            assert hashlib.sha256(out.read_bytes()).hexdigest() == f.sha256
            assert out.stat().st_mode & stat.S_IWUSR
        record = json.loads((dest / "cells" / CELL / RECORD_NAME).read_text())
        assert record["files"][files[0].path]["sha256"] == files[0].sha256
        second = fetch_cell(CELL, dest, source_dir=src, progress=False)
        assert second.fetched == [] and len(second.present) == len(files)
    finally:
        _make_writable(src)


def test_fetch_from_rejects_a_corrupted_source_file(data_root, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(data_root / "cells" / CELL, src / "cells" / CELL)
    bad = src / "cells" / CELL / "hof_params" / "PVALB__689331391_seed_3_hof_4.json"
    bad.write_text(bad.read_text().replace("34", "35", 1))
    dest = tmp_path / "cache"
    with pytest.raises(ChecksumError, match="seed_3_hof_4.json: SHA-256 mismatch"):
        fetch_cell(CELL, dest, source_dir=src, progress=False)
    hof_dir = dest / "cells" / CELL / "hof_params"
    assert not (hof_dir / bad.name).exists()
    assert not [p for p in hof_dir.iterdir() if p.name.startswith(".") or p.suffix in (".tmp", ".part")]


def test_fetch_from_names_missing_source_files(data_root, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(data_root / "cells" / CELL, src / "cells" / CELL)
    (src / "cells" / CELL / "features" / "model_param_table.csv").unlink()
    with pytest.raises(DataError, match="missing 1 file.*features/model_param_table.csv"):
        fetch_cell(CELL, tmp_path / "cache", source_dir=src, progress=False)
    with pytest.raises(DataError, match="no copy of cell"):
        fetch_cell(CELL, tmp_path / "cache", source_dir=tmp_path / "empty", progress=False)


def test_fetch_repairs_a_damaged_cache_file(data_root, tmp_path):
    dest = tmp_path / "cache"
    fetch_cell(CELL, dest, source_dir=data_root, progress=False)
    victim = dest / "cells" / CELL / "morphology" / "PVALB__689331391_transformed.swc"
    victim.write_text("1 1 0 0 0 5 -1\n")
    report = fetch_cell(CELL, dest, source_dir=data_root, progress=False)
    assert report.fetched == ["morphology/PVALB__689331391_transformed.swc"]
    assert victim.read_bytes() == (data_root / "cells" / CELL / "morphology" / victim.name).read_bytes()


def test_unpinned_mechanism_files_warn_and_are_recorded(data_root, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(data_root / "cells" / CELL, src / "cells" / CELL)
    mechs = load_manifest(CELL).files(("mechanisms",))
    for f in mechs:
        p = src / "cells" / CELL / f.path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"NEURON {{ SUFFIX {Path(f.path).stem} }}\n")
    dest = tmp_path / "cache"
    with pytest.warns(UnpinnedChecksumWarning, match="no pinned checksum"):
        report = fetch_cell(CELL, dest, source_dir=src, mechanisms=True, progress=False)
    assert sorted(report.unpinned) == sorted(f.path for f in mechs)
    record = json.loads((dest / "cells" / CELL / RECORD_NAME).read_text())
    for f in mechs:
        text = (src / "cells" / CELL / f.path).read_bytes()
        assert record["files"][f.path] == {
            "sha256": hashlib.sha256(text).hexdigest(),
            "pinned": False,
            "origin": str(src / "cells" / CELL / f.path),
        }


def test_cli_fetch_all_from_copy_then_cells_lists_them(shared_or_copy, tmp_path, capsys):
    dest = tmp_path / "cache"
    assert main(["fetch", "--cell", "all", "--from", str(shared_or_copy), "--dest", str(dest), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "human_pvalb_689331391: 66 files ok (66 fetched, 0 already present)" in out
    assert main(["cells", "--root", str(dest)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("human_pvalb_689331391"))
    assert row.split()[1:5] == ["human", "PVALB", "60", "50/10"]
    assert row.split()[5] == str(dest / "cells" / "human_pvalb_689331391")
    mouse = next(line for line in out.splitlines() if line.startswith("mouse_pvalb_569998790"))
    assert mouse.split()[3:5] == ["40", "32/8"]


def _independent_features(path: Path) -> dict[tuple[int, int], dict[str, str]]:
    """Rows of the per-HoF feature table keyed by (seed, hof), with the raw strings."""
    with path.open(newline="") as fh:
        return {(int(float(r["seed"])), int(float(r["hof"]))): r for r in csv.DictReader(fh)}


def test_load_cell_after_fetch_from_shared_copy_matches_the_files(shared_or_copy, tmp_path):
    dest = tmp_path / "cache"
    assert main(["fetch", "--cell", CELL, "--from", str(shared_or_copy), "--dest", str(dest), "--quiet"]) == 0
    cell = load_cell(CELL, root=dest)
    assert len(cell.hof_models) == 60
    assert len(cell.split.train) == 50 and len(cell.split.test) == 10
    assert set(cell.split.test) == {32, 2, 12, 40, 5, 52, 21, 29, 16, 37}
    assert {m.index for m in cell.models("train")} | set(cell.split.test) == set(range(60))

    folder = dest / "cells" / CELL
    table = _independent_features(folder / "features" / "model_ephys_sim_features.csv")
    with (folder / "features" / "noble_pvalb_689331391_ephys_sim_features.csv").open(newline="") as fh:
        noble_rows = {(int(r["seed"]), int(r["hof"])): r for r in csv.DictReader(fh)}
    for model in cell.hof_models:
        raw = json.loads(model.path.read_text())
        # parameters: every genome value, the axial resistance and the conditions
        assert model.params.ra == raw["passive"][0]["ra"]
        assert model.params.celsius == raw["conditions"][0]["celsius"]
        assert model.params.v_init == raw["conditions"][0]["v_init"]
        assert model.params.delete_axon is True
        for g in raw["genome"]:
            assert model.params.value(g["section"], g["name"]) == float(g["value"]), (model.path, g)
        # features: slope and intercept from both tables, every other column by name
        row = table[(model.seed, model.hof)]
        assert model.slope == float(row["slope"]) and model.intercept == float(row["intercept"])
        assert math.isclose(model.slope, float(noble_rows[(model.seed, model.hof)]["slope"]), rel_tol=1e-12)
        assert math.isclose(model.intercept, float(noble_rows[(model.seed, model.hof)]["intercept"]), rel_tol=1e-12)
        assert model.index == (model.seed - 1) * 20 + model.hof
        assert model.features["hyperpol.sag_amplitude"] == float(row["sag_amplitude"])
        assert model.features["depol.Spikecount"] == float(row["Spikecount"])
    with (folder / "features" / "experimental_ephys_features.csv").open(newline="") as fh:
        exp = next(csv.DictReader(fh))
    assert cell.experimental_features["slope"] == float(exp["slope"])
    assert cell.experimental_features["depol.AP1_width"] == float(exp["depol.AP1_width"])
