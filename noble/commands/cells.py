"""``noble cells``: the registered cells, their HoF models, split and cache location."""
from __future__ import annotations

# Imports inside the functions are deliberate: `noble --help` and every other subcommand start without loading
# torch, the simulators or the pipeline; each command loads only what it runs.

import argparse
from pathlib import Path

from noble.data.fetch import cache_status, load_manifest
from noble.data.packages import read_descriptor, user_cells
from noble.data.registry import CELLS
from noble.errors import NobleError
from noble.paths import DATA_DIR_ENV, data_dir


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``cells`` subcommand (``noble cells`` lists, ``noble cells add DIR`` registers a package)."""
    parser = subparsers.add_parser(
        "cells", help="list the registered cells, or add your own package (noble cells add DIR --name NAME)",
        description="Without arguments: the shipped and added cells and where they are cached. "
        "`noble cells add DIR [--name NAME]`: register a folder of Allen all-active HoF model files "
        "(dynamics_params JSON) and one SWC morphology, in any subfolders, as a cell package in the data cache.",
    )
    parser.add_argument("action", nargs="?", choices=("list", "add"), default="list")
    parser.add_argument("source", nargs="?", type=Path, help="for add: the package folder")
    parser.add_argument("--name", help="for add: the cell's name (default: <type>_<specimen id> from the file names)")
    parser.add_argument("--species", default="unknown", help="for add: species recorded in the descriptor")
    parser.add_argument("--test-hofs", help="for add: comma-separated held-out HoF indices (default: a seeded 1/6)")
    parser.add_argument("--seed", type=int, default=0, help="for add: seed of the default split")
    parser.add_argument("--update", action="store_true", help="for add: replace a package whose source changed")
    parser.add_argument(
        "--root", type=Path, metavar="DIR", help=f"data root (default: ${DATA_DIR_ENV} or ~/.cache/noble/data)"
    )
    parser.set_defaults(func=run)
    return parser


def check_engines(mechanisms) -> None:
    """Fail naming the mechanism and the engine when the default engine (Arbor) cannot simulate a mechanism."""
    from noble.errors import UnknownMechanismError
    from noble.mechanisms.compile import NMODL_DIR
    from noble.sim.arbor_engine import MECHANISMS as ARBOR_MECHANISMS

    neuron = {p.stem for p in Path(NMODL_DIR).glob("*.mod")}
    missing = [m for m in mechanisms if m not in ARBOR_MECHANISMS]
    if missing:
        where = ", ".join(f"{m} ({'only in the neuron engine' if m in neuron else 'in neither the arbor nor the neuron engine'})"
                          for m in missing)
        raise UnknownMechanismError(f"the arbor engine (the default) does not provide {where}")


def add(args: argparse.Namespace, root: Path) -> int:
    """``noble cells add``: scan, check and copy a package into the data cache."""
    from noble.data.packages import add_package, scan_package

    if args.source is None:
        raise NobleError("noble cells add: give the package folder (noble cells add DIR --name NAME)")
    check_engines(scan_package(args.source).mechanisms)
    test = None
    if args.test_hofs:
        try:
            test = [int(x) for x in args.test_hofs.split(",") if x.strip()]
        except ValueError:
            raise NobleError(f"--test-hofs: expected comma-separated integers, got {args.test_hofs!r}") from None
    folder, desc, what = add_package(args.source, args.name, root, test_hofs=test, seed=args.seed,
                                     species=args.species, reserved=tuple(CELLS), update=args.update)
    n = len(desc["hof_files"])
    print(f"{desc['name']}: {what}, {n} HoF models ({desc['naming']} naming), {n - len(desc['split']['test'])} train /"
          f" {len(desc['split']['test'])} test ({desc['split']['note']}); package in {folder}")
    return 0


def describe_cells(root: Path | None = None) -> list[dict[str, str]]:
    """One row per registered cell: name, species, type, HoF count, train/test split and cache state."""
    rows = []
    for name in sorted(CELLS):
        spec = CELLS[name]
        n_hof = load_manifest(name).hof_count()
        n_test = len(spec.test_hofs)
        folder, present, listed = cache_status(name, root)
        if present == listed:
            where = str(folder)
        elif present:
            where = f"incomplete ({present} of {listed} files) at {folder}"
        else:
            where = "not cached"
        rows.append(
            {
                "cell": name,
                "species": spec.species,
                "type": spec.cell_type,
                "HoF": str(n_hof),
                "train/test": f"{n_hof - n_test}/{n_test}",
                "cached": where,
            }
        )
    base = Path(root) if root is not None else data_dir()
    for name in user_cells(base):
        desc = read_descriptor(base, name)
        n_hof, n_test = len(desc["hof_files"]), len(desc["split"]["test"])
        rows.append({"cell": name, "species": desc["species"], "type": desc["cell_type"], "HoF": str(n_hof),
                     "train/test": f"{n_hof - n_test}/{n_test}",
                     "cached": f"{base / 'cells' / name} (added from {desc['provenance']['source']})"})
    return rows


def run(args: argparse.Namespace) -> int:
    """Print the table of cells and the split notes, or add a package."""
    root = args.root if args.root is not None else data_dir()
    if args.action == "add":
        return add(args, root)
    rows = describe_cells(root)
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for r in rows:
        print("  ".join(r[c].ljust(widths[c]) for c in columns).rstrip())
    print(f"\ndata root: {root}")
    for name in sorted(CELLS):
        print(f"{name}: split: {CELLS[name].split_note}")
    return 0
