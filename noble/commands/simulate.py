"""``noble simulate``: PDE ground-truth datasets of a cell's HoF models (HDF5; nA, mV, ms).

Examples::

    noble simulate --cell human_pvalb_689331391 --hofs 0,32 --amplitudes=0.1,-0.11 --out grid.h5
    noble simulate --n-samples 1000 --seed 0 --split train --workers 2 --out train.h5
    noble simulate --recipe quick --out quick.h5
    noble simulate --models fit_dir --amplitudes=0,0.1,0.2 --out fitted.h5

``--models DIR`` simulates the hall of fame of a fit folder (``noble fit --out DIR``) instead of the cell
package's HoF models; their indices (``--hofs``, the ``hof`` dataset) are their hall-of-fame ranks, and the
data card records the fit folder and the SHA-256 of every model file used.

Amplitude lists starting with a minus sign need ``=`` (``--amplitudes=-0.11,0.1``). Rerunning an interrupted
command resumes it.
"""
from __future__ import annotations

# Imports inside the functions are deliberate: `noble --help` and every other subcommand start without loading
# torch, the simulators or the pipeline; each command loads only what it runs.

import argparse
from pathlib import Path

from noble.data.registry import DEFAULT_CELL
from noble.errors import NobleError
from noble.sim.engine import DEFAULT_ENGINE, ENGINES


def _float_list(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers (nA), got {text!r}") from None


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated HoF indices, got {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``simulate`` subcommand."""
    parser = subparsers.add_parser(
        "simulate",
        help="simulate HoF models under the paper's step protocol into an HDF5 dataset",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cell", default=None,
                        help=f"cell package (default: the fit's cell with --models, else {DEFAULT_CELL})")
    parser.add_argument("--models", type=Path, metavar="DIR",
                        help="simulate the hall of fame of this fit folder (`noble fit --out DIR`); indices are ranks")
    parser.add_argument("--hofs", type=_int_list, metavar="I,J",
                        help="global HoF indices, or ranks with --models (default: the --split, or every fitted model)")
    parser.add_argument("--split", choices=("train", "test", "all"), default=None,
                        help="HoF models to use when --hofs is absent (default: train for --n-samples, else all)")
    parser.add_argument("--amplitudes", type=_float_list, metavar="A,B", help="step amplitudes in nA (a grid)")
    parser.add_argument("--n-samples", type=int, metavar="N", help="number of skew-normal sampled amplitudes")
    parser.add_argument("--seed", type=int, default=0, help="seed of the amplitude sampler (default 0)")
    parser.add_argument("--recipe", choices=("quick",), help="a predefined small dataset")
    parser.add_argument("--engine", default=DEFAULT_ENGINE, help=f"simulator: {' | '.join(ENGINES)}")
    parser.add_argument("--discretization", default=None,
                        help="arbor compartments: 'paper' (default, nseg = 1 + 2*int(L/20)) or 'max_extent:<um>'")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address (e.g. tcp://host:8786)")
    parser.add_argument("--root", type=Path, metavar="DIR", help="data root (default $NOBLE_DATA_DIR)")
    parser.add_argument("--out", type=Path, required=True, help="output HDF5 file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file or partial run")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Plan, simulate and write the dataset."""
    from noble.sim.dataset import generate_dataset, grid_plan, quick_plan, sampled_plan
    from noble.sim.traces import read_dataset

    if args.engine not in ENGINES:
        raise NobleError(f"unknown engine {args.engine!r}; choose one of: {', '.join(ENGINES)}")
    options = {"discretization": args.discretization} if args.discretization else {}
    models_dir = args.models
    if models_dir is not None:
        from noble.sim.dataset import fitted_models

        if args.recipe or args.split:
            raise NobleError("--models simulates a fit's HoF models: drop --recipe/--split (use --hofs for ranks)")
        fit_cell = fitted_models(models_dir)[0].cell
        if args.cell not in (None, fit_cell):
            raise NobleError(f"--models {models_dir} holds models of {fit_cell}, not of --cell {args.cell}")
        args.cell = fit_cell
    elif args.cell is None:
        args.cell = DEFAULT_CELL
    if args.recipe == "quick":
        if args.amplitudes or args.n_samples:
            raise NobleError("--recipe quick fixes its HoFs and amplitudes: drop --amplitudes/--n-samples")
        plan = quick_plan(args.cell, root=args.root, engine=args.engine)
        if options:
            from dataclasses import replace

            plan = replace(plan, engine_options=options)
    elif args.amplitudes and args.n_samples:
        raise NobleError("give either --amplitudes (a grid) or --n-samples (sampled amplitudes), not both")
    elif args.amplitudes:
        hofs = args.hofs
        if hofs is None and models_dir is not None:
            hofs = [m.index for m in fitted_models(models_dir)]
        elif hofs is None:
            from noble.data import load_cell

            hofs = [m.index for m in load_cell(args.cell, root=args.root).models(args.split or "all")]
        plan = grid_plan(args.cell, hofs, args.amplitudes, args.engine, root=args.root, engine_options=options,
                         models_dir=models_dir)
    elif args.n_samples is not None:
        plan = sampled_plan(
            args.cell, args.n_samples, args.seed, split=args.split or "train", hofs=args.hofs,
            engine=args.engine, root=args.root, engine_options=options, models_dir=models_dir,
        )
    else:
        raise NobleError("nothing to simulate: give --amplitudes, --n-samples or --recipe quick")
    out = generate_dataset(
        args.out, plan, root=args.root, workers=args.workers, scheduler=args.scheduler,
        progress=not args.quiet, overwrite=args.overwrite,
    )
    ds = read_dataset(out)
    print(f"{out}: {len(ds)} traces of {ds.voltage.shape[1]} samples, {ds.attrs['engine_version']}, "
          f"HoFs {sorted(set(ds.hof.tolist()))}, data card sha256 {ds.data_card_sha256}")
    return 0
