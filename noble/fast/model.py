"""``FastFNO``: the paper's 1D FNO computed with truncated-DFT matrix products.

It computes the same function, with the same parameters, as ``neuralop.models.FNO`` (neuraloperator 2.0.0)
built with the library defaults the paper uses: grid positional embedding, a 2-layer lifting MLP, Fourier
layers with a linear (1x1, no bias) FNO skip, a channel MLP (expansion 0.5) with a soft-gating skip, GELU
(exact, erf form) after every layer but the last, no normalisation, no domain padding, and a 2-layer
projection MLP.  Only the way the spectral convolution is evaluated differs (see :mod:`noble.fast.dft`).

Tensors are channel-first, ``(batch, channels, time)``, exactly like the neuralop model.  The model is unit
agnostic: noble feeds it currents in 0.1 nA model units and reads voltages in its training unit (see
:mod:`noble.units` for the project's unit system).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from noble.fast.config import FastFNOConfig
from noble.fast.convert import config_from_neuralop, state_from_neuralop, state_to_neuralop
from noble.fast.chirpz import ChirpZ
from noble.fast.dft import dft_matrices, kept_modes

__all__ = ["FastFNOConfig", "FastFNO", "SPECTRAL_METHODS"]

#: How the spectral convolution is evaluated: dense truncated DFT matrices, torch.fft at the grid's own length,
#: or the exact chirp-z transform through smooth-length FFTs (:mod:`noble.fast.chirpz`).
SPECTRAL_METHODS = ("dft", "fft", "czt")


class FastFNO(nn.Module):
    """A 1D FNO whose spectral convolutions are dense truncated-DFT products (or FFTs, see ``spectral``).

    Parameters are stacked over layers; :meth:`from_neuralop` copies a ``neuralop.models.FNO`` and
    :meth:`neuralop_state_dict` writes them back in neuralop's layout, so checkpoints stay interchangeable.
    """

    def __init__(self, config: FastFNOConfig, spectral: str = "dft") -> None:
        super().__init__()
        if spectral not in SPECTRAL_METHODS:
            raise ValueError(f"spectral must be one of {SPECTRAL_METHODS}, got {spectral!r}")
        self.config = config
        self.spectral = spectral
        c, n_layers, k = config.hidden_channels, config.n_layers, config.max_kept_modes
        lift_in = config.in_channels + (1 if config.positional_embedding else 0)
        mlp = config.channel_mlp_channels
        self.lift_w0 = nn.Parameter(torch.empty(config.lifting_channels, lift_in))
        self.lift_b0 = nn.Parameter(torch.zeros(config.lifting_channels))
        self.lift_w1 = nn.Parameter(torch.empty(c, config.lifting_channels))
        self.lift_b1 = nn.Parameter(torch.zeros(c))
        #: spectral weights as (layer, in, out, mode, re/im)
        self.spectral_weight = nn.Parameter(torch.empty(n_layers, c, c, k, 2))
        self.spectral_bias = nn.Parameter(torch.zeros(n_layers, c))
        self.skip_weight = nn.Parameter(torch.empty(n_layers, c, c))
        self.mlp_w0 = nn.Parameter(torch.empty(n_layers, mlp, c))
        self.mlp_b0 = nn.Parameter(torch.zeros(n_layers, mlp))
        self.mlp_w1 = nn.Parameter(torch.empty(n_layers, c, mlp))
        self.mlp_b1 = nn.Parameter(torch.zeros(n_layers, c))
        self.gate = nn.Parameter(torch.ones(n_layers, c))
        self.proj_w0 = nn.Parameter(torch.empty(config.projection_channels, c))
        self.proj_b0 = nn.Parameter(torch.zeros(config.projection_channels))
        self.proj_w1 = nn.Parameter(torch.empty(config.out_channels, config.projection_channels))
        self.proj_b1 = nn.Parameter(torch.zeros(config.out_channels))
        self._bases: dict[tuple, "tuple[torch.Tensor, torch.Tensor] | ChirpZ"] = {}
        #: largest batch run at once on the CPU (0: no chunking)
        self.cpu_chunk = 8
        self.reset_parameters()

    # ------------------------------------------------------------------ construction
    def reset_parameters(self) -> None:
        """Initialise like neuralop: Conv1d defaults for the MLPs and skips, N(0, 1/C) spectral weights."""
        with torch.no_grad():
            for weight, bias in (
                (self.lift_w0, self.lift_b0), (self.lift_w1, self.lift_b1),
                (self.proj_w0, self.proj_b0), (self.proj_w1, self.proj_b1),
            ):
                _conv_init(weight, bias)
            for layer in range(self.config.n_layers):
                _conv_init(self.skip_weight[layer], None)
                _conv_init(self.mlp_w0[layer], self.mlp_b0[layer])
                _conv_init(self.mlp_w1[layer], self.mlp_b1[layer])
            std = (1.0 / self.config.hidden_channels) ** 0.5
            self.spectral_weight.normal_(0.0, std / 2**0.5)
            self.spectral_bias.normal_(0.0, std)
            self.gate.fill_(1.0)

    @classmethod
    def from_neuralop(cls, fno: nn.Module, spectral: str = "dft") -> "FastFNO":
        """A ``FastFNO`` computing the same function as ``fno`` (a ``neuralop.models.FNO``), on its device.

        Raises ``ValueError`` naming the setting when ``fno`` uses an option the fast path does not implement.
        """
        config = config_from_neuralop(fno)
        reference = fno.projection.fcs[0].weight  # a real parameter: its dtype and device
        model = cls(config, spectral=spectral).to(device=reference.device, dtype=reference.dtype)
        model.load_state_dict(state_from_neuralop(fno.state_dict(), config))
        return model

    def neuralop_state_dict(self) -> dict[str, torch.Tensor]:
        """The parameters in the layout of ``neuralop.models.FNO(...).state_dict()``."""
        return state_to_neuralop(self.state_dict(), self.config)

    # ------------------------------------------------------------------ forward
    def dft_bases(self, n_points: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Cached forward/inverse truncated-DFT matrices for a grid of ``n_points``."""
        key = (n_points, str(device), dtype)
        bases = self._bases.get(key)
        if bases is None:
            bases = dft_matrices(n_points, kept_modes(n_points, self.config.n_modes), dtype=dtype, device=device)
            self._bases[key] = bases
        return bases

    def chirpz(self, n_points: int, device: torch.device, dtype: torch.dtype) -> ChirpZ:
        """Cached chirp-z transform for a grid of ``n_points``."""
        key = ("czt", n_points, str(device), dtype)
        cz = self._bases.get(key)
        if cz is None:
            cz = ChirpZ(n_points, kept_modes(n_points, self.config.n_modes), dtype=dtype, device=device)
            self._bases[key] = cz
        return cz

    def forward(self, x: torch.Tensor, spectral: str | None = None) -> torch.Tensor:
        """Map ``x`` of shape ``(batch, in_channels, time)`` to ``(batch, out_channels, time)``.

        ``spectral`` overrides :attr:`spectral` for this call (the methods compute the same function).
        On the CPU a batch runs in chunks of at most ``cpu_chunk`` traces: a chunk's activations then stay in
        the cache (same results; about twice the throughput of one batch of 64 on one core).
        """
        cfg = self.config
        if x.ndim != 3 or x.shape[1] != cfg.in_channels:
            raise ValueError(f"expected input of shape (batch, {cfg.in_channels}, time), got {tuple(x.shape)}")
        method = self.spectral if spectral is None else spectral
        if method not in SPECTRAL_METHODS:
            raise ValueError(f"spectral must be one of {SPECTRAL_METHODS}, got {method!r}")
        if x.device.type == "cpu" and self.cpu_chunk and x.shape[0] > self.cpu_chunk:
            return torch.cat([self._forward(chunk, method) for chunk in x.split(self.cpu_chunk)])
        return self._forward(x, method)

    def _forward(self, x: torch.Tensor, method: str) -> torch.Tensor:
        cfg = self.config
        n_points = x.shape[-1]
        n_kept = kept_modes(n_points, cfg.n_modes)
        bases = (self.dft_bases(n_points, x.device, x.dtype) if method == "dft"
                 else self.chirpz(n_points, x.device, x.dtype) if method == "czt" else None)

        h = self._lift(x)
        last = cfg.n_layers - 1
        for layer in range(cfg.n_layers):
            skip = pointwise(h, self.skip_weight[layer], self.spectral_bias[layer])
            y = self._spectral(h, layer, n_kept, bases, skip)
            if layer < last:
                y = F.gelu(y)
            y = pointwise(F.gelu(pointwise(y, self.mlp_w0[layer], self.mlp_b0[layer])), self.mlp_w1[layer],
                          self.mlp_b1[layer])
            y = torch.addcmul(y, self.gate[layer].view(1, -1, 1), h)
            h = F.gelu(y) if layer < last else y
        h = F.gelu(pointwise(h, self.proj_w0, self.proj_b0))
        return pointwise(h, self.proj_w1, self.proj_b1)

    def _lift(self, x: torch.Tensor) -> torch.Tensor:
        """Lifting MLP; the grid channel's contribution is a per-time bias instead of a concatenated input."""
        cfg = self.config
        n_points = x.shape[-1]
        if cfg.positional_embedding:
            grid = torch.linspace(0.0, 1.0, n_points + 1, device=x.device, dtype=x.dtype)[:-1]
            bias = torch.addcmul(self.lift_b0.unsqueeze(-1), self.lift_w0[:, cfg.in_channels:], grid.unsqueeze(0))
            h = pointwise(x, self.lift_w0[:, : cfg.in_channels]) + bias
        else:
            h = pointwise(x, self.lift_w0, self.lift_b0)
        return pointwise(F.gelu(h), self.lift_w1, self.lift_b1)

    def _mixing_matrices(self, layer: int, n_kept: int) -> torch.Tensor:
        """Per-mode real ``(2C, 2C)`` matrices of the complex channel mixing, shape ``(K, 2C, 2C)``.

        Rows index ``(in_channel, re/im)``, columns ``(out_channel, re/im)``.
        """
        w = self.spectral_weight[layer, :, :, :n_kept]
        wr, wi = w[..., 0], w[..., 1]
        from_real = torch.stack([wr, wi], dim=-1)
        from_imag = torch.stack([-wi, wr], dim=-1)
        m = torch.stack([from_real, from_imag], dim=1)  # (in, re/im, out, K, re/im)
        c = self.config.hidden_channels
        return m.permute(3, 0, 1, 2, 4).reshape(n_kept, 2 * c, 2 * c)

    def mix_modes(self, spec: torch.Tensor, layer: int) -> torch.Tensor:
        """Complex channel mixing of layer ``layer``: ``(B, C, re/im, K)`` -> ``(B, C, re/im, K)``."""
        batch, c, _, n_kept = spec.shape
        spec = spec.permute(3, 0, 1, 2).reshape(n_kept, batch, 2 * c)
        mixed = torch.bmm(spec, self._mixing_matrices(layer, n_kept).to(spec.dtype))
        return mixed.view(n_kept, batch, c, 2).permute(1, 2, 3, 0)

    def _spectral(
        self, h: torch.Tensor, layer: int, n_kept: int, bases: "tuple | ChirpZ | None", skip: torch.Tensor
    ) -> torch.Tensor:
        """Spectral convolution of ``h`` plus ``skip`` (which already carries the spectral bias)."""
        batch, c, n_points = h.shape
        if isinstance(bases, ChirpZ):
            return skip + bases.inverse(self.mix_modes(bases.forward(h), layer)).to(skip.dtype)
        if bases is not None:
            forward, inverse = bases
            spec = torch.matmul(h, forward.to(h.dtype)).view(batch, c, 2, n_kept)  # re then im
        else:
            spec = torch.fft.rfft(h.float(), norm="forward")[..., :n_kept]
            spec = torch.stack([spec.real, spec.imag], dim=2).to(h.dtype)  # (B, C, 2, K)
        mixed = self.mix_modes(spec, layer)
        if bases is not None:
            mixed = mixed.reshape(batch * c, 2 * n_kept)
            out = torch.addmm(skip.reshape(batch * c, n_points), mixed, inverse.to(mixed.dtype))
            return out.view(batch, c, n_points)
        coeffs = torch.complex(mixed[:, :, 0].float(), mixed[:, :, 1].float())
        return skip + torch.fft.irfft(coeffs, n=n_points, norm="forward").to(skip.dtype)


def pointwise(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """A 1x1 convolution ``(batch, in, time) -> (batch, out, time)`` (``weight`` ``(out, in)``, ``bias`` ``(out,)``)
    as one batched matrix product: the same sums as ``F.conv1d`` with a kernel of size 1, which on the CPU takes a
    slow im2col path (forward and backward of the laptop model about 5-8% slower, paper-size inference about 10%).
    An ONNX export keeps the convolution, which onnxruntime runs faster than a batched product."""
    if torch.onnx.is_in_onnx_export():
        return F.conv1d(h, weight.unsqueeze(-1), bias)
    batch, _, n_points = h.shape
    w = weight.unsqueeze(0).expand(batch, -1, -1)
    if bias is None:
        return torch.bmm(w, h)
    return torch.baddbmm(bias.view(1, -1, 1).expand(batch, -1, n_points), w, h)


def _conv_init(weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    """PyTorch's default Conv1d/Linear initialisation for a ``(out, in)`` weight."""
    fan_in = weight.shape[-1]
    bound = 1.0 / fan_in**0.5
    weight.uniform_(-bound, bound)
    if bias is not None:
        bias.uniform_(-bound, bound)
