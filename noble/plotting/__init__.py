"""Plotting helpers for the paper's figures (units on every axis: nA, mV, ms, Hz).

* :mod:`noble.plotting.style`: one style, colours per data source, PNG + PDF output;
* :mod:`noble.plotting.figures_hof`: HoF models, amplitude distribution, latent space (Figs 2B, 8, 10, 11);
* :mod:`noble.plotting.figures_predictions`: PDE vs NOBLE vs experiment (Figs 3, 4, 5, 12, 13);
* :mod:`noble.plotting.figures_subsampling`: the subsampling analysis (Figs 6, 7);
* :mod:`noble.plotting.tables`: Tables 1-3 and the speed table beside the paper's numbers.
"""
from noble.plotting.style import COLORS, apply_style, save_figure

__all__ = ["COLORS", "apply_style", "save_figure"]
