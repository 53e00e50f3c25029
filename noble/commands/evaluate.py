"""``noble evaluate``: voltage and eFEL feature errors of a trained model on a dataset (percent)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a trained model on an HDF5 trace dataset",
        description="Relative L2/L4 voltage errors and eFEL feature errors (paper accounting of missed firing) for "
        "unseen currents on train HoF models and for the test HoF models, written as JSON.",
    )
    parser.add_argument("--model", required=True, type=Path, help="model directory written by `noble train`")
    parser.add_argument("--data", required=True, type=Path, help="HDF5 dataset (noble layout)")
    parser.add_argument("--out", required=True, type=Path, help="metrics JSON file to write")
    parser.add_argument("--train-data", type=Path,
                        help="the model's training set: adds the nearest-neighbour baseline (its training rows)")
    parser.add_argument("--no-baselines", action="store_true", help="skip the constant-rest and nearest-neighbour baselines")
    parser.add_argument("--max-traces", type=int, help="evaluate at most this many random traces per set")
    parser.add_argument("--no-features", action="store_true", help="skip the eFEL feature errors")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", help="cpu (default) or cuda")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --max-traces subsample")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (1 is fastest for small models on a busy machine)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from noble.evaluation import evaluate_directory, format_table, json_safe

    metrics = evaluate_directory(
        args.model, args.data, train_data=args.train_data, baselines=not args.no_baselines,
        features=not args.no_features, max_traces=args.max_traces,
        batch_size=args.batch_size, seed=args.seed, progress=not args.no_progress, device=args.device,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(json_safe(metrics), indent=2, allow_nan=False) + "\n")
    print(format_table(metrics))
    print(f"metrics written to {args.out}")
    return 0
