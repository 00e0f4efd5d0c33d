"""GPT-2 for quantization-aware training, with Hugging Face's weight names, and its checkpoint files.

    config, model = load_hf("gpt2/")                      # config.json + model.safetensors (or shards)
    quantize_model(model, "quantgpt", weight_bits=2, embedding_bits=2, activation_bits=8)
    logits, hidden = model(idx, return_hidden=True)       # (B, T, V), (B, T, C)
    save_quantized(model, "out/w2/")                      # docs/FORMAT.md §2: what `lowbit export` reads

The model is the one src/reference and src/runtime compute (tanh GELU, causal attention scaled by 1/√HS,
Conv1D weights stored (in, out)), and its state_dict() keys are HF GPT-2's without `transformer.`, so
checkpoints load with no renaming or transposes. Quantization hooks sit exactly where the exporter's ONNX
graph quantizes (src/export/gpt2_onnx.ts): each Conv1D's weight and input row, and the word embedding,
read both by the token lookup and, when tied, by the output head, whose input row is quantized too.
Not here: the quantizers themselves (quant.py), losses and the training loop.

Dimension letters: B batch, T tokens, C n_embd, NH heads, HS = C / NH, F n_inner, V vocab, P n_positions, L layers.
"""

import json
import math
import os
import re
import shutil
import warnings
from dataclasses import dataclass, fields
from typing import Dict, Iterator, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .quant import WeightQuantizer, expand_scale, fake_quant_act, make_quantizer
from .safetensors_io import read_safetensors, safetensors_exists, safetensors_size, write_safetensors

QUANTIZED_FORMAT = "lowbit-quantized-checkpoint"
QUANTIZED_FORMAT_VERSION = 1
VOCAB_MATRICES = ("wte.weight", "lm_head.weight", "model.shared.weight")  # (V, C), GPT-2's and BART's: embedding_bits, input axis 1
SHARD_BYTES = 16 * 2**20  # default file limit: files coming back from the GPU machine are capped at 16 MiB
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers some checkpoints carry
_SHARD_NAME = re.compile(r"model-\d{5}-of-\d{5}\.safetensors$")
_PART_NAME = re.compile(r"model(-\d{5}-of-\d{5})?\.safetensors\.part-\d+$")  # safetensors_io.split_into_parts


# ─── config ───────────────────────────────────────────────────────────────────────────────────────

@dataclass
class GPT2Config:
    vocab_size: int = 50257  # V: tokens in the vocabulary (rows of wte)
    n_positions: int = 1024  # P: the longest context (rows of wpe)
    n_embd: int = 768  # C: width of the residual stream
    n_layer: int = 12  # L: transformer blocks
    n_head: int = 12  # NH: attention heads; HS = C / NH each
    n_inner: Optional[int] = None  # F: MLP hidden width; None means 4C (Hugging Face's convention)
    layer_norm_epsilon: float = 1e-5  # ε of every LayerNorm
    activation_function: str = "gelu_new"  # the tanh GELU ("gelu_pytorch_tanh" is the same function)
    tie_word_embeddings: bool = True  # the head reads wte; False: its own lm_head.weight (V, C)
    bos_token_id: int = 50256  # begin-of-text token (GPT-2 uses <|endoftext|> for both)
    eos_token_id: int = 50256  # end-of-text token
    embd_pdrop: float = 0.0  # dropout after the embeddings; set by the training config, not read from HF files
    attn_pdrop: float = 0.0  # dropout on attention probabilities (ditto)
    resid_pdrop: float = 0.0  # dropout on each block's two residual branches (ditto)

    @property
    def inner(self) -> int:
        return self.n_inner if self.n_inner is not None else 4 * self.n_embd

    @classmethod
    def from_hf_dict(cls, raw: dict, source: str = "config.json") -> "GPT2Config":
        """A Hugging Face GPT-2 config.json, checked as src/export/checkpoint.ts checks it. The pdrop fields
        are not read (GPT-2's files say 0.1): dropout is the training run's choice."""
        if raw.get("model_type", "gpt2") != "gpt2":
            raise ValueError(f"{source}: model_type is {raw['model_type']!r}; expected 'gpt2'")
        for key in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
            v = raw.get(key)
            if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
                raise ValueError(f"{source}: config key {key} is {v!r}; expected a positive integer")
        act = raw.get("activation_function", "gelu_new")
        if act not in ("gelu_new", "gelu_pytorch_tanh"):
            raise ValueError(f"{source}: activation_function is {act!r}; expected gelu_new or gelu_pytorch_tanh")
        for flag, ok in (("scale_attn_by_inverse_layer_idx", False), ("reorder_and_upcast_attn", False), ("scale_attn_weights", True)):
            if raw.get(flag, ok) != ok:
                raise ValueError(f"{source}: unsupported config option {flag}={raw[flag]!r}; expected {ok}")
        if raw["n_embd"] % raw["n_head"]:
            raise ValueError(f"{source}: n_embd {raw['n_embd']} is not a multiple of n_head {raw['n_head']}")
        eos = raw["eos_token_id"] if isinstance(raw.get("eos_token_id"), int) else raw["vocab_size"] - 1
        return cls(
            vocab_size=raw["vocab_size"], n_positions=raw["n_positions"], n_embd=raw["n_embd"], n_layer=raw["n_layer"],
            n_head=raw["n_head"], n_inner=raw.get("n_inner"), layer_norm_epsilon=float(raw.get("layer_norm_epsilon", 1e-5)),
            activation_function=act, tie_word_embeddings=raw.get("tie_word_embeddings", True) is not False,
            bos_token_id=raw["bos_token_id"] if isinstance(raw.get("bos_token_id"), int) else eos, eos_token_id=eos,
        )

    def to_hf_dict(self) -> dict:
        d = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}
        d.update({f.name: getattr(self, f.name) for f in fields(self)})
        return d


