"""Cached results of the figure notebooks: a result is stored with a signature of its inputs (weights and
data-card checksums, settings, the library version) and recomputed when any of them changes. Writes are atomic
(a temporary file renamed into place), so an interrupted run leaves no corrupt entry.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from noble.errors import AnalysisError
from noble.version import __version__


def signature_of(value: Any) -> str:
    """SHA-256 of the canonical JSON of ``value`` and the library version (the key of a cached result)."""
    return hashlib.sha256(json.dumps({"noble": __version__, "inputs": value}, sort_keys=True, default=str).encode()).hexdigest()


def cached_arrays(path: Path, signature: Mapping[str, Any], compute: Callable[[], Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays from ``path`` (``.npz``) when it was written with the same ``signature``, else ``compute()`` saved there."""
    key = signature_of(signature)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["__signature__"]) == key:
                    return {k: data[k] for k in data.files if k != "__signature__"}
        except (OSError, KeyError, ValueError):
            pass
    arrays = {k: np.asarray(v) for k, v in compute().items()}
    if any(a.dtype == object for a in arrays.values()):
        raise AnalysisError(f"{path}: only numeric and string arrays can be cached")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, __signature__=np.asarray(key), **arrays)
    tmp.replace(path)
    return arrays


def cached_json(path: Path, signature: Mapping[str, Any], compute: Callable[[], Any]) -> Any:
    """A JSON result from ``path`` when written with the same ``signature``, else ``compute()`` saved there."""
    key = signature_of(signature)
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            if data.get("signature") == key:
                return data["result"]
        except (OSError, json.JSONDecodeError, AttributeError):
            pass
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"signature": key, "result": result}, indent=1, default=float, allow_nan=True))
    tmp.replace(path)
    return json.loads(path.read_text())["result"]


def weights_sha(model_dir: Path) -> str:
    card = json.loads((Path(model_dir) / "model_card.json").read_text())
    return str(card["weights"]["sha256"])


def prediction_signature(model_dir: Path, amps: list[float], hofs: Sequence[int] | None,
                          features: np.ndarray | None) -> dict:
    """What a cached NOBLE prediction depends on: the weights, the amplitudes (nA) and the models asked for."""
    return {"weights": weights_sha(model_dir), "amps": amps, "hofs": None if hofs is None else [int(h) for h in hofs],
            "features": None if features is None else np.asarray(features, dtype=float).round(12).tolist()}
