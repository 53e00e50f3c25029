"""The one dataset format (noble.sim.traces): round trip, protocol-derived template, legacy files."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from noble.cli import main
from noble.errors import DataError
from noble.hashing import canonical_json
from noble.sim.protocol import PAPER_PROTOCOL, PAPER_TEMPLATE, StepProtocol, grid_protocol, template_of
from noble.embedding import StimulusTemplate
from noble.sim.traces import FILE_FORMAT, read_dataset, upgrade_dataset, write_dataset

SHORT = StepProtocol(t_stop=30.0, stim_start=5.0, stim_duration=20.0, dt=0.5, decimation=2, n_samples=30, settle=0.0)


def _traces(n: int, protocol: StepProtocol, seed: int = 0) -> np.ndarray:
    return (-70.0 + np.random.default_rng(seed).normal(size=(n, protocol.n_samples))).astype(np.float32)


def test_round_trip_keeps_protocol_card_and_extras(tmp_path):
    volt = _traces(3, SHORT)
    card = canonical_json({"my": "card", "n": 3})
    path = write_dataset(tmp_path / "d.h5", volt, [0.1, -0.05, 0.2], [4, 4, 7], SHORT, cell="c", engine="arbor",
                         seed=11, data_card=card, attrs={"plan_sha256": "abc", "checksums": {"a.json": "00"}})
    ds = read_dataset(path)
    assert ds.protocol == SHORT and ds.dt_ms == pytest.approx(1.0) and ds.decimation == 2
    assert np.array_equal(ds.voltage, volt) and ds.amplitude.tolist() == [0.1, -0.05, 0.2] and ds.hof.tolist() == [4, 4, 7]
    assert np.allclose(ds.time, np.arange(30) * 1.0)
    assert ds.data_card == card and ds.seed == 11 and ds.cell == "c" and ds.engine == "arbor"
    assert ds.attrs["plan_sha256"] == "abc" and ds.attrs["checksums"] == {"a.json": "00"}
    assert ds.template == template_of(SHORT)
    assert (ds.template.n_samples, ds.template.dt_ms, ds.template.delay_ms, ds.template.duration_ms) == (30, 1.0, 5.0, 20.0)
    with h5py.File(path) as fh:
        assert fh.attrs["format"] == FILE_FORMAT and fh["voltage"].attrs["units"] == "mV"
    assert not list(tmp_path.glob("*.tmp"))  # written atomically
    sub = ds.select(np.array([2, 0]))
    assert sub.hof.tolist() == [7, 4] and sub.data_card == card and sub.protocol == SHORT
    both = ds.concat(sub)
    assert len(both) == 5 and both.amplitude.tolist()[-2:] == [0.2, 0.1]
    assert json.loads(both.data_card) == {"concatenation": [{"data_card_sha256": ds.data_card_sha256, "n_traces": 3},
                                                            {"data_card_sha256": sub.data_card_sha256, "n_traces": 2}]}
    # concatenations of concatenations list their parts once, whatever the grouping; a coarsened one stays a part
    three = ds.select(np.array([1]))
    assert ds.concat(sub).concat(three).data_card == ds.concat(sub.concat(three)).data_card
    assert len(json.loads(ds.concat(sub).concat(three).data_card)["concatenation"]) == 3
    from noble.sim.traces import concat_datasets

    assert concat_datasets([ds, sub, three]).data_card == ds.concat(sub).concat(three).data_card
    assert concat_datasets([ds]) is ds
    with pytest.raises(DataError, match="no datasets"):
        concat_datasets([])
    assert len(json.loads(both.coarsened(2).concat(three.coarsened(2)).data_card)["concatenation"]) == 2
    # a model card's data block names every file of a concatenation, in order, with the traces taken from each
    described = ds.concat(sub).concat(three).describe()
    assert described["file"] == f"{path.name} + {path.name} + {path.name}" and described["n_traces"] == 6
    assert [p["n_traces"] for p in described["parts"]] == [3, 2, 1]
    assert described["data_card_sha256"] == ds.concat(sub).concat(three).data_card_sha256
    assert "parts" not in ds.describe() and ds.describe()["file"] == path.name


def test_paper_template_is_derived_from_the_paper_protocol():
    assert PAPER_TEMPLATE == template_of(PAPER_PROTOCOL)
    assert (PAPER_TEMPLATE.n_samples, PAPER_TEMPLATE.delay_ms, PAPER_TEMPLATE.stim_end_ms) == (8583, 15.0, 415.0)
    assert PAPER_TEMPLATE.dt_ms == pytest.approx(0.06)
    grid = grid_protocol(template_of(SHORT))
    assert template_of(grid) == template_of(SHORT) and grid.decimation == 1 and grid.settle == 0.0


def test_writer_refuses_bad_input(tmp_path):
    with pytest.raises(DataError, match="StepProtocol"):
        write_dataset(tmp_path / "x.h5", _traces(1, SHORT), [0.1], [0], {"delay_ms": 5.0}, cell="c", engine="e")
    with pytest.raises(DataError, match="voltage has shape"):
        write_dataset(tmp_path / "x.h5", np.zeros((1, 29)), [0.1], [0], SHORT, cell="c", engine="e")
    with pytest.raises(DataError, match="field of the format"):
        write_dataset(tmp_path / "x.h5", _traces(1, SHORT), [0.1], [0], SHORT, cell="c", engine="e",
                      attrs={"protocol": "x"})
    assert not (tmp_path / "x.h5").exists()


def _legacy_file(path, protocol_attr, card, dt_grid: float, n: int, decimation: int = 3):
    """A file of the older training layout, as noble's training writer used to write it."""
    time = np.arange(n) * dt_grid
    with h5py.File(path, "w") as fh:
        fh.create_dataset("voltage", data=_traces(2, StepProtocol(t_stop=n * dt_grid, dt=dt_grid, decimation=1, n_samples=n, stim_start=1.0, stim_duration=1.0, settle=0.0))).attrs["units"] = "mV"
        fh.create_dataset("amplitude", data=np.array([0.1, 0.2])).attrs["units"] = "nA"
        fh.create_dataset("hof", data=np.array([0, 1]))
        fh.create_dataset("time", data=time).attrs["units"] = "ms"
        fh.attrs.update({"cell": "c", "engine": "arbor", "dt_ms": dt_grid, "decimation": decimation,
                         "protocol": canonical_json(protocol_attr), "seed": 3, "data_card": card,
                         "plan_sha256": "feed"})
    return path


