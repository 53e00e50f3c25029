"""The fast FNO path computes the same function, and the same gradients, as neuraloperator's FNO."""
from __future__ import annotations

import pytest
import torch
from neuralop.models import FNO

from noble.fast import FastFNO, FastFNOConfig, dft_matrices, kept_modes
from noble.fast.convert import config_from_neuralop
from noble.fast.runtime import precision

SMALL = dict(n_modes=(16,), in_channels=3, out_channels=2, hidden_channels=8, n_layers=3, projection_channel_ratio=4)
PAPER = dict(n_modes=(256,), in_channels=23, out_channels=1, hidden_channels=24, n_layers=12,
             projection_channel_ratio=4)


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors: one thread avoids contention on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def reference(seed: int = 0, **overrides) -> FNO:
    """A neuralop FNO with non-trivial soft-gating weights (they start at 1)."""
    torch.manual_seed(seed)
    fno = FNO(**{**SMALL, **overrides})
    with torch.no_grad():
        for gate in fno.fno_blocks.channel_mlp_skips:
            gate.weight.normal_()
    return fno


@pytest.mark.parametrize("n_points", [257, 64, 20, 9])
@pytest.mark.parametrize("spectral", ["dft", "fft", "czt"])
def test_small_config_matches_neuralop(n_points: int, spectral: str) -> None:
    # 257 keeps 9 of 129 modes; 20 and 9 have fewer rfft modes than n_modes asks for (neuralop truncates)
    fno = reference()
    fast = FastFNO.from_neuralop(fno, spectral=spectral)
    x = torch.randn(3, SMALL["in_channels"], n_points)
    with torch.no_grad(), precision("fp32"):
        assert rel(fast(x), fno(x)) < 1e-5


def test_cpu_chunking_gives_the_same_result() -> None:
    fast = FastFNO.from_neuralop(reference(seed=2))
    x = torch.randn(5, SMALL["in_channels"], 90)
    with torch.no_grad():
        fast.cpu_chunk = 0
        whole = fast(x)
        fast.cpu_chunk = 2
        chunked = fast(x)
    assert chunked.shape == whole.shape == (5, SMALL["out_channels"], 90)
    assert rel(chunked, whole) < 1e-6


def test_without_positional_embedding() -> None:
    fno = reference(positional_embedding=None)
    fast = FastFNO.from_neuralop(fno)
    assert not fast.config.positional_embedding
    x = torch.randn(2, SMALL["in_channels"], 100)
    with torch.no_grad():
        assert rel(fast(x), fno(x)) < 1e-5


def test_paper_config_matches_neuralop_at_batch_one() -> None:
    torch.manual_seed(1)
    fno = FNO(**PAPER).eval()
    fast = FastFNO.from_neuralop(fno)
    assert fast.config == FastFNOConfig.paper()
    assert sum(p.numel() for p in fast.parameters()) == sum(
        p.numel() * (2 if p.is_complex() else 1) for p in fno.parameters())
    x = torch.randn(1, 23, 8583)
    with torch.no_grad(), precision("fp32"):
        assert rel(fast(x), fno(x)) < 1e-4


