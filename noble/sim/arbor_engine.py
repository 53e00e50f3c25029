"""The Arbor engine: builds a HoF model on its morphology from Arbor's Allen and BBP catalogues.

Units: amplitudes nA, voltages mV, times ms, lengths um. What is built (see docs/simulation.md):

* morphology: the SWC read with NEURON's soma rules (a single-point soma becomes a cylinder and dendrites attach
  at its middle); the axon (type 2) is removed first when the model asks for it (``delete_axon``);
* per section list (soma, dend, apic, axon): ``cm``, ``Ra``, ``pas`` (``g``, ``e``), the genome mechanisms
  (``allen_NaV``... and ``bbp_K_Pst``/``bbp_K_Tst`` whose conductance is ``gK_Pstbar``/``gK_Tstbar``), and the
  sodium and potassium reversal potentials; calcium's reversal potential follows its internal concentration
  (Nernst, 5e-5 mM inside and 2 mM outside at rest), which ``CaDynamics`` writes;
* temperature ``celsius`` and initial potential ``v_init`` from the model file;
* discretisation ``"paper"`` (default): per NEURON section the paper's ``nseg = 1 + 2*int(L/20)`` equal
  compartments, the soma one compartment; or ``"max_extent:X"`` (compartments of at most X um).
"""
from __future__ import annotations

import math
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from noble.errors import DataError, UnknownMechanismError
from noble.sim.engine import EngineUnavailableError
from noble.sim.protocol import StepProtocol

if TYPE_CHECKING:  # pragma: no cover
    from noble.data import HofModel, ModelParameters


#: Model-file mechanism -> (catalogue mechanism, {model parameter: catalogue parameter}). Names not listed map
#: to themselves; a parameter that is a catalogue *global* is set through the mechanism name (``mech/p=v``).
MECHANISMS: dict[str, tuple[str, dict[str, str]]] = {
    "NaV": ("allen_NaV", {}),
    "Kv3_1": ("allen_Kv3_1", {}),
    "SK": ("allen_SK", {}),
    "Ca_HVA": ("allen_Ca_HVA", {}),
    "Ca_LVA": ("allen_Ca_LVA", {}),
    "CaDynamics": ("allen_CaDynamics", {}),
    "Ih": ("allen_Ih", {}),
    "Im_v2": ("allen_Im_v2", {}),
    "K_Pst": ("bbp_K_Pst", {"gbar": "gK_Pstbar"}),
    "K_Tst": ("bbp_K_Tst", {"gbar": "gK_Tstbar"}),
}

#: Section list -> SWC tag.
SECTION_TAGS = {"soma": 1, "axon": 2, "dend": 3, "apic": 4}

#: Resting calcium concentrations (mM), as NEURON's defaults for ``cai``/``cao``.
CA_INTERNAL_MM = 5e-5
CA_EXTERNAL_MM = 2.0

#: The middle of the soma, where the step is injected and the voltage recorded. Arbor may resolve it to several
#: equivalent locations (a fork where dendrites attach); :func:`soma_center` keeps exactly one of them.
SOMA_CENTER = '(on-components 0.5 (region "soma"))'


def _arbor():
    try:
        import arbor  # lazy: Arbor loads only when this engine runs
    except ImportError as exc:  # pragma: no cover - arbor is a base requirement
        raise EngineUnavailableError(f"the arbor engine needs the `arbor` package: {exc}") from exc
    return arbor


def paper_nseg(length_um: float) -> int:
    """The paper's number of compartments of a section of ``length_um``: ``1 + 2*int(L/20)``."""
    return 1 + 2 * int(length_um / 20.0)


@lru_cache(maxsize=1)
def catalogue():
    """Arbor's default catalogue extended with the Allen (``allen_``) and BBP (``bbp_``) catalogues."""
    arbor = _arbor()
    cat = arbor.default_catalogue()
    cat.extend(arbor.allen_catalogue(), "allen_")
    cat.extend(arbor.bbp_catalogue(), "bbp_")
    return cat


@lru_cache(maxsize=16)
def _load_morphology(path: str, delete_axon: bool):
    """The morphology of an SWC file (NEURON soma rules), without its axon when asked."""
    arbor = _arbor()
    src = Path(path)
    if not src.is_file():
        raise DataError(f"{src}: morphology file not found")
    lines = src.read_text().splitlines()
    if delete_axon:
        kept = []
        for line in lines:
            parts = line.split("#", 1)[0].split()
            if len(parts) == 7 and parts[1] == str(SECTION_TAGS["axon"]):
                continue
            kept.append(line)
        lines = kept
    with tempfile.TemporaryDirectory() as tmp:
        swc = Path(tmp) / src.name
        swc.write_text("\n".join(lines) + "\n")
        try:
            return arbor.load_swc_neuron(str(swc)).morphology
        except Exception as exc:  # arbor raises its own error types
            raise DataError(f"{src}: Arbor cannot read this SWC morphology: {exc}") from None


