"""The embedding's settings at their boundaries, with the messages a user reads; scaler and template values."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from noble.embedding import (
    Embedding,
    EmbeddingError,
    EmbeddingSpec,
    FeatureScaler,
    StimulusTemplate,
    cell_feature_table,
    feature_rows,
    nerf_channels,
)


@pytest.mark.parametrize("kw, message", [
    ({"n_samples": 1}, "needs at least 2 samples, not 1"),
    ({"dt_ms": 0.0}, "dt must be a positive number of ms, not 0.0"),
    ({"dt_ms": math.inf}, "dt must be a positive number of ms, not inf"),
    ({"delay_ms": -1.0}, r"stimulus window -1.0 \+ 10.0 ms is not valid"),
    ({"duration_ms": 0.0}, r"stimulus window 2.0 \+ 0.0 ms is not valid"),
])
def test_stimulus_template_rejects_bad_grids(kw, message):
    with pytest.raises(EmbeddingError, match=message):
        StimulusTemplate(**{"n_samples": 20, "dt_ms": 1.0, "delay_ms": 2.0, "duration_ms": 10.0, **kw})


def test_stimulus_template_boundaries_and_window():
    t = StimulusTemplate(n_samples=2, dt_ms=0.5, delay_ms=0.0, duration_ms=0.5)  # the smallest valid grid
    np.testing.assert_array_equal(t.window(), [True, False])  # [delay, end): the end sample is outside
    w = StimulusTemplate(20, 1.0, 2.0, 10.0).window()
    assert w.sum() == 10 and w[2] and w[11] and not w[1] and not w[12]
    a = StimulusTemplate(20, 1.0, 2.0, 10.0)
    a.check_matches(StimulusTemplate(20, 1.0 + 1e-12, 2.0, 10.0), "x")  # within tolerance
    with pytest.raises(EmbeddingError, match="x.h5: dt_ms is 1.001, the model was trained with 1.0"):
        a.check_matches(StimulusTemplate(20, 1.001, 2.0, 10.0), "x.h5")
    with pytest.raises(EmbeddingError, match="delay_ms is 0.0, the model was trained with 2.0"):
        a.check_matches(StimulusTemplate(20, 1.0, 0.0, 10.0), "f")  # absolute tolerance near 0
    assert StimulusTemplate.from_dict(a.as_dict()) == a


@pytest.mark.parametrize("kw, message", [
    ({"features": ("slope", "slope")}, r"embedding features must be distinct, got \['slope', 'slope'\]"),
    ({"amplitude_frequencies": -1}, "the numbers of embedding frequencies must be >= 0"),
    ({"feature_frequencies": -1}, "the numbers of embedding frequencies must be >= 0"),
    ({"feature_frequencies": 0}, "features are embedded with feature_frequencies = 0: set it >= 1 or drop them"),
    ({"feature_range": (1.0, 1.0)}, r"feature_range must be increasing, not \(1.0, 1.0\)"),
])
def test_embedding_spec_rejects_bad_settings(kw, message):
    with pytest.raises(EmbeddingError, match=message):
        EmbeddingSpec(**kw)


def test_embedding_spec_boundaries_names_and_round_trip():
    none = EmbeddingSpec(features=(), amplitude_frequencies=0, feature_frequencies=0, include_current=False,
                         feature_range=[0, 1])
    assert none.in_channels == 0 and none.channel_names() == [] and none.feature_range == (0.0, 1.0)
    one = EmbeddingSpec(features=["slope"], amplitude_frequencies=1, feature_frequencies=2)
    assert one.features == ("slope",)
    assert one.channel_names() == ["current", "amplitude.sin.k0", "amplitude.cos.k0", "slope.sin.k0",
                                   "slope.cos.k0", "slope.sin.k1", "slope.cos.k1"]
    assert one.in_channels == 7
    d = one.as_dict()
    assert d["features"] == ["slope"] and d["feature_range"] == [0.5, 3.5] and d["in_channels"] == 7
    assert d["channels"] == one.channel_names()
    assert EmbeddingSpec.from_dict(d) == one
    assert EmbeddingSpec.from_dict({"features": ["a", "b"], "feature_range": [1, 2]}) == EmbeddingSpec(
        features=("a", "b"), feature_range=(1.0, 2.0))
    assert EmbeddingSpec.from_dict({}) == EmbeddingSpec()
    with pytest.raises(EmbeddingError, match=r"unknown embedding setting\(s\): \['colour', 'size'\]"):
        EmbeddingSpec.from_dict({"size": 1, "colour": 2})
    with pytest.raises(EmbeddingError, match="embedding records 6 channels, its settings give 7"):
        EmbeddingSpec.from_dict({**d, "in_channels": 6})


TABLE = {0: {"slope": 700.0, "intercept": 0.01}, 1: {"slope": 900.0, "intercept": 0.03},
         2: {"slope": 800.0, "intercept": 0.02}, 3: {"slope": 1000.0, "intercept": math.nan}}


def test_feature_scaler_values_in_numpy_and_torch():
    s = FeatureScaler.fit(TABLE, [2, 0, 1], ["slope", "intercept"], feature_range=(0.5, 3.5))
    assert s.fitted_on == (0, 1, 2) and s.minimum == (700.0, 0.01) and s.maximum == (900.0, 0.03)
    np.testing.assert_allclose(s.transform(np.array([[800.0, 0.01], [900.0, 0.04]])), [[2.0, 0.5], [3.5, 5.0]])
    t = s.transform(torch.tensor([[800.0, 0.01]], dtype=torch.float64))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    torch.testing.assert_close(t, torch.tensor([[2.0, 0.5]], dtype=torch.float64))
    np.testing.assert_allclose(s.inverse(np.array([[2.0, 0.5]])), [[800.0, 0.01]])
    np.testing.assert_allclose(s.inverse(s.transform([[750.0, 0.025]])), [[750.0, 0.025]])
    assert FeatureScaler.from_dict(s.as_dict()) == s
    assert FeatureScaler.from_dict({k: v for k, v in s.as_dict().items() if k != "fitted_on_hofs"}).fitted_on == ()
    empty = FeatureScaler.fit(TABLE, [], [])
    assert empty.names == () and empty.minimum == () and empty.fitted_on == ()
    with pytest.raises(EmbeddingError, match="cannot fit the feature scaler on an empty set of HoF models"):
        FeatureScaler.fit(TABLE, [], ["slope"])
    with pytest.raises(EmbeddingError, match=r"feature 'slope' is constant \(700.0\) over the training HoF models"):
        FeatureScaler.fit({0: {"slope": 700.0}, 1: {"slope": 700.0}}, [0, 1], ["slope"])


def test_feature_rows_errors_name_the_hof_and_feature():
    np.testing.assert_array_equal(feature_rows(TABLE, [1, 0], ["intercept", "slope"]), [[0.03, 900.0], [0.01, 700.0]])
    with pytest.raises(EmbeddingError, match="no features for HoF model 9 in the feature table"):
        feature_rows(TABLE, [9], ["slope"])
    with pytest.raises(EmbeddingError, match=r"HoF model 0 has no feature 'AHP' \(it has \['intercept', 'slope'\]"):
        feature_rows(TABLE, [0], ["AHP"])
    with pytest.raises(EmbeddingError, match=r"feature 'intercept' of HoF model 3 is not finite \(nan\)"):
        feature_rows(TABLE, [3], ["intercept"])


def test_cell_feature_table_selects_and_reports_missing_features():
    models = [SimpleNamespace(index=4, features={"slope": 1.0, "intercept": 2.0, "x": 3.0}),
              SimpleNamespace(index=7, features={"slope": 5.0})]
    cell = SimpleNamespace(name="cellA", hof_models=models)
    assert cell_feature_table(cell) == {4: {"slope": 1.0, "intercept": 2.0, "x": 3.0}, 7: {"slope": 5.0}}
    assert cell_feature_table(cell, ["slope"]) == {4: {"slope": 1.0}, 7: {"slope": 5.0}}
    with pytest.raises(EmbeddingError, match=r"cellA HoF model 7 has no feature\(s\) \['intercept'\]"):
        cell_feature_table(cell, ["slope", "intercept"])


def test_nerf_channels_values():
    p = torch.tensor([0.25, 1.0], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    out = nerf_channels(p, t, 3)
    assert out.shape == (2, 6, 3) and out.dtype == torch.float64
    for b in range(2):
        for k in range(3):
            arg = (2.0 ** k) * math.pi * float(p[b]) * t
            torch.testing.assert_close(out[b, 2 * k], torch.sin(arg))
            torch.testing.assert_close(out[b, 2 * k + 1], torch.cos(arg))


def test_embedding_forward_channels_and_checks():
    spec = EmbeddingSpec(features=("slope",), amplitude_frequencies=1, feature_frequencies=1)
    scaler = FeatureScaler(("slope",), (700.0,), (900.0,))
    tmpl = StimulusTemplate(n_samples=8, dt_ms=1.0, delay_ms=2.0, duration_ms=4.0)
    emb = Embedding(spec, scaler, tmpl)
    x = emb(torch.tensor([0.2], dtype=torch.float64), torch.tensor([[800.0]], dtype=torch.float64))
    assert x.shape == (1, 5, 8) and x.dtype == torch.float32
    np.testing.assert_allclose(x[0, 0].numpy(), 0.2 * 10.0 * tmpl.window(), rtol=1e-6)  # current, x current_scale
    grid = np.linspace(0.0, 2.0 * math.pi, 8)
    np.testing.assert_allclose(x[0, 1].numpy(), np.sin(math.pi * 2.0 * grid), atol=1e-6)  # p = 0.2 x 10
    np.testing.assert_allclose(x[0, 4].numpy(), np.cos(math.pi * 2.0 * grid), atol=1e-6)  # scaled slope 2.0
    assert "grid" not in emb.state_dict() and "window" not in emb.state_dict()
    with pytest.raises(EmbeddingError, match=r"expected 1 features \['slope'\], got 2"):
        emb(torch.tensor([0.2]), torch.tensor([[800.0, 1.0]]))
    with pytest.raises(EmbeddingError, match=r"feature scaler covers \['intercept'\], the embedding expects \['slope'\]"):
        Embedding(spec, FeatureScaler(("intercept",), (0.0,), (1.0,)), tmpl)
