"""The paper's step-current protocol and its output grid.

Units: current nA, voltage mV, time ms. A trace is 515 ms long; a square step of amplitude ``I`` starts at 15 ms
and lasts 400 ms; the solver step is 0.02 ms (25,750 raw samples at t = 0, 0.02, ..., 514.98 ms). Stored traces
are low-pass filtered and decimated by 3 to 8,583 samples at 0.06 ms (t = 0, 0.06, ..., 514.92 ms).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy.ndimage import convolve1d
from scipy.signal import firwin

from noble.embedding import StimulusTemplate
from noble.errors import NobleError

#: The experimentally validated amplitude range of the HoF models (nA).
AMPLITUDE_RANGE: tuple[float, float] = (-0.11, 0.28)


class ProtocolError(NobleError):
    """A stimulus or protocol value that cannot be simulated (out of range, not finite...)."""


@dataclass(frozen=True)
class StepProtocol:
    """A square current step (all times in ms).

    ``settle`` is a stimulus-free pre-run (ms), simulated from ``v_init`` with step ``settle_dt`` before t = 0
    and discarded, so that a trace starts from the model's own resting state rather than from ``v_init``
    (500 ms leaves the PVALB models within 0.01 mV of their published ``voltage_base``; see
    docs/simulation.md). ``settle=0`` starts the trace at ``v_init``.
    """

    t_stop: float = 515.0
    stim_start: float = 15.0
    stim_duration: float = 400.0
    dt: float = 0.02
    decimation: int = 3
    n_samples: int = 8583
    settle: float = 500.0
    settle_dt: float = 0.5

    def __post_init__(self) -> None:
        for name in ("t_stop", "stim_duration", "dt", "settle_dt"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ProtocolError(f"protocol {name} must be a positive finite number of ms, not {value!r}")
        if not (math.isfinite(self.stim_start) and 0 <= self.stim_start < self.t_stop):
            raise ProtocolError(f"protocol stim_start {self.stim_start!r} ms must lie in [0, t_stop)")
        if not (math.isfinite(self.settle) and self.settle >= 0):
            raise ProtocolError(f"protocol settle must be >= 0 ms, not {self.settle!r}")
        if self.decimation < 1:
            raise ProtocolError(f"protocol decimation must be >= 1, not {self.decimation!r}")
        if self.n_samples < 1 or self.n_samples > -(-self.n_raw // self.decimation):
            raise ProtocolError(
                f"protocol n_samples {self.n_samples} exceeds the {-(-self.n_raw // self.decimation)} samples"
                f" that decimating {self.n_raw} raw samples by {self.decimation} gives"
            )

    @property
    def stim_end(self) -> float:
        """End of the step (ms)."""
        return self.stim_start + self.stim_duration

    @property
    def n_raw(self) -> int:
        """Number of raw solver samples (t = 0 .. t_stop - dt)."""
        return int(round(self.t_stop / self.dt))

    @property
    def dt_out(self) -> float:
        """Sample interval of the stored (decimated) traces (ms)."""
        return self.dt * self.decimation

    def raw_time(self) -> np.ndarray:
        """Raw sample times (ms), shape ``[n_raw]``."""
        return np.arange(self.n_raw) * self.dt

    def time(self) -> np.ndarray:
        """Stored sample times (ms), shape ``[n_samples]``."""
        return np.arange(self.n_samples) * self.dt_out

    def stimulus(self, amplitude: float, decimated: bool = True) -> np.ndarray:
        """The injected current (nA) on the stored (or raw) time grid."""
        t = self.time() if decimated else self.raw_time()
        return np.where((t >= self.stim_start) & (t < self.stim_end), float(amplitude), 0.0)

    def as_dict(self) -> dict[str, float | int]:
        """Plain values for file attributes and data cards."""
        return asdict(self)


#: The paper's protocol: 515 ms, step 15-415 ms, dt 0.02 ms, decimated by 3 to 8,583 samples, from rest.
PAPER_PROTOCOL = StepProtocol()
#: The paper's step window and trace end (ms), for defaults of functions that take them as numbers.
PAPER_STEP_START_MS = PAPER_PROTOCOL.stim_start
PAPER_STEP_END_MS = PAPER_PROTOCOL.stim_start + PAPER_PROTOCOL.stim_duration
PAPER_T_STOP_MS = PAPER_PROTOCOL.t_stop


def template_of(protocol: StepProtocol) -> StimulusTemplate:
    """The model's view of a protocol: its output grid (``n_samples`` of ``dt_out`` ms) and step window (ms)."""
    return StimulusTemplate(n_samples=protocol.n_samples, dt_ms=protocol.dt_out, delay_ms=protocol.stim_start,
                            duration_ms=protocol.stim_duration)


