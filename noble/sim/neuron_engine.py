"""The NEURON engine: a HoF model built as the paper's solver builds it, with the project's own NMODL mechanisms.

Units: amplitudes nA, voltages mV, times ms, lengths um. What is built:

* morphology: the SWC read by NEURON's Import3d into soma/dend/apic/axon sections; the axon is deleted when the
  model asks for it (``delete_axon``, the human cells);
* segmentation: the paper's ``nseg = 1 + 2*int(L/20)`` per section;
* per section list (soma, dend, apic, axon): ``Ra``, ``cm``, ``pas`` (``g_pas``, ``e_pas``), each genome
  mechanism with its parameters (``gbar_NaV``...), and ``ena``/``ek``; calcium's reversal potential follows
  ``cai`` (Nernst), which ``CaDynamics`` writes;
* ``celsius`` and ``v_init`` from the model file; fixed step ``protocol.dt`` (CVode off); an ``IClamp`` at
  soma(0.5) from ``stim_start`` for ``stim_duration``; the soma(0.5) voltage recorded at every step.

Like the Arbor engine, a run starts at ``v_init``; with ``protocol.settle > 0`` the cell first runs that long
without stimulus and t = 0 is the end of it.

Mechanisms: ``mechanisms="noble"`` (default) uses noble/mechanisms/nmodl; ``"package"`` compiles the cell
package's ``mechanisms/*.mod``. NEURON holds one compiled set per process, so asking for the other set in the
same process raises :class:`noble.mechanisms.MechanismConflictError`.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from noble.errors import DataError, UnknownMechanismError
from noble.mechanisms import load_mechanism_set, mechanism_set
from noble.mechanisms.compile import neuron_version
from noble.sim.engine import EngineUnavailableError
from noble.sim.protocol import StepProtocol

if TYPE_CHECKING:  # pragma: no cover
    from noble.data import HofModel, ModelParameters
    from noble.sim.ballstick import BallStick


#: Section list of the model file -> SectionList of the cell template.
SECTION_LISTS = {"soma": "somatic", "dend": "basal", "apic": "apical", "axon": "axonal"}

#: Reversal-potential keys -> the NEURON ion that must be present to set them.
ION_OF = {"ena": "na_ion", "ek": "k_ion"}

_TEMPLATE = """
begintemplate NobleCell
public soma, dend, apic, axon, all, somatic, basal, apical, axonal
create soma[1], dend[1], apic[1], axon[1]
objref all, somatic, basal, apical, axonal
proc init() {
    all = new SectionList()
    somatic = new SectionList()
    basal = new SectionList()
    apical = new SectionList()
    axonal = new SectionList()
    forall delete_section()
}
endtemplate NobleCell
"""


def _neuron():
    try:
        from neuron import h  # lazy: NEURON is an optional engine and loads compiled mechanisms on import
    except ImportError as exc:  # pragma: no cover - neuron is a base requirement
        raise EngineUnavailableError(f"the neuron engine needs the `neuron` package: {exc}") from exc
    if not hasattr(h, "NobleCell"):
        h.load_file("stdrun.hoc")
        h.load_file("import3d.hoc")
        h(_TEMPLATE)
    return h


def paper_nseg(length_um: float) -> int:
    """The paper's number of segments of a section of ``length_um``: ``1 + 2*int(L/20)``."""
    return 1 + 2 * int(length_um / 20.0)


class NeuronCell:
    """One HoF model instantiated in NEURON (keep a reference while simulating)."""

    def __init__(self, params: "ModelParameters", morphology: Path):
        h = _neuron()
        morphology = Path(morphology)
        if not morphology.is_file():
            raise DataError(f"{morphology}: morphology file not found")
        self.params = params
        self.cell = h.NobleCell()
        reader = h.Import3d_SWC_read()
        reader.quiet = 1
        reader.input(str(morphology))
        importer = h.Import3d_GUI(reader, False)
        importer.instantiate(self.cell)
        if params.delete_axon:
            for sec in list(self.cell.axonal):
                h.delete_section(sec=sec)
        self.sections = {name: list(getattr(self.cell, lst)) for name, lst in SECTION_LISTS.items()}
        self.soma = self.sections["soma"][0] if self.sections["soma"] else None
        if self.soma is None:
            raise DataError(f"{morphology}: no soma in the morphology")
        for sec in self.cell.all:
            sec.nseg = paper_nseg(sec.L)
        self._set_parameters(h)

    def _set_parameters(self, h) -> None:
        params = self.params
        for sec in self.cell.all:
            sec.Ra = params.ra
        for name, sp in params.sections.items():
            secs = self.sections.get(name, [])
            for sec in secs:
                if sp.ra is not None:
                    sec.Ra = sp.ra
                if sp.cm is not None:
                    sec.cm = sp.cm
                if sp.g_pas is not None or sp.e_pas is not None:
                    sec.insert("pas")
                    if sp.g_pas is not None:
                        sec.g_pas = sp.g_pas
                    if sp.e_pas is not None:
                        sec.e_pas = sp.e_pas
                for mech, values in sp.mechanisms.items():
                    sec.insert(mech)
                    for key, value in values.items():
                        setattr(sec, f"{key}_{mech}", value)
        for name, sp in params.sections.items():
            for key in ("ena", "ek"):
                value = getattr(sp, key)
                if value is None:
                    continue
                for sec in self.sections.get(name, []):
                    if h.ismembrane(ION_OF[key], sec=sec):
                        setattr(sec, key, value)

    def count_segments(self) -> int:
        """Number of segments (compartments) of the cell."""
        return int(sum(sec.nseg for sec in self.cell.all))


