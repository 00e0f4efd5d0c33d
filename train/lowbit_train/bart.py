"""BART for quantization-aware training (QuantBART), with Hugging Face's weight names, and its checkpoint files.

    config, model = load_bart("runs/bart-teacher/model")   # config.json + model.safetensors (or shards)
    quantize_model(model, "quantgpt", weight_bits=2, embedding_bits=2, activation_bits=8)   # model.py's, shared
    logits, hidden = model(src, src_mask, dec_in, return_hidden=True)  # (B, T, V), (B, T, d)
    save_quantized(model, "out/w2/")                         # docs/FORMAT.md §4: what `lowbit export` reads

The forward is the one src/reference/bart.ts and src/runtime compute (HF's modeling_bart.py, post-LayerNorm,
no final LayerNorm, exact-erf GELU, positions at row p + 2, logits = h · sharedᵀ + final_logits_bias), and
state_dict() keys are HF BartForConditionalGeneration's (`model.` prefix; the tied embed_tokens/lm_head
copies are not separate tensors). Linear weights are nn.Linear's (out, in), as on disk; the exporter
transposes them. Quantization hooks sit where the exported graph quantizes (src/export/bart_onnx.ts): every
linear's weight and input row, and `shared`, read by both lookups and the head, whose input row is quantized
too. Padding: sources are right-padded with a key mask, targets right-padded under the causal mask, so a
padded batch computes what the runtime computes for each sequence alone.
Not here: the quantizers (quant.py), quantize_model/save_quantized (model.py, shared with GPT-2), noising
(denoise.py) and the loop (train_bart.py).

Dimension letters: B batch, S source tokens, T target tokens, d d_model, NH heads, HS = d / NH, F ffn, V vocab,
P max_position_embeddings.
"""

import json
import math
import os
from dataclasses import dataclass, fields
from typing import Dict, Iterator, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import (QUANTIZED_FORMAT, QUANTIZED_FORMAT_VERSION, Conv1D, VocabMatrix, _read_config, _read_tensors,
                    _write_json, fill_dequantized, fill_plain)
from .quant import fake_quant_act

POSITION_OFFSET = 2  # BartLearnedPositionalEmbedding: position p is row p + 2
SHARED = "model.shared.weight"  # (V, d): the one vocabulary matrix (lookups of both stacks and the head)
TIED_COPIES = ("model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight", "lm_head.weight")


# ─── config ───────────────────────────────────────────────────────────────────────────────────────

