"""The NOBLE embedding: hand-computed channel values, channel counts, feature scaling on train HoFs only."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from noble.sim.protocol import PAPER_TEMPLATE
from noble.embedding import (
    Embedding,
    EmbeddingError,
    EmbeddingSpec,
    FeatureScaler,
    StimulusTemplate,
    cell_feature_table,
    nerf_channels,
)
from noble.training.config import available_configs, load_config


pytestmark = pytest.mark.usefixtures("one_torch_thread")

TABLE = {0: {"a": 1.0, "b": 10.0}, 1: {"a": 3.0, "b": 20.0}, 2: {"a": 2.0, "b": 40.0}, 9: {"a": 100.0, "b": -5.0}}


def test_embedding_matches_a_hand_computed_case():
    template = StimulusTemplate(n_samples=5, dt_ms=1.0, delay_ms=1.0, duration_ms=2.0)  # step at samples 1, 2
    spec = EmbeddingSpec(features=("a", "b"), amplitude_frequencies=2, feature_frequencies=1)
    scaler = FeatureScaler.fit(TABLE, [0, 1, 2], ("a", "b"))
    emb = Embedding(spec, scaler, template)
    x = emb(torch.tensor([0.05]), torch.tensor([[2.0, 40.0]], dtype=torch.float64))[0].double()
    assert x.shape == (1 + 4 + 2 + 2, 5)
    t = [0.0, math.pi / 2, math.pi, 3 * math.pi / 2, 2 * math.pi]  # linspace(0, 2*pi, 5)
    p_amp = 0.05 * 10  # 0.1 nA units
    p_a = 0.5 + (2.0 - 1.0) * 3.0 / (3.0 - 1.0)  # 2.0
    p_b = 3.5  # the maximum of b over the training HoFs
    expected = [
        [0.0, 0.5, 0.5, 0.0, 0.0],  # raw current: 0.05 nA * 10 inside [1, 3) ms
        [math.sin(math.pi * p_amp * tj) for tj in t],
        [math.cos(math.pi * p_amp * tj) for tj in t],
        [math.sin(2 * math.pi * p_amp * tj) for tj in t],
        [math.cos(2 * math.pi * p_amp * tj) for tj in t],
        [math.sin(math.pi * p_a * tj) for tj in t],
        [math.cos(math.pi * p_a * tj) for tj in t],
        [math.sin(math.pi * p_b * tj) for tj in t],
        [math.cos(math.pi * p_b * tj) for tj in t],
    ]
    np.testing.assert_allclose(x.numpy(), np.array(expected), atol=1e-6)
    assert spec.channel_names()[:3] == ["current", "amplitude.sin.k0", "amplitude.cos.k0"]


def test_nerf_channels_interleave_sin_and_cos_per_frequency():
    t = torch.linspace(0, 2 * math.pi, 7, dtype=torch.float64)
    ch = nerf_channels(torch.tensor([1.3], dtype=torch.float64), t, 3)[0]
    for k in range(3):
        torch.testing.assert_close(ch[2 * k], torch.sin(2**k * math.pi * 1.3 * t))
        torch.testing.assert_close(ch[2 * k + 1], torch.cos(2**k * math.pi * 1.3 * t))


def test_scaler_is_fitted_on_the_training_hofs_only():
    scaler = FeatureScaler.fit(TABLE, [0, 1, 2], ("a", "b"))
    assert scaler.minimum == (1.0, 10.0) and scaler.maximum == (3.0, 40.0)
    assert scaler.fitted_on == (0, 1, 2)
    scaled = scaler.transform(np.array([[1.0, 10.0], [3.0, 40.0], [100.0, -5.0]]))
    np.testing.assert_allclose(scaled[:2], [[0.5, 0.5], [3.5, 3.5]])
    assert scaled[2, 0] > 3.5  # the test HoF 9 lies outside and does not move the range
    np.testing.assert_allclose(scaler.inverse(scaled), [[1.0, 10.0], [3.0, 40.0], [100.0, -5.0]])


def test_pvalb_scaler_on_train_split(pvalb):
    table = cell_feature_table(pvalb, ("slope", "intercept"))
    scaler = FeatureScaler.fit(table, pvalb.split.train, ("slope", "intercept"))
    train = np.array([[table[h]["slope"], table[h]["intercept"]] for h in pvalb.split.train])
    assert scaler.minimum == tuple(train.min(axis=0)) and scaler.maximum == tuple(train.max(axis=0))
    assert not set(scaler.fitted_on) & set(pvalb.split.test)
    test = np.array([[table[h]["slope"], table[h]["intercept"]] for h in pvalb.split.test])
    assert np.all(scaler.transform(test) >= 0.5 - 1e-9) and np.all(scaler.transform(test) <= 3.5 + 1e-9)
    # the ablation feature exists for every HoF model
    assert len(cell_feature_table(pvalb, ("slope", "intercept", "depol.AHP_depth"))) == 60


def test_channel_counts_of_the_paper_and_the_table1_ablation():
    assert EmbeddingSpec().in_channels == 23
    counts = {name: load_config(name).embedding.in_channels for name in available_configs() if name.startswith("ablation")}
    assert counts == {"ablation_none": 19, "ablation_slope": 21, "ablation_intercept": 21, "ablation_both": 23,
                      "ablation_ahp": 25}
    assert load_config("ablation_ahp").embedding.features == ("slope", "intercept", "depol.AHP_depth")


def test_bad_inputs_fail_loudly():
    with pytest.raises(EmbeddingError, match="no feature 'c'"):
        FeatureScaler.fit(TABLE, [0, 1], ("a", "c"))
    with pytest.raises(EmbeddingError, match="constant"):
        FeatureScaler.fit({0: {"a": 1.0}, 1: {"a": 1.0}}, [0, 1], ("a",))
    scaler = FeatureScaler.fit(TABLE, [0, 1, 2], ("b", "a"))
    with pytest.raises(EmbeddingError, match="order"):
        Embedding(EmbeddingSpec(features=("a", "b")), scaler, PAPER_TEMPLATE)
    with pytest.raises(EmbeddingError, match="dt_ms is 0.1"):
        PAPER_TEMPLATE.check_matches(StimulusTemplate(8583, 0.1, 15.0, 400.0), "data.h5")
