"""Fetching cell packages into the data cache, from the pinned upstream repositories or a local copy.

Length: about 580 lines because download, resume, verification and atomic placement of one file are a single
transaction and are kept together with the manifest logic they verify against.

Each registered cell has a manifest, ``noble/data/manifests/<cell>.json``, listing every file of its package
with its SHA-256, size, upstream repository, pinned commit and upstream path. :func:`fetch_cell` puts the
files under ``<data root>/cells/<cell>/`` (data root: :func:`noble.paths.data_dir`, ``$NOBLE_DATA_DIR``):

* from a local copy laid out as ``DIR/cells/<cell>/...`` (``source_dir``), or
* from raw GitHub URLs at the pinned commits (``<base URL>/<owner>/<repo>/<commit>/<upstream path>``; the base
  URL defaults to ``$NOBLE_FETCH_BASE_URL`` or https://raw.githubusercontent.com). Downloads retry with
  exponential backoff and resume a partial ``<file>.part`` with an HTTP Range request.

Every file is verified against its SHA-256 before it is moved into place (temporary file + rename), so the
cache never holds a partial or corrupted file under its final name. Files already present with the right
checksum are skipped. Some package files are row subsets of larger upstream tables (``select_rows``); those
tables are downloaded to ``<data root>/.upstream/`` and the rows of the cell are selected byte for byte.
Files without a pinned checksum (the optional NMODL ``mechanisms`` group) are accepted with an
:class:`UnpinnedChecksumWarning`, and the checksum seen is recorded in ``<package>/.noble-fetch.json``.
"""
from __future__ import annotations

import csv
import hashlib
import http.client
import json
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from noble.data.checksums import CHUNK_SIZE, sha256_file
from noble.data.registry import CELLS, cell_spec, package_dir
from noble.errors import ChecksumError, DataError, DownloadError
from noble.jsonfile import read_json_file
from noble.paths import data_dir
from noble.progress import tqdm

#: Folder of the committed manifests.
MANIFEST_DIR = Path(__file__).resolve().parent / "manifests"
#: Environment variable overriding the base URL of raw upstream files.
BASE_URL_ENV = "NOBLE_FETCH_BASE_URL"
DEFAULT_BASE_URL = "https://raw.githubusercontent.com"
#: File groups of a manifest; ``package`` is always fetched, ``mechanisms`` on request.
GROUPS = ("package", "mechanisms")
#: Per-package record of what was fetched, from where, with which checksum.
RECORD_NAME = ".noble-fetch.json"
#: Folder (inside the data root) holding upstream tables that package files are selected from.
UPSTREAM_DIR = ".upstream"
PATH_STATUSES = ("verified", "documented", "inferred", "unknown")
_RETRY_HTTP = {408, 425, 429, 500, 502, 503, 504}


class UnpinnedChecksumWarning(UserWarning):
    """A file was accepted without a pinned checksum; the checksum seen is recorded."""


@dataclass(frozen=True)
class Source:
    """An upstream repository pinned at a commit."""

    key: str
    repository: str  # owner/name on GitHub
    commit: str
    terms: str = ""


@dataclass(frozen=True)
class RowSelection:
    """A package file made of the header plus the rows of an upstream CSV table where ``column == equals``."""

    column: str
    equals: str


@dataclass(frozen=True)
class ManifestFile:
    """One file of a cell package."""

    path: str  # relative to the package folder
    sha256: str | None  # None: not pinned
    size: int | None  # bytes
    source: Source
    upstream_path: str | None  # None: upstream location not established
    path_status: str  # verified | documented | inferred | unknown
    note: str = ""
    select_rows: RowSelection | None = None

    def url(self, base_url: str) -> str | None:
        """Raw URL of the upstream file (of the upstream table for ``select_rows`` files), or None."""
        if self.upstream_path is None:
            return None
        quoted = urllib.parse.quote(self.upstream_path, safe="/()")
        return f"{base_url.rstrip('/')}/{self.source.repository}/{self.source.commit}/{quoted}"


