"""The one trace-dataset format of noble: one writer, one reader, carrying the :class:`StepProtocol`.

Units: voltage mV (float32), amplitude nA, time ms. One HDF5 file per dataset:

* ``voltage`` ``[N, T]`` float32 mV; ``amplitude`` ``[N]`` float64 nA; ``hof`` ``[N]`` int64 global HoF index;
  ``time`` ``[T]`` float64 ms (each with a ``units`` attribute);
* attributes: ``format`` (:data:`FILE_FORMAT`), ``protocol`` (the :class:`StepProtocol` as JSON: the step
  window, the solver step and the decimation, so the trace grid step is ``protocol.dt_out``), ``cell``,
  ``engine``, ``seed`` and ``data_card``, a canonical JSON string whose SHA-256 identifies the dataset in model
  cards; optional extra attributes (``plan_sha256``, ``engine_version``, ``checksums``...) are kept as they are.

Files written by ``noble simulate`` before the format was named (no ``format`` attribute, the same protocol)
load unchanged. Files of the older training layout (protocol with ``delay_ms``, ``dt_ms`` the grid step) are
refused with the command that converts them: :func:`upgrade_dataset` (``noble upgrade-dataset FILE``), which
keeps their data card, so models trained on them still match.
"""
from __future__ import annotations

import json
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import h5py
import numpy as np

from noble.embedding import StimulusTemplate
from noble.errors import DataError
from noble.hashing import canonical_json, sha256_text
from noble.sim.protocol import ProtocolError, StepProtocol, coarsen_traces, coarser_protocol, template_of

#: The ``format`` attribute of the files this module writes.
FILE_FORMAT = "noble-traces/2"
#: The arrays every dataset file holds and their units.
ARRAY_UNITS = {"voltage": "mV", "amplitude": "nA", "hof": "", "time": "ms"}
#: Attributes every dataset file holds, and the attributes stored as JSON strings.
REQUIRED_ATTRS = ("protocol", "cell", "engine", "data_card")
JSON_ATTRS = ("protocol", "engine_options", "sampler", "checksums")
#: Attributes the reader turns into fields (the others stay in :attr:`TraceDataset.attrs`).
_FIELD_ATTRS = ("format", "protocol", "cell", "engine", "seed", "data_card")
#: The :attr:`TraceDataset.attrs` key under which a concatenation lists the files it joins (in memory only).
CONCAT_PARTS = "concatenated_files"


