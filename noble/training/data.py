"""The train / held-out / test-HoF split of a trace dataset (row indices).

The dataset format itself (one writer, one reader) is :mod:`noble.sim.traces`; its names are re-exported here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from noble.errors import DataError
from noble.sim.traces import TraceDataset, read_dataset, write_dataset

__all__ = ["DataSplit", "TraceDataset", "read_dataset", "split_rows", "write_dataset"]


@dataclass(frozen=True)
class DataSplit:
    """Row indices of a dataset: ``train`` and ``holdout`` (unseen currents of train HoFs), ``test_hofs``."""

    train: np.ndarray
    holdout: np.ndarray
    test_hofs: np.ndarray

    def as_dict(self) -> dict[str, list[int]]:
        return {k: getattr(self, k).tolist() for k in ("train", "holdout", "test_hofs")}


def split_rows(
    hof: np.ndarray, train_hofs: Sequence[int], test_hofs: Sequence[int], holdout_fraction: float, seed: int,
    holdout_rows: Sequence[int] | None = None,
) -> DataSplit:
    """Split rows by the cell split; hold out a random ``holdout_fraction`` of the train HoFs' rows (seeded), or
    exactly ``holdout_rows`` when given (e.g. a continuation stage keeping its first stage's held-out rows).

    Rows of HoF models in neither list are an error: every trace must belong to the split.
    """
    train_set, test_set = set(int(h) for h in train_hofs), set(int(h) for h in test_hofs)
    if train_set & test_set:
        raise DataError(f"HoF models {sorted(train_set & test_set)} are both train and test")
    unknown = sorted(set(np.unique(hof).tolist()) - train_set - test_set)
    if unknown:
        raise DataError(f"dataset has traces of HoF models {unknown[:10]} that are in neither the train nor the test split")
    test = np.flatnonzero(np.isin(hof, sorted(test_set)))
    if holdout_rows is not None:
        candidates = np.flatnonzero(np.isin(hof, sorted(train_set)))
        holdout = np.unique(np.asarray(holdout_rows, dtype=np.int64))
        stray = np.setdiff1d(holdout, candidates)
        if stray.size:
            raise DataError(f"held-out rows {stray[:10].tolist()} are not rows of train HoF models "
                            f"(the dataset has {hof.size} rows)")
        train = np.setdiff1d(candidates, holdout)
        return DataSplit(train.astype(np.int64), holdout, test.astype(np.int64))
    rng = np.random.default_rng(seed)
    rows = rng.permutation(np.flatnonzero(np.isin(hof, sorted(train_set))))
    n_hold = int(round(holdout_fraction * rows.size))
    holdout, train = np.sort(rows[:n_hold]), np.sort(rows[n_hold:])
    return DataSplit(train.astype(np.int64), holdout.astype(np.int64), test.astype(np.int64))
