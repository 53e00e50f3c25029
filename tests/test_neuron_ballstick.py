"""Ball-and-stick with NEURON's built-in hh and pas in both engines: same spikes, same sub-threshold traces."""
from __future__ import annotations

import numpy as np
import pytest

from noble.mechanisms.crossval import compare_traces
from noble.sim import PAPER_PROTOCOL
from noble.sim.ballstick import BALL_AND_STICK, simulate_ballstick

AMPLITUDES = (-0.1, 0.01, 0.05, 0.1, 0.2, 0.5)  # nA; 0.01 and 0.05 stay below threshold


@pytest.fixture(scope="module")
def traces():
    neuron = simulate_ballstick("neuron", AMPLITUDES, PAPER_PROTOCOL)
    arbor = simulate_ballstick("arbor", AMPLITUDES, PAPER_PROTOCOL)
    return neuron, arbor


def test_shapes_and_start(traces):
    neuron, arbor = traces
    assert neuron.shape == arbor.shape == (len(AMPLITUDES), PAPER_PROTOCOL.n_raw)
    assert np.allclose(neuron[:, 0], neuron[0, 0]) and abs(neuron[0, 0] - BALL_AND_STICK.v_init) < 0.1  # at rest


def test_identical_spike_counts(traces):
    neuron, arbor = traces
    rows = [compare_traces(n, a, amp, PAPER_PROTOCOL.dt) for amp, n, a in zip(AMPLITUDES, neuron, arbor)]
    assert [r.spikes_reference for r in rows] == [r.spikes_candidate for r in rows]
    assert rows[-1].spikes_reference > 10  # the strongest step fires repetitively
    assert rows[1].spikes_reference == rows[2].spikes_reference == 0


def test_subthreshold_traces_agree(traces):
    neuron, arbor = traces
    for i in (1, 2):
        r = compare_traces(neuron[i], arbor[i], AMPLITUDES[i], PAPER_PROTOCOL.dt)
        assert r.relative_l2 < 1e-3, r
        assert np.ptp(neuron[i]) > 0.5  # the step visibly depolarises the soma
