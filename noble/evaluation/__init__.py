"""Evaluating NOBLE models: voltage and eFEL feature errors, F-I curves, ensembles, latent sampling, sag fine-tuning."""
from noble.evaluation.ensembles import (
    NEIGHBOURHOOD_RADIUS,
    FICurves,
    ensemble_predict,
    fi_curves,
    hull_samples,
    neighbourhood_samples,
    to_raw,
    train_embeddings,
)
from noble.evaluation.evaluate import SET_NAMES, evaluate_directory, evaluate_model, format_table, json_safe
from noble.evaluation.features import (
    NON_SPIKING_FEATURES,
    SPIKING_FEATURES,
    TABLE1_FEATURES,
    FeatureErrorReport,
    account,
    feature_errors,
)
from noble.evaluation.finetune import SagFinetuneConfig, finetune_sag, negative_step_rows, sag_metrics
from noble.evaluation.metrics import relative_lp_error

__all__ = [
    "NEIGHBOURHOOD_RADIUS",
    "NON_SPIKING_FEATURES",
    "SET_NAMES",
    "SPIKING_FEATURES",
    "TABLE1_FEATURES",
    "FICurves",
    "FeatureErrorReport",
    "SagFinetuneConfig",
    "account",
    "ensemble_predict",
    "evaluate_directory",
    "evaluate_model",
    "feature_errors",
    "fi_curves",
    "finetune_sag",
    "format_table",
    "hull_samples",
    "json_safe",
    "negative_step_rows",
    "neighbourhood_samples",
    "relative_lp_error",
    "sag_metrics",
    "to_raw",
    "train_embeddings",
]