class NeuronEngine:
    """NEURON simulation of HoF models (see the module docstring for what is built).

    ``mechanisms``: ``"noble"`` (the project's NMODL files, default) or ``"package"`` (the cell package's).
    """

    name = "neuron"

    def __init__(self, mechanisms: str = "noble"):
        if mechanisms not in ("noble", "package"):
            raise ValueError(f"mechanisms must be 'noble' or 'package', not {mechanisms!r}")
        self.mechanisms = mechanisms

    def version(self) -> str:
        return f"neuron {_neuron_version()}"

    def describe(self) -> dict[str, object]:
        """Settings recorded with a dataset."""
        return {"engine": self.name, "version": self.version(), "mechanisms": self.mechanisms,
                "discretization": "paper"}

    def _load(self, model: "HofModel") -> None:
        cell_dir = Path(model.path).resolve().parent.parent
        mset = mechanism_set(self.mechanisms, cell_dir)
        missing = sorted(model.params.mechanism_names() - mset.names)
        if missing:
            raise UnknownMechanismError(
                f"{model.path}: mechanism(s) {', '.join(missing)} are unavailable in the neuron engine with the "
                f"{self.mechanisms} mechanisms ({mset.source} provides {', '.join(sorted(mset.names))})"
                + ("; fetch the cell package's own NMODL files (`noble fetch --mechanisms`) and use "
                   "mechanisms='package'" if self.mechanisms == "noble" else "")
            )
        load_mechanism_set(mset)

    def build_cell(self, model: "HofModel", morphology: Path) -> NeuronCell:
        """Load the mechanisms and instantiate ``model`` on ``morphology``."""
        self._load(model)
        _neuron()
        return NeuronCell(model.params, morphology)

    def simulate(
        self, model: "HofModel", morphology: Path, amplitudes: Sequence[float], protocol: StepProtocol
    ) -> np.ndarray:
        """Somatic voltage (mV) ``[len(amplitudes), protocol.n_raw]`` at ``protocol.dt`` from t = 0."""
        amps = [float(a) for a in amplitudes]
        if not amps:
            return np.zeros((0, protocol.n_raw))
        cell = self.build_cell(model, morphology)
        return run_steps(cell.soma, model.params.celsius, model.params.v_init, amps, protocol)


def run_steps(soma, celsius: float, v_init: float, amplitudes: Sequence[float], protocol: StepProtocol) -> np.ndarray:
    """One step-current trace per amplitude (nA) injected at ``soma(0.5)``; its voltage (mV), ``[n, n_raw]``.

    Start at ``v_init`` (mV) and ``celsius`` (degC); with ``protocol.settle > 0`` first run that long without
    stimulus at step ``protocol.settle_dt`` (dropped), then ``n_raw`` fixed steps of ``protocol.dt`` (CVode
    off), sampling the voltage before each step, so sample k is at t = k * dt after the settling.
    """
    h = _neuron()
    h.celsius = celsius
    h.secondorder = 0
    h.CVode().active(0)
    settle = float(protocol.settle)
    settle_dt = float(getattr(protocol, "settle_dt", protocol.dt))
    n_settle = int(round(settle / settle_dt)) if settle > 0 else 0
    stim = h.IClamp(soma(0.5))
    stim.delay = settle + protocol.stim_start
    stim.dur = protocol.stim_duration
    seg = soma(0.5)
    out = np.empty((len(amplitudes), protocol.n_raw))
    try:
        for i, amp in enumerate(amplitudes):
            stim.amp = float(amp)
            h.dt = settle_dt if n_settle else protocol.dt
            h.finitialize(v_init)
            for _ in range(n_settle):
                h.fadvance()
            h.dt = protocol.dt
            row = out[i]
            for k in range(protocol.n_raw):
                row[k] = seg.v
                h.fadvance()
    finally:
        del stim
    return out


def simulate_ballstick(spec: "BallStick", amplitudes: Sequence[float], protocol: StepProtocol) -> np.ndarray:
    """The ball-and-stick of :mod:`noble.sim.ballstick` in NEURON with built-in ``hh`` and ``pas``.

    Returns the somatic voltage (mV) ``[len(amplitudes), protocol.n_raw]``; no compiled mechanisms needed.
    """
    h = _neuron()
    soma = h.Section(name="ballstick_soma")
    dend = h.Section(name="ballstick_dend")
    dend.connect(soma(1.0), 0.0)
    soma.L, soma.diam, soma.nseg = spec.soma_length, spec.soma_diameter, spec.soma_nseg
    dend.L, dend.diam, dend.nseg = spec.dend_length, spec.dend_diameter, spec.dend_nseg
    for sec in (soma, dend):
        sec.cm = spec.cm
        sec.Ra = spec.ra
    soma.insert("hh")
    soma.gnabar_hh, soma.gkbar_hh, soma.gl_hh, soma.el_hh = spec.gnabar_hh, spec.gkbar_hh, spec.gl_hh, spec.el_hh
    soma.ena, soma.ek = spec.ena, spec.ek
    dend.insert("pas")
    dend.g_pas, dend.e_pas = spec.g_pas, spec.e_pas
    return run_steps(soma, spec.celsius, spec.v_init, [float(a) for a in amplitudes], protocol)


def _neuron_version() -> str:
    return neuron_version()
