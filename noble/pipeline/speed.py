"""The appendix-E speed table measured on this machine (cached CSV) and its status line.
"""
from __future__ import annotations

import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import torch

from noble.bench.speed_table import BenchSettings, speed_table
from noble.bench.table import COLUMNS, read_csv, write_csv
from noble.pipeline.cache import signature_of, weights_sha
from noble.pipeline.profiles import analysis_settings
from noble.pipeline.status import Status, record

if TYPE_CHECKING:  # pragma: no cover
    from noble.pipeline.layout import RunLayout
    from noble.pipeline.profiles import Profile


def record_speed_status(profile: "Profile", layout: "RunLayout", rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Record the speed item's status: the fastest NOBLE row against NEURON, with the device it was measured on."""
    noble_rows = [r for r in rows if str(r.get("part")) == "noble" and _finite(r.get("speedup_vs_neuron"))]
    if not noble_rows:
        status = Status("not measured", "no NOBLE row with a NEURON reference in the speed table")
    else:
        best = max(noble_rows, key=lambda r: float(r["speedup_vs_neuron"]))
        status = Status(
            f"measured on {best.get('device', '?')}",
            f"fastest NOBLE row ({best.get('method')}, batch {best.get('batch_size')}, {best.get('workers')} cores):"
            f" {float(best['speedup_vs_neuron']):,.0f}x NEURON on one core, {float(best['speedup_vs_arbor']):,.1f}x"
            f" Arbor on one core{_equal_cores(best)} (paper: about 4,200x NEURON on one RTX 4090)")
    record(layout.results_dir, "Speed (App. E)", status, profile.name)
    return status.as_dict()


def _equal_cores(row: Mapping[str, Any]) -> str:
    """``; N x NEURON with equal cores`` when the table has a NEURON run on as many cores as the row."""
    if int(row.get("workers") or 1) > 1 and _finite(row.get("speedup_vs_neuron_equal_cores")):
        return f"; {float(row['speedup_vs_neuron_equal_cores']):,.0f}x NEURON on {row['workers']} cores"
    return ""


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def speed_rows_cached(profile: "Profile", cell: str, results_dir: Path, model_dir: Path | None = None
                      ) -> list[dict[str, Any]]:
    """The appendix-E speed table measured on this machine (CPU, and the GPU when present), cached as CSV.

    Timing uses an untrained network of the settings' model profile (the paper's size, except on the quick
    profile) unless ``model_dir`` is given; see :mod:`noble.bench`. Batch sizes are the settings'
    ``gpu_batches`` when a GPU is present (the paper's batch 1000 included), else ``cpu_batches``.
    """
    speed = dict(analysis_settings(profile).speed)
    cpu_batches, gpu_batches = speed.pop("cpu_batches"), speed.pop("gpu_batches")
    gpu = torch.cuda.is_available()
    settings = replace(BenchSettings(), cell=cell, progress=False, batches=tuple(gpu_batches if gpu else cpu_batches),
                       **speed)
    device = torch.cuda.get_device_name(0) if gpu else "cpu"
    # the table's columns are part of the key: a table cached under an older layout is measured again
    sig = {"settings": asdict(settings), "device": device, "model": None if model_dir is None else weights_sha(model_dir),
           "columns": list(COLUMNS)}
    path = results_dir / "speed_table.csv"
    sig_path = results_dir / "speed_table.signature"
    if path.is_file() and sig_path.is_file() and sig_path.read_text() == signature_of(sig):
        return read_csv(path)
    rows = speed_table(settings, model_dir=model_dir, log=lambda msg: None)
    write_csv(rows, path)
    sig_path.write_text(signature_of(sig))
    return read_csv(path)
