"""quant.py against the shared golden vectors (bit for bit) and the quantizers' gradients against autograd."""

import json
import math
import os

import pytest
import torch

from lowbit_train.quant import (
    DynamicScaleQuantizer, GroupDynamicScaleQuantizer, LsqQuantizer, PactQuantizer, RtnQuantizer, expand_scale,
    fake_quant_act, k_levels, make_quantizer, mse_alphas, quantize_activation, rtn_alphas, rtn_quantize, weight_codes,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "test", "fixtures", "quantizer_cases.json"), encoding="utf-8") as _f:
    CASES = json.load(_f)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # the GPU machine checks CUDA's arithmetic too
FULL = [c for c in CASES["weights"] if "generator" not in c]
HASHED = [c for c in CASES["weights"] if c.get("generator") == "hashed"]


def f32(values, shape=None):
    t = torch.tensor(values, dtype=torch.float32)
    return t.reshape(shape) if shape is not None else t


def assert_bits_equal(actual, expected, what):
    """Equal as float32 bit patterns (so -0.0 vs 0.0 and NaN would show)."""
    a, e = actual.detach().float().cpu().contiguous(), expected.float().cpu().contiguous()
    assert a.shape == e.shape, f"{what}: shape {list(a.shape)} != {list(e.shape)}"
    diff = (a.view(torch.int32) != e.view(torch.int32)).nonzero()
    assert diff.numel() == 0, f"{what}: {diff.shape[0]} values differ, first at {diff[0].tolist()}: {a[tuple(diff[0])]} vs {e[tuple(diff[0])]}"


# ─── golden vectors ───────────────────────────────────────────────────────────────────────────────

def test_k_levels():
    assert [k_levels(b) for b in (2, 4, 8)] == [1, 7, 127]
    with pytest.raises(ValueError):
        k_levels(3)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", FULL, ids=[c["name"] for c in FULL])
def test_codes_from_given_alpha(case, device):
    """The formula alone: the case's α per block gives its codes and scales."""
    w = f32(case["w"], case["shape"]).to(device)
    alpha = f32(case["alpha"], case["scale_shape"]).to(device)
    codes, step = weight_codes(w, expand_scale(alpha, w.shape, case["input_axis"], case["group_size"]), case["bits"])
    assert codes.to(torch.int64).flatten().tolist() == case["codes"]
    _, block_step = weight_codes(torch.zeros((), device=device), alpha, case["bits"])
    assert_bits_equal(block_step, f32(case["scale"], case["scale_shape"]), "scale")
    if "w_hat" in case:
        assert_bits_equal(codes * step, f32(case["w_hat"], case["shape"]), "w_hat")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", FULL, ids=[c["name"] for c in FULL])
def test_rtn_quantize(case, device):
    """The post-training rule too: max|w| or the MSE search picks the case's α."""
    w = f32(case["w"], case["shape"]).to(device)
    codes, scale, alpha = rtn_quantize(w, case["bits"], case["clip"], case["input_axis"], case["group_size"])
    assert codes.dtype == torch.int8
    assert_bits_equal(alpha, f32(case["alpha"], case["scale_shape"]), "alpha")
    assert_bits_equal(scale, f32(case["scale"], case["scale_shape"]), "scale")
    assert codes.to(torch.int64).flatten().tolist() == case["codes"]


def hashed_values(n):
    """scripts/make_quantizer_cases.py's generator in float64, then rounded to float32."""
    i = torch.arange(n, dtype=torch.int64)
    u = ((i * 2654435761) % 2**32).double() / 2**32 - 0.5
    return (0.8 * u * u * u).float()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", HASHED, ids=[c["name"] for c in HASHED])