@dataclass(frozen=True)
class Manifest:
    """The files of one cell package, by group."""

    cell: str
    description: str
    path: Path  # the manifest file itself
    sources: dict[str, Source]
    groups: dict[str, tuple[ManifestFile, ...]]

    def files(self, groups: Iterable[str] = ("package",)) -> tuple[ManifestFile, ...]:
        """The files of the named groups, in manifest order."""
        out: list[ManifestFile] = []
        for g in groups:
            if g not in self.groups:
                raise DataError(f"{self.path}: no file group {g!r} (groups: {', '.join(self.groups)})")
            out.extend(self.groups[g])
        return tuple(out)

    def hof_count(self) -> int:
        """Number of HoF model files in the package."""
        return sum(1 for f in self.groups["package"] if f.path.startswith("hof_params/"))


def manifest_path(name: str) -> Path:
    """Path of a registered cell's manifest."""
    return MANIFEST_DIR / f"{cell_spec(name).name}.json"


def _field(raw: dict[str, Any], key: str, where: str, path: Path) -> Any:
    if not isinstance(raw, dict) or key not in raw:
        raise DataError(f"{path}: missing {key!r} in {where}")
    return raw[key]


def parse_manifest(raw: Any, path: Path) -> Manifest:
    """Validate and type a loaded manifest; ``path`` names the file in error messages."""
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object at the top level")
    if raw.get("format") != 1:
        raise DataError(f"{path}: unsupported manifest format {raw.get('format')!r} (expected 1)")
    cell = _field(raw, "cell", "the top level", path)
    sources: dict[str, Source] = {}
    for key, s in _field(raw, "sources", "the top level", path).items():
        sources[key] = Source(
            key,
            _field(s, "repository", f"sources.{key}", path),
            _field(s, "commit", f"sources.{key}", path),
            s.get("terms", ""),
        )
    groups: dict[str, tuple[ManifestFile, ...]] = {}
    for gname, group in _field(raw, "groups", "the top level", path).items():
        files: list[ManifestFile] = []
        for i, f in enumerate(_field(group, "files", f"groups.{gname}", path)):
            where = f"groups.{gname}.files[{i}]"
            rel = _field(f, "path", where, path)
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise DataError(f"{path}: {where}: path {rel!r} must be relative and stay inside the package")
            src = _field(f, "source", where, path)
            if src not in sources:
                raise DataError(f"{path}: {where}: unknown source {src!r}")
            status = _field(f, "path_status", where, path)
            if status not in PATH_STATUSES:
                raise DataError(f"{path}: {where}: path_status {status!r} is not one of {PATH_STATUSES}")
            digest = _field(f, "sha256", where, path)
            if digest is not None and (len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest)):
                raise DataError(f"{path}: {where}: sha256 {digest!r} is not 64 lowercase hex digits")
            sel = f.get("select_rows")
            files.append(
                ManifestFile(
                    path=rel,
                    sha256=digest,
                    size=f.get("size"),
                    source=sources[src],
                    upstream_path=_field(f, "upstream_path", where, path),
                    path_status=status,
                    note=f.get("note", ""),
                    select_rows=RowSelection(str(sel["column"]), str(sel["equals"])) if sel else None,
                )
            )
        groups[gname] = tuple(files)
    if "package" not in groups:
        raise DataError(f"{path}: no 'package' file group")
    return Manifest(cell, raw.get("description", ""), path, sources, groups)


def load_manifest(name: str) -> Manifest:
    """The manifest of a registered cell."""
    path = manifest_path(name)
    raw = read_json_file(path, DataError, f"manifest of cell {name!r} not found")
    manifest = parse_manifest(raw, path)
    if manifest.cell != name:
        raise DataError(f"{path}: manifest is for cell {manifest.cell!r}, not {name!r}")
    return manifest


# --------------------------------------------------------------------------------------------------------------
# Writing files atomically


def _make_writable(path: Path) -> None:
    path.chmod(0o644)


def _install(tmp: Path, target: Path) -> None:
    """Move a verified temporary file into place (atomic on one file system)."""
    _make_writable(tmp)
    os.replace(tmp, target)


