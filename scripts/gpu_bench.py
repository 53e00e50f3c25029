#!/usr/bin/env python
"""Build, check and time every way of running the paper's FNO on one GPU, in one command.

Variants (inference at batch 1, 64 and 1000; a training step at batch 64):

* ``neuralop fp32``      the reference ``neuralop.models.FNO`` (cuFFT on 8,583 = 3 x 2861 points), IEEE fp32;
* ``fast fp32/tf32/bf16`` :class:`noble.fast.FastFNO` (truncated-DFT matrix products) in each precision;
* ``fast ... +graphs``   the same replayed from a captured CUDA graph (batch <= 64);
* ``fast ... compiled``  ``torch.compile`` (inductor) of the fast path;
* ``fused ...``          the fast path with one Triton kernel per layer for the pointwise work (inference,
                         and training with its backward kernel).

Every variant runs the whole NOBLE query: amplitudes (nA) and neuron features go host -> GPU, the embedding
and FNO run on the GPU, voltages (mV) come back to the host; the first call (warm-up) is reported apart.
Equivalence: each inference variant's output against the reference on the same batch (fp32 must be < 1e-4
relative L2); the first training step's gradients of the fast (and fused) fp32 path against the reference.

Outputs ``gpu_bench.csv`` and ``gpu_bench.json`` (rows, checks, device, versions) under ``--out-dir`` and
prints the table.  Eager variants run first, then the ``torch.compile`` ones (several compiles); no new
variant starts after ``--time-budget`` seconds (default 420), so the command ends inside 10 minutes.

On a bare GPU machine with PyTorch, from the repository root (neuraloperator 2.0.0 and tensorly(-torch) are
pure-Python wheels; carry them if the machine cannot download)::

    pip install --no-deps neuraloperator==2.0.0 tensorly==0.10.0 tensorly-torch==0.5.0 opt-einsum
    python scripts/gpu_bench.py --out-dir $OUT

``--smoke`` runs the same logic with a tiny model on the CPU in seconds (compile with the ``eager`` backend).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from noble.bench.table import format_value  # noqa: E402
from noble.bench.timing import time_batches  # noqa: E402
from noble.fast.fused import triton_available  # noqa: E402
from noble.model import SpectralView  # noqa: E402
from noble.fast.runtime import CudaGraphRunner, precision, synchronize  # noqa: E402

#: Samples per training epoch in the paper (75,600 traces).
EPOCH_SAMPLES = 75_600
#: Batch sizes at which the compiled variants run (batch 1 is served by CUDA-graph replay).
COMPILE_BATCHES = (4, 64, 1000)
#: Relative L2 below which the fp32 fast path counts as the same function as the reference.
FP32_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Sizes:
    """Problem sizes: the paper's, or tiny ones for ``--smoke``."""

    profile: str
    n_samples: int
    dt_ms: float
    batches: tuple[int, ...]
    train_batch: int
    min_traces: int  # traces timed per (variant, batch) at least
    min_calls: int  # calls timed per (variant, batch) at least
    train_steps: int


PAPER = Sizes("paper", 8583, 0.06, (1, 64, 1000), 64, 1000, 20, 30)
SMOKE = Sizes("quick", 600, 0.9, (1, 4), 4, 4, 2, 2)


def build_model(sizes: Sizes, seed: int = 0):
    """A randomly initialised NOBLE model (paper embedding: 23 input channels) of the given size."""
    from noble.embedding import EmbeddingSpec, FeatureScaler, StimulusTemplate
    from noble.model import NobleModel, model_profile
    from noble.sim.protocol import PAPER_PROTOCOL

    spec = EmbeddingSpec()
    # PVALB-like feature ranges (slope Hz/nA, intercept nA); the values only set the embedding's scaling
    scaler = FeatureScaler(spec.features, (740.0, 0.0139), (850.0, 0.0195))
    torch.manual_seed(seed)
    template = StimulusTemplate(n_samples=sizes.n_samples, dt_ms=sizes.dt_ms,
                                delay_ms=PAPER_PROTOCOL.stim_start, duration_ms=PAPER_PROTOCOL.stim_duration)
    return NobleModel(model_profile(sizes.profile), spec, scaler, template).eval()


