"""Evaluating a trained model on a dataset: voltage errors and eFEL feature errors per test set.

Two sets are reported separately (paper Tables 1 and 2):

* ``train_hofs_unseen_currents``: traces of the model's train HoF models. When the dataset is the one the
  model was trained on (same data-card SHA-256), only the rows held out from training are used;
* ``test_hofs``: traces of the HoF models held out of training entirely.

Units: current nA, voltage mV, time ms; errors in percent.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from tqdm.auto import tqdm

from noble.embedding import EmbeddingError
from noble.evaluation.features import ALL_FEATURES, TABLE1_FEATURES, account
from noble.evaluation.metrics import relative_lp_error, summarize
from noble.model import NobleModel
from noble.training.data import TraceDataset

SET_NAMES = ("train_hofs_unseen_currents", "test_hofs")


def evaluation_rows(model: NobleModel, dataset: TraceDataset, split: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    """Row indices of each evaluation set (see the module docstring)."""
    train_rows = np.flatnonzero(np.isin(dataset.hof, list(model.train_hofs)))
    if split is not None and split.get("data_card_sha256") == dataset.data_card_sha256:
        train_rows = np.asarray(split["holdout"], dtype=np.int64)
    test_rows = np.flatnonzero(np.isin(dataset.hof, list(model.test_hofs)))
    return {"train_hofs_unseen_currents": train_rows, "test_hofs": test_rows}


def check_compatible(model: NobleModel, dataset: TraceDataset) -> None:
    """Fail loudly when the dataset's cell or trace grid differs from the model's."""
    if model.cell is not None and dataset.cell != model.cell:
        raise EmbeddingError(f"{dataset.path}: traces of cell {dataset.cell!r}, the model was trained on {model.cell!r}")
    model.template.check_matches(dataset.template, str(dataset.path))


def _features_in_chunks(voltage: np.ndarray, time: np.ndarray, start: float, end: float, desc: str,
                        progress: bool, chunk: int = 128) -> list[dict[str, float]]:
    from noble.features.efel_features import extract_features

    rows: list[dict[str, float]] = []
    for i in tqdm(range(0, len(voltage), chunk), desc=desc, disable=not progress, leave=False):
        rows += extract_features(voltage[i:i + chunk], time, start, end, features=ALL_FEATURES)
    return rows


def evaluate_model(
    model: NobleModel,
    dataset: TraceDataset,
    split: Mapping[str, Any] | None = None,
    *,
    features: bool = True,
    max_traces: int | None = None,
    batch_size: int = 128,
    seed: int = 0,
    progress: bool = True,
    device: str | None = None,
) -> dict[str, Any]:
    """Metrics of ``model`` on ``dataset`` for each evaluation set (at most ``max_traces`` random rows each)."""
    check_compatible(model, dataset)
    rng = np.random.default_rng(seed)
    template = model.template
    out: dict[str, Any] = {"data": dataset.describe(), "sets": {}}
    for name, rows in evaluation_rows(model, dataset, split).items():
        if max_traces is not None and rows.size > max_traces:
            rows = np.sort(rng.choice(rows, size=max_traces, replace=False))
        if rows.size == 0:
            out["sets"][name] = {"n_traces": 0}
            continue
        pred = model.predict(dataset.amplitude[rows], hofs=dataset.hof[rows], batch_size=batch_size, device=device)
        true = dataset.voltage[rows]
        result: dict[str, Any] = {
            "n_traces": int(rows.size),
            "n_hofs": int(np.unique(dataset.hof[rows]).size),
            "voltage_rel_l2": summarize(relative_lp_error(pred, true, 2)),
            "voltage_rel_l4": summarize(relative_lp_error(pred, true, 4)),
        }
        table1: dict[str, float] = {"voltage": result["voltage_rel_l2"]["mean_pct"]}
        if features:
            t_rows = _features_in_chunks(true, dataset.time, template.delay_ms, template.stim_end_ms,
                                         f"eFEL {name} (true)", progress)
            p_rows = _features_in_chunks(pred, dataset.time, template.delay_ms, template.stim_end_ms,
                                         f"eFEL {name} (predicted)", progress)
            report = account(t_rows, p_rows)
            result["features"] = report.as_dict()
            table1.update({f: report.mean_pct(f) for f in TABLE1_FEATURES})
        result["table1_pct"] = table1
        out["sets"][name] = result
    return out


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (strict JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def format_table(metrics: Mapping[str, Any]) -> str:
    """A plain-text table of the Table 1 metrics of each set (percent)."""
    cols = ["voltage", *TABLE1_FEATURES]
    lines = ["set".ljust(28) + "".join(c[:22].rjust(24) for c in cols)]
    for name, res in metrics.get("sets", {}).items():
        if not res.get("n_traces"):
            lines.append(name.ljust(28) + "(no traces in this dataset)")
            continue
        t1 = res.get("table1_pct", {})
        cells = [t1.get(c, math.nan) for c in cols]
        lines.append(name.ljust(28) + "".join(f"{v:24.3f}" for v in cells))
        if "features" in res:
            f = res["features"]
            lines.append(f"  traces {f['n_traces']}: both spiking {f['n_both_spiking']}, both silent {f['n_both_silent']},"
                         f" missed firing {f['missed_firing']}, missed non-firing {f['missed_non_firing']}")
    return "\n".join(lines)


def evaluate_directory(model_dir: str | Path, data: str | Path, **kwargs: Any) -> dict[str, Any]:
    """Load a model directory and a dataset file and evaluate (keyword arguments as :func:`evaluate_model`)."""
    from noble.checkpoint import load_model
    from noble.training.data import read_dataset
    from noble.training.loop import load_split

    model = load_model(model_dir)
    dataset = read_dataset(data)
    metrics = evaluate_model(model, dataset, load_split(model_dir), **kwargs)
    metrics["model"] = {"dir": str(model_dir), "name": model.card.get("name"),
                        "weights_sha256": model.card["weights"]["sha256"],
                        "trained_on_data_card_sha256": model.card.get("data", {}).get("data_card_sha256")}
    return metrics