@dataclass
class BartConfig:
    vocab_size: int = 50265  # V
    d_model: int = 768  # d
    encoder_layers: int = 6
    decoder_layers: int = 6
    encoder_attention_heads: int = 12  # NH (encoder)
    decoder_attention_heads: int = 12  # NH (decoder)
    encoder_ffn_dim: int = 3072  # F (encoder)
    decoder_ffn_dim: int = 3072  # F (decoder)
    max_position_embeddings: int = 1024  # P: rows of each embed_positions are P + 2
    activation_function: str = "gelu"  # exact erf GELU; "gelu_new" is the tanh form
    scale_embedding: bool = False  # multiply token embeddings by √d
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    decoder_start_token_id: int = 2
    forced_eos_token_id: int = 2
    dropout: float = 0.0  # on embeddings and residual branches; set by the training config, not read from HF files
    attention_dropout: float = 0.0  # (ditto)
    activation_dropout: float = 0.0  # after the FFN's activation (ditto)

    @classmethod
    def from_hf_dict(cls, raw: dict, source: str = "config.json") -> "BartConfig":
        """A Hugging Face BART config.json, checked as src/format/bart_config.ts checks the keys training uses."""
        if raw.get("model_type") != "bart":
            raise ValueError(f"{source}: model_type is {raw.get('model_type')!r}; expected 'bart'")
        ints = ("vocab_size", "d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads",
                "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim", "max_position_embeddings")
        for key in ints:
            v = raw.get(key)
            if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
                raise ValueError(f"{source}: config key {key} is {v!r}; expected a positive integer")
        for key in ("encoder_attention_heads", "decoder_attention_heads"):
            if raw["d_model"] % raw[key]:
                raise ValueError(f"{source}: d_model {raw['d_model']} is not a multiple of {key} {raw[key]}")
        act = raw.get("activation_function", "gelu")
        if act not in ("gelu", "gelu_new"):
            raise ValueError(f"{source}: activation_function is {act!r}; expected gelu or gelu_new")
        if raw.get("tie_word_embeddings", True) is False:
            raise ValueError(f"{source}: tie_word_embeddings false is not supported (the head reads shared)")
        for flag, ok in (("normalize_before", False), ("add_final_layer_norm", False), ("add_bias_logits", False),
                         ("normalize_embedding", True), ("static_position_embeddings", False)):
            if raw.get(flag, ok) != ok:
                raise ValueError(f"{source}: unsupported config option {flag}={raw[flag]!r}; expected {ok}")
        ids = {}
        for key, default in (("pad_token_id", 1), ("bos_token_id", 0), ("eos_token_id", 2), ("decoder_start_token_id", 2),
                             ("forced_eos_token_id", 2)):
            v = raw.get(key, default)
            v = default if v is None else v
            if not (isinstance(v, int) and 0 <= v < raw["vocab_size"]):
                raise ValueError(f"{source}: {key} is {v!r}; expected a token id below vocab_size {raw['vocab_size']}")
            ids[key] = v
        return cls(**{k: raw[k] for k in ints}, activation_function=act, scale_embedding=raw.get("scale_embedding", False) is True,
                   **ids)

    def to_hf_dict(self) -> dict:
        d = {"architectures": ["BartForConditionalGeneration"], "model_type": "bart", "is_encoder_decoder": True,
             "tie_word_embeddings": True}
        d.update({f.name: getattr(self, f.name) for f in fields(self)})
        return d


# ─── modules ──────────────────────────────────────────────────────────────────────────────────────

class QLinear(Conv1D):
    """nn.Linear's layout (weight (out, in) = (N, K), as HF stores BART's) with Conv1D's quantization hooks: the
    weight's quantizer (groups along the input axis 1) and per-token int8 input rows (quantize_input)."""

    input_axis = 1  # model.quantize_model: groups and init run along the input features

    def __init__(self, k: int, n: int):
        super().__init__(k, n)
        self.weight = nn.Parameter(torch.empty(n, k))  # (N, K)

    def product(self, x, w):  # x (…, K), w (N, K) → (…, N)
        return F.linear(x, w, self.bias)


def _attend(q, k, v, key_mask: Optional[torch.Tensor], causal: bool, dropout: float):
    """q (B, NH, T, HS), k/v (B, NH, S, HS), key_mask (B, S) bool (True = a real token) → (B, NH, T, HS).
    Scaled by 1/√HS (HF scales q after q_proj; the same product)."""
    mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, S)
    if hasattr(F, "scaled_dot_product_attention"):  # torch ≥ 2.0
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=causal and mask is None)
    att = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, NH, T, S)
    if causal:
        T, S = att.shape[-2:]
        att = att.masked_fill(~torch.ones(T, S, dtype=torch.bool, device=q.device).tril(), float("-inf"))
    if mask is not None:
        att = att.masked_fill(~mask, float("-inf"))
    att = F.dropout(att.softmax(dim=-1), dropout, dropout > 0)
    return att @ v


