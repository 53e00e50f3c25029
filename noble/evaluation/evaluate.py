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
from typing import Any, Mapping, Sequence

import numpy as np

from noble.checkpoint import load_model
from noble.embedding import EmbeddingError
from noble.evaluation.baselines import BaselineError, constant_rest, nearest_neighbour
from noble.evaluation.features import ALL_FEATURES, SPIKE_FEATURE, TABLE1_FEATURES, account
from noble.evaluation.metrics import relative_lp_error, summarize
from noble.features.efel_features import extract_features
from noble.model import NobleModel
from noble.progress import tqdm
from noble.spikes import FiringReport, firing_report, spike_counts, window_mask
from noble.training.data import TraceDataset, read_dataset
from noble.sim.traces import concat_datasets
from noble.training.loop import load_split

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
    rows: list[dict[str, float]] = []
    for i in tqdm(range(0, len(voltage), chunk), desc=desc, disable=not progress, leave=False):
        rows += extract_features(voltage[i:i + chunk], time, start, end, features=ALL_FEATURES)
    return rows


def _firing_from_features(t_rows: list[dict[str, float]], p_rows: list[dict[str, float]]) -> FiringReport:
    def count(row: Mapping[str, float]) -> int:
        value = row.get(SPIKE_FEATURE, math.nan)
        return int(value) if value is not None and math.isfinite(value) else 0

    return firing_report(np.array([count(r) for r in p_rows]), np.array([count(r) for r in t_rows]))


def score_traces(
    pred: np.ndarray, true: np.ndarray, time: np.ndarray, stim_start: float, stim_end: float, *,
    features: bool = True, true_rows: list[dict[str, float]] | None = None, desc: str = "", progress: bool = False,
) -> dict[str, Any]:
    """Voltage errors, firing accounting and (with ``features``) eFEL feature errors of ``pred`` against ``true``.

    Traces ``[N, T]`` in mV on ``time`` (ms). Spike counts are eFEL's ``Spikecount`` inside the stimulus window
    when features are computed, else upward crossings of -20 mV (:mod:`noble.spikes`).
    """
    result: dict[str, Any] = {
        "voltage_rel_l2": summarize(relative_lp_error(pred, true, 2)),
        "voltage_rel_l4": summarize(relative_lp_error(pred, true, 4)),
    }
    table1: dict[str, float] = {"voltage": result["voltage_rel_l2"]["mean_pct"]}
    if features:
        if true_rows is None:
            true_rows = _features_in_chunks(true, time, stim_start, stim_end, f"eFEL {desc} (true)", progress)
        p_rows = _features_in_chunks(pred, time, stim_start, stim_end, f"eFEL {desc} (predicted)", progress)
        report = account(true_rows, p_rows)
        result["features"] = report.as_dict()
        table1.update({f: report.mean_pct(f) for f in TABLE1_FEATURES})
        firing = _firing_from_features(true_rows, p_rows)
    else:
        mask = window_mask(time, stim_start, stim_end)
        firing = firing_report(spike_counts(pred, mask), spike_counts(true, mask))
    result["firing"] = firing.as_dict()
    result["table1_pct"] = table1
    return result


def _latent(model: NobleModel, hofs: np.ndarray) -> dict[int, np.ndarray] | None:
    hofs = sorted({int(h) for h in hofs})
    if not model.feature_names or any(h not in model.feature_table for h in hofs):
        return None
    points = np.asarray(model.scaler.transform(model.features_for_hofs(hofs)))
    return {h: points[i] for i, h in enumerate(hofs)}


