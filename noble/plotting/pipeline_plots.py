"""Plots of the pipeline notebooks 01-05: fit error history (Fig 2A bottom), datasets, training curves.

Units: current nA, voltage mV, time ms; fit errors are mean z-scores (unitless); model errors relative (%).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter, ScalarFormatter

from noble.plotting.style import COLORS

_STAGE_COLORS = {"passive": "#1f77b4", "active": "#d62728"}


def _log_axis(ax) -> None:
    """A log y axis labelled in plain numbers at 1, 2 and 5 of each decade."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def fit_history_frame(history: pd.DataFrame) -> pd.DataFrame:
    """Check a fit's ``history.csv`` table (stage, generation, min/mean/median/best error) and sort it."""
    needed = {"stage", "generation", "min_error", "mean_error", "median_error", "best_error"}
    missing = sorted(needed - set(history.columns))
    if missing:
        raise ValueError(f"fit history lacks column(s) {missing}; it has {list(history.columns)}")
    if history.empty:
        raise ValueError("fit history is empty: the fit ran no generation")
    return history.sort_values("generation").reset_index(drop=True)


def fig_fit_history(history: pd.DataFrame, title: str = "") -> Figure:
    """Error of the population per generation, both stages (the paper's Fig 2A bottom).

    Lines: best model so far, population minimum and median (mean z-score over the fitted features).
    """
    h = fit_history_frame(history)
    fig = Figure(figsize=(7.0, 3.0))
    ax = fig.subplots()
    for stage, part in h.groupby("stage", sort=False):
        color = _STAGE_COLORS.get(str(stage), "0.3")
        g = part["generation"].to_numpy()
        ax.plot(g, part["best_error"], color=color, lw=1.6, label=f"{stage}: best so far")
        ax.plot(g, part["min_error"], color=color, lw=0.8, ls="--", label=f"{stage}: generation minimum")
        ax.fill_between(g, part["min_error"], part["median_error"], color=color, alpha=0.15,
                        label=f"{stage}: minimum to median")
    _log_axis(ax)
    ax.set_xlabel("generation")
    ax.set_ylabel("mean z-score error")
    ax.set_title(title or "HoF fit: error per generation")
    ax.legend(frameon=False, ncol=1, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


def read_training_log(model_dir: str | Path) -> pd.DataFrame:
    """The per-epoch log ``metrics.csv`` of a trained model directory."""
    path = Path(model_dir) / "metrics.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training log (train the model first)")
    log = pd.read_csv(path)
    if log.empty:
        raise ValueError(f"{path}: the training log has no epoch")
    return log


def read_stages_log(model_dir: str | Path) -> pd.DataFrame | None:
    """The log of every training stage of a staged model (``stages.csv``: ``stage``, ``factor``, ``total_epoch``
    and the per-epoch columns), or ``None`` for a model trained in one run."""
    path = Path(model_dir) / "stages.csv"
    if not path.is_file():
        return None
    log = pd.read_csv(path)
    if log.empty:
        raise ValueError(f"{path}: the stages log has no epoch")
    return log


def staged_epoch(log: pd.DataFrame, epoch: int) -> int:
    """The running epoch (``total_epoch``) of epoch ``epoch`` of a staged log's last stage."""
    last = log[log["stage"] == log["stage"].max()]
    row = last[last["epoch"] == epoch]
    if row.empty:
        raise ValueError(f"the last stage logged no epoch {epoch}")
    return int(row["total_epoch"].iloc[0])