def test_truncated_dft_matches_rfft_and_irfft() -> None:
    for n, modes in [(8583, 256), (64, 256), (65, 30)]:
        k = kept_modes(n, modes)
        assert k == min(modes // 2 + 1, n // 2 + 1)
        forward, inverse = dft_matrices(n, k, dtype=torch.float64)
        x = torch.randn(4, n, dtype=torch.float64)
        spec = torch.fft.rfft(x, norm="forward")[:, :k]
        assert torch.allclose(x @ forward, torch.cat([spec.real, spec.imag], dim=1), atol=1e-12)
        coeffs = torch.randn(4, k, dtype=torch.complex128)
        full = torch.zeros(4, n // 2 + 1, dtype=torch.complex128)
        full[:, :k] = coeffs
        expected = torch.fft.irfft(full, n=n, norm="forward")
        assert torch.allclose(torch.cat([coeffs.real, coeffs.imag], dim=1) @ inverse, expected, atol=1e-9)
    with pytest.raises(ValueError, match="cannot keep"):
        dft_matrices(10, 7)


def test_chirp_z_is_the_exact_truncated_dft_at_any_length() -> None:
    from noble.fast.chirpz import ChirpZ, smooth_length

    assert smooth_length(8583 + 129 - 1) == 8748 and smooth_length(1) == 1 and smooth_length(11) == 12
    for n, modes in [(8583, 256), (64, 256), (65, 30), (9, 4)]:  # (64, 256) keeps the Nyquist mode
        k = kept_modes(n, modes)
        cz = ChirpZ(n, k, dtype=torch.float64)
        forward, inverse = dft_matrices(n, k, dtype=torch.float64)
        x = torch.randn(2, 3, n, dtype=torch.float64)
        assert torch.allclose(cz.forward(x).reshape(2, 3, 2 * k), x @ forward, atol=1e-12)
        spec = torch.randn(2, 3, 2, k, dtype=torch.float64)
        assert torch.allclose(cz.inverse(spec), spec.reshape(2, 3, 2 * k) @ inverse, atol=1e-10)
        cz32 = ChirpZ(n, k)  # float32 tables: within 1e-5 relative of the float64 transform
        assert rel(cz32.forward(x.float()), cz.forward(x)) < 1e-5
        assert rel(cz32.inverse(spec.float()), cz.inverse(spec)) < 1e-5
    with pytest.raises(ValueError, match="cannot keep"):
        ChirpZ(10, 7)
    with pytest.raises(ValueError, match="fft_length"):
        ChirpZ(100, 10, fft_length=100)


def test_chirp_z_gradients_match_the_dft_path() -> None:
    fno = reference(seed=4)
    x = torch.randn(2, SMALL["in_channels"], 101)
    grads = {}
    for spectral in ("dft", "czt"):
        fast = FastFNO.from_neuralop(fno, spectral=spectral)
        xi = x.clone().requires_grad_(True)
        with precision("fp32"):
            fast(xi).pow(2).sum().backward()
        grads[spectral] = (xi.grad, fast.spectral_weight.grad)
    assert rel(grads["czt"][0], grads["dft"][0]) < 1e-5 and rel(grads["czt"][1], grads["dft"][1]) < 1e-5


def _grads_by_neuralop_name(fast: FastFNO) -> dict[str, torch.Tensor]:
    from noble.fast.convert import state_to_neuralop

    return state_to_neuralop({k: p.grad for k, p in fast.named_parameters()}, fast.config)


def test_gradients_match_neuralop() -> None:
    fno = reference(seed=3)
    fast = FastFNO.from_neuralop(fno)
    x = torch.randn(4, SMALL["in_channels"], 120)
    target = torch.randn(4, SMALL["out_channels"], 120)
    xr, xf = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    with precision("fp32"):
        loss_ref = ((fno(xr) - target).abs().pow(4).sum(-1).pow(0.25)).sum()
        loss_fast = ((fast(xf) - target).abs().pow(4).sum(-1).pow(0.25)).sum()
    loss_ref.backward()
    loss_fast.backward()
    assert rel(xf.grad, xr.grad) < 1e-5
    fast_grads = _grads_by_neuralop_name(fast)
    for name, p in fno.named_parameters():
        ref = torch.view_as_real(p.grad) if p.grad.is_complex() else p.grad
        got = torch.view_as_real(fast_grads[name]) if fast_grads[name].is_complex() else fast_grads[name]
        assert rel(got, ref) < 1e-4, name


def test_adam_steps_stay_equivalent() -> None:
    fno = reference(seed=4)
    fast = FastFNO.from_neuralop(fno)
    opt_ref = torch.optim.Adam(fno.parameters(), lr=4e-3)
    opt_fast = torch.optim.Adam(fast.parameters(), lr=4e-3)
    x = torch.randn(4, SMALL["in_channels"], 96)
    target = torch.randn(4, SMALL["out_channels"], 96)
    for _ in range(3):
        for model, opt in ((fno, opt_ref), (fast, opt_fast)):
            opt.zero_grad()
            ((model(x) - target) ** 2).mean().backward()
            opt.step()
    with torch.no_grad():
        assert rel(fast(x), fno(x)) < 1e-4


def test_state_dict_round_trip_into_neuralop() -> None:
    fno = reference(seed=5)
    fast = FastFNO.from_neuralop(fno)
    with torch.no_grad():
        fast.spectral_weight.mul_(1.5)
    copy = reference(seed=6)
    missing, unexpected = copy.load_state_dict(fast.neuralop_state_dict(), strict=False)
    assert not missing and all(k.endswith("_metadata") for k in unexpected)
    x = torch.randn(2, SMALL["in_channels"], 80)
    with torch.no_grad():
        assert rel(copy(x), fast(x)) < 1e-5


@pytest.mark.parametrize("setting", [dict(fno_skip="identity"), dict(norm="group_norm"),
                                     dict(channel_mlp_skip="linear"), dict(domain_padding=0.1),
                                     dict(n_modes=(8, 8))])
def test_unsupported_settings_are_named(setting: dict) -> None:
    fno = FNO(**{**SMALL, **setting})
    with pytest.raises(ValueError, match="does not implement the neuralop FNO setting"):
        config_from_neuralop(fno)


def test_bad_input_shape_is_reported() -> None:
    fast = FastFNO.from_neuralop(reference())
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 3, time\)"):
        fast(torch.randn(2, 4, 50))


def test_reduced_precisions_are_close_and_flags_restored() -> None:
    fno = reference(seed=7)
    fast = FastFNO.from_neuralop(fno)
    x = torch.randn(2, SMALL["in_channels"], 200)
    with torch.no_grad():
        exact = fno(x)
        before = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
        with precision("bf16"):
            low = fast(x)
        assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32) == before
    assert low.dtype == torch.bfloat16
    assert 1e-6 < rel(low.float(), exact) < 5e-2  # bf16 rounding: visibly above fp32, well below 5 %
    with pytest.raises(ValueError, match="precision must be one of"):
        with precision("fp16"):
            pass


