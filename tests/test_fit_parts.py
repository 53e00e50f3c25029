"""Fit building blocks without simulation: prior bounds, targets, model JSON, the checkpointed evolution."""
from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pytest

from noble.data.params import parse_model_parameters
from noble.fit import (
    EvolutionSettings,
    FitError,
    FreeParameter,
    ModelTemplate,
    ParameterSpace,
    build_targets,
    cell_targets,
    evolve,
    prior_space,
)


@pytest.fixture(scope="module")
def templates(pvalb):
    return [ModelTemplate.from_file(m.path) for m in pvalb.hof_models]


def test_bounds_lower_above_upper_is_rejected():
    with pytest.raises(FitError, match=r"gbar_NaV\.soma: lower bound 2 exceeds upper bound 1"):
        FreeParameter("gbar_NaV.soma", 2.0, 1.0, log=True)


@pytest.mark.parametrize("lower", [0.0, -1e-3])
def test_log_scale_bounds_must_be_positive(lower):
    with pytest.raises(FitError, match="log-scale bounds must be positive"):
        FreeParameter("g_pas.all", lower, 1e-4, log=True)


def test_non_finite_bounds_and_bad_widening_are_rejected(templates):
    with pytest.raises(FitError, match="finite"):
        FreeParameter("cm.soma", math.nan, 1.0, log=False)
    with pytest.raises(FitError, match="widening factor"):
        prior_space(templates, widen=0.5)


def test_prior_covers_every_published_model_and_logs_conductances(templates):
    space = prior_space(templates, widen=2.0)
    flat = [t.raw for t in templates]
    assert "Ra" in space.names and "g_pas.all" in space.names and "gbar_NaV.soma" in space.names
    for p in space.parameters:
        assert p.log == (p.genome_name.startswith("gbar_") or p.genome_name == "g_pas"), p.name
        assert p.lower < p.upper
    for raw in flat:
        values = {"Ra": raw["passive"][0]["ra"]}
        for g in raw["genome"]:
            key = f"{g['name']}.{g['section']}"
            values[key if key in space.names else f"{g['name']}.all"] = g["value"]
        for p in space.parameters:
            assert p.lower <= values[p.name] <= p.upper, p.name
    nav = next(p for p in space.parameters if p.name == "gbar_NaV.soma")
    published = [g["value"] for raw in flat for g in raw["genome"] if (g["name"], g["section"]) == ("gbar_NaV", "soma")]
    assert nav.lower == pytest.approx(min(published) / 2) and nav.upper == pytest.approx(max(published) * 2)


def test_individual_becomes_a_model_file_the_parser_reads(templates, pvalb):
    space = prior_space(templates)
    model = pvalb.hof_models[7]
    raw = templates[7].raw
    values = {"Ra": raw["passive"][0]["ra"]}
    for g in raw["genome"]:
        key = f"{g['name']}.{g['section']}"
        values[key if key in space.names else f"{g['name']}.all"] = g["value"]
    genome = space.encode(values)
    built = templates[0].build(space.decode(genome))
    parsed = parse_model_parameters(built, model.path)
    expected = model.params.as_flat_dict()
    got = parsed.as_flat_dict()
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key
    passive_only = templates[0].build(space.subset(passive=True).decode([0.5] * len(space.subset(passive=True))), {"Ih"})
    assert parse_model_parameters(passive_only, model.path).mechanism_names() == {"Ih"}


def test_unknown_parameter_is_rejected(templates):
    with pytest.raises(FitError, match="match no genome entry"):
        templates[0].build({"gbar_Nope.soma": 1.0})


