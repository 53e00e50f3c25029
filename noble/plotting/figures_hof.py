"""Figures of the HoF models themselves: morphology, PDE traces and F-I curves (Fig 2B), the amplitude
distribution of the training set (Fig 8) and the latent feature space (Figs 10-11).

Every function takes plain arrays and returns a :class:`matplotlib.figure.Figure`. Units: current nA,
voltage mV, time ms, firing rate Hz, lengths um; latent coordinates are min-max scaled features (unitless).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Polygon
from scipy.spatial import ConvexHull

from noble.data.swc import AXON, SOMA, SwcTable
from noble.plotting.style import COLORS

#: Colours of the SWC compartment types in morphology drawings.
SWC_COLORS = {SOMA: "#000000", AXON: "#8c8c8c", 3: "#1f77b4", 4: "#17becf"}
#: Legend names of the SWC compartment types.
SWC_NAMES = {SOMA: "soma", AXON: "axon", 3: "dendrite", 4: "apical dendrite"}


def _check_traces(time_ms: np.ndarray, traces: np.ndarray, what: str) -> np.ndarray:
    traces = np.atleast_2d(np.asarray(traces, dtype=float))
    if traces.shape[-1] != np.asarray(time_ms).shape[-1]:
        raise ValueError(f"{what}: traces have {traces.shape[-1]} samples but the time axis has {np.shape(time_ms)[-1]}")
    return traces


def plot_morphology(ax, swc: SwcTable, axes: tuple[int, int] = (0, 1), scale_bar_um: float = 100.0) -> None:
    """Draw an SWC reconstruction projected on two coordinate axes (0=x, 1=y, 2=z), with a scale bar (um)."""
    index = {int(i): k for k, i in enumerate(swc.ids)}
    segments, colors, widths = [], [], []
    for k, parent in enumerate(swc.parents):
        if parent < 0 or int(parent) not in index:
            continue
        p = index[int(parent)]
        segments.append([swc.xyz[p, list(axes)], swc.xyz[k, list(axes)]])
        colors.append(SWC_COLORS.get(int(swc.types[k]), "#444444"))
        widths.append(float(np.clip(swc.radius[k], 0.3, 2.0)))
    ax.add_collection(LineCollection(segments, colors=colors, linewidths=widths))
    soma = swc.types == SOMA
    if soma.any():
        centre = swc.xyz[soma][:, list(axes)].mean(axis=0)
        ax.add_patch(Circle(tuple(centre), max(float(swc.radius[soma].max()), 3.0), color=SWC_COLORS[SOMA], zorder=3))
    present = sorted({int(t) for t in swc.types} & set(SWC_NAMES))
    for t in present:
        ax.plot([], [], color=SWC_COLORS[t], lw=1.5, label=SWC_NAMES[t])
    if present:
        ax.legend(loc="upper left", frameon=False, fontsize=7, handlelength=1.0)
    xy = swc.xyz[:, list(axes)]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    pad = 0.05 * float(np.max(hi - lo) or 1.0)
    ax.set_xlim(lo[0] - pad, hi[0] + pad)
    ax.set_ylim(lo[1] - pad, hi[1] + pad)
    ax.set_aspect("equal")
    ax.axis("off")
    x0, y0 = lo[0], lo[1] - pad / 2
    ax.plot([x0, x0 + scale_bar_um], [y0, y0], color="k", lw=2)
    ax.text(x0 + scale_bar_um / 2, y0 - pad / 2, f"{scale_bar_um:g} µm", ha="center", va="top")


def spike_waveforms(time_ms: np.ndarray, traces_mV: np.ndarray, window_ms: tuple[float, float] = (-2.0, 4.0),
                    threshold_mV: float = -20.0, start_ms: float = 15.0) -> tuple[np.ndarray, np.ndarray]:
    """The first spike of each trace, aligned on its peak: (time relative to the peak [W] ms, voltage [M, W] mV).

    A trace without a crossing of ``threshold_mV`` after ``start_ms`` gives a row of NaN.
    """
    time_ms = np.asarray(time_ms, dtype=float)
    traces = _check_traces(time_ms, traces_mV, "spike waveforms")
    dt = float(time_ms[1] - time_ms[0])
    lo, hi = int(round(window_ms[0] / dt)), int(round(window_ms[1] / dt))
    rel = np.arange(lo, hi + 1) * dt
    out = np.full((traces.shape[0], rel.size), np.nan)
    first = int(np.searchsorted(time_ms, start_ms))
    for m, v in enumerate(traces):
        above = np.flatnonzero(v[first:] > threshold_mV)
        if above.size == 0:
            continue
        cross = first + int(above[0])
        end = min(cross + int(round(2.0 / dt)), v.size)
        peak = cross + int(np.argmax(v[cross:end]))
        a, b = peak + lo, peak + hi + 1
        if a >= 0 and b <= v.size:
            out[m] = v[a:b]
    return rel, out


def fig_hof_models(
    swc: SwcTable,
    time_ms: np.ndarray,
    traces_mV: Mapping[float, np.ndarray],
    fi_amplitudes_nA: np.ndarray,
    fi_rates_hz: np.ndarray,
    experimental_fi: tuple[np.ndarray, np.ndarray] | None = None,
    title: str = "",
) -> Figure:
    """Fig 2B: morphology, PDE traces of HoF models at a few amplitudes, first-spike waveforms and F-I curves.

    ``traces_mV`` maps an amplitude (nA) to PDE traces ``[M, T]`` of M HoF models; ``fi_rates_hz`` is
    ``[M', A]`` over ``fi_amplitudes_nA``; ``experimental_fi`` is (amplitudes nA, rates Hz) of the experiment.
    """
    fig = Figure(figsize=(11, 3.0), layout="constrained")
    axs = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1.0, 1.6, 0.8, 1.1]})
    plot_morphology(axs[0], swc)
    axs[0].set_title("Morphology")
    cmap = matplotlib.colormaps["plasma"]
    amps = sorted(traces_mV)
    spiking = None
    for k, amp in enumerate(amps):
        tr = _check_traces(time_ms, traces_mV[amp], f"traces at {amp} nA")
        color = cmap(0.75 * k / max(len(amps) - 1, 1))
        for m, v in enumerate(tr):
            axs[1].plot(time_ms, v, color=color, lw=0.6, alpha=0.7, label=f"{amp:+.2f} nA" if m == 0 else None)
        if spiking is None and np.nanmax(tr) > -20:
            spiking = tr
    axs[1].set_xlabel("Time (ms)")
    axs[1].set_ylabel("Membrane potential (mV)")
    axs[1].set_title(f"PDE traces ({tr.shape[0]} HoF models)")
    axs[1].legend(loc="upper right", frameon=False)
    if spiking is not None:
        rel, wf = spike_waveforms(time_ms, spiking)
        for w in wf:
            axs[2].plot(rel, w, color=COLORS["pde"], lw=0.6, alpha=0.7)
    axs[2].set_xlabel("Time from peak (ms)")
    axs[2].set_ylabel("Membrane potential (mV)")
    axs[2].set_title("First spike")
    fi_amplitudes_nA = np.asarray(fi_amplitudes_nA, dtype=float)
    rates = np.atleast_2d(np.asarray(fi_rates_hz, dtype=float))
    if rates.shape[-1] != fi_amplitudes_nA.size:
        raise ValueError(f"F-I rates have {rates.shape[-1]} amplitudes, expected {fi_amplitudes_nA.size}")
    for m, r in enumerate(rates):
        axs[3].plot(fi_amplitudes_nA, r, color=COLORS["pde"], lw=0.6, alpha=0.6, label="PDE (HoF models)" if m == 0 else None)
    if experimental_fi is not None:
        axs[3].plot(*experimental_fi, color=COLORS["experiment"], lw=1.5, ls="--", label="Experiment (fitted line)")
    axs[3].set_xlabel("Current (nA)")
    axs[3].set_ylabel("Firing rate (Hz)")
    axs[3].set_title("F-I curves")
    axs[3].legend(frameon=False, loc="upper left")
    if title:
        fig.suptitle(title)
    return fig


def fig_amplitude_distribution(
    amplitudes_nA: np.ndarray,
    pdf: tuple[np.ndarray, np.ndarray] | None = None,
    threshold_band_nA: tuple[float, float] = (0.0, 0.05),
    bins: int = 40,
) -> Figure:
    """Fig 8: histogram of the sampled step amplitudes (nA), the sampling density and the spiking-threshold band."""
    amps = np.asarray(amplitudes_nA, dtype=float).ravel()
    if amps.size == 0:
        raise ValueError("no amplitudes to plot")
    fig = Figure(figsize=(4.5, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.hist(amps, bins=bins, density=True, color=COLORS["pde"], alpha=0.7, label=f"Training set (n = {amps.size})")
    if pdf is not None:
        ax.plot(*pdf, color="k", lw=1.2, label="Skew-normal law")
    ax.axvspan(*threshold_band_nA, color=COLORS["noble"], alpha=0.15, label="Spiking threshold window")
    ax.set_xlabel("Step amplitude (nA)")
    ax.set_ylabel("Density (1/nA)")
    ax.legend(frameon=False)
    return fig


def convex_hull_polygon(points: np.ndarray) -> np.ndarray:
    """Vertices ``[V, 2]`` of the convex hull of 2-D ``points``, in counter-clockwise order."""
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 3:
        raise ValueError(f"need at least 3 points in 2-D for a hull, got shape {pts.shape}")
    return pts[ConvexHull(pts).vertices]


def fig_latent_space(
    train_xy: np.ndarray,
    test_xy: np.ndarray,
    feature_labels: Sequence[str] = ("s_thr (scaled)", "I_thr (scaled)"),
    hull: bool = True,
    hull_samples: np.ndarray | None = None,
    neighbourhood: tuple[np.ndarray, float, np.ndarray | None] | None = None,
    annotate_test: Sequence[int] | None = None,
) -> Figure:
    """Figs 10-11: train (black dots) and test (red crosses) HoF models in the scaled 2-D feature space.

    ``hull`` draws the train convex hull; ``hull_samples`` adds synthetic models sampled in it;
    ``neighbourhood`` is (centre [2], radius, samples [K, 2] or None) around one test model (Fig 11).
    """
    train_xy = np.asarray(train_xy, dtype=float)
    test_xy = np.asarray(test_xy, dtype=float).reshape(-1, 2)
    if train_xy.ndim != 2 or train_xy.shape[1] != 2:
        raise ValueError(f"train points must be [N, 2], got {train_xy.shape}")
    fig = Figure(figsize=(4.2, 3.8), layout="constrained")
    ax = fig.subplots()
    if hull and train_xy.shape[0] >= 3:
        ax.add_patch(Polygon(convex_hull_polygon(train_xy), closed=True, fill=True, alpha=0.12,
                             color=COLORS["hull"], label="Convex hull of train HoFs"))
    if hull_samples is not None and len(hull_samples):
        hs = np.asarray(hull_samples, dtype=float)
        ax.scatter(hs[:, 0], hs[:, 1], s=6, color=COLORS["hull"], alpha=0.6, label=f"{len(hs)} samples in the hull")
    ax.scatter(train_xy[:, 0], train_xy[:, 1], s=14, color="k", label=f"{len(train_xy)} train HoFs")
    if test_xy.size:
        ax.scatter(test_xy[:, 0], test_xy[:, 1], s=30, marker="x", color=COLORS["test"], label=f"{len(test_xy)} test HoFs")
    for k, label in enumerate(annotate_test or ()):
        if k < len(test_xy):
            ax.annotate(str(label), test_xy[k], textcoords="offset points", xytext=(4, 4), fontsize=7, color=COLORS["test"])
    if neighbourhood is not None:
        centre, radius, samples = neighbourhood
        ax.add_patch(Circle(tuple(np.asarray(centre, dtype=float)), radius, fill=False, color=COLORS["neighbourhood"],
                            lw=1.2, label=f"Neighbourhood (r = {radius:g})"))
        if samples is not None and len(samples):
            s = np.asarray(samples, dtype=float)
            ax.scatter(s[:, 0], s[:, 1], s=4, color=COLORS["neighbourhood"], alpha=0.8)
    ax.set_xlabel(feature_labels[0])
    ax.set_ylabel(feature_labels[1])
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(frameon=False, fontsize=7, loc="best")
    return fig
