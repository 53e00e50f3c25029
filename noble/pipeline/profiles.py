"""Named run profiles of the notebook pipeline: how much data, which model size, how long to train.

``quick`` proves the whole pipeline in a few minutes on 2 CPU cores (CI); ``laptop`` gives real, reduced results
in under an hour on 2 cores; ``paper`` is the paper's protocol and model, meant for a GPU.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

from noble.errors import AnalysisError
from noble.training.stages import ResolutionStage

PROFILE_NAMES = ("quick", "laptop", "paper")


@dataclass(frozen=True)
class Profile:
    """Settings shared by every notebook of one pipeline run (currents in nA)."""

    name: str
    fit_profile: str  # noble fit --profile
    n_train_samples: int  # sampled (amplitude, train HoF) pairs
    n_test_samples_per_hof: int  # unseen currents per train HoF in the train-HoF test set
    n_train_hofs: int | None  # None: every train HoF of the split
    n_test_hofs: int | None  # None: every test HoF of the split
    fi_amplitudes: tuple[float, ...]  # nA, the PDE F-I grid
    model_profile: str  # noble train --profile
    epochs: int | None  # None: the model profile's own
    max_minutes: float | None  # wall-clock cap of training
    n_hull_samples: int  # synthetic models sampled in the latent hull (paper: 200)
    n_neighbourhood_samples: int  # synthetic models around one test HoF (paper: 50)
    workers: int = 2
    discretization: str = "paper"  # Arbor segmentation of the PDE datasets ("paper" or "max_extent:<um>")
    finetune_epochs: int | None = None  # sag fine-tuning epochs (Table 3); None: the paper's 300
    main_stages: tuple[ResolutionStage, ...] = ()  # continuation stages of the main model (noble.training.stages)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The continuation that makes the laptop main model fire (docs/model.md, "A timing-free quantile term"): 22
#: epochs at 2x coarse on the training set plus 3,200 more traces of the same train HoFs, with the quantile term.
#: The laptop profile's main model is trained with it; its weights are shipped as ``noble/pretrained/laptop/<cell>/main``
#: (stage 1, the 34-epoch model it continues, as ``main.stage1``).
LAPTOP_FIRING_STAGES = (ResolutionStage(factor=2, epochs=22, hold_epochs=15, learning_rate=0.002, quantile_weight=1.0,
                                        extra_samples=3200, extra_seed=21),)

_FI_COARSE = (-0.11, -0.05, 0.0, 0.02, 0.04, 0.06, 0.1, 0.16, 0.22, 0.28)
_FI_FINE = tuple(round(-0.11 + 0.01 * i, 3) for i in range(40))

PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        fit_profile="quick",
        n_train_samples=24,
        n_test_samples_per_hof=2,
        n_train_hofs=4,
        n_test_hofs=2,
        fi_amplitudes=(-0.11, 0.05, 0.1, 0.2),
        model_profile="quick",
        epochs=2,
        max_minutes=2.0,
        n_hull_samples=20,
        n_neighbourhood_samples=10,
        discretization="max_extent:100",
        finetune_epochs=2,
    ),
    "laptop": Profile(
        name="laptop",
        fit_profile="demo",
        n_train_samples=3200,
        n_test_samples_per_hof=6,
        n_train_hofs=None,
        n_test_hofs=None,
        fi_amplitudes=_FI_COARSE,
        model_profile="laptop",
        epochs=None,
        max_minutes=None,
        n_hull_samples=200,
        n_neighbourhood_samples=50,
        finetune_epochs=30,
        main_stages=LAPTOP_FIRING_STAGES,
    ),
    "paper": Profile(
        name="paper",
        fit_profile="demo",
        n_train_samples=75_600,
        n_test_samples_per_hof=20,
        n_train_hofs=None,
        n_test_hofs=None,
        fi_amplitudes=_FI_FINE,
        model_profile="paper",
        epochs=None,
        max_minutes=None,
        n_hull_samples=200,
        n_neighbourhood_samples=50,
        workers=16,
    ),
}


def get_profile(name: str, **overrides: Any) -> Profile:
    """A profile by name, with optional field overrides."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILE_NAMES)}")
    return replace(PROFILES[name], **overrides) if overrides else PROFILES[name]


def default_profile() -> str:
    """``paper`` when a CUDA GPU is present, else ``laptop``."""
    try:
        import torch  # lazy: torch (a slow import) only to ask whether a GPU is present

        return "paper" if torch.cuda.is_available() else "laptop"
    except ImportError:  # pragma: no cover - torch is a hard requirement
        return "laptop"