def test_hashed_mse_sampled(case, device):
    rows, cols = case["shape"]
    w = hashed_values(rows * cols).reshape(rows, cols).to(device)
    codes, scale, alpha = rtn_quantize(w, case["bits"], case["clip"], case["input_axis"], case["group_size"])
    assert_bits_equal(alpha, f32(case["alpha"], []), "alpha")
    assert_bits_equal(scale, f32(case["scale"], []), "scale")
    c = codes.to(torch.int64).flatten().cpu()
    digest = int(((torch.arange(c.numel()) % 251 + 1) * c).sum())
    assert digest == case["codes_digest"]
    values, counts = torch.unique(c, return_counts=True)
    assert {str(int(v)): int(n) for v, n in zip(values, counts)} == case["code_counts"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("i", range(len(CASES["activations"])))
def test_activation_golden(i, device):
    case = CASES["activations"][i]
    x = f32(case["x"]).to(device)
    x_hat, scale = quantize_activation(x)
    assert_bits_equal(scale, f32([case["scale"]]), "scale")
    assert_bits_equal(x_hat, f32(case["x_hat"]), "x_hat")
    assert_bits_equal(fake_quant_act(x), f32(case["x_hat"]), "fake_quant_act")


@pytest.mark.parametrize("device", DEVICES)
def test_activation_rows_are_independent(device):
    x = (torch.randn(3, 5, 33) * torch.tensor([1.0, 30.0, 1e-3]).reshape(3, 1, 1)).to(device)
    y = fake_quant_act(x)
    for b in range(3):
        for t in range(5):
            assert_bits_equal(y[b, t], quantize_activation(x[b, t])[0], f"row {b},{t}")


def test_activation_straight_through():
    x = torch.randn(4, 9, requires_grad=True)
    g = torch.randn(4, 9)
    fake_quant_act(x).backward(g)
    assert torch.equal(x.grad, g)


# ─── QuantGPT's dynamic scaling ───────────────────────────────────────────────────────────────────

def ste_reference(w, gamma, bits):
    """w_hat(γ, w) built from torch ops, rounding straight-through ((round(x) − x).detach() + x) and the
    clip as torch.clamp, with mean|w| constant: autograd of this is the gradient the paper derives."""
    k = k_levels(bits)
    alpha = gamma * w.detach().abs().mean()
    u = torch.clamp(w / alpha, -1, 1) * k
    return alpha * ((torch.round(u) - u).detach() + u) / k


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_dynamic_scale_gradients_match_ste_autograd(bits, device):
    torch.manual_seed(bits)
    w = (torch.randn(64, 48) * 0.05).to(device)
    q = DynamicScaleQuantizer(bits, init="maxabs").to(device)
    q.init_from_weight(w)
    with torch.no_grad():
        q.gamma.mul_(0.6)  # clip some weights
    alpha = float(q.alpha(w).detach())
    assert ((w.abs() - alpha).abs() > 1e-7).all(), "a weight sits on the clip boundary: pick another seed"
    g = torch.randn_like(w)

    w1 = w.clone().requires_grad_(True)
    out = q(w1)
    out.backward(g)
    gamma_ref = q.gamma.detach().clone().requires_grad_(True)
    w2 = w.clone().requires_grad_(True)
    ref = ste_reference(w2, gamma_ref, bits)
    ref.backward(g)

    assert torch.allclose(out, ref, rtol=0, atol=1e-6), "forward differs from α · round(clip(w/α)·k) / k"
    assert torch.allclose(q.gamma.grad, gamma_ref.grad, rtol=1e-4, atol=1e-6), (q.gamma.grad, gamma_ref.grad)
    assert torch.allclose(w1.grad, w2.grad, rtol=0, atol=1e-6)
    assert (w1.grad[w.abs() > alpha] == 0).all() and (w.abs() > alpha).any()


def test_dynamic_scale_gradient_by_hand():
    # mean|w| = (0.5 + 1 + 2.5 + 0) / 4 = 1 and γ = 1: α = 1 exactly; 4 bits, k = 7.
    w = torch.tensor([0.5, -1.0, 2.5, 0.0], requires_grad=True)
    q = DynamicScaleQuantizer(4, init=1.0)
    q.init_from_weight(w)
    assert float(q.alpha(w).detach()) == 1.0
    out = q(w)
    # 0.5 · 7 = 3.5 rounds to even 4; −1 is at α (code −7); 2.5 clips to +7; 0 → 0.
    assert out.tolist() == pytest.approx([4 / 7, -1.0, 1.0, 0.0], abs=1e-7)
    slopes = [4 / 7 - 0.5, -1.0, 1.0, 0.0]  # q(u) − u inside; sign(w) at and beyond α
    for i, slope in enumerate(slopes):
        q.gamma.grad, w.grad = None, None
        q(w)[i].backward()
        assert float(q.gamma.grad) == pytest.approx(slope * 1.0, abs=1e-6), i  # · mean|w| = 1
        assert w.grad.tolist() == [1.0 if (j == i and j != 2) else 0.0 for j in range(4)], i


def test_dynamic_scale_init_rules():
    torch.manual_seed(0)
    w = torch.randn(100, 30)
    for bits, rule in [(8, "maxabs"), (4, "maxabs"), (2, "mse")]:
        q = DynamicScaleQuantizer(bits)  # init "auto"
        q.init_from_weight(w)
        _, _, alpha = rtn_quantize(w, bits, rule)
        assert float(q.alpha(w).detach()) == pytest.approx(float(alpha), rel=1e-6), (bits, rule)
    q = DynamicScaleQuantizer(2, init=1.5)
    q.init_from_weight(w)
    assert float(q.gamma.detach()) == 1.5
    q.init_from_weight(w, rule="maxabs")
    assert float(q.alpha(w).detach()) == pytest.approx(float(w.abs().max()), rel=1e-6)
    with pytest.raises(ValueError):
        DynamicScaleQuantizer(4, init="nope").init_from_weight(w)


# ─── baselines ────────────────────────────────────────────────────────────────────────────────────

def test_pact_gradients_by_hand():
    q = PactQuantizer(2)
    w = torch.tensor([0.2, -0.9, 1.5, -3.0, 2.0])
    q.init_from_weight(w)
    assert float(q.alpha.detach()) == 3.0
    with torch.no_grad():
        q.alpha.fill_(1.0)
    wg = w.clone().requires_grad_(True)
    out = q(wg)
    assert out.tolist() == [0.0, -1.0, 1.0, -1.0, 1.0]
    out.sum().backward()
    assert q.alpha.grad.item() == 1.0 - 1.0 + 1.0  # sign(w) of the three clipped weights
    assert wg.grad.tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]