def _temp_beside(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


def copy_verified(source: Path, target: Path, sha256: str | None, progress: Callable[[int], None] | None = None) -> str:
    """Copy ``source`` to ``target`` through a temporary file, verifying SHA-256 on the way.

    The source may be read-only; the copy is made writable. Returns the checksum seen.
    """
    tmp = _temp_beside(target)
    digest = hashlib.sha256()
    try:
        with source.open("rb") as src, tmp.open("wb") as dst:
            for chunk in iter(lambda: src.read(CHUNK_SIZE), b""):
                digest.update(chunk)
                dst.write(chunk)
                if progress:
                    progress(len(chunk))
        seen = digest.hexdigest()
        if sha256 is not None and seen != sha256:
            raise ChecksumError(f"{source}: SHA-256 mismatch (expected {sha256}, got {seen}); not copied to {target}")
        _install(tmp, target)
        return seen
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------------------
# Downloading


def _part_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def _request(url: str, start: int, timeout: float):
    headers = {"User-Agent": "noble-fetch"}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _receive(url: str, part: Path, timeout: float, progress: Callable[[int], None] | None) -> None:
    """One attempt: fetch the rest of ``url`` into ``part`` (resuming with Range when it has bytes)."""
    have = part.stat().st_size if part.exists() else 0
    try:
        resp = _request(url, have, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part already holds the whole file
            return
        raise
    with resp:
        resumed = have > 0 and resp.status == 206
        length = resp.headers.get("Content-Length")
        expected = int(length) if length is not None and length.isdigit() else None
        got = 0
        with part.open("ab" if resumed else "wb") as fh:
            while True:
                chunk = resp.read(CHUNK_SIZE)
                if not chunk:
                    break
                fh.write(chunk)
                got += len(chunk)
                if progress:
                    progress(len(chunk))
        if expected is not None and got < expected:
            raise http.client.IncompleteRead(b"", expected - got)


def _receive_with_retries(
    url: str, part: Path, retries: int, backoff: float, timeout: float, progress: Callable[[int], None] | None
) -> None:
    """:func:`_receive` until the whole body is in ``part``, retrying transient failures with backoff."""
    attempt = 0
    while True:
        try:
            _receive(url, part, timeout, progress)
            return
        except urllib.error.HTTPError as exc:
            if exc.code not in _RETRY_HTTP:
                hint = " (not found at the pinned commit)" if exc.code == 404 else ""
                raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}{hint}") from None
            error: Exception = exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            error = exc
        attempt += 1
        if attempt > retries:
            resume = f"; a later run resumes from {part}" if part.is_file() else ""
            raise DownloadError(
                f"{url}: download failed after {attempt} attempts ({type(error).__name__}: {error}){resume}"
            ) from None
        time.sleep(backoff * 2 ** (attempt - 1))


def download_verified(
    url: str,
    target: Path,
    sha256: str | None,
    *,
    retries: int = 4,
    backoff: float = 0.5,
    timeout: float = 30.0,
    progress: Callable[[int], None] | None = None,
) -> str:
    """Download ``url`` to ``target``: resume into ``<target>.part``, retry with backoff, verify, rename.

    Retries ``retries`` times after connection errors, truncated bodies and HTTP 408/425/429/5xx, waiting
    ``backoff * 2**k`` seconds. On a checksum mismatch the partial file is deleted and :class:`ChecksumError`
    raised (when a ``.part`` left by an earlier run was resumed, the download starts over once first); a
    missing file (HTTP 404) raises :class:`DownloadError` at once. Returns the checksum seen.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(target)
    stale_part = part.is_file()  # left by an earlier run: if the result fails verification, start over once
    while True:
        _receive_with_retries(url, part, retries, backoff, timeout, progress)
        seen = sha256_file(part)
        if sha256 is None or seen == sha256:
            break
        part.unlink(missing_ok=True)
        if stale_part:
            stale_part = False
            continue
        raise ChecksumError(
            f"{url}: SHA-256 mismatch (expected {sha256}, got {seen}); discarded, not saved to {target}"
        )
    _install(part, target)
    return seen


def select_rows(table: Path, selection: RowSelection) -> bytes:
    """The header line plus the lines of a CSV table whose ``column`` equals ``equals``, byte for byte."""
    lines = table.read_bytes().splitlines(keepends=True)
    if not lines:
        raise DataError(f"{table}: empty table")
    header = next(csv.reader([lines[0].decode("utf-8-sig")]))
    if selection.column not in header:
        raise DataError(f"{table}: no column {selection.column!r} to select rows by")
    col = header.index(selection.column)
    kept = [lines[0]]
    for line in lines[1:]:
        fields = next(csv.reader([line.decode("utf-8", errors="replace")]), [])
        if len(fields) > col and fields[col] == selection.equals:
            kept.append(line)
    if len(kept) == 1:
        raise DataError(f"{table}: no row with {selection.column} == {selection.equals}")
    return b"".join(kept)


# --------------------------------------------------------------------------------------------------------------
# Fetching a package


@dataclass
class FetchReport:
    """What :func:`fetch_cell` did."""

    cell: str
    package: Path
    present: list[str] = field(default_factory=list)  # already there with the right checksum
    fetched: list[str] = field(default_factory=list)  # downloaded or copied and verified
    unpinned: dict[str, str] = field(default_factory=dict)  # path -> checksum seen, for files without a pin

    def summary(self) -> str:
        n = len(self.present) + len(self.fetched)
        return (
            f"{self.cell}: {n} files ok ({len(self.fetched)} fetched, {len(self.present)} already present) "
            f"in {self.package}"
        )


def _base_url(base_url: str | None) -> str:
    return base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def _read_record(package: Path) -> dict[str, Any]:
    path = package / RECORD_NAME
    if path.is_file():
        try:
            rec = json.loads(path.read_text())
            if isinstance(rec, dict) and isinstance(rec.get("files"), dict):
                return rec
        except json.JSONDecodeError:
            pass
    return {"files": {}}


def _write_record(package: Path, cell: str, entries: dict[str, dict[str, Any]]) -> None:
    rec = _read_record(package)
    rec["cell"] = cell
    rec["files"].update(entries)
    tmp = _temp_beside(package / RECORD_NAME)
    tmp.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
    _install(tmp, package / RECORD_NAME)


def _check_source_dir(manifest: Manifest, files: Iterable[ManifestFile], source_pkg: Path) -> None:
    if not source_pkg.is_dir():
        raise DataError(f"{source_pkg}: no copy of cell {manifest.cell!r} here (expected DIR/cells/{manifest.cell}/)")
    missing = [f.path for f in files if not (source_pkg / f.path).is_file()]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise DataError(
            f"{source_pkg}: missing {len(missing)} file(s) of {manifest.cell}: {', '.join(missing[:3])}{more}"
        )


def _check_downloadable(manifest: Manifest, files: Iterable[ManifestFile]) -> None:
    unknown = [f for f in files if f.upstream_path is None]
    if unknown:
        more = f" and {len(unknown) - 2} more" if len(unknown) > 2 else ""
        raise DownloadError(
            f"{manifest.path}: {len(unknown)} file(s) of {manifest.cell} have no pinned upstream location "
            f"({', '.join(f.path for f in unknown[:2])}{more}): {unknown[0].note} "
            f"Seed the cache from a local copy: noble fetch --cell {manifest.cell} --from DIR"
        )


def fetch_cell(
    name: str,
    dest: str | Path | None = None,
    *,
    source_dir: str | Path | None = None,
    mechanisms: bool = False,
    base_url: str | None = None,
    retries: int = 4,
    backoff: float = 0.5,
    timeout: float = 30.0,
    progress: bool = True,
) -> FetchReport:
    """Fetch a cell package into ``<dest>/cells/<name>/`` (``dest`` defaults to :func:`noble.paths.data_dir`).

    ``source_dir`` copies from a local copy (``DIR/cells/<name>/...``) instead of downloading;
    ``mechanisms`` adds the optional NMODL files. Idempotent: verified files are skipped.
    """
    manifest = load_manifest(name)
    root = Path(dest) if dest is not None else data_dir()
    package = package_dir(root, name)
    groups = ("package", "mechanisms") if mechanisms else ("package",)
    files = manifest.files(groups)
    report = FetchReport(name, package)

    todo: list[ManifestFile] = []
    for f in files:
        target = package / f.path
        if f.sha256 is None:
            if target.is_file():
                report.present.append(f.path)
                continue
        elif target.is_file() and sha256_file(target) == f.sha256:
            report.present.append(f.path)
            continue
        todo.append(f)
    if not todo:
        return report

    source_pkg = package_dir(Path(source_dir), name) if source_dir is not None else None
    if source_pkg is not None:
        _check_source_dir(manifest, todo, source_pkg)
    else:
        _check_downloadable(manifest, todo)
    url_base = _base_url(base_url)

    record: dict[str, dict[str, Any]] = {}
    total = sum(f.size or 0 for f in todo)
    bar = tqdm(total=total or None, unit="B", unit_scale=True, desc=name, disable=not progress, leave=False)
    try:
        for f in todo:
            target = package / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            if source_pkg is not None:
                origin = str(source_pkg / f.path)
                seen = copy_verified(source_pkg / f.path, target, f.sha256, bar.update)
            elif f.select_rows is not None:
                origin = f"{f.url(url_base)} [rows {f.select_rows.column} == {f.select_rows.equals}]"
                seen = _fetch_selected(f, root, target, url_base, retries, backoff, timeout)
                bar.update(f.size or 0)
            else:
                origin = f.url(url_base) or ""
                try:
                    seen = download_verified(
                        origin, target, f.sha256, retries=retries, backoff=backoff, timeout=timeout, progress=bar.update
                    )
                except DownloadError as exc:
                    if f.path_status != "inferred":
                        raise
                    raise DownloadError(f"{exc} [{f.path}: upstream path inferred, not confirmed: {f.note}]") from None
            report.fetched.append(f.path)
            record[f.path] = {"sha256": seen, "pinned": f.sha256 is not None, "origin": origin}
            if f.sha256 is None:
                report.unpinned[f.path] = seen
                warnings.warn(
                    UnpinnedChecksumWarning(
                        f"{target}: no pinned checksum in {manifest.path.name}; accepted with SHA-256 {seen} "
                        f"(recorded in {package / RECORD_NAME})"
                    ),
                    stacklevel=2,
                )
    finally:
        bar.close()
        if record:  # what was verified and installed, also when a later file failed
            _write_record(package, name, record)
    return report


def _fetch_selected(
    f: ManifestFile, root: Path, target: Path, base_url: str, retries: int, backoff: float, timeout: float
) -> str:
    """Download the upstream table of a ``select_rows`` file (cached) and write the cell's rows, verified."""
    assert f.select_rows is not None and f.upstream_path is not None
    table = root / UPSTREAM_DIR / f.source.repository / f.source.commit / f.upstream_path
    url = f.url(base_url)
    assert url is not None
    if not table.is_file():
        download_verified(url, table, None, retries=retries, backoff=backoff, timeout=timeout)
    data = select_rows(table, f.select_rows)
    seen = hashlib.sha256(data).hexdigest()
    if f.sha256 is not None and seen != f.sha256:
        table.unlink(missing_ok=True)  # a later run downloads the table again
        raise ChecksumError(
            f"{target}: the rows with {f.select_rows.column} == {f.select_rows.equals} of {url} do not match the "
            f"pinned SHA-256 (expected {f.sha256}, got {seen}); not saved"
        )
    tmp = _temp_beside(target)
    try:
        tmp.write_bytes(data)
        _install(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return seen


def fetch(
    cell: str,
    dest: str | Path | None = None,
    **kwargs: Any,
) -> list[FetchReport]:
    """Fetch one registered cell, or every cell for ``cell == "all"`` (keyword arguments as :func:`fetch_cell`)."""
    names = sorted(CELLS) if cell == "all" else [cell_spec(cell).name]
    return [fetch_cell(n, dest, **kwargs) for n in names]


def cache_status(name: str, root: str | Path | None = None) -> tuple[Path, int, int]:
    """``(package folder, files present, files listed)`` for the package group of a cell (no hashing)."""
    manifest = load_manifest(name)
    package = package_dir(Path(root) if root is not None else data_dir(), name)
    files = manifest.files(("package",))
    present = sum(1 for f in files if (package / f.path).is_file())
    return package, present, len(files)


__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "FetchReport",
    "Manifest",
    "ManifestFile",
    "RowSelection",
    "Source",
    "UnpinnedChecksumWarning",
    "cache_status",
    "copy_verified",
    "download_verified",
    "fetch",
    "fetch_cell",
    "load_manifest",
    "manifest_path",
    "select_rows",
]
