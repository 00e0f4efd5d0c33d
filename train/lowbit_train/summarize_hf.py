"""PyTorch's summaries of a BART checkpoint, by Hugging Face transformers' own BartForConditionalGeneration and
generate(): the independent oracle that the runtime's summaries (`lowbit summarize`) are compared with.
Runs where transformers is installed (the GPU machine); CI has no transformers and does not run it.

    python3 -m lowbit_train.summarize_hf check  --fixture test/fixtures/bart/bart-f32     # generate() vs the fixture
    python3 -m lowbit_train.summarize_hf tune   --model DIR --task-dir D --split valid --max-examples 250 --out tuned.json
    python3 -m lowbit_train.summarize_hf summarize --model DIR --task-dir D --split test --settings tuned.json --out preds.json

A lowbit quantized checkpoint is loaded as PyTorch computes it in training (bart.load_quantized_bart): weights
codes · scale in fp32, and per-token int8 fake quantization of each linear's input row and of the head's
input, added here as forward pre-hooks on transformers' modules (the same function, quant.fake_quant_act).
`summarize` first checks that transformers' logits equal lowbit_train.bart's on a few examples.
fp32 throughout, TF32 off: the runtime computes in fp32 too.

Output of summarize (JSON): {"model", "split", "settings", "ids": [[…] per example: generate()'s sequences
without padding], "texts": [decoded, special tokens dropped], "rouge": corpus ROUGE against the targets,
"seconds"}. tune: {"grid": [{settings, rouge}], "best": settings, "search": what was varied}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time

import torch

from .bart import Bart, load_any_bart, read_json
from .quant import fake_quant_act
from .rouge import corpus_rouge
from .seq2seq_data import PAD, collate, load_pairs

# What tune varies (the list: length penalty, no-repeat n-gram size, min and max length); beams fixed at 4.
SEARCH = {"length_penalty": [1.0, 2.0], "no_repeat_ngram_size": [0, 3], "min_length": [5, 15], "max_length": [48, 80]}
FIXED = {"num_beams": 4, "early_stopping": True, "decoder_start_token_id": 2, "bos_token_id": 0, "eos_token_id": 2,
         "pad_token_id": 1, "forced_bos_token_id": 0, "forced_eos_token_id": 2}


def hf_model(path: str, device: str):
    """(transformers model, lowbit_train model) holding the same fp32 weights and activation quantization."""
    from transformers import BartConfig as HFBartConfig, BartForConditionalGeneration

    config, ours, qc = load_any_bart(path, "cpu")
    raw = {k: v for k, v in read_json(os.path.join(path, "config.json")).items() if k != "quantization_config"}
    raw.update(dropout=0.0, attention_dropout=0.0, activation_dropout=0.0)
    hf = BartForConditionalGeneration(HFBartConfig(**raw))
    missing, unexpected = hf.load_state_dict(ours.hf_state_dict(), strict=False)
    tied = {"model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight", "lm_head.weight"}
    if set(missing) - tied or unexpected:
        raise ValueError(f"{path}: transformers' BART does not match: missing {sorted(set(missing) - tied)[:5]}, unexpected {unexpected[:5]}")
    hf.tie_weights()
    if not torch.equal(hf.lm_head.weight, hf.model.shared.weight):
        raise AssertionError("lm_head is not tied to shared after tie_weights()")
    if qc is not None and qc.get("activation_bits") == 8:
        quantize = lambda module, args: (fake_quant_act(args[0]),) + tuple(args[1:])  # noqa: E731
        for name, module in hf.named_modules():
            if isinstance(module, torch.nn.Linear) and name != "lm_head":
                module.register_forward_pre_hook(quantize)
        if qc.get("embedding_bits") != 32:
            hf.lm_head.register_forward_pre_hook(quantize)
    return hf.to(device).eval(), ours.to(device).eval()


@torch.no_grad()
def check_logits(hf, ours: Bart, pairs, device: str) -> float:
    """Largest |logit difference| between transformers' forward and ours over a few examples, one at a time."""
    worst = 0.0
    for src, tgt in pairs:
        b = {k: v.to(device) for k, v in collate([(src, tgt)]).items()}
        a = hf(input_ids=b["src"], decoder_input_ids=b["dec_in"]).logits.float()
        o = ours(b["src"], None, b["dec_in"]).float()
        worst = max(worst, float((a - o).abs().max()))
    return worst