@dataclass(frozen=True)
class TraceDataset:
    """A dataset in memory: traces (mV) of step currents (nA) on ``protocol``'s output grid (ms)."""

    path: Path
    voltage: np.ndarray
    amplitude: np.ndarray
    hof: np.ndarray
    time: np.ndarray
    protocol: StepProtocol
    cell: str
    engine: str
    seed: int
    data_card: str
    attrs: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.voltage.shape[0])

    @property
    def dt_ms(self) -> float:
        """Step of the trace grid (ms)."""
        return float(self.protocol.dt_out)

    @property
    def decimation(self) -> int:
        return int(self.protocol.decimation)

    @property
    def data_card_sha256(self) -> str:
        return sha256_text(self.data_card)

    @property
    def template(self) -> StimulusTemplate:
        """The model-side description of the grid and step window, derived from the protocol."""
        return template_of(self.protocol)

    def describe(self) -> dict[str, Any]:
        """What a model card records about its training data; a concatenation names every file it joins
        (``parts``: file, traces taken from it, seed and data card SHA-256, in order)."""
        out: dict[str, Any] = {
            "file": self.path.name,
            "cell": self.cell,
            "engine": self.engine,
            "n_traces": len(self),
            "n_hofs": int(np.unique(self.hof).size),
            "seed": self.seed,
            "data_card_sha256": self.data_card_sha256,
        }
        if CONCAT_PARTS in self.attrs:
            out["parts"] = self.file_parts()
            out["file"] = " + ".join(part["file"] for part in out["parts"])
        return out

    def file_parts(self) -> list[dict[str, Any]]:
        """The files behind these traces: one entry for a dataset read from a file, one per part for a
        concatenation (see :meth:`describe`)."""
        if CONCAT_PARTS in self.attrs:
            return [dict(part) for part in self.attrs[CONCAT_PARTS]]
        return [{"file": self.path.name, "n_traces": len(self), "seed": self.seed,
                 "data_card_sha256": self.data_card_sha256}]

    def select(self, rows: np.ndarray | slice) -> "TraceDataset":
        """The traces ``rows`` only (same grid, protocol and data card)."""
        return TraceDataset(self.path, self.voltage[rows], self.amplitude[rows], self.hof[rows], self.time,
                            self.protocol, self.cell, self.engine, self.seed, self.data_card, dict(self.attrs))

    def coarsened(self, factor: int) -> "TraceDataset":
        """The same traces on a ``factor`` times coarser grid (low-pass, then every ``factor``-th sample; the
        protocol's decimation multiplied by ``factor``), e.g. for reduced-resolution pretraining. Its data card
        is this one's plus ``coarsened_by``, so models trained on it do not claim this dataset."""
        protocol = coarser_protocol(self.protocol, factor)
        card = coarsened_card(self.data_card, factor)
        return TraceDataset(self.path, coarsen_traces(self.voltage, factor), self.amplitude, self.hof,
                            protocol.time(), protocol, self.cell, self.engine, self.seed, card, dict(self.attrs))

    def card_factor(self, data_card_sha256: str, max_factor: int = 8) -> int | None:
        """The coarsening factor (1: none) at which these traces have the data card ``data_card_sha256``, e.g. to
        recognise the training set of a model trained on them coarsened; ``None`` when no factor up to
        ``max_factor`` gives it."""
        if self.data_card_sha256 == data_card_sha256:
            return 1
        for factor in range(2, max_factor + 1):
            if sha256_text(coarsened_card(self.data_card, factor)) == data_card_sha256:
                return factor
        return None

    def concat(self, other: "TraceDataset") -> "TraceDataset":
        """This dataset's traces followed by ``other``'s (same protocol required). Its data card names the parts
        (their cards' SHA-256 and trace counts; a part that is itself a concatenation contributes its parts, so
        ``a.concat(b).concat(c)`` and ``a.concat(b.concat(c))`` have one card), so a model trained on it claims
        none of the datasets."""
        if other.protocol != self.protocol:
            raise DataError(f"{other.path}: protocol {other.protocol} differs from {self.path}'s {self.protocol}")
        card = canonical_json({"concatenation": _card_parts(self) + _card_parts(other)})
        return TraceDataset(
            self.path, np.concatenate([self.voltage, other.voltage]),
            np.concatenate([self.amplitude, other.amplitude]), np.concatenate([self.hof, other.hof]), self.time,
            self.protocol, self.cell, self.engine, self.seed, card,
            {**self.attrs, CONCAT_PARTS: self.file_parts() + other.file_parts()},
        )


def concat_datasets(datasets: "Sequence[TraceDataset]") -> TraceDataset:
    """``datasets`` concatenated in order (:meth:`TraceDataset.concat`; at least one)."""
    if not datasets:
        raise DataError("no datasets to concatenate")
    joined = datasets[0]
    for more in datasets[1:]:
        joined = joined.concat(more)
    return joined


def _card_parts(dataset: TraceDataset) -> list[dict[str, Any]]:
    """The parts a concatenation's data card lists for ``dataset``: its own parts when it is a concatenation."""
    try:
        card = json.loads(dataset.data_card)
    except ValueError:
        card = None
    if isinstance(card, dict) and set(card) == {"concatenation"}:
        return list(card["concatenation"])
    return [{"data_card_sha256": dataset.data_card_sha256, "n_traces": len(dataset)}]


def coarsened_card(data_card: str, factor: int) -> str:
    """The data card of traces with card ``data_card`` coarsened ``factor`` times (:meth:`TraceDataset.coarsened`)."""
    return canonical_json({**json.loads(data_card), "coarsened_by": int(factor)})


def default_card(protocol: StepProtocol, cell: str, engine: str, seed: int, n_traces: int) -> dict[str, Any]:
    """The data card of a dataset written without one (synthetic or hand-made traces)."""
    return {"format": FILE_FORMAT, "cell": cell, "engine": engine, "protocol": protocol.as_dict(),
            "seed": int(seed), "n_traces": int(n_traces), "units": {"voltage": "mV", "amplitude": "nA", "time": "ms"}}