def test_lsq_gradients_by_hand():
    q = LsqQuantizer(4)  # k = 7
    w = torch.tensor([0.26, -0.74, 5.0, -9.0])
    q.init_from_weight(w)
    assert float(q.step.detach()) == pytest.approx(2 * w.abs().mean().item() / math.sqrt(7))
    with torch.no_grad():
        q.step.fill_(0.5)
    wg = w.clone().requires_grad_(True)
    out = q(wg)
    assert out.tolist() == pytest.approx([0.5, -0.5, 3.5, -3.5])
    out.sum().backward()
    u = [0.52, -1.48]  # w / s inside; 10 and −18 clip to +7 / −7
    expected = ((round(u[0]) - u[0]) + (round(u[1]) - u[1]) + 7 - 7) / math.sqrt(4 * 7)
    assert q.step.grad.item() == pytest.approx(expected, abs=1e-6)
    assert wg.grad.tolist() == [1.0, 1.0, 0.0, 0.0]


def test_rtn_has_no_parameters_and_passes_gradients():
    torch.manual_seed(1)
    w = torch.randn(20, 8, requires_grad=True)
    for clip in ("maxabs", "mse"):
        q = RtnQuantizer(4, clip)
        q.init_from_weight(w)
        assert list(q.parameters()) == []
        _, _, alpha = rtn_quantize(w.detach(), 4, clip)
        assert torch.equal(q.alpha, alpha)
        w.grad = None
        q(w).sum().backward()
        assert torch.equal(w.grad, (w.abs() <= q.alpha).float())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", ["quantgpt", "pact", "lsq", "rtn-maxabs", "rtn-mse"])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_export_matches_forward(method, bits, device):
    torch.manual_seed(bits)
    w = (torch.randn(96, 40) * 0.03).to(device)
    q = make_quantizer(method, bits).to(device)
    with pytest.raises(RuntimeError, match="init_from_weight"):
        q(w)
    q.init_from_weight(w)
    codes, step = q.export(w)
    assert codes.dtype == torch.int8 and codes.shape == w.shape
    assert step.dtype == torch.float32 and step.shape == torch.Size([])
    k = k_levels(bits)
    assert int(codes.abs().max()) <= k and int(codes.abs().max()) > 0
    assert_bits_equal(q(w), codes.float() * step, f"{method} w_hat")
    assert q.method == method