@torch.no_grad()
def generate(hf, pairs, settings: dict, device: str, batch: int = 64, max_source: int = 0) -> list[list[int]]:
    """generate()'s sequences for each source (<s> source </s>), padding stripped."""
    from transformers import GenerationConfig

    gc = GenerationConfig(**{**FIXED, **settings})
    out = []
    for i in range(0, len(pairs), batch):
        b = collate(pairs[i:i + batch], max_source)
        seqs = hf.generate(input_ids=b["src"].to(device), attention_mask=b["src_mask"].to(device), generation_config=gc)
        for row in seqs.tolist():
            while len(row) > 1 and row[-1] == PAD:  # padding after </s> (a batch's shorter sequences)
                row.pop()
            out.append(row)
    return out


class Decoder:
    """ids → text with a byte-level BPE vocab.json (GPT-2's byte ↔ unicode table), special tokens dropped:
    what transformers' decode(skip_special_tokens=True) gives, without needing the tokenizers package."""

    def __init__(self, vocab_json: str):
        vocab = read_json(vocab_json)
        self.tokens = {i: t for t, i in vocab.items()}
        self.special = {vocab[t] for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>") if t in vocab}
        printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
        table, n = dict(zip(printable, printable)), 0
        for b in range(256):
            if b not in table:
                table[b] = 256 + n
                n += 1
        self.byte_of = {chr(u): b for b, u in table.items()}

    def __call__(self, ids) -> str:
        text = "".join(self.tokens.get(i, "") for i in ids if i not in self.special)
        return bytes(self.byte_of[c] for c in text if c in self.byte_of).decode("utf-8", errors="replace").strip()


def _texts(decoder: Decoder, seqs) -> list[str]:
    return [" ".join(decoder(s).split()) for s in seqs]


def _score(decoder, seqs, pairs) -> dict:
    return corpus_rouge(_texts(decoder, seqs), _texts(decoder, [t.tolist() for _, t in pairs]))


def _write(path: str, obj) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python3 -m lowbit_train.summarize_hf")
    ap.add_argument("command", choices=("check", "tune", "summarize"))
    ap.add_argument("--fixture")
    ap.add_argument("--model")
    ap.add_argument("--task-dir", default="data/summarization/lead")
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-examples", type=int, default=0)
    ap.add_argument("--settings", help="JSON file: tune's output (its best) or a settings object")
    ap.add_argument("--max-source", type=int, default=400)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.command == "check":
        hf, ours = hf_model(args.fixture, device)
        expected = read_json(os.path.join(args.fixture, "expected.json"))
        base = read_json(os.path.join(args.fixture, "generation_config.json"))
        src = torch.tensor([expected["input_ids"]], device=device)
        from transformers import GenerationConfig
        bad = 0
        for case in expected["generate"]:
            got = hf.generate(input_ids=src, generation_config=GenerationConfig(**{**base, **case["settings"]}))[0].tolist()
            ok = got == case["sequences"]
            bad += not ok
            print(f"{'OK' if ok else 'NOT OK'} {case['settings']}" + ("" if ok else f": {got} != {case['sequences']}"))
        sys.exit(1 if bad else 0)
    if args.model is None:
        ap.error("--model is required")
    config = read_json(os.path.join(args.model, "config.json"))
    pairs = load_pairs(args.task_dir, args.split, config["vocab_size"])
    pairs = pairs[:args.max_examples] if args.max_examples else pairs
    hf, ours = hf_model(args.model, device)
    decoder = Decoder(os.path.join(args.model, "vocab.json"))
    t0 = time.time()
    if args.command == "tune":
        grid = []
        for values in itertools.product(*SEARCH.values()):
            settings = dict(zip(SEARCH, values))
            seqs = generate(hf, pairs, settings, device, args.batch, args.max_source)
            grid.append({"settings": settings, "rouge": _score(decoder, seqs, pairs)})
            print(json.dumps(grid[-1]), flush=True)
        best = max(grid, key=lambda g: (g["rouge"]["rouge1"], g["rouge"]["rougeL"]))
        _write(args.out, {"model": args.model, "split": args.split, "examples": len(pairs), "search": SEARCH, "fixed": FIXED,
                          "grid": grid, "best": {**FIXED, **best["settings"]}, "seconds": time.time() - t0})
        print(json.dumps({"best": best}))
        return
    settings = read_json(args.settings) if args.settings else {}
    settings = settings.get("best", settings)
    diff = check_logits(hf, ours, pairs[:4], device)
    seqs = generate(hf, pairs, {k: v for k, v in settings.items() if k not in FIXED}, device, args.batch, args.max_source)
    result = {"model": args.model, "split": args.split, "settings": {**FIXED, **settings}, "ids": seqs,
              "texts": _texts(decoder, seqs), "rouge": _score(decoder, seqs, pairs), "seconds": time.time() - t0,
              "logit_check_max_abs_diff": diff}
    _write(args.out, result)
    print(json.dumps({"model": args.model, "rouge": result["rouge"], "seconds": result["seconds"], "logit_check": diff}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
