"""SHA-256 checksums of data files: computing, verifying and reading ``SHA256SUMS`` lists."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

from noble.errors import ChecksumError, DataError

#: Bytes read at a time when hashing or copying.
CHUNK_SIZE = 1 << 16


def sha256_stream(stream: BinaryIO) -> str:
    """Hex SHA-256 of everything left in a binary stream."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's contents."""
    with Path(path).open("rb") as fh:
        return sha256_stream(fh)


def verify_file(path: str | Path, expected: str, what: str | None = None) -> None:
    """Raise :class:`ChecksumError` naming ``what`` (default: the path) when the file's SHA-256 differs."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ChecksumError(
            f"{what or path}: SHA-256 mismatch (expected {expected.lower()}, got {actual})"
        )


def has_checksum(path: str | Path, expected: str | None) -> bool:
    """True when the file exists and (if ``expected`` is given) its SHA-256 equals it."""
    path = Path(path)
    if not path.is_file():
        return False
    return expected is None or sha256_file(path) == expected.lower()


def read_sha256sums(path: str | Path) -> dict[str, str]:
    """Parse a ``sha256sum``-style list (``<hex>  ./relative/path`` per line) into ``{path: hex}``.

    Paths are returned without a leading ``./``; a path listed twice must carry the same checksum.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: checksum list not found")
    out: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{path}: line {lineno}: expected '<sha256>  <path>', got {line!r}")
        digest, name = parts[0].lower(), parts[1].strip().lstrip("*")
        name = name[2:] if name.startswith("./") else name
        if out.get(name, digest) != digest:
            raise DataError(f"{path}: line {lineno}: {name} listed twice with different checksums")
        out[name] = digest
    return out
