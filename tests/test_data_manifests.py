"""The committed manifests agree with the registry, the cell packages and the reference checksum list."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from noble.data.checksums import read_sha256sums, sha256_file
from noble.data.fetch import RECORD_NAME, load_manifest
from noble.data.registry import CELLS
from noble.errors import DataError
from noble.paths import shared_data_dir


@pytest.mark.parametrize("name", sorted(CELLS))
def test_manifest_lists_exactly_the_package_files_with_their_checksums(name, data_root):
    manifest = load_manifest(name)
    folder = data_root / "cells" / name
    on_disk = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != RECORD_NAME and not p.relative_to(folder).as_posix().startswith("mechanisms/")
    }
    listed = {f.path: f for f in manifest.files()}
    assert set(listed) == on_disk
    for rel, f in listed.items():
        assert sha256_file(folder / rel) == f.sha256, rel
        assert (folder / rel).stat().st_size == f.size, rel


def test_manifest_checksums_match_the_reference_list():
    shared = shared_data_dir()
    if shared is None or not (shared / "SHA256SUMS").is_file():
        pytest.skip("no reference copy with SHA256SUMS beside the checkout")
    sums = read_sha256sums(shared / "SHA256SUMS")
    for name in CELLS:
        for f in load_manifest(name).files():
            assert sums[f"cells/{name}/{f.path}"] == f.sha256


@pytest.mark.parametrize("name", sorted(CELLS))
def test_manifest_agrees_with_the_registry(name):
    spec, manifest = CELLS[name], load_manifest(name)
    paths = {f.path for f in manifest.files()}
    for rel in (spec.morphology, spec.model_features, spec.experimental_features):
        assert rel is None or rel in paths
    hofs = [Path(p).name for p in paths if p.startswith("hof_params/")]
    assert len(hofs) == manifest.hof_count() and all(spec.parse_hof_name(h) for h in hofs)
    assert set(spec.test_hofs) <= {spec.global_index(*spec.parse_hof_name(h)) for h in hofs}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_upstream_provenance_is_pinned_or_explained(name):
    manifest = load_manifest(name)
    for source in manifest.sources.values():
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", source.repository)
        assert re.fullmatch(r"[0-9a-f]{7,40}", source.commit)
        assert "Allen Institute" in source.terms
    for f in manifest.files(("package", "mechanisms")):
        if f.upstream_path is None:
            assert f.path_status == "unknown" and f.note, f.path
        if f.path_status in ("inferred", "unknown"):
            assert f.note, f.path
        if f.sha256 is None:
            assert f.path.startswith("mechanisms/") and f.path.endswith(".mod")


def test_human_hof_files_map_to_their_upstream_names():
    manifest = load_manifest("human_pvalb_689331391")
    f = next(f for f in manifest.files() if f.path == "hof_params/PVALB__689331391_seed_3_hof_17.json")
    upstream = "Required_Files/json/PVALB__689331391_stage_1_seed_3_hof_17_Layer3_Inh L2-4 PVALB WFDC2.json"
    assert f.upstream_path == upstream
    url = f.url("https://raw.githubusercontent.com")
    assert url == (
        "https://raw.githubusercontent.com/anastassiou-team/human_cortical_single_neuron_models/"
        "ca2b9e8b48a2d07283b1f4cebf792ee752fa6d65/Required_Files/json/"
        "PVALB__689331391_stage_1_seed_3_hof_17_Layer3_Inh%20L2-4%20PVALB%20WFDC2.json"
    )
    table = next(f for f in manifest.files() if f.path == "features/model_ephys_sim_features.csv")
    assert table.select_rows is not None and table.select_rows.equals == "689331391"


def test_read_sha256sums_parses_and_rejects(tmp_path):
    digest = hashlib.sha256(b"x").hexdigest()
    good = tmp_path / "SUMS"
    good.write_text(f"{digest}  ./a/b.txt\n\n{digest}  ./a/b.txt\n{digest} *c.bin\n")
    assert read_sha256sums(good) == {"a/b.txt": digest, "c.bin": digest}
    bad = tmp_path / "BAD"
    bad.write_text(f"{digest}  a.txt\n{'0' * 64}  a.txt\n")
    with pytest.raises(DataError, match="BAD: line 2: a.txt listed twice with different checksums"):
        read_sha256sums(bad)
