"""model.py: logits against transformers' on the committed tiny checkpoints, checkpoint round trips, and the
quantized checkpoint (docs/FORMAT.md §2) that quantize_model + save_quantized write."""

import json
import os

import pytest
import torch

from lowbit_train.model import (
    GPT2, GPT2Config, expected_shapes, load_hf, load_quantized, quantize_model, save_hf, save_quantized,
)
from lowbit_train.quant import METHODS, k_levels
from lowbit_train.safetensors_io import SafetensorsError, read_safetensors_plain, split_into_parts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GPT2_FIXTURES = os.path.join(ROOT, "test", "fixtures", "gpt2")
NAMES = ["tiny-f32", "tiny-f16", "tiny-bf16"]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # the GPU machine runs both


def fixture(name):
    with open(os.path.join(GPT2_FIXTURES, name, "expected.json"), encoding="utf-8") as f:
        return os.path.join(GPT2_FIXTURES, name), json.load(f)


def tiny_config(**kw):
    base = dict(vocab_size=97, n_positions=24, n_embd=32, n_layer=2, n_head=4, bos_token_id=96, eos_token_id=96)
    base.update(kw)
    return GPT2Config(**base)


# ─── against transformers ─────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", NAMES)
def test_logits_match_transformers(name, device):
    path, expected = fixture(name)
    _, model = load_hf(path, device)
    model.eval()
    with torch.no_grad():
        logits, hidden = model(torch.tensor([expected["prompt_ids"]], device=device), return_hidden=True)
    want = torch.tensor(expected["logits"])
    diff = (logits[0].cpu() - want).abs().max().item()
    assert diff < 1e-4, f"{name}: maxdiff {diff:.2e} vs transformers' logits (HINT: re-run scripts/make_fixtures.py?)"
    assert hidden.shape == (1, len(expected["prompt_ids"]), model.config.n_embd)


@pytest.mark.parametrize("name", NAMES)
def test_greedy_ids_match_transformers(name):
    path, expected = fixture(name)
    _, model = load_hf(path)
    model.eval()
    ids = list(expected["prompt_ids"])
    with torch.no_grad():
        for _ in range(len(expected["greedy_ids"])):
            ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    assert ids[len(expected["prompt_ids"]):] == expected["greedy_ids"]


def test_fixture_variants_load():
    cfg, model = load_hf(os.path.join(GPT2_FIXTURES, "tiny-bf16"))
    assert not cfg.tie_word_embeddings and cfg.inner == 3 * cfg.n_embd and model.lm_head is not None
    assert "lm_head.weight" in model.hf_state_dict()
    cfg, model = load_hf(os.path.join(GPT2_FIXTURES, "tiny-f16"))  # sharded, no prefix, attn.bias buffer
    assert cfg.tie_word_embeddings and model.lm_head is None
    assert list(model.hf_state_dict()) == list(expected_shapes(cfg))


def test_state_dict_names_are_hf_names():
    model = GPT2(tiny_config(n_inner=40))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == expected_shapes(model.config)
    assert shapes["h.1.attn.c_attn.weight"] == (32, 96) and shapes["h.0.mlp.c_fc.weight"] == (32, 40)


# ─── save_hf / load_hf ────────────────────────────────────────────────────────────────────────────

def test_round_trip_fp32_single_and_sharded(tmp_path):
    path, _ = fixture("tiny-f32")
    cfg, model = load_hf(path)
    out = str(tmp_path / "ckpt")
    limit = 100_000
    save_hf(model, out, max_shard_bytes=limit)
    files = sorted(os.listdir(out))
    shards = [f for f in files if f.startswith("model-")]
    assert len(shards) > 1 and "model.safetensors.index.json" in files and "model.safetensors" not in files
    assert all(os.path.getsize(os.path.join(out, f)) <= limit for f in shards)
    assert "vocab.json" in files and "merges.txt" in files and not [f for f in files if ".tmp-" in f]
    cfg2, back = load_hf(out)
    assert cfg2 == cfg
    for name, t in model.hf_state_dict().items():
        assert torch.equal(back.hf_state_dict()[name], t), name
    # Saving again as one file removes the shards and the index, which readers would otherwise prefer.
    save_hf(back, out)
    assert [f for f in sorted(os.listdir(out)) if f.startswith("model")] == ["model.safetensors"]
    _, again = load_hf(out)
    ids = torch.tensor([[1, 2, 3, 4]])
    assert torch.equal(again(ids), model(ids))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_save_half_precision(tmp_path, dtype):
    _, model = load_hf(os.path.join(GPT2_FIXTURES, "tiny-bf16"))
    save_hf(model, str(tmp_path), dtype=dtype)
    stored = read_safetensors_plain(str(tmp_path / "model.safetensors"))
    assert set(stored) == set(expected_shapes(model.config))
    for name, t in model.hf_state_dict().items():
        assert stored[name].dtype == dtype and torch.equal(stored[name], t.to(dtype)), name