def grid_protocol(template: StimulusTemplate) -> StepProtocol:
    """A protocol whose output grid is ``template``'s, undecimated and without settling (synthetic traces)."""
    return StepProtocol(t_stop=template.n_samples * template.dt_ms, stim_start=template.delay_ms,
                        stim_duration=template.duration_ms, dt=template.dt_ms, decimation=1,
                        n_samples=template.n_samples, settle=0.0)


#: The model-side template of the paper's protocol (8,583 samples of 0.06 ms, step 15-415 ms).
PAPER_TEMPLATE = template_of(PAPER_PROTOCOL)


def check_amplitudes(amplitudes, bounds: tuple[float, float] | None = AMPLITUDE_RANGE) -> np.ndarray:
    """Validate step amplitudes (nA): finite and, when ``bounds`` is given, inside it; returns float64 array."""
    arr = np.atleast_1d(np.asarray(amplitudes, dtype=float))
    if arr.ndim != 1 or arr.size == 0:
        raise ProtocolError("amplitudes must be a non-empty list of numbers (nA)")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ProtocolError(f"amplitude {float(arr[bad][0])} nA is not a finite number")
    if bounds is not None:
        lo, hi = bounds
        out = (arr < lo - 1e-12) | (arr > hi + 1e-12)
        if out.any():
            raise ProtocolError(
                f"amplitude {arr[out][0]:g} nA is outside the validated range [{lo:g}, {hi:g}] nA"
            )
    return arr


#: Taps of the anti-aliasing FIR filter (as ``scipy.signal.decimate(..., ftype="fir")`` uses for a factor 3).
FIR_TAPS_PER_FACTOR = 20


def lowpass_kernel(factor: int) -> np.ndarray:
    """Linear-phase FIR low-pass (Hamming window, cutoff at the decimated Nyquist), unit gain at DC."""
    return firwin(FIR_TAPS_PER_FACTOR * factor + 1, 1.0 / factor, window="hamming")


def decimate_traces(raw: np.ndarray, protocol: StepProtocol = PAPER_PROTOCOL) -> np.ndarray:
    """Low-pass filter and decimate raw traces ``[..., n_raw]`` (mV) to ``[..., n_samples]``.

    The filter is a centred (zero-phase) FIR of :func:`lowpass_kernel` applied with the edge values held
    constant beyond the trace, so a resting trace keeps its exact level (an IIR Chebyshev filter, scipy's
    default, scales DC by its pass-band ripple: about 0.8 mV at -70 mV). Then every ``decimation``-th sample
    from t = 0 is kept and the first ``n_samples`` are returned.
    """
    raw = np.asarray(raw, dtype=float)
    if raw.shape[-1] != protocol.n_raw:
        raise ProtocolError(f"raw traces have {raw.shape[-1]} samples, the protocol has {protocol.n_raw}")
    return np.ascontiguousarray(coarsen_traces(raw, protocol.decimation)[..., : protocol.n_samples])


def coarser_protocol(protocol: StepProtocol, factor: int) -> StepProtocol:
    """``protocol`` with its output grid ``factor`` times coarser (decimation x factor, every factor-th sample)."""
    if int(factor) != factor or factor < 1:
        raise ProtocolError(f"a coarsening factor must be a positive integer, not {factor!r}")
    return replace(protocol, decimation=protocol.decimation * int(factor),
                   n_samples=-(-protocol.n_samples // int(factor)))


def coarsen_traces(voltage_mV: np.ndarray, factor: int) -> np.ndarray:
    """Traces ``[..., T]`` (mV) on a ``factor`` times coarser grid: the zero-phase FIR low-pass of
    :func:`lowpass_kernel` (edges held), then every ``factor``-th sample from t = 0 (``ceil(T / factor)``); the
    dtype is kept. :func:`decimate_traces` is this step applied to raw solver output."""
    voltage_mV = np.asarray(voltage_mV)
    if factor == 1:
        return voltage_mV.copy()
    filtered = convolve1d(voltage_mV.astype(np.float64), lowpass_kernel(factor), axis=-1, mode="nearest")
    return np.ascontiguousarray(filtered[..., ::factor].astype(voltage_mV.dtype))
