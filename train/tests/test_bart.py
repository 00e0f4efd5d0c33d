"""lowbit_train.bart against transformers' BART (logits saved by scripts/make_fixtures.py in
test/fixtures/bart/*/expected.json), its checkpoint files, and the quantization hooks it shares with GPT-2."""

import json
import os
import shutil

import pytest
import torch

from lowbit_train.bart import (SHARED, BartConfig, QLinear, expected_shapes, load_any_bart, load_bart,
                               load_quantized_bart)
from lowbit_train.model import quantize_model, save_hf, save_quantized
from lowbit_train.quant import fake_quant_act

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "bart")


def fixture(name):
    path = os.path.join(FIXTURES, name)
    with open(os.path.join(path, "expected.json")) as f:
        return path, json.load(f)


@pytest.mark.parametrize("name", ["bart-f32", "bart-f16", "bart-bf16"])
def test_logits_and_encoder_match_transformers(name):
    # Tolerance: transformers 5.17 on CUDA (fp32) against CPU torch here; measured ≤ 1e-6.
    path, exp = fixture(name)
    _, model = load_bart(path)
    model.eval()
    src, dec = torch.tensor([exp["input_ids"]]), torch.tensor([exp["decoder_input_ids"]])
    with torch.no_grad():
        logits = model(src, None, dec)[0]
        enc = model.encode(src, None, model.model.shared.effective_weight())[0]
    assert (logits - torch.tensor(exp["logits"])).abs().max() < 1e-5
    assert (enc - torch.tensor(exp["encoder_hidden_states"])).abs().max() < 1e-5


def test_padding_and_key_mask_give_each_sequence_alone():
    path, exp = fixture("bart-f32")
    _, model = load_bart(path)
    model.eval()
    a, b = exp["input_ids"], exp["input_ids"][:7] + [2]
    dec = torch.tensor([exp["decoder_input_ids"]] * 2)
    src = torch.full((2, len(a)), 1)
    src[0], src[1, :len(b)] = torch.tensor(a), torch.tensor(b)
    mask = src != 1
    with torch.no_grad():
        both = model(src, mask, dec)
        alone = model(torch.tensor([b]), None, dec[:1])
    assert (both[1] - alone[0]).abs().max() < 1e-5


def test_save_load_round_trip_and_names(tmp_path):
    path, _ = fixture("bart-f16")
    config, model = load_bart(path)
    save_hf(model, str(tmp_path / "out"), dtype=torch.float32, tokenizer_dir=path)
    _, again = load_bart(str(tmp_path / "out"))
    for k, v in model.hf_state_dict().items():
        assert torch.equal(v, again.hf_state_dict()[k]), k
    assert set(model.hf_state_dict()) == set(expected_shapes(config))
    assert os.path.exists(tmp_path / "out" / "vocab.json")


def test_quantized_checkpoint_round_trip_and_forward(tmp_path):
    path, exp = fixture("bart-f32")
    _, model = load_bart(path)
    quantize_model(model, "quantgpt", 2, 4, 8)
    linears = [m for _, m in model.quantizable() if isinstance(m, QLinear)]
    assert linears and all(m.quantize_input and m.weight_quantizer.bits == 2 for m in linears)
    assert model.model.shared.weight_quantizer.bits == 4 and model.quantize_head_input
    qc = save_quantized(model, str(tmp_path / "q"), tokenizer_dir=path)
    assert qc["weight_bits"] == 2 and qc["embedding_bits"] == 4
    _, loaded, qc2 = load_quantized_bart(str(tmp_path / "q"))
    assert qc2 == qc
    src, dec = torch.tensor([exp["input_ids"]]), torch.tensor([exp["decoder_input_ids"]])
    model.eval()
    loaded.eval()
    with torch.no_grad():
        want, got = model(src, None, dec), loaded(src, None, dec)
    # The same fake-quantized weights (codes · step) and the same activation quantizer: equal up to float order.
    assert (want - got).abs().max() < 1e-4
    # Linear weights stay (out, in) on disk, with scalar module scales.
    from lowbit_train.safetensors_io import read_safetensors
    tensors = read_safetensors(str(tmp_path / "q" / "model.safetensors"))[0]
    assert tuple(tensors["model.encoder.layers.0.fc1.weight.qweight"].shape) == (128, 64)
    assert tensors[f"{SHARED}.scale"].shape == ()
    assert load_any_bart(str(tmp_path / "q"))[2]["method"] == "quantgpt"


def test_head_input_is_quantized_exactly_when_shared_is(tmp_path):
    path, exp = fixture("bart-f32")
    _, model = load_bart(path)
    quantize_model(model, "rtn-maxabs", 8, 32, 8)
    assert not model.quantize_head_input and model.model.shared.weight_quantizer is None
    hidden = torch.randn(3, 64)
    assert not torch.equal(fake_quant_act(hidden), hidden)


def test_bad_checkpoints_name_the_problem(tmp_path):
    path, _ = fixture("bart-f32")
    bad = tmp_path / "bad"
    shutil.copytree(path, bad)
    cfg = json.load(open(bad / "config.json"))
    cfg["d_model"] = 96
    json.dump(cfg, open(bad / "config.json", "w"))
    with pytest.raises(ValueError, match=r"shape \[281, 64\] does not match config.json; expected \[281, 96\]"):
        load_bart(str(bad))
    cfg["d_model"], cfg["model_type"] = 64, "mbart"
    json.dump(cfg, open(bad / "config.json", "w"))
    with pytest.raises(ValueError, match="model_type is 'mbart'"):
        load_bart(str(bad))
    with pytest.raises(ValueError, match="tie_word_embeddings false"):
        BartConfig.from_hf_dict({**cfg, "model_type": "bart", "tie_word_embeddings": False})
