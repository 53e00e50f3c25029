"""The fast path for a whole NOBLE model: the same embedding, the FNO replaced by :class:`FastFNO`.

``FastNoble(model)`` maps step amplitudes (nA) and raw neuron features to somatic voltage (mV) exactly like
``model`` (a :class:`noble.model.NobleModel`), and can be trained in its place: :meth:`FastNoble.copy_to`
writes the trained weights back into the neuralop model so checkpoints keep their format, and
:func:`optimizer_state_to_neuralop` / :func:`optimizer_state_from_neuralop` move an optimizer's state between the
two parameter layouts (pure re-layouts, bit for bit), so a resume state does not depend on the path trained with.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import torch
from torch import nn

from noble.fast.convert import find_neuralop_fno, state_from_neuralop, state_to_neuralop
from noble.fast.model import FastFNO
from noble.fast.padding import pad_to
from noble.fast.select import choose_spectral

if TYPE_CHECKING:  # pragma: no cover
    from noble.model import NobleModel


__all__ = ["FastNoble", "accelerate", "optimizer_state_from_neuralop", "optimizer_state_to_neuralop"]


class FastNoble(nn.Module):
    """Embedding + :class:`FastFNO`; ``forward(amplitude_nA [B], features [B, F]) -> voltage [B, L]`` in mV."""

    def __init__(self, model: "NobleModel", spectral: str = "auto") -> None:
        super().__init__()
        self.embedding = model.embedding
        self.padded_length = model.config.padded_length
        if spectral == "auto":  # a padded (FFT-friendly) grid runs as FFTs, the trace grid as truncated DFTs
            spectral = "fft" if self.padded_length is not None else "dft"
        elif spectral == "measured":  # the fastest exact transform of this grid on this device, timed once
            device = next(model.parameters()).device
            spectral = choose_spectral(int(self.padded_length or model.template.n_samples), int(model.config.n_modes),
                                       int(model.config.hidden_channels), 8 if device.type == "cpu" else 64, device)
        self.fno = FastFNO.from_neuralop(find_neuralop_fno(model.fno), spectral=spectral)
        self.output_scale_mV = float(model.config.output_scale_mV)

    def forward(self, amplitude_nA: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return self.voltage(self.embedding(amplitude_nA, features))

    def voltage(self, x: torch.Tensor) -> torch.Tensor:
        """Voltage ``[B, L]`` (mV) from embedded inputs ``[B, C, L]`` (the part a CUDA graph can capture:
        the embedding copies its scaler constants to the device, which stream capture forbids)."""
        n = x.shape[-1]
        return self.fno(pad_to(x, self.padded_length))[:, 0, :n] * self.output_scale_mV

    def copy_to(self, model: "NobleModel") -> None:
        """Write this model's FNO weights into ``model.fno`` (a neuralop FNO of the same sizes)."""
        target = find_neuralop_fno(model.fno)
        reference = next(target.parameters())
        state = {k: v.to(device=reference.device) for k, v in self.fno.neuralop_state_dict().items()}
        missing, unexpected = target.load_state_dict(state, strict=False)
        unexpected = [k for k in unexpected if not k.endswith("_metadata")]
        if missing or unexpected:
            raise ValueError(f"weights do not match the neuralop FNO: missing {missing}, unexpected {unexpected}")


def accelerate(model: "NobleModel", spectral: str = "auto") -> FastNoble:
    """The fast equivalent of a NOBLE model, on the model's device.

    ``spectral``: one of :data:`noble.fast.model.SPECTRAL_METHODS`, ``"auto"`` (a fixed rule: FFTs on a padded
    grid, truncated-DFT products on the trace grid; training uses it) or ``"measured"`` (the fastest of the
    three on this device, :func:`noble.fast.select.choose_spectral`; inference uses it).

    The FNO weights are copied (the embedding is shared): accelerate again after changing ``model``'s weights,
    and use :meth:`FastNoble.copy_to` to bring weights trained on the fast model back. The global random
    number generator is left as it was (the throw-away initialisation of the copy draws from a forked one).
    """
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[]):
        return FastNoble(model, spectral=spectral).to(device)


def _fno_names(module: nn.Module, params: list[torch.Tensor]) -> list[str]:
    """Names, relative to ``module``, of ``params`` (which must all belong to it)."""
    by_id = {id(p): name for name, p in module.named_parameters()}
    missing = [i for i, p in enumerate(params) if id(p) not in by_id]
    if missing:
        raise ValueError(f"optimizer parameters {missing} are not weights of the FNO")
    return [by_id[id(p)] for p in params]


def _convert_state(
    state: Mapping[str, Any], src_names: list[str], dst_names: list[str], convert, shapes: Mapping[str, torch.Size],
) -> dict[str, Any]:
    """Re-layout an optimizer ``state_dict`` (one parameter group, indices in ``src_names`` order)."""
    groups = state["param_groups"]
    if len(groups) != 1 or list(groups[0]["params"]) != list(range(len(src_names))):
        raise ValueError("only an optimizer with one parameter group over the whole FNO can be converted")
    per_param = {src_names[int(i)]: entry for i, entry in state["state"].items()}
    out_state: dict[int, dict[str, Any]] = {}
    if per_param:
        if set(per_param) != set(src_names):
            raise ValueError(f"optimizer state covers {len(per_param)} of {len(src_names)} parameters")
        keys = next(iter(per_param.values())).keys()
        layout = {k for k in keys
                  if all(torch.is_tensor(e[k]) and e[k].shape == shapes[n] for n, e in per_param.items())}
        converted = {k: convert({n: e[k] for n, e in per_param.items()}) for k in layout}
        shared = {}
        for k in set(keys) - layout:
            values = [e[k] for e in per_param.values()]
            first = values[0]
            same = all(torch.equal(torch.as_tensor(v), torch.as_tensor(first)) for v in values)
            if not same:
                raise ValueError(f"optimizer state {k!r} differs between parameters: cannot re-layout it")
            shared[k] = first
        for i, name in enumerate(dst_names):
            out_state[i] = {k: (converted[k][name] if k in layout else _copy(shared[k])) for k in keys}
    return {"state": out_state, "param_groups": [{**groups[0], "params": list(range(len(dst_names)))}]}


def _copy(value: Any) -> Any:
    return value.clone() if torch.is_tensor(value) else value


def optimizer_state_to_neuralop(fast: FastNoble, model: "NobleModel", state: Mapping[str, Any]) -> dict[str, Any]:
    """The ``state_dict`` of an optimizer over ``fast.parameters()`` as it would be over ``model.parameters()``.

    Per-parameter tensors (Adam's moments) are re-laid out exactly like the weights; per-parameter scalars (the
    step count) must agree across parameters. Only one parameter group is supported.
    """
    target = find_neuralop_fno(model.fno)
    src = _fno_names(fast.fno, list(fast.parameters()))
    dst = _fno_names(target, list(model.parameters()))
    shapes = {n: p.shape for n, p in fast.fno.named_parameters()}
    return _convert_state(state, src, dst, lambda d: state_to_neuralop(d, fast.fno.config), shapes)


def optimizer_state_from_neuralop(fast: FastNoble, model: "NobleModel", state: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`optimizer_state_to_neuralop`: a state over ``model.parameters()`` for ``fast``'s."""
    source = find_neuralop_fno(model.fno)
    src = _fno_names(source, list(model.parameters()))
    dst = _fno_names(fast.fno, list(fast.parameters()))
    shapes = {n: p.shape for n, p in source.named_parameters()}

    def convert(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in state_from_neuralop(tensors, fast.fno.config).items()}

    return _convert_state(state, src, dst, convert, shapes)
