"""Allen Cell Types Database adapter: download a specimen's NWB file and read its Long Square sweeps.

This is the only module of noble that imports ``allensdk`` (lazily, in :func:`download_ephys_nwb`).
``allensdk`` 2.16 predates numpy 2: :func:`_import_cell_types_cache` restores the names it still uses
(``numpy.VisibleDeprecationWarning``, moved to ``numpy.exceptions``) before importing it.

Reading does not need ``allensdk``: :func:`read_long_square_sweeps` reads the Allen NWB (version 1) layout
with h5py, the layout ``allensdk.core.nwb_data_set.NwbDataSet`` reads::

    epochs/Sweep_N/stimulus/{idx_start, count, timeseries -> stimulus/presentation/Sweep_N}
    epochs/Sweep_N/response/{idx_start, count, timeseries -> acquisition/timeseries/Sweep_N}
    epochs/Experiment_N/stimulus/{idx_start, count}            (optional: the sweep without its test pulse)
    stimulus/presentation/Sweep_N/{data, starting_time, aibs_stimulus_name, aibs_stimulus_amplitude_pa}
    acquisition/timeseries/Sweep_N/{data, starting_time}
    general/generated_by                                       (optional: ["version", "1.1", ...])

``data`` carries ``conversion`` (factor to SI) and ``unit`` attributes, ``starting_time`` a ``rate``
attribute (Hz). As in ``NwbDataSet``, the conversion is applied for pipeline version 1.1 and later; earlier
files store SI values. Strings may be stored as bytes or str (h5py 3 returns either); both are accepted.
(Under h5py 3, allensdk 2.16's own ``NwbDataSet`` compares the bytes of ``generated_by`` with str, reads
every file as version 0.0 and so skips the conversion, and fails on str ``unit`` attributes; hence this reader.)

Units returned: time ms, membrane potential mV, current nA.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from noble.errors import DataError, DownloadError
from noble.paths import cache_dir

LONG_SQUARE = "Long Square"


@dataclass(frozen=True)
class LongSquareSweep:
    """One Long Square sweep: time (ms), somatic voltage (mV), injected current (nA) and the step."""

    sweep_number: int
    t: np.ndarray  # ms, from the start of the sweep
    v: np.ndarray  # mV
    i: np.ndarray  # nA
    stim_start: float  # ms
    stim_end: float  # ms
    amplitude: float  # nA
    sampling_rate: float  # Hz

    def efel_trace(self) -> dict[str, Any]:
        """The sweep as an eFEL trace (``T`` ms, ``V`` mV, ``stim_start``/``stim_end`` ms)."""
        return {"T": self.t, "V": self.v, "stim_start": [self.stim_start], "stim_end": [self.stim_end]}


def _text(value: Any) -> str:
    """A string read from HDF5 (bytes, numpy bytes, str or a 0-d/1-element array of those)."""
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _pipeline_version(f: Any) -> tuple[int, int]:
    """(major, minor) from ``general/generated_by``; (0, 0) when absent or unreadable."""
    try:
        info = [_text(x) for x in f["general/generated_by"][()]]
        version = info[info.index("version") + 1]
        major, minor = version.split(".")[:2]
        return int(major), int(minor)
    except (KeyError, ValueError, IndexError, TypeError):
        return 0, 0


def _scaled(dataset: Any, apply_conversion: bool, path: Path, what: str) -> np.ndarray:
    data = np.asarray(dataset[()], dtype=float)
    if apply_conversion:
        if "conversion" not in dataset.attrs:
            raise DataError(f"{path}: {what} has no 'conversion' attribute")
        data = data * float(dataset.attrs["conversion"])
    return data


def _check_unit(dataset: Any, expected: str, path: Path, what: str) -> None:
    if "unit" in dataset.attrs:
        unit = _text(dataset.attrs["unit"])
        if not unit.startswith(expected[0]):
            raise DataError(f"{path}: {what} unit is {unit!r}, expected {expected}")


def _step_window(stimulus: np.ndarray, start_index: int, amplitude: float | None) -> tuple[int, int] | None:
    """Index range [first, last+1) of the current step, searched from ``start_index`` on.

    With a known ``amplitude`` (same unit as ``stimulus``) the step is the longest run within 25 % of it
    (None for a zero amplitude); otherwise the longest run of non-zero current.
    """
    if amplitude is not None:
        if amplitude == 0:
            return None
        mask = np.abs(stimulus[start_index:] - amplitude) <= 0.25 * abs(amplitude)
    else:
        mask = stimulus[start_index:] != 0
    hits = np.flatnonzero(mask) + start_index
    if hits.size == 0:
        return None
    breaks = np.flatnonzero(np.diff(hits) > 1)
    starts = np.concatenate(([hits[0]], hits[breaks + 1]))
    ends = np.concatenate((hits[breaks], [hits[-1]])) + 1
    k = int(np.argmax(ends - starts))
    return int(starts[k]), int(ends[k])


def sweep_numbers(nwb_path: str | Path, stimulus_name: str = LONG_SQUARE) -> list[int]:
    """Sorted numbers of the sweeps whose ``aibs_stimulus_name`` equals ``stimulus_name``."""
    path = Path(nwb_path)
    out = []
    with _open(path) as f:
        if "stimulus/presentation" not in f:
            raise DataError(f"{path}: no stimulus/presentation group (not an Allen NWB file?)")
        for name, group in f["stimulus/presentation"].items():
            if not name.startswith("Sweep_") or not isinstance(group, h5py.Group):
                continue
            if "aibs_stimulus_name" in group and _text(group["aibs_stimulus_name"][()]) == stimulus_name:
                out.append(int(name.split("_")[1]))
    return sorted(out)


def _open(path: Path):
    if not path.is_file():
        raise DataError(f"{path}: NWB file not found")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5/NWB file ({exc})") from None


def read_sweep(nwb_path: str | Path, sweep_number: int) -> LongSquareSweep | None:
    """One sweep as a :class:`LongSquareSweep`; None when its stimulus has no step (zero amplitude).

    The step is searched after the test pulse (from the start of the ``Experiment_N`` epoch when the file has
    one); its amplitude is ``aibs_stimulus_amplitude_pa`` when recorded, else the median current of the step.
    """
    path = Path(nwb_path)
    with _open(path) as f:
        key = f"epochs/Sweep_{sweep_number}"
        if key not in f:
            raise DataError(f"{path}: no sweep {sweep_number} ({key} missing)")
        sweep = f[key]
        try:
            stim_ts = sweep["stimulus/timeseries"]
            resp_ts = sweep["response/timeseries"]
            count = int(sweep["stimulus/count"][()])
            if int(sweep["stimulus/idx_start"][()]) != 0:
                raise DataError(f"{path}: sweep {sweep_number} does not start at index 0")
            rate = float(stim_ts["starting_time"].attrs["rate"])
        except KeyError as exc:
            raise DataError(f"{path}: sweep {sweep_number}: missing {exc.args[0]!s} in the Allen NWB layout") from None
        major, minor = _pipeline_version(f)
        convert = major > 1 or (major == 1 and minor > 0)
        _check_unit(stim_ts["data"], "Amps", path, f"sweep {sweep_number} stimulus")
        _check_unit(resp_ts["data"], "Volts", path, f"sweep {sweep_number} response")
        stimulus = _scaled(stim_ts["data"], convert, path, f"sweep {sweep_number} stimulus")  # A
        response = _scaled(resp_ts["data"], convert, path, f"sweep {sweep_number} response")  # V
        first = 0
        experiment = f.get(f"epochs/Experiment_{sweep_number}")
        if experiment is not None:
            first = int(experiment["stimulus/idx_start"][()])
            count = first + int(experiment["stimulus/count"][()])
        meta = f.get(f"stimulus/presentation/Sweep_{sweep_number}")
        amplitude_pa = None
        if meta is not None and "aibs_stimulus_amplitude_pa" in meta:
            amplitude_pa = float(meta["aibs_stimulus_amplitude_pa"][()])
    n = min(count, stimulus.size, response.size)
    if rate <= 0:
        raise DataError(f"{path}: sweep {sweep_number} has a non-positive sampling rate {rate}")
    stimulus, response = stimulus[:n], response[:n]
    window = _step_window(stimulus, first, amplitude_pa * 1e-12 if amplitude_pa is not None else None)
    if window is None:
        return None
    t = np.arange(n) * (1000.0 / rate)
    i_na = stimulus * 1e9
    amplitude = amplitude_pa * 1e-3 if amplitude_pa is not None else float(np.median(i_na[window[0] : window[1]]))
    return LongSquareSweep(
        sweep_number=sweep_number,
        t=t,
        v=response * 1e3,
        i=i_na,
        stim_start=window[0] * 1000.0 / rate,
        stim_end=window[1] * 1000.0 / rate,
        amplitude=amplitude,
        sampling_rate=rate,
    )


def read_long_square_sweeps(nwb_path: str | Path) -> list[LongSquareSweep]:
    """Every Long Square sweep with a current step, in sweep order (units: ms, mV, nA)."""
    sweeps = [read_sweep(nwb_path, n) for n in sweep_numbers(nwb_path, LONG_SQUARE)]
    return [s for s in sweeps if s is not None]


def allen_cache_dir() -> Path:
    """Folder of the Allen Cell Types cache (``<noble cache>/allen``)."""
    return cache_dir() / "allen"


def prepare_allensdk() -> None:
    """Restore the numpy names ``allensdk`` 2.16 needs under numpy 2 and check that it imports.

    ``numpy.VisibleDeprecationWarning`` moved to ``numpy.exceptions``; ``allensdk.core`` also imports
    ``pynwb`` at import time (pinned in requirements/base.txt).
    """
    if not hasattr(np, "VisibleDeprecationWarning"):
        np.VisibleDeprecationWarning = np.exceptions.VisibleDeprecationWarning  # type: ignore[attr-defined]
    try:
        import allensdk.core  # noqa: F401
    except ImportError as exc:
        raise DataError(
            f"the Allen adapter needs allensdk and its dependencies ({exc}); install them with "
            "`pip install -r requirements/base.txt && pip install --no-deps -r requirements/allensdk.txt`"
        ) from None


def _import_cell_types_cache():
    """``allensdk``'s CellTypesCache class, imported after :func:`prepare_allensdk`."""
    prepare_allensdk()
    from allensdk.core.cell_types_cache import CellTypesCache  # lazy: optional: allensdk installs with --no-deps and serves only Allen downloads

    return CellTypesCache


