"""The fast path for a whole NOBLE model: the same embedding, the FNO replaced by :class:`FastFNO`.

``FastNoble(model)`` maps step amplitudes (nA) and raw neuron features to somatic voltage (mV) exactly like
``model`` (a :class:`noble.model.NobleModel`), and can be trained in its place: :meth:`FastNoble.copy_to`
writes the trained weights back into the neuralop model so checkpoints keep their format.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from noble.fast.convert import find_neuralop_fno
from noble.fast.model import FastFNO

if TYPE_CHECKING:  # pragma: no cover
    from noble.model import NobleModel

__all__ = ["FastNoble", "accelerate"]


class FastNoble(nn.Module):
    """Embedding + :class:`FastFNO`; ``forward(amplitude_nA [B], features [B, F]) -> voltage [B, L]`` in mV."""

    def __init__(self, model: "NobleModel", spectral: str = "dft") -> None:
        super().__init__()
        self.embedding = model.embedding
        self.fno = FastFNO.from_neuralop(find_neuralop_fno(model.fno), spectral=spectral)
        self.output_scale_mV = float(model.config.output_scale_mV)

    def forward(self, amplitude_nA: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return self.voltage(self.embedding(amplitude_nA, features))

    def voltage(self, x: torch.Tensor) -> torch.Tensor:
        """Voltage ``[B, L]`` (mV) from embedded inputs ``[B, C, L]`` (the part a CUDA graph can capture:
        the embedding copies its scaler constants to the device, which stream capture forbids)."""
        return self.fno(x)[:, 0, :] * self.output_scale_mV

    def copy_to(self, model: "NobleModel") -> None:
        """Write this model's FNO weights into ``model.fno`` (a neuralop FNO of the same sizes)."""
        target = find_neuralop_fno(model.fno)
        reference = next(target.parameters())
        state = {k: v.to(device=reference.device) for k, v in self.fno.neuralop_state_dict().items()}
        missing, unexpected = target.load_state_dict(state, strict=False)
        unexpected = [k for k in unexpected if not k.endswith("_metadata")]
        if missing or unexpected:
            raise ValueError(f"weights do not match the neuralop FNO: missing {missing}, unexpected {unexpected}")


def accelerate(model: "NobleModel", spectral: str = "dft") -> FastNoble:
    """The fast equivalent of a NOBLE model, on the model's device.

    The FNO weights are copied (the embedding is shared): accelerate again after changing ``model``'s weights,
    and use :meth:`FastNoble.copy_to` to bring weights trained on the fast model back.
    """
    device = next(model.parameters()).device
    return FastNoble(model, spectral=spectral).to(device)
