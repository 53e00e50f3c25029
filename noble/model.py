"""The NOBLE model: the embedding followed by a 1D Fourier neural operator (neuraloperator 2.0.0).

Units: currents nA, voltages mV, time ms. The FNO works on voltage in volts internally (as the authors'
code does), and :class:`NobleModel` multiplies its output by ``output_scale_mV`` (1000), so every public
method returns mV.

The paper's architecture (the ``paper`` profile, the defaults of :class:`FNOConfig`): 12 Fourier layers,
24 hidden channels, 256 Fourier modes (129 kept rfft coefficients), projection channel ratio 4, lifting
ratio 2, GELU, linear FNO skips, soft-gating channel-MLP skips, no normalisation, and neuraloperator's grid
positional embedding (one extra channel in [0, 1], added by the library inside the FNO).

The network is :class:`noble.fast.FastFNO`: the same function as ``neuralop.models.FNO`` (with the settings of
:func:`build_fno`) computed with truncated-DFT products or FFTs, trained and evaluated directly, with no copy of the
weights. neuraloperator's FNO stays two things: the initialisation (a seed gives the weights neuralop's FNO would
draw) and the checkpoint layout (:meth:`NobleModel.weight_tensors` writes its ``state_dict`` keys, so safetensors
files are interchangeable with it). ``predict(engine="reference")`` runs a neuralop FNO rebuilt from the current
weights, the oracle of the tests.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from noble.embedding import (
    Embedding,
    EmbeddingError,
    EmbeddingSpec,
    FeatureScaler,
    FeatureTable,
    StimulusTemplate,
    feature_rows,
)
from noble.errors import NobleError
from noble.fast.config import FastFNOConfig
from noble.fast.convert import state_from_neuralop, state_to_neuralop
from noble.fast.model import SPECTRAL_METHODS, FastFNO
from noble.fast.padding import pad_to
from noble.fast.select import choose_spectral
from noble.fast.runtime import PRECISIONS
from noble.fast.runtime import precision as precision_mode
from noble.sim.protocol import PAPER_TEMPLATE


class ConfigError(NobleError):
    """A model or training configuration that is unknown or malformed."""


@dataclass(frozen=True)
class FNOConfig:
    """FNO hyperparameters; the defaults are the paper's."""

    n_layers: int = 12
    hidden_channels: int = 24
    n_modes: int = 256
    projection_channel_ratio: float = 4
    lifting_channel_ratio: float = 2
    positional_embedding: str | None = "grid"
    output_scale_mV: float = 1000.0  # network output (V) * output_scale_mV = mV
    # None: the FNO runs on the trace grid (the paper's function). N: the embedded input is padded at the end
    # (edge values held) to N samples, the FNO runs on N samples and its output is cropped back to the trace
    # length; with an FFT-friendly N (e.g. 8,640 = 2^6 3^3 5 for 8,583-sample traces) the spectral layers run
    # as FFTs. A different function from the unpadded model: it is recorded in the card and never applied to
    # weights trained without it.
    padded_length: int | None = None

    def __post_init__(self) -> None:
        if self.padded_length is not None and int(self.padded_length) < 2:
            raise ConfigError(f"padded_length must be None or at least 2 samples, not {self.padded_length}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FNOConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known - {"type", "in_channels", "out_channels", "n_parameters", "n_real_parameters"}
        if unknown:
            raise ConfigError(f"unknown model setting(s): {sorted(unknown)}")
        return cls(**{k: v for k, v in data.items() if k in known})


#: Ways :meth:`NobleModel.predict` can evaluate the network: ``fast`` (:mod:`noble.fast`) or ``reference``
#: (the neuralop FNO).
ENGINES = ("fast", "reference")


#: Named model sizes: ``paper`` (1.8M real parameters), ``laptop`` (moderate, CPU-trainable) and ``quick``
#: (seconds per epoch on a CPU; for tests and smoke runs).
MODEL_PROFILES: dict[str, FNOConfig] = {
    "paper": FNOConfig(),
    "laptop": FNOConfig(n_layers=4, hidden_channels=24, n_modes=256, projection_channel_ratio=4),
    "quick": FNOConfig(n_layers=2, hidden_channels=8, n_modes=32, projection_channel_ratio=2),
}


def build_fno(config: FNOConfig, in_channels: int) -> nn.Module:
    """The neuraloperator FNO with every setting stated explicitly (one output channel)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from neuralop.models import FNO  # lazy: neuralop loads slowly and imports wandb; only the reference FNO and checkpoint conversion need it

    return FNO(
        n_modes=(int(config.n_modes),),
        in_channels=int(in_channels),
        out_channels=1,
        hidden_channels=int(config.hidden_channels),
        n_layers=int(config.n_layers),
        lifting_channel_ratio=config.lifting_channel_ratio,
        projection_channel_ratio=config.projection_channel_ratio,
        positional_embedding=config.positional_embedding,
        non_linearity=F.gelu,
        norm=None,
        use_channel_mlp=True,
        channel_mlp_skip="soft-gating",
        fno_skip="linear",
        domain_padding=None,
    )


def fast_config(config: FNOConfig, in_channels: int) -> FastFNOConfig:
    """The sizes :func:`build_fno` gives, as :class:`FastFNOConfig` (neuralop's channel-MLP expansion is 0.5)."""
    hidden = int(config.hidden_channels)
    return FastFNOConfig(
        in_channels=int(in_channels), out_channels=1, hidden_channels=hidden, n_layers=int(config.n_layers),
        n_modes=int(config.n_modes), lifting_channels=int(config.lifting_channel_ratio * hidden),
        projection_channels=int(config.projection_channel_ratio * hidden),
        channel_mlp_channels=int(round(hidden * 0.5)), positional_embedding=config.positional_embedding == "grid",
    )


def training_spectral(config: FNOConfig) -> str:
    """The fixed spectral rule of training: FFTs on a padded (FFT-friendly) grid, truncated DFTs on the trace grid.

    Fixed rather than measured so that a resumed run computes exactly what the interrupted one did."""
    return "fft" if config.padded_length is not None else "dft"


def initial_fno(config: FNOConfig, in_channels: int, neuralop_init: bool = True) -> FastFNO:
    """A :class:`FastFNO` for ``config``.

    ``neuralop_init``: draw the initial weights as ``neuralop.models.FNO`` does (the same random numbers, so a
    seed gives the model it always gave); otherwise leave the global random generator untouched (for weights
    that are loaded next, e.g. from a checkpoint).
    """
    fast = fast_config(config, in_channels)
    with torch.random.fork_rng(devices=[]):
        fno = FastFNO(fast, spectral=training_spectral(config))
    if neuralop_init:
        reference = build_fno(config, in_channels)
        fno.load_state_dict(state_from_neuralop(reference.state_dict(), fast))
    return fno


def real_parameter_count(module: nn.Module) -> int:
    """Trainable real parameters (a complex weight counts twice)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters() if p.requires_grad)


class NobleModel(nn.Module):
    """Embedding + FNO: maps step amplitudes (nA) and neuron features to somatic voltage (mV).

    ``feature_table`` (global HoF index -> {name: raw value}) lets :meth:`predict` take HoF indices;
    ``train_hofs``/``test_hofs`` record the cell split the model was trained with. ``neuralop_init=False``
    skips neuralop's initialisation (and its import) for weights that are loaded next.
    """

    def __init__(
        self,
        config: FNOConfig,
        spec: EmbeddingSpec,
        scaler: FeatureScaler,
        template: StimulusTemplate = PAPER_TEMPLATE,
        feature_table: FeatureTable | None = None,
        train_hofs: Sequence[int] = (),
        test_hofs: Sequence[int] = (),
        cell: str | None = None,
        neuralop_init: bool = True,
    ) -> None:
        super().__init__()
        self.config = config
        self.spec = spec
        self.template = template
        self.cell = cell
        self.feature_table = {int(h): dict(v) for h, v in (feature_table or {}).items()}
        self.train_hofs = tuple(int(h) for h in train_hofs)
        self.test_hofs = tuple(int(h) for h in test_hofs)
        self.embedding = Embedding(spec, scaler, template)
        self.fno = initial_fno(config, spec.in_channels, neuralop_init)

    @property
    def scaler(self) -> FeatureScaler:
        return self.embedding.scaler

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.spec.features

    @property
    def output_scale_mV(self) -> float:
        return float(self.config.output_scale_mV)

    def forward(self, amplitude_nA: torch.Tensor, features: torch.Tensor, spectral: str | None = None) -> torch.Tensor:
        """Voltage ``[B, L]`` (mV) for amplitudes ``[B]`` (nA) and raw features ``[B, F]`` in ``feature_names`` order.

        ``spectral``: one of :data:`noble.fast.model.SPECTRAL_METHODS` for this call (default: the training rule,
        :func:`training_spectral`); every method computes the same function.
        """
        return self.voltage(self.embedding(amplitude_nA, features), spectral)

    def voltage(self, x: torch.Tensor, spectral: str | None = None) -> torch.Tensor:
        """Voltage ``[B, L]`` (mV) from embedded inputs ``[B, C, L]`` (the part a CUDA graph can capture: the
        embedding copies its scaler constants to the device, which stream capture forbids)."""
        n = x.shape[-1]
        return self.fno(pad_to(x, self.config.padded_length), spectral)[:, 0, :n] * self.output_scale_mV

    def spectral_method(self, name: str = "measured", device: str | torch.device | None = None) -> str:
        """Resolve ``name``: a method of :data:`~noble.fast.model.SPECTRAL_METHODS`, ``"auto"`` (the training
        rule) or ``"measured"`` (the fastest exact transform of this grid on ``device``, timed once per process)."""
        if name in SPECTRAL_METHODS:
            return name
        if name == "auto":
            return training_spectral(self.config)
        if name != "measured":
            raise ConfigError(f"unknown spectral method {name!r}; choose one of {[*SPECTRAL_METHODS, 'auto', 'measured']}")
        device = torch.device(device) if device is not None else next(self.parameters()).device
        return choose_spectral(int(self.config.padded_length or self.template.n_samples), int(self.config.n_modes),
                               int(self.config.hidden_channels), 8 if device.type == "cpu" else 64, device)

    def weight_tensors(self) -> dict[str, torch.Tensor]:
        """The trainable state as CPU tensors in the checkpoint layout: ``fno.*`` keys and shapes of
        ``neuralop.models.FNO(...).state_dict()`` (its ``_metadata`` entry left out)."""
        state = self.state_dict()
        own = {k: v.detach().cpu().contiguous() for k, v in state.items()
               if isinstance(v, torch.Tensor) and not k.startswith("fno.")}
        fno = {k[len("fno."):]: v for k, v in state.items() if k.startswith("fno.")}
        own.update({f"fno.{k}": v.detach().cpu().contiguous()
                    for k, v in state_to_neuralop(fno, self.fno.config).items()})
        return own

    def load_weight_tensors(self, tensors: Mapping[str, torch.Tensor]) -> None:
        """Load weights in the checkpoint layout of :meth:`weight_tensors` (strict: the same keys, shapes and
        dtypes; :class:`ConfigError` names the first that differs)."""
        expected = self.weight_tensors()
        missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        if missing or unexpected:
            raise ConfigError(f"weights do not fit this model (missing {missing[:3]}, unexpected {unexpected[:3]})")
        for key, value in tensors.items():
            if tuple(value.shape) != tuple(expected[key].shape) or value.dtype != expected[key].dtype:
                raise ConfigError(f"weight {key} is {tuple(value.shape)} {value.dtype}, this model needs"
                                  f" {tuple(expected[key].shape)} {expected[key].dtype}")
        fno = state_from_neuralop({k[len("fno."):]: v for k, v in tensors.items() if k.startswith("fno.")},
                                  self.fno.config)
        rest = {k: v for k, v in tensors.items() if not k.startswith("fno.")}
        self.load_state_dict({**rest, **{f"fno.{k}": v for k, v in fno.items()}}, strict=True)

    def reference_module(self) -> nn.Module:
        """The neuralop twin of the current weights (embedding shared, FNO rebuilt as ``neuralop.models.FNO``):
        the oracle the fast FNO is tested against. Built anew on every call."""
        return _ReferenceNoble(self)

    def features_for_hofs(self, hofs: Sequence[int]) -> np.ndarray:
        """Raw features ``[N, F]`` of HoF models (global indices) from the recorded feature table."""
        if self.spec.features and not self.feature_table:
            raise EmbeddingError("this model records no feature table: pass features by name instead of HoF indices")
        return feature_rows(self.feature_table, [int(h) for h in hofs], self.spec.features)

    def features_by_name(self, features: Mapping[str, Sequence[float] | float], n: int) -> np.ndarray:
        """Raw features ``[n, F]`` from ``{name: value or [n] values}``; names must match the model's exactly."""
        names = set(features)
        expected = set(self.spec.features)
        if names != expected:
            raise EmbeddingError(
                f"the model embeds features {list(self.spec.features)}; got {sorted(names)}"
                f" (missing {sorted(expected - names)}, unexpected {sorted(names - expected)})"
            )
        cols = []
        for name in self.spec.features:
            col = np.broadcast_to(np.asarray(features[name], dtype=float), (n,)) if np.ndim(features[name]) == 0 \
                else np.asarray(features[name], dtype=float)
            if col.shape != (n,):
                raise EmbeddingError(f"feature {name!r} has shape {col.shape}, expected ({n},) to match the amplitudes")
            if not np.all(np.isfinite(col)):
                raise EmbeddingError(f"feature {name!r} has non-finite values")
            cols.append(col)
        return np.stack(cols, axis=1) if cols else np.zeros((n, 0))

    @torch.no_grad()
    def predict(
        self,
        amplitudes_nA: Sequence[float] | np.ndarray,
        features: Mapping[str, Sequence[float] | float] | np.ndarray | None = None,
        hofs: Sequence[int] | int | None = None,
        batch_size: int = 256,
        device: str | torch.device | None = None,
        engine: str = "fast",
        precision: str = "fp32",
    ) -> np.ndarray:
        """Predicted voltage ``[N, n_samples]`` (mV) for step amplitudes (nA).

        Give the neuron either as ``features`` (``{name: value or [N] values}`` with exactly the model's
        feature names, or a raw ``[N, F]`` array in ``feature_names`` order) or as ``hofs`` (global HoF
        indices, one or ``[N]``, looked up in the recorded feature table).

        ``engine``: ``"fast"`` (default; the model itself with the fastest exact spectral transform measured on
        this device, equal to the reference within ~1e-6 relative in fp32) or ``"reference"`` (the neuralop FNO,
        :meth:`reference_module`). ``precision``: ``"fp32"`` (default), ``"tf32"`` or ``"bf16"``
        (see :func:`noble.fast.runtime.precision`; reduced precisions only make a difference on GPUs, except
        bf16 autocast, which also runs on CPUs).
        """
        if engine not in ENGINES:
            raise ConfigError(f"unknown inference engine {engine!r}; choose one of {list(ENGINES)}")
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {precision!r}; choose one of {list(PRECISIONS)}")
        amps = np.atleast_1d(np.asarray(amplitudes_nA, dtype=float))
        if amps.ndim != 1 or not np.all(np.isfinite(amps)):
            raise EmbeddingError("amplitudes must be a 1-D sequence of finite currents in nA")
        n = amps.shape[0]
        if (features is None) == (hofs is None) and self.spec.features:
            raise EmbeddingError("give the neuron as either features=... or hofs=..., not both or neither")
        if hofs is not None:
            hof_arr = np.broadcast_to(np.atleast_1d(np.asarray(hofs, dtype=int)), (n,))
            feats = self.features_for_hofs(hof_arr.tolist())
        elif isinstance(features, Mapping):
            feats = self.features_by_name(features, n)
        elif features is None:
            feats = np.zeros((n, 0))
        else:
            feats = np.asarray(features, dtype=float)
            if feats.shape != (n, len(self.spec.features)):
                raise EmbeddingError(
                    f"features array has shape {feats.shape}, expected ({n}, {len(self.spec.features)})"
                    f" with columns {list(self.spec.features)}"
                )
        device = torch.device(device) if device is not None else next(self.parameters()).device
        was_training = self.training
        self.eval()
        self.to(device)
        if engine == "fast":
            spectral = self.spectral_method("measured", device)
            net = lambda a, f: self(a, f, spectral)  # noqa: E731
        else:
            net = self.reference_module().to(device)
        out = np.empty((n, self.template.n_samples), dtype=np.float32)
        try:
            with precision_mode(precision, device):
                for start in range(0, n, batch_size):
                    sl = slice(start, start + batch_size)
                    a = torch.as_tensor(amps[sl], device=device)
                    f = torch.as_tensor(feats[sl], device=device)
                    out[sl] = net(a, f).float().cpu().numpy()
        finally:
            self.train(was_training)
        return out

    def on_grid(self, template: StimulusTemplate, padded_length: int | None) -> "NobleModel":
        """The same weights on another trace grid (the FNO is resolution-agnostic), e.g. a model trained on coarser
        traces predicting the paper's grid; ``padded_length`` is the FFT-friendly length to run at there. It is a
        different function from this model's when the grid differs, so it never replaces it silently."""
        moved = NobleModel(replace(self.config, padded_length=padded_length), self.spec, self.scaler, template,
                           self.feature_table, train_hofs=self.train_hofs, test_hofs=self.test_hofs, cell=self.cell,
                           neuralop_init=False)
        moved.load_weight_tensors(self.weight_tensors())
        if hasattr(self, "card"):  # set by noble.checkpoint.load_model
            moved.card = self.card
        return moved.eval()

    def describe(self) -> dict[str, Any]:
        """The architecture as recorded in the model card."""
        return {
            "type": "neuralop.models.FNO",
            **self.config.as_dict(),
            "in_channels": self.spec.in_channels,
            "out_channels": 1,
            "n_real_parameters": real_parameter_count(self.fno),
        }


class SpectralView(nn.Module):
    """A :class:`NobleModel` evaluated with one spectral method (the same module and weights, not a copy):
    for benchmarks and exports that compare or fix the transform. ``spectral`` as in
    :meth:`NobleModel.spectral_method`."""

    def __init__(self, model: NobleModel, spectral: str = "auto") -> None:
        super().__init__()
        self.model = model
        self.spectral = model.spectral_method(spectral)

    @property
    def embedding(self) -> Embedding:
        return self.model.embedding

    @property
    def fno(self) -> FastFNO:
        return self.model.fno

    @property
    def output_scale_mV(self) -> float:
        return self.model.output_scale_mV

    def forward(self, amplitude_nA: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return self.model(amplitude_nA, features, self.spectral)

    def voltage(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.voltage(x, self.spectral)


class _ReferenceNoble(nn.Module):
    """Embedding + ``neuralop.models.FNO`` holding a copy of a :class:`NobleModel`'s weights (the test oracle)."""

    def __init__(self, model: NobleModel) -> None:
        super().__init__()
        self.embedding = model.embedding
        self.config = model.config
        device = next(model.parameters()).device
        with torch.random.fork_rng(devices=[]):
            self.fno = build_fno(model.config, model.spec.in_channels)
        fno = {k[len("fno."):]: v for k, v in model.weight_tensors().items() if k.startswith("fno.")}
        missing, unexpected = self.fno.load_state_dict(fno, strict=False)
        if [k for k in missing if not k.endswith("_metadata")] or unexpected:
            raise ConfigError(f"weights do not fit the neuralop FNO: missing {missing[:3]}, unexpected {unexpected[:3]}")
        self.to(device)

    def forward(self, amplitude_nA: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        x = self.embedding(amplitude_nA, features)
        n = x.shape[-1]
        return self.fno(pad_to(x, self.config.padded_length))[:, 0, :n] * self.config.output_scale_mV


def model_profile(name: str, **overrides: Any) -> FNOConfig:
    """A named model size with optional overrides."""
    if name not in MODEL_PROFILES:
        raise ConfigError(f"unknown model profile {name!r}; choose one of {sorted(MODEL_PROFILES)}")
    return replace(MODEL_PROFILES[name], **overrides)
