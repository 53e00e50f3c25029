"""SHA-256 checksums of data files: computing, verifying and reading ``SHA256SUMS`` lists."""
from __future__ import annotations

from pathlib import Path

from noble.errors import DataError
from noble.hashing import sha256_file, sha256_stream  # noqa: F401  (the data layer's checksum helpers)

#: Bytes read at a time when copying.
CHUNK_SIZE = 1 << 16


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
