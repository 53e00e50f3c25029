"""The NEURON engine: how it builds a HoF model, and agreement with the Arbor engine on real PVALB models."""
from __future__ import annotations

import numpy as np
import pytest

from noble.mechanisms import MissingMechanismsError
from noble.mechanisms.crossval import compare_traces
from noble.sim import PAPER_PROTOCOL, Engine, StepProtocol, get_engine
from noble.sim.neuron_engine import NeuronEngine, paper_nseg

#: (global HoF index, amplitudes in nA): a sub-threshold and a spiking step, and a held-out model near threshold.
CASES = ((0, (-0.11, 0.1)), (32, (0.05,)))

#: The paper's dt, segmentation and step onset, shortened (200 ms step, 200 ms settling) to keep the test fast;
#: scripts/crossval_engines.py runs the full protocol on ten models.
SHORT = StepProtocol(t_stop=215.0, stim_start=15.0, stim_duration=200.0, settle=200.0, n_samples=1)


@pytest.fixture(scope="module")
def engine() -> NeuronEngine:
    return get_engine("neuron")


@pytest.fixture(scope="module")
def built(engine, pvalb):
    model = pvalb.hof(0)
    return model, engine.build_cell(model, pvalb.morphology)


def test_engine_interface(engine):
    assert isinstance(engine, Engine)
    assert engine.name == "neuron"
    assert engine.version().startswith("neuron 9.")
    with pytest.raises(ValueError, match="mechanisms"):
        NeuronEngine(mechanisms="other")


def test_cell_follows_model_file(built):
    model, cell = built
    params = model.params
    assert params.delete_axon and not list(cell.cell.axonal)
    assert len(cell.sections["soma"]) == 1 and len(cell.sections["dend"]) == 34
    assert cell.count_segments() == 249
    for sec in cell.cell.all:
        assert sec.nseg == paper_nseg(sec.L)
        assert sec.Ra == pytest.approx(params.ra)
    for name, secs in cell.sections.items():
        if not secs:
            continue
        sp = params.sections[name]
        for sec in secs:
            seg = sec(0.5)
            assert sec.cm == pytest.approx(sp.cm)
            assert seg.g_pas == pytest.approx(sp.g_pas) and seg.e_pas == pytest.approx(sp.e_pas)
            assert seg.ena == pytest.approx(sp.ena) and seg.ek == pytest.approx(sp.ek)
            for mech, values in sp.mechanisms.items():
                for key, value in values.items():
                    assert getattr(seg, f"{key}_{mech}") == pytest.approx(value), (name, mech, key)
    assert not hasattr(cell.sections["dend"][0](0.5), "SK")


def test_without_settling_a_trace_starts_at_v_init(engine, pvalb):
    protocol = StepProtocol(t_stop=20.0, stim_start=5.0, stim_duration=10.0, settle=0.0, n_samples=1)
    model = pvalb.hof(0)
    v = engine.simulate(model, pvalb.morphology, [0.0, 0.2], protocol)
    assert v.shape == (2, protocol.n_raw)
    assert np.all(v[:, 0] == model.params.v_init)
    np.testing.assert_array_equal(v[0, :250], v[1, :250])  # identical until the step at 5 ms
    assert v[0].max() < -60.0 and v[1].max() > 0.0  # 0.2 nA fires within 10 ms
    assert engine.simulate(model, pvalb.morphology, [], protocol).shape == (0, protocol.n_raw)


def test_package_mechanisms_need_the_package_files(pvalb):
    with pytest.raises(MissingMechanismsError, match="--mechanisms"):
        NeuronEngine(mechanisms="package").simulate(pvalb.hof(0), pvalb.morphology, [0.0], PAPER_PROTOCOL)


@pytest.mark.parametrize("index,amplitudes", CASES)
def test_agrees_with_arbor_at_paper_dt_and_segmentation(engine, pvalb, index, amplitudes):
    model = pvalb.hof(index)
    ours = engine.simulate(model, pvalb.morphology, amplitudes, SHORT)
    theirs = get_engine("arbor").simulate(model, pvalb.morphology, amplitudes, SHORT)
    assert ours.shape == theirs.shape == (len(amplitudes), SHORT.n_raw)
    for amp, x, y in zip(amplitudes, ours, theirs):
        r = compare_traces(x, y, amp, SHORT.dt)
        assert r.spikes_reference == r.spikes_candidate, r
        if r.spikes_reference == 0:
            assert r.relative_l2 < 1e-3, r
        else:
            assert r.relative_l2 < 0.02, r
    if index == 0:
        assert compare_traces(ours[1], theirs[1], 0.1, SHORT.dt).spikes_reference > 5