def test_split_checkpoint_loads_the_same(tmp_path):
    """model.safetensors split at byte level into .part-NN files (how models/teacher is stored) loads to the same
    tensors; a part set that lost its last part is refused, naming the file and both sizes."""
    _, model = load_hf(fixture("tiny-f32")[0])
    out = str(tmp_path / "ckpt")
    save_hf(model, out, dtype=torch.float16)
    whole_path = os.path.join(out, "model.safetensors")
    whole = open(whole_path, "rb").read()
    parts = split_into_parts(whole_path, 100_000)
    assert [os.path.basename(p) for p in parts] == [f"model.safetensors.part-0{i}" for i in range(len(parts))]
    assert len(parts) == -(-len(whole) // 100_000) >= 3 and not os.path.exists(whole_path)
    assert all(os.path.getsize(p) <= 100_000 for p in parts) and not [f for f in os.listdir(out) if ".tmp-" in f]
    assert b"".join(open(p, "rb").read() for p in parts) == whole
    _, back = load_hf(out)
    for name, t in model.hf_state_dict().items():
        assert torch.equal(back.hf_state_dict()[name], t.half().float()), name
    missing = os.path.getsize(parts[-1])
    os.remove(parts[-1])
    with pytest.raises(SafetensorsError, match=rf"ckpt/model\.safetensors: its parts .*part-0{len(parts) - 2} do not .*expected "
                                               rf"{len(whole)} bytes, found {len(whole) - missing}"):
        load_hf(out)
    # Saving again writes one whole file and removes the parts left from the split.
    save_hf(back, out)
    assert [f for f in sorted(os.listdir(out)) if f.startswith("model")] == ["model.safetensors"]


def test_oversized_tensor_gets_its_own_shard(tmp_path):
    model = GPT2(tiny_config())
    with pytest.warns(UserWarning, match="wte.weight alone needs"):
        save_hf(model, str(tmp_path), max_shard_bytes=8000)
    _, back = load_hf(str(tmp_path))
    assert torch.equal(back.wte.weight, model.wte.weight)


def test_load_errors_name_the_tensor(tmp_path):
    model = GPT2(tiny_config())
    save_hf(model, str(tmp_path))
    cfg = json.load(open(tmp_path / "config.json"))
    cfg["n_inner"] = 64
    json.dump(cfg, open(tmp_path / "config.json", "w"))
    with pytest.raises(ValueError, match=r"h\.0\.mlp\.c_fc\.weight: shape \[32, 128\] does not match config.json; expected \[32, 64\]"):
        load_hf(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        load_hf(str(tmp_path / "nowhere"))


# ─── quantization ─────────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("method", METHODS)
def test_quantized_training_step(method):
    torch.manual_seed(0)
    model = quantize_model(GPT2(tiny_config()), method, weight_bits=2, embedding_bits=4, activation_bits=8)
    idx = torch.randint(0, 97, (2, 10))
    logits = model(idx)
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), idx.flatten())
    loss.backward()
    assert torch.isfinite(loss)
    assert model.wte.weight.grad is not None and model.h[0].attn.c_attn.weight.grad.abs().sum() > 0
    params = [n for n, _ in model.named_parameters() if "quantizer" in n]
    if method.startswith("rtn"):
        assert params == []
    else:
        assert len(params) == 1 + 4 * 2  # wte + four Conv1Ds per layer
        for n, p in model.named_parameters():
            if "quantizer" in n:
                assert p.grad is not None and torch.isfinite(p.grad), n


def test_quantized_embedding_is_read_by_lookup_and_head():
    torch.manual_seed(0)
    model = quantize_model(GPT2(tiny_config()), "quantgpt", 4, 2, 8).eval()
    w_hat = model.wte.effective_weight()
    codes, step = model.wte.weight_quantizer.export(model.wte.weight)
    assert torch.equal(w_hat, codes.float() * step) and int(codes.abs().max()) == 1
    idx = torch.tensor([[5, 6, 7]])
    # Same model with the fake-quantized embedding as plain weights and no embedding quantizer:
    plain = quantize_model(GPT2(tiny_config()), "quantgpt", 4, 32, 8).eval()
    plain.load_state_dict(model.state_dict(), strict=False)
    with torch.no_grad():
        plain.wte.weight.copy_(w_hat)
    plain.quantize_head_input = True
    assert torch.equal(plain(idx), model(idx))


