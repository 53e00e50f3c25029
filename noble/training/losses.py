"""Losses on voltage traces (mV): relative L^p errors per trace, the timing-free quantile error, the relative
error of the slow (low-passed) voltage and the differentiable sag amplitude."""
from __future__ import annotations

import math

import torch


def relative_lp(pred: torch.Tensor, target: torch.Tensor, p: int = 4, eps: float = 1e-8) -> torch.Tensor:
    """Per-trace relative error ``||pred - target||_p / ||target||_p`` over the last axis: shape ``[N]``.

    This equals neuraloperator's ``LpLoss(d=1, p=p).rel`` per sample (its ``reduction='sum'`` default sums
    these over the batch; noble averages them explicitly).
    """
    diff = (pred - target).abs().pow(p).sum(dim=-1).pow(1.0 / p)
    norm = target.abs().pow(p).sum(dim=-1).pow(1.0 / p)
    return diff / (norm + eps)


def relative_quantile_lp(pred: torch.Tensor, target: torch.Tensor, p: int = 4, eps: float = 1e-8) -> torch.Tensor:
    """Per-trace relative L^p error between the sorted voltages of ``pred`` and ``target`` (last axis): shape ``[N]``.

    The sorted samples of a trace are its empirical quantile function, so this is the relative p-Wasserstein
    distance between the two distributions of voltage values. It ignores *when* a value occurs: a spike that
    reaches its true peak a few samples late costs nothing here, while a damped spike (a peak of -30 mV where the
    solver's reaches +20 mV) costs as much as in the pointwise error. It is the term that counters the double
    penalty of pointwise L^p errors, whose optimum under timing uncertainty is a smeared, sub-threshold spike.
    """
    return relative_lp(torch.sort(pred, dim=-1).values, torch.sort(target, dim=-1).values, p, eps)


def gaussian_smooth(voltage: torch.Tensor, sigma_samples: float) -> torch.Tensor:
    """Traces ``[N, T]`` convolved along the last axis with a unit-area Gaussian of ``sigma_samples`` samples
    (truncated at 4 sigma), the ends extended by their first and last values; same shape."""
    if not sigma_samples > 0 or not math.isfinite(sigma_samples):
        raise ValueError(f"the smoothing width must be a positive number of samples, not {sigma_samples!r}")
    half = max(1, int(math.ceil(4.0 * sigma_samples)))
    offsets = torch.arange(-half, half + 1, dtype=voltage.dtype, device=voltage.device)
    kernel = torch.exp(-0.5 * (offsets / sigma_samples) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    padded = torch.nn.functional.pad(voltage.unsqueeze(1), (half, half), mode="replicate")
    return torch.nn.functional.conv1d(padded, kernel).squeeze(1)


def relative_smooth_l2(pred: torch.Tensor, target: torch.Tensor, sigma_samples: float, eps: float = 1e-8) -> torch.Tensor:
    """Per-trace relative L2 error of the slow voltage: both traces smoothed by :func:`gaussian_smooth`; shape ``[N]``.

    What the smoothing keeps is what the pointwise L^4 loss hardly sees: resting and steady-state levels, the
    after-stimulus voltage, the sag and, for a spike train, its rate (a smoothed train is a depolarisation that
    grows with the number of spikes). A spike displaced by much less than ``sigma_samples`` costs almost nothing;
    a missing one costs its area. In an L^4 error a 2 mV offset of the whole trace weighs about 1e-5 of one
    misplaced spike; here it weighs about as much as an offset does in the resting voltage.
    """
    return relative_lp(gaussian_smooth(pred, sigma_samples), gaussian_smooth(target, sigma_samples), 2, eps)


def sag_amplitude(
    voltage_mV: torch.Tensor, window: torch.Tensor, temperature: float = 50.0, steady_fraction: float = 0.1
) -> torch.Tensor:
    """Differentiable sag amplitude ``[N]`` (mV) of traces ``[N, T]`` (mV) for a boolean stimulus ``window`` [T].

    Steady state: the mean voltage over the last ``steady_fraction`` of the stimulus window. Minimum: the
    softmin ``sum(V * softmax(-temperature * V))`` over the window (V in mV). Sag = steady state - minimum.
    """
    idx = torch.nonzero(window, as_tuple=False).flatten()
    if idx.numel() == 0:
        raise ValueError("the stimulus window is empty")
    v = voltage_mV[:, idx]
    n_tail = max(1, int(round(steady_fraction * idx.numel())))
    steady = v[:, -n_tail:].mean(dim=1)
    weights = torch.softmax(-temperature * v, dim=1)
    soft_min = (weights * v).sum(dim=1)
    return steady - soft_min


def relative_l2_squared(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Batch-level squared relative L2 error ``sum((pred - target)^2) / sum(target^2)`` (a scalar)."""
    return ((pred - target) ** 2).sum() / ((target**2).sum() + eps)
