"""Models on an FFT-friendly padded grid: same function on both paths, recorded in the card, never silent."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from noble.embedding import EmbeddingSpec, FeatureScaler, StimulusTemplate
from noble.fast.padding import pad_to
from noble.model import MODEL_PROFILES, ConfigError, FNOConfig, NobleModel

TABLE = {0: {"slope": 750.0, "intercept": 0.015}, 1: {"slope": 800.0, "intercept": 0.019}}
TEMPLATE = StimulusTemplate(n_samples=300, dt_ms=1.0, delay_ms=15.0, duration_ms=200.0)


def model(padded: int | None) -> NobleModel:
    torch.manual_seed(0)
    scaler = FeatureScaler.fit(TABLE, [0, 1], ("slope", "intercept"))
    cfg = replace(MODEL_PROFILES["quick"], padded_length=padded)
    return NobleModel(cfg, EmbeddingSpec(), scaler, TEMPLATE, TABLE, train_hofs=[0, 1])


def test_pad_to_holds_the_last_value():
    x = torch.arange(6.0).view(1, 2, 3)
    y = pad_to(x, 5)
    assert y.shape == (1, 2, 5) and y[0, 0].tolist() == [0, 1, 2, 2, 2] and y[0, 1, -1] == 5
    assert pad_to(x, None) is x and pad_to(x, 3) is x
    with pytest.raises(ValueError, match="longer"):
        pad_to(x, 2)


def test_padded_model_is_the_same_function_on_the_fast_fft_path():
    m = model(320)
    assert m.fno.spectral == "fft" and m.spectral_method("auto") == "fft"
    amp = torch.tensor([0.1, -0.05, 0.2])
    feats = torch.tensor([[750.0, 0.015], [800.0, 0.019], [760.0, 0.017]])
    with torch.no_grad():
        ref, out = m.reference_module()(amp, feats), m(amp, feats)
    assert ref.shape == (3, 300)
    assert float((ref - out).norm() / ref.norm()) < 1e-5


def test_padding_changes_the_function_so_it_is_never_applied_silently():
    amp, feats = torch.tensor([0.1]), torch.tensor([[750.0, 0.015]])
    plain, padded = model(None), model(320)
    padded.load_weight_tensors(plain.weight_tensors())
    with torch.no_grad():
        assert not torch.allclose(plain(amp, feats), padded(amp, feats))
    assert plain.fno.spectral == "dft"


def test_padded_length_is_in_the_card_and_reloads(tmp_path):
    from noble.checkpoint import build_card, load_model, save_model

    m = model(320)
    save_model(tmp_path, m, build_card(m, name="padded"))
    back = load_model(tmp_path)
    assert back.config.padded_length == 320
    amp, feats = torch.tensor([0.1]), torch.tensor([[750.0, 0.015]])
    with torch.no_grad():
        np.testing.assert_allclose(back(amp, feats).numpy(), m(amp, feats).numpy(), rtol=0, atol=1e-5)


def test_bad_padded_length_is_rejected():
    with pytest.raises(ConfigError, match="padded_length"):
        FNOConfig(padded_length=1)
