"""Padding of embedded inputs to the FFT-friendly grid a model may run on (see ``FNOConfig.padded_length``)."""
from __future__ import annotations

import torch


def pad_to(x: torch.Tensor, length: int | None) -> torch.Tensor:
    """``x`` ``[B, C, L]`` padded at the end to ``length`` samples by holding the last values (``None``: as is)."""
    if length is None:
        return x
    extra = int(length) - x.shape[-1]
    if extra < 0:
        raise ValueError(f"traces of {x.shape[-1]} samples are longer than the model's padded length {length}")
    if extra == 0:
        return x
    return torch.cat([x, x[..., -1:].expand(*x.shape[:-1], extra)], dim=-1)


__all__ = ["pad_to"]