def test_embedding_bits_32_keeps_the_embedding_float(tmp_path):
    model = quantize_model(GPT2(tiny_config()), "rtn-maxabs", 4, 32, 8)
    assert model.wte.weight_quantizer is None and not model.quantize_head_input
    qc = save_quantized(model, str(tmp_path))
    stored = read_safetensors_plain(str(tmp_path / "model.safetensors"))
    assert stored["wte.weight"].dtype == torch.float32 and "wte.weight.qweight" not in stored
    assert qc["embedding_bits"] == 32


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,method,bits", [("tiny-f32", "quantgpt", 2), ("tiny-bf16", "lsq", 4), ("tiny-f16", "rtn-mse", 8)])
def test_save_quantized(tmp_path, name, method, bits, device):
    path, expected = fixture(name)
    _, model = load_hf(path, device)
    quantize_model(model, method, weight_bits=bits, embedding_bits=bits, activation_bits=8)
    out = str(tmp_path / "q")
    qc = save_quantized(model, out, {"method": method})
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["quantization_config"] == qc == {
        "format": "lowbit-quantized-checkpoint", "format_version": 1, "weight_bits": bits, "embedding_bits": bits,
        "activation_bits": 8, "granularity": "module", "group_size": 0, "method": method,
    }
    assert os.path.exists(os.path.join(out, "vocab.json")) and os.path.exists(os.path.join(out, "merges.txt"))
    stored = read_safetensors_plain(os.path.join(out, "model.safetensors"))
    k = k_levels(bits)
    quantized = {n: h for n, h in model.quantizable()}
    assert set(quantized) == {n for n in expected_shapes(model.config) if n.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight"))
                              or n in ("wte.weight", "lm_head.weight")}
    for n, holder in quantized.items():
        codes, scale = stored[f"{n}.qweight"], stored[f"{n}.scale"]
        assert n not in stored
        assert codes.dtype == torch.int8 and codes.shape == holder.weight.shape
        assert scale.dtype == torch.float32 and scale.shape == torch.Size([])
        assert int(codes.abs().max()) <= k
        with torch.no_grad():
            assert torch.equal((codes.float() * scale).to(device), holder.weight_quantizer(holder.weight)), n
    for n in expected_shapes(model.config):
        if n not in quantized:
            assert stored[n].dtype == torch.float32, n
    assert ("lm_head.weight.qweight" in stored) == (not model.config.tie_word_embeddings)
    # Reading the file back (codes · scale, activations quantized) computes the quantized model's logits.
    _, back, qc_back = load_quantized(out, device)
    ids = torch.tensor([expected["prompt_ids"]], device=device)
    with torch.no_grad():
        assert torch.equal(back(ids), model(ids))
    assert qc_back == qc


def test_save_quantized_checks_its_config(tmp_path):
    model = quantize_model(GPT2(tiny_config()), "pact", 2, 2, 8)
    with pytest.raises(ValueError, match="weight_bits"):
        save_quantized(model, str(tmp_path), {"weight_bits": 4})
    model.h[0].mlp.c_fc.quantize_input = False
    with pytest.raises(ValueError, match=r"h\.0\.mlp\.c_fc\.weight: input quantization"):
        save_quantized(model, str(tmp_path))
    with pytest.raises(ValueError, match="quantize_model"):
        save_quantized(GPT2(tiny_config()), str(tmp_path))


@pytest.mark.parametrize("bits", [2, 4])
def test_save_quantized_group_wise(tmp_path, bits):
    """Group scales (G 32 here) go to the checkpoint with FORMAT.md §2's scale shapes, and read back exactly."""
    path, expected = fixture("tiny-f32")
    _, model = load_hf(path)
    quantize_model(model, "quantgpt", weight_bits=bits, embedding_bits=bits, activation_bits=8, group_size=32)
    out = str(tmp_path / "q")
    qc = save_quantized(model, out, {"method": "quantgpt"})
    assert qc["granularity"] == "group" and qc["group_size"] == 32
    stored = read_safetensors_plain(os.path.join(out, "model.safetensors"))
    for n, holder in model.quantizable():
        rows, cols = holder.weight.shape
        axis = 1 if n in ("wte.weight", "lm_head.weight") else 0
        want = [-(-rows // 32), cols] if axis == 0 else [rows, -(-cols // 32)]
        assert list(stored[f"{n}.scale"].shape) == want, n
    _, back, qc_back = load_quantized(out)
    ids = torch.tensor([expected["prompt_ids"]])
    with torch.no_grad():
        assert torch.equal(back(ids), model(ids))
    assert qc_back == qc