# ─── modules ──────────────────────────────────────────────────────────────────────────────────────

class Conv1D(nn.Module):
    """Hugging Face's Conv1D: y = x @ W + b with W stored (in, out) = (K, N), the transpose of nn.Linear's,
    kept so names and shapes match GPT-2 checkpoints and the exporter's MatMul. Optionally fake-quantizes
    W (weight_quantizer) and its input rows (quantize_input: per-token int8, as the exported graph does)."""

    input_axis = 0  # quantize_model: groups and init run along the input features (rows of (K, N))

    def __init__(self, nx: int, nf: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(nx, nf))  # (K, N)
        self.bias = nn.Parameter(torch.zeros(nf))  # (N,)
        self.weight_quantizer: Optional[WeightQuantizer] = None
        self.quantize_input = False

    def forward(self, x):  # (…, K) → (…, N)
        if self.quantize_input:
            x = fake_quant_act(x)
        return self.product(x, self.weight if self.weight_quantizer is None else self.weight_quantizer(self.weight))

    def product(self, x, w):  # x (…, K), w (K, N) → (…, N)
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), w).view(*x.shape[:-1], w.shape[1])


class VocabMatrix(nn.Module):
    """A (V, C) matrix read two ways: by rows in the token lookup and whole by the output head (logits = h Wᵀ).
    wte is one; an untied lm_head is another. Its quantizer runs once per forward on the whole matrix, and
    the lookup and the tied head read that one fake-quantized copy, as the exported graph's DequantizeLinear
    output feeds both its Gather and its Gemm."""

    input_axis = 1  # quantize_model: groups and init run along C

    def __init__(self, V: int, C: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(V, C))  # (V, C)
        self.weight_quantizer: Optional[WeightQuantizer] = None

    def effective_weight(self) -> torch.Tensor:  # (V, C)
        return self.weight if self.weight_quantizer is None else self.weight_quantizer(self.weight)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = Conv1D(config.n_embd, 3 * config.n_embd)  # (C, 3C): q, k, v side by side
        self.c_proj = Conv1D(config.n_embd, config.n_embd)  # (C, C)
        self.attn_pdrop = config.attn_pdrop
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x):  # (B, T, C)
        B, T, C = x.shape
        HS = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)  # (B, T, C) each
        q, k, v = (t.view(B, T, self.n_head, HS).transpose(1, 2) for t in (q, k, v))  # (B, NH, T, HS)
        dropout = self.attn_pdrop if self.training else 0.0
        if hasattr(F, "scaled_dot_product_attention"):  # torch ≥ 2.0: fused kernels on the GPU
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        else:  # torch 1.13 (Debian, CI)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(HS)  # (B, NH, T, T)
            causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            att = F.dropout(att.masked_fill(~causal, float("-inf")).softmax(dim=-1), dropout, self.training)
            y = att @ v  # (B, NH, T, HS)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        self.c_fc = Conv1D(config.n_embd, config.inner)  # (C, F)
        self.c_proj = Conv1D(config.inner, config.n_embd)  # (F, C)
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x):  # (B, T, C)
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))  # gelu_new: the tanh form


