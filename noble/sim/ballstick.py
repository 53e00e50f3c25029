"""A ball-and-stick cell with only NEURON's built-in ``hh`` and ``pas``: the engine-agreement benchmark.

Both engines build the same cell from :data:`BALL_AND_STICK` (units: um, uF/cm^2, ohm*cm, S/cm^2, mV, degC):
a cylindrical soma (``hh``, default Hodgkin-Huxley parameters) with one cylindrical dendrite (``pas``)
attached at the soma's distal end; the step is injected and the voltage recorded at the middle of the soma.
Compartments follow the paper's rule ``nseg = 1 + 2*int(L/20)`` per section (soma 1, dendrite 21).

Engines provide it through :func:`simulate_ballstick`: ``"arbor"`` here, ``"neuron"`` through
``noble.sim.neuron_engine.simulate_ballstick(spec, amplitudes, protocol) -> [len(amplitudes), n_raw]`` (mV).
"""
from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from noble.sim.arbor_engine import run_cells
from noble.sim.engine import ENGINES, EngineUnavailableError, UnknownEngineError
from noble.sim.protocol import StepProtocol


@dataclass(frozen=True)
class BallStick:
    """Geometry and membrane of the ball-and-stick cell."""

    soma_length: float = 20.0  # um
    soma_diameter: float = 20.0  # um
    dend_length: float = 200.0  # um
    dend_diameter: float = 1.0  # um
    cm: float = 1.0  # uF/cm^2
    ra: float = 100.0  # ohm*cm
    gnabar_hh: float = 0.12  # S/cm^2
    gkbar_hh: float = 0.036  # S/cm^2
    gl_hh: float = 0.0003  # S/cm^2
    el_hh: float = -54.3  # mV
    ena: float = 50.0  # mV
    ek: float = -77.0  # mV
    g_pas: float = 0.001  # S/cm^2
    e_pas: float = -65.0  # mV
    celsius: float = 6.3  # degC
    v_init: float = -65.0  # mV

    @property
    def soma_nseg(self) -> int:
        return 1 + 2 * int(self.soma_length / 20.0)

    @property
    def dend_nseg(self) -> int:
        return 1 + 2 * int(self.dend_length / 20.0)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


#: The cell both engines build.
BALL_AND_STICK = BallStick()


def arbor_ballstick(spec: BallStick, amplitudes: Sequence[float], protocol: StepProtocol) -> np.ndarray:
    """Somatic voltage (mV) of the ball-and-stick in Arbor, ``[len(amplitudes), protocol.n_raw]``."""
    import arbor  # lazy: Arbor loads only when this engine runs


    U = arbor.units
    tree = arbor.segment_tree()
    rs, rd = spec.soma_diameter / 2, spec.dend_diameter / 2
    soma = tree.append(arbor.mnpos, arbor.mpoint(0, 0, 0, rs), arbor.mpoint(spec.soma_length, 0, 0, rs), tag=1)
    tree.append(
        soma, arbor.mpoint(spec.soma_length, 0, 0, rd), arbor.mpoint(spec.soma_length + spec.dend_length, 0, 0, rd), tag=3
    )
    morph = arbor.morphology(tree)
    labels = arbor.label_dict({"soma": "(tag 1)", "dend": "(tag 3)"})
    total = spec.soma_length + spec.dend_length
    where = f"(location 0 {spec.soma_length / 2 / total:.12g})"
    bounds = [k / spec.soma_nseg * spec.soma_length for k in range(spec.soma_nseg + 1)]
    bounds += [spec.soma_length + k / spec.dend_nseg * spec.dend_length for k in range(1, spec.dend_nseg + 1)]
    policy = arbor.cv_policy_explicit("(join " + " ".join(f"(location 0 {b / total:.12g})" for b in bounds) + ")")

    def decor_with(amplitude: float):
        d = arbor.decor()
        d.set_property(
            Vm=spec.v_init * U.mV, cm=spec.cm * U.uF / U.cm2, rL=spec.ra * U.Ohm * U.cm,
            tempK=(spec.celsius + 273.15) * U.Kelvin,
        )
        d.paint('"soma"', ion="na", rev_pot=spec.ena * U.mV)
        d.paint('"soma"', ion="k", rev_pot=spec.ek * U.mV)
        d.paint(
            '"soma"',
            arbor.density("hh", {"gnabar": spec.gnabar_hh, "gkbar": spec.gkbar_hh, "gl": spec.gl_hh, "el": spec.el_hh}),
        )
        d.paint('"dend"', arbor.density(f"pas/e={spec.e_pas!r}", {"g": spec.g_pas}))
        if amplitude != 0.0:
            start = protocol.settle + protocol.stim_start
            d.place(where, arbor.i_clamp(start * U.ms, protocol.stim_duration * U.ms, amplitude * U.nA))
        return d

    cells = [arbor.cable_cell(morph, decor_with(float(a)), labels, policy) for a in amplitudes]
    return run_cells(cells, where, protocol, arbor.default_catalogue())


def simulate_ballstick(
    engine: str, amplitudes: Sequence[float], protocol: StepProtocol, spec: BallStick = BALL_AND_STICK
) -> np.ndarray:
    """The ball-and-stick's somatic voltage (mV) in an engine, ``[len(amplitudes), protocol.n_raw]``."""
    if engine == "arbor":
        return arbor_ballstick(spec, amplitudes, protocol)
    if engine not in ENGINES:
        raise UnknownEngineError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    module_name = ENGINES[engine][0]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EngineUnavailableError(f"engine {engine!r} cannot be loaded: {exc}") from exc
    func = getattr(module, "simulate_ballstick", None)
    if func is None:
        raise EngineUnavailableError(f"{module_name} provides no simulate_ballstick(spec, amplitudes, protocol)")
    return np.asarray(func(spec, amplitudes, protocol), dtype=float)