def test_targets_from_the_cell_table(pvalb):
    targets = cell_targets(pvalb)
    assert "hyperpol.sag_amplitude" in targets.names and "depol.Spikecount" in targets.names
    assert "slope" not in targets.names and "intercept" not in targets.names
    assert targets.steps == ["hyperpol", "depol", "subthreshold"]
    assert dict(targets.amplitudes) == pytest.approx({"hyperpol": -0.11, "depol": 0.18, "subthreshold": 0.01})
    assert targets.names[-1] == "subthreshold.Spikecount"  # silent at half the experimental F-I threshold
    assert targets.z_scores({"subthreshold.Spikecount": 3.0})[-1] == 3.0
    by_name = {t.name: t for t in targets.targets}
    spike = by_name["depol.Spikecount"]
    hof_sd = float(np.std([m.features["depol.Spikecount"] for m in pvalb.hof_models]))
    assert spike.value == 69 and spike.sd == pytest.approx(max(hof_sd, 0.05 * 69))
    assert by_name["depol.depol_block"].sd == pytest.approx(0.05)  # zero spread: 5% of the value
    z = targets.z_scores({"depol.Spikecount": 69 + 2 * spike.sd})
    assert z[targets.names.index("depol.Spikecount")] == pytest.approx(2.0)
    assert z[targets.names.index("depol.AP1_width")] == 250.0  # missing feature: the maximum score


def test_empty_experimental_features_are_rejected(pvalb):
    with pytest.raises(FitError, match="experimental feature table is empty"):
        build_targets({})
    with pytest.raises(FitError, match="no finite experimental feature"):
        build_targets({"hyperpol.sag_amplitude": math.nan, "slope": 380.0})
    empty = dataclasses.replace(pvalb, experimental_features={})
    with pytest.raises(FitError, match="experimental_ephys_features.csv: cell human_pvalb_689331391 has no experimental"):
        cell_targets(empty)


def _sphere_batch(genomes, on_done):
    """Two conflicting objectives on the unit cube (distances to two corners), no simulation."""
    out = []
    for g in genomes:
        x = np.asarray(g)
        out.append(([float(np.sum(x**2)), float(np.sum((1 - x) ** 2))], {"x0": float(x[0])}))
        if on_done:
            on_done()
    return out


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("algorithm", ["ibea", "nsga2"])
def test_interrupted_evolution_resumes_to_the_same_result(tmp_path, algorithm):
    settings = EvolutionSettings(population=8, generations=6, algorithm=algorithm, n_hof=4)
    full = evolve("s", 5, ["a", "b"], _sphere_batch, settings, 7, tmp_path / "full.json", progress=False)

    def stop_after_3(stage, gen, row):
        if gen == 3:
            raise _Interrupt

    random.seed(123)
    with pytest.raises(_Interrupt):
        evolve("s", 5, ["a", "b"], _sphere_batch, settings, 7, tmp_path / "cut.json", stop_after_3, progress=False)
    outside = random.random()  # the fit does not consume or reset the caller's random stream
    random.seed(123)
    assert random.random() == outside
    resumed = evolve("s", 5, ["a", "b"], _sphere_batch, settings, 7, tmp_path / "cut.json", progress=False)
    assert [h.genome for h in resumed.hall_of_fame] == [h.genome for h in full.hall_of_fame]
    assert [h.errors for h in resumed.hall_of_fame] == [h.errors for h in full.hall_of_fame]
    assert resumed.history == full.history
    assert resumed.n_evaluations == full.n_evaluations == 8 * 7
    assert [r["generation"] for r in full.history] == list(range(7))


def _target_batch(target):
    """Two objectives that share one optimum at ``target`` (unit cube): squared distance and L1 distance."""
    target = np.asarray(target)

    def batch(genomes, on_done):
        out = []
        for g in genomes:
            d = np.asarray(g) - target
            out.append(([float(np.sum(d**2)), float(np.sum(np.abs(d)))], {}))
            if on_done:
                on_done()
        return out

    return batch


@pytest.mark.parametrize("algorithm", ["ibea", "nsga2"])
def test_evolution_beats_random_search_of_the_same_budget(tmp_path, algorithm):
    """Selection and variation do work: with the same number of evaluations, the evolved best is far closer
    to the optimum than the best of uniform random genomes (median over seeds), and far below generation 0."""
    n_genes, settings = 6, EvolutionSettings(population=12, generations=15, algorithm=algorithm, n_hof=3)
    target = np.linspace(0.2, 0.8, n_genes)
    evolved, searched, first = [], [], []
    for seed in range(5):
        out = evolve("t", n_genes, ["l2", "l1"], _target_batch(target), settings, seed,
                     tmp_path / f"{algorithm}_{seed}.json", progress=False)
        evolved.append(out.hall_of_fame[0].total)
        first.append(out.history[0]["min_error"])
        genomes = np.random.default_rng(seed).random((out.n_evaluations, n_genes))
        totals = [np.mean(e) for e, _ in _target_batch(target)(genomes.tolist(), None)]
        searched.append(min(totals))
    assert np.median(evolved) < 0.5 * np.median(searched), (evolved, searched)
    assert np.median(evolved) < 0.25 * np.median(first), (evolved, first)


