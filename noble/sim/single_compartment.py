"""Single-compartment probes of mechanism kinetics in NEURON (the project's NMODL) and Arbor (its catalogues).

Used to check the mechanisms against the specification (docs/mechanisms.md, section 11) and against Arbor.
Units: v mV, t ms, cai mM, conductances S/cm^2. Every probe runs one 10 um x 10 um cylinder with no leak and no
stimulus, so the membrane potential stays where it is put.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from noble.mechanisms.loader import load_mechanism_set, mechanism_set
from noble.sim.arbor_engine import catalogue

#: Gates of the Hodgkin-Huxley-type mechanisms.
GATES: dict[str, tuple[str, ...]] = {
    "Kv3_1": ("m",),
    "K_Pst": ("m", "h"),
    "K_Tst": ("m", "h"),
    "Ca_HVA": ("m", "h"),
    "Ca_LVA": ("m", "h"),
    "Ih": ("m",),
    "Im_v2": ("m",),
    "SK": ("z",),
}

#: Project mechanism -> (Arbor catalogue mechanism, name of its conductance parameter).
ARBOR_NAMES: dict[str, tuple[str, str]] = {
    "NaV": ("allen_NaV", "gbar"),
    "Kv3_1": ("allen_Kv3_1", "gbar"),
    "SK": ("allen_SK", "gbar"),
    "Ca_HVA": ("allen_Ca_HVA", "gbar"),
    "Ca_LVA": ("allen_Ca_LVA", "gbar"),
    "CaDynamics": ("allen_CaDynamics", ""),
    "Ih": ("allen_Ih", "gbar"),
    "Im_v2": ("allen_Im_v2", "gbar"),
    "K_Pst": ("bbp_K_Pst", "gK_Pstbar"),
    "K_Tst": ("bbp_K_Tst", "gK_Tstbar"),
}

#: NaV states in the order of the specification.
NAV_STATES = ("C1", "C2", "C3", "C4", "C5", "O", "I1", "I2", "I3", "I4", "I5", "I6")

CA_EXTERNAL_MM = 2.0
CA_INTERNAL_MM = 5e-5


# --------------------------------------------------------------------------------------------- NEURON side
def _neuron_section(mechanisms: Sequence[str], celsius: float, cm: float = 1.0):
    from neuron import h  # lazy: NEURON is an optional engine and loads compiled mechanisms on import


    load_mechanism_set(mechanism_set("noble"))
    h.CVode().active(0)
    h.secondorder = 0
    h.celsius = celsius
    sec = h.Section(name="probe")
    sec.L = sec.diam = 10.0
    sec.nseg = 1
    sec.cm = cm
    for mech in mechanisms:
        sec.insert(mech)
    return h, sec


def neuron_gate(mechanism: str, gate: str, v: float, celsius: float = 34.0, cai: float | None = None,
                dt: float = 0.01) -> tuple[float, float]:
    """(x_inf, tau in ms) of one gate at potential ``v`` (and ``cai`` for SK), measured in NEURON.

    x_inf: the state after initialising at ``v`` with zero conductance. tau: from one exponential-Euler step
    after moving the state away from x_inf, tau = -dt / ln((x1 - x_inf) / (x0 - x_inf)).
    """
    h, sec = _neuron_section([mechanism], celsius)
    setattr(sec, f"gbar_{mechanism}", 0.0)
    seg = sec(0.5)
    if cai is not None:
        seg.cai = cai  # no mechanism writes cai here, so initialisation keeps this value
    h.dt = dt
    h.finitialize(v)
    name = f"{gate}_{mechanism}"
    x_inf = getattr(seg, name)
    x0 = 0.25 if x_inf > 0.5 else 0.75
    setattr(seg, name, x0)
    h.fadvance()
    x1 = getattr(seg, name)
    tau = -dt / math.log((x1 - x_inf) / (x0 - x_inf))
    return float(x_inf), float(tau)


def neuron_nav_clamp(v_hold: float, v_step: float, t_step: float, dt: float = 0.02, celsius: float = 34.0,
                     t_hold: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """NaV states under an ideal clamp: initialise at ``v_hold``, hold ``t_hold`` ms, then ``v_step`` for
    ``t_step`` ms. Returns (t ms, states [n, 12] in :data:`NAV_STATES` order), sampled every step from t = 0."""
    h, sec = _neuron_section(["NaV"], celsius)
    sec.gbar_NaV = 0.0
    seg = sec(0.5)
    h.dt = dt
    h.finitialize(v_hold)
    rows = [[getattr(seg, f"{s}_NaV") for s in NAV_STATES]]
    n_hold = int(round(t_hold / dt))
    n_step = int(round(t_step / dt))
    for i in range(n_hold + n_step):
        if i == n_hold:
            seg.v = v_step
        h.fadvance()
        rows.append([getattr(seg, f"{s}_NaV") for s in NAV_STATES])
    return np.arange(len(rows)) * dt, np.asarray(rows)


def neuron_calcium_clamp(v_hold: float, v_step: float, t_step: float, gbar: float = 1e-3, gamma: float = 0.05,
                         decay: float = 80.0, dt: float = 0.02, celsius: float = 34.0,
                         t_hold: float = 0.0) -> dict[str, np.ndarray]:
    """CaDynamics with Ca_HVA, Ca_LVA and SK (each ``gbar``): initialise at ``v_hold``, hold ``t_hold`` ms,
    then clamp at ``v_step`` for ``t_step`` ms. A huge membrane capacitance keeps v where it is put.
    Returns t (ms), cai (mM), ica (mA/cm^2) and the SK gate z, sampled every step from t = 0."""
    h, sec = _neuron_section(["Ca_HVA", "Ca_LVA", "SK", "CaDynamics"], celsius, cm=1e15)
    sec.gbar_Ca_HVA = sec.gbar_Ca_LVA = sec.gbar_SK = gbar
    sec.gamma_CaDynamics = gamma
    sec.decay_CaDynamics = decay
    seg = sec(0.5)
    h.dt = dt
    h.finitialize(v_hold)
    n_hold = int(round(t_hold / dt))
    rows = [(seg.cai, seg.ica, seg.z_SK)]
    for i in range(n_hold + int(round(t_step / dt))):
        if i == n_hold:
            seg.v = v_step
        h.fadvance()
        rows.append((seg.cai, seg.ica, seg.z_SK))
    arr = np.asarray(rows)
    return {"t": np.arange(len(rows)) * dt, "cai": arr[:, 0], "ica": arr[:, 1], "z": arr[:, 2]}


# ---------------------------------------------------------------------------------------------- Arbor side
def _arbor_run(densities, states: Sequence[tuple[str, str]], v_init: float, v_clamp: float | None,
               t_stop: float, dt: float, celsius: float, cai: float = CA_INTERNAL_MM) -> dict[str, np.ndarray]:
    """Run Arbor's single compartment; ``states`` are (catalogue mechanism, state) pairs to sample."""
    import arbor  # lazy: Arbor loads only when this engine runs


    U = arbor.units
    tree = arbor.segment_tree()
    tree.append(arbor.mnpos, arbor.mpoint(0, 0, 0, 5), arbor.mpoint(10, 0, 0, 5), tag=1)
    decor = arbor.decor()
    decor.set_property(Vm=v_init * U.mV, tempK=(celsius + 273.15) * U.Kelvin)
    decor.set_ion("ca", int_con=cai * U.mM, ext_con=CA_EXTERNAL_MM * U.mM,
                  method=arbor.mechanism("nernst/x=ca"))
    for mech in densities:
        decor.paint("(all)", mech)
    if v_clamp is not None:
        decor.paint("(all)", arbor.voltage_process(f"v_clamp/v0={v_clamp!r}"))
    cell = arbor.cable_cell(arbor.morphology(tree), decor, arbor.label_dict(), arbor.cv_policy_single())
    props = arbor.neuron_cable_properties()
    props.catalogue = catalogue()
    where = "(location 0 0.5)"

    class Recipe(arbor.recipe):
        def __init__(self):
            super().__init__()

        def num_cells(self):
            return 1

        def cell_kind(self, gid):
            return arbor.cell_kind.cable

        def cell_description(self, gid):
            return cell

        def global_properties(self, kind):
            return props

        def probes(self, gid):
            out = [arbor.cable_probe_density_state(where, m, s, f"{m}.{s}") for m, s in states]
            return out + [arbor.cable_probe_membrane_voltage(where, "v")]

    sim = arbor.simulation(Recipe())
    sched = arbor.regular_schedule(0 * U.ms, dt * U.ms, (t_stop + 0.5 * dt) * U.ms)
    tags = [f"{m}.{s}" for m, s in states] + ["v"]
    handles = [sim.sample((0, tag), sched) for tag in tags]
    sim.run((t_stop + dt) * U.ms, dt * U.ms)
    out: dict[str, np.ndarray] = {}
    for tag, handle in zip(tags, handles):
        data = np.asarray(sim.samples(handle)[0][0])
        out["t"] = data[:, 0]
        out[tag] = data[:, 1]
    return out


