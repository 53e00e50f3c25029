"""``noble upgrade-dataset FILE [--out NEW]``: rewrite a dataset of the older training layout in today's format."""
from __future__ import annotations

# Imports inside the functions are deliberate: `noble --help` starts without loading h5py or the simulators.

import argparse
from pathlib import Path


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "upgrade-dataset",
        help="convert a dataset file of the older training layout",
        description="Rewrite an HDF5 dataset of noble's older training layout (protocol with delay_ms) in the "
        "current format (noble.sim.traces), keeping its data card, so models trained on it still match. "
        "A file already in the current format is left as it is.",
    )
    parser.add_argument("file", type=Path, help="the dataset to convert (in place unless --out is given)")
    parser.add_argument("--out", type=Path, default=None, help="write the converted file here instead")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from noble.sim.traces import FILE_FORMAT, read_dataset, upgrade_dataset

    out = upgrade_dataset(args.file, args.out)
    ds = read_dataset(out)
    print(f"{out}: {len(ds)} traces in the {FILE_FORMAT} format, data card sha256 {ds.data_card_sha256}")
    return 0