def test_legacy_training_layout_is_refused_with_the_command_then_upgraded(tmp_path):
    card = canonical_json({"protocol": PAPER_PROTOCOL.as_dict(), "n_traces": 2})
    old = _legacy_file(tmp_path / "old.h5", {"delay_ms": 15.0, "duration_ms": 400.0, "t_stop_ms": 515.0,
                                             "solver_dt_ms": 0.02, "settle_ms": 500.0}, card, 0.06, 8583)
    with pytest.raises(DataError, match=r"noble upgrade-dataset .*old\.h5"):
        read_dataset(old)
    assert main(["upgrade-dataset", str(old)]) == 0
    ds = read_dataset(old)
    assert ds.protocol == PAPER_PROTOCOL  # taken from the data card
    assert ds.data_card == card and ds.seed == 3 and ds.attrs["plan_sha256"] == "feed"
    assert "dt_ms" not in ds.attrs and "decimation" not in ds.attrs
    assert upgrade_dataset(old) == old  # already in the format: left as it is
    assert read_dataset(old).data_card == card


def test_legacy_synthetic_file_without_a_protocol_in_its_card(tmp_path):
    card = canonical_json({"cell": "c", "n_traces": 2})
    old = _legacy_file(tmp_path / "syn.h5", {"delay_ms": 15.0, "duration_ms": 200.0, "t_stop_ms": 300.0}, card, 1.0, 300)
    new = upgrade_dataset(old, tmp_path / "new.h5")
    ds = read_dataset(new)
    assert ds.template.n_samples == 300 and ds.template.dt_ms == pytest.approx(1.0)
    assert (ds.template.delay_ms, ds.template.duration_ms) == (15.0, 200.0)
    assert json.loads(ds.data_card) == {"cell": "c", "n_traces": 2}
    with pytest.raises(DataError, match="older training layout"):
        read_dataset(old)  # the original is untouched


def test_reader_names_what_is_wrong(tmp_path):
    path = write_dataset(tmp_path / "d.h5", _traces(1, SHORT), [0.1], [0], SHORT, cell="c", engine="e")
    with h5py.File(path, "a") as fh:
        fh["voltage"].attrs["units"] = "V"
    with pytest.raises(DataError, match="voltage units are 'V'"):
        read_dataset(path)
    path = write_dataset(tmp_path / "d.h5", _traces(1, SHORT), [0.1], [0], SHORT, cell="c", engine="e")
    with h5py.File(path, "a") as fh:
        del fh["time"]
        fh.create_dataset("time", data=np.arange(30) * 0.5)
    with pytest.raises(DataError, match="not the protocol's"):
        read_dataset(path)
    path = write_dataset(tmp_path / "d.h5", _traces(1, SHORT), [0.1], [0], SHORT, cell="c", engine="e")
    with h5py.File(path, "a") as fh:
        fh.attrs["protocol"] = canonical_json({"nothing": 1})
    with pytest.raises(DataError, match="not a step protocol"):
        read_dataset(path)
    with pytest.raises(DataError, match="not found"):
        read_dataset(tmp_path / "missing.h5")