def make_queries(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Amplitudes [n] in the paper's range (nA) and raw features [n, 2] (slope, intercept), on the host."""
    g = torch.Generator().manual_seed(seed)
    amps = -0.11 + 0.39 * torch.rand(n, generator=g, dtype=torch.float64)
    feats = torch.stack([740 + 110 * torch.rand(n, generator=g, dtype=torch.float64),
                         0.0139 + 0.0056 * torch.rand(n, generator=g, dtype=torch.float64)], dim=1)
    return amps, feats


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    """``||a - b|| / ||b||`` over everything, in float64."""
    a, b = a.double().flatten(), b.double().flatten()
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


class InferenceVariant:
    """A callable ``(amps_host, feats_host) -> voltage_host`` for one way of running the model."""

    def __init__(self, name: str, net, device: torch.device, mode: str, graphs: bool = False,
                 compiled: bool = False, compile_backend: str = "inductor", fused: bool = False) -> None:
        self.name, self.net, self.device, self.mode, self.graphs = name, net, device, mode, graphs
        self.compiled = compiled
        self.forward = net
        self.voltage = getattr(net, "voltage", None)  # embedded input -> mV (the CUDA-graph part)
        if fused:
            from noble.fast.fused import fused_voltage

            self.voltage = lambda x: fused_voltage(net, x, mode)
            self.forward = lambda a, f: self.voltage(net.embedding(a, f))
        if compiled:
            self.forward = torch.compile(net, backend=compile_backend, dynamic=False)
        self.runner: CudaGraphRunner | None = None

    def __call__(self, amps: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        pin = self.device.type == "cuda"
        a = (amps.pin_memory() if pin else amps).to(self.device, non_blocking=True)
        f = (feats.pin_memory() if pin else feats).to(self.device, non_blocking=True)
        if self.graphs:  # the embedding runs eagerly, the FNO is replayed (see NobleModel.voltage)
            with torch.inference_mode():
                x = self.net.embedding(a, f)
            if self.runner is None or self.runner.static_inputs[0].shape != x.shape:
                self.runner = CudaGraphRunner(self.voltage, x, precision_mode=self.mode)
            return self.runner(x).float().cpu()
        with torch.inference_mode(), precision(self.mode, self.device):
            return self.forward(a, f).float().cpu()


def inference_variants(model, device: torch.device, smoke: bool, skip_compile: bool,
                       compile_backend: str) -> list[tuple[InferenceVariant, tuple[int, ...] | None]]:
    """(variant, batch sizes it runs at; None = all)."""
    model = model.to(device).eval()
    ref = model.reference_module().eval()
    fast = SpectralView(model, "auto").eval()
    cuda = device.type == "cuda"
    out: list[tuple[InferenceVariant, tuple[int, ...] | None]] = [
        (InferenceVariant("neuralop fp32", ref, device, "fp32"), None)]
    for mode in ("fp32", "tf32", "bf16"):
        out.append((InferenceVariant(f"fast {mode}", fast, device, mode), None))
    for spectral in ("fft", "czt"):  # the other exact spectral transforms (fast fp32 is the truncated DFT)
        other = SpectralView(model, spectral).eval()
        out.append((InferenceVariant(f"fast fp32 [{spectral}]", other, device, "fp32"), None))
    if cuda:
        for mode in ("fp32", "tf32", "bf16"):
            out.append((InferenceVariant(f"fast {mode} +graphs", fast, device, mode, graphs=True), (1, 64)))
    if cuda and triton_available():  # one Triton kernel for the pointwise work of each layer
        for mode in ("fp32", "tf32", "bf16"):
            out.append((InferenceVariant(f"fused {mode}", fast, device, mode, fused=True), None))
        for mode in ("tf32", "bf16"):
            out.append((InferenceVariant(f"fused {mode} +graphs", fast, device, mode, graphs=True, fused=True),
                        (1, 64)))
    if not skip_compile:  # batch 1 is launch-bound: CUDA graphs serve it; two compiles per precision at most
        big = tuple(b for b in COMPILE_BATCHES if b > 1) or None
        for mode in ("tf32", "bf16"):
            out.append((InferenceVariant(f"fast {mode} compiled", fast, device, mode, compiled=True,
                                         compile_backend=compile_backend), big))
    return out


def bench_inference(model, device: torch.device, sizes: Sizes, args, deadline: float, log,
                    compiled: bool) -> list[dict]:
    """Inference rows of the eager variants (``compiled=False``) or of the compiled ones."""
    rows = []
    amps, feats = make_queries(max(sizes.batches) * 2, seed=1)
    variants = [(v, only) for v, only in inference_variants(model, device, args.smoke, args.skip_compile,
                                                              args.compile_backend) if v.compiled == compiled]
    for batch in sizes.batches:
        if not any(only is None or batch in only for _, only in variants):
            continue
        a0, f0 = amps[:batch], feats[:batch]
        with torch.inference_mode(), precision("fp32", device):
            reference = model(a0.to(device), f0.to(device)).float().cpu()
        n_calls = max(sizes.min_calls, math.ceil(sizes.min_traces / batch))
        for variant, only in variants:
            if only is not None and batch not in only:
                continue
            row = {"kind": "inference", "variant": variant.name, "batch": batch}
            if time.perf_counter() > deadline:
                rows.append({**row, "note": "skipped: time budget spent"})
                log(f"skip {variant.name} b{batch} (time budget)")
                continue
            try:
                synchronize(device)
                start = time.perf_counter()
                out = variant(a0, f0)  # the first call (compilation, graph capture...) is the reported warm-up
                synchronize(device)
                first_s = time.perf_counter() - start

                def call(i: int) -> None:
                    s = (i * batch) % amps.shape[0]
                    idx = torch.arange(s, s + batch) % amps.shape[0]
                    variant(amps[idx], feats[idx])

                timing = time_batches(call, batch, n_calls * batch, sync=lambda: synchronize(device),
                                      warmup=1, label=f"{variant.name} b{batch}", progress=False)
                err = rel_l2(out, reference)
                row.update(ms_per_call=1e3 * timing.total_s / timing.n_batches,
                           traces_per_s=timing.traces_per_second, s_per_10k=timing.seconds_per(10_000),
                           warmup_s=first_s, n_traces=timing.n_traces, rel_err_vs_ref=err,
                           check=("pass" if err < FP32_TOLERANCE else "FAIL") if variant.mode == "fp32" else "")
            except Exception as exc:  # a variant that cannot run here is reported, not fatal
                row["note"] = f"error: {type(exc).__name__}: {exc}"[:300]
            rows.append(row)
            log(_line(row))
    return rows


def relative_l4_sum(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The paper's training loss: relative L4 error per trace, summed over the batch."""
    return ((pred - target).abs().pow(4).sum(-1).pow(0.25) / target.abs().pow(4).sum(-1).pow(0.25)).sum()


def training_batch(sizes: Sizes, device: torch.device):
    """Amplitudes, features and target voltages (mV) of one training batch, on the device."""
    amps, feats = make_queries(sizes.train_batch, seed=2)
    a, f = amps.to(device), feats.to(device)
    t = torch.linspace(0, 1, sizes.n_samples, device=device)
    target = -70.0 + 20.0 * torch.sin(2 * math.pi * (1 + 5 * a[:, None].float()) * t) ** 8
    return a, f, target


def _trainable(model, kind: str, device: torch.device):
    """A fresh copy of the model to train: the neuralop oracle or the model's own FastFNO."""
    own = copy.deepcopy(model).to(device).train()
    return own.reference_module().train() if kind == "neuralop" else own


def _fused_training_forward(net, mode: str):
    """``(amps, feats) -> mV`` through the differentiable fused kernels."""
    from noble.fast.fused import fused_train_forward

    return lambda a, f: fused_train_forward(net.fno, net.embedding(a, f), mode)[:, 0, :] * net.output_scale_mV


def gradient_check(model, device: torch.device, sizes: Sizes, log) -> dict:
    """Relative L2 between the first-step gradients of the fast path and the reference (IEEE fp32)."""
    from noble.fast.convert import state_to_neuralop

    a, f, target = training_batch(sizes, device)
    grads = {}
    kinds = ("neuralop", "fast") + (("fused",) if device.type == "cuda" and triton_available() else ())
    for kind in kinds:
        net = _trainable(model, kind, device)
        forward = _fused_training_forward(net, "fp32") if kind == "fused" else net
        with precision("fp32", device):
            relative_l4_sum(forward(a, f), target).backward()
        if kind == "neuralop":
            grads[kind] = {k[len("fno."):]: p.grad for k, p in net.named_parameters() if k.startswith("fno.")}
        else:
            grads[kind] = state_to_neuralop({k: p.grad for k, p in net.fno.named_parameters()}, net.fno.config)

    def flat(g: dict) -> torch.Tensor:
        return torch.cat([(torch.view_as_real(g[k]) if g[k].is_complex() else g[k]).flatten() for k in sorted(g)])

    check = {}
    for kind in kinds[1:]:
        err = rel_l2(flat(grads[kind]), flat(grads["neuralop"]))
        prefix = "" if kind == "fast" else f"{kind}_"
        check[f"{prefix}gradient_rel_err_fp32"] = err
        check[f"{prefix}gradient_check"] = "pass" if err < FP32_TOLERANCE else "FAIL"
        log(f"{kind} gradient equivalence (fp32, batch {sizes.train_batch}): {err:.3g}")
    return check


def bench_training(model, device: torch.device, sizes: Sizes, args, deadline: float, log,
                   compiled: bool) -> list[dict]:
    """ms per Adam step (relative L4 loss) at the training batch size and the projected epoch time."""
    batch = sizes.train_batch
    a, f, target = training_batch(sizes, device)
    if compiled:
        plans = [] if args.skip_compile else [("fast tf32 compiled", "fast", "tf32"),
                                              ("fast bf16 compiled", "fast", "bf16")]
    else:
        plans = [("neuralop fp32", "neuralop", "fp32"), ("fast fp32", "fast", "fp32"),
                 ("fast tf32", "fast", "tf32"), ("fast bf16", "fast", "bf16")]
        if device.type == "cuda" and triton_available():
            plans += [("fused tf32", "fused", "tf32"), ("fused bf16", "fused", "bf16")]
    rows = []
    steps_per_epoch = math.ceil(EPOCH_SAMPLES / batch)
    for name, kind, mode in plans:
        row = {"kind": "train", "variant": name, "batch": batch}
        if time.perf_counter() > deadline:
            rows.append({**row, "note": "skipped: time budget spent"})
            log(f"skip train {name} (time budget)")
            continue
        try:
            net = _trainable(model, kind, device)
            forward = torch.compile(net, backend=args.compile_backend, dynamic=False) if compiled else net
            if kind == "fused":
                forward = _fused_training_forward(net, mode)
            opt = torch.optim.Adam(net.parameters(), lr=4e-3)

            def step(_: int) -> None:
                opt.zero_grad(set_to_none=True)
                with precision(mode, device):
                    loss = relative_l4_sum(forward(a, f).float(), target)
                loss.backward()
                opt.step()

            timing = time_batches(step, 1, sizes.train_steps, sync=lambda: synchronize(device), warmup=3,
                                  label=f"train {name}", progress=False)
            ms = 1e3 * timing.seconds_per_trace
            row.update(ms_per_call=ms, traces_per_s=batch * 1e3 / ms, warmup_s=timing.warmup_s,
                       epoch_s=ms * steps_per_epoch / 1e3, n_traces=batch * sizes.train_steps)
        except Exception as exc:
            row["note"] = f"error: {type(exc).__name__}: {exc}"[:300]
        rows.append(row)
        log(_line(row))
    return rows


COLUMNS = ("kind", "variant", "batch", "ms_per_call", "traces_per_s", "s_per_10k", "epoch_s", "warmup_s",
           "n_traces", "rel_err_vs_ref", "check", "note")


def _line(row: dict) -> str:
    return "  ".join(f"{k}={format_value(row[k])}" for k in COLUMNS if row.get(k, "") != "")


def table(rows: list[dict]) -> str:
    body = [[format_value(r.get(c, "")) for c in COLUMNS] for r in rows]
    widths = [max([len(c)] + [len(b[i]) for b in body]) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths)) for b in body]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "runs" / "gpu_bench", help="where to write results")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (tests the logic)")
    parser.add_argument("--device", default=None, help="torch device (default cuda, or cpu with --smoke)")
    parser.add_argument("--skip-compile", action="store_true", help="leave out the torch.compile variants")
    parser.add_argument("--compile-backend", default=None, help="torch.compile backend (inductor; eager in --smoke)")
    parser.add_argument("--time-budget", type=float, default=420.0, help="seconds after which no new variant starts")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else PAPER
    args.compile_backend = args.compile_backend or ("eager" if args.smoke else "inductor")
    device = torch.device(args.device or ("cpu" if args.smoke else "cuda"))
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_bench: no CUDA device visible (use --smoke to test on the CPU)", file=sys.stderr)
        return 2
    threads = torch.get_num_threads()
    if args.smoke and device.type == "cpu":
        torch.set_num_threads(1)  # tiny sizes: threading only adds contention
    try:
        return run(args, sizes, device)
    finally:
        torch.set_num_threads(threads)


