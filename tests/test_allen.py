"""The Allen adapter: Long Square sweeps from NWB files written here in the Allen (NWB 1) layout."""
from __future__ import annotations

import socket
from pathlib import Path

import h5py
import numpy as np
import pytest

from noble.data.allen import (
    LongSquareSweep,
    download_ephys_nwb,
    prepare_allensdk,
    read_long_square_sweeps,
    read_sweep,
    sweep_numbers,
)
from noble.errors import DataError, DownloadError

RATE = 20_000.0  # Hz
N = 50_000  # 2.5 s
TEST_PULSE = (400, 600)  # samples, -20 pA
STEP = (20_400, 40_400)  # samples: 1020 ms to 2020 ms
EXPERIMENT_START = 2_000
TAIL = 100  # samples after the experiment end that hold invalid data

# (sweep number, stimulus name, amplitude pA)
SWEEPS = [(10, "Long Square", 100.0), (11, "Long Square", -70.0), (12, "Long Square", 0.0), (13, "Short Square", 500.0)]


def _traces(amplitude_pa: float) -> tuple[np.ndarray, np.ndarray]:
    """Stimulus (pA) and response (mV) of one synthetic sweep: test pulse, step, 0.1 mV/pA response."""
    stim = np.zeros(N)
    stim[TEST_PULSE[0] : TEST_PULSE[1]] = -20.0
    stim[STEP[0] : STEP[1]] = amplitude_pa
    resp = -70.0 + 0.1 * stim
    resp[N - TAIL :] = 0.0  # recording stopped: not valid data
    return stim, resp


def _string(group: h5py.Group, name: str, value: str, as_bytes: bool) -> None:
    if as_bytes:
        group.create_dataset(name, data=np.bytes_(value))
    else:
        group.create_dataset(name, data=value, dtype=h5py.string_dtype())


def write_allen_nwb(path: Path, *, version: str | None, as_bytes: bool) -> Path:
    """An NWB 1 file in the layout allensdk's NwbDataSet reads.

    ``version`` "1.1" stores pA and mV with ``conversion`` attributes to SI; None (an early pipeline file)
    stores SI values, whose ``conversion`` attributes readers must ignore.
    """
    si = version is None
    with h5py.File(path, "w") as f:
        general = f.create_group("general")
        if version is not None:
            general.create_dataset("generated_by", data=np.array([b"version", version.encode(), b"program", b"test"]))
        for number, name, amp in SWEEPS:
            stim, resp = _traces(amp)
            if si:
                stim, resp = stim * 1e-12, resp * 1e-3
            pres = f.create_group(f"stimulus/presentation/Sweep_{number}")
            acq = f.create_group(f"acquisition/timeseries/Sweep_{number}")
            for group, data, unit, conv in ((pres, stim, "Amps", 1e-12), (acq, resp, "Volts", 1e-3)):
                d = group.create_dataset("data", data=data.astype(np.float32 if not si else np.float64))
                d.attrs["conversion"] = np.float32(conv)
                d.attrs["unit"] = np.bytes_(unit) if as_bytes else unit
                st = group.create_dataset("starting_time", data=0.0)
                st.attrs["rate"] = RATE
            _string(pres, "aibs_stimulus_name", name, as_bytes)
            pres.create_dataset("aibs_stimulus_amplitude_pa", data=amp)
            for kind, target in (("stimulus", pres), ("response", acq)):
                epoch = f.create_group(f"epochs/Sweep_{number}/{kind}")
                epoch.create_dataset("idx_start", data=0)
                epoch.create_dataset("count", data=N)
                epoch["timeseries"] = h5py.SoftLink(target.name)
                if number != 12:
                    exp = f.create_group(f"epochs/Experiment_{number}/{kind}")
                    exp.create_dataset("idx_start", data=EXPERIMENT_START)
                    exp.create_dataset("count", data=N - EXPERIMENT_START - TAIL)
                    exp["timeseries"] = h5py.SoftLink(target.name)
    return path


@pytest.fixture(params=[("1.1", True), ("1.1", False), (None, True)], ids=["v1.1-bytes", "v1.1-str", "legacy-SI"])
def nwb(request, tmp_path) -> Path:
    version, as_bytes = request.param
    return write_allen_nwb(tmp_path / "cell.nwb", version=version, as_bytes=as_bytes)