class Block(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = MLP(config)

    def forward(self, x):  # (B, T, C)
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        self.config = config
        self.wte = VocabMatrix(config.vocab_size, config.n_embd)  # (V, C)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)  # (P, C)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.lm_head = None if config.tie_word_embeddings else VocabMatrix(config.vocab_size, config.n_embd)  # (V, C)
        self.quantize_head_input = False  # per-token int8 on ln_f's output, when the head's weight is quantized
        self.quantization: Optional[dict] = None  # set by quantize_model: method and bit widths
        self.source_dir: Optional[str] = None  # set by load_hf: where vocab.json / merges.txt may be
        self._init_weights()

    def _init_weights(self):
        # GPT-2's: N(0, 0.02), residual projections scaled by 1/√(2L) (Radford et al. 2019, §2.3).
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif ".ln_" in name or name.startswith("ln_f"):
                nn.init.ones_(p)
            else:
                std = 0.02 / math.sqrt(2 * self.config.n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx: torch.Tensor, return_hidden: bool = False):
        """idx (B, T) int64 → logits (B, T, V), or (logits, hidden (B, T, C): ln_f's output, before any
        activation quantization of the head's input)."""
        B, T = idx.shape
        if T > self.config.n_positions:
            raise ValueError(f"sequence of {T} tokens is longer than n_positions = {self.config.n_positions}")
        wte = self.wte.effective_weight()  # (V, C), fake-quantized once for the lookup and the tied head
        pos = torch.arange(T, device=idx.device)
        x = self.drop(F.embedding(idx, wte) + self.wpe(pos))  # (B, T, C)
        for block in self.h:
            x = block(x)
        hidden = self.ln_f(x)  # (B, T, C)
        head = wte if self.lm_head is None else self.lm_head.effective_weight()  # (V, C)
        logits = F.linear(fake_quant_act(hidden) if self.quantize_head_input else hidden, head)  # (B, T, V)
        return (logits, hidden) if return_hidden else logits

    def hf_state_dict(self) -> Dict[str, torch.Tensor]:
        """The Hugging Face tensors (expected_shapes' names, in order), without quantizer parameters."""
        state = self.state_dict()
        return {name: state[name] for name in expected_shapes(self.config)}

    def quantizable(self) -> Iterator[Tuple[str, nn.Module]]:
        """(weight name, holder) for every weight a quantized checkpoint quantizes: the Conv1D weights,
        wte and an untied lm_head, in state_dict order."""
        for name, m in self.named_modules():
            if isinstance(m, (Conv1D, VocabMatrix)):
                yield f"{name}.weight", m


def expected_shapes(c: GPT2Config) -> Dict[str, Tuple[int, ...]]:
    """Every tensor a GPT-2 checkpoint holds, with its shape; lm_head.weight only when untied."""
    C, F_ = c.n_embd, c.inner
    shapes = {"wte.weight": (c.vocab_size, C), "wpe.weight": (c.n_positions, C)}
    for i in range(c.n_layer):
        p = f"h.{i}."
        shapes.update({
            p + "ln_1.weight": (C,), p + "ln_1.bias": (C,),
            p + "attn.c_attn.weight": (C, 3 * C), p + "attn.c_attn.bias": (3 * C,),
            p + "attn.c_proj.weight": (C, C), p + "attn.c_proj.bias": (C,),
            p + "ln_2.weight": (C,), p + "ln_2.bias": (C,),
            p + "mlp.c_fc.weight": (C, F_), p + "mlp.c_fc.bias": (F_,),
            p + "mlp.c_proj.weight": (F_, C), p + "mlp.c_proj.bias": (C,),
        })
    shapes.update({"ln_f.weight": (C,), "ln_f.bias": (C,)})
    if not c.tie_word_embeddings:
        shapes["lm_head.weight"] = (c.vocab_size, C)
    return shapes


# ─── quantization ─────────────────────────────────────────────────────────────────────────────────

def quantize_model(model: GPT2, method: str, weight_bits: int, embedding_bits: Optional[int] = None,
                   activation_bits: int = 8, gamma_init: Union[str, float] = "auto", group_size: int = 0) -> GPT2:
    """Attaches a fresh `method` quantizer (quant.METHODS) to every Conv1D weight (weight_bits) and to wte and
    an untied lm_head (embedding_bits; None → weight_bits, 32 → left fp32), each initialised from its
    weight (QuantGPT's γ by the rule gamma_init: see quant.DynamicScaleQuantizer); with activation_bits 8,
    the inputs of the quantized layers and of a quantized head are fake-quantized per token. Position embeddings, biases and LayerNorms stay fp32. Call it before
    wrapping the model (DDP, torch.compile) and before building the optimizer: the quantizers' parameters
    (γ, α or s) are new. group_size > 0: one scale per G input features (QuantGPT only; FORMAT.md §1)."""
    embedding_bits = weight_bits if embedding_bits is None else embedding_bits
    if weight_bits not in (2, 4, 8):
        raise ValueError(f"weight_bits is {weight_bits}; expected 2, 4 or 8")
    if embedding_bits not in (2, 4, 8, 32):
        raise ValueError(f"embedding_bits is {embedding_bits}; expected 2, 4, 8 or 32")
    if activation_bits not in (8, 32):
        raise ValueError(f"activation_bits is {activation_bits}; expected 8 or 32")
    for _, holder in model.quantizable():
        bits = embedding_bits if isinstance(holder, VocabMatrix) else weight_bits
        quantizer = None
        if bits != 32:
            quantizer = make_quantizer(method, bits, gamma_init, group_size, holder.input_axis).to(holder.weight.device)
            quantizer.init_from_weight(holder.weight.detach())
        holder.weight_quantizer = quantizer
        if hasattr(holder, "quantize_input"):  # linear layers (GPT-2's Conv1D, BART's QLinear)
            holder.quantize_input = activation_bits == 8
    model.quantize_head_input = activation_bits == 8 and embedding_bits != 32
    model.quantization = {"method": method, "weight_bits": weight_bits, "embedding_bits": embedding_bits,
                          "activation_bits": activation_bits, "granularity": "group" if group_size else "module",
                          "group_size": group_size}
    return model


def _unwrap(model: nn.Module) -> GPT2:
    """The model (GPT2, or bart.Bart: anything with quantizable()) inside a DistributedDataParallel (.module)
    or torch.compile (._orig_mod) wrapper."""
    while not hasattr(model, "quantizable"):
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            raise TypeError(f"expected a GPT2 or BART model, found {type(model).__name__}")
        model = inner
    return model


# ─── checkpoint files ─────────────────────────────────────────────────────────────────────────────

def _read_tensors(path: str) -> Dict[str, Tuple[torch.Tensor, str]]:
    """{canonical name: (tensor, file)} from model.safetensors or the shards a model.safetensors.index.json
    lists, each whole or split into .part-NN files; `transformer.` stripped, causal-mask buffers dropped."""
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            weight_map = json.load(f).get("weight_map")
        if not isinstance(weight_map, dict):
            raise ValueError(f"{index}: shard index has no weight_map object")
        files = [os.path.join(path, name) for name in sorted(set(weight_map.values()))]
    else:
        files = [os.path.join(path, "model.safetensors")]
        if not safetensors_exists(files[0]):
            raise FileNotFoundError(f"{path}: no weights: neither model.safetensors (whole or as .part-00, .part-01, …) "
                                    f"nor model.safetensors.index.json")
    out: Dict[str, Tuple[torch.Tensor, str]] = {}
    for file in files:
        for name, t in read_safetensors(file)[0].items():
            canonical = name[len("transformer."):] if name.startswith("transformer.") else name
            if canonical.endswith(_IGNORED_SUFFIXES):
                continue
            if canonical in out:
                raise ValueError(f"{file}: tensor {canonical} appears twice (also in {out[canonical][1]})")
            out[canonical] = (t, file)
    return out


def _read_config(path: str) -> dict:
    cfg_path = os.path.join(path, "config.json")
    if not os.path.exists(cfg_path):
        raise FileNotFoundError(f"{path}: not a Hugging Face checkpoint directory: config.json is missing")
    with open(cfg_path, encoding="utf-8") as f:
        return json.load(f)


def _check_shape(t: torch.Tensor, shape, name: str, file: str) -> None:
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{file}: tensor {name}: shape {list(t.shape)} does not match config.json; expected {list(shape)}")


def load_hf(path: str, device: str = "cpu") -> Tuple[GPT2Config, GPT2]:
    """A Hugging Face GPT-2 directory → (config, fp32 model). F32/F16/BF16 tensors, with or without the
    `transformer.` prefix, single file or shards; every shape checked; a tied checkpoint's copy of
    lm_head.weight, if present, is ignored (the head reads wte)."""
    raw = _read_config(path)
    if "quantization_config" in raw:
        raise ValueError(f"{path}: a quantized checkpoint (config.json has quantization_config); read it with load_quantized")
    config = GPT2Config.from_hf_dict(raw, os.path.join(path, "config.json"))
    model = GPT2(config)
    stored = _read_tensors(path)
    if config.tie_word_embeddings:
        stored.pop("lm_head.weight", None)
    fill_plain(model.state_dict(), stored, expected_shapes(config), path, f"GPT-2 ({config.n_layer} layers)")
    model.source_dir = path
    return config, model.to(device)


def save_hf(model: nn.Module, path: str, dtype: torch.dtype = torch.float32, max_shard_bytes: int = SHARD_BYTES,
            tokenizer_dir: Optional[str] = None) -> None:
    """Writes config.json and the Hugging Face tensors (latent weights; quantizers are not saved) in `dtype`,
    as model.safetensors or, past max_shard_bytes, as model-0000i-of-0000n.safetensors shards with
    model.safetensors.index.json. Copies vocab.json/merges.txt from tokenizer_dir (default: where the
    model was loaded from) when both are there. A tied lm_head is not written."""
    model = _unwrap(model)
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"save_hf writes float32, float16 or bfloat16, not {dtype}")
    tensors = {name: t.detach().to("cpu", dtype) for name, t in model.hf_state_dict().items()}
    _write_checkpoint(path, tensors, model.config.to_hf_dict(), max_shard_bytes, tokenizer_dir or model.source_dir)


