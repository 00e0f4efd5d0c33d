"""ROUGE-1, ROUGE-2 and ROUGE-L as Google's `rouge-score` computes them with use_stemmer=False, in plain
Python (no nltk, no numpy): the Python twin of src/eval/rouge.ts, tested against the same golden file
(test/fixtures/rouge_cases.json, written by torchmetrics through scripts/make_rouge_cases.py). Not rougeLsum,
not the Porter stemmer, not multi-reference scoring, not bootstrap confidence intervals.

    python3 -m lowbit_train.rouge --predictions P --references R [--json]

P and R hold one example per line (`\\n` or `\\r\\n`; a final newline adds no example, an empty line is one).
--json prints one line {"rouge1": F, "rouge2": F, "rougeL": F, "count": N, "precision": {...}, "recall": {...}}
with the same keys, in the same order, as `lowbit rouge --json`.

Edge cases follow google-research/rouge (tokenize.py, rouge_scorer.py, scoring.py): a side with no n-grams
scores P = R = F = 0 (it divides by max(count, 1)); ROUGE-L of an empty side is 0. torchmetrics gives the same
numbers (src/torchmetrics/functional/text/rouge.py returns zeros early), in float32. The corpus score is the
plain mean of per-example scores, as torchmetrics' compute(); rouge-score's BootstrapAggregator reports the
median of bootstrap means instead, close to the mean but random.
"""

import argparse
import json
import re
import sys
from collections import Counter

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL")

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_SPACES = re.compile(r"\s+")
_VALID = re.compile(r"^[a-z0-9]+$")


def tokenize(text):
    """rouge/tokenize.py without a stemmer: lowercase, every run outside [a-z0-9] is a separator."""
    text = _NON_ALNUM.sub(" ", text.lower())
    return [t for t in _SPACES.split(text) if _VALID.match(t)]


def _fmeasure(precision, recall):
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _score(precision, recall):
    return {"precision": precision, "recall": recall, "fmeasure": _fmeasure(precision, recall)}


def _rouge_n(pred, ref, n):
    """Clipped n-gram overlap ("the the the" vs "the cat": one unigram hit, not three)."""
    p = Counter(tuple(pred[i:i + n]) for i in range(len(pred) - n + 1))
    r = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
    overlap = sum(min(count, p[gram]) for gram, count in r.items())
    return _score(overlap / max(sum(p.values()), 1), overlap / max(sum(r.values()), 1))


def lcs_length(a, b):
    """Longest common subsequence length: O(len(a) * len(b)) time, one row of min(len) + 1 cells."""
    long, short = (a, b) if len(a) >= len(b) else (b, a)
    row = [0] * (len(short) + 1)  # row[j] = LCS(long[:i], short[:j])
    for t in long:
        diag = 0  # row[j - 1] of the previous i
        for j in range(1, len(short) + 1):
            up = row[j]
            row[j] = diag + 1 if short[j - 1] == t else max(up, row[j - 1])
            diag = up
    return row[-1]


def _rouge_l(pred, ref):
    if not pred or not ref:
        return _score(0.0, 0.0)
    lcs = lcs_length(pred, ref)
    return _score(lcs / len(pred), lcs / len(ref))


def rouge_scores(pred, ref):
    """{"rouge1" | "rouge2" | "rougeL": {"precision", "recall", "fmeasure"}} of one prediction against one reference."""
    p, r = tokenize(pred), tokenize(ref)
    return {"rouge1": _rouge_n(p, r, 1), "rouge2": _rouge_n(p, r, 2), "rougeL": _rouge_l(p, r)}


def corpus_rouge(preds, refs):
    """Mean over examples of each score: {rouge1, rouge2, rougeL (mean F), count, precision: {...}, recall: {...}}."""
    if len(preds) != len(refs):
        raise ValueError(f"predictions and references differ in number: {len(preds)} predictions and {len(refs)} references")
    if not preds:
        raise ValueError("nothing to score: no examples")
    sums = {m: dict.fromkeys(ROUGE_KEYS, 0.0) for m in ("precision", "recall", "fmeasure")}
    for pred, ref in zip(preds, refs):
        s = rouge_scores(pred, ref)
        for k in ROUGE_KEYS:
            for m in sums:
                sums[m][k] += s[k][m]
    n = len(preds)
    mean = {m: {k: v / n for k, v in sums[m].items()} for m in sums}
    return {**mean["fmeasure"], "count": n, "precision": mean["precision"], "recall": mean["recall"]}


def split_examples(text):
    """One example per line, as `lowbit rouge` reads them: split on \\r?\\n, a final newline adds no example."""
    lines = re.split(r"\r?\n", text)
    if lines[-1] == "":
        lines.pop()
    return lines


def _read(path):
    # errors="replace" as the CLI's TextDecoder does; U+FFFD is a separator like any non-ASCII character.
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        return split_examples(f.read())


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m lowbit_train.rouge", description="ROUGE-1/2/L of predictions against references, one example per line (no stemming)")
    ap.add_argument("--predictions", required=True)
    ap.add_argument("--references", required=True)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    preds, refs = _read(args.predictions), _read(args.references)
    if len(preds) != len(refs):
        print(f"error: {args.predictions} has {len(preds)} lines but {args.references} has {len(refs)}; "
              "expected one prediction per reference line", file=sys.stderr)
        return 1
    if not preds:
        print(f"error: {args.predictions}: nothing to score; expected one example per line, found an empty file", file=sys.stderr)
        return 1
    r = corpus_rouge(preds, refs)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"{r['count']} examples; rouge-score tokenizer, no stemming; mean per-example scores x100")
        print(f"{'':7}  {'F':>6}  {'P':>6}  {'R':>6}")
        for k, name in zip(ROUGE_KEYS, ("ROUGE-1", "ROUGE-2", "ROUGE-L")):
            print(f"{name}  {100 * r[k]:6.2f}  {100 * r['precision'][k]:6.2f}  {100 * r['recall'][k]:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
