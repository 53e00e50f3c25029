"""One place for checksums and canonical JSON: SHA-256 of bytes, text and files; JSON that hashes stably."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, BinaryIO

#: Bytes read at a time when hashing a file or stream.
CHUNK_SIZE = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    """Hex SHA-256 of ``text`` encoded as UTF-8."""
    return sha256_bytes(text.encode("utf-8"))


def sha256_stream(stream: BinaryIO) -> str:
    """Hex SHA-256 of everything left in a binary stream (read in chunks)."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's contents (read in chunks)."""
    with Path(path).open("rb") as fh:
        return sha256_stream(fh)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no optional whitespace, NaN refused: the same text for the same value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


__all__ = ["CHUNK_SIZE", "canonical_json", "sha256_bytes", "sha256_file", "sha256_stream", "sha256_text"]