def save_quantized(model: nn.Module, path: str, quantization_config: Optional[dict] = None,
                   tokenizer_dir: Optional[str] = None, max_shard_bytes: int = SHARD_BYTES) -> dict:
    """The quantized checkpoint of docs/FORMAT.md §2 for a model that quantize_model prepared: `{name}.qweight`
    (I8, the weight's shape) and `{name}.scale` (F32, shape [], or scale_shape for groups) from each quantizer's export(), every other
    tensor F32, and config.json's quantization_config, which this returns. Keys given in
    quantization_config are added; those describing the quantizers must agree with the model's."""
    model = _unwrap(model)
    if model.quantization is None:
        raise ValueError("model has no quantizers: call quantize_model(model, ...) first")
    qc = {"format": QUANTIZED_FORMAT, "format_version": QUANTIZED_FORMAT_VERSION, "granularity": "module",
          "group_size": 0, **model.quantization}
    for key, value in (quantization_config or {}).items():
        if key in qc and key != "method" and qc[key] != value:
            raise ValueError(f"quantization_config[{key!r}] is {value!r}, but the model's quantizers give {qc[key]!r}")
        qc[key] = value
    quantizers = _check_quantized(model, qc)
    tensors: Dict[str, torch.Tensor] = {}
    for name, t in model.hf_state_dict().items():
        q = quantizers.get(name)
        if q is None:
            tensors[name] = t.detach().to("cpu", torch.float32)
            continue
        codes, step = q.export(t)
        if codes.abs().max() > q.k:
            raise AssertionError(f"internal: {name} codes outside [-{q.k}, {q.k}]")
        tensors[f"{name}.qweight"] = codes.to("cpu", torch.int8)
        tensors[f"{name}.scale"] = step.to("cpu", torch.float32).reshape(step.shape if qc["group_size"] else ())
    config = {**model.config.to_hf_dict(), "quantization_config": qc}
    _write_checkpoint(path, tensors, config, max_shard_bytes, tokenizer_dir or model.source_dir)
    return qc


