"""Compiling NMODL sources with ``nrnivmodl`` into a cache keyed by NEURON version and source checksum.

A set of ``.mod`` files is compiled once into
``noble.paths.cache_dir()/mechanisms/<neuron version>-<sha256 of the sources>/`` and reused afterwards.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Iterator

from noble.errors import NobleError
from noble.paths import cache_dir

#: Folder of the project's own NMODL sources.
NMODL_DIR = Path(__file__).resolve().parent / "nmodl"

#: Mechanisms implemented by the project's NMODL files (NEURON SUFFIX names).
NOBLE_MECHANISMS = ("NaV", "Kv3_1", "K_Pst", "K_Tst", "SK", "Ca_HVA", "Ca_LVA", "CaDynamics", "Ih", "Im_v2")

#: Shared library that ``nrnivmodl`` builds, relative to the folder it runs in.
LIBRARY = Path(platform.machine()) / "libnrnmech.so"


class MechanismCompileError(NobleError):
    """``nrnivmodl`` is missing or failed; the message carries the compiler's output."""


def mod_files(folder: str | Path) -> list[Path]:
    """The ``*.mod`` files of a folder, sorted by name; raises when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MechanismCompileError(f"{folder}: NMODL folder not found")
    files = sorted(folder.glob("*.mod"))
    if not files:
        raise MechanismCompileError(f"{folder}: no .mod files to compile")
    return files


def source_digest(files: list[Path]) -> str:
    """SHA-256 over the names and contents of NMODL files (identical copies give the same digest)."""
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def neuron_version() -> str:
    """The installed NEURON version, read from the package metadata (without importing NEURON)."""
    try:
        return metadata.version("neuron")
    except metadata.PackageNotFoundError:
        raise MechanismCompileError("NEURON is not installed (pip package `neuron`)") from None


def mechanism_cache_dir(digest: str, root: str | Path | None = None) -> Path:
    """Cache folder of one compiled set: ``<root>/mechanisms/<neuron version>-<digest>``."""
    base = Path(root) if root is not None else cache_dir()
    return base / "mechanisms" / f"{neuron_version()}-{digest}"


def find_nrnivmodl() -> Path:
    """``nrnivmodl`` beside the running interpreter (a virtual environment) or on ``PATH``."""
    beside = Path(sys.executable).parent / "nrnivmodl"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("nrnivmodl")
    if found is None:
        raise MechanismCompileError(
            "nrnivmodl not found beside the Python interpreter or on PATH; install NEURON (pip install neuron)"
        )
    return Path(found)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def compile_mechanisms(source: str | Path = NMODL_DIR, cache_root: str | Path | None = None) -> Path:
    """Compile the ``.mod`` files of ``source`` once and return the cached ``libnrnmech.so``.

    Concurrent callers wait on a lock file; a failed compilation leaves nothing in the cache and raises
    :class:`MechanismCompileError` with the compiler's output.
    """
    files = mod_files(source)
    target = mechanism_cache_dir(source_digest(files), cache_root)
    library = target / LIBRARY
    if library.is_file():
        return library
    with _exclusive(target.parent / f"{target.name}.lock"):
        if library.is_file():
            return library
        nrnivmodl = find_nrnivmodl()
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            src = work / "mod"
            src.mkdir()
            for path in files:
                shutil.copy2(path, src / path.name)
            proc = subprocess.run(
                [str(nrnivmodl), "mod"], cwd=work, capture_output=True, text=True, check=False
            )
            if proc.returncode != 0 or not (work / LIBRARY).is_file():
                output = (proc.stdout + proc.stderr).strip()
                raise MechanismCompileError(
                    f"nrnivmodl failed on {Path(source)} (exit status {proc.returncode}):\n{output[-4000:]}"
                )
            (work / "nrnivmodl.log").write_text(proc.stdout + proc.stderr)
            if target.exists():
                shutil.rmtree(target)
            os.replace(work, target)
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
    return library