def test_hall_of_fame_holds_the_best_models_ever_scored(tmp_path):
    """Checked against an independent log of every evaluation: the hall of fame is the n_hof lowest mean
    errors ever scored (best first), and each generation's best_error is the lowest scored up to it."""
    scored: list[tuple[tuple[float, ...], float]] = []
    per_generation: list[int] = []
    inner = _target_batch(np.full(4, 0.3))

    def logging_batch(genomes, on_done):
        results = inner(genomes, on_done)
        scored.extend((tuple(g), float(np.mean(e))) for g, (e, _) in zip(genomes, results))
        per_generation.append(len(scored))
        return results

    settings = EvolutionSettings(population=6, generations=5, n_hof=4)
    out = evolve("h", 4, ["l2", "l1"], logging_batch, settings, 3, tmp_path / "h.json", progress=False)
    unique = {}
    for genome, total in scored:
        unique.setdefault(genome, total)
    expected = sorted(unique.items(), key=lambda item: item[1])[: settings.n_hof]
    assert [tuple(h.genome) for h in out.hall_of_fame] == [g for g, _ in expected]
    assert [h.total for h in out.hall_of_fame] == pytest.approx([t for _, t in expected])
    for row, n_scored in zip(out.history, per_generation):
        assert row["best_error"] == pytest.approx(min(t for _, t in scored[:n_scored]))
    assert out.history[-1]["best_error"] < out.history[0]["best_error"]


def test_checkpoint_of_another_fit_is_refused(tmp_path):
    settings = EvolutionSettings(population=4, generations=1, n_hof=2)
    evolve("s", 3, ["a", "b"], _sphere_batch, settings, 1, tmp_path / "cp.json", progress=False)
    with pytest.raises(FitError, match="belongs to another fit"):
        evolve("s", 3, ["a", "b"], _sphere_batch, settings, 2, tmp_path / "cp.json", progress=False)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(FitError, match="corrupt checkpoint"):
        evolve("s", 3, ["a", "b"], _sphere_batch, settings, 1, tmp_path / "bad.json", progress=False)


def test_bad_evolution_settings_are_rejected():
    with pytest.raises(FitError, match="unknown algorithm"):
        EvolutionSettings(population=4, generations=1, algorithm="cma")
    with pytest.raises(FitError, match="population must be >= 2"):
        EvolutionSettings(population=1, generations=1)
    with pytest.raises(FitError, match="parameter space is empty"):
        ParameterSpace(())


def _square(x: float) -> float:
    return x * x


def test_dask_scheduler_backend_keeps_submission_order():
    distributed = pytest.importorskip("distributed")
    from noble.fit.parallel import make_mapper

    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        done = []
        with make_mapper(scheduler=cluster.scheduler_address) as mapper:
            assert mapper.description.startswith("Dask scheduler")
            assert mapper.map(_square, [3.0, 1.0, 2.0], lambda: done.append(1)) == [9.0, 1.0, 4.0]
        assert len(done) == 3
    with pytest.raises(FitError, match="workers must be >= 1"):
        make_mapper(workers=0)


def test_profiles_and_overrides():
    from noble.fit import PROFILES, get_fit_profile

    paper = get_fit_profile("paper")
    assert (paper.passive.population, paper.passive.generations) == (4096, 50)
    assert (paper.active.population, paper.active.generations, paper.active.n_hof) == (4096, 200, 20)
    assert paper.seeds == (1, 2, 3) and paper.protocol.discretization == "paper" and paper.protocol.dt == 0.02
    small = PROFILES["demo"].with_overrides(active_population=8, passive_generations=2, widen=3.0)
    assert (small.active.population, small.passive.generations, small.widen) == (8, 2, 3.0)
    assert small.active.generations == PROFILES["demo"].active.generations
    with pytest.raises(FitError, match="unknown fit profile 'huge'"):
        get_fit_profile("huge")