def fig_training_curves(log: pd.DataFrame, title: str = "", selected_epoch: int | None = None) -> Figure:
    """Per epoch: training loss and held-out errors (relative L4, L2), the held-out firing criteria (missed and
    false firing, spike-count error, the selection score) and the learning rate; ``selected_epoch`` (the saved
    weights) is marked on every panel. A staged log (:func:`read_stages_log`) is drawn over its running epochs
    with each stage's start marked (``selected_epoch`` is then a running epoch, see :func:`staged_epoch`)."""
    fig = Figure(figsize=(9.5, 2.9))
    ax, ax_fire, ax_lr = fig.subplots(1, 3, gridspec_kw={"width_ratios": [2, 2, 1]})
    staged = "total_epoch" in log
    e = log["total_epoch" if staged else "epoch"].to_numpy()
    ax.plot(e, 100 * log["train_loss"], color=COLORS["noble"], marker="o", ms=2, label="train (relative L4)")
    for col, label, ls, color in (("holdout_rel_l4", "held-out currents (relative L4)", "--", COLORS["pde"]),
                                  ("holdout_rel_l2", "held-out currents (relative L2)", ":", COLORS["pde"]),
                                  ("test_hofs_rel_l2", "test HoF models (relative L2)", "-.", COLORS["test"])):
        values = pd.to_numeric(log[col], errors="coerce") if col in log else None
        if values is not None and np.isfinite(values).any():
            ax.plot(e, 100 * values, ls=ls, color=color, marker="o", ms=2, label=label)
    _log_axis(ax)
    ax.set_ylabel("error (%)")
    ax.legend(frameon=False, fontsize=6)
    ax.set_title(title or "NOBLE training")
    drawn = False
    for col, label, color in (("holdout_missed_firing_pct", "missed firing (% of spiking)", COLORS["test"]),
                              ("holdout_false_firing_pct", "false firing (% of silent)", COLORS["hull"]),
                              ("holdout_spike_count_err_pct", "spike-count error (%)", COLORS["neighbourhood"]),
                              ("holdout_selection_score", "selection score x 100", "0.2")):
        values = pd.to_numeric(log[col], errors="coerce") if col in log else None
        if values is not None and np.isfinite(values).any():
            scale = 100.0 if col == "holdout_selection_score" else 1.0
            ax_fire.plot(e, scale * values, color=color, marker="o", ms=2, label=label)
            drawn = True
    if drawn:
        ax_fire.legend(frameon=False, fontsize=6)
        ax_fire.set_ylim(bottom=0)
    else:
        ax_fire.text(0.5, 0.5, "no firing criteria in this log", ha="center", va="center", transform=ax_fire.transAxes)
    ax_fire.set_ylabel("held-out firing (%)")
    ax_fire.set_title("checkpoint selection criteria")
    ax_lr.plot(e, log["learning_rate"], color="0.3", marker="o", ms=2)
    ax_lr.set_yscale("log")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_title("learning rate")
    starts = log.groupby("stage").first() if staged else None
    for a in (ax, ax_fire, ax_lr):
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
        a.set_xlabel("epoch (all stages)" if staged else "epoch")
        if starts is not None:
            for stage, row in starts.iterrows():
                if int(stage) > 1:
                    a.axvline(float(row["total_epoch"]) - 0.5, color="0.75", lw=0.8, ls=":")
        if selected_epoch is not None:
            a.axvline(selected_epoch, color="0.5", lw=0.8, ls="--")
    if starts is not None:
        for stage, row in starts.iterrows():
            grid = "full grid" if int(row["factor"]) == 1 else f"{int(row['factor'])}x coarser"
            ax_lr.text(float(row["total_epoch"]) - 0.5, ax_lr.get_ylim()[0], f" stage {int(stage)}: {grid}",
                       fontsize=5, rotation=90, va="bottom", color="0.4")
    if selected_epoch is not None:
        ax_fire.text(selected_epoch, ax_fire.get_ylim()[1], " saved", fontsize=6, va="top", color="0.4")
    fig.tight_layout()
    return fig


def dataset_summary(datasets: Mapping[str, object]) -> pd.DataFrame:
    """One row per dataset (``{name: TraceDataset}``): traces, HoF models, amplitude range (nA), data card."""
    rows = []
    for name, ds in datasets.items():
        amp = np.asarray(ds.amplitude)
        rows.append({
            "dataset": name,
            "traces": len(ds),
            "HoF models": int(np.unique(ds.hof).size),
            "min amplitude (nA)": float(amp.min()),
            "max amplitude (nA)": float(amp.max()),
            "spiking share": float(np.mean(np.max(ds.voltage, axis=1) > 0.0)),
            "samples": int(ds.voltage.shape[1]),
            "dt (ms)": float(ds.dt_ms),
            "data card SHA-256": ds.data_card_sha256[:12],
        })
    return pd.DataFrame(rows).set_index("dataset")


def fig_example_traces(time_ms: np.ndarray, voltage_mV: np.ndarray, amplitude_nA: np.ndarray,
                       hof: np.ndarray, n: int = 4, title: str = "") -> Figure:
    """A few simulated traces at spread-out amplitudes, labelled by amplitude (nA) and HoF model."""
    amplitude_nA = np.asarray(amplitude_nA)
    if voltage_mV.ndim != 2 or voltage_mV.shape[1] != len(time_ms) or len(amplitude_nA) != len(voltage_mV):
        raise ValueError(f"traces {voltage_mV.shape} do not match time {len(time_ms)} and amplitudes {len(amplitude_nA)}")
    order = np.argsort(amplitude_nA)
    pick = order[np.unique(np.linspace(0, len(order) - 1, min(n, len(order))).round().astype(int))]
    fig = Figure(figsize=(6.0, 1.4 * len(pick) + 0.4))
    axes = np.atleast_1d(fig.subplots(len(pick), 1, sharex=True))
    for ax, i in zip(axes, pick):
        ax.plot(time_ms, voltage_mV[i], color=COLORS["pde"])
        ax.set_ylabel("V (mV)")
        ax.set_title(f"I = {amplitude_nA[i]:.3f} nA, HoF {int(hof[i])}", fontsize=8, loc="left")
    axes[-1].set_xlabel("time (ms)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig

