"""Downloading cell packages from a real HTTP server on 127.0.0.1 (Range requests, dropped connections)."""
from __future__ import annotations

import hashlib
import http.server
import re
import shutil
import threading
import urllib.parse
from pathlib import Path

import pytest

from noble.cli import main
from noble.data.fetch import RECORD_NAME, UnpinnedChecksumWarning, download_verified, fetch_cell, load_manifest
from noble.errors import ChecksumError, DownloadError

pytestmark = pytest.mark.network

CELL = "human_pvalb_689331391"


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves files under ``server.root``; honours ``Range: bytes=N-``; can cut a response in half."""

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        server = self.server
        rng = self.headers.get("Range")
        server.requests.append((self.path, rng))
        file = server.root / urllib.parse.unquote(self.path.lstrip("/"))
        if not file.is_file():
            self.send_error(404, "Not Found")
            return
        data = file.read_bytes()
        start = 0
        if rng:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in server.drop_always or self.path in server.drop_once:
            server.drop_once.discard(self.path)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.requests: list[tuple[str, str | None]] = []
        self.drop_once: set[str] = set()
        self.drop_always: set[str] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture()
def server(tmp_path: Path):
    srv = _Server(tmp_path / "www")
    srv.root.mkdir()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _serve(srv: _Server, name: str, data: bytes) -> str:
    """Put ``data`` at ``/name`` on the server; returns the URL path."""
    path = srv.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return "/" + urllib.parse.quote(name)


def _upstream_tree(srv: _Server, package: Path) -> None:
    """Lay the real package files out as the upstream repositories hold them (paths with spaces included).

    Tables from which the package selects rows are rebuilt around the cell's rows, with rows of another
    specimen before and after them, so the selection must pick exactly the cell's lines.
    """
    for f in load_manifest(CELL).files():
        local = (package / f.path).read_bytes()
        dest = srv.root / f.source.repository / f.source.commit / f.upstream_path
        dest.parent.mkdir(parents=True, exist_ok=True)
        if f.select_rows is None:
            dest.write_bytes(local)
            continue
        header, *rows = local.splitlines(keepends=True)
        other = [r.replace(f.select_rows.equals.encode(), b"111111111") for r in rows]
        dest.write_bytes(header + b"".join(other) + b"".join(rows) + b"".join(other))


def test_corrupted_file_raises_checksum_error_and_leaves_nothing(server, tmp_path, data_root):
    real = (data_root / "cells" / CELL / "morphology" / "PVALB__689331391_transformed.swc").read_bytes()
    url = server.base_url + _serve(server, "x/cell.swc", real[:-10] + b"corrupted\n")
    target = tmp_path / "out" / "cell.swc"
    with pytest.raises(ChecksumError, match="SHA-256 mismatch") as err:
        download_verified(url, target, hashlib.sha256(real).hexdigest(), backoff=0.0)
    assert url in str(err.value)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no .part left either


def test_missing_file_names_the_url(server, tmp_path):
    url = server.base_url + "/owner/repo/abc123/Required_Files/json/no%20such%20file.json"
    with pytest.raises(DownloadError) as err:
        download_verified(url, tmp_path / "f.json", None, backoff=0.0)
    assert url in str(err.value)
    assert "HTTP 404" in str(err.value)
    assert not (tmp_path / "f.json").exists()


def test_interrupted_download_resumes_with_range(server, tmp_path, data_root):
    real = (data_root / "cells" / CELL / "features" / "model_param_table.csv").read_bytes()
    path = _serve(server, "t/model_param_table.csv", real)
    server.drop_once.add(path)
    target = tmp_path / "out" / "model_param_table.csv"
    seen = download_verified(server.base_url + path, target, hashlib.sha256(real).hexdigest(), backoff=0.0)
    assert seen == hashlib.sha256(real).hexdigest()
    assert target.read_bytes() == real
    ranges = [rng for p, rng in server.requests if p == path]
    assert ranges == [None, f"bytes={len(real) // 2}-"]
    assert not target.with_name(target.name + ".part").exists()


def test_partial_file_from_an_earlier_run_is_resumed(server, tmp_path, data_root):
    real = (data_root / "cells" / CELL / "features" / "model_ephys_sim_features.csv").read_bytes()
    path = _serve(server, "t/feat.csv", real)
    target = tmp_path / "feat.csv"
    target.with_name("feat.csv.part").write_bytes(real[:1000])
    download_verified(server.base_url + path, target, hashlib.sha256(real).hexdigest(), backoff=0.0)
    assert target.read_bytes() == real
    assert server.requests == [(path, "bytes=1000-")]


def test_gives_up_after_retries_and_keeps_the_part(server, tmp_path, data_root):
    real = (data_root / "cells" / CELL / "features" / "model_param_table.csv").read_bytes()
    path = _serve(server, "t/always_cut.csv", real)
    server.drop_always.add(path)
    target = tmp_path / "always_cut.csv"
    with pytest.raises(DownloadError, match=r"after 2 attempts.*resumes from"):
        download_verified(server.base_url + path, target, hashlib.sha256(real).hexdigest(), retries=1, backoff=0.0)
    assert not target.exists()
    assert target.with_name("always_cut.csv.part").stat().st_size > 0


def test_fetch_cell_over_http_builds_the_verified_package(server, tmp_path, data_root):
    _upstream_tree(server, data_root / "cells" / CELL)
    dest = tmp_path / "cache"
    report = fetch_cell(CELL, dest, base_url=server.base_url, backoff=0.0, progress=False)
    manifest = load_manifest(CELL)
    assert sorted(report.fetched) == sorted(f.path for f in manifest.files())
    for f in manifest.files():
        assert hashlib.sha256((dest / "cells" / CELL / f.path).read_bytes()).hexdigest() == f.sha256
    # upstream names with spaces were requested percent-encoded at the pinned commit
    commit = manifest.sources["human_models"].commit
    assert any(f"/{commit}/Required_Files/json/" in p and "%20" in p for p, _ in server.requests)
    # a second run is a no-op: nothing requested, everything present
    n_requests = len(server.requests)
    again = fetch_cell(CELL, dest, base_url=server.base_url, progress=False)
    assert again.fetched == [] and len(again.present) == len(manifest.files())
    assert len(server.requests) == n_requests


def test_cli_fetch_reports_a_corrupted_upstream_file(server, tmp_path, data_root, capsys):
    _upstream_tree(server, data_root / "cells" / CELL)
    f = next(f for f in load_manifest(CELL).files() if f.path.endswith("seed_2_hof_7.json"))
    upstream = server.root / f.source.repository / f.source.commit / f.upstream_path
    upstream.write_bytes(upstream.read_bytes().replace(b"gbar", b"gBAR", 1))
    dest = tmp_path / "cache"
    code = main(["fetch", "--cell", CELL, "--dest", str(dest), "--base-url", server.base_url, "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "SHA-256 mismatch" in err and "seed_2_hof_7" in err
    assert not (dest / "cells" / CELL / f.path).exists()
    assert not list((dest / "cells" / CELL / "hof_params").glob("*.part"))


def test_unpinned_upstream_location_is_reported_before_downloading(server, tmp_path):
    with pytest.raises(DownloadError, match="no pinned upstream location.*--from DIR"):
        fetch_cell("mouse_pvalb_569998790", tmp_path, base_url=server.base_url, progress=False)
    assert server.requests == []
    assert not (tmp_path / "cells" / "mouse_pvalb_569998790" / RECORD_NAME).exists()


def test_base_url_from_environment(server, tmp_path, data_root, monkeypatch):
    _upstream_tree(server, data_root / "cells" / CELL)
    monkeypatch.setenv("NOBLE_FETCH_BASE_URL", server.base_url)
    shutil.copytree(data_root / "cells" / CELL, tmp_path / "cells" / CELL)
    victim = tmp_path / "cells" / CELL / "features" / "experimental_ephys_features.csv"
    victim.write_text("stale\n")
    report = fetch_cell(CELL, tmp_path, progress=False)
    assert report.fetched == ["features/experimental_ephys_features.csv"]
    reference = data_root / "cells" / CELL / "features" / "experimental_ephys_features.csv"
    assert victim.read_bytes() == reference.read_bytes()


def test_a_corrupted_part_from_an_earlier_run_is_discarded_and_fetched_again(server, tmp_path, data_root):
    real = (data_root / "cells" / CELL / "features" / "model_ephys_sim_features.csv").read_bytes()
    path = _serve(server, "t/feat.csv", real)
    target = tmp_path / "feat.csv"
    target.with_name("feat.csv.part").write_bytes(b"garbage from an interrupted run")
    download_verified(server.base_url + path, target, hashlib.sha256(real).hexdigest(), backoff=0.0)
    assert target.read_bytes() == real
    assert server.requests == [(path, "bytes=31-"), (path, None)]


def test_mechanisms_over_http_inferred_paths_and_unpinned_checksums(server, tmp_path, data_root):
    _upstream_tree(server, data_root / "cells" / CELL)
    dest = tmp_path / "cache"
    with pytest.raises(DownloadError, match=r"HTTP 404.*mechanisms/CaDynamics.mod: upstream path inferred"):
        fetch_cell(CELL, dest, mechanisms=True, base_url=server.base_url, backoff=0.0, progress=False)
    # the package files verified before the failure stay, and are recorded
    record = (dest / "cells" / CELL / RECORD_NAME).read_text()
    assert "hof_params/PVALB__689331391_seed_1_hof_0.json" in record
    mechs = load_manifest(CELL).files(("mechanisms",))
    for f in mechs:
        text = f"NEURON {{ SUFFIX {f.path[len('mechanisms/'):-4]} }}\n".encode()
        _serve(server, f"{f.source.repository}/{f.source.commit}/{f.upstream_path}", text)
    with pytest.warns(UnpinnedChecksumWarning):
        report = fetch_cell(CELL, dest, mechanisms=True, base_url=server.base_url, progress=False)
    assert sorted(report.fetched) == sorted(f.path for f in mechs)
    assert report.unpinned["mechanisms/NaV.mod"] == hashlib.sha256(b"NEURON { SUFFIX NaV }\n").hexdigest()
