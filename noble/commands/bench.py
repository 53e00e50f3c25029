"""``noble bench``: the paper's speed table (appendix E) on this machine; ``noble bench sim``: PDE part only;
``noble bench train``: CPU training throughput, one process against data-parallel processes."""
from __future__ import annotations

# Imports inside the functions are deliberate: `noble --help` and every other subcommand start without loading
# torch, the simulators or the pipeline; each command loads only what it runs.

import argparse
from dataclasses import replace
from pathlib import Path

from noble.errors import NobleError

TARGETS = ("all", "sim", "nn", "train")


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="time PDE solvers and NOBLE (the paper's speed table)",
        description=(
            "Time the PDE solvers (NEURON on one core, Arbor on one and on all cores) and NOBLE inference "
            "(reference neuralop FNO and the fast path, batch 1/64/1000, CPU and GPU when present; warm-up "
            "reported apart, host-device transfers included), with speed-ups and accuracy. Prints the table "
            "and writes it as CSV. `noble bench sim` runs the PDE part only, `noble bench nn` NOBLE only. "
            "`noble bench train` times training of the --profile network (default laptop) on synthetic traces of "
            "the paper's grid: one process on all cores (today's default), one process on one thread, and --workers "
            "data-parallel one-thread processes, with the loss curves compared."
        ),
    )
    parser.add_argument("target", nargs="?", choices=TARGETS, default="all", help="which part to run (default all)")
    parser.add_argument("--quick", action="store_true",
                        help="CPU smoke run: Arbor only, 1 PDE trace, batches 1 and 4, 4 traces per batch size")
    parser.add_argument("--out", type=Path, help="write the table to this CSV file")
    parser.add_argument("--model", type=Path,
                        help="trained model directory: accuracy is then measured against PDE traces")
    parser.add_argument("--cell", help="cell package (default: the model's cell, else human_pvalb_689331391)")
    parser.add_argument("--profile", choices=("quick", "laptop", "paper"),
                        help="network size to time when no --model is given (default paper)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to run NOBLE: auto = CPU and the GPU when present")
    parser.add_argument("--batches", type=_ints, help="NOBLE batch sizes (default 1,64,1000)")
    parser.add_argument("--cpu-batches", type=_ints, help="NOBLE batch sizes on the CPU (default: --batches)")
    parser.add_argument("--n-traces", type=int, help="NOBLE traces timed per batch size on the CPU (default 256)")
    parser.add_argument("--gpu-n-traces", type=int, help="NOBLE traces timed per batch size on the GPU (default 2000)")
    parser.add_argument("--engines", type=_names, help="PDE engines (default neuron,arbor)")
    parser.add_argument("--pde-traces", type=int, help="PDE traces per engine and core count (default 4)")
    parser.add_argument("--workers", type=int,
                        help="cores for the all-core Arbor run, or data-parallel processes of `bench train` "
                        "(default: every core)")
    parser.add_argument("--train-traces", type=int, help="synthetic traces of `bench train` (default 176)")
    parser.add_argument("--train-epochs", type=int, help="epochs of `bench train`, the first warm-up (default 3)")
    parser.add_argument("--accuracy-traces", type=int, help="traces used for the accuracy columns (default 8)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: one per usable core)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.target == "train":
        return run_training(args)
    from noble.bench.speed_table import QUICK, BenchError, BenchSettings, speed_table
    from noble.bench.table import format_table, write_csv

    from noble.bench.table import best_rows
    from noble.fast.runtime import set_threads

    print(f"[noble bench] {set_threads(args.threads)}", flush=True)
    settings = QUICK if args.quick else BenchSettings()
    overrides = {
        "cell": args.cell, "profile": args.profile, "batches": args.batches, "cpu_batches": args.cpu_batches,
        "n_traces": args.n_traces,
        "gpu_n_traces": args.gpu_n_traces, "engines": args.engines, "pde_traces": args.pde_traces,
        "workers": args.workers, "accuracy_traces": args.accuracy_traces,
    }
    for name, value in overrides.items():
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            raise BenchError(f"--{name.replace('_', '-')} must be positive, got {value}")
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    if args.device == "cpu":
        settings = replace(settings, devices=("cpu",))
    elif args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise BenchError("--device cuda: no CUDA GPU is visible")
        settings = replace(settings, devices=("cuda",))
    if args.no_progress:
        settings = replace(settings, progress=False)
    if args.model is not None and not args.model.exists():
        raise NobleError(f"--model {args.model}: no such model directory")
    rows = speed_table(settings, model_dir=args.model, include_pde=args.target in ("all", "sim"),
                       include_noble=args.target in ("all", "nn"))
    print(format_table(rows))
    for line in best_rows(rows):
        print(f"[noble bench] {line}")
    if args.out is not None:
        print(f"wrote {write_csv(rows, args.out)}")
    return 0


def run_training(args: argparse.Namespace) -> int:
    """``noble bench train``: the training-throughput table (:mod:`noble.bench.training`)."""
    import csv
    import os

    from noble.bench.training import COLUMNS, TrainingBenchError, TrainingBenchSettings, format_rows, \
        training_throughput

    cores = os.cpu_count() or 1
    workers = args.workers or cores
    settings = TrainingBenchSettings(config=args.profile or "laptop",
                                     settings=((1, cores), (1, 1), (workers, 1)) if workers > 1 else ((1, cores),))
    for name in ("train_traces", "train_epochs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise TrainingBenchError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.train_traces:
        settings = replace(settings, n_traces=args.train_traces)
    if args.train_epochs:
        settings = replace(settings, epochs=args.train_epochs)
    rows = training_throughput(settings)
    print(format_rows(rows))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {args.out}")
    return 0