def test_all_zero_weight():
    w = torch.zeros(4, 3)
    for method in ("quantgpt", "pact", "rtn-maxabs", "rtn-mse"):
        q = make_quantizer(method, 2)
        q.init_from_weight(w)
        codes, step = q.export(w)
        assert not codes.any() and float(step) == 0.0, method
        assert not q(w).any(), method


def test_state_dict_round_trip_counts_as_initialised():
    w = torch.randn(10, 10)
    q = DynamicScaleQuantizer(4)
    q.init_from_weight(w)
    fresh = DynamicScaleQuantizer(4)
    fresh.load_state_dict(q.state_dict())
    assert torch.equal(fresh(w), q(w))


# ─── group-wise dynamic scaling ───────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("shape,axis", [((70, 33), 0), ((33, 70), 1), ((64, 64), 0)])  # ragged last groups too
def test_group_dynamic_scale_export_matches_forward(bits, shape, axis, device):
    torch.manual_seed(bits)
    w = (torch.randn(*shape) * 0.03).to(device)
    q = make_quantizer("quantgpt", bits, group_size=32, input_axis=axis).to(device)
    assert isinstance(q, GroupDynamicScaleQuantizer)
    q.init_from_weight(w)
    codes, step = q.export(w)
    groups = -(-shape[axis] // 32)
    scale_shape = [groups, shape[1]] if axis == 0 else [shape[0], groups]
    assert codes.dtype == torch.int8 and codes.shape == w.shape and list(step.shape) == scale_shape
    assert int(codes.abs().max()) <= k_levels(bits)
    assert_bits_equal(q(w), codes.float() * expand_scale(step, w.shape, axis, 32), "group w_hat")
    # each block's α is γ · the mean |w| of its real members (the ragged block's too)
    a = q.block_alphas(w).detach().cpu()
    wc = w.cpu()
    if axis == 0:
        expected = float(q.gamma) * wc[64:, 5].abs().mean() if shape[0] > 64 else float(q.gamma) * wc[32:64, 5].abs().mean()
        got = a[-1, 5]
    else:
        expected = float(q.gamma) * wc[3, 64:].abs().mean() if shape[1] > 64 else float(q.gamma) * wc[3, 32:64].abs().mean()
        got = a[3, -1]
    assert float(got) == pytest.approx(float(expected), rel=1e-5)


def test_group_dynamic_scale_gamma_gradient_by_hand():
    """∂ℓ/∂γ = Σ_i g_i · slope_i · mean|w_group(i)|: module-wise QuantGPT's rule with each weight's own group mean."""
    torch.manual_seed(3)
    w = torch.randn(64, 8) * 0.05
    q = GroupDynamicScaleQuantizer(4, 32, 0, init=0.9)
    q.init_from_weight(w)
    g = torch.randn_like(w)
    w1 = w.clone().requires_grad_(True)
    q(w1).backward(g)
    alpha = q.alpha(w).detach()  # (64, 8)
    means = expand_scale(w.abs().reshape(2, 32, 8).mean(dim=1), w.shape, 0, 32)
    codes, _ = weight_codes(w, alpha, 4)
    slope = torch.where(w.abs() >= alpha, torch.sign(w), codes / 7 - w / alpha)
    assert float(q.gamma.grad) == pytest.approx(float((g * slope * means).sum()), rel=1e-4)
    assert torch.equal(w1.grad, g * (w.abs() <= alpha).float())


def test_group_dynamic_scale_init_rules():
    torch.manual_seed(0)
    w = torch.randn(96, 20)
    q = GroupDynamicScaleQuantizer(2, 32, 0)  # "auto" → "mse" at 2 bits
    q.init_from_weight(w)
    blocks = w.reshape(3, 32, 20).permute(0, 2, 1).reshape(60, 32)
    expected = float(mse_alphas(blocks, 2).sum()) / float(blocks.abs().mean(dim=1).sum())
    assert float(q.gamma) == pytest.approx(expected, rel=1e-6)
    q.init_from_weight(w, rule="maxabs")
    assert float(q.gamma) == pytest.approx(float(blocks.abs().amax(dim=1).sum() / blocks.abs().mean(dim=1).sum()), rel=1e-6)
    with pytest.raises(ValueError, match="group_size"):
        GroupDynamicScaleQuantizer(2, 48, 0)
    with pytest.raises(ValueError, match="quantgpt only"):
        make_quantizer("lsq", 2, group_size=64)
