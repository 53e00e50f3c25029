"""Bring your own cell: `noble cells add` on packages built from ../shared/data with upstream naming and layout."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from noble.cli import main
from noble.data import load_cell
from noble.data.packages import PackageError, add_package, default_test_hofs, scan_package

PVALB = "human_pvalb_689331391"
UPSTREAM_SUFFIX = "_Layer3_Inh L2-4 PVALB WFDC2"


def upstream_package(data_root: Path, tmp_path: Path, n: int = 12) -> Path:
    """json/ + swc/ side by side, upstream file names (stage, seed, hof, a suffix with spaces)."""
    src = data_root / "cells" / PVALB
    pkg = tmp_path / "upstream_pvalb"
    (pkg / "json").mkdir(parents=True)
    (pkg / "swc").mkdir()
    files = sorted((src / "hof_params").glob("*.json"))[:n]
    for f in files:
        stem = f.stem.replace("PVALB__689331391_seed_", "PVALB__689331391_stage_1_seed_")
        shutil.copy(f, pkg / "json" / f"{stem}{UPSTREAM_SUFFIX}.json")
    shutil.copy(next((src / "morphology").glob("*.swc")), pkg / "swc" / "reconstruction.swc")
    return pkg


def test_upstream_naming_and_layout_are_accepted(data_root, tmp_path):
    pkg = upstream_package(data_root, tmp_path)
    scan = scan_package(pkg)
    assert scan.naming == "upstream" and scan.cell_type == "PVALB" and scan.specimen_id == 689331391
    published = load_cell(PVALB, root=data_root)
    for index, path in scan.hof_files.items():
        seed, hof = int(path.name.split("seed_")[1].split("_")[0]), int(path.name.split("hof_")[1].split("_")[0])
        assert index == (seed - 1) * 20 + hof
        assert json.loads(path.read_text()) == json.loads(published.hof(index).path.read_text())


def test_add_copies_a_checksummed_package_that_loads(data_root, tmp_path, capsys):
    root = tmp_path / "cache"
    pkg = upstream_package(data_root, tmp_path)
    assert main(["cells", "add", str(pkg), "--name", "mycell", "--species", "human", "--root", str(root)]) == 0
    assert "mycell: added, 12 HoF models (upstream naming), 10 train / 2 test" in capsys.readouterr().out
    desc = json.loads((root / "cells" / "mycell" / "noble_cell.json").read_text())
    assert desc["specimen_id"] == 689331391 and desc["species"] == "human" and len(desc["provenance"]["sha256"]) == 13
    cell = load_cell("mycell", root=root)
    assert len(cell.hof_models) == 12 and len(cell.split.test) == 2 and cell.morphology.is_file()
    published = load_cell(PVALB, root=data_root)
    assert cell.hof(0).params.as_flat_dict() == published.hof(0).params.as_flat_dict()
    # adding it again is a no-op; a changed source needs --update
    assert main(["cells", "add", str(pkg), "--name", "mycell", "--root", str(root)]) == 0
    assert "unchanged" in capsys.readouterr().out
    victim = next((pkg / "json").glob("*.json"))
    data = json.loads(victim.read_text())
    data["passive"][0]["ra"] = float(data["passive"][0].get("ra", 100.0)) + 1.0
    victim.write_text(json.dumps(data))
    assert main(["cells", "add", str(pkg), "--name", "mycell", "--root", str(root)]) == 2
    assert "source differs" in capsys.readouterr().err
    assert main(["cells", "add", str(pkg), "--name", "mycell", "--update", "--root", str(root)]) == 0
    assert main(["cells", "--root", str(root)]) == 0
    assert "mycell" in capsys.readouterr().out


def test_other_names_fall_back_to_sorted_order(data_root, tmp_path):
    pkg = tmp_path / "plain"
    pkg.mkdir()
    for i, f in enumerate(sorted((data_root / "cells" / PVALB / "hof_params").glob("*.json"))[:4]):
        shutil.copy(f, pkg / f"model_{'abcd'[i]}.json")
    shutil.copy(next((data_root / "cells" / PVALB / "morphology").glob("*.swc")), pkg / "cell.swc")
    scan = scan_package(pkg)
    assert scan.naming == "sorted" and [p.name for p in scan.hof_files.values()] == [f"model_{c}.json" for c in "abcd"]
    folder, desc, _ = add_package(pkg, "plain", tmp_path / "cache", test_hofs=[3])
    assert desc["split"]["test"] == [3] and load_cell("plain", root=tmp_path / "cache").split.train == (0, 1, 2)


@pytest.mark.parametrize("problem, message", [
    ("no_swc", "no SWC morphology"), ("two_swc", "2 SWC files"), ("no_json", "no HoF model files"),
    ("not_model", "not an Allen all-active model file"), ("mixed", "mixed HoF naming"),
    ("duplicate", "duplicate HoF index"), ("bad_json", "not valid JSON"),
])
def test_bad_packages_fail_naming_the_file(data_root, tmp_path, problem, message):
    pkg = upstream_package(data_root, tmp_path, n=3)
    jsons = sorted((pkg / "json").glob("*.json"))
    if problem == "no_swc":
        shutil.rmtree(pkg / "swc")
    elif problem == "two_swc":
        shutil.copy(next((pkg / "swc").glob("*.swc")), pkg / "swc" / "second.swc")
    elif problem == "no_json":
        shutil.rmtree(pkg / "json")
    elif problem == "not_model":
        (pkg / "json" / "settings.json").write_text('{"a": 1}')
    elif problem == "mixed":
        shutil.copy(jsons[0], pkg / "json" / "something_else.json")
    elif problem == "duplicate":
        shutil.copy(jsons[0], pkg / "json" / (jsons[0].stem.replace(UPSTREAM_SUFFIX, "_copy") + ".json"))
    elif problem == "bad_json":
        (pkg / "json" / "broken.json").write_text("{")
    with pytest.raises(PackageError, match=message):
        scan_package(pkg)


def test_name_clash_unknown_mechanism_and_split(data_root, tmp_path):
    pkg = upstream_package(data_root, tmp_path, n=6)
    with pytest.raises(PackageError, match="clashes with a shipped cell"):
        add_package(pkg, PVALB, tmp_path / "cache", reserved=(PVALB,))
    from noble.commands.cells import check_engines
    from noble.errors import UnknownMechanismError

    with pytest.raises(UnknownMechanismError, match="Kv9_9 .in neither the arbor nor the neuron engine"):
        check_engines(["NaV", "Kv9_9"])
    assert default_test_hofs(range(60)) == default_test_hofs(range(60)) and len(default_test_hofs(range(60))) == 10
    with pytest.raises(PackageError, match="at least 2"):
        default_test_hofs([5])


def test_unknown_cell_error_suggests_adding_it(tmp_path):
    from noble.data.registry import cell_spec
    from noble.errors import UnknownCellError

    with pytest.raises(UnknownCellError, match="noble cells add DIR --name nope"):
        cell_spec("nope", tmp_path)


def test_cell_settings_are_data(data_root):
    from noble.pipeline import steps

    cfg = steps.model_config("quick", "human_vip_685806972")
    base = steps.model_config("quick", PVALB)
    assert cfg.embedding.amplitude_frequencies == 11 and base.embedding.amplitude_frequencies == 9
    assert cfg.training.plateau_factor == 0.8 and cfg.training.epochs == 3  # quick: 2 epochs x 1.5, rounded up


def test_features_computed_into_an_added_package_become_its_embedding(data_root, tmp_path, capsys):
    root = tmp_path / "cache"
    pkg = upstream_package(data_root, tmp_path, n=6)
    assert main(["cells", "add", str(pkg), "--name", "feat", "--root", str(root)]) == 0
    cell = load_cell("feat", root=root)
    assert cell.hof_models[0].features == {}  # the package publishes no feature table
    assert cell.feature_source == "none"
    hofs = [m.index for m in cell.hof_models[:2]]
    assert main(["features", "--fi", "--cell", "feat", "--hofs", ",".join(map(str, hofs)), "--root", str(root),
                 "--workers", "2"]) == 0  # the two models in parallel
    assert "now embeds" in capsys.readouterr().out
    cell = load_cell("feat", root=root)
    assert cell.feature_source == "computed"
    for m in cell.hof_models[:2]:
        assert 0.0 < m.intercept < 0.1 and 100.0 < m.slope < 2000.0  # nA, Hz/nA
    assert cell.hof_models[2].features == {}
    from noble.features.fi_table import read_table

    table = root / "cells" / "feat" / "features" / "fi_table.csv"
    assert sorted(int(r["index"]) for r in read_table(table)) == sorted(hofs)
    assert main(["features", "--fi", "--cell", "feat", "--hofs", ",".join(map(str, hofs)), "--root", str(root),
                 "--workers", "2"]) == 0  # resumable: models already in the table are not simulated again
    assert sorted(int(r["index"]) for r in read_table(table)) == sorted(hofs)


def test_steps_a_bare_package_cannot_support_are_skipped_with_a_reason(data_root, tmp_path, monkeypatch):
    from noble.pipeline import experiment, fi_curves, runner, status, steps
    from noble.pipeline.layout import RunLayout

    root = tmp_path / "cache"
    pkg = upstream_package(data_root, tmp_path, n=6)
    assert main(["cells", "add", str(pkg), "--name", "bare", "--root", str(root)]) == 0
    monkeypatch.setenv("NOBLE_DATA_DIR", str(root))
    cell = load_cell("bare", root=root)
    assert cell.experimental_features == {}
    reason = steps.cell_lacks(cell, "experimental features")
    assert reason and "bare" in reason and "experimental feature table" in reason
    assert steps.cell_lacks(load_cell(PVALB, root=data_root), "experimental features") is None
    with pytest.raises(steps.PipelineError, match="no HoF fit: bare has no experimental feature table"):
        steps.ensure_fit("quick", "bare", RunLayout.for_run("quick", "bare", tmp_path / "runs"))
    assert fi_curves.experimental_fi_or_none(cell) is None  # the F-I panels show the models only
    assert experiment.experimental_sweeps(cell, [0.1]) is None  # no Allen specimen id in the name
    layout = RunLayout.for_run("quick", "bare", tmp_path / "runs")
    status.record_skip(layout.results_dir, "Fig 2A", reason, "quick", item="Fig 2A")
    status.record_skip(layout.results_dir, "Fig 5B", reason, "quick")
    assert status.skipped_items(layout.results_dir, "quick") == {"Fig 2A": reason, "Fig 5B": reason}
    assert status.skipped_items(layout.results_dir, "laptop") == {}
    rows = {r["item"]: r for r in status.collect(layout.results_dir, tmp_path / "figs", "quick")}
    assert rows["Fig 2A"]["status"] == "skipped" and reason in rows["Fig 2A"]["numbers"]
    manifest = json.loads(runner.write_manifest("quick", "bare", [], tmp_path / "figs", tmp_path / "runs").read_text())
    assert manifest["items_skipped"] == {"Fig 2A": reason, "Fig 5B": reason}
