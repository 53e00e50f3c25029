"""Paper Tables 1-2: models trained with other embedded feature sets (Table 1) and on fewer train HoFs (Table 2),
their errors (%) and the status of each table.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

from noble.errors import AnalysisError
from noble.pipeline.profiles import analysis_settings
from noble.pipeline.status import record_model_results, record_skip
from noble.pipeline.steps import ensure_metrics, ensure_model, hof_pools, per_hof_features
from noble.plotting.tables import PAPER_TABLE1, PAPER_TABLE2

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


def table1_results(profile: "Profile", cell: str, layout: "RunLayout",
                   feature_sets: Sequence[Sequence[str]] = TABLE1_FEATURE_SETS) -> dict[tuple[str, ...], dict[str, float]]:
    """Table 1: ``table1_pct`` of a model per embedded feature set, on the unseen currents of the train HoFs."""
    prof = ablation_profile(profile)
    known = per_hof_features(cell)
    out = {}
    for feats in feature_sets:
        missing = [f for f in feats if f not in known]
        if missing:  # e.g. depol.AHP_depth of a package whose features were computed, not published
            reason = f"{cell} has no per-HoF {missing} (its features: {sorted(known)})"
            record_skip(layout.results_dir, f"Table 1 row {'+'.join(feats)}", reason, profile.name)
            print(f"Table 1 row {list(feats)} skipped: {reason}")
            continue
        tag = feature_set_tag(feats, main=prof is profile)
        ensure_model(prof, cell, layout, tag=tag, features=None if tag == "main" else list(feats))
        metrics = ensure_metrics(prof, cell, layout, tag=tag)
        out[tuple(feats)] = metrics["sets"]["train_hofs_unseen_currents"].get("table1_pct", {})
    return out


def hof_counts(n_pool: int, fractions: Sequence[float]) -> list[int]:
    """Distinct numbers of train HoF models (at least 2), largest first, for the given fractions of the pool."""
    if n_pool < 2:
        raise AnalysisError(f"Table 2 needs at least 2 train HoF models, the profile has {n_pool}")
    return sorted({max(2, min(n_pool, int(round(f * n_pool)))) for f in fractions}, reverse=True)


def table2_results(profile: "Profile", cell: str, layout: "RunLayout", fractions: Sequence[float],
                   n_samples: int | None = None) -> dict[int, dict[str, float]]:
    """Table 2: ``table1_pct`` on the test HoF models of models trained on fewer train HoFs with the same number
    of training traces (``n_samples``, default the profile's; the full pool uses the first rows of the training
    set, each subset a dataset simulated on it)."""
    prof = ablation_profile(profile)
    pool, _ = hof_pools(prof, cell)
    n_samples = None if n_samples is None or n_samples >= prof.n_train_samples else int(n_samples)
    out = {}
    for n in hof_counts(len(pool), fractions):
        full = n == len(pool)
        tag = "main" if full and prof is profile and n_samples is None else f"hofs-{n}"
        ensure_model(prof, cell, layout, tag=tag, train_hofs=None if full else list(pool[:n]), n_train_samples=n_samples)
        metrics = ensure_metrics(prof, cell, layout, tag=tag)
        out[n] = metrics["sets"]["test_hofs"].get("table1_pct", {})
    return out


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
    path = layout.results_dir / f"metrics_{tag}.json"
    if not path.is_file():
        raise AnalysisError(f"{path}: no metrics of the {table} model {tag!r}; compute the table first")
    result = json.loads(path.read_text())["sets"][set_name]
    label = f"{table} row of model {tag!r}"
    return record_model_results(layout.results_dir, profile.name, (table,), {label: result},
                                {label: {k: v for k, v in paper.items() if v is not None}}).as_dict()