class Attention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.k_proj, self.v_proj, self.q_proj, self.out_proj = (QLinear(d, d) for _ in range(4))  # (d, d) each

    def forward(self, x, kv, key_mask=None, causal=False):  # x (B, T, d), kv (B, S, d)
        B, T, d = x.shape
        S, NH = kv.shape[1], self.heads
        q = self.q_proj(x).view(B, T, NH, d // NH).transpose(1, 2)  # (B, NH, T, HS)
        k = self.k_proj(kv).view(B, S, NH, d // NH).transpose(1, 2)  # (B, NH, S, HS)
        v = self.v_proj(kv).view(B, S, NH, d // NH).transpose(1, 2)
        y = _attend(q, k, v, key_mask, causal, self.dropout if self.training else 0.0)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, d))


class Layer(nn.Module):
    """An encoder layer, or with cross=True a decoder layer (self-attention, cross-attention, FFN), post-LN."""

    def __init__(self, c: BartConfig, cross: bool):
        super().__init__()
        d = c.d_model
        heads, ffn = (c.decoder_attention_heads, c.decoder_ffn_dim) if cross else (c.encoder_attention_heads, c.encoder_ffn_dim)
        self.self_attn = Attention(d, heads, c.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d, eps=1e-5)
        if cross:
            self.encoder_attn = Attention(d, heads, c.attention_dropout)
            self.encoder_attn_layer_norm = nn.LayerNorm(d, eps=1e-5)
        self.fc1 = QLinear(d, ffn)  # (F, d) on disk
        self.fc2 = QLinear(ffn, d)  # (d, F)
        self.final_layer_norm = nn.LayerNorm(d, eps=1e-5)
        self.act = (lambda t: F.gelu(t)) if c.activation_function == "gelu" else (lambda t: F.gelu(t, approximate="tanh"))
        self.drop = nn.Dropout(c.dropout)
        self.act_drop = nn.Dropout(c.activation_dropout)

    def forward(self, x, self_mask=None, enc=None, enc_mask=None, causal=False):  # x (B, T, d)
        x = self.self_attn_layer_norm(x + self.drop(self.self_attn(x, x, self_mask, causal)))
        if enc is not None:
            x = self.encoder_attn_layer_norm(x + self.drop(self.encoder_attn(x, enc, enc_mask)))
        return self.final_layer_norm(x + self.drop(self.fc2(self.act_drop(self.act(self.fc1(x))))))


class Stack(nn.Module):
    """BartEncoder (cross=False) or BartDecoder: positions, layernorm_embedding, layers. The token lookup reads
    the shared matrix that the caller passes (fake-quantized once per forward)."""

    def __init__(self, c: BartConfig, cross: bool):
        super().__init__()
        self.embed_positions = nn.Embedding(c.max_position_embeddings + POSITION_OFFSET, c.d_model)  # (P + 2, d)
        self.layernorm_embedding = nn.LayerNorm(c.d_model, eps=1e-5)
        self.layers = nn.ModuleList(Layer(c, cross) for _ in range(c.decoder_layers if cross else c.encoder_layers))
        self.embed_scale = math.sqrt(c.d_model) if c.scale_embedding else 1.0
        self.drop = nn.Dropout(c.dropout)
        self.causal = cross

    def forward(self, ids, shared, mask=None, enc=None, enc_mask=None):  # ids (B, T) → (B, T, d)
        T = ids.shape[1]
        pos = torch.arange(POSITION_OFFSET, T + POSITION_OFFSET, device=ids.device)
        x = self.drop(self.layernorm_embedding(F.embedding(ids, shared) * self.embed_scale + self.embed_positions(pos)))
        for layer in self.layers:
            x = layer(x, None if self.causal else mask, enc, enc_mask, self.causal)
        return x


class _Core(nn.Module):  # HF's BartModel: the `model.` in every name
    def __init__(self, c: BartConfig):
        super().__init__()
        self.shared = VocabMatrix(c.vocab_size, c.d_model)  # (V, d)
        self.encoder = Stack(c, cross=False)
        self.decoder = Stack(c, cross=True)


class Bart(nn.Module):
    """BartForConditionalGeneration with lowbit's quantization hooks (the protocol model.quantize_model and
    model.save_quantized use: quantizable(), quantize_head_input, quantization, hf_state_dict(), config)."""

    def __init__(self, config: BartConfig):
        super().__init__()
        self.config = config
        self.model = _Core(config)
        self.register_buffer("final_logits_bias", torch.zeros(1, config.vocab_size))  # (1, V)
        self.quantize_head_input = False
        self.quantization: Optional[dict] = None
        self.source_dir: Optional[str] = None
        self._init_weights()

    def _init_weights(self):
        for name, p in self.named_parameters():  # HF's BART init: N(0, 0.02), zero biases, unit LayerNorms
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "layer_norm" in name or "layernorm" in name:
                nn.init.ones_(p)
            else:
                nn.init.normal_(p, 0.0, 0.02)

    def encode(self, src: torch.Tensor, src_mask: Optional[torch.Tensor], shared: torch.Tensor) -> torch.Tensor:
        return self.model.encoder(src, shared, src_mask)  # (B, S, d)

    def forward(self, src: torch.Tensor, src_mask: Optional[torch.Tensor], dec_in: torch.Tensor, return_hidden: bool = False):
        """src (B, S) int64, src_mask (B, S) bool or None (no padding), dec_in (B, T) → logits (B, T, V), or
        (logits, hidden (B, T, d): the decoder's last output, before the head's input quantization)."""
        P = self.config.max_position_embeddings
        if src.shape[1] > P or dec_in.shape[1] > P:
            raise ValueError(f"sequence of {max(src.shape[1], dec_in.shape[1])} tokens is longer than max_position_embeddings = {P}")
        shared = self.model.shared.effective_weight()  # (V, d): one fake-quantized copy for lookups and head
        enc = self.encode(src, src_mask, shared)
        hidden = self.model.decoder(dec_in, shared, None, enc, src_mask)  # (B, T, d)
        head_in = fake_quant_act(hidden) if self.quantize_head_input else hidden
        logits = F.linear(head_in, shared) + self.final_logits_bias  # (B, T, V)
        return (logits, hidden) if return_hidden else logits

    def hf_state_dict(self) -> Dict[str, torch.Tensor]:
        state = self.state_dict()
        return {name: state[name] for name in expected_shapes(self.config)}

    def quantizable(self) -> Iterator[Tuple[str, nn.Module]]:
        """(weight name, holder): every linear weight, then shared, in state_dict order."""
        for name, m in self.named_modules():
            if isinstance(m, (QLinear, VocabMatrix)):
                yield f"{name}.weight", m


def expected_shapes(c: BartConfig) -> Dict[str, Tuple[int, ...]]:
    """Every tensor a BART checkpoint holds (HF names, no tied copies), with its HF shape (Linear: (out, in))."""
    d, V, P2 = c.d_model, c.vocab_size, c.max_position_embeddings + POSITION_OFFSET
    shapes: Dict[str, Tuple[int, ...]] = {SHARED: (V, d)}
    for side, n, ffn in (("encoder", c.encoder_layers, c.encoder_ffn_dim), ("decoder", c.decoder_layers, c.decoder_ffn_dim)):
        p = f"model.{side}."
        shapes[p + "embed_positions.weight"] = (P2, d)
        for i in range(n):
            lp = f"{p}layers.{i}."
            attns = ("self_attn", "encoder_attn") if side == "decoder" else ("self_attn",)
            for a in attns:
                for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
                    shapes.update({f"{lp}{a}.{proj}.weight": (d, d), f"{lp}{a}.{proj}.bias": (d,)})
                shapes.update({f"{lp}{a}_layer_norm.weight": (d,), f"{lp}{a}_layer_norm.bias": (d,)})
            shapes.update({f"{lp}fc1.weight": (ffn, d), f"{lp}fc1.bias": (ffn,), f"{lp}fc2.weight": (d, ffn), f"{lp}fc2.bias": (d,),
                           f"{lp}final_layer_norm.weight": (d,), f"{lp}final_layer_norm.bias": (d,)})
        shapes.update({p + "layernorm_embedding.weight": (d,), p + "layernorm_embedding.bias": (d,)})
    shapes["final_logits_bias"] = (1, V)
    return shapes


# ─── checkpoint files ─────────────────────────────────────────────────────────────────────────────

def _canonical(stored: Dict[str, Tuple[torch.Tensor, str]], path: str) -> Dict[str, Tuple[torch.Tensor, str]]:
    """HF names with the `model.` prefix (optional on disk), tied copies checked against shared and dropped."""
    out = {}
    for name, value in stored.items():
        plain = name[len("model."):] if name.startswith("model.") else name
        key = plain if plain in ("final_logits_bias", "lm_head.weight") else f"model.{plain}"
        if key in out:
            raise ValueError(f"{value[1]}: tensor {key} appears twice (with and without the model. prefix)")
        out[key] = value
    shared = out.get(SHARED)
    for copy in TIED_COPIES:
        if copy in out:
            t, file = out.pop(copy)
            if shared is not None and not torch.equal(t.float(), shared[0].float()):
                raise ValueError(f"{file}: {copy} differs from {SHARED}; lowbit's BART ties them (tie_word_embeddings)")
    return out


def load_bart(path: str, device: str = "cpu") -> Tuple[BartConfig, Bart]:
    """A Hugging Face BART directory → (config, fp32 model); every shape checked (as model.load_hf for GPT-2)."""
    raw = _read_config(path)
    if "quantization_config" in raw:
        raise ValueError(f"{path}: a quantized checkpoint (config.json has quantization_config); read it with load_quantized_bart")
    config = BartConfig.from_hf_dict(raw, os.path.join(path, "config.json"))
    model = Bart(config)
    stored = _canonical(_read_tensors(path), path)
    fill_plain(model.state_dict(), stored, expected_shapes(config), path, "this BART")
    model.source_dir = path
    return config, model.to(device)


def load_quantized_bart(path: str, device: str = "cpu") -> Tuple[BartConfig, Bart, dict]:
    """A quantized BART checkpoint (FORMAT.md §4) → (config, model with weights codes · scale, quantization_config);
    activation quantization on as activation_bits says; no weight quantizers attached."""
    raw = _read_config(path)
    qc = raw.get("quantization_config")
    if not isinstance(qc, dict) or qc.get("format") != QUANTIZED_FORMAT:
        raise ValueError(f"{path}: not a lowbit quantized checkpoint (config.json's quantization_config.format)")
    if qc.get("format_version") != QUANTIZED_FORMAT_VERSION:
        raise ValueError(f"{path}: quantized checkpoint format_version {qc.get('format_version')!r}; expected {QUANTIZED_FORMAT_VERSION}")
    config = BartConfig.from_hf_dict(raw, os.path.join(path, "config.json"))
    model = Bart(config)
    stored = _canonical(_read_tensors(path), path)
    state = model.state_dict()
    fill_dequantized(state, stored, expected_shapes(config), qc, lambda name: 1, path)  # linears (out, in), shared (V, d): axis 1
    set_activation_quantization(model, qc.get("activation_bits") == 8, qc.get("embedding_bits") != 32)
    model.source_dir = path
    return config, model.to(device), qc


def load_any_bart(path: str, device: str = "cpu") -> Tuple[BartConfig, Bart, Optional[dict]]:
    """A plain or quantized BART directory, whichever config.json says."""
    if "quantization_config" in _read_config(path):
        return load_quantized_bart(path, device)
    config, model = load_bart(path, device)
    return config, model, None


def set_activation_quantization(model: Bart, linears: bool, head: bool) -> None:
    for _, holder in model.quantizable():
        if isinstance(holder, QLinear):
            holder.quantize_input = linears
    model.quantize_head_input = linears and head


def write_generation_config(path: str, settings: dict) -> None:
    """generation_config.json: the decoding defaults that `lowbit summarize` and transformers read."""
    _write_json(os.path.join(path, "generation_config.json"), settings)


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