def baseline_traces(
    model: NobleModel, dataset: TraceDataset, rows: np.ndarray, reference: TraceDataset | None,
    reference_rows: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """The baselines of :mod:`noble.evaluation.baselines` for ``rows`` of ``dataset`` (mV traces).

    The nearest-neighbour baseline needs the training traces (``reference`` and its ``reference_rows``); without
    them only the constant-rest baseline is returned.
    """
    out = {"constant_rest": constant_rest(dataset.voltage[rows], dataset.time, model.template.delay_ms)}
    if reference is not None:
        ref_rows = np.arange(len(reference)) if reference_rows is None else np.asarray(reference_rows, dtype=np.int64)
        ref_rows = ref_rows[np.isin(reference.hof[ref_rows], list(model.train_hofs))]
        pool = np.unique(np.concatenate([reference.hof[ref_rows], dataset.hof[rows]]))
        try:
            out["nearest_neighbour"] = nearest_neighbour(
                dataset.amplitude[rows], dataset.hof[rows], reference.voltage[ref_rows],
                reference.amplitude[ref_rows], reference.hof[ref_rows], latent=_latent(model, pool),
            )
        except BaselineError:
            pass  # a model without embedded features has no latent space to find a test HoF's neighbour in
    return out


def evaluate_model(
    model: NobleModel,
    dataset: TraceDataset,
    split: Mapping[str, Any] | None = None,
    *,
    reference: TraceDataset | None = None,
    reference_rows: np.ndarray | None = None,
    baselines: bool = True,
    features: bool = True,
    max_traces: int | None = None,
    batch_size: int = 128,
    seed: int = 0,
    progress: bool = True,
    device: str | None = None,
) -> dict[str, Any]:
    """Metrics of ``model`` on ``dataset`` for each evaluation set (at most ``max_traces`` random rows each).

    With ``baselines`` each set also holds ``baselines``: the same metrics for the constant-rest baseline and,
    when the training traces are known, the nearest-neighbour baseline (``reference``/``reference_rows``; when
    ``dataset`` is the training set itself, its training rows of ``split`` are used).
    """
    check_compatible(model, dataset)
    rng = np.random.default_rng(seed)
    template = model.template
    if reference is None and split is not None and split.get("data_card_sha256") == dataset.data_card_sha256:
        reference, reference_rows = dataset, np.asarray(split["train"], dtype=np.int64)
    out: dict[str, Any] = {"data": dataset.describe(), "sets": {}}
    for name, rows in evaluation_rows(model, dataset, split).items():
        if max_traces is not None and rows.size > max_traces:
            rows = np.sort(rng.choice(rows, size=max_traces, replace=False))
        if rows.size == 0:
            out["sets"][name] = {"n_traces": 0}
            continue
        pred = model.predict(dataset.amplitude[rows], hofs=dataset.hof[rows], batch_size=batch_size, device=device)
        true = dataset.voltage[rows]
        true_rows = (_features_in_chunks(true, dataset.time, template.delay_ms, template.stim_end_ms,
                                         f"eFEL {name} (true)", progress) if features else None)
        result: dict[str, Any] = {"n_traces": int(rows.size), "n_hofs": int(np.unique(dataset.hof[rows]).size)}
        result.update(score_traces(pred, true, dataset.time, template.delay_ms, template.stim_end_ms,
                                   features=features, true_rows=true_rows, desc=name, progress=progress))
        if baselines:
            result["baselines"] = {
                key: score_traces(trace, true, dataset.time, template.delay_ms, template.stim_end_ms,
                                  features=features, true_rows=true_rows, desc=f"{name} {key}", progress=progress)
                for key, trace in baseline_traces(model, dataset, rows, reference, reference_rows).items()
            }
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


#: The short summary of one predictor on one set (:func:`firing_summary`), with a label for plots (percent).
SUMMARY_LABELS: dict[str, str] = {"missed_firing_pct": "missed firing (% of spiking)",
                                  "spike_count_err_pct": "spike-count error (%)",
                                  "voltage_rel_l2_pct": "voltage rel. L2 (%)"}


def firing_summary(result: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """One set's result of :func:`evaluate_model` in short, per predictor (``model`` and each baseline): traces,
    missed and false firing, spike-count error and mean voltage relative L2 (percent)."""
    out = {}
    for name, r in {"model": result, **result.get("baselines", {})}.items():
        out[name] = {"n_traces": r.get("n_traces", result["n_traces"]),
                     "missed_firing_pct": r["firing"]["missed_firing_pct"],
                     "false_firing_pct": r["firing"]["false_firing_pct"],
                     "spike_count_err_pct": r["firing"]["spike_count_rel_err_pct"],
                     "voltage_rel_l2_pct": r["voltage_rel_l2"]["mean_pct"]}
    return out


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
        for key, base in res.get("baselines", {}).items():
            b1 = base.get("table1_pct", {})
            lines.append(f"  baseline {key}".ljust(28) + "".join(f"{b1.get(c, math.nan):24.3f}" for c in cols))
        if "firing" in res:
            fr = res["firing"]
            lines.append(f"  firing: {fr['n_spiking']} spiking, {fr['n_silent']} silent PDE traces; missed firing"
                         f" {fr['missed_firing_pct']:.1f}%, false firing {fr['false_firing_pct']:.1f}%,"
                         f" spike-count error {fr['spike_count_rel_err_pct']:.1f}%")
        if "features" in res:
            f = res["features"]
            lines.append(f"  traces {f['n_traces']}: both spiking {f['n_both_spiking']}, both silent {f['n_both_silent']},"
                         f" missed firing {f['missed_firing']}, missed non-firing {f['missed_non_firing']}")
    return "\n".join(lines)


def training_reference(split: Mapping[str, Any] | None,
                       datasets: Sequence[TraceDataset]) -> tuple[TraceDataset, np.ndarray | None]:
    """The traces a model was trained on, for the nearest-neighbour baseline: ``datasets`` concatenated in order
    (e.g. the training set and the extra traces of a continuation stage) and the rows its ``split`` trained on
    when the split describes them (also when the model trained on them coarsened); otherwise every row."""
    if not datasets:
        raise ValueError("no training dataset given")
    reference = concat_datasets(datasets)
    if split is not None and reference.card_factor(str(split.get("data_card_sha256"))) is not None:
        return reference, np.asarray(split["train"], dtype=np.int64)
    return reference, None


def evaluate_directory(model_dir: str | Path, data: str | Path,
                       train_data: str | Path | Sequence[str | Path] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Load a model directory and a dataset file and evaluate (keyword arguments as :func:`evaluate_model`).

    ``train_data``: the model's training set (one file, or several concatenated in order, as a continuation stage
    trained on them), for the nearest-neighbour baseline (its training rows only, when its split names them).
    """
    model = load_model(model_dir)
    dataset = read_dataset(data)
    split = load_split(model_dir)
    reference_rows_known = None
    if train_data is not None:
        paths = [train_data] if isinstance(train_data, (str, Path)) else list(train_data)
        reference, rows = training_reference(split, [read_dataset(p) for p in paths])
        reference_rows_known = rows is not None
        kwargs = {"reference": reference, "reference_rows": rows, **kwargs}
    metrics = evaluate_model(model, dataset, split, **kwargs)
    metrics["model"] = {"dir": str(model_dir), "name": model.card.get("name"),
                        "weights_sha256": model.card["weights"]["sha256"],
                        "trained_on_data_card_sha256": model.card.get("data", {}).get("data_card_sha256")}
    if reference_rows_known is not None:
        metrics["model"]["nearest_neighbour_reference"] = {
            "files": [str(p) for p in paths], "n_traces": len(kwargs["reference"]),
            "rows": "the model's training rows" if reference_rows_known else "every row (the split does not name them)"}
    return metrics