def _check_quantized(model: GPT2, qc: dict) -> Dict[str, WeightQuantizer]:
    """{weight name: quantizer}, after checking the model quantizes what qc says the exporter will."""
    act8 = qc["activation_bits"] == 8
    out = {}
    for name, holder in model.quantizable():
        bits = qc["embedding_bits"] if isinstance(holder, VocabMatrix) else qc["weight_bits"]
        q = holder.weight_quantizer
        if (q.bits if q is not None else 32) != bits:
            raise ValueError(f"{name}: quantized to {q.bits if q is not None else 32} bits, but quantization_config says {bits}")
        if hasattr(holder, "quantize_input") and holder.quantize_input != act8:
            raise ValueError(f"{name}: input quantization is {holder.quantize_input}, but activation_bits is {qc['activation_bits']}")
        if q is not None and getattr(q, "group_size", 0) != qc["group_size"]:
            raise ValueError(f"{name}: group size {getattr(q, 'group_size', 0)}, but quantization_config says {qc['group_size']}")
        if q is not None:
            out[name] = q
    if model.quantize_head_input != (act8 and qc["embedding_bits"] != 32):
        raise ValueError("the head's input quantization does not match activation_bits / embedding_bits")
    return out


def load_quantized(path: str, device: str = "cpu") -> Tuple[GPT2Config, GPT2, dict]:
    """A quantized checkpoint (ours or `lowbit quantize`'s) → (config, model, quantization_config): the model's
    fp32 weights are codes · scale (module or group scales) and its activation quantization is switched
    on as activation_bits says; it has no weight quantizers (attach some to train on)."""
    raw = _read_config(path)
    qc = raw.get("quantization_config")
    if not isinstance(qc, dict) or qc.get("format") != QUANTIZED_FORMAT:
        raise ValueError(f"{path}: not a lowbit quantized checkpoint (config.json's quantization_config.format)")
    if qc.get("format_version") != QUANTIZED_FORMAT_VERSION:
        raise ValueError(f"{path}: quantized checkpoint format_version {qc.get('format_version')!r}; this reader "
                         f"reads {QUANTIZED_FORMAT_VERSION}: re-export the checkpoint with this lowbit version")
    config = GPT2Config.from_hf_dict(raw, os.path.join(path, "config.json"))
    model = GPT2(config)
    stored = _read_tensors(path)
    state = model.state_dict()
    fill_dequantized(state, stored, expected_shapes(config), qc, lambda name: 1 if name in VOCAB_MATRICES else 0, path)
    act8 = qc.get("activation_bits") == 8
    for _, holder in model.quantizable():
        if isinstance(holder, Conv1D):
            holder.quantize_input = act8
    model.quantize_head_input = act8 and qc.get("embedding_bits") != 32
    model.source_dir = path
    return config, model.to(device), qc


