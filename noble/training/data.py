"""Trace datasets in noble's HDF5 layout, and their train / held-out / test-HoF split.

Layout (one file per dataset): ``voltage`` [N, T] float32 mV, ``amplitude`` [N] nA, ``hof`` [N] global HoF
index, ``time`` [T] ms; attributes ``cell``, ``engine``, ``dt_ms``, ``decimation``, ``protocol`` (JSON with
``delay_ms``, ``duration_ms``, ``t_stop_ms``), ``seed`` and ``data_card`` (a canonical JSON string whose
SHA-256 identifies the dataset in model cards). Files of ``noble simulate`` are read too: their protocol names
the window ``stim_start``/``stim_duration`` and ``dt_ms`` is the solver step, the grid step being ``dt_out_ms``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np

from noble.embedding import StimulusTemplate
from noble.errors import DataError
from noble.hashing import canonical_json, sha256_text
from noble.sim.dataset import check_shapes, decode_attrs, open_dataset

REQUIRED_ATTRS = ("cell", "engine", "dt_ms", "decimation", "protocol", "seed", "data_card")


@dataclass
class TraceDataset:
    """A dataset loaded into memory (voltage mV, amplitude nA, time ms)."""

    path: Path
    voltage: np.ndarray
    amplitude: np.ndarray
    hof: np.ndarray
    time: np.ndarray
    cell: str
    engine: str
    dt_ms: float
    decimation: int
    protocol: dict[str, Any]
    seed: int
    data_card: str
    extra_attrs: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.voltage.shape[0])

    @property
    def data_card_sha256(self) -> str:
        return sha256_text(self.data_card)

    @property
    def template(self) -> StimulusTemplate:
        """The stimulus grid of the traces."""
        return StimulusTemplate(
            n_samples=int(self.time.shape[0]),
            dt_ms=float(self.dt_ms),
            delay_ms=float(self.protocol["delay_ms"]),
            duration_ms=float(self.protocol["duration_ms"]),
        )

    def describe(self) -> dict[str, Any]:
        """What a model card records about its training data."""
        return {
            "file": self.path.name,
            "cell": self.cell,
            "engine": self.engine,
            "n_traces": len(self),
            "n_hofs": int(np.unique(self.hof).size),
            "seed": self.seed,
            "data_card_sha256": self.data_card_sha256,
        }


def read_dataset(path: str | Path, rows: slice | None = None) -> TraceDataset:
    """Read and validate an HDF5 dataset (optionally only ``rows``).

    The file is opened, and its arrays and attributes checked and decoded, by :mod:`noble.sim.dataset`
    (the one definition of the layout); this adds the training checks: attributes, units, grid, finite values.
    """
    path = Path(path)
    with open_dataset(path) as fh:
        for name in REQUIRED_ATTRS:
            if name not in fh.attrs:
                raise DataError(f"{path}: missing attribute {name!r}")
        sel = rows if rows is not None else slice(None)
        voltage = np.asarray(fh["voltage"][sel], dtype=np.float32)
        amplitude = np.asarray(fh["amplitude"][sel], dtype=np.float64)
        hof = np.asarray(fh["hof"][sel], dtype=np.int64)
        time = np.asarray(fh["time"][:], dtype=np.float64)
        units = decode_attrs(path, fh["voltage"].attrs).get("units", "mV")
        if units != "mV":
            raise DataError(f"{path}: voltage units are {units!r}, noble expects mV")
        attrs = decode_attrs(path, fh.attrs)
    check_shapes(path, voltage, amplitude, hof, time)
    protocol = attrs["protocol"]
    if not isinstance(protocol, dict):
        raise DataError(f"{path}: attribute 'protocol' is not a JSON object")
    # the step window: ``delay_ms``/``duration_ms``, or the simulator's ``stim_start``/``stim_duration`` (ms)
    window = {}
    for key, alias in (("delay_ms", "stim_start"), ("duration_ms", "stim_duration")):
        value = protocol.get(key, protocol.get(alias))
        if value is None:
            raise DataError(f"{path}: protocol has neither {key!r} nor {alias!r}")
        window[key] = float(value)
    protocol = {**protocol, **window}
    # the trace grid step: ``dt_out_ms`` when the file also records the solver step, else ``dt_ms``
    dt = float(attrs.get("dt_out_ms", attrs["dt_ms"]))
    if time.shape[0] > 1 and not math.isclose(float(time[1] - time[0]), dt, rel_tol=1e-6):
        raise DataError(f"{path}: time step {time[1] - time[0]} ms differs from the recorded grid step {dt} ms")
    if not np.all(np.isfinite(voltage)):
        raise DataError(f"{path}: voltage contains non-finite values")
    extra = {k: v for k, v in attrs.items() if k not in REQUIRED_ATTRS}
    return TraceDataset(
        path, voltage, amplitude, hof, time, str(attrs["cell"]), str(attrs["engine"]), dt,
        int(attrs["decimation"]), protocol, int(attrs["seed"]), str(attrs["data_card"]), extra,
    )


def write_dataset(
    path: str | Path,
    voltage: np.ndarray,
    amplitude: np.ndarray,
    hof: np.ndarray,
    time: np.ndarray,
    *,
    cell: str,
    engine: str,
    protocol: dict[str, Any],
    seed: int,
    decimation: int = 3,
    data_card: dict[str, Any] | None = None,
) -> Path:
    """Write a dataset in noble's layout (voltage mV, amplitude nA, time ms)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    time = np.asarray(time, dtype=np.float64)
    card = data_card if data_card is not None else {
        "cell": cell, "engine": engine, "protocol": protocol, "seed": seed, "n_traces": int(len(amplitude)),
    }
    with h5py.File(path, "w") as fh:
        fh.create_dataset("voltage", data=np.asarray(voltage, dtype=np.float32)).attrs["units"] = "mV"
        fh.create_dataset("amplitude", data=np.asarray(amplitude, dtype=np.float64)).attrs["units"] = "nA"
        fh.create_dataset("hof", data=np.asarray(hof, dtype=np.int64))
        fh.create_dataset("time", data=time).attrs["units"] = "ms"
        fh.attrs["cell"] = cell
        fh.attrs["engine"] = engine
        fh.attrs["dt_ms"] = float(time[1] - time[0]) if time.size > 1 else 0.0
        fh.attrs["decimation"] = int(decimation)
        fh.attrs["protocol"] = canonical_json(protocol)
        fh.attrs["seed"] = int(seed)
        fh.attrs["data_card"] = canonical_json(card)
    return path


