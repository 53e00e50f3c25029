"""``noble cells``: the registered cells, their HoF models, split and cache location."""
from __future__ import annotations

import argparse
from pathlib import Path

from noble.data.fetch import cache_status, load_manifest
from noble.data.registry import CELLS
from noble.paths import DATA_DIR_ENV, data_dir


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``cells`` subcommand."""
    parser = subparsers.add_parser("cells", help="list the registered cells and where they are cached")
    parser.add_argument(
        "--root", type=Path, metavar="DIR", help=f"data root (default: ${DATA_DIR_ENV} or ~/.cache/noble/data)"
    )
    parser.set_defaults(func=run)
    return parser


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
    return rows


def run(args: argparse.Namespace) -> int:
    """Print the table of cells and the split notes."""
    root = args.root if args.root is not None else data_dir()
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