def run(args: argparse.Namespace, sizes: Sizes, device: torch.device) -> int:
    """Every measurement; writes the outputs and returns the exit status (1 when a check fails)."""
    start = time.perf_counter()
    deadline = start + args.time_budget

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s] {msg}", flush=True)

    model = build_model(sizes)
    log(f"device {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}; "
        f"model {sizes.profile}, {sizes.n_samples} samples, batches {list(sizes.batches)}")
    # eager variants first, so that the slow compiles cannot crowd them out of the time budget
    rows = bench_inference(model, device, sizes, args, deadline, log, compiled=False)
    checks = gradient_check(model, device, sizes, log)
    rows += bench_training(model, device, sizes, args, deadline, log, compiled=False)
    rows += bench_inference(model, device, sizes, args, deadline, log, compiled=True)
    rows += bench_training(model, device, sizes, args, deadline, log, compiled=True)
    fp32_inference = [r for r in rows if r.get("check")]
    checks["inference_fp32_check"] = "pass" if fp32_inference and all(r["check"] == "pass" for r in fp32_inference) \
        else "FAIL"
    checks["total_s"] = time.perf_counter() - start

    args.out_dir.mkdir(parents=True, exist_ok=True)
    import csv

    with open(args.out_dir / "gpu_bench.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({c: r.get(c, "") for c in COLUMNS} for r in rows)
    import neuralop

    meta = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "neuraloperator": getattr(neuralop, "__version__", "?"),
        "python": platform.python_version(), "sizes": sizes.__dict__, "smoke": args.smoke,
        "compile_backend": args.compile_backend, "checks": checks, "rows": rows,
    }
    (args.out_dir / "gpu_bench.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    print(table(rows))
    print(json.dumps(checks))
    print(f"wrote {args.out_dir / 'gpu_bench.csv'} and {args.out_dir / 'gpu_bench.json'}")
    ok = all(v == "pass" for k, v in checks.items() if k.endswith("_check"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