@lru_cache(maxsize=16)
def _soma_center_of(path: str, delete_axon: bool) -> str:
    arbor = _arbor()
    morph = _load_morphology(path, delete_axon)
    probe_cell = arbor.cable_cell(morph, arbor.decor(), _labels())
    locations = probe_cell.locations(SOMA_CENTER)
    if not locations:
        raise DataError(f"{path}: the morphology has no soma (SWC type 1)")
    return str(locations[0])


def soma_center(morphology: Path, delete_axon: bool) -> str:
    """One Arbor location (e.g. ``"(location 0 1)"``) at the middle of the soma: NEURON's ``soma(0.5)``."""
    return _soma_center_of(str(Path(morphology).resolve()), delete_axon)


def _branch_length(morph, branch: int) -> float:
    total = 0.0
    for seg in morph.branch_segments(branch):
        total += math.dist((seg.prox.x, seg.prox.y, seg.prox.z), (seg.dist.x, seg.dist.y, seg.dist.z))
    return total


def paper_boundaries(morph) -> str:
    """Locset of CV boundaries reproducing the paper's segmentation (``nseg = 1 + 2*int(L/20)`` per branch).

    Each non-soma branch is cut into ``nseg`` equal pieces; soma branches are not cut, so the soma (with the
    dendrites attached at its middle) is a single compartment as in NEURON.
    """
    locs = []
    for b in range(morph.num_branches):
        tags = {seg.tag for seg in morph.branch_segments(b)}
        if tags == {SECTION_TAGS["soma"]}:
            continue
        n = paper_nseg(_branch_length(morph, b))
        locs.extend(f"(location {b} {k / n:.12g})" for k in range(0, n + 1))
    return "(join " + " ".join(locs) + ")" if locs else "(locset-nil)"


def cv_policy(morph, discretization: str):
    """The Arbor CV policy for ``"paper"`` or ``"max_extent:X"`` (X in um)."""
    arbor = _arbor()
    U = arbor.units
    if discretization == "paper":
        return arbor.cv_policy_explicit(paper_boundaries(morph))
    if discretization.startswith("max_extent:"):
        try:
            extent = float(discretization.split(":", 1)[1])
        except ValueError:
            extent = float("nan")
        if not (math.isfinite(extent) and extent > 0):
            raise ValueError(f"discretization {discretization!r}: the extent must be a positive number of um")
        return arbor.cv_policy_max_extent(extent * U.um)
    raise ValueError(f"unknown discretization {discretization!r}: use 'paper' or 'max_extent:<um>'")


def _labels():
    arbor = _arbor()
    return arbor.label_dict({name: f"(tag {tag})" for name, tag in SECTION_TAGS.items()}).add_swc_tags()


def build_decor(params: "ModelParameters", morph):
    """The Arbor decor of a HoF model: passive properties, mechanisms, ions, temperature and v_init."""
    arbor = _arbor()
    U = arbor.units
    decor = arbor.decor()
    decor.set_property(Vm=params.v_init * U.mV, tempK=(params.celsius + 273.15) * U.Kelvin, rL=params.ra * U.Ohm * U.cm)
    decor.set_ion(
        "ca",
        int_con=CA_INTERNAL_MM * U.mM,
        ext_con=CA_EXTERNAL_MM * U.mM,
        method=arbor.mechanism("nernst/x=ca"),
    )
    present = {seg.tag for b in range(morph.num_branches) for seg in morph.branch_segments(b)}
    for section, sp in params.sections.items():
        if SECTION_TAGS[section] not in present:
            continue  # e.g. parameters of a deleted axon
        region = f'"{section}"'
        if sp.cm is not None:
            decor.paint(region, cm=sp.cm * U.uF / U.cm2)
        if sp.ra is not None:
            decor.paint(region, rL=sp.ra * U.Ohm * U.cm)
        if sp.ena is not None:
            decor.paint(region, ion="na", rev_pot=sp.ena * U.mV)
        if sp.ek is not None:
            decor.paint(region, ion="k", rev_pot=sp.ek * U.mV)
        if sp.g_pas is not None:
            e_pas = sp.e_pas if sp.e_pas is not None else -70.0
            decor.paint(region, arbor.density(f"pas/e={e_pas!r}", {"g": sp.g_pas}))
        for mech, values in sp.mechanisms.items():
            decor.paint(region, arbor.density(_mechanism(mech, values, params.source)))
    return decor


def _mechanism(mech: str, values, source: Path):
    arbor = _arbor()
    if mech not in MECHANISMS:
        raise UnknownMechanismError(f"{source}: mechanism {mech!r} is not available in the arbor engine")
    cat_name, renames = MECHANISMS[mech]
    info = catalogue()[cat_name]
    params: dict[str, float] = {}
    globals_: list[str] = []
    for key, value in values.items():
        name = renames.get(key, key)
        if name in info.parameters:
            params[name] = float(value)
        elif name in info.globals:
            globals_.append(f"{name}={float(value)!r}")
        else:
            raise UnknownMechanismError(f"{source}: {cat_name} has no parameter {name!r} (from {key}_{mech})")
    full = cat_name + ("/" + ",".join(globals_) if globals_ else "")
    return arbor.mechanism(full, params)


