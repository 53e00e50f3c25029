"""Progress bars that suit where noble runs: a terminal, a JupyterLab notebook, or a headless papermill kernel.

``tqdm.auto`` picks the widget bar in any kernel and warns "IProgress not found" when ipywidgets is missing
(as under papermill); here the widget bar is used only when ipywidgets is importable, and a bar that does not
write to a terminal refreshes at most every 15 s, so logs stay readable.
"""
from __future__ import annotations

import importlib.util
import sys
from typing import Any

from tqdm.std import tqdm as _plain


def _widgets_available() -> bool:
    return "ipykernel" in sys.modules and importlib.util.find_spec("ipywidgets") is not None


def tqdm(*args: Any, **kwargs: Any):
    """A tqdm progress bar (same arguments as ``tqdm.tqdm``)."""
    if _widgets_available():
        from tqdm.notebook import tqdm as widget  # lazy: the widget bar only inside a kernel with ipywidgets

        return widget(*args, **kwargs)
    stream = kwargs.get("file") or sys.stderr
    if not getattr(stream, "isatty", lambda: False)():
        kwargs.setdefault("mininterval", 15.0)
    return _plain(*args, **kwargs)


__all__ = ["tqdm"]
