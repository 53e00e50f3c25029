"""``noble evaluate``: voltage and eFEL feature errors of a trained model on a dataset (percent)."""
from __future__ import annotations

# Imports inside the functions are deliberate: `noble --help` and every other subcommand start without loading
# torch, the simulators or the pipeline; each command loads only what it runs.

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
    parser.add_argument("--train-data", type=Path, nargs="+",
                        help="the model's training set (several files: concatenated in order, e.g. a continuation "
                        "stage's training set and extra traces): adds the nearest-neighbour baseline (its training "
                        "rows)")
    parser.add_argument("--no-baselines", action="store_true", help="skip the constant-rest and nearest-neighbour baselines")
    parser.add_argument("--fi-grid", type=Path,
                        help="a grid dataset (every HoF at fixed amplitudes): adds the variability of spike counts "
                        "across the model's train HoFs at --variability-amplitude")
    parser.add_argument("--variability-amplitude", type=float, default=0.1, help="nA (default 0.1)")
    parser.add_argument("--max-traces", type=int, help="evaluate at most this many random traces per set")
    parser.add_argument("--no-features", action="store_true", help="skip the eFEL feature errors")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", help="cpu (default) or cuda")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --max-traces subsample")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (1 is fastest for small models on a busy machine)")
    parser.set_defaults(func=run)
    return parser


def grid_variability(model_dir: Path, grid: Path, amplitude_nA: float):
    """:func:`noble.evaluation.variability.variability` over the model's train HoFs present in ``grid``."""
    import numpy as np

    from noble.checkpoint import load_model
    from noble.errors import NobleError
    from noble.evaluation.variability import variability
    from noble.training.data import read_dataset

    model = load_model(model_dir)
    ds = read_dataset(grid)
    rows = np.flatnonzero(np.isclose(ds.amplitude, amplitude_nA, atol=1e-9) & np.isin(ds.hof, list(model.train_hofs)))
    if rows.size < 3:
        raise NobleError(f"{grid}: fewer than 3 train-HoF traces at {amplitude_nA} nA (found {rows.size})")
    return variability(model, ds.voltage[rows], ds.hof[rows].tolist(), amplitude_nA)


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
    if args.fi_grid is not None:
        metrics["variability"] = grid_variability(args.model, args.fi_grid, args.variability_amplitude).as_dict()
        v = metrics["variability"]
        print(f"variability at {v['amplitude_nA']:g} nA over {len(v['hofs'])} train HoFs: Spearman {v['spearman']:.3f},"
              f" spread (sd of spike counts) NOBLE {v['model_spread']:.2f} vs PDE {v['pde_spread']:.2f}"
              f" (ratio {v['spread_ratio']:.2f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(json_safe(metrics), indent=2, allow_nan=False) + "\n")
    print(format_table(metrics))
    print(f"metrics written to {args.out}")
    return 0
