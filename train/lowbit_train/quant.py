"""Weight and activation quantizers for quantization-aware training, and the round-to-nearest baseline.

This is the Python one of lowbit's three implementations of one quantizer (DESIGN.md, "One quantizer, three
implementations"; docs/FORMAT.md §1); src/export/quantize.ts and the WASM runtime are the others, and
test/fixtures/quantizer_cases.json pins all three bit for bit. Symmetric uniform, b ∈ {2, 4, 8} bits,
k = 2^(b−1) − 1 levels a side, every step rounded to float32 in this order:

    code  = clamp(round(f32(f32(w / α) · k)), −k, k)      (torch.round is half to even, as WASM's f32.nearest)
    step  = f32(α / k)                                    (the "scale" a checkpoint stores)
    w_hat = f32(code · step)

Weight quantizers are nn.Modules that take the latent fp32 weight and return its fake-quantized copy;
each also exports (int8 codes, float32 step) with w_hat == codes · step exactly:

    DynamicScaleQuantizer  QuantGPT's module-wise dynamic scaling (Tao et al. 2022): α = γ · mean|w|
    GroupDynamicScaleQuantizer  the same per group of G input features: α_g = γ · mean|w_g|, one γ a module
    PactQuantizer          a learned clipping value α (PACT, Choi et al. 2018, applied to weights)
    LsqQuantizer           a learned step s (LSQ, Esser et al. 2020)
    RtnQuantizer           fixed α (max|w| or the MSE-best clip): the post-training baseline

Activations: fake_quant_act() quantizes each row (token) to int8 at run time, as the exporter's graph does.
Not here: which weights get quantized (model.py) and the losses and loop (the training script).

Precision, on purpose: divisors are tensors on the operand's device, never Python numbers. On CUDA PyTorch
turns `x / scalar` into `x * (1 / scalar)`, which is not f32(x / scalar); a device tensor keeps a true division.
Exactness holds in eager mode (CPU and CUDA; the tests run on both). Under torch.compile (measured on an H100,
torch 2.11) weight codes stayed identical, but the activation quantizer's Triton kernel gave a value 1 ulp off
for about 4% of elements: training tolerates that; exports (export(), save_quantized) always run eagerly.
"""

import math
from typing import Tuple, Union

import torch
import torch.nn as nn

MSE_CANDIDATES = 50  # the MSE clip search tries α = f32(max|w| · i / 50), i = 50 … 1
MSE_SAMPLE = 65536  # larger blocks are scored on the weights at ⌊j · n / 65536⌋
GROUP_INIT_SAMPLE = 4096  # group-wise γ init scores at most this many blocks (GroupDynamicScaleQuantizer)
ABSMAX_FLOOR = 1e-30  # activation rows with max|x| below this use it: an all-zero row gives zeros, not 0/0
ACT_LEVELS = 127  # int8 activations: codes in [−127, 127]
METHODS = ("quantgpt", "pact", "lsq", "rtn-maxabs", "rtn-mse")


def k_levels(bits: int) -> int:
    """k = 2^(bits−1) − 1: codes lie in [−k, k] (2-bit is ternary)."""
    if bits not in (2, 4, 8):
        raise ValueError(f"unsupported weight bit width {bits}: expected 2, 4 or 8")
    return 2 ** (bits - 1) - 1


def _scalar(value: float, like: torch.Tensor) -> torch.Tensor:
    """A float32 0-dim tensor on like's device (see the header: keeps divisions exact on CUDA). torch.full, not
    torch.tensor: a host-to-device copy would make the CPU wait for the GPU at every quantizer call."""
    return torch.full((), value, dtype=torch.float32, device=like.device)


# ─── the formula ──────────────────────────────────────────────────────────────────────────────────

