"""``noble fetch``: put cell packages into the data cache, verifying every file's SHA-256."""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from noble.data.fetch import BASE_URL_ENV, DEFAULT_BASE_URL, fetch
from noble.paths import DATA_DIR_ENV


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``fetch`` subcommand."""
    parser = subparsers.add_parser(
        "fetch",
        help="download (or copy from a local copy) cell packages into the data cache",
        description=(
            "Fetch a cell package from the pinned upstream repositories, or seed it from a local copy with --from, "
            "into <data root>/cells/<cell>/. Every file is verified against the SHA-256 in the cell's manifest; "
            "files already present and correct are skipped."
        ),
    )
    parser.add_argument("--cell", required=True, metavar="NAME", help="a registered cell (see `noble cells`) or 'all'")
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="DIR",
        help="copy from a local copy laid out as DIR/cells/<cell>/... instead of downloading",
    )
    parser.add_argument(
        "--dest", type=Path, metavar="DIR", help=f"data root (default: ${DATA_DIR_ENV} or ~/.cache/noble/data)"
    )
    parser.add_argument(
        "--mechanisms", action="store_true", help="also fetch the NMODL mechanism files (needed by NEURON only)"
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help=f"base URL of raw upstream files (default: ${BASE_URL_ENV} or {DEFAULT_BASE_URL})",
    )
    parser.add_argument("--retries", type=int, default=4, metavar="N", help="retries per file after network errors")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Fetch and print one summary line per cell; unpinned checksums are reported as warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reports = fetch(
            args.cell,
            args.dest,
            source_dir=args.source,
            mechanisms=args.mechanisms,
            base_url=args.base_url,
            retries=args.retries,
            progress=not args.quiet,
        )
    for w in caught:
        print(f"noble fetch: warning: {w.message}", file=sys.stderr)
    for report in reports:
        print(report.summary())
    return 0
