"""Plotting helpers for the paper's figures (units on every axis: nA, mV, ms, Hz)."""
from noble.plotting.style import COLORS, apply_style, save_figure

__all__ = ["COLORS", "apply_style", "save_figure"]
