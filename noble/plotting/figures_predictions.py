"""Figures comparing PDE simulations, NOBLE predictions and the experiment: F-I curves and traces (Fig 3),
trace distributions and feature errors against the experiment (Fig 5), interpolated models (Fig 4), the test
HoF models (Fig 12) and a neighbourhood ensemble (Fig 13).

Every function takes plain arrays and returns a :class:`matplotlib.figure.Figure`. Units: current nA,
voltage mV, time ms, firing rate Hz, errors in percent.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from noble.plotting.style import COLORS

#: Amplitudes (nA) of the paper's trace panels (Figs 3, 5, 12, 13).
TRACE_AMPLITUDES_NA: tuple[float, float] = (0.1, -0.11)


def _as_2d(traces: np.ndarray, n_time: int, what: str) -> np.ndarray:
    arr = np.atleast_2d(np.asarray(traces, dtype=float))
    if arr.shape[-1] != n_time:
        raise ValueError(f"{what}: traces have {arr.shape[-1]} samples but the time axis has {n_time}")
    return arr


def plot_fi(ax, amplitudes_nA: np.ndarray, rates_hz: np.ndarray, color: str, label: str, band: bool = True,
            lines: bool = False) -> None:
    """F-I curves of several models: median with a 5-95% band (``band``) and/or one thin line per model."""
    amps = np.asarray(amplitudes_nA, dtype=float)
    r = np.atleast_2d(np.asarray(rates_hz, dtype=float))
    if r.shape[-1] != amps.size:
        raise ValueError(f"{label}: F-I rates have {r.shape[-1]} amplitudes, expected {amps.size}")
    if lines:
        for k, row in enumerate(r):
            ax.plot(amps, row, color=color, lw=0.5, alpha=0.35, label=None if (band or k) else label)
    if band:
        ax.plot(amps, np.median(r, axis=0), color=color, lw=1.5, label=f"{label} (median, n = {r.shape[0]})")
        if r.shape[0] > 1:
            ax.fill_between(amps, np.percentile(r, 5, axis=0), np.percentile(r, 95, axis=0), color=color, alpha=0.2)


def _fi_axes(ax) -> None:
    ax.set_xlabel("Current (nA)")
    ax.set_ylabel("Firing rate (Hz)")
    ax.legend(frameon=False, loc="upper left")


def fig_fi_and_traces(
    fi_amplitudes_nA: np.ndarray,
    pde_rates_hz: np.ndarray,
    noble_rates_hz: np.ndarray,
    experimental_fi: tuple[np.ndarray, np.ndarray] | None,
    time_ms: np.ndarray,
    pde_traces: Mapping[float, np.ndarray],
    noble_traces: Mapping[float, np.ndarray],
    hof_label: str,
    experimental_traces: Mapping[float, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Figure:
    """Fig 3: (A) F-I curves of experiment, PDE and NOBLE over the train HoFs; for one HoF model,
    (B) experiment vs PDE and (C) PDE vs NOBLE at the trace amplitudes (keys of ``pde_traces``, nA).

    ``pde_rates_hz`` / ``noble_rates_hz`` are ``[M, A]``; traces per amplitude are ``[T]``;
    ``experimental_traces`` maps an amplitude to (time ms, voltage mV) of a recorded sweep when available.
    """
    amps = sorted(pde_traces, reverse=True)
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    grid = fig.add_gridspec(len(amps), 3, width_ratios=[1.2, 1, 1])
    ax_fi = fig.add_subplot(grid[:, 0])
    if experimental_fi is not None:
        ax_fi.plot(*experimental_fi, color=COLORS["experiment"], ls="--", lw=1.5, label="Experiment (fitted line)")
    plot_fi(ax_fi, fi_amplitudes_nA, pde_rates_hz, COLORS["pde"], "PDE")
    plot_fi(ax_fi, fi_amplitudes_nA, noble_rates_hz, COLORS["noble"], "NOBLE")
    ax_fi.set_title("A  F-I curves, train HoF models")
    _fi_axes(ax_fi)
    n = np.asarray(time_ms).shape[-1]
    for row, amp in enumerate(amps):
        ax_b = fig.add_subplot(grid[row, 1])
        ax_c = fig.add_subplot(grid[row, 2], sharey=ax_b)
        pde = _as_2d(pde_traces[amp], n, f"PDE at {amp} nA")[0]
        if experimental_traces and amp in experimental_traces:
            t_exp, v_exp = experimental_traces[amp]
            ax_b.plot(t_exp, v_exp, color=COLORS["experiment"], label="Experiment")
        else:
            ax_b.text(0.98, 0.04, "recorded sweep: needs the Allen download", transform=ax_b.transAxes,
                      ha="right", va="bottom", fontsize=7, color="0.4")
        ax_b.plot(time_ms, pde, color=COLORS["pde"], label="PDE")
        ax_c.plot(time_ms, pde, color=COLORS["pde"], label="PDE")
        ax_c.plot(time_ms, _as_2d(noble_traces[amp], n, f"NOBLE at {amp} nA")[0], color=COLORS["noble"], lw=0.8,
                  label="NOBLE")
        for ax, letter in ((ax_b, "B"), (ax_c, "C")):
            ax.set_title(f"{letter}  {hof_label}, {amp:+.2f} nA")
            ax.set_ylabel("V (mV)")
            ax.legend(frameon=False, loc="upper right")
            if row == len(amps) - 1:
                ax.set_xlabel("Time (ms)")
    return fig


def plot_trace_band(ax, time_ms: np.ndarray, traces: np.ndarray, color: str, max_lines: int = 200) -> None:
    """Every trace as a thin translucent line (at most ``max_lines``)."""
    tr = _as_2d(traces, np.asarray(time_ms).shape[-1], "trace band")
    for v in tr[:max_lines]:
        ax.plot(time_ms, v, color=color, lw=0.4, alpha=max(0.05, min(0.6, 8.0 / len(tr))))


def fig_trace_distributions(time_ms: np.ndarray, columns: Mapping[str, Mapping[float, np.ndarray]],
                            colors: Sequence[str] | None = None) -> Figure:
    """Fig 5A (and Fig 12 with two columns): one column per source (e.g. PDE, NOBLE, hull samples), one row
    per amplitude (nA); each panel overlays all traces ``[M, T]`` of that source."""
    names = list(columns)
    amps = sorted({a for col in columns.values() for a in col}, reverse=True)
    colors = list(colors or [COLORS["pde"], COLORS["noble"], COLORS["hull"], COLORS["neighbourhood"]])
    fig = Figure(figsize=(3.3 * len(names), 2.2 * len(amps) + 0.4), layout="constrained")
    axs = np.atleast_2d(fig.subplots(len(amps), len(names), sharex=True, sharey="row", squeeze=False))
    for c, name in enumerate(names):
        for r, amp in enumerate(amps):
            ax = axs[r, c]
            if amp in columns[name]:
                tr = np.atleast_2d(columns[name][amp])
                plot_trace_band(ax, time_ms, tr, colors[c % len(colors)])
                ax.set_title(f"{name}: {len(tr)} traces, {amp:+.2f} nA")
            if c == 0:
                ax.set_ylabel("V (mV)")
            if r == len(amps) - 1:
                ax.set_xlabel("Time (ms)")
    return fig


def fig_feature_errors(errors: Mapping[str, Mapping[str, np.ndarray]], title: str = "",
                       colors: Sequence[str] | None = None, paper: Mapping[str, float] | None = None) -> Figure:
    """Fig 5B: distributions (box plots) of relative errors (%) per feature, one box per source.

    ``errors`` maps a source name to ``{feature: per-model errors (%)}``; NaNs are dropped.
    """
    sources = list(errors)
    features = list(dict.fromkeys(f for s in sources for f in errors[s]))
    colors = list(colors or [COLORS["pde"], COLORS["noble"], COLORS["hull"]])
    fig = Figure(figsize=(1.6 * len(features) + 1.5, 3.2), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(len(sources), 1)
    for k, src in enumerate(sources):
        data, pos = [], []
        for i, feat in enumerate(features):
            vals = np.asarray(errors[src].get(feat, []), dtype=float)
            vals = vals[np.isfinite(vals)]
            data.append(vals if vals.size else np.array([np.nan]))
            pos.append(i + (k - (len(sources) - 1) / 2) * width)
        bp = ax.boxplot(data, positions=pos, widths=width * 0.9, patch_artist=True, showfliers=False,
                        medianprops={"color": "k"})
        for patch in bp["boxes"]:
            patch.set_facecolor(colors[k % len(colors)])
            patch.set_alpha(0.6)
        ax.plot([], [], color=colors[k % len(colors)], lw=6, alpha=0.6, label=src)
    if paper:
        for i, feat in enumerate(features):
            if feat in paper:
                ax.plot([i - 0.4, i + 0.4], [paper[feat]] * 2, color="k", ls=":", lw=1)
    ax.set_xticks(range(len(features)))
    ax.set_xticklabels([f.replace("_", " ") for f in features], rotation=15)
    ax.set_ylabel("Relative error vs experiment (%)")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    return fig


def plot_ensemble(ax, time_ms: np.ndarray, ensemble: np.ndarray, truth: np.ndarray | None,
                  label: str = "NOBLE ensemble") -> None:
    """An ensemble ``[K, T]`` as thin orange lines with the ground truth ``[T]`` in blue on top."""
    plot_trace_band(ax, time_ms, ensemble, COLORS["noble"])
    ax.plot([], [], color=COLORS["noble"], label=f"{label} ({np.atleast_2d(ensemble).shape[0]})")
    if truth is not None:
        ax.plot(time_ms, np.asarray(truth, dtype=float).ravel(), color=COLORS["pde"], lw=1.0, label="PDE (ground truth)")
    ax.legend(frameon=False, loc="upper right")


def fig_neighbourhood_ensemble(time_ms: np.ndarray, truth: Mapping[float, np.ndarray],
                               ensemble: Mapping[float, np.ndarray], hof_label: str) -> Figure:
    """Fig 13: PDE trace of one unseen test HoF (blue) and NOBLE predictions of synthetic models sampled
    around it in the latent space (orange), one row per amplitude (nA)."""
    amps = sorted(ensemble, reverse=True)
    fig = Figure(figsize=(6, 2.3 * len(amps) + 0.3), layout="constrained")
    axs = np.atleast_1d(fig.subplots(len(amps), 1, sharex=True))
    for ax, amp in zip(axs, amps):
        plot_ensemble(ax, time_ms, ensemble[amp], truth.get(amp))
        ax.set_title(f"{hof_label}, {amp:+.2f} nA")
        ax.set_ylabel("V (mV)")
    axs[-1].set_xlabel("Time (ms)")
    return fig


def fig_interpolation(
    fi_amplitudes_nA: np.ndarray,
    neighbourhood_rates_hz: np.ndarray,
    pde_rates_hz: np.ndarray,
    experimental_fi: tuple[np.ndarray, np.ndarray] | None,
    baseline_fi: Mapping[str, np.ndarray],
    time_ms: np.ndarray,
    baseline_traces: Mapping[str, np.ndarray],
    reference_trace: np.ndarray,
    trace_amplitude_nA: float,
    ensemble: np.ndarray,
    hof_label: str,
) -> Figure:
    """Fig 4: (A) F-I curves of experiment, the PDE of one test HoF, NOBLE for synthetic models sampled around
    it, and PDE models with interpolated/perturbed parameters (``baseline_fi``: name -> rates ``[K, A]``);
    (B) traces of the parameter baselines against the reference PDE trace at ``trace_amplitude_nA``;
    (C) the test HoF's PDE trace against the distribution of NOBLE predictions of the neighbourhood.
    """
    fig = Figure(figsize=(11, 3.2), layout="constrained")
    axs = fig.subplots(1, 3)
    if experimental_fi is not None:
        axs[0].plot(*experimental_fi, color=COLORS["experiment"], ls="--", lw=1.5, label="Experiment (fitted line)")
    plot_fi(axs[0], fi_amplitudes_nA, neighbourhood_rates_hz, COLORS["noble"], "NOBLE, neighbourhood")
    plot_fi(axs[0], fi_amplitudes_nA, pde_rates_hz, COLORS["pde"], f"PDE {hof_label}", band=False, lines=True)
    base_colors = [COLORS["test"], COLORS["neighbourhood"], COLORS["hull"]]
    for k, (name, rates) in enumerate(baseline_fi.items()):
        plot_fi(axs[0], fi_amplitudes_nA, rates, base_colors[k % 3], name, band=False, lines=True)
    axs[0].set_title("A  F-I curves")
    _fi_axes(axs[0])
    axs[1].plot(time_ms, np.ravel(reference_trace), color=COLORS["pde"], label=f"PDE {hof_label}")
    for k, (name, tr) in enumerate(baseline_traces.items()):
        for j, v in enumerate(np.atleast_2d(tr)):
            axs[1].plot(time_ms, v, color=base_colors[k % 3], lw=0.6, alpha=0.8, label=name if j == 0 else None)
    axs[1].set_title(f"B  PDE parameter baselines, {trace_amplitude_nA:+.2f} nA")
    axs[1].set_xlabel("Time (ms)")
    axs[1].set_ylabel("V (mV)")
    axs[1].legend(frameon=False, loc="upper right")
    plot_ensemble(axs[2], time_ms, ensemble, reference_trace, label="NOBLE, neighbourhood")
    axs[2].set_title(f"C  {hof_label} vs NOBLE neighbourhood, {trace_amplitude_nA:+.2f} nA")
    axs[2].set_xlabel("Time (ms)")
    axs[2].set_ylabel("V (mV)")
    return fig
