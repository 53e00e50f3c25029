"""``noble train``: train a NOBLE model on a trace dataset (units: nA, mV, ms)."""
from __future__ import annotations

# Imports inside the functions are deliberate: `noble --help` and every other subcommand start without loading
# torch, the simulators or the pipeline; each command loads only what it runs.

import argparse
import json
from pathlib import Path

from noble.errors import NobleError


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train a NOBLE model (FNO) on an HDF5 trace dataset",
        description="Train the embedding + FNO on a dataset; writes model.safetensors, model_card.json, metrics.csv, "
        "periodic checkpoints and resume state into --out. Test HoF models of the cell split never enter training.",
    )
    parser.add_argument("--data", required=True, type=Path, help="HDF5 dataset (noble layout)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--config", help="configuration name (paper, laptop, quick, ablation_*) or JSON file")
    group.add_argument("--profile", choices=("paper", "laptop", "quick"), help="shorthand for a shipped configuration")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run in --out exactly")
    parser.add_argument("--init-from", type=Path, metavar="MODEL",
                        help="start from these weights (a model directory or .safetensors of the same architecture)")
    parser.add_argument("--epochs", type=int, help="override the number of epochs")
    parser.add_argument("--max-minutes", type=float, help="stop after the epoch that crosses this wall-clock time")
    parser.add_argument("--batch-size", type=int, help="override the batch size")
    parser.add_argument("--seed", type=int, help="override the seed")
    parser.add_argument("--holdout", type=float, help="fraction of each train HoF's traces held out (default 0.1)")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 ...")
    parser.add_argument("--amp", choices=("bf16", "fp16"), help="mixed precision on CUDA")
    parser.add_argument("--no-tf32", action="store_true", help="disable TF32 matmuls on CUDA")
    parser.add_argument("--checkpoint-every", type=int, help="epochs between periodic checkpoints (0: none)")
    parser.add_argument("--features-table", type=Path,
                        help="JSON {hof index: {feature: value}} replacing the cell package's published features")
    parser.add_argument("--cell-root", type=Path, help="data root holding the cell package (default: NOBLE_DATA_DIR)")
    parser.add_argument("--tensorboard", action="store_true", help="also log to TensorBoard (needs tensorboard)")
    parser.add_argument("--wandb", action="store_true", help="also log to Weights & Biases (needs wandb)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (1 is fastest for small models on a busy machine)")
    parser.add_argument("--workers", type=int, default=1,
                        help="data-parallel CPU processes of one thread each (default 1; the same run up to "
                        "floating-point summation order; `noble bench train` measures the gain)")
    parser.set_defaults(func=run)
    return parser


def read_features_table(path: Path) -> dict[int, dict[str, float]]:
    """A features table JSON ``{"<hof index>": {"<name>": value}}``."""
    try:
        raw = json.loads(path.read_text())
        return {int(h): {str(k): float(v) for k, v in row.items()} for h, row in raw.items()}
    except FileNotFoundError:
        raise NobleError(f"{path}: features table not found") from None
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
        raise NobleError(f"{path}: not a JSON object {{hof index: {{feature: number}}}} ({exc})") from None


def run(args: argparse.Namespace) -> int:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from noble.training import load_config, train

    if args.resume and not (args.config or args.profile):
        path = args.out / "run_config.json"
        if not path.is_file():
            raise NobleError(f"{path}: nothing to resume")
        config = load_config(path)
    else:
        config = load_config(args.config or args.profile or "paper")
    config = config.with_training(
        epochs=args.epochs, max_minutes=args.max_minutes, batch_size=args.batch_size, seed=args.seed,
        holdout_fraction=args.holdout, device=args.device, amp=args.amp, checkpoint_every=args.checkpoint_every,
        tf32=False if args.no_tf32 else None, log_tensorboard=args.tensorboard or None, log_wandb=args.wandb or None,
    )
    table = read_features_table(args.features_table) if args.features_table else None
    result = train(args.data, config, args.out, resume=args.resume, init_weights=args.init_from, feature_table=table,
                   cell_root=args.cell_root, workers=args.workers, progress=not args.no_progress)
    print(training_summary(result, config.training.selection))
    return 0


def training_summary(result, selection: str) -> str:
    """What was saved: the selected epoch's own held-out numbers (not the last epoch's), and the criterion."""
    saved = next((r for r in result.history if int(r["epoch"]) == result.best_epoch), None)
    head = f"trained {result.epochs_completed} epochs ({result.stopped}) in {result.wall_time_s:.1f} s; model in {result.out_dir}"
    if saved is None:
        return head + "\nno weights were saved (no epoch completed)"
    criterion = ("relative L4 + missed + false firing + spike-count error" if selection == "firing"
                 else "relative L4")
    parts = [f"saved weights: epoch {result.best_epoch} (lowest held-out {criterion})"]
    for key, label in (("holdout_rel_l4", "held-out rel. L4"), ("holdout_rel_l2", "rel. L2"),
                       ("holdout_missed_firing_pct", "missed firing %"),
                       ("holdout_spike_count_err_pct", "spike-count error %")):
        value = saved.get(key)
        if value is not None and value == value:
            parts.append(f"{label} {float(value):.4g}")
    return head + "\n" + ", ".join(parts)