def write_dataset(
    path: str | Path,
    voltage: np.ndarray,
    amplitude: np.ndarray,
    hof: np.ndarray,
    protocol: StepProtocol,
    *,
    cell: str,
    engine: str,
    seed: int = -1,
    data_card: str | Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Write a dataset atomically (a temporary file renamed into place); the time grid is ``protocol.time()``.

    ``voltage`` ``[N, protocol.n_samples]`` mV, ``amplitude`` ``[N]`` nA, ``hof`` ``[N]``. ``data_card``: a
    canonical JSON string (kept byte for byte), a mapping (serialised canonically) or None (:func:`default_card`).
    ``attrs``: extra file attributes (mappings and lists stored as JSON).
    """
    if not isinstance(protocol, StepProtocol):
        raise DataError(f"protocol must be a StepProtocol, not {type(protocol).__name__}")
    path = Path(path)
    voltage = np.asarray(voltage, dtype=np.float32)
    amplitude = np.asarray(amplitude, dtype=np.float64)
    hof = np.asarray(hof, dtype=np.int64)
    time = protocol.time()
    check_shapes(path, voltage, amplitude, hof, time)
    if data_card is None:
        card = canonical_json(default_card(protocol, cell, engine, seed, len(amplitude)))
    elif isinstance(data_card, str):
        card = data_card
    else:
        card = canonical_json(dict(data_card))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w", track_order=True) as fh:
        for name, data in (("voltage", voltage), ("amplitude", amplitude), ("hof", hof), ("time", time)):
            dataset = fh.create_dataset(name, data=data)
            if ARRAY_UNITS[name]:
                dataset.attrs["units"] = ARRAY_UNITS[name]
        fh.attrs["format"] = FILE_FORMAT
        fh.attrs["protocol"] = canonical_json(protocol.as_dict())
        fh.attrs["cell"] = str(cell)
        fh.attrs["engine"] = str(engine)
        fh.attrs["seed"] = int(seed)
        fh.attrs["data_card"] = card
        for key, value in (attrs or {}).items():
            if key in _FIELD_ATTRS:
                raise DataError(f"attribute {key!r} is a field of the format; pass it as an argument")
            fh.attrs[key] = canonical_json(value) if isinstance(value, (Mapping, list, tuple)) or value is None else value
    os.replace(tmp, path)
    return path


@contextmanager
def open_dataset(path: Path) -> Iterator[h5py.File]:
    """Open a dataset file for reading, checking it exists, is HDF5 and holds the four arrays."""
    if not path.is_file():
        raise DataError(f"{path}: dataset file not found")
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 file ({exc})") from None
    with fh:
        for name in ARRAY_UNITS:
            if name not in fh:
                raise DataError(f"{path}: missing dataset {name!r} (layout: {', '.join(ARRAY_UNITS)})")
        yield fh


def decode_attrs(path: Path, raw: Mapping[str, Any]) -> dict[str, Any]:
    """HDF5 attributes as Python values: bytes decoded, numpy scalars unwrapped, :data:`JSON_ATTRS` parsed."""
    attrs: dict[str, Any] = {}
    for key, value in raw.items():
        value = value.decode("utf-8") if isinstance(value, bytes) else value
        if key in JSON_ATTRS and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise DataError(f"{path}: attribute {key!r} is not valid JSON") from None
        elif isinstance(value, np.generic):
            value = value.item()
        attrs[key] = value
    return attrs


def check_shapes(path: Path, voltage: np.ndarray, amplitude: np.ndarray, hof: np.ndarray, time: np.ndarray) -> None:
    """Check ``voltage`` is [N, T] with ``time`` [T] and ``amplitude``, ``hof`` [N]."""
    if voltage.ndim != 2 or time.ndim != 1 or voltage.shape[1] != time.shape[0]:
        raise DataError(f"{path}: voltage has shape {voltage.shape} and time {time.shape}: expected [N, T] and [T]")
    if amplitude.shape != (voltage.shape[0],) or hof.shape != (voltage.shape[0],):
        raise DataError(f"{path}: amplitude {amplitude.shape} and hof {hof.shape} must both be [{voltage.shape[0]}]")


def _is_legacy_training_layout(protocol: Any) -> bool:
    return isinstance(protocol, dict) and "delay_ms" in protocol and "stim_start" not in protocol


def _protocol(path: Path, value: Any) -> StepProtocol:
    if _is_legacy_training_layout(value):
        raise DataError(
            f"{path}: written in noble's older training layout (protocol with 'delay_ms'); convert it once with "
            f"`noble upgrade-dataset {path}` (rewrites it in place, keeping its data card)"
        )
    if not isinstance(value, dict):
        raise DataError(f"{path}: attribute 'protocol' is not a JSON object")
    try:
        return StepProtocol(**value)
    except (TypeError, ProtocolError) as exc:
        raise DataError(f"{path}: attribute 'protocol' is not a step protocol ({exc})") from None


def read_dataset(path: str | Path, rows: slice | np.ndarray | None = None) -> TraceDataset:
    """Read and validate a dataset (optionally only ``rows``): arrays, units, protocol grid, finite voltage."""
    path = Path(path)
    with open_dataset(path) as fh:
        attrs = decode_attrs(path, fh.attrs)
        missing = [name for name in REQUIRED_ATTRS if name not in attrs]
        if missing:
            raise DataError(f"{path}: missing attribute(s) {missing}")
        protocol = _protocol(path, attrs["protocol"])
        for name, unit in ARRAY_UNITS.items():
            found = decode_attrs(path, fh[name].attrs).get("units", unit)
            if found != unit:
                raise DataError(f"{path}: {name} units are {found!r}, noble expects {unit!r}")
        sel = rows if rows is not None else slice(None)
        voltage = np.asarray(fh["voltage"][sel], dtype=np.float32)
        amplitude = np.asarray(fh["amplitude"][sel], dtype=np.float64)
        hof = np.asarray(fh["hof"][sel], dtype=np.int64)
        time = np.asarray(fh["time"][:], dtype=np.float64)
    check_shapes(path, voltage, amplitude, hof, time)
    expected = protocol.time()
    if time.shape != expected.shape or not np.allclose(time, expected, rtol=0, atol=1e-9 * max(1.0, protocol.t_stop)):
        raise DataError(f"{path}: the time grid ({time.shape[0]} samples, step "
                        f"{time[1] - time[0] if time.size > 1 else math.nan} ms) is not the protocol's "
                        f"({protocol.n_samples} samples of {protocol.dt_out} ms)")
    if not np.all(np.isfinite(voltage)):
        raise DataError(f"{path}: voltage contains non-finite values")
    extra = {k: v for k, v in attrs.items() if k not in _FIELD_ATTRS}
    return TraceDataset(path, voltage, amplitude, hof, time, protocol, str(attrs["cell"]), str(attrs["engine"]),
                        int(attrs.get("seed", -1)), str(attrs["data_card"]), extra)


def upgrade_dataset(path: str | Path, out: str | Path | None = None) -> Path:
    """Rewrite a file of the older training layout in this format (in place when ``out`` is None).

    The protocol is taken from the data card when it records one (files of the pipeline), else rebuilt from
    the old attributes (``delay_ms``, ``duration_ms``, ``t_stop_ms``, ``solver_dt_ms``, ``settle_ms``,
    ``decimation``, the time grid); the data card is kept byte for byte. A file already in this format is
    left as it is.
    """
    path = Path(path)
    with open_dataset(path) as fh:
        attrs = decode_attrs(path, fh.attrs)
        old = attrs.get("protocol")
        if not _is_legacy_training_layout(old):
            _protocol(path, old)  # refuses what is neither layout
            if out is not None and Path(out) != path:
                raise DataError(f"{path}: already in the {FILE_FORMAT} format; copy it instead")
            return path
        arrays = {name: fh[name][...] for name in ARRAY_UNITS}
    card = str(attrs.get("data_card", ""))
    try:
        recorded = json.loads(card).get("protocol") if card else None
    except (json.JSONDecodeError, AttributeError):
        recorded = None
    time = np.asarray(arrays["time"], dtype=np.float64)
    if isinstance(recorded, dict) and "stim_start" in recorded:
        protocol = StepProtocol(**recorded)
    else:
        dt_out = float(time[1] - time[0])
        decimation = int(attrs.get("decimation", 1))
        solver_dt = float(old.get("solver_dt_ms", dt_out / decimation))
        protocol = StepProtocol(
            t_stop=float(old.get("t_stop_ms", time.size * dt_out)), stim_start=float(old["delay_ms"]),
            stim_duration=float(old["duration_ms"]), dt=solver_dt, decimation=decimation, n_samples=int(time.size),
            settle=float(old.get("settle_ms", 0.0)),
        )
    extra = {k: v for k, v in attrs.items() if k not in _FIELD_ATTRS and k not in ("dt_ms", "decimation")}
    return write_dataset(
        out if out is not None else path, arrays["voltage"], arrays["amplitude"], arrays["hof"], protocol,
        cell=str(attrs.get("cell", "")), engine=str(attrs.get("engine", "")), seed=int(attrs.get("seed", -1)),
        data_card=card or None, attrs=extra,
    )
