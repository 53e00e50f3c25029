"""Scoring a model with the fit's simulated steps, and targets from recorded sweeps."""
from __future__ import annotations

import math

import numpy as np
import pytest

from noble.data.allen import LongSquareSweep
from noble.fit import FitError, ModelTemplate, StageSetup, cell_targets, evaluate, prior_space
from noble.fit.evaluate import simulate_features
from noble.fit.profiles import get_fit_profile
from noble.fit.run import resolve_targets
from noble.fit.targets import passes_qc, sweep_targets


@pytest.fixture(scope="module")
def published(pvalb):
    """The first published HoF model as a fit individual, and its simulated features on the fit's steps."""
    templates = [ModelTemplate.from_file(m.path) for m in pvalb.hof_models]
    space = prior_space(templates)
    raw = templates[0].raw
    values = {"Ra": raw["passive"][0]["ra"]}
    for g in raw["genome"]:
        key = f"{g['name']}.{g['section']}"
        values[key if key in space.names else f"{g['name']}.all"] = g["value"]
    setup = StageSetup(
        cell=pvalb.name,
        morphology=str(pvalb.morphology),
        template=raw,
        space=space,
        fixed={},
        keep_mechanisms=None,
        targets=cell_targets(pvalb),
        protocol=get_fit_profile("quick").protocol,
    )
    genome = space.encode(values)
    return setup, genome, evaluate(setup, genome)


def test_published_model_reproduces_its_published_features(published, pvalb):
    """The fit's steps (-0.11 and 0.18 nA, 1 s) are the ones behind the published per-HoF features."""
    setup, _, result = published
    table = pvalb.hof_models[0].features
    f = result.features
    assert f["hyperpol.sag_amplitude"] == pytest.approx(table["hyperpol.sag_amplitude"], rel=0.05)
    assert f["hyperpol.steady_state_voltage_stimend"] == pytest.approx(table["hyperpol.steady_state_voltage_stimend"], abs=0.5)
    assert f["hyperpol.voltage_base"] == pytest.approx(table["hyperpol.voltage_base"], abs=0.5)
    assert abs(f["depol.Spikecount"] - table["depol.Spikecount"]) <= 4
    assert f["subthreshold.Spikecount"] == 0  # published threshold 0.016 nA: silent at 0.01 nA
    assert f["depol.AP1_width"] == pytest.approx(table["depol.AP1_width"], rel=0.15)
    assert len(result.errors) == len(setup.targets.names) and all(0 <= e < 250 for e in result.errors)
    assert result.total < 3.0  # a published model scores well under the documented sd rule
    assert passes_qc(result.features, setup.targets)
    assert not passes_qc({}, setup.targets)


def test_sweep_targets_average_repeated_sweeps(published, pvalb):
    setup, genome, result = published
    protocol = setup.protocol.step_protocol()
    from noble.sim import get_engine

    model_raw = setup.model_json(genome)
    from noble.fit.evaluate import hof_model_from_json

    engine = get_engine("arbor", discretization=setup.protocol.discretization)
    v = engine.simulate(hof_model_from_json(model_raw, pvalb.name), pvalb.morphology, [-0.11, 0.18], protocol)
    t = protocol.raw_time()

    def sweep(n, trace, amp):
        i = protocol.stimulus(amp, decimated=False)
        return LongSquareSweep(n, t, trace, i, protocol.stim_start, protocol.stim_end, amp, 1000 / protocol.dt)

    sweeps = [sweep(1, v[0], -0.11), sweep(2, v[0] + 2.0, -0.11), sweep(3, v[1], 0.18), sweep(4, v[1], 0.05)]
    targets = sweep_targets(sweeps, [m.features for m in pvalb.hof_models])
    by = {x.name: x for x in targets.targets}
    vb = result.features["hyperpol.voltage_base"]
    assert by["hyperpol.voltage_base"].value == pytest.approx(vb + 1.0, abs=1e-6)
    assert by["hyperpol.voltage_base"].sd == pytest.approx(max(math.sqrt(2.0), 0.05 * abs(vb + 1.0)))
    assert by["depol.Spikecount"].value == result.features["depol.Spikecount"]  # the 0.05 nA sweep is not used
    assert set(targets.steps) == {"hyperpol", "depol"}
    with pytest.raises(FitError, match="no sweep within 0.005 nA"):
        sweep_targets([sweep(5, v[1], 0.05)])


def test_feature_table_is_the_fallback_and_allen_needs_a_cached_file(pvalb, tmp_path, monkeypatch):
    monkeypatch.setenv("NOBLE_CACHE_DIR", str(tmp_path))
    assert resolve_targets(pvalb, "auto").names == cell_targets(pvalb).names
    with pytest.raises(FitError, match="Allen NWB file of specimen 689331391 is not in"):
        resolve_targets(pvalb, "allen")
    with pytest.raises(FitError, match="targets must be"):
        resolve_targets(pvalb, "nwb")


def test_simulated_features_are_named_by_step(published):
    setup, genome, _ = published
    passive_setup = StageSetup(
        **{**setup.__dict__, "targets": setup.targets.only_steps(["hyperpol"]), "keep_mechanisms": ("Ih",)}
    )
    feats = simulate_features(passive_setup, passive_setup.model_json(genome))
    assert set(feats) == set(passive_setup.targets.names)
    assert all(name.startswith("hyperpol.") for name in feats)
    assert np.isfinite(list(feats.values())).all()