def arbor_gate(mechanism: str, gate: str, v: float, celsius: float = 34.0, cai: float | None = None,
               dt: float = 0.01) -> tuple[float, float | None]:
    """(x_inf, tau in ms) of one gate of the matching Arbor catalogue mechanism.

    x_inf: the state after initialising at ``v`` (and ``cai``). tau: clamp at ``v`` after initialising 40-70 mV
    away, then the ratio of successive deviations from x_inf once the clamp holds. SK's gate depends on calcium
    only, which cannot be stepped here: its tau is None.
    """
    import arbor  # lazy: Arbor loads only when this engine runs

    name, gname = ARBOR_NAMES[mechanism]
    dens = arbor.density(name, {gname: 0.0})
    conc = cai if cai is not None else CA_INTERNAL_MM
    rest = _arbor_run([dens], [(name, gate)], v, None, 2 * dt, dt, celsius, conc)
    x_inf = float(rest[f"{name}.{gate}"][0])
    if mechanism == "SK":
        return x_inf, None
    v_start = v + 40.0 if v < -30.0 else v - 70.0
    x = _arbor_run([dens], [(name, gate)], v_start, v, 20 * dt, dt, celsius, conc)[f"{name}.{gate}"]
    dev = x[10:12] - x_inf
    return x_inf, float(-dt / math.log(dev[1] / dev[0]))


