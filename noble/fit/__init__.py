"""Fitting HoF models to a cell's experimental features by two-stage multi-objective evolution.

Units: currents nA, voltages mV, times ms; model parameters in the Allen model-file units.
"""
from noble.fit.errors import FitError
from noble.fit.evaluate import FitProtocol, StageSetup, evaluate
from noble.fit.optimizer import EvolutionSettings, evolve
from noble.fit.parameters import FreeParameter, ModelTemplate, ParameterSpace, prior_space
from noble.fit.profiles import PROFILE_NAMES, PROFILES, FitProfile, get_fit_profile
from noble.fit.run import FitResult, load_fit_result, load_fitted_models, run_fit
from noble.fit.targets import FeatureTarget, FitTargets, build_targets, cell_targets

__all__ = [
    "PROFILES",
    "PROFILE_NAMES",
    "EvolutionSettings",
    "FeatureTarget",
    "FitError",
    "FitProfile",
    "FitProtocol",
    "FitResult",
    "FitTargets",
    "FreeParameter",
    "ModelTemplate",
    "ParameterSpace",
    "StageSetup",
    "build_targets",
    "cell_targets",
    "evaluate",
    "evolve",
    "get_fit_profile",
    "load_fit_result",
    "load_fitted_models",
    "prior_space",
    "run_fit",
]
