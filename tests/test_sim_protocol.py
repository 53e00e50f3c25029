"""The step protocol, decimation, amplitude checks, the skew-normal sampler and engine lookup (no simulation)."""
from __future__ import annotations

import numpy as np
import pytest

from noble.errors import NobleError
from noble.sim import PAPER_PROTOCOL, ProtocolError, StepProtocol, UnknownEngineError, decimate_traces, get_engine
from noble.sim.protocol import check_amplitudes
from noble.sim.sampling import PAPER_SAMPLER, SkewNormalSampler, amplitude_grid, sample_pairs


def test_paper_protocol_grid():
    p = PAPER_PROTOCOL
    assert (p.t_stop, p.stim_start, p.stim_end, p.dt, p.decimation) == (515.0, 15.0, 415.0, 0.02, 3)
    assert p.n_raw == 25750
    assert p.n_samples == 8583
    assert p.time().shape == (8583,)
    assert p.dt_out == pytest.approx(0.06)
    assert p.time()[-1] == pytest.approx(8582 * 0.06)
    stim = p.stimulus(0.1)
    on = (p.time() >= 15.0) & (p.time() < 415.0)
    assert np.all(stim[on] == 0.1) and np.all(stim[~on] == 0.0)


def test_decimation_keeps_rest_level_and_removes_aliasing():
    p = PAPER_PROTOCOL
    t = p.raw_time()
    rest = np.full((1, p.n_raw), -71.2)
    assert np.allclose(decimate_traces(rest, p), -71.2, atol=1e-9)
    # a tone above the new Nyquist frequency (1 / (2 * 0.06 ms) = 8.3 kHz) is removed, a slow one kept
    fast = np.sin(2 * np.pi * 12.0 * t)  # 12 kHz
    slow = np.sin(2 * np.pi * 0.1 * t)  # 100 Hz
    out = decimate_traces(np.stack([fast, slow]), p)
    assert np.abs(out[0, 100:-100]).max() < 0.01
    assert np.allclose(out[1, 20:-20], slow[::3][: p.n_samples][20:-20], atol=1e-3)


def test_decimation_rejects_wrong_length():
    with pytest.raises(ProtocolError, match="25750"):
        decimate_traces(np.zeros((2, 100)))


@pytest.mark.parametrize(
    ("values", "message"),
    [([0.1, float("nan")], "not a finite"), ([0.3], "outside the validated range"), ([-0.2], "outside"), ([], "non-empty")],
)
def test_amplitude_errors(values, message):
    with pytest.raises(ProtocolError, match=message):
        check_amplitudes(values)


def test_amplitude_range_edges_are_allowed():
    assert check_amplitudes([-0.11, 0.28]).tolist() == [-0.11, 0.28]


def test_bad_protocol_values():
    with pytest.raises(ProtocolError, match="dt"):
        StepProtocol(dt=0.0)
    with pytest.raises(ProtocolError, match="n_samples"):
        StepProtocol(n_samples=9000)


def test_sampler_shape_matches_the_paper_description():
    s = PAPER_SAMPLER
    assert 0.0 <= s.mode() <= 0.05  # mode in the peri-threshold window
    x = s.sample(20000, np.random.default_rng(0))
    assert x.min() >= -0.11 and x.max() <= 0.28
    assert np.mean(x > 0.05) > np.mean(x < 0.0)  # heavier positive tail
    assert 0.2 < np.mean(x < 0.0) < 0.33  # about the paper's share of negative steps (26%)
    grid = np.linspace(-0.11, 0.28, 4001)
    assert np.trapezoid(s.pdf(grid), grid) == pytest.approx(1.0, abs=1e-3)


def test_sampling_is_deterministic_for_a_seed():
    h1, a1 = sample_pairs([0, 1, 3], 50, seed=7)
    h2, a2 = sample_pairs([0, 1, 3], 50, seed=7)
    h3, a3 = sample_pairs([0, 1, 3], 50, seed=8)
    assert np.array_equal(h1, h2) and np.array_equal(a1, a2)
    assert not np.array_equal(a1, a3)
    assert set(h1.tolist()) <= {0, 1, 3}


def test_sampler_and_grid_errors():
    with pytest.raises(ProtocolError):
        SkewNormalSampler(scale=-1.0)
    with pytest.raises(ProtocolError):
        amplitude_grid(0.0, 0.5, 3)
    assert amplitude_grid(-0.11, 0.28, 40).size == 40


def test_unknown_engine():
    with pytest.raises(UnknownEngineError, match="arbor, neuron"):
        get_engine("nest")
    assert issubclass(UnknownEngineError, NobleError)
