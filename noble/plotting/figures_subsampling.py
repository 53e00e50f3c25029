"""Figs 6-7: how subsampling the PDE traces changes their eFEL features, against the model-experiment gap.

Errors are relative feature errors in percent; subsampling factors are unitless (1 = the 0.02 ms solver grid).
"""
from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from noble.plotting.style import COLORS

#: Line styles of the strategies other than the main one.
_OTHER_STYLES = ("--", ":", "-.")


def fig_subsampling(
    factors: Sequence[int],
    errors: Mapping[str, Mapping[str, np.ndarray]],
    gap: Mapping[str, tuple[float, float]] | None = None,
    features: Sequence[str] | None = None,
    main_strategy: str = "lpf_decimate",
    labels: Mapping[str, str] | None = None,
    ncols: int = 4,
) -> Figure:
    """One panel per feature: relative error (%) of subsampled against original PDE traces vs the factor.

    ``errors[feature][strategy]`` is ``[len(factors), n_traces]``. The main strategy is drawn as in the paper
    (blue mean, sd shading, min-max error bars); other strategies as mean lines. ``gap[feature]`` is
    (mean, sd) of the original HoF traces' error against the experiment (black solid / dotted lines).
    """
    x = np.asarray(factors, dtype=float)
    features = list(features or errors)
    labels = dict(labels or {})
    nrows = -(-len(features) // ncols)
    fig = Figure(figsize=(2.6 * ncols, 2.1 * nrows + 0.5), layout="constrained")
    axs = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, feat in zip(axs, features):
        per_strategy = errors[feat]
        others = [s for s in per_strategy if s != main_strategy]
        if main_strategy in per_strategy:
            e = np.asarray(per_strategy[main_strategy], dtype=float)
            if e.shape[0] != x.size:
                raise ValueError(f"{feat}/{main_strategy}: {e.shape[0]} rows of errors for {x.size} factors")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN factors stay NaN
                mean, sd = np.nanmean(e, axis=1), np.nanstd(e, axis=1)
                lo, hi = np.nanmin(e, axis=1), np.nanmax(e, axis=1)
            ax.plot(x, mean, color=COLORS["pde"], marker="o", ms=3, label=labels.get(main_strategy, main_strategy))
            ax.fill_between(x, np.maximum(mean - sd, 0), mean + sd, color=COLORS["pde"], alpha=0.2)
            ax.errorbar(x, mean, yerr=[np.nan_to_num(mean - lo), np.nan_to_num(hi - mean)], fmt="none",
                        ecolor=COLORS["pde"], elinewidth=0.6, capsize=2)
        for k, strat in enumerate(others):
            e = np.asarray(per_strategy[strat], dtype=float)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                ax.plot(x, np.nanmean(e, axis=1), color="0.45", ls=_OTHER_STYLES[k % len(_OTHER_STYLES)], lw=0.9,
                        label=labels.get(strat, strat))
        if gap and feat in gap and np.isfinite(gap[feat][0]):
            m, s = gap[feat]
            ax.axhline(m, color="k", lw=1.0, label="HoF vs experiment (mean)")
            if np.isfinite(s):
                for v in (m - s, m + s):
                    ax.axhline(max(v, 0.0), color="k", lw=0.8, ls=":")
        ax.set_title(feat.replace("_", " "))
        ax.set_xlabel("Subsampling factor")
        ax.set_ylabel("Relative error (%)")
        ax.set_xticks(x)
    for ax in axs[len(features):]:
        ax.axis("off")
    if len(axs):
        handles, names = axs[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 4), frameon=False)
    return fig