# ------------------------------------------------------------------------------------------------ analysis sizes


@dataclass(frozen=True)
class AnalysisSettings:
    """Sizes of the figure analyses for one pipeline profile."""

    n_fi_models: int | None  # train HoF models in the NOBLE/PDE F-I comparison (None: all)
    n_interpolated: int  # PDE models with parameters interpolated between two train HoFs (Fig 4)
    n_perturbed: int  # PDE models with perturbed parameters of the test HoF (Fig 4)
    perturbation: float  # log-normal sd of the conductance perturbation
    subsampling_hofs: int  # HoF models simulated at the solver resolution (Figs 6-7)
    subsampling_amplitudes: tuple[float, ...]  # nA
    subsampling_factors: tuple[int, ...]
    table2_fractions: tuple[float, ...]  # fractions of the train pool (paper: 50, 40, 30, 20 of 50)
    ablation_epochs: int | None  # epochs of every Table 1-2 model (None: the profile's)
    speed: Mapping[str, Any]  # noble.bench.speed_table.BenchSettings fields; batches: cpu_batches / gpu_batches
    ablation_max_minutes: float | None = None  # wall-clock cap of each Table 1-2 model (None: the profile's)
    table2_samples: int | None = None  # training traces of every Table 2 model (None: the profile's)
    finetune_max_minutes: float | None = None  # wall-clock cap of each Table 3 fine-tuning (None: the profile's)
    ablation_seeds: tuple[int, ...] = (0,)  # training seeds of every Table 1-2 row (spread over seeds)


ANALYSIS_SETTINGS: dict[str, AnalysisSettings] = {
    "quick": AnalysisSettings(
        n_fi_models=4, n_interpolated=1, n_perturbed=1, perturbation=0.1, subsampling_hofs=1,
        subsampling_amplitudes=(-0.11, 0.1), subsampling_factors=(1, 3, 8), table2_fractions=(1.0, 0.5), table2_samples=8,
        ablation_epochs=1, ablation_seeds=(0, 1),
        speed={"profile": "quick", "devices": ("cpu", "cuda"), "cpu_batches": (1, 4), "gpu_batches": (1, 4),
               "n_traces": 4, "gpu_n_traces": 16, "engines": ("arbor",), "pde_traces": 1, "accuracy_traces": 2,
               "workers": 1},
    ),
    "laptop": AnalysisSettings(
        n_fi_models=None, n_interpolated=3, n_perturbed=5, perturbation=0.1, subsampling_hofs=6,
        subsampling_amplitudes=(-0.11, -0.05, 0.1, 0.18, 0.26), subsampling_factors=(1, 2, 3, 4, 5, 6, 8, 10),
        table2_fractions=(1.0, 0.4), ablation_epochs=None, ablation_max_minutes=1.5, table2_samples=200,
        finetune_max_minutes=3.0, ablation_seeds=(0, 1, 2),
        speed={"devices": ("cpu", "cuda"), "cpu_batches": (1, 64), "gpu_batches": (1, 64, 1000), "n_traces": 64,
               "gpu_n_traces": 2000, "engines": ("neuron", "arbor"), "pde_traces": 3, "accuracy_traces": 4},
    ),
    "paper": AnalysisSettings(
        n_fi_models=None, n_interpolated=5, n_perturbed=10, perturbation=0.1, subsampling_hofs=20,
        subsampling_amplitudes=(-0.11, -0.07, -0.03, 0.06, 0.1, 0.18, 0.26), subsampling_factors=tuple(range(1, 11)),
        table2_fractions=(1.0, 0.8, 0.6, 0.4), ablation_epochs=None, ablation_seeds=(0, 1, 2),
        speed={"devices": ("cpu", "cuda"), "cpu_batches": (1, 64), "gpu_batches": (1, 64, 1000), "n_traces": 256,
               "gpu_n_traces": 10_000, "engines": ("neuron", "arbor"), "pde_traces": 4, "accuracy_traces": 8},
    ),
}


def analysis_settings(profile: "Profile | str") -> AnalysisSettings:
    """The analysis sizes of a pipeline profile (by its name)."""
    name = profile if isinstance(profile, str) else profile.name
    if name not in ANALYSIS_SETTINGS:
        raise AnalysisError(f"no analysis settings for profile {name!r}; known: {sorted(ANALYSIS_SETTINGS)}")
    return ANALYSIS_SETTINGS[name]
