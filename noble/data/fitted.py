"""Reading the hall of fame of a finished fit folder (``noble fit --out DIR``) as HoF models.

A data job: the simulator (``noble simulate --models DIR``) and the fit itself read fit folders through this
module, so the simulation layer never imports the fitting layer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from noble.data.cell import HofModel
from noble.data.params import load_model_parameters
from noble.errors import DataError
from noble.jsonfile import read_json_file

#: The result file of a fit folder.
RESULT_FILE = "fit.json"


def read_fit_info(out: str | Path, error: Callable[[str], Exception] = DataError) -> dict[str, Any]:
    """The result record of a finished fit folder; ``error`` builds the exception raised otherwise."""
    out = Path(out)
    path = out / RESULT_FILE
    info = read_json_file(path, error, f"no fit result here (run `noble fit --out {out}` first)")
    if info.get("format") != "noble-fit":
        raise error(f"{path}: not a noble fit result")
    if info.get("status") != "finished":
        raise error(f"{path}: the fit has not finished; run the same `noble fit` command again to resume it")
    return info


def load_fitted_models(out_dir: str | Path, error: Callable[[str], Exception] = DataError) -> tuple[HofModel, ...]:
    """The hall of fame of a fit folder as :class:`HofModel` (seed = fit seed, hof = index = rank)."""
    out = Path(out_dir)
    info = read_fit_info(out, error)
    models = []
    for h in info["hall_of_fame"]:
        path = out / h["file"]
        rank = int(h["rank"])
        models.append(HofModel(info["cell"], int(info["seed"]), rank, rank, path, load_model_parameters(path), {}))
    return tuple(models)


__all__ = ["RESULT_FILE", "load_fitted_models", "read_fit_info"]
