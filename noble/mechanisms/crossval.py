"""Comparing somatic voltage traces of two engines (or two time steps): spike counts and relative L2.

Units: voltage mV, time ms. A spike is an upward crossing of ``threshold`` (mV).
"""
from __future__ import annotations

import argparse
import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

#: Spike detection threshold (mV), as Arbor's threshold detector in the project's docs.
SPIKE_THRESHOLD = -20.0


def spike_times(v: np.ndarray, dt: float, threshold: float = SPIKE_THRESHOLD) -> np.ndarray:
    """Times (ms) of upward crossings of ``threshold`` by one trace sampled every ``dt`` ms (interpolated)."""
    v = np.asarray(v, dtype=float)
    i = np.flatnonzero((v[:-1] < threshold) & (v[1:] >= threshold))
    frac = (threshold - v[i]) / (v[i + 1] - v[i])
    return (i + frac) * dt


def spike_count(v: np.ndarray, threshold: float = SPIKE_THRESHOLD) -> int:
    """Number of upward crossings of ``threshold`` (mV)."""
    v = np.asarray(v, dtype=float)
    return int(np.count_nonzero((v[:-1] < threshold) & (v[1:] >= threshold)))


def relative_l2(x: np.ndarray, reference: np.ndarray) -> float:
    """||x - reference||_2 / ||reference||_2 over one trace."""
    x = np.asarray(x, dtype=float)
    reference = np.asarray(reference, dtype=float)
    return float(np.linalg.norm(x - reference) / np.linalg.norm(reference))


@dataclass(frozen=True)
class TraceComparison:
    """How one trace of a candidate (e.g. Arbor) differs from a reference (e.g. NEURON)."""

    amplitude: float  # nA
    spikes_reference: int
    spikes_candidate: int
    relative_l2: float
    max_abs_mV: float
    first_spike_shift_ms: float  # candidate minus reference; nan without spikes
    last_spike_shift_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def compare_traces(reference: np.ndarray, candidate: np.ndarray, amplitude: float, dt: float) -> TraceComparison:
    """Compare two traces of the same stimulus sampled every ``dt`` ms on the same grid."""
    ts_ref = spike_times(reference, dt)
    ts_can = spike_times(candidate, dt)
    both = min(len(ts_ref), len(ts_can)) > 0
    return TraceComparison(
        amplitude=float(amplitude),
        spikes_reference=len(ts_ref),
        spikes_candidate=len(ts_can),
        relative_l2=relative_l2(candidate, reference),
        max_abs_mV=float(np.max(np.abs(np.asarray(candidate) - np.asarray(reference)))),
        first_spike_shift_ms=float(ts_can[0] - ts_ref[0]) if both else float("nan"),
        last_spike_shift_ms=float(ts_can[-1] - ts_ref[-1]) if both else float("nan"),
    )


def comparison_parser(
    description: str, hofs: Sequence[int], amplitudes: Sequence[float], out: Path
) -> argparse.ArgumentParser:
    """The arguments every cross-validation script takes: cell, data root, HoF models, amplitudes (nA), output."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cell", default="human_pvalb_689331391")
    parser.add_argument("--data-root", default=None, help="data root (default: NOBLE_DATA_DIR or the cache)")
    parser.add_argument("--hofs", type=int, nargs="+", default=list(hofs))
    parser.add_argument("--amplitudes", type=float, nargs="+", default=list(amplitudes))
    parser.add_argument("--out", type=Path, default=out)
    return parser


def _fmt(x: object) -> str:
    if isinstance(x, float):
        return "-" if math.isnan(x) else f"{x:.3g}"
    return str(x)


def write_comparison_tables(rows: Sequence[Mapping[str, object]], out: Path, header: Sequence[str]) -> list[str]:
    """Write ``rows`` as ``out.csv`` and as ``out.md`` (``header`` lines, then a table); return the markdown lines."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    keys = list(rows[0])
    with open(out.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    lines = [*header, "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_fmt(r[k]) for k in keys) + " |" for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return lines