def download_ephys_nwb(specimen_id: int, cache: str | Path | None = None, base_uri: str | None = None) -> Path:
    """Download (or reuse) the NWB file of a specimen from the Allen Cell Types Database; returns its path.

    Needs network access to api.brain-map.org (``base_uri`` overrides it). Raises :class:`DownloadError`
    when the download fails; nothing partial is left under the final name.
    """
    CellTypesCache = _import_cell_types_cache()
    folder = Path(cache) if cache is not None else allen_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    ctc = CellTypesCache(manifest_file=str(folder / "manifest.json"), base_uri=base_uri)
    path = Path(ctc.get_cache_path(None, ctc.EPHYS_DATA_KEY, specimen_id))
    existed = path.is_file()
    try:
        ctc.get_ephys_data(specimen_id)
    except Exception as exc:  # allensdk raises urllib, requests and its own errors
        if not existed:
            path.unlink(missing_ok=True)
        raise DownloadError(
            f"could not download the NWB file of Allen specimen {specimen_id} into {path} "
            f"({type(exc).__name__}: {exc}); this needs network access to the Allen Cell Types Database"
        ) from None
    if not path.is_file():
        raise DownloadError(f"allensdk reported no error but {path} was not written (specimen {specimen_id})")
    return path


def long_square_sweeps(specimen_id: int, cache: str | Path | None = None) -> list[LongSquareSweep]:
    """Download (or reuse) a specimen's NWB file and return its Long Square sweeps (ms, mV, nA)."""
    return read_long_square_sweeps(download_ephys_nwb(specimen_id, cache))
