"""One figure style for every plot: paper-like fonts, colours per data source, PNG + PDF output."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

#: Colours used for the same source in every figure.
COLORS = {
    "experiment": "#000000",
    "pde": "#1f77b4",
    "noble": "#ff7f0e",
    "hull": "#2ca02c",
    "test": "#d62728",
    "neighbourhood": "#9467bd",
}

RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 120,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,
    "lines.linewidth": 1.0,
}


def _in_notebook_kernel() -> bool:
    try:
        from IPython import get_ipython  # lazy: only meaningful inside a notebook kernel
    except ImportError:  # pragma: no cover - IPython ships with the notebook stack
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def apply_style() -> None:
    """Apply the project's matplotlib style (call once per notebook).

    Inside a Jupyter kernel it also selects the inline backend, so figures show in the notebook even when
    ``MPLBACKEND=Agg`` is set for headless runs (``make``).
    """
    if _in_notebook_kernel():
        from IPython import get_ipython  # lazy: only meaningful inside a notebook kernel

        get_ipython().run_line_magic("matplotlib", "inline")
    matplotlib.rcParams.update(RC)


#: Lines with more points than this are drawn as an embedded image in vector files (a trace has 8,583).
RASTERIZE_ABOVE_POINTS = 2_000


def rasterize_dense_lines(fig, threshold: int = RASTERIZE_ABOVE_POINTS) -> int:
    """Mark every line of ``fig`` with more than ``threshold`` points as rasterized; return how many.

    Axes, labels and short lines stay vector, so a PDF of hundreds of voltage traces stays small.
    """
    count = 0
    for ax in fig.get_axes():
        for line in ax.get_lines():
            if len(line.get_xdata()) > threshold:
                line.set_rasterized(True)
                count += 1
    return count


#: What every saved figure records about its origin (profile, cell, commit, main model card SHA-256); set by
#: :func:`noble.pipeline.steps.run_settings` and :func:`noble.pipeline.steps.ensure_model`.
PROVENANCE: dict[str, str] = {}
PROVENANCE_KEY = "noble-provenance"


def set_provenance(**values: str | None) -> dict[str, str]:
    """Update the provenance written into every figure saved from now on (``None`` removes a key)."""
    for key, value in values.items():
        if value is None:
            PROVENANCE.pop(key, None)
        else:
            PROVENANCE[key] = str(value)
    return dict(PROVENANCE)


def read_png_provenance(path: str | Path) -> dict[str, str]:
    """The provenance a PNG saved by :func:`save_figure` carries (empty when none)."""
    from PIL import Image  # lazy: Pillow only when PNG metadata is written

    with Image.open(path) as img:
        text = img.info.get(PROVENANCE_KEY)
    return json.loads(text) if text else {}


def save_figure(fig, name: str, out_dir: str | Path, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``<out_dir>/<name>.<fmt>`` for each format (dense traces rasterized); return the paths.

    PNG files carry :data:`PROVENANCE` as a JSON text chunk ``noble-provenance``, PDF files in their Subject.
    """
    rasterize_dense_lines(fig)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(PROVENANCE, sort_keys=True)
    paths = []
    for fmt in formats:
        path = out / f"{name}.{fmt}"
        metadata = {PROVENANCE_KEY: text} if fmt == "png" else ({"Subject": text} if fmt == "pdf" else None)
        fig.savefig(path, metadata=metadata)
        paths.append(path)
    return paths