def test_files_of_the_earlier_noble_simulate_load_unchanged(tmp_path):
    """``noble simulate`` wrote this layout before the format was named: no ``format``, no units attributes."""
    path = tmp_path / "sim.h5"
    card = canonical_json({"format": "noble-sim-dataset/1", "protocol": SHORT.as_dict()})
    with h5py.File(path, "w") as fh:
        fh.create_dataset("voltage", data=_traces(2, SHORT))
        fh.create_dataset("amplitude", data=np.array([0.1, 0.2]))
        fh.create_dataset("hof", data=np.array([3, 3]))
        fh.create_dataset("time", data=SHORT.time())
        fh.attrs.update({"cell": "c", "engine": "arbor", "engine_version": "arbor 0.12.2", "dt_ms": SHORT.dt,
                         "dt_out_ms": SHORT.dt_out, "decimation": SHORT.decimation,
                         "protocol": canonical_json(SHORT.as_dict()), "seed": -1, "data_card": card,
                         "sampler": "null", "checksums": canonical_json({"m.swc": "aa"})})
    ds = read_dataset(path)
    assert ds.protocol == SHORT and ds.data_card == card and ds.attrs["checksums"] == {"m.swc": "aa"}
    assert ds.attrs["engine_version"] == "arbor 0.12.2" and ds.hof.tolist() == [3, 3]
    assert upgrade_dataset(path) == path  # nothing to convert


def test_the_pipeline_upgrades_its_cached_legacy_file_instead_of_resimulating(tmp_path, data_root):
    from noble.pipeline.steps import _simulate
    from noble.sim.dataset import grid_plan

    plan = grid_plan("human_pvalb_689331391", [0], [0.1, 0.2], root=data_root)
    card = canonical_json({"protocol": PAPER_PROTOCOL.as_dict(), "n_traces": 2})
    old = _legacy_file(tmp_path / "train.h5", {"delay_ms": 15.0, "duration_ms": 400.0, "t_stop_ms": 515.0,
                                               "solver_dt_ms": 0.02, "settle_ms": 500.0}, card, 0.06, 8583)
    with h5py.File(old, "a") as fh:
        fh.attrs["plan_sha256"] = plan.fingerprint()
    before = read_voltage(old)
    assert _simulate(old, plan, workers=1) == old
    ds = read_dataset(old)
    assert ds.data_card == card and ds.protocol == PAPER_PROTOCOL and np.array_equal(ds.voltage, before)
    assert not (tmp_path / "train.h5.parts").exists()  # nothing was simulated


def read_voltage(path):
    with h5py.File(path) as fh:
        return fh["voltage"][...]


def test_a_coarsened_dataset_keeps_slow_signals_and_spike_counts_on_a_coarser_grid(tmp_path):
    from noble.sim.protocol import ProtocolError, coarser_protocol
    from noble.spikes import spike_counts, window_mask

    t = PAPER_PROTOCOL.time()
    slow = -70.0 + 5.0 * np.sin(2 * np.pi * t / 100.0)  # 10 Hz: far below the coarse grid's Nyquist
    spiking = slow.copy()
    for t0 in (50.0, 120.0, 300.0):  # three 1-ms spikes to +20 mV inside the step
        spiking[(t >= t0) & (t < t0 + 1.0)] = 20.0
    volt = np.stack([slow, spiking]).astype(np.float32)
    card = canonical_json({"engine": "arbor", "n": 2})
    ds = read_dataset(write_dataset(tmp_path / "d.h5", volt, [0.0, 0.2], [0, 0], PAPER_PROTOCOL, cell="c",
                                    engine="arbor", seed=1, data_card=card))
    coarse = ds.coarsened(2)
    assert coarse.protocol == coarser_protocol(PAPER_PROTOCOL, 2)
    assert (coarse.protocol.decimation, coarse.voltage.shape) == (6, (2, 4292))
    assert coarse.dt_ms == pytest.approx(0.12) and np.allclose(coarse.time, t[::2])
    assert coarse.template == StimulusTemplate(4292, 0.12, 15.0, 400.0)
    # away from the edges the low-pass keeps a slow signal to within its ripple
    np.testing.assert_allclose(coarse.voltage[0, 100:-100], slow[::2][100:-100], atol=0.01)
    counts = lambda d: spike_counts(d.voltage, window_mask(d.time, 15.0, 415.0)).tolist()  # noqa: E731
    assert counts(coarse) == counts(ds) == [0, 3]
    assert json.loads(coarse.data_card) == {"engine": "arbor", "n": 2, "coarsened_by": 2}
    assert coarse.data_card_sha256 != ds.data_card_sha256  # a model trained on it does not claim ds
    assert ds.coarsened(1).voltage.tolist() == ds.voltage.tolist()
    with pytest.raises(ProtocolError, match="positive integer"):
        ds.coarsened(0)
