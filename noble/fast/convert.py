"""Check a ``neuralop.models.FNO`` against what :class:`~noble.fast.model.FastFNO` implements and map weights.

The mapping is between neuralop 2.0.0's ``FNO.state_dict()`` keys (per-layer ``Conv1d`` weights of shape
``(out, in, 1)``, complex spectral weights ``(in, out, modes)``) and FastFNO's stacked real parameters.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from noble.fast.config import FastFNOConfig

__all__ = ["config_from_neuralop", "state_from_neuralop", "state_to_neuralop", "find_neuralop_fno"]


def find_neuralop_fno(module: nn.Module) -> nn.Module:
    """The ``neuralop.models.FNO`` inside ``module`` (``module`` itself when it is one)."""
    from neuralop.models import FNO  # lazy: neuralop loads slowly and imports wandb; only the reference FNO and checkpoint conversion need it

    if isinstance(module, FNO):
        return module
    found = [m for m in module.modules() if isinstance(m, FNO)]
    if len(found) != 1:
        raise ValueError(f"expected exactly one neuralop FNO inside {type(module).__name__}, found {len(found)}")
    return found[0]


def _require(condition: bool, setting: str, value: object) -> None:
    if not condition:
        raise ValueError(f"FastFNO does not implement the neuralop FNO setting {setting}={value!r}")


def config_from_neuralop(fno: nn.Module) -> FastFNOConfig:
    """Sizes of ``fno``; raises ``ValueError`` for any option whose forward pass FastFNO does not reproduce."""
    from neuralop.layers.embeddings import GridEmbeddingND  # lazy: neuralop loads slowly and imports wandb; only the reference FNO and checkpoint conversion need it
    from neuralop.layers.skip_connections import Flattened1dConv, SoftGating  # lazy: neuralop loads slowly and imports wandb; only the reference FNO and checkpoint conversion need it
    from neuralop.layers.spectral_convolution import SpectralConv  # lazy: neuralop loads slowly and imports wandb; only the reference FNO and checkpoint conversion need it

    blocks = fno.fno_blocks
    _require(fno.n_dim == 1, "n_dim", fno.n_dim)
    _require(not fno.complex_data, "complex_data", fno.complex_data)
    _require(fno.domain_padding is None, "domain_padding", fno.domain_padding)
    _require(blocks.resolution_scaling_factor is None, "resolution_scaling_factor", blocks.resolution_scaling_factor)
    _require(blocks.norm is None, "norm", blocks.norm)
    _require(not blocks.preactivation, "preactivation", blocks.preactivation)
    _require(blocks.stabilizer is None, "stabilizer", blocks.stabilizer)
    _require(blocks.fno_block_precision == "full", "fno_block_precision", blocks.fno_block_precision)
    _require(blocks.non_linearity is F.gelu and fno.non_linearity is F.gelu, "non_linearity", blocks.non_linearity)
    _require(blocks.use_channel_mlp, "use_channel_mlp", blocks.use_channel_mlp)
    _require(not blocks.channel_mlp_dropout, "channel_mlp_dropout", blocks.channel_mlp_dropout)
    _require(blocks.fno_skips is not None and all(isinstance(s, Flattened1dConv) and s.conv.bias is None
                                                   for s in blocks.fno_skips), "fno_skip", blocks.fno_skip)
    _require(blocks.channel_mlp_skips is not None and all(isinstance(s, SoftGating) and s.bias is None
                                                          for s in blocks.channel_mlp_skips),
             "channel_mlp_skip", blocks.channel_mlp_skip)
    for conv in blocks.convs:
        _require(type(conv) is SpectralConv, "conv_module", type(conv).__name__)
        _require(conv.factorization in (None, "Dense", "dense"), "factorization", conv.factorization)
        _require(not conv.separable, "separable", conv.separable)
        _require(conv.bias is not None, "spectral bias", None)
        _require(list(conv.max_n_modes) == list(conv.n_modes), "max_n_modes", conv.max_n_modes)
        _require(conv.fft_norm == "forward", "fft_norm", conv.fft_norm)
    for mlp, name in ((fno.lifting, "lifting"), (fno.projection, "projection")):
        _require(getattr(mlp, "n_layers", None) == 2 and mlp.dropout is None, name, mlp)
    embedding = fno.positional_embedding
    if embedding is not None:
        _require(isinstance(embedding, GridEmbeddingND) and [list(b) for b in embedding.grid_boundaries]
                 == [[0.0, 1.0]], "positional_embedding", embedding)
    n_modes = fno.n_modes[0] if isinstance(fno.n_modes, (tuple, list)) else fno.n_modes
    return FastFNOConfig(
        in_channels=fno.in_channels,
        out_channels=fno.out_channels,
        hidden_channels=fno.hidden_channels,
        n_layers=fno.n_layers,
        n_modes=int(n_modes),
        lifting_channels=fno.lifting.hidden_channels,
        projection_channels=fno.projection.hidden_channels,
        channel_mlp_channels=blocks.channel_mlp[0].hidden_channels,
        positional_embedding=embedding is not None,
    )


def _weight(state: dict, key: str) -> torch.Tensor:
    """A Conv1d kernel-size-1 weight ``(out, in, 1)`` as ``(out, in)``."""
    return state[key].squeeze(-1)


def state_from_neuralop(state: dict[str, torch.Tensor], config: FastFNOConfig) -> dict[str, torch.Tensor]:
    """FastFNO parameters from a neuralop FNO state dict."""
    layers = range(config.n_layers)
    blk = "fno_blocks"

    def stack(fmt: str, fn=lambda t: t) -> torch.Tensor:
        return torch.stack([fn(state[fmt.format(i)]) for i in layers])

    spectral = stack(blk + ".convs.{}.weight.tensor")
    if not spectral.is_complex():
        raise ValueError("neuralop spectral weights should be complex; got " + str(spectral.dtype))
    return {
        "lift_w0": _weight(state, "lifting.fcs.0.weight"),
        "lift_b0": state["lifting.fcs.0.bias"],
        "lift_w1": _weight(state, "lifting.fcs.1.weight"),
        "lift_b1": state["lifting.fcs.1.bias"],
        "spectral_weight": torch.view_as_real(spectral.resolve_conj()).clone(),
        "spectral_bias": stack(blk + ".convs.{}.bias", lambda t: t.reshape(-1)),
        "skip_weight": stack(blk + ".fno_skips.{}.conv.weight", lambda t: t.squeeze(-1)),
        "mlp_w0": stack(blk + ".channel_mlp.{}.fcs.0.weight", lambda t: t.squeeze(-1)),
        "mlp_b0": stack(blk + ".channel_mlp.{}.fcs.0.bias"),
        "mlp_w1": stack(blk + ".channel_mlp.{}.fcs.1.weight", lambda t: t.squeeze(-1)),
        "mlp_b1": stack(blk + ".channel_mlp.{}.fcs.1.bias"),
        "gate": stack(blk + ".channel_mlp_skips.{}.weight", lambda t: t.reshape(-1)),
        "proj_w0": _weight(state, "projection.fcs.0.weight"),
        "proj_b0": state["projection.fcs.0.bias"],
        "proj_w1": _weight(state, "projection.fcs.1.weight"),
        "proj_b1": state["projection.fcs.1.bias"],
    }


def state_to_neuralop(state: dict[str, torch.Tensor], config: FastFNOConfig) -> dict[str, torch.Tensor]:
    """A neuralop FNO state dict from FastFNO parameters (inverse of :func:`state_from_neuralop`)."""
    out = {
        "lifting.fcs.0.weight": state["lift_w0"].unsqueeze(-1),
        "lifting.fcs.0.bias": state["lift_b0"],
        "lifting.fcs.1.weight": state["lift_w1"].unsqueeze(-1),
        "lifting.fcs.1.bias": state["lift_b1"],
        "projection.fcs.0.weight": state["proj_w0"].unsqueeze(-1),
        "projection.fcs.0.bias": state["proj_b0"],
        "projection.fcs.1.weight": state["proj_w1"].unsqueeze(-1),
        "projection.fcs.1.bias": state["proj_b1"],
    }
    for i in range(config.n_layers):
        blk = "fno_blocks"
        out[f"{blk}.convs.{i}.weight.tensor"] = torch.view_as_complex(state["spectral_weight"][i].contiguous())
        out[f"{blk}.convs.{i}.bias"] = state["spectral_bias"][i].unsqueeze(-1)
        out[f"{blk}.fno_skips.{i}.conv.weight"] = state["skip_weight"][i].unsqueeze(-1)
        out[f"{blk}.channel_mlp.{i}.fcs.0.weight"] = state["mlp_w0"][i].unsqueeze(-1)
        out[f"{blk}.channel_mlp.{i}.fcs.0.bias"] = state["mlp_b0"][i]
        out[f"{blk}.channel_mlp.{i}.fcs.1.weight"] = state["mlp_w1"][i].unsqueeze(-1)
        out[f"{blk}.channel_mlp.{i}.fcs.1.bias"] = state["mlp_b1"][i]
        out[f"{blk}.channel_mlp_skips.{i}.weight"] = state["gate"][i].view(1, -1, 1)
    return {k: v.detach().clone() for k, v in out.items()}