def arbor_nav_clamp(v_hold: float, v_step: float, t_step: float, dt: float = 0.02,
                    celsius: float = 34.0) -> tuple[np.ndarray, np.ndarray]:
    """Arbor's allen NaV states: initialise at ``v_hold`` and clamp at ``v_step`` until ``t_step`` ms.

    Arbor's clamp acts from the second step on: this equals :func:`neuron_nav_clamp` with ``t_hold = dt``."""
    import arbor  # lazy: Arbor loads only when this engine runs

    dens = arbor.density("allen_NaV", {"gbar": 0.0})
    out = _arbor_run([dens], [("allen_NaV", s) for s in NAV_STATES], v_hold, v_step, t_step, dt, celsius)
    return out["t"], np.stack([out[f"allen_NaV.{s}"] for s in NAV_STATES], axis=1)


def arbor_calcium_clamp(v_hold: float, v_step: float, t_step: float, gbar: float = 1e-3, gamma: float = 0.05,
                        decay: float = 80.0, dt: float = 0.02, celsius: float = 34.0) -> dict[str, np.ndarray]:
    """Arbor's allen CaDynamics with Ca_HVA, Ca_LVA and SK, clamped at ``v_step`` until ``t_step`` ms.

    Arbor's clamp acts from the second step on: this equals :func:`neuron_calcium_clamp` with ``t_hold = dt``."""
    import arbor  # lazy: Arbor loads only when this engine runs

    dens = [arbor.density("allen_Ca_HVA", {"gbar": gbar}), arbor.density("allen_Ca_LVA", {"gbar": gbar}),
            arbor.density("allen_SK", {"gbar": gbar}),
            arbor.density("allen_CaDynamics", {"gamma": gamma, "decay": decay})]
    out = _arbor_run(dens, [("allen_CaDynamics", "cai"), ("allen_SK", "z")], v_hold, v_step, t_step, dt, celsius)
    return {"t": out["t"], "cai": out["allen_CaDynamics.cai"], "z": out["allen_SK.z"]}