class _Recipe:
    """Factory of an Arbor recipe holding one copy of the cell per amplitude."""

    @staticmethod
    def make(cell, props, n: int, where: str):
        arbor = _arbor()

        class Recipe(arbor.recipe):
            def __init__(self):
                super().__init__()

            def num_cells(self):
                return n

            def cell_kind(self, gid):
                return arbor.cell_kind.cable

            def cell_description(self, gid):
                return cell[gid]

            def global_properties(self, kind):
                return props

            def probes(self, gid):
                return [arbor.cable_probe_membrane_voltage(where, "v")]

        return Recipe()


def run_cells(cells: Sequence, where: str, protocol: StepProtocol, cat, threads: int = 1) -> np.ndarray:
    """Run Arbor cable cells together and return the voltage (mV) at ``where``, ``[len(cells), n_raw]``.

    The cells' stimuli must already be placed at absolute times (``protocol.settle`` + protocol times).
    """
    arbor = _arbor()
    U = arbor.units
    if not cells:
        return np.zeros((0, protocol.n_raw))
    props = arbor.neuron_cable_properties()
    props.catalogue = cat
    recipe = _Recipe.make(list(cells), props, len(cells), where)
    sim = arbor.simulation(recipe, arbor.context(threads=threads))
    t0, dt = protocol.settle, protocol.dt
    t_end = t0 + protocol.n_raw * dt
    sched = arbor.regular_schedule(t0 * U.ms, dt * U.ms, (t_end - 0.5 * dt) * U.ms)
    handles = [sim.sample((gid, "v"), sched) for gid in range(len(cells))]
    if t0 > 0:
        sim.run(t0 * U.ms, protocol.settle_dt * U.ms)
    sim.run(t_end * U.ms, dt * U.ms)
    out = np.empty((len(cells), protocol.n_raw))
    for i, handle in enumerate(handles):
        samples = sim.samples(handle)
        if not samples:
            raise RuntimeError(f"arbor returned no samples for cell {i}")
        data = np.asarray(samples[0][0])
        if data.shape[0] != protocol.n_raw:
            raise RuntimeError(f"arbor returned {data.shape[0]} samples, expected {protocol.n_raw}")
        out[i] = data[:, 1]
    return out


class ArborEngine:
    """Arbor simulation of HoF models (see the module docstring for what is built).

    ``discretization``: ``"paper"`` (default) or ``"max_extent:X"``; ``threads``: Arbor worker threads.
    """

    name = "arbor"

    def __init__(self, discretization: str = "paper", threads: int = 1):
        if threads < 1:
            raise ValueError(f"threads must be >= 1, not {threads}")
        if discretization != "paper" and not discretization.startswith("max_extent:"):
            raise ValueError(f"unknown discretization {discretization!r}: use 'paper' or 'max_extent:<um>'")
        self.discretization = discretization
        self.threads = int(threads)

    def version(self) -> str:
        return f"arbor {_arbor().__version__}"

    def describe(self) -> dict[str, object]:
        """Settings recorded with a dataset."""
        return {"engine": self.name, "version": self.version(), "discretization": self.discretization}

    def build_cell(self, model: "HofModel", morphology: Path, stimuli: Sequence[tuple[float, float, float]] = ()):
        """The cable cell of a HoF model; ``stimuli`` are ``(start ms, duration ms, amplitude nA)`` at the soma."""
        arbor = _arbor()
        U = arbor.units
        params = model.params
        morph = _load_morphology(str(Path(morphology).resolve()), params.delete_axon)
        decor = build_decor(params, morph)
        where = soma_center(morphology, params.delete_axon)
        for start, duration, amplitude in stimuli:
            if amplitude != 0.0:
                decor.place(where, arbor.i_clamp(start * U.ms, duration * U.ms, amplitude * U.nA))
        return arbor.cable_cell(morph, decor, _labels(), cv_policy(morph, self.discretization))

    def count_compartments(self, model: "HofModel", morphology: Path) -> int:
        """Number of compartments (CVs) of the built cell."""
        data = _arbor().cv_data(self.build_cell(model, morphology))
        return int(data.num_cv)

    def simulate(
        self, model: "HofModel", morphology: Path, amplitudes: Sequence[float], protocol: StepProtocol
    ) -> np.ndarray:
        """Somatic voltage (mV) ``[len(amplitudes), protocol.n_raw]`` at ``protocol.dt`` from t = 0.

        With ``protocol.settle > 0`` the cell first runs that long without stimulus (step ``protocol.settle_dt``);
        t = 0 is the end of that pre-run.
        """
        amps = [float(a) for a in amplitudes]
        t0 = protocol.settle
        cells = [
            self.build_cell(model, morphology, [(t0 + protocol.stim_start, protocol.stim_duration, a)]) for a in amps
        ]
        where = soma_center(morphology, model.params.delete_axon)
        return run_cells(cells, where, protocol, catalogue(), self.threads)