def test_long_square_sweeps_in_nA_mV_ms(nwb):
    assert sweep_numbers(nwb) == [10, 11, 12]
    assert sweep_numbers(nwb, "Short Square") == [13]
    sweeps = read_long_square_sweeps(nwb)
    assert [s.sweep_number for s in sweeps] == [10, 11]  # sweep 12 injects no current
    for s, amp_pa in zip(sweeps, (100.0, -70.0)):
        assert isinstance(s, LongSquareSweep)
        assert s.sampling_rate == RATE
        assert s.stim_start == pytest.approx(1020.0) and s.stim_end == pytest.approx(2020.0)
        assert s.amplitude == pytest.approx(amp_pa * 1e-3)
        n_valid = N - TAIL
        assert s.t.shape == s.v.shape == s.i.shape == (n_valid,)
        assert s.t[1] == pytest.approx(0.05) and s.t[-1] == pytest.approx((n_valid - 1) * 0.05)
        mid = (STEP[0] + STEP[1]) // 2
        assert s.i[mid] == pytest.approx(amp_pa * 1e-3, rel=1e-5)
        assert s.v[mid] == pytest.approx(-70.0 + 0.1 * amp_pa, rel=1e-5)
        assert s.v[100] == pytest.approx(-70.0, rel=1e-5)
        trace = s.efel_trace()
        assert trace["stim_start"] == [s.stim_start] and trace["stim_end"] == [s.stim_end]
        assert trace["T"] is s.t and trace["V"] is s.v


def test_without_experiment_epoch_the_test_pulse_is_not_the_step(tmp_path):
    path = write_allen_nwb(tmp_path / "cell.nwb", version="1.1", as_bytes=True)
    with h5py.File(path, "r+") as f:
        del f["epochs/Experiment_10"]
        del f["stimulus/presentation/Sweep_10/aibs_stimulus_amplitude_pa"]
    s = read_sweep(path, 10)
    assert s.stim_start == pytest.approx(1020.0) and s.stim_end == pytest.approx(2020.0)
    assert s.amplitude == pytest.approx(0.1, rel=1e-5)  # measured from the trace without the metadata
    assert s.t.size == N


def test_reader_agrees_with_allensdk(tmp_path):
    """allensdk's own NwbDataSet reads the file written here the same way (legacy SI file)."""
    path = write_allen_nwb(tmp_path / "cell.nwb", version=None, as_bytes=True)
    prepare_allensdk()
    from allensdk.core.nwb_data_set import NwbDataSet

    ds = NwbDataSet(str(path))
    ref = ds.get_sweep(10)
    ours = read_sweep(path, 10)
    start, stop = ref["index_range"]
    assert (start, stop) == (EXPERIMENT_START, N - TAIL - 1)
    assert ref["sampling_rate"] == ours.sampling_rate
    np.testing.assert_allclose(ref["stimulus"][: stop + 1] * 1e9, ours.i)
    np.testing.assert_allclose(ref["response"][: stop + 1] * 1e3, ours.v)
    assert ds.get_sweep_metadata(10)["aibs_stimulus_amplitude_pa"] == pytest.approx(ours.amplitude * 1e3)


def test_bad_nwb_files_are_named(tmp_path):
    with pytest.raises(DataError, match="cell.nwb: NWB file not found"):
        read_long_square_sweeps(tmp_path / "cell.nwb")
    (tmp_path / "text.nwb").write_text("not hdf5")
    with pytest.raises(DataError, match="text.nwb: not a readable HDF5/NWB file"):
        read_long_square_sweeps(tmp_path / "text.nwb")
    path = write_allen_nwb(tmp_path / "ok.nwb", version="1.1", as_bytes=True)
    with pytest.raises(DataError, match=r"ok.nwb: no sweep 99 \(epochs/Sweep_99 missing\)"):
        read_sweep(path, 99)
    with h5py.File(path, "r+") as f:
        f["acquisition/timeseries/Sweep_11/data"].attrs["unit"] = "Amps"
    with pytest.raises(DataError, match="ok.nwb: sweep 11 response unit is 'Amps', expected Volts"):
        read_sweep(path, 11)


def test_download_fails_clearly_when_offline(tmp_path):
    with socket.socket() as s:  # a loopback port with nothing listening: the API cannot be reached
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError) as err:
        download_ephys_nwb(689331391, cache=tmp_path, base_uri=f"http://127.0.0.1:{port}")
    msg = str(err.value)
    assert "Allen specimen 689331391" in msg and "network access" in msg
    assert not list(tmp_path.rglob("*.nwb"))
