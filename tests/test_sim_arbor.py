"""The Arbor engine on the real PVALB cell and on the ball-and-stick agreement benchmark."""
from __future__ import annotations

import numpy as np
import pytest

from noble.features import extract_features, spike_counts
from noble.sim import PAPER_PROTOCOL, StepProtocol, decimate_traces, get_engine
from noble.sim.arbor_engine import _load_morphology, _branch_length, paper_nseg
from noble.sim.ballstick import BALL_AND_STICK, simulate_ballstick
from noble.sim.engine import Engine, EngineUnavailableError

#: Two train HoF models and one test HoF model of PVALB.
SAMPLED_HOFS = (3, 21, 47)
#: The paper's protocol with a 150 ms step (15-165 ms), to keep the test short.
SHORT_STEP = StepProtocol(t_stop=180.0, stim_duration=150.0, n_samples=3000)


@pytest.fixture(scope="module")
def arbor_engine():
    return get_engine("arbor")


@pytest.fixture(scope="module")
def steps(pvalb, arbor_engine):
    """HoF index -> decimated traces at 0.1 and -0.11 nA."""
    out = {}
    for index in SAMPLED_HOFS:
        raw = arbor_engine.simulate(pvalb.hof(index), pvalb.morphology, [0.1, -0.11], SHORT_STEP)
        assert raw.shape == (2, SHORT_STEP.n_raw)
        out[index] = decimate_traces(raw, SHORT_STEP)
    return out


def test_engine_satisfies_the_interface(arbor_engine):
    assert isinstance(arbor_engine, Engine)
    assert arbor_engine.name == "arbor"
    assert arbor_engine.version().startswith("arbor 0.")


def test_rest_matches_published_voltage_base(pvalb, steps):
    for index, traces in steps.items():
        model = pvalb.hof(index)
        ours = extract_features(traces, SHORT_STEP.time(), 15.0, 165.0, features=("voltage_base",))
        for published in (model.features["hyperpol.voltage_base"], model.features["depol.voltage_base"]):
            for row in ours:
                assert abs(row["voltage_base"] - published) < 0.5, (index, row, published)


def test_suprathreshold_spikes_and_hyperpolarising_step_does_not(steps):
    for index, traces in steps.items():
        counts = spike_counts(traces, SHORT_STEP.time(), 15.0, 165.0)
        assert counts[0] >= 3, (index, counts)
        assert counts[1] == 0, (index, counts)
        assert traces[1, 2500] < traces[1, 200] - 5.0  # hyperpolarised during the step


def test_paper_segmentation(pvalb, arbor_engine):
    import arbor

    model = pvalb.hof(0)
    cell = arbor_engine.build_cell(model, pvalb.morphology)
    data = arbor.cv_data(cell)
    morph = _load_morphology(str(pvalb.morphology.resolve()), True)
    expected = 1 + sum(
        paper_nseg(_branch_length(morph, b))
        for b in range(morph.num_branches)
        if {s.tag for s in morph.branch_segments(b)} != {1}
    )
    with_area = [i for i in range(data.num_cv) if any(c.dist > c.prox for c in data.cables(i))]
    assert len(with_area) == expected
    # the soma (both halves of NEURON's soma cylinder) is a single compartment
    soma_cvs = {i for i in with_area for c in data.cables(i) if c.branch in (0, 1) and c.dist > c.prox}
    assert len(soma_cvs) == 1


def test_axon_is_removed(pvalb):
    morph = _load_morphology(str(pvalb.morphology.resolve()), True)
    tags = {s.tag for b in range(morph.num_branches) for s in morph.branch_segments(b)}
    assert 2 not in tags and {1, 3} <= tags


def test_ballstick_arbor_half():
    p = PAPER_PROTOCOL
    v = simulate_ballstick("arbor", [0.5, 0.02, -0.03], p)
    counts = spike_counts(v, p.raw_time())
    assert counts[0] > 10 and counts[1] == 0 and counts[2] == 0
    assert abs(v[1, 0] - BALL_AND_STICK.v_init) < 0.1


def test_ballstick_engines_agree():
    p = PAPER_PROTOCOL
    amps = [0.3, 0.5, 1.0, -0.03, 0.02]
    try:
        ref = simulate_ballstick("neuron", amps, p)
    except EngineUnavailableError as exc:
        pytest.skip(f"NEURON engine unavailable: {exc}")
    ours = simulate_ballstick("arbor", amps, p)
    t = p.raw_time()
    assert np.array_equal(spike_counts(ours[:3], t), spike_counts(ref[:3], t))
    rel = np.linalg.norm(ours[3:] - ref[3:], axis=1) / np.linalg.norm(ref[3:], axis=1)
    assert np.all(rel < 1e-3), rel


def test_bench_rows(data_root):
    from noble.bench.simulators import bench_sim
    from noble.sim.protocol import StepProtocol

    short = StepProtocol(t_stop=120.0, stim_start=10.0, stim_duration=80.0, n_samples=2000, settle=50.0)
    rows = bench_sim(engines=("arbor",), n_traces=2, amplitudes=(0.1, -0.11), root=data_root, protocol=short)
    (row,) = rows
    assert row["engine"] == "arbor" and row["version"].startswith("arbor")
    assert row["n_traces"] == 2 and row["seconds_per_trace"] > 0 and row["traces_per_s_per_core"] > 0
    assert row["rel_l2_vs_first"] == 0.0 and set(row["rel_l2_by_amplitude"]) == {"0.1", "-0.11"}
    assert row["spike_counts"][1] == 0 and row["spike_counts"][0] > 0