def test_noble_model_matches_its_neuralop_reference_for_every_spectral_method() -> None:
    from noble.embedding import EmbeddingSpec, FeatureScaler
    from noble.model import NobleModel, SpectralView, model_profile

    spec = EmbeddingSpec()
    scaler = FeatureScaler(spec.features, (740.0, 0.0139), (850.0, 0.0195))
    torch.manual_seed(8)
    model = NobleModel(model_profile("quick"), spec, scaler).eval()
    amps = torch.tensor([0.1, -0.05, 0.25])
    feats = torch.tensor([[780.0, 0.016], [800.0, 0.018], [760.0, 0.015]])
    with torch.no_grad():
        reference = model.reference_module()(amps, feats)
        for method in ("dft", "fft", "czt"):
            assert rel(SpectralView(model, method)(amps, feats), reference) < 1e-5, method
        model.fno.proj_b1.add_(0.01)  # a weight change is seen by the next reference (built anew)
        moved = model.reference_module()(amps, feats)
        assert rel(moved, reference) > 1e-6 and rel(model(amps, feats), moved) < 1e-5


def test_pointwise_products_equal_size_one_convolutions():
    import torch.nn.functional as F

    from noble.fast.model import pointwise

    torch.manual_seed(0)
    h = torch.randn(3, 5, 17, requires_grad=True)
    w, b = torch.randn(4, 5, requires_grad=True), torch.randn(4, requires_grad=True)
    for bias in (b, None):
        got, ref = pointwise(h, w, bias), F.conv1d(h, w.unsqueeze(-1), bias)
        torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-6)
        grads = torch.autograd.grad(got.square().sum(), [h, w] + ([b] if bias is not None else []))
        refs = torch.autograd.grad(ref.square().sum(), [h, w] + ([b] if bias is not None else []))
        for g, r in zip(grads, refs):
            torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)
