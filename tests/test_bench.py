"""`noble bench` (the paper's speed table) and scripts/gpu_bench.py, in CPU smoke mode."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from noble.bench.table import COLUMNS, add_speedups, format_table, make_row, read_csv, write_csv
from noble.bench.timing import time_batches
from noble.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_rows_derive_rates_paper_values_and_speedups(tmp_path: Path) -> None:
    rows = [
        make_row("pde", "neuron", device="cpu", workers=1, n_traces=2, total_s=8.0),
        make_row("pde", "arbor", device="cpu", workers=1, n_traces=4, total_s=2.0),
        make_row("pde", "arbor", device="cpu", workers=8, n_traces=4, total_s=0.5),
        make_row("noble", "fast", device="cuda:H200", batch_size=1000, n_traces=2000, total_s=0.05),
        make_row("noble", "fast", device="cpu", batch_size=1, n_traces=10, total_s=1.0),
    ]
    assert rows[0]["s_per_trace"] == 4.0 and rows[0]["s_per_10k"] == 40_000.0
    assert rows[0]["paper_s_per_10k"] == 36_200.0
    assert rows[3]["paper_s_per_10k"] == 8.59 and rows[4]["paper_s_per_10k"] == ""
    table = add_speedups(rows)
    assert table[3]["speedup_vs_neuron"] == pytest.approx(4.0 / 2.5e-5)
    assert table[3]["speedup_vs_arbor"] == pytest.approx(0.5 / 2.5e-5)  # against Arbor on one core
    assert table[2]["speedup_vs_arbor"] == pytest.approx(0.5 / 0.125)  # the 8-core Arbor run: its parallel gain
    # equal cores: a row on 8 threads against Arbor on 8 workers; no 8-worker NEURON row, so that cell is blank
    eight = add_speedups([*rows, make_row("noble", "fast", device="cpu", workers=8, n_traces=64, total_s=0.064)])[-1]
    assert eight["speedup_vs_arbor_equal_cores"] == pytest.approx(0.125 / 0.001)
    assert eight["speedup_vs_arbor"] == pytest.approx(0.5 / 0.001) and eight["speedup_vs_neuron_equal_cores"] == ""
    assert table[4]["speedup_vs_neuron_equal_cores"] == pytest.approx(table[4]["speedup_vs_neuron"])  # 1 vs 1 core
    assert table[0]["speedup_vs_neuron"] == pytest.approx(1.0)
    text = format_table(table)
    assert text.splitlines()[0].split()[0] == "part" and len(text.splitlines()) == 2 + len(rows)
    back = read_csv(write_csv(table, tmp_path / "t.csv"))
    assert [r["method"] for r in back] == [r["method"] for r in table]
    assert back[3]["speedup_vs_neuron"] == pytest.approx(table[3]["speedup_vs_neuron"])
    with pytest.raises(ValueError, match="unknown speed-table column"):
        make_row("noble", "fast", bogus=1)


def test_time_batches_counts_warmup_apart() -> None:
    calls: list[int] = []
    timing = time_batches(calls.append, batch_size=4, n_traces=10, warmup=2, progress=False)
    assert calls == [0, 1, 0, 1, 2]  # two warm-up calls, then ceil(10 / 4) timed batches
    assert timing.n_batches == 3 and timing.n_traces == 12
    assert timing.total_s >= 0 and timing.warmup_s >= 0
    with pytest.raises(ValueError, match="must be positive"):
        time_batches(calls.append, batch_size=0, n_traces=1)


def test_parallel_pde_rows_give_every_worker_as_many_traces_as_the_serial_run(monkeypatch) -> None:
    from types import SimpleNamespace

    from noble.bench import speed_table

    calls = []

    def fake_bench_sim(cell, engines, n_traces, amplitudes, workers):
        calls.append((tuple(engines), n_traces, workers))
        return [{"engine": e, "version": "x", "hof": 0, "n_traces": n_traces, "workers": workers,
                 "seconds_per_trace": 1.0 / workers, "rel_l2_vs_first": 0.0} for e in engines]

    monkeypatch.setattr(speed_table, "bench_sim", fake_bench_sim)
    settings = speed_table.BenchSettings(engines=("neuron", "arbor"), pde_traces=3, workers=2)
    rows = speed_table.pde_rows(SimpleNamespace(name="c"), settings)
    assert calls == [(("neuron", "arbor"), 3, 1), (("neuron", "arbor"), 6, 2)]
    assert [(r["method"], r["workers"], r["n_traces"]) for r in rows] == [
        ("neuron", 1, 3), ("arbor", 1, 3), ("neuron", 2, 6), ("arbor", 2, 6)]
    assert rows[1]["rel_l2_vs_pde"] == 0.0 and rows[3]["rel_l2_vs_pde"] == 0.0  # accuracy beside each PDE row


def test_noble_bench_quick_on_cpu(data_root: Path, tmp_path: Path, capsys, one_thread) -> None:
    out = tmp_path / "speed.csv"
    status = main(["bench", "--quick", "--profile", "quick", "--device", "cpu", "--cpu-batches", "1,3",
                   "--n-traces", "3", "--workers", "1", "--no-progress", "--threads", "1", "--out", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "equivalence_rel_err" in printed and f"wrote {out}" in printed
    assert "torch intra-op threads: 1 of" in printed and "(as asked)" in printed
    assert "[noble bench] fastest on cpu: " in printed  # the batch and transform this machine should use
    rows = read_csv(out)
    assert list(rows[0]) == list(COLUMNS)
    pde = [r for r in rows if r["part"] == "pde"]
    assert [(r["method"], r["workers"], r["n_traces"]) for r in pde] == [("arbor", 1, 1)]
    assert pde[0]["s_per_trace"] > 0 and pde[0]["speedup_vs_arbor"] == pytest.approx(1.0)
    noble = [r for r in rows if r["part"] == "noble"]
    # the fast path with each exact spectral transform, and its ONNX export run by onnxruntime
    fast = ("fast[dft]", "fast[fft]", "fast[czt]", "onnxruntime")
    assert {(r["method"], r["batch_size"]) for r in noble} == {(m, b) for m in ("neuralop", *fast) for b in (1, 3)}
    for r in noble:
        assert r["device"] == "cpu" and r["n_traces"] == 3
        assert r["s_per_trace"] > 0 and r["warmup_s"] >= 0 and r["cpu_s_per_trace"] > 0
        assert r["speedup_vs_arbor"] == pytest.approx(pde[0]["s_per_trace"] / r["s_per_trace"])
        assert r["speedup_vs_neuron"] == ""  # NEURON was not run
        assert r["speedup_vs_arbor_equal_cores"] == pytest.approx(r["speedup_vs_arbor"])  # one thread, one worker
        if r["method"] in fast:
            assert 0 <= r["equivalence_rel_err"] < 1e-5
        else:
            assert r["equivalence_rel_err"] == "" and r["note"] == "reference"


def test_noble_bench_with_model_measures_error_against_pde(data_root: Path, pvalb, tmp_path: Path,
                                                          one_thread) -> None:
    from noble.bench.speed_table import untrained_model
    from noble.checkpoint import build_card, save_model

    model = untrained_model(pvalb, "quick")
    save_model(tmp_path / "model", model, build_card(model, name="bench"))
    out = tmp_path / "speed.csv"
    assert main(["bench", "nn", "--model", str(tmp_path / "model"), "--device", "cpu", "--batches", "1",
                 "--n-traces", "1", "--accuracy-traces", "1", "--no-progress", "--out", str(out)]) == 0
    rows = {r["method"]: r for r in read_csv(out)}
    assert set(rows) == {"neuralop", "fast[dft]", "fast[fft]", "fast[czt]", "onnxruntime"}
    # an untrained network is far from the PDE trace; every path is equally far
    assert rows["neuralop"]["rel_l2_vs_pde"] > 0.01
    for method in ("fast[dft]", "fast[fft]", "fast[czt]", "onnxruntime"):
        assert rows[method]["rel_l2_vs_pde"] == pytest.approx(rows["neuralop"]["rel_l2_vs_pde"], rel=1e-4)
        assert "arbor" in rows[method]["note"]


def test_noble_bench_reports_bad_requests(data_root: Path, capsys) -> None:
    assert main(["bench", "nn", "--model", "/nonexistent/model"]) == 2
    assert "no such model directory" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["bench", "nn", "--device", "cuda"]) == 2
        assert "no CUDA GPU is visible" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--batches", "0"])


def test_gpu_bench_smoke_runs_every_variant_on_cpu(tmp_path: Path, monkeypatch) -> None:
    spec = importlib.util.spec_from_file_location("gpu_bench", ROOT / "scripts" / "gpu_bench.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_bench", module)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    assert module.main(["--smoke", "--out-dir", str(tmp_path)]) == 0
    assert torch.get_num_threads() == threads
    result = json.loads((tmp_path / "gpu_bench.json").read_text())
    checks = result["checks"]
    assert checks["inference_fp32_check"] == "pass" and checks["gradient_check"] == "pass"
    assert checks["gradient_rel_err_fp32"] < 1e-4
    rows = result["rows"]
    assert not [r for r in rows if "note" in r], [r["note"] for r in rows if "note" in r]
    inference = {(r["variant"], r["batch"]) for r in rows if r["kind"] == "inference"}
    for variant in ("neuralop fp32", "fast fp32", "fast tf32", "fast bf16", "fast fp32 [fft]", "fast fp32 [czt]"):
        assert {(variant, 1), (variant, 4)} <= inference
    assert {("fast tf32 compiled", 4), ("fast bf16 compiled", 4)} <= inference
    train = [r for r in rows if r["kind"] == "train"]
    assert {r["variant"] for r in train} == {"neuralop fp32", "fast fp32", "fast tf32", "fast bf16",
                                             "fast tf32 compiled", "fast bf16 compiled"}
    assert all(r["epoch_s"] > 0 for r in train)
    bf16 = [r for r in rows if r["kind"] == "inference" and r["variant"] == "fast bf16"]
    assert all(0 < r["rel_err_vs_ref"] < 5e-2 for r in bf16)
    assert (tmp_path / "gpu_bench.csv").read_text().startswith("kind,variant,batch")


def test_a_cached_speed_table_of_another_column_layout_is_measured_again(tmp_path: Path, monkeypatch) -> None:
    from noble.pipeline import speed
    from noble.pipeline.profiles import get_profile

    calls = []

    def fake_speed_table(settings, model_dir=None, log=print):
        calls.append(settings.batches)
        return [make_row("pde", "arbor", device="cpu", workers=1, n_traces=1, total_s=1.0)]

    monkeypatch.setattr(speed, "speed_table", fake_speed_table)
    profile = get_profile("quick")
    first = speed.speed_rows_cached(profile, "human_pvalb_689331391", tmp_path)
    assert speed.speed_rows_cached(profile, "human_pvalb_689331391", tmp_path) == first and len(calls) == 1
    monkeypatch.setattr(speed, "COLUMNS", (*COLUMNS, "a_later_column"))  # the table layout changed since
    speed.speed_rows_cached(profile, "human_pvalb_689331391", tmp_path)
    assert len(calls) == 2
