"""The NOBLE model: the embedding followed by a 1D Fourier neural operator (neuraloperator 2.0.0).

Units: currents nA, voltages mV, time ms. The FNO works on voltage in volts internally (as the authors'
code does), and :class:`NobleModel` multiplies its output by ``output_scale_mV`` (1000), so every public
method returns mV.

The paper's architecture (the ``paper`` profile, the defaults of :class:`FNOConfig`): 12 Fourier layers,
24 hidden channels, 256 Fourier modes (129 kept rfft coefficients), projection channel ratio 4, lifting
ratio 2, GELU, linear FNO skips, soft-gating channel-MLP skips, no normalisation, and neuraloperator's grid
positional embedding (one extra channel in [0, 1], added by the library inside the FNO).

Inference (:meth:`NobleModel.predict`) runs by default through the fast path of :mod:`noble.fast` (the same
function computed with truncated-DFT GEMMs; relative difference ~2e-7 in fp32, faster on CPUs and GPUs), built
once per set of weights and rebuilt automatically after the weights change. ``engine="reference"`` runs the
neuralop FNO itself. The weights, and so the checkpoints, always stay in neuralop's layout.
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
from noble.fast.noble_model import accelerate
from noble.fast.padding import pad_to
from noble.fast.runtime import PRECISIONS
from noble.fast.runtime import precision as precision_mode


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


def real_parameter_count(module: nn.Module) -> int:
    """Trainable real parameters (a complex weight counts twice)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters() if p.requires_grad)


class NobleModel(nn.Module):
    """Embedding + FNO: maps step amplitudes (nA) and neuron features to somatic voltage (mV).

    ``feature_table`` (global HoF index -> {name: raw value}) lets :meth:`predict` take HoF indices;
    ``train_hofs``/``test_hofs`` record the cell split the model was trained with.
    """

    def __init__(
        self,
        config: FNOConfig,
        spec: EmbeddingSpec,
        scaler: FeatureScaler,
        template: StimulusTemplate = StimulusTemplate(),
        feature_table: FeatureTable | None = None,
        train_hofs: Sequence[int] = (),
        test_hofs: Sequence[int] = (),
        cell: str | None = None,
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
        self.fno = build_fno(config, spec.in_channels)
        # (weights key, fast twin); kept outside the module tree so it never enters state_dict or parameters()
        object.__setattr__(self, "_fast_cache", None)

    @property
    def scaler(self) -> FeatureScaler:
        return self.embedding.scaler

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.spec.features

    def forward(self, amplitude_nA: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Voltage ``[B, L]`` (mV) for amplitudes ``[B]`` (nA) and raw features ``[B, F]`` in ``feature_names`` order."""
        x = self.embedding(amplitude_nA, features)
        n = x.shape[-1]
        return self.fno(pad_to(x, self.config.padded_length))[:, 0, :n] * self.config.output_scale_mV

    def _weights_key(self) -> tuple:
        """Changes whenever a weight is modified in place (optimizer step, ``load_state_dict``), replaced or moved."""
        return (id(self.embedding), self.config, tuple(
            (id(p), p.data_ptr(), p._version, p.device, p.dtype, tuple(p.shape)) for p in self.fno.parameters()
        ))

    def fast_module(self) -> nn.Module:
        """The :class:`noble.fast.FastNoble` twin of this model's current weights, on their device.

        Built on first use and cached; any change of the weights (training step, ``load_state_dict``, ``.to``)
        makes the next call rebuild it. Writes through ``param.data`` bypass PyTorch's version counters and are
        not seen: call :meth:`invalidate_fast` after them. It is not a submodule: it never enters ``state_dict``
        or checkpoints.
        """
        key = self._weights_key()
        cache = self._fast_cache
        if cache is None or cache[0] != key:
            fast = accelerate(self, spectral="measured")
            fast.requires_grad_(False)
            object.__setattr__(self, "_fast_cache", (key, fast))
            return fast
        return cache[1]

    def invalidate_fast(self) -> None:
        """Drop the cached fast twin (it is rebuilt on the next fast prediction)."""
        object.__setattr__(self, "_fast_cache", None)

    def weight_tensors(self) -> dict[str, torch.Tensor]:
        """The trainable state as plain tensors on the CPU (neuraloperator's ``_metadata`` entry left out)."""
        return {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items() if isinstance(v, torch.Tensor)}

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

        ``engine``: ``"fast"`` (default; :meth:`fast_module`, equal to the reference within ~1e-6 relative in
        fp32) or ``"reference"`` (the neuralop FNO). ``precision``: ``"fp32"`` (default), ``"tf32"`` or ``"bf16"``
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
        net = self.fast_module() if engine == "fast" else self
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

    def describe(self) -> dict[str, Any]:
        """The architecture as recorded in the model card."""
        return {
            "type": "neuralop.models.FNO",
            **self.config.as_dict(),
            "in_channels": self.spec.in_channels,
            "out_channels": 1,
            "n_real_parameters": real_parameter_count(self.fno),
        }


def model_profile(name: str, **overrides: Any) -> FNOConfig:
    """A named model size with optional overrides."""
    if name not in MODEL_PROFILES:
        raise ConfigError(f"unknown model profile {name!r}; choose one of {sorted(MODEL_PROFILES)}")
    return replace(MODEL_PROFILES[name], **overrides)
