"""``noble features``: eFEL features of a simulated dataset, or I_thr/s_thr of HoF models (nA, mV, ms, Hz).

Examples::

    noble features quick.h5 --out quick_features.csv
    noble features --fi --cell human_pvalb_689331391 --hofs 0,32 --out fi.csv
"""
from __future__ import annotations

# Imports inside the functions are deliberate: `noble --help` and every other subcommand start without loading
# torch, the simulators or the pipeline; each command loads only what it runs.

import argparse
import csv
import math
from pathlib import Path

from noble.data.registry import DEFAULT_CELL
from noble.errors import NobleError


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``features`` subcommand."""
    parser = subparsers.add_parser(
        "features",
        help="eFEL features of a dataset, or F-I threshold and slope of HoF models",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dataset", nargs="?", type=Path, help="HDF5 dataset written by `noble simulate`")
    parser.add_argument("--features", default=None, help="comma-separated eFEL names (default: the paper's 16)")
    parser.add_argument("--fi", action="store_true", help="compute I_thr and s_thr by simulation instead")
    parser.add_argument("--cell", default=DEFAULT_CELL, help="cell package for --fi")
    parser.add_argument("--hofs", default=None, help="global HoF indices for --fi (default: all)")
    parser.add_argument("--engine", default="arbor", help="simulator for --fi")
    parser.add_argument("--workers", type=int, default=1, help="HoF models simulated in parallel for --fi")
    parser.add_argument("--root", type=Path, metavar="DIR", help="data root (default $NOBLE_DATA_DIR)")
    parser.add_argument("--out", type=Path, help="output CSV (with --fi on an added package: default its own "
                        "features/fi_table.csv, which then becomes the package's embedded slope and intercept)")
    parser.set_defaults(func=run)
    return parser


PACKAGE_TABLE = "features/fi_table.csv"


def _package_table(cell: str, root: Path | None) -> Path:
    from noble.data.registry import cell_spec, package_dir
    from noble.paths import data_dir

    base = Path(root) if root is not None else data_dir()
    if not cell_spec(cell, base).user_package:
        raise NobleError(f"--out is required for {cell}: only packages added with `noble cells add` store the table")
    path = package_dir(base, cell) / PACKAGE_TABLE
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _record_in_descriptor(cell: str, root: Path | None) -> None:
    import json

    from noble.data.packages import descriptor_path
    from noble.paths import data_dir

    path = descriptor_path(Path(root) if root is not None else data_dir(), cell)
    desc = json.loads(path.read_text())
    desc["computed_features"] = PACKAGE_TABLE
    desc["feature_source"] = "computed by noble features --fi (I_thr by bisection, s_thr fitted above threshold)"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(desc, indent=2) + "\n")
    tmp.replace(path)


def run(args: argparse.Namespace) -> int:
    """Write the feature table."""
    if args.fi:
        from noble.features.fi_table import build_table, read_table, summarize

        hofs = None
        if args.hofs:
            try:
                hofs = {int(x) for x in args.hofs.split(",") if x.strip()}
            except ValueError:
                raise NobleError(f"--hofs: expected comma-separated integers, got {args.hofs!r}") from None
            from noble.data import load_cell

            known = {m.index for m in load_cell(args.cell, root=args.root).hof_models}
            unknown = sorted(hofs - known)
            if unknown or not hofs:
                raise NobleError(f"--hofs: {args.cell} has no HoF model {unknown or args.hofs!r}; it has "
                                 f"{len(known)} models, indices {min(known)}-{max(known)}")
        into_package = None
        if args.out is None:
            into_package = _package_table(args.cell, args.root)
            args.out = into_package
        build_table(args.cell, args.out, root=args.root, engine=args.engine, hofs=hofs, workers=args.workers)
        if into_package is not None:
            _record_in_descriptor(args.cell, args.root)
            print(f"{args.cell}: the package now embeds these I_thr and s_thr as intercept and slope")
        rows = read_table(args.out)
        print(f"{args.out}: I_thr and s_thr of {len(rows)} HoF models")
        if len(rows) >= 3:
            for key, value in summarize(rows).items():
                print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
        return 0
    if args.out is None:
        raise NobleError("--out is required (a CSV file)")
    if args.dataset is None:
        raise NobleError("give a dataset file, or --fi to compute I_thr and s_thr")
    from noble.features.efel_features import PAPER_FEATURES, extract_features
    from noble.sim.traces import read_dataset

    names = tuple(n.strip() for n in args.features.split(",") if n.strip()) if args.features else PAPER_FEATURES
    ds = read_dataset(args.dataset)
    p = ds.protocol
    rows = extract_features(ds.voltage, ds.time, p.stim_start, p.stim_end, names)
    with args.out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["index", "hof", "amplitude_nA", *names])
        for i, row in enumerate(rows):
            writer.writerow([i, int(ds.hof[i]), f"{ds.amplitude[i]:.6g}",
                             *("" if math.isnan(row[n]) else f"{row[n]:.6g}" for n in names)])
    print(f"{args.out}: {len(names)} features of {len(rows)} traces")
    return 0
