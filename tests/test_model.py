"""The NOBLE model: paper architecture, profiles, configurations and the predictor API."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from noble.embedding import EmbeddingError, EmbeddingSpec
from noble.model import MODEL_PROFILES, ConfigError, FNOConfig, build_fno, real_parameter_count
from noble.training.config import TrainConfig, available_configs, load_config
from conftest import small_model


pytestmark = pytest.mark.usefixtures("one_torch_thread")



def test_paper_architecture_has_the_papers_size():
    fno = build_fno(FNOConfig(), 23)
    assert 1.75e6 < real_parameter_count(fno) < 1.85e6  # paper: 1.8M
    assert fno.n_layers == 12 and fno.hidden_channels == 24 and fno.projection_channels == 96
    assert fno.positional_embedding is not None  # neuraloperator's grid channel
    spectral = fno.fno_blocks.convs[0].weight
    assert spectral.shape[-1] == 129  # 256 modes -> 129 rfft coefficients


def test_profiles_shrink_the_model():
    sizes = {name: real_parameter_count(build_fno(cfg, 23)) for name, cfg in MODEL_PROFILES.items()}
    assert sizes["quick"] < sizes["laptop"] < sizes["paper"]


def test_forward_and_predict_give_millivolts_on_the_grid():
    model = small_model()
    out = model(torch.tensor([0.1, -0.05]), torch.tensor([[750.0, 0.015], [800.0, 0.019]]))
    assert out.shape == (2, 300) and out.dtype == torch.float32
    by_hof = model.predict([0.1, -0.05], hofs=[0, 1])
    by_name = model.predict([0.1, -0.05], features={"intercept": [0.015, 0.019], "slope": [750.0, 800.0]})
    np.testing.assert_allclose(by_hof, out.detach().numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(by_hof, by_name)
    assert model.predict([0.1], hofs=5).shape == (1, 300)


def test_predict_rejects_other_feature_names_and_shapes():
    model = small_model()
    with pytest.raises(EmbeddingError, match="missing \\['intercept'\\].*unexpected \\['I_thr'\\]"):
        model.predict([0.1], features={"slope": 750.0, "I_thr": 0.015})
    with pytest.raises(EmbeddingError, match="either"):
        model.predict([0.1])
    with pytest.raises(EmbeddingError, match="no features for HoF model 7"):
        model.predict([0.1], hofs=[7])
    with pytest.raises(EmbeddingError, match="shape"):
        model.predict([0.1, 0.2], features=np.zeros((2, 3)))


def test_shipped_configurations_load_with_paper_defaults():
    assert {"paper", "laptop", "quick"} <= set(available_configs())
    paper = load_config("paper")
    assert paper.model == FNOConfig() and paper.embedding == EmbeddingSpec()
    t = paper.training
    assert (t.epochs, t.batch_size, t.learning_rate, t.plateau_factor, t.plateau_patience, t.loss_p) == (300, 64, 0.004, 0.4, 4, 4)
    assert TrainConfig() == t.__class__(**{**t.__dict__})
    quick = load_config("quick")
    assert quick.model.n_layers <= 4 and quick.model.n_modes <= 64


def test_unknown_configuration_settings_are_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": {"n_layer": 3}}))
    with pytest.raises(ConfigError, match="n_layer"):
        load_config(bad)
    with pytest.raises(ConfigError, match="unknown configuration 'nope'"):
        load_config("nope")
