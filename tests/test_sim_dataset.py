"""Dataset generation: layout, data card, determinism, resuming after an interruption, CLI errors, Dask."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import noble.sim.dataset as dataset_mod
from noble.cli import main
from noble.features import spike_counts
from noble.sim.dataset import QUICK_AMPLITUDES, QUICK_HOFS, generate_dataset, grid_plan, sampled_plan
from noble.sim.traces import read_dataset
from noble.sim.protocol import StepProtocol

CELL = "human_pvalb_689331391"
#: A short protocol keeping these tests fast: 120 ms traces, step 10-90 ms, 50 ms settling.
SHORT = StepProtocol(t_stop=120.0, stim_start=10.0, stim_duration=80.0, n_samples=2000, settle=50.0)


def test_quick_dataset_layout(quick_dataset: Path, pvalb):
    ds = read_dataset(quick_dataset)
    n = len(QUICK_HOFS) * len(QUICK_AMPLITUDES)
    assert ds.voltage.shape == (n, 8583) and ds.voltage.dtype == np.float32
    assert ds.amplitude.tolist() == [a for _ in QUICK_HOFS for a in QUICK_AMPLITUDES]
    assert ds.hof.tolist() == [h for h in QUICK_HOFS for _ in QUICK_AMPLITUDES]
    assert np.allclose(ds.time, np.arange(8583) * 0.06)
    assert ds.engine == "arbor" and ds.attrs["engine_version"].startswith("arbor")
    assert ds.protocol.dt == 0.02 and ds.decimation == 3 and ds.dt_ms == ds.protocol.dt_out
    assert ds.protocol.stim_start == 15.0 and ds.attrs["recipe"] == "quick"
    # the data card is canonical JSON and its checksums match the package files
    card = json.loads(ds.data_card)
    assert json.dumps(card, sort_keys=True, separators=(",", ":")) == ds.data_card
    assert card["n_traces"] == n and card["hofs"] == sorted(QUICK_HOFS)
    for rel, digest in card["checksums"].items():
        assert hashlib.sha256((pvalb.root / rel).read_bytes()).hexdigest() == digest
    assert len(card["checksums"]) == len(QUICK_HOFS) + 1
    counts = spike_counts(ds.voltage, ds.time)
    by_amp = {a: counts[ds.amplitude == a] for a in QUICK_AMPLITUDES}
    assert np.all(by_amp[-0.11] == 0) and np.all(by_amp[0.1] > 5) and np.all(by_amp[0.2] > by_amp[0.1])


def test_sampled_plan_is_deterministic_and_uses_the_split(pvalb, data_root):
    a = sampled_plan(CELL, 40, seed=3, split="test", root=data_root)
    b = sampled_plan(CELL, 40, seed=3, split="test", root=data_root)
    c = sampled_plan(CELL, 40, seed=4, split="test", root=data_root)
    assert a == b and a.fingerprint() == b.fingerprint()
    assert a.amplitude != c.amplitude
    assert set(a.hof) <= set(pvalb.split.test)
    assert a.seed == 3 and a.sampler["law"] == "truncated skew-normal"


def _short_plan(root, hofs=(0, 1), amplitudes=(0.1, -0.11, 0.2)):
    return grid_plan(CELL, list(hofs), list(amplitudes), protocol=SHORT, root=root)


def test_resume_after_interruption_gives_the_same_file(tmp_path, data_root, monkeypatch):
    plan = _short_plan(data_root, hofs=(0,))
    ref = generate_dataset(tmp_path / "ref.h5", plan, root=data_root, chunk_size=1, progress=False)

    calls = {"n": 0}
    real = dataset_mod.simulate_chunk

    def interrupted(task):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(task)

    out = tmp_path / "resumed.h5"
    monkeypatch.setattr(dataset_mod, "simulate_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(out, plan, root=data_root, chunk_size=1, progress=False)
    assert not out.exists()
    assert len(list((tmp_path / "resumed.h5.parts").glob("chunk_*.npy"))) == 1
    monkeypatch.setattr(dataset_mod, "simulate_chunk", real)
    seen = []
    monkeypatch.setattr(dataset_mod, "simulate_chunk", lambda task: seen.append(task) or real(task))
    generate_dataset(out, plan, root=data_root, chunk_size=1, progress=False)
    assert len(seen) == 2  # only the missing chunks ran
    _assert_same_file(ref, out)
    assert not (tmp_path / "resumed.h5.parts").exists()


def test_resume_after_kill(tmp_path, data_root):
    out = tmp_path / "killed.h5"
    script = (
        "from noble.sim.dataset import generate_dataset, grid_plan\n"
        "from noble.sim.protocol import StepProtocol\n"
        f"p = StepProtocol(**{SHORT.as_dict()!r})\n"
        f"plan = grid_plan({CELL!r}, [0], [0.1, -0.11, 0.2, 0.05], protocol=p, root={str(data_root)!r})\n"
        f"generate_dataset({str(out)!r}, plan, root={str(data_root)!r}, chunk_size=1, progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    parts = tmp_path / "killed.h5.parts"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not list(parts.glob("chunk_*.npy")):
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "the run finished before it could be killed"
    done_before = len(list(parts.glob("chunk_*.npy")))
    assert 1 <= done_before < 4
    plan = _short_plan(data_root, hofs=(0,), amplitudes=(0.1, -0.11, 0.2, 0.05))
    generate_dataset(out, plan, root=data_root, chunk_size=1, progress=False)
    ref = generate_dataset(tmp_path / "ref.h5", plan, root=data_root, chunk_size=4, progress=False)
    _assert_same_file(ref, out)


def _assert_same_file(a: Path, b: Path) -> None:
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert sorted(fa) == sorted(fb)
        for key in fa:
            assert np.array_equal(fa[key][...], fb[key][...]), key
        assert dict(fa.attrs) == dict(fb.attrs)


def test_rerun_of_a_finished_command_keeps_the_file_and_other_plans_are_refused(tmp_path, data_root):
    plan = _short_plan(data_root, hofs=(0,), amplitudes=(0.1,))
    out = generate_dataset(tmp_path / "d.h5", plan, root=data_root, progress=False)
    stamp = out.stat().st_mtime_ns
    generate_dataset(out, plan, root=data_root, progress=False)
    assert out.stat().st_mtime_ns == stamp
    other = _short_plan(data_root, hofs=(0,), amplitudes=(0.2,))
    with pytest.raises(Exception, match="another dataset"):
        generate_dataset(out, other, root=data_root, progress=False)


def test_dask_scheduler_gives_the_same_traces(tmp_path, data_root):
    distributed = pytest.importorskip("distributed")
    plan = _short_plan(data_root, hofs=(0,), amplitudes=(0.1, -0.11))
    local = generate_dataset(tmp_path / "local.h5", plan, root=data_root, progress=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        remote = generate_dataset(tmp_path / "dask.h5", plan, root=data_root, scheduler=cluster.scheduler_address,
                                  chunk_size=1, progress=False)
    _assert_same_file(local, remote)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--amplitudes=0.1,0.5", "--hofs", "0"], "outside the validated range"),
        (["--amplitudes=0.1,nan", "--hofs", "0"], "not a finite number"),
        (["--amplitudes=0.1", "--hofs", "0", "--engine", "nest"], "unknown engine 'nest'"),
        (["--amplitudes=0.1", "--hofs", "99"], "no HoF model with global index 99"),
        (["--amplitudes=0.1", "--n-samples", "3"], "not both"),
        (["--hofs", "0"], "nothing to simulate"),
    ],
)
def test_cli_errors(args, message, tmp_path, data_root, capsys):
    code = main(["simulate", "--root", str(data_root), "--out", str(tmp_path / "x.h5"), *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


def test_read_dataset_errors(tmp_path):
    with pytest.raises(Exception, match="not found"):
        read_dataset(tmp_path / "none.h5")
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as fh:
        fh["voltage"] = np.zeros((2, 3), np.float32)
    with pytest.raises(Exception, match="missing dataset 'amplitude'"):
        read_dataset(bad)