def fill_plain(state: Dict[str, torch.Tensor], stored: Dict[str, Tuple[torch.Tensor, str]], shapes: Dict[str, Tuple[int, ...]],
               path: str, model_name: str) -> None:
    """Copies a plain checkpoint's F32/F16/BF16 tensors into a model's state as fp32: no tensor the model has no
    place for, none missing, every shape and dtype checked, each error naming the file and the tensor."""
    unexpected = sorted(set(stored) - set(shapes))
    if unexpected:
        raise ValueError(f"{path}: tensors that {model_name} has no place for: {', '.join(unexpected[:8])}")
    with torch.no_grad():
        for name, shape in shapes.items():
            if name not in stored:
                raise ValueError(f"{path}: missing tensor {name}; expected shape {list(shape)}")
            t, file = stored[name]
            _check_shape(t, shape, name, file)
            if t.dtype not in (torch.float32, torch.float16, torch.bfloat16):
                raise ValueError(f"{file}: tensor {name} is {t.dtype}; expected F32, F16 or BF16")
            state[name].copy_(t.to(torch.float32))


def fill_dequantized(state: Dict[str, torch.Tensor], stored: Dict[str, Tuple[torch.Tensor, str]], shapes: Dict[str, Tuple[int, ...]],
                     qc: dict, input_axis, path: str) -> None:
    """Copies a quantized checkpoint's tensors into a model's state: codes · scale (module or group scales along
    input_axis(name)) for each `{name}.qweight`, the rest as stored; every shape checked, a missing tensor named."""
    G = qc.get("group_size", 0) if qc.get("granularity") == "group" else 0
    with torch.no_grad():
        for name, shape in shapes.items():
            if f"{name}.qweight" in stored:
                (codes, file), (scale, _) = stored[f"{name}.qweight"], stored[f"{name}.scale"]
                _check_shape(codes, shape, f"{name}.qweight", file)
                scale = scale.float().reshape(()) if G == 0 else scale.float()
                state[name].copy_(codes.float() * expand_scale(scale, shape, input_axis(name), G))
            elif name in stored:
                _check_shape(stored[name][0], shape, name, stored[name][1])
                state[name].copy_(stored[name][0].float())
            else:
                raise ValueError(f"{path}: missing tensor {name} (or {name}.qweight + .scale)")


