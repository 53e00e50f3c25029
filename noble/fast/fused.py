"""The fast FNO with the pointwise work of every layer fused into one Triton kernel (GPU; needs Triton).

Per Fourier layer the eager fast path moves about 16 activation-sized tensors through memory (skip convolution,
bias, GELU, two channel-MLP convolutions, gating, GELU...). Here a layer is two GEMMs (the truncated forward and
inverse DFT, the small per-mode mixing between them) and one kernel. That kernel reads the inverse-DFT output
``s`` and the layer input ``h``, works on a tile of time points with every channel in registers, and writes the
next input::

    a   = gelu(s + W_skip h + b_spec)                 (no GELU after the last layer)
    out = gelu(W1 gelu(W0 a + b0) + b1 + g * h)       (idem)

Lifting and projection MLPs are one kernel each; the grid channel's contribution is computed in the kernel.
That is 5 activation passes per layer instead of about 16. :func:`fused_forward` is for inference;
:func:`fused_train_forward` is differentiable (a backward kernel recomputes each tile).

Precisions: ``fp32`` (IEEE everywhere), ``tf32`` (TF32 GEMMs and in-kernel dots), ``bf16`` (activations and
DFT GEMMs in bf16; in-kernel dots TF32, pointwise math and accumulation fp32). The kernels also run in
Triton's CPU interpreter (``TRITON_INTERPRET=1``), which the tests use where no GPU is present.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from noble.fast.dft import kept_modes
from noble.fast.model import FastFNO
from noble.fast.runtime import PRECISIONS, precision

if TYPE_CHECKING:  # pragma: no cover
    from noble.model import NobleModel

__all__ = ["triton_available", "fused_forward", "fused_voltage", "fused_train_forward"]

#: Time points per kernel program.
BLOCK_T = 64


def triton_available() -> bool:
    """Whether Triton can be imported (it ships with CUDA builds of PyTorch)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def _pad(n: int) -> int:
    """Smallest power of two >= max(n, 16) (tile sizes of ``tl.dot``)."""
    size = 16
    while size < n:
        size *= 2
    return size


def _kernels():
    """The Triton kernels module, imported on first use (Triton is optional)."""
    from noble.fast import _triton_kernels  # lazy: needs Triton, which is optional

    return _triton_kernels


def _mlp(x: torch.Tensor, w0: torch.Tensor, b0: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor,
         n_in: int, grid: bool, out_dtype: torch.dtype, mode: int) -> torch.Tensor:
    k = _kernels()
    batch, _, n = x.shape
    hidden, out_channels = w0.shape[0], w1.shape[0]
    out = torch.empty(batch, out_channels, n, device=x.device, dtype=out_dtype)
    launch = (k.triton.cdiv(n, BLOCK_T), batch)
    k.mlp_kernel[launch](x, out, w0, b0, w0[:, n_in:] if grid else w0, w1, b1, n, 1.0 / n,
                     CI=n_in, CH=hidden, CO=out_channels, CIP=_pad(n_in), CHP=_pad(hidden), COP=_pad(out_channels),
                     W0_STRIDE=w0.shape[1], BT=BLOCK_T, GRID=grid, MODE=mode)
    return out


@torch.no_grad()
def _check_fused_call(model: FastFNO, x: torch.Tensor, mode: str):
    """Validate a fused call (precision, Triton, input shape) and return the model's configuration."""
    if mode not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {mode!r}")
    if not triton_available():
        raise RuntimeError("the fused FNO path needs Triton (shipped with CUDA builds of PyTorch)")
    cfg = model.config
    if x.ndim != 3 or x.shape[1] != cfg.in_channels:
        raise ValueError(f"expected input of shape (batch, {cfg.in_channels}, time), got {tuple(x.shape)}")
    return cfg


def fused_forward(model: FastFNO, x: torch.Tensor, mode: str = "fp32") -> torch.Tensor:
    """``model(x)`` with fused kernels: ``x`` ``(batch, in_channels, time)`` -> ``(batch, out_channels, time)``.

    The output is float32 in every mode. Raises ``RuntimeError`` when Triton is not installed.
    """
    cfg = _check_fused_call(model, x, mode)
    code = 0 if mode == "fp32" else 1  # IEEE or TF32 dots inside the kernels
    act_dtype = torch.bfloat16 if mode == "bf16" else torch.float32
    batch, _, n = x.shape
    c, cm = cfg.hidden_channels, cfg.channel_mlp_channels
    n_kept = kept_modes(n, cfg.n_modes)
    forward, inverse = model.dft_bases(n, x.device, torch.float32)
    forward, inverse = forward.to(act_dtype), inverse.to(act_dtype)
    p = {name: t.detach().float().contiguous() for name, t in model.named_parameters()}
    k = _kernels()
    launch = (k.triton.cdiv(n, BLOCK_T), batch)

    lifted = _mlp(x.contiguous(), p["lift_w0"], p["lift_b0"], p["lift_w1"], p["lift_b1"], cfg.in_channels,
                  cfg.positional_embedding, act_dtype, code)
    h, spare = lifted, torch.empty_like(lifted)
    with precision("tf32" if mode == "tf32" else "fp32", x.device):
        for layer in range(cfg.n_layers):
            spec = torch.matmul(h, forward).view(batch, c, 2, n_kept)
            mixed = model.mix_modes(spec, layer).reshape(batch * c, 2 * n_kept)
            s = torch.mm(mixed, inverse)
            k.layer_kernel[launch](
                s, h, spare, p["skip_weight"][layer], p["spectral_bias"][layer], p["mlp_w0"][layer],
                p["mlp_b0"][layer], p["mlp_w1"][layer], p["mlp_b1"][layer], p["gate"][layer], n,
                C=c, CM=cm, CP=_pad(c), CMP=_pad(cm), BT=BLOCK_T, ACT=layer < cfg.n_layers - 1, MODE=code)
            h, spare = spare, h
    return _mlp(h, p["proj_w0"], p["proj_b0"], p["proj_w1"], p["proj_b1"], c, False, torch.float32, code)


