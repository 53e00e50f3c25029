"""Sizes of a 1D FNO as the fast path lays it out (names follow ``neuralop.models.FNO``)."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FastFNOConfig:
    """Sizes of a 1D FNO (names follow ``neuralop.models.FNO``)."""

    in_channels: int
    out_channels: int
    hidden_channels: int
    n_layers: int
    n_modes: int
    lifting_channels: int
    projection_channels: int
    channel_mlp_channels: int
    positional_embedding: bool = True

    @classmethod
    def paper(cls) -> "FastFNOConfig":
        """The PVALB model of the paper: 12 layers, 24 channels, 256 modes, 23 inputs, projection ratio 4."""
        return cls(
            in_channels=23, out_channels=1, hidden_channels=24, n_layers=12, n_modes=256,
            lifting_channels=48, projection_channels=96, channel_mlp_channels=12,
        )

    @property
    def max_kept_modes(self) -> int:
        """Number of rfft modes stored in each spectral weight (``n_modes // 2 + 1``)."""
        return self.n_modes // 2 + 1

    def to_dict(self) -> dict:
        """Plain dict, suitable for JSON."""
        return asdict(self)


__all__ = ["FastFNOConfig"]
