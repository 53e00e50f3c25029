"""Pipeline profiles: complete, ordered by size, inside the simulated range, the paper's protocol at paper scale."""
from __future__ import annotations

import dataclasses

import pytest

from noble.pipeline.profiles import PROFILE_NAMES, PROFILES, Profile, default_profile, get_profile
from noble.sim.protocol import AMPLITUDE_RANGE


def test_every_profile_is_defined_with_its_name():
    assert set(PROFILES) == set(PROFILE_NAMES) == {"quick", "laptop", "paper"}
    for name, prof in PROFILES.items():
        assert isinstance(prof, Profile) and prof.name == name
        assert prof.as_dict()["name"] == name


def test_profiles_grow_from_quick_to_paper():
    q, l, p = (PROFILES[n] for n in ("quick", "laptop", "paper"))
    assert q.n_train_samples < l.n_train_samples < p.n_train_samples
    assert q.n_test_samples_per_hof <= l.n_test_samples_per_hof <= p.n_test_samples_per_hof
    assert len(q.fi_amplitudes) <= len(l.fi_amplitudes) <= len(p.fi_amplitudes)
    assert q.n_hull_samples <= l.n_hull_samples == p.n_hull_samples == 200  # paper: 200 hull samples
    assert p.n_neighbourhood_samples == 50


def test_paper_profile_is_the_papers_protocol():
    p = PROFILES["paper"]
    assert p.n_train_samples == 75_600
    assert p.n_train_hofs is None and p.n_test_hofs is None  # all 50 train and 10 test HoFs
    assert p.model_profile == "paper" and p.epochs is None and p.max_minutes is None
    assert p.discretization == "paper" and p.finetune_epochs is None
    assert PROFILES["laptop"].discretization == "paper"


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_fi_grid_inside_validated_range_with_the_trace_panel_amplitudes(name):
    amps = PROFILES[name].fi_amplitudes
    lo, hi = AMPLITUDE_RANGE
    assert all(lo - 1e-12 <= a <= hi + 1e-12 for a in amps)
    assert list(amps) == sorted(amps)
    for needed in (0.1, -0.11):  # Fig 3B traces
        assert any(abs(a - needed) < 1e-9 for a in amps)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_discretization_is_valid(name):
    d = PROFILES[name].discretization
    assert d == "paper" or (d.startswith("max_extent:") and float(d.split(":")[1]) > 0)


def test_get_profile_overrides_and_errors():
    q = get_profile("quick", epochs=PROFILES["quick"].epochs + 7)
    assert q.epochs == PROFILES["quick"].epochs + 7 and q.name == "quick"
    assert q.n_train_samples == PROFILES["quick"].n_train_samples
    assert get_profile("laptop") is PROFILES["laptop"]
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        get_profile("huge")
    with pytest.raises(TypeError):
        get_profile("quick", no_such_field=1)


def test_profiles_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROFILES["quick"].epochs = 100  # type: ignore[misc]


def test_default_profile_follows_the_hardware():
    import torch

    assert default_profile() == ("paper" if torch.cuda.is_available() else "laptop")