def fused_voltage(model: "NobleModel", x: torch.Tensor, mode: str = "fp32") -> torch.Tensor:
    """Voltage ``[B, L]`` (mV) of a :class:`~noble.model.NobleModel` from embedded inputs ``[B, C, L]``."""
    return fused_forward(model.fno, x, mode)[:, 0, :] * model.output_scale_mV


class _FusedLayer(torch.autograd.Function):
    """The pointwise part of one Fourier layer as a differentiable Triton op (forward and backward kernels)."""

    @staticmethod
    def forward(ctx, s, h, ws, bs, w0, b0, w1, b1, g, act: bool, code: int):  # noqa: D102
        k = _kernels()
        batch, c, n = h.shape
        cm = w0.shape[0]
        out = torch.empty_like(h)
        k.layer_kernel[(k.triton.cdiv(n, BLOCK_T), batch)](
            s, h, out, ws, bs, w0, b0, w1, b1, g, n, C=c, CM=cm, CP=_pad(c), CMP=_pad(cm), BT=BLOCK_T,
            ACT=act, MODE=code)
        ctx.save_for_backward(s, h, ws, bs, w0, b0, w1, b1, g)
        ctx.act, ctx.code = act, code
        return out

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        s, h, ws, bs, w0, b0, w1, b1, g = ctx.saved_tensors
        k = _kernels()
        batch, c, n = h.shape
        cm = w0.shape[0]
        cp, cmp = _pad(c), _pad(cm)
        n_tiles = k.triton.cdiv(n, BLOCK_T)
        width = cp * cp + 3 * cp + 2 * cmp * cp + cmp
        parts = torch.empty(batch * n_tiles, width, device=h.device, dtype=torch.float32)
        ds, dh = torch.empty_like(s), torch.empty_like(h)
        k.layer_backward_kernel[(n_tiles, batch)](
            s, h, grad_out.contiguous(), ds, dh, parts, ws, bs, w0, b0, w1, b1, g, n, C=c, CM=cm, CP=cp, CMP=cmp,
            BT=BLOCK_T, ACT=ctx.act, MODE=ctx.code)
        total = parts.sum(dim=0)
        sizes = [cp * cp, cp, cmp * cp, cmp, cp * cmp, cp, cp]
        d_ws, d_bs, d_w0, d_b0, d_w1, d_b1, d_g = torch.split(total, sizes)
        return (ds, dh, d_ws.view(cp, cp)[:c, :c], d_bs[:c], d_w0.view(cmp, cp)[:cm, :c], d_b0[:cm],
                d_w1.view(cp, cmp)[:c, :cm], d_b1[:c], d_g[:c], None, None)


def fused_train_forward(model: FastFNO, x: torch.Tensor, mode: str = "fp32") -> torch.Tensor:
    """Differentiable ``model(x)`` with each layer's pointwise work in Triton kernels (forward and backward).

    Lifting, projection and the DFT GEMMs stay in PyTorch (autograd); activations are float32 in every
    mode (``bf16`` applies to the GEMMs through autocast). Raises ``RuntimeError`` without Triton.
    """
    cfg = _check_fused_call(model, x, mode)
    code = 0 if mode == "fp32" else 1
    batch, _, n = x.shape
    c = cfg.hidden_channels
    n_kept = kept_modes(n, cfg.n_modes)
    forward, inverse = model.dft_bases(n, x.device, torch.float32)
    with precision(mode, x.device):
        h = model._lift(x).float().contiguous()
        for layer in range(cfg.n_layers):
            spec = torch.matmul(h, forward).view(batch, c, 2, n_kept)
            mixed = model.mix_modes(spec, layer).reshape(batch * c, 2 * n_kept)
            s = torch.mm(mixed, inverse.to(mixed.dtype)).float().view(batch, c, n)
            h = _FusedLayer.apply(s, h, model.skip_weight[layer], model.spectral_bias[layer], model.mlp_w0[layer],
                                  model.mlp_b0[layer], model.mlp_w1[layer], model.mlp_b1[layer], model.gate[layer],
                                  layer < cfg.n_layers - 1, code)
        h = torch.nn.functional.gelu(torch.nn.functional.conv1d(h, model.proj_w0.unsqueeze(-1), model.proj_b0))
        return torch.nn.functional.conv1d(h, model.proj_w1.unsqueeze(-1), model.proj_b1)