def _write_checkpoint(path: str, tensors: Dict[str, torch.Tensor], config: dict, max_shard_bytes: int,
                      tokenizer_dir: Optional[str]) -> None:
    """Weights (one file, or shards + index), tokenizer, then config.json last: a directory with a config but
    half its weights never looks complete. Every file goes through a temp file and a rename."""
    os.makedirs(path, exist_ok=True)
    metadata = {"format": "pt"}
    shards, current = [], {}
    for name, t in tensors.items():
        if current and safetensors_size({**current, name: t}, metadata) > max_shard_bytes:
            shards.append(current)
            current = {}
        current[name] = t
        if len(current) == 1 and safetensors_size(current, metadata) > max_shard_bytes:
            # A tensor is never split across files (readers map one name to one file).
            warnings.warn(f"{name} alone needs {safetensors_size(current, metadata)} bytes, more than "
                          f"max_shard_bytes = {max_shard_bytes}: it gets a shard of its own that exceeds the limit")
    shards.append(current)
    index_path = os.path.join(path, "model.safetensors.index.json")
    if len(shards) == 1:
        written = {"model.safetensors"}
        write_safetensors(os.path.join(path, "model.safetensors"), shards[0], metadata)
    else:
        written, weight_map = set(), {}
        for i, shard in enumerate(shards):
            fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
            write_safetensors(os.path.join(path, fname), shard, metadata)
            written.add(fname)
            weight_map.update({name: fname for name in shard})
        total = sum(t.numel() * t.element_size() for t in tensors.values())
        _write_json(index_path, {"metadata": {"total_size": total}, "weight_map": weight_map})
        written.add("model.safetensors.index.json")
    # Files of an earlier save that the new one does not replace would mislead a reader.
    for fname in os.listdir(path):
        stale = (fname in ("model.safetensors", "model.safetensors.index.json") or _SHARD_NAME.match(fname)
                 or _PART_NAME.match(fname))
        if stale and fname not in written:
            os.remove(os.path.join(path, fname))
    if tokenizer_dir and os.path.abspath(tokenizer_dir) != os.path.abspath(path):
        sources = [os.path.join(tokenizer_dir, f) for f in ("vocab.json", "merges.txt")]
        if all(os.path.exists(s) for s in sources):
            for src in sources:
                tmp = os.path.join(path, f"{os.path.basename(src)}.tmp-{os.getpid()}")
                shutil.copyfile(src, tmp)
                os.replace(tmp, os.path.join(path, os.path.basename(src)))
    _write_json(os.path.join(path, "config.json"), config)


def _write_json(file: str, obj) -> None:
    tmp = f"{file}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, file)