def weight_codes(w: torch.Tensor, alpha: Union[torch.Tensor, float], bits: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(codes, step) in float32: codes have w's shape, integer values in [−k, k]; step = f32(α / k) has α's shape.

    α broadcasts against w (a 0-dim tensor per module, or one value per element for groups). α = 0 gives
    codes 0 and step 0. Not differentiable: the autograd Functions below wrap it.
    """
    k = k_levels(bits)
    w = w.detach().float()
    alpha = torch.as_tensor(alpha, dtype=torch.float32).detach().to(w.device)
    kt = _scalar(k, w)
    # "+ 0.0" turns round()'s −0.0 (from −0.5 < t < 0) into +0.0: codes are integers, and int8 has no −0.
    codes = torch.clamp(torch.round((w / alpha) * kt), -k, k) + 0.0
    codes = torch.where(alpha == 0, torch.zeros_like(codes), codes)  # 0 / 0 is NaN: an all-zero block
    return codes, alpha / kt


def _blocks(w: torch.Tensor, input_axis: int, group_size: int) -> Tuple[torch.Tensor, list]:
    """w (rows, cols) as (blocks, G): one row per α, in the order FORMAT.md numbers the scales, plus the scale
    shape. A ragged last group is padded with zeros, which change neither max|w| nor any squared error."""
    rows, cols = w.shape
    if group_size == 0:
        return w.reshape(1, -1), []
    G = group_size
    if input_axis == 0:  # (K, N): block (g, n) holds w[gG:(g+1)G, n]
        groups = -(-rows // G)
        padded = torch.nn.functional.pad(w, (0, 0, 0, groups * G - rows))  # (groups·G, N)
        return padded.reshape(groups, G, cols).permute(0, 2, 1).reshape(groups * cols, G), [groups, cols]
    groups = -(-cols // G)  # (V, C): block (v, g) holds w[v, gG:(g+1)G]
    padded = torch.nn.functional.pad(w, (0, groups * G - cols))  # (V, groups·G)
    return padded.reshape(rows * groups, G), [rows, groups]


def expand_scale(scale: torch.Tensor, shape, input_axis: int, group_size: int) -> torch.Tensor:
    """Per-block values (scale_shape) repeated to the weight's shape; per-module values stay 0-dim."""
    if group_size == 0:
        return scale.reshape(())
    full = scale.repeat_interleave(group_size, dim=input_axis)
    return full[: shape[0], : shape[1]]


def mse_alphas(blocks: torch.Tensor, bits: int) -> torch.Tensor:
    """Per row of blocks (n, m): the α among f32(max|w| · i / 50), i = 50 … 1, with the smallest Σ(w − w_hat)².

    Bit-exact with scripts/make_quantizer_cases.py and quantize.ts: the errors are float64 sums taken in
    index order (CPU cumsum is a sequential loop), the first strict minimum wins (the largest α on ties),
    and rows over 65,536 weights are scored on the sample ⌊j · n / 65536⌋. Runs on the CPU whatever the
    weight's device: it is a one-off choice, and a GPU reduction would sum in another order.
    """
    device = blocks.device
    vals = blocks.detach().float().cpu()
    n = vals.shape[1]
    top = vals.abs().amax(dim=1)  # (blocks,)
    if n > MSE_SAMPLE:
        vals = vals[:, (torch.arange(MSE_SAMPLE, dtype=torch.int64) * n) // MSE_SAMPLE]
    best = top.clone()
    best_err = torch.full_like(top, math.inf, dtype=torch.float64)
    for i in range(MSE_CANDIDATES, 0, -1):
        alpha = (top.double() * (i / MSE_CANDIDATES)).float()  # f32(max|w| · i / 50), as the script rounds it
        codes, step = weight_codes(vals, alpha[:, None], bits)
        diff = vals.double() - (codes * step).double()
        err = torch.cumsum(diff * diff, dim=1)[:, -1]
        better = err < best_err
        best = torch.where(better, alpha, best)
        best_err = torch.where(better, err, best_err)
    return torch.where(top == 0, torch.zeros_like(best), best).to(device)


def rtn_alphas(w: torch.Tensor, bits: int, clip: str = "maxabs", input_axis: int = 0, group_size: int = 0) -> torch.Tensor:
    """Post-training α of a (rows, cols) weight per block (scale_shape): max|w| ("maxabs") or the MSE search."""
    blocks, scale_shape = _blocks(w.detach().float(), input_axis, group_size)
    if clip == "maxabs":
        alpha = blocks.abs().amax(dim=1)
    elif clip == "mse":
        alpha = mse_alphas(blocks, bits)
    else:
        raise ValueError(f"unknown clip method {clip!r}: expected 'maxabs' or 'mse'")
    return alpha.reshape(scale_shape)


def rtn_quantize(w: torch.Tensor, bits: int, clip: str = "maxabs", input_axis: int = 0,
                 group_size: int = 0) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What `lowbit quantize` computes: (int8 codes (w's shape), float32 steps (scale_shape), α (scale_shape)).
    Groups run along the input axis: 0 for Conv1D weights (K, N), 1 for embeddings (V, C)."""
    alpha = rtn_alphas(w, bits, clip, input_axis, group_size)
    codes, _ = weight_codes(w, expand_scale(alpha, w.shape, input_axis, group_size), bits)
    step = alpha / _scalar(k_levels(bits), alpha)
    return codes.to(torch.int8), step, alpha


# ─── activations ──────────────────────────────────────────────────────────────────────────────────

def quantize_activation(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-row int8 fake quantization over the last dim, in float32: (x_hat (x's shape), scale (…, 1)).
    s = f32(max(max|x|, 1e-30) / 127), x_hat = f32(clamp(round(f32(x / s)), −127, 127) · s)."""
    xf = x.detach().float()
    absmax = xf.abs().amax(dim=-1, keepdim=True)  # (…, 1)
    scale = torch.clamp(absmax, min=ABSMAX_FLOOR) / _scalar(ACT_LEVELS, xf)
    x_hat = (torch.clamp(torch.round(xf / scale), -ACT_LEVELS, ACT_LEVELS) + 0.0) * scale  # + 0.0: as in weight_codes
    return x_hat, scale


class _ActQuant(torch.autograd.Function):
    """Straight-through: the rounding's gradient is taken as 1 (no row ever clips: s comes from its max)."""

    @staticmethod
    def forward(ctx, x):
        return quantize_activation(x)[0].to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad


def fake_quant_act(x: torch.Tensor) -> torch.Tensor:
    """x (…, C) → its per-token int8 fake-quantized copy, computed in float32, returned in x's dtype (so a
    bf16 input under autocast gets x_hat rounded to bf16, which the fp32 runtime does not do)."""
    return _ActQuant.apply(x)


# ─── autograd for the weight quantizers ───────────────────────────────────────────────────────────

class _ClipQuant(torch.autograd.Function):
    """w_hat = code · step with code = clamp(round(w / α · k), −k, k): QuantGPT's, PACT's and RTN's forward.

    Backward, with u = w / α and q(u) = round(u · k) / k (so w_hat = α · q(u) inside the range):
      w: straight-through where |w| ≤ α, 0 where the weight is clipped;
      α: "quantgpt": Σ g · (q(u) − u) where |w| < α, Σ g · sign(w) where |w| ≥ α;
         "pact":     Σ g · sign(w) where |w| ≥ α, nothing from the weights inside.
    """

    @staticmethod
    def forward(ctx, w, alpha, bits, rule):
        codes, step = weight_codes(w, alpha, bits)
        ctx.save_for_backward(w, alpha)
        ctx.bits, ctx.rule = bits, rule
        return (codes * step).to(w.dtype)

    @staticmethod
    def backward(ctx, grad):
        w, alpha = ctx.saved_tensors
        grad_w = grad_alpha = None
        if ctx.needs_input_grad[0]:
            grad_w = grad * (w.abs() <= alpha).to(grad.dtype)
        if ctx.needs_input_grad[1]:
            clipped = w.abs() >= alpha
            if ctx.rule == "quantgpt":
                codes, _ = weight_codes(w, alpha, ctx.bits)  # recomputed: cheaper than keeping a weight-sized copy
                inside = codes / k_levels(ctx.bits) - w / alpha  # q(u) − u: the rounding error in units of α
                slope = torch.where(clipped, torch.sign(w), inside)
            else:
                slope = torch.where(clipped, torch.sign(w), torch.zeros_like(w))
            grad_alpha = _sum_to(grad * slope, alpha.shape)
        return grad_w, grad_alpha, None, None


def _sum_to(t: torch.Tensor, shape) -> torch.Tensor:
    """t summed down to `shape` (a 0-dim α per module, or α already expanded to the weight's shape for groups)."""
    return t.reshape(shape) if t.shape == torch.Size(shape) else t.sum().reshape(shape)


class _LsqQuant(torch.autograd.Function):
    """LSQ: w_hat = s · clamp(round(w / s), −k, k). Backward (Esser et al. 2020, eq. 3 and §2.2):
    w: straight-through where −k ≤ w / s ≤ k; s: Σ g · (round(w/s) − w/s) inside, −k / +k below / above,
    times the gradient scale 1 / √(numel · k)."""

    @staticmethod
    def forward(ctx, w, s, bits, grad_scale):
        codes = _lsq_codes(w, s, bits)
        ctx.save_for_backward(w, s)
        ctx.bits, ctx.grad_scale = bits, grad_scale
        return (codes * s.float()).to(w.dtype)

    @staticmethod
    def backward(ctx, grad):
        w, s = ctx.saved_tensors
        k = k_levels(ctx.bits)
        u = w / s
        inside = (u >= -k) & (u <= k)
        grad_w = grad * inside.to(grad.dtype) if ctx.needs_input_grad[0] else None
        grad_s = None
        if ctx.needs_input_grad[1]:
            slope = torch.where(inside, torch.round(u) - u, torch.sign(u) * k)
            grad_s = ((grad * slope).sum() * ctx.grad_scale).reshape(s.shape)
        return grad_w, grad_s, None, None


def _lsq_codes(w: torch.Tensor, s: torch.Tensor, bits: int) -> torch.Tensor:
    k = k_levels(bits)
    s = s.detach().float()
    codes = torch.clamp(torch.round(w.detach().float() / s), -k, k) + 0.0  # + 0.0: as in weight_codes
    return torch.where(s == 0, torch.zeros_like(codes), codes)


# ─── weight quantizer modules ─────────────────────────────────────────────────────────────────────

class WeightQuantizer(nn.Module):
    """Base: forward(w) → w_hat (w's shape), export(w) → (int8 codes, float32 step of shape [], or one per
    block for group-wise quantizers) with w_hat == codes · step in float32. init_from_weight(w) must run once before the first forward
    (model.quantize_model does it); loading a state_dict counts as initialised."""

    method = "base"

    def __init__(self, bits: int):
        super().__init__()
        self.k = k_levels(bits)
        self.bits = bits
        self._initialized = False

    def init_from_weight(self, w: torch.Tensor) -> None:
        raise NotImplementedError

    def export(self, w: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _check_initialized(self) -> None:
        if not self._initialized:
            raise RuntimeError(f"{type(self).__name__}: call init_from_weight(w) before the first forward (quantize_model does)")

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._initialized = True

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


class DynamicScaleQuantizer(WeightQuantizer):
    """QuantGPT's module-wise dynamic scaling (Tao et al., ACL 2022, §3.2).

    The clipping value follows the weights: α = γ · mean|w|, recomputed from the current latent weight at
    every forward, with one learnable scalar γ per module, so each module's quantizer adapts to its own
    (and its changing) weight distribution. w_hat = code · f32(α / k), code as in the header.

    Gradients. With u = w / α and q(u) = round(u · k) / k, inside the range w_hat = α · q(u), so
        ∂w_hat/∂α = q(u) + α · q'(u) · ∂u/∂α = q(u) − u        (|w| < α; rounding is straight-through, q' = 1)
        ∂w_hat/∂α = sign(w)                                   (|w| ≥ α; w_hat = α · sign(w))
        ∂α/∂γ     = mean|w|
    so ∂ℓ/∂γ = mean|w| · Σ_i ∂ℓ/∂w_hat_i · [q(u_i) − u_i or sign(w_i)]: weights inside the range pull by
    their rounding error, clipped ones by their sign, as the paper derives. mean|w| is treated as a
    constant in this path (it is detached): the gradient to w is the straight-through one alone, passing
    where |w| ≤ α and zero where a weight is clipped.

    Initialisation (the `init` argument; init_from_weight applies it to the module's pretrained weight):
      "maxabs": γ = max|w| / mean|w|, so α starts at max|w| and nothing clips (the 8- and 4-bit default);
      "mse":    γ = α_mse / mean|w|, α_mse the RTN-MSE clip (rtn_alphas): the 2-bit default, since at
                α = max|w| a ternary quantizer rounds almost every weight (|w| < max|w| / 2) to zero;
      a number: γ is that number;
      "auto":   "maxabs" for 4 and 8 bits, "mse" for 2.
    """

    method = "quantgpt"

    def __init__(self, bits: int, init_gamma: float = 1.0, init: Union[str, float] = "auto"):
        super().__init__(bits)
        self.gamma = nn.Parameter(torch.tensor(float(init_gamma)))
        self.init = init

    def alpha(self, w: torch.Tensor) -> torch.Tensor:
        return self.gamma * w.detach().float().abs().mean()

    def init_from_weight(self, w: torch.Tensor, rule: Union[str, float, None] = None) -> None:
        """Sets γ from w by `rule` (default: the constructor's `init`; see the class docstring)."""
        rule = self.init if rule is None else rule
        if rule == "auto":
            rule = "mse" if self.bits == 2 else "maxabs"
        if isinstance(rule, (int, float)):
            gamma = float(rule)
        elif rule in ("maxabs", "mse"):
            gamma = self._gamma_for_clip(w.detach().float(), rule)
        else:
            raise ValueError(f"unknown init rule {rule!r}: expected 'auto', 'maxabs', 'mse' or a number")
        with torch.no_grad():
            self.gamma.fill_(gamma)
        self._initialized = True

    def _gamma_for_clip(self, w: torch.Tensor, rule: str) -> float:
        """γ that puts α at the `rule` clip ("maxabs" or "mse") of the whole matrix."""
        mean = w.abs().mean()
        top = rtn_alphas(w.reshape(1, -1), self.bits, rule).reshape(())
        return float(top / mean) if mean > 0 else 1.0

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        self._check_initialized()
        return _ClipQuant.apply(w, self.alpha(w), self.bits, "quantgpt")

    @torch.no_grad()
    def export(self, w):
        codes, step = weight_codes(w, self.alpha(w), self.bits)
        return codes.to(torch.int8), step.reshape(())


class GroupDynamicScaleQuantizer(DynamicScaleQuantizer):
    """Dynamic scaling per group of G consecutive input features (lowbit's extension beyond the paper):
    α_g = γ · mean|w_g| for each block g (docs/FORMAT.md §1's numbering, via _blocks), with one learnable γ
    per module as in QuantGPT, so every group's clip follows its own weights while the module learns one
    factor. Gradients are DynamicScaleQuantizer's, taken per element and summed through the expansion into γ.

    init_from_weight's "mse" rule sets γ = Σ α_mse(g) / Σ mean|w_g| over the blocks (up to GROUP_INIT_SAMPLE
    of them, evenly spaced, so a 50,257-row embedding does not run the 50-candidate search on every block);
    "maxabs" does the same with max|w_g|. Exports (int8 codes, step per block of scale_shape)."""

    def __init__(self, bits: int, group_size: int, input_axis: int, init_gamma: float = 1.0,
                 init: Union[str, float] = "auto"):
        super().__init__(bits, init_gamma, init)
        if group_size not in (32, 64, 128, 256):
            raise ValueError(f"group_size is {group_size}; expected 32, 64, 128 or 256 (docs/FORMAT.md §1)")
        if input_axis not in (0, 1):
            raise ValueError(f"input_axis is {input_axis}; expected 0 (linear (K, N)) or 1 (embedding (V, C))")
        self.group_size, self.input_axis = group_size, input_axis

    def block_alphas(self, w: torch.Tensor) -> torch.Tensor:
        """γ · mean|w_g| per block, in scale_shape; a ragged last group's mean is over its real members."""
        blocks, scale_shape = _blocks(w.detach().float().abs(), self.input_axis, self.group_size)  # (n, G)
        return (self.gamma * (blocks.sum(dim=1) / self._members(w, scale_shape))).reshape(scale_shape)

    def _members(self, w: torch.Tensor, scale_shape: list) -> torch.Tensor:
        """Real weights per block (n,): G, or fewer in a ragged last group. Made once per weight shape and device,
        not at every forward."""
        key = (tuple(w.shape), w.device)
        if getattr(self, "_members_key", None) != key:
            dim = w.shape[self.input_axis]
            per_group = torch.full((scale_shape[self.input_axis],), float(self.group_size), device=w.device)
            per_group[-1] = dim - (scale_shape[self.input_axis] - 1) * self.group_size
            per_block = per_group[:, None].expand(scale_shape) if self.input_axis == 0 else per_group[None, :].expand(scale_shape)
            self._members_cache, self._members_key = per_block.reshape(-1).contiguous(), key
        return self._members_cache

    def alpha(self, w: torch.Tensor) -> torch.Tensor:  # w's shape
        return expand_scale(self.block_alphas(w), w.shape, self.input_axis, self.group_size)

    def _gamma_for_clip(self, w: torch.Tensor, rule: str) -> float:
        """γ = Σ clip(g) / Σ mean|w_g| over (a sample of) the blocks."""
        blocks, _ = _blocks(w, self.input_axis, self.group_size)  # (n, G)
        n = blocks.shape[0]
        if n > GROUP_INIT_SAMPLE:
            blocks = blocks[(torch.arange(GROUP_INIT_SAMPLE, dtype=torch.int64) * n) // GROUP_INIT_SAMPLE]
        clips = blocks.abs().amax(dim=1) if rule == "maxabs" else mse_alphas(blocks, self.bits)
        total = float(blocks.abs().sum(dim=1).sum()) / blocks.shape[1]  # Σ mean|w_g| (padding counted as zeros)
        return float(clips.sum()) / total if total > 0 else 1.0

    @torch.no_grad()
    def export(self, w):
        """(int8 codes (w's shape), step per block (scale_shape)): codes · expand(step) == forward's w_hat."""
        alphas = self.block_alphas(w)
        codes, _ = weight_codes(w, expand_scale(alphas, w.shape, self.input_axis, self.group_size), self.bits)
        return codes.to(torch.int8), alphas / _scalar(self.k, alphas)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, group_size={self.group_size}, input_axis={self.input_axis}"


class ClipQuantizer(WeightQuantizer):
    """Quantizers whose clip value is `self.alpha` (learned by PACT, fixed by RTN): one forward, one export."""

    def forward(self, w):
        self._check_initialized()
        return _ClipQuant.apply(w, self.alpha, self.bits, "pact")

    @torch.no_grad()
    def export(self, w):
        codes, step = weight_codes(w, self.alpha, self.bits)
        return codes.to(torch.int8), step.reshape(())


class PactQuantizer(ClipQuantizer):
    """PACT (Choi et al. 2018) on weights: a learned clipping value α per module, initialised at max|w|.
    w_hat = α · round(clip(w, −α, α) / α · k) / k (the header's formula); ∂w_hat/∂α = sign(w) for clipped
    weights (|w| ≥ α, so α at max|w| still learns), 0 inside; straight-through for w inside."""

    method = "pact"

    def __init__(self, bits: int, init_alpha: float = 1.0):
        super().__init__(bits)
        self.alpha = nn.Parameter(torch.tensor(float(init_alpha)))

    def init_from_weight(self, w: torch.Tensor) -> None:
        with torch.no_grad():
            self.alpha.fill_(float(w.detach().abs().max()))
        self._initialized = True



class LsqQuantizer(WeightQuantizer):
    """LSQ (Esser et al. 2020): a learned step s, initialised at 2 · mean|w| / √k; w_hat = s · clamp(round(w / s), ±k).
    Its codes come from w / s, not from the header's f32(w / α) · k: what a checkpoint holds is (codes, s),
    and w_hat == codes · s exactly all the same."""

    method = "lsq"

    def __init__(self, bits: int, init_step: float = 1.0):
        super().__init__(bits)
        self.step = nn.Parameter(torch.tensor(float(init_step)))

    def init_from_weight(self, w: torch.Tensor) -> None:
        with torch.no_grad():
            self.step.fill_(float(2 * w.detach().float().abs().mean() / math.sqrt(self.k)))
        self._initialized = True

    def forward(self, w):
        self._check_initialized()
        grad_scale = 1.0 / math.sqrt(w.numel() * self.k)
        return _LsqQuant.apply(w, self.step, self.bits, grad_scale)

    @torch.no_grad()
    def export(self, w):
        return _lsq_codes(w, self.step, self.bits).to(torch.int8), self.step.detach().float().clone().reshape(())


class RtnQuantizer(ClipQuantizer):
    """Round to nearest with a fixed α: max|w| ("maxabs") or the MSE-best clip ("mse"), chosen once by
    init_from_weight and kept in the buffer `alpha` (no parameters; call init_from_weight again if the
    weight changes). The post-training baseline; trained through, w gets the straight-through gradient."""

    def __init__(self, bits: int, clip: str = "maxabs"):
        super().__init__(bits)
        if clip not in ("maxabs", "mse"):
            raise ValueError(f"unknown clip method {clip!r}: expected 'maxabs' or 'mse'")
        self.clip = clip
        self.register_buffer("alpha", torch.tensor(0.0))

    @property
    def method(self) -> str:
        return f"rtn-{self.clip}"

    def init_from_weight(self, w: torch.Tensor) -> None:
        self.alpha.copy_(rtn_alphas(w.reshape(1, -1), self.bits, self.clip).reshape(()))
        self._initialized = True

    def extra_repr(self) -> str:
        return f"bits={self.bits}, clip={self.clip}"


def make_quantizer(method: str, bits: int, gamma_init: Union[str, float] = "auto", group_size: int = 0,
                   input_axis: int = 0) -> WeightQuantizer:
    """The weight quantizer a method name (METHODS; quantization_config.method) stands for, uninitialised.
    gamma_init: QuantGPT's initialisation rule (DynamicScaleQuantizer's `init`); other methods ignore it.
    group_size > 0 (QuantGPT only): one α per G input features along input_axis (GroupDynamicScaleQuantizer)."""
    if group_size and method != "quantgpt":
        raise ValueError(f"group_size {group_size}: group-wise scales are implemented for quantgpt only, not {method!r}")
    if method == "quantgpt":
        if group_size:
            return GroupDynamicScaleQuantizer(bits, group_size, input_axis, init=gamma_init)
        return DynamicScaleQuantizer(bits, init=gamma_init)
    if method == "pact":
        return PactQuantizer(bits)
    if method == "lsq":
        return LsqQuantizer(bits)
    if method in ("rtn-maxabs", "rtn-mse"):
        return RtnQuantizer(bits, method[4:])
    raise ValueError(f"unknown quantization method {method!r}: expected one of {', '.join(METHODS)}")
