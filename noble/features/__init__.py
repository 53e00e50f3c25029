"""Electrophysiological features: eFEL features, F-I curves and the embedding features I_thr and s_thr."""
from noble.features.efel_features import (
    KEY_FEATURES,
    PAPER_FEATURES,
    FeatureError,
    extract_features,
    feature_matrix,
    spike_counts,
)
from noble.features.fi import FICurve, ThresholdSlope, firing_rates, threshold_and_slope, threshold_slope_from_curve

__all__ = [
    "KEY_FEATURES",
    "PAPER_FEATURES",
    "FICurve",
    "FeatureError",
    "ThresholdSlope",
    "extract_features",
    "feature_matrix",
    "firing_rates",
    "spike_counts",
    "threshold_and_slope",
    "threshold_slope_from_curve",
]
