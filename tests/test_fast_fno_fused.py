"""The fused Triton path computes the same function as neuraloperator's FNO.

Runs on a GPU when there is one, else in Triton's CPU interpreter; skipped where Triton is not installed.
"""
from __future__ import annotations

import os
import sys

import pytest
import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# Without a GPU the kernels run in Triton's interpreter, which must be chosen before Triton is imported.
_IMPORTED_COMPILED = "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1"
if DEVICE == "cpu" and not _IMPORTED_COMPILED:
    os.environ["TRITON_INTERPRET"] = "1"
pytest.importorskip("triton")

from neuralop.models import FNO  # noqa: E402

from noble.fast import FastFNO  # noqa: E402
from noble.fast.fused import fused_forward  # noqa: E402
from noble.fast.runtime import precision  # noqa: E402

if DEVICE == "cpu" and _IMPORTED_COMPILED:
    pytest.skip("Triton was imported for a GPU before this module; its interpreter cannot be enabled",
                allow_module_level=True)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


@pytest.mark.parametrize("n_points, embedding", [(150, "grid"), (64, None)])
def test_fused_forward_matches_neuralop(n_points: int, embedding) -> None:
    torch.manual_seed(0)
    fno = FNO(n_modes=(16,), in_channels=3, out_channels=2, hidden_channels=8, n_layers=3,
              projection_channel_ratio=4, positional_embedding=embedding).to(DEVICE)
    with torch.no_grad():
        for gate in fno.fno_blocks.channel_mlp_skips:
            gate.weight.normal_()
    fast = FastFNO.from_neuralop(fno)
    x = torch.randn(2, 3, n_points, device=DEVICE)
    with torch.no_grad(), precision("fp32", DEVICE):
        reference = fno(x)
    assert rel(fused_forward(fast, x, "fp32"), reference) < 1e-5
    bf16 = fused_forward(fast, x, "bf16")
    assert bf16.dtype == torch.float32 and 1e-6 < rel(bf16, reference) < 5e-2
    with pytest.raises(ValueError, match="expected input of shape"):
        fused_forward(fast, x[:, :2], "fp32")


def test_bench_predictor_runs_the_fused_path() -> None:
    from noble.bench.inference import Variant, make_predictor
    from noble.embedding import EmbeddingSpec, FeatureScaler, StimulusTemplate
    from noble.model import NobleModel, model_profile

    spec = EmbeddingSpec()
    torch.manual_seed(1)
    scaler = FeatureScaler(spec.features, (740.0, 0.0139), (850.0, 0.0195))
    model = NobleModel(model_profile("quick"), spec, scaler, StimulusTemplate(n_samples=600, dt_ms=0.9, delay_ms=15.0, duration_ms=400.0))
    amps = torch.tensor([0.12], dtype=torch.float64)
    feats = torch.tensor([[790.0, 0.017]], dtype=torch.float64)
    reference = make_predictor(model, Variant("neuralop", "fp32"), DEVICE)(amps, feats)
    fused = make_predictor(model, Variant("fused", "fp32"), DEVICE)(amps, feats)
    assert fused.shape == reference.shape == (1, 600)
    assert rel(fused, reference) < 1e-5


def test_fused_training_gradients_match_the_eager_path() -> None:
    from noble.fast.fused import fused_train_forward

    torch.manual_seed(2)
    fno = FNO(n_modes=(16,), in_channels=3, out_channels=2, hidden_channels=8, n_layers=3,
              projection_channel_ratio=4).to(DEVICE)
    with torch.no_grad():
        for gate in fno.fno_blocks.channel_mlp_skips:
            gate.weight.normal_()
    eager, fused = FastFNO.from_neuralop(fno), FastFNO.from_neuralop(fno)
    x = torch.randn(2, 3, 150, device=DEVICE)
    target = torch.randn(2, 2, 150, device=DEVICE)
    xe, xf = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    with precision("fp32", DEVICE):
        ((eager(xe) - target) ** 4).sum().backward()
        ((fused_train_forward(fused, xf, "fp32") - target) ** 4).sum().backward()
    assert rel(xf.grad, xe.grad) < 1e-5
    for (name, p), q in zip(eager.named_parameters(), fused.parameters()):
        assert rel(q.grad, p.grad) < 1e-5, name
