"""Bad input gives errors that name the file (or value) and the problem."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from noble.cli import main
from noble.data import cell_spec, load_cell, load_model_parameters
from noble.data.fetch import load_manifest, parse_manifest
from noble.data.swc import read_swc
from noble.errors import DataError, UnknownCellError, UnknownMechanismError

CELL = "human_pvalb_689331391"
HOF = "hof_params/PVALB__689331391_seed_1_hof_0.json"


@pytest.fixture()
def model_json(data_root: Path) -> dict:
    return json.loads((data_root / "cells" / CELL / HOF).read_text())


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_malformed_json_names_file_and_position(tmp_path):
    path = _write(tmp_path, "broken.json", '{"passive": [{"ra": 100}],\n "genome": [\n')
    with pytest.raises(DataError) as err:
        load_model_parameters(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and "malformed JSON" in msg and "line 3" in msg


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda d: d.pop("genome"), "missing 'genome' in the top level"),
        (lambda d: d["passive"][0].pop("ra"), "missing 'ra' in passive[0]"),
        (lambda d: d["genome"][3].__setitem__("value", "fast"), "is not a number: 'fast'"),
        (lambda d: d["genome"][0].__setitem__("section", "spine"), "unknown section 'spine'"),
        (lambda d: d["conditions"][0].__setitem__("celsius", float("nan")), "celsius is not finite"),
    ],
)
def test_invalid_model_file_names_the_problem(tmp_path, model_json, edit, problem):
    edit(model_json)
    path = _write(tmp_path, "model.json", json.dumps(model_json))
    with pytest.raises(DataError, match="^" + str(path).replace(".", r"\.")) as err:
        load_model_parameters(path)
    assert problem in str(err.value)


def test_unknown_mechanism_names_file_entry_and_mechanism(tmp_path, model_json):
    i = next(k for k, g in enumerate(model_json["genome"]) if g["mechanism"] == "NaV")
    model_json["genome"][i].update(mechanism="NaV16", name="gbar_NaV16")
    path = _write(tmp_path, "model.json", json.dumps(model_json))
    with pytest.raises(UnknownMechanismError) as err:
        load_model_parameters(path)
    msg = str(err.value)
    assert str(path) in msg and f"genome[{i}]" in msg and "'NaV16'" in msg and "NaV" in msg


GOOD_SWC = "1 1 0 0 0 5 -1\n2 3 0 10 0 1 1\n3 3 0 20 0 1 2\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1 1 0 0 0 5 -1\n2 3 0 10 0 1\n", "line 2: expected 7 columns (id type x y z r parent), got 6"),
        ("1 1 0 0 0 5 -1\n2 3 0 ten 0 1 1\n", "line 2: non-numeric value in '2 3 0 ten 0 1 1'"),
        ("1 1 0 0 0 5 -1\n2 3 0 10 0 1 -1\n", "expected exactly one root sample (parent -1), found 2"),
        ("1 1 0 0 0 5 -1\n2 3 0 10 0 1 7\n", "parent id 7 refers to no sample"),
        ("1 1 0 0 0 5 -1\n2 3 0 10 0 0 1\n", "sample 2 has a non-positive radius"),
        ("1 3 0 0 0 5 -1\n2 3 0 10 0 1 1\n", "no soma sample (type 1)"),
        ("# only a comment\n\n", "no samples in SWC file"),
        ("1 1 0 0 0 5 -1\n1 3 0 10 0 1 1\n", "duplicate sample ids"),
    ],
)
def test_malformed_swc_names_file_and_problem(tmp_path, text, problem):
    path = _write(tmp_path, "cell.swc", text)
    with pytest.raises(DataError) as err:
        read_swc(path)
    assert str(err.value) == f"{path}: {problem}"


def test_well_formed_swc_is_read(tmp_path):
    table = read_swc(_write(tmp_path, "cell.swc", "# comment\n" + GOOD_SWC))
    assert table.count(1) == 1 and table.count(3) == 2
    assert table.parents.tolist() == [-1, 1, 2]


def test_missing_files_are_named(tmp_path, data_root):
    with pytest.raises(DataError, match=f"^{tmp_path}/nope.json: model file not found$"):
        load_model_parameters(tmp_path / "nope.json")
    with pytest.raises(DataError, match=f"^{tmp_path}/nope.swc: morphology file not found$"):
        read_swc(tmp_path / "nope.swc")
    with pytest.raises(DataError, match=r"cell package 'human_pvalb_689331391' not found under .*noble fetch --cell"):
        load_cell(CELL, root=tmp_path)


def test_incomplete_package_names_what_is_missing(tmp_path, data_root):
    shutil.copytree(data_root / "cells" / CELL, tmp_path / "cells" / CELL)
    folder = tmp_path / "cells" / CELL
    (folder / "hof_params" / "PVALB__689331391_seed_2_hof_12.json").unlink()  # global index 32, a test HoF
    with pytest.raises(DataError, match=r"hof_params: test HoF indices \[32\] have no model file"):
        load_cell(CELL, root=tmp_path)
    (folder / "features" / "model_ephys_sim_features.csv").unlink()
    with pytest.raises(DataError, match=r"model_ephys_sim_features.csv: feature table not found"):
        load_cell(CELL, root=tmp_path)


def test_unknown_cell_name_lists_the_known_cells(capsys):
    with pytest.raises(UnknownCellError, match="unknown cell 'human_pvalb_1'; known cells: human_pvalb_689331391, "):
        cell_spec("human_pvalb_1")
    with pytest.raises(UnknownCellError):
        load_cell("human_pvalb_1")
    with pytest.raises(UnknownCellError):
        load_manifest("human_pvalb_1")
    assert main(["fetch", "--cell", "human_pvalb_1", "--quiet"]) == 2
    assert "noble fetch: error: unknown cell 'human_pvalb_1'" in capsys.readouterr().err


def test_malformed_manifest_names_file_and_field(tmp_path):
    raw = json.loads(load_manifest(CELL).path.read_text())
    raw["groups"]["package"]["files"][2]["sha256"] = "xyz"
    with pytest.raises(DataError, match=r"m\.json: groups\.package\.files\[2\]: sha256 'xyz' is not 64"):
        parse_manifest(raw, tmp_path / "m.json")
    raw["groups"]["package"]["files"][2]["sha256"] = None
    raw["groups"]["package"]["files"][2]["path"] = "../../etc/passwd"
    with pytest.raises(DataError, match="must be relative and stay inside the package"):
        parse_manifest(raw, tmp_path / "m.json")