@dataclass(frozen=True)
class DataSplit:
    """Row indices of a dataset: ``train`` and ``holdout`` (unseen currents of train HoFs), ``test_hofs``."""

    train: np.ndarray
    holdout: np.ndarray
    test_hofs: np.ndarray

    def as_dict(self) -> dict[str, list[int]]:
        return {k: getattr(self, k).tolist() for k in ("train", "holdout", "test_hofs")}


def split_rows(
    hof: np.ndarray, train_hofs: Sequence[int], test_hofs: Sequence[int], holdout_fraction: float, seed: int
) -> DataSplit:
    """Split rows by the cell split; hold out a random ``holdout_fraction`` of the train HoFs' rows (seeded).

    Rows of HoF models in neither list are an error: every trace must belong to the split.
    """
    train_set, test_set = set(int(h) for h in train_hofs), set(int(h) for h in test_hofs)
    if train_set & test_set:
        raise DataError(f"HoF models {sorted(train_set & test_set)} are both train and test")
    unknown = sorted(set(np.unique(hof).tolist()) - train_set - test_set)
    if unknown:
        raise DataError(f"dataset has traces of HoF models {unknown[:10]} that are in neither the train nor the test split")
    rng = np.random.default_rng(seed)
    rows = rng.permutation(np.flatnonzero(np.isin(hof, sorted(train_set))))
    n_hold = int(round(holdout_fraction * rows.size))
    holdout, train = np.sort(rows[:n_hold]), np.sort(rows[n_hold:])
    test = np.flatnonzero(np.isin(hof, sorted(test_set)))
    return DataSplit(train.astype(np.int64), holdout.astype(np.int64), test.astype(np.int64))
