"""``noble fit``: fit HoF models of a cell to its experimental features (two-stage evolution)."""
from __future__ import annotations

# Imports inside the functions are deliberate: `noble --help` and every other subcommand start without loading
# torch, the simulators or the pipeline; each command loads only what it runs.

import argparse
from pathlib import Path


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``fit`` subcommand."""
    from noble.data.registry import DEFAULT_CELL

    parser = subparsers.add_parser(
        "fit",
        help="fit HoF models to a cell's experimental features (evolutionary optimisation)",
        description=(
            "Two-stage multi-objective evolution (passive properties and Ih, then active conductances) of a cell's "
            "model parameters against its experimental eFEL features, simulated with a noble.sim engine. Writes "
            "the hall of fame as model JSON files, the error history (history.csv) and a checkpoint per "
            "generation: re-running the same command resumes an interrupted fit. See docs/fitting.md."
        ),
    )
    parser.add_argument("--cell", default=DEFAULT_CELL, help=f"cell package name (default {DEFAULT_CELL})")
    parser.add_argument(
        "--profile", default="quick", choices=("quick", "demo", "paper"), help="fit size (default quick)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the evolution (default 1)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default fit_<cell>_<profile>_seed<S>)")
    parser.add_argument("--workers", type=int, default=None, help="local worker processes (default: the profile's)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS", help="score on a Dask cluster at ADDRESS")
    parser.add_argument("--engine", default="arbor", choices=("arbor", "neuron"), help="simulator (default arbor)")
    parser.add_argument(
        "--targets",
        default="auto",
        choices=("auto", "table", "allen"),
        help="experimental features: the cell's Allen sweeps (NWB already in the Allen cache), its feature table, "
        "or auto (sweeps when cached, else the table; default)",
    )
    parser.add_argument("--data-root", type=Path, default=None, help="data root holding the cell packages")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run (or resume) the fit and print a summary."""
    from noble.fit import run_fit

    out = args.out if args.out is not None else Path(f"fit_{args.cell}_{args.profile}_seed{args.seed}")
    result = run_fit(
        args.cell,
        args.profile,
        args.seed,
        out,
        workers=args.workers,
        scheduler=args.scheduler,
        engine=args.engine,
        targets=args.targets,
        root=args.data_root,
        progress=not args.no_progress,
    )
    active = result.history[result.history["stage"] == "active"]
    print(f"fit of {result.cell} ({result.profile}, seed {result.seed}) in {result.out_dir}")
    print(
        f"  mean z-score of the best model: {active['best_error'].iloc[0]:.3f} (generation 0) -> "
        f"{result.best_error:.3f} (generation {int(active['stage_generation'].iloc[-1])})"
    )
    print(f"  targets: {len(result.targets.targets)} features from {result.targets.source}")
    print(f"  hall of fame: {len(result.hall_of_fame)} models in {result.out_dir / 'hall_of_fame'}")
    print(f"  error history: {result.out_dir / 'history.csv'}")
    total = sum(v for k, v in result.timings.items() if k in ("passive", "active"))
    print(f"  evaluations: {sum(result.n_evaluations.values())}, fit time {total:.1f} s")
    return 0
