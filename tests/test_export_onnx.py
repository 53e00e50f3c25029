"""ONNX export: onnxruntime reproduces the PyTorch model within 1e-4, the card travels inside the file."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from noble.checkpoint import build_card, load_model, save_model  # noqa: E402
from noble.embedding import EmbeddingSpec, FeatureScaler, StimulusTemplate  # noqa: E402
from noble.export import ExportError, OnnxNoble, export_onnx, onnx_card  # noqa: E402
from noble.model import MODEL_PROFILES, NobleModel  # noqa: E402

TABLE = {0: {"slope": 750.0, "intercept": 0.015}, 1: {"slope": 800.0, "intercept": 0.019}}


def saved_model(tmp_path, padded=None, features=("slope", "intercept")):
    torch.manual_seed(3)
    tmpl = StimulusTemplate(n_samples=400, dt_ms=1.0, delay_ms=15.0, duration_ms=300.0)
    scaler = FeatureScaler.fit(TABLE, [0, 1], features)
    model = NobleModel(replace(MODEL_PROFILES["quick"], padded_length=padded), EmbeddingSpec(features=features),
                       scaler, tmpl, TABLE, train_hofs=[0, 1], cell="human_pvalb_689331391")
    out = tmp_path / f"model-{padded}-{len(features)}"
    save_model(out, model, build_card(model, name="onnx-test"))
    return out


@pytest.mark.parametrize("padded", [None, 432])
def test_onnxruntime_matches_pytorch(tmp_path, padded):
    model_dir = saved_model(tmp_path, padded)
    path = export_onnx(model_dir, tmp_path / "m.onnx")
    model = load_model(model_dir)
    amps = np.array([-0.11, 0.0, 0.05, 0.1, 0.2, 0.28, 0.15])  # another batch size than the export's
    hofs = [0, 1, 0, 1, 0, 1, 0]
    ref = model.predict(amps, hofs=hofs, engine="reference")
    got = OnnxNoble(path, threads=1).predict(amps, model.features_for_hofs(hofs))
    assert got.shape == ref.shape == (7, 400)
    assert float(np.linalg.norm(got - ref) / np.linalg.norm(ref)) < 1e-4
    # the 1x1 layers stay convolutions in the graph (onnxruntime runs them faster than batched products)
    import onnx

    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ops.count("Conv") >= 4 and "Einsum" not in ops


def test_card_is_embedded_and_inputs_are_checked(tmp_path):
    model_dir = saved_model(tmp_path)
    path = export_onnx(model_dir, tmp_path / "m.onnx")
    card = onnx_card(path)
    assert card == load_model(model_dir).card
    runner = OnnxNoble(path)
    assert runner.feature_names == ("slope", "intercept")
    with pytest.raises(ExportError, match="expected 2 features"):
        runner.predict([0.1], np.zeros((1, 3)))


def test_cli_export_checks_against_pytorch(tmp_path, capsys):
    from noble.cli import main

    model_dir = saved_model(tmp_path)
    assert main(["export", "--onnx", str(model_dir), str(tmp_path / "cli.onnx")]) == 0
    out = capsys.readouterr().out
    rel = float(out.split("relative difference ")[1].split()[0])
    assert rel < 1e-4 and (tmp_path / "cli.onnx").is_file()
