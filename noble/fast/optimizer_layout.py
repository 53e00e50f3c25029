"""Adam (or any one-group optimizer) state between the two FNO parameter layouts.

:class:`noble.fast.FastFNO` stacks its parameters over layers; ``neuralop.models.FNO`` keeps one tensor per layer.
Resume states written before NOBLE models trained their FastFNO directly hold the optimizer state in neuralop's
layout; :func:`optimizer_state_from_neuralop` turns it into the FastFNO layout and
:func:`optimizer_state_to_neuralop` back (pure re-layouts, bit for bit).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
from torch import nn

from noble.fast.convert import state_from_neuralop, state_to_neuralop
from noble.fast.model import FastFNO

__all__ = ["optimizer_state_from_neuralop", "optimizer_state_to_neuralop"]


def _fno_names(module: nn.Module, params: list[torch.Tensor]) -> list[str]:
    """Names, relative to ``module``, of ``params`` (which must all belong to it)."""
    by_id = {id(p): name for name, p in module.named_parameters()}
    missing = [i for i, p in enumerate(params) if id(p) not in by_id]
    if missing:
        raise ValueError(f"optimizer parameters {missing} are not weights of the FNO")
    return [by_id[id(p)] for p in params]


def _convert_state(
    state: Mapping[str, Any], src_names: list[str], dst_names: list[str],
    convert: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]], shapes: Mapping[str, torch.Size],
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


def optimizer_state_to_neuralop(fno: FastFNO, reference: nn.Module, state: Mapping[str, Any]) -> dict[str, Any]:
    """The ``state_dict`` of an optimizer over ``fno.parameters()`` as it would be over ``reference.parameters()``
    (``reference``: a ``neuralop.models.FNO`` of the same sizes).

    Per-parameter tensors (Adam's moments) are re-laid out exactly like the weights; per-parameter scalars (the
    step count) must agree across parameters. Only one parameter group is supported.
    """
    src = _fno_names(fno, list(fno.parameters()))
    dst = _fno_names(reference, list(reference.parameters()))
    shapes = {n: p.shape for n, p in fno.named_parameters()}
    return _convert_state(state, src, dst, lambda d: state_to_neuralop(d, fno.config), shapes)


def optimizer_state_from_neuralop(fno: FastFNO, reference: nn.Module, state: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`optimizer_state_to_neuralop`: a state over ``reference.parameters()`` for ``fno``'s."""
    src = _fno_names(reference, list(reference.parameters()))
    dst = _fno_names(fno, list(fno.parameters()))
    shapes = {n: p.shape for n, p in reference.named_parameters()}

    def convert(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in state_from_neuralop(tensors, fno.config).items()}

    return _convert_state(state, src, dst, convert, shapes)
