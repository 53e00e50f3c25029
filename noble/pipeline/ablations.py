"""Paper Tables 1-2: models trained with other embedded feature sets (Table 1) and on fewer train HoFs (Table 2),
each with several training seeds, their errors (%) beside the paper's and two baselines on the same traces, and
the status of each table.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from noble.errors import AnalysisError
from noble.pipeline.profiles import analysis_settings
from noble.pipeline.reports import result_column
from noble.pipeline.status import record_model_results, record_skip
from noble.pipeline.steps import ensure_metrics, ensure_model, hof_pools, per_hof_features
from noble.plotting.tables import (FEATURE_SET_LABELS, PAPER_TABLE1, PAPER_TABLE2, TABLE1_COLUMNS, paper_hof_count,
                                   with_paper)
from noble.training import load_config

if TYPE_CHECKING:  # pragma: no cover
    from noble.pipeline.layout import RunLayout
    from noble.pipeline.profiles import Profile


#: The embedded feature sets of Table 1 (noble feature names, in the recorded order).
TABLE1_FEATURE_SETS: tuple[tuple[str, ...], ...] = (
    (), ("slope",), ("intercept",), ("slope", "intercept"), ("slope", "intercept", "depol.AHP_depth"),
)


def ablation_profile(profile: "Profile") -> "Profile":
    """The profile the Table 1-2 models are trained with: epochs and time cap from the analysis settings."""
    s = analysis_settings(profile)
    changes = {}
    if s.ablation_epochs is not None and s.ablation_epochs != profile.epochs:
        changes["epochs"] = s.ablation_epochs
    if s.ablation_max_minutes is not None and s.ablation_max_minutes != profile.max_minutes:
        changes["max_minutes"] = s.ablation_max_minutes
    return replace(profile, **changes) if changes else profile


def feature_set_tag(features: Sequence[str], main: bool = True) -> str:
    """The model tag of a Table 1 feature set (``main`` for the paper's s_thr, I_thr when ``main``)."""
    if main and tuple(features) == ("slope", "intercept"):
        return "main"
    return "feat-" + ("-".join(f.replace("depol.", "") for f in features) if features else "none")


def seed_tag(tag: str, seed: int | None) -> str:
    """The model tag of one training seed of a table row: the row's tag for the default seed, else ``<tag>-seed<n>``."""
    return tag if seed is None else f"{tag}-seed{int(seed)}"


def _seeds(profile: "Profile", seeds: Sequence[int] | None) -> tuple[int | None, ...]:
    """Training seeds of every table row: None stands for the configuration's own seed (the row's first model)."""
    chosen = tuple(analysis_settings(profile).ablation_seeds if seeds is None else seeds)
    if not chosen or len(set(chosen)) != len(chosen) or any(isinstance(x, bool) or int(x) != x or x < 0 for x in chosen):
        raise AnalysisError(f"table seeds must be distinct non-negative integers, at least one, not {list(chosen)}")
    default = load_config(profile.model_profile).training.seed
    return tuple(None if int(x) == default else int(x) for x in chosen)


@dataclass(frozen=True)
class AblationRow:
    """One row of Table 1 or 2: a model per training seed, each scored on the same evaluation set."""

    tags: tuple[str, ...]  # model tags, one per seed, the configuration's seed first when it is used
    seeds: tuple[int, ...]  # the training seeds behind the tags
    results: tuple[Mapping[str, Any], ...]  # evaluate_model's result of each model on the row's set (percent)


def _train_row(prof: "Profile", cell: str, layout: "RunLayout", tag: str, set_name: str,
               seeds: tuple[int | None, ...], **model_args: Any) -> AblationRow:
    default = load_config(prof.model_profile).training.seed
    tags, used, results = [], [], []
    for seed in seeds:
        t = seed_tag(tag, seed)
        ensure_model(prof, cell, layout, tag=t, seed=seed, **model_args)
        results.append(ensure_metrics(prof, cell, layout, tag=t)["sets"][set_name])
        tags.append(t)
        used.append(default if seed is None else seed)
    return AblationRow(tuple(tags), tuple(used), tuple(results))


def table1_results(profile: "Profile", cell: str, layout: "RunLayout",
                   feature_sets: Sequence[Sequence[str]] = TABLE1_FEATURE_SETS,
                   seeds: Sequence[int] | None = None) -> dict[tuple[str, ...], AblationRow]:
    """Table 1: a model per embedded feature set and training seed (default the analysis settings'
    ``ablation_seeds``), each scored on the unseen currents of the train HoFs."""
    prof = ablation_profile(profile)
    known = per_hof_features(cell)
    use_seeds = _seeds(prof, seeds)
    out = {}
    for feats in feature_sets:
        missing = [f for f in feats if f not in known]
        if missing:  # e.g. depol.AHP_depth of a package whose features were computed, not published
            reason = f"{cell} has no per-HoF {missing} (its features: {sorted(known)})"
            record_skip(layout.results_dir, f"Table 1 row {'+'.join(feats)}", reason, profile.name)
            print(f"Table 1 row {list(feats)} skipped: {reason}")
            continue
        tag = feature_set_tag(feats, main=prof is profile)
        out[tuple(feats)] = _train_row(prof, cell, layout, tag, "train_hofs_unseen_currents", use_seeds,
                                       features=None if tag == "main" else list(feats))
    return out


def hof_counts(n_pool: int, fractions: Sequence[float]) -> list[int]:
    """Distinct numbers of train HoF models (at least 2), largest first, for the given fractions of the pool."""
    if n_pool < 2:
        raise AnalysisError(f"Table 2 needs at least 2 train HoF models, the profile has {n_pool}")
    return sorted({max(2, min(n_pool, int(round(f * n_pool)))) for f in fractions}, reverse=True)


def table2_results(profile: "Profile", cell: str, layout: "RunLayout", fractions: Sequence[float],
                   n_samples: int | None = None, seeds: Sequence[int] | None = None) -> dict[int, AblationRow]:
    """Table 2: models trained on fewer train HoFs with the same number of training traces (``n_samples``,
    default the profile's; the full pool uses the first rows of the training set, each subset a dataset
    simulated on it), one per training seed, each scored on the test HoF models."""
    prof = ablation_profile(profile)
    pool, _ = hof_pools(prof, cell)
    n_samples = None if n_samples is None or n_samples >= prof.n_train_samples else int(n_samples)
    use_seeds = _seeds(prof, seeds)
    out = {}
    for n in hof_counts(len(pool), fractions):
        full = n == len(pool)
        tag = "main" if full and prof is profile and n_samples is None else f"hofs-{n}"
        out[n] = _train_row(prof, cell, layout, tag, "test_hofs", use_seeds,
                            train_hofs=None if full else list(pool[:n]), n_train_samples=n_samples)
    return out


def _finite(values: Sequence[Any]) -> list[float]:
    """The finite numbers among ``values`` (reason strings and NaN left out)."""
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def _mean(values: Sequence[Any]) -> float:
    finite = _finite(values)
    return float(np.mean(finite)) if finite else math.nan


def _sd(values: Sequence[Any]) -> float | str:
    """Sample standard deviation over seeds, or why there is none."""
    finite = _finite(values)
    if len(values) < 2:
        return "n/a (1 seed)"
    if len(finite) < 2:
        return f"n/a ({len(finite)} of {len(values)} seeds with a number)"
    return float(np.std(finite, ddof=1))


#: Cells of a Table 1-2 row taken from its first model rather than averaged over seeds.
FIRST_SEED_COLUMNS: tuple[str, ...] = ("Voltage, 95% CI", "Traces (spiking / silent PDE)")
#: The voltage CI's column in Tables 1-2, where it is the first seed's.
FIRST_SEED_CI = "Voltage, 95% CI (first seed)"


def _name_first_seed_ci(cells: dict[str, float | str]) -> None:
    """Rename the voltage CI cell of :func:`result_column` to say it is the first seed's (in place)."""
    if "Voltage, 95% CI" in cells:
        cells[FIRST_SEED_CI] = cells.pop("Voltage, 95% CI")
#: The spread over training seeds (sample sd, percentage points) of a Table 1-2 row.
SEED_SPREAD_COLUMNS: tuple[str, ...] = ("Voltage, sd over seeds", "Missed firing, sd over seeds")


def row_cells(row: AblationRow) -> dict[str, float | str]:
    """A Table 1-2 row: each error the mean over the row's seeds (a spike feature with no number in any seed
    says why), the spread over seeds, the first model's bootstrap CI and the traces behind it."""
    columns = [result_column(r) for r in row.results]
    cells: dict[str, float | str] = {}
    for name, first in columns[0].items():
        values = [c[name] for c in columns]
        if name in FIRST_SEED_COLUMNS:
            cells[name] = first  # the same traces for every seed; the CI is the first model's
            continue
        mean = _mean([v for v in values if not isinstance(v, str)])
        # a spike feature no seed has a number for keeps its reason ("none: 40 of 40 spiking traces missed")
        cells[name] = mean if math.isfinite(mean) else next((v for v in values if isinstance(v, str)), math.nan)
    cells[SEED_SPREAD_COLUMNS[0]] = _sd([c["Voltage"] for c in columns])
    cells[SEED_SPREAD_COLUMNS[1]] = _sd([c["Missed firing (% of spiking PDE traces)"] for c in columns])
    _name_first_seed_ci(cells)
    cells["Seeds"] = f"{len(row.seeds)}: " + ", ".join(str(x) for x in row.seeds)
    return cells


def baseline_cells(result: Mapping[str, Any], key: str) -> dict[str, float | str] | None:
    """A baseline's row on the same traces as ``result`` (:mod:`noble.evaluation.baselines`), or None."""
    base = result.get("baselines", {}).get(key)
    if base is None:
        return None
    cells = result_column(base)
    _name_first_seed_ci(cells)
    for name in SEED_SPREAD_COLUMNS:
        cells[name] = "n/a (no training)"
    cells["Seeds"] = "-"
    return cells


def ablation_frame(rows: Mapping[str, AblationRow], index_name: str, paper: Mapping[str, Mapping[str, Any]],
                   baselines: Mapping[str, tuple[Mapping[str, Any], str]]) -> pd.DataFrame:
    """Table 1 or 2: the model rows (mean over seeds, the paper's value beside each error), then the baseline
    rows ``{label: (result whose traces they share, baseline key)}`` on the very same traces."""
    if not rows:
        raise AnalysisError(f"no rows for the {index_name} table")
    body = {label: row_cells(row) for label, row in rows.items()}
    for label, (result, key) in baselines.items():
        cells = baseline_cells(result, key)
        if cells is not None:
            body[label] = cells
    df = pd.DataFrame.from_dict(body, orient="index")
    df.index.name = index_name
    errors = with_paper(df[list(TABLE1_COLUMNS)], paper)
    rest = df[[c for c in df.columns if c not in TABLE1_COLUMNS]]
    return pd.concat([errors, rest], axis=1)


def table1_frame(results: Mapping[tuple[str, ...], AblationRow]) -> pd.DataFrame:
    """Table 1 with the constant-rest and nearest-neighbour baselines on the same unseen-current traces."""
    rows = {FEATURE_SET_LABELS[k]: v for k, v in results.items()}
    first = next(iter(results.values())).results[0]
    baselines = {"Constant rest (same traces)": (first, "constant_rest"),
                 "Nearest neighbour (same traces)": (first, "nearest_neighbour")}
    return ablation_frame(rows, "Features embedded", PAPER_TABLE1, baselines)


def table2_frame(results: Mapping[int, AblationRow], n_pool: int) -> pd.DataFrame:
    """Table 2, each row beside the paper's row for the same fraction, with the constant-rest baseline and,
    per row, the nearest-neighbour baseline drawn from that row's own training set (same test-HoF traces)."""
    rows, paper, baselines = {}, {}, {}
    ordered = sorted(results.items(), reverse=True)
    for n, row in ordered:
        label = f"{n} of {n_pool} (paper: {paper_hof_count(n, n_pool)})"
        rows[label] = row
        paper[label] = PAPER_TABLE2[paper_hof_count(n, n_pool)]
    baselines["Constant rest (same traces)"] = (ordered[0][1].results[0], "constant_rest")
    for n, row in ordered:
        baselines[f"Nearest neighbour of {n} train HoFs (same traces)"] = (row.results[0], "nearest_neighbour")
    return ablation_frame(rows, "#HoFs included", paper, baselines)


def record_table_status(profile: "Profile", cell: str, layout: "RunLayout", table: str,
                        n_train_hofs: int | None = None) -> dict[str, str]:
    """Record the status of Table 1 (its s_thr, I_thr row) or Table 2 (its row with every train HoF) from the
    metrics of that row's model, judged against the paper's row (:mod:`noble.pipeline.status`)."""
    prof = ablation_profile(profile)
    if table == "Table 1":
        tag, set_name, paper = feature_set_tag(("slope", "intercept"), main=prof is profile), "train_hofs_unseen_currents", PAPER_TABLE1["s_thr, I_thr"]
    elif table == "Table 2":
        pool, _ = hof_pools(prof, cell)
        n = n_train_hofs or len(pool)
        full = n == len(pool)
        tag = "main" if full and prof is profile else f"hofs-{n}"
        set_name, paper = "test_hofs", PAPER_TABLE2[50]
    else:
        raise AnalysisError(f"no status rule for {table!r}")
    results = []
    for seed in _seeds(prof, None):
        path = layout.results_dir / f"metrics_{seed_tag(tag, seed)}.json"
        if not path.is_file():
            raise AnalysisError(f"{path}: no metrics of the {table} model {seed_tag(tag, seed)!r}; compute the table first")
        results.append(json.loads(path.read_text())["sets"][set_name])
    label = f"{table} row of model {tag!r}" + (f" (mean of {len(results)} seeds)" if len(results) > 1 else "")
    return record_model_results(layout.results_dir, profile.name, (table,), {label: mean_result(results)},
                                {label: {k: v for k, v in paper.items() if v is not None}}).as_dict()


def mean_result(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The seed average of one row's results as the status rules read it: ``table1_pct`` and ``firing`` means
    (over the seeds that have each number), the baselines of the first (the same traces for every seed)."""
    if not results:
        raise AnalysisError("no results to average")
    out: dict[str, Any] = {"baselines": results[0].get("baselines", {})}
    for part in ("table1_pct", "firing"):
        keys = sorted({k for r in results for k in r.get(part, {})})
        out[part] = {k: _mean([r.get(part, {}).get(k, math.nan) for r in results]) for k in keys}
    return out
