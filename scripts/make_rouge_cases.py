"""Golden ROUGE cases from torchmetrics, for src/eval/rouge.ts and train/lowbit_train/rouge.py. Runs on the GPU
machine (it has torch and torchmetrics; it needs neither rouge_score nor nltk, as rougeLsum and the stemmer are
left out):

    python3 scripts/make_rouge_cases.py --out test/fixtures/rouge_cases.json
    python3 scripts/make_rouge_cases.py --self-check      # no torchmetrics: the same cases through
                                                          # lowbit_train.rouge, printed, nothing written

Writes {"made_with": {torchmetrics, torch}, "notes", "cases": [{name, prediction, reference, tokens?,
rouge1, rouge2, rougeL: {precision, recall, fmeasure}}], "corpus": {predictions, references, rouge1, rouge2,
rougeL}}. Per case: a fresh ROUGEScore(use_stemmer=False, rouge_keys=("rouge1", "rouge2", "rougeL")), one
update, compute(). Corpus: one ROUGEScore over all cases, whose compute() is the mean of the per-example F.
After writing, it compares torchmetrics with lowbit_train.rouge and prints OK / NOT OK with the max difference
(the fixture holds torchmetrics' numbers whatever that says).
"""

import argparse
import json
import os
import random
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "train"))

from lowbit_train import rouge as lowbit_rouge  # noqa: E402

KEYS = ("rouge1", "rouge2", "rougeL")

NOTES = (
    "ROUGE-1/2/L from torchmetrics.text.rouge.ROUGEScore(use_stemmer=False, rouge_keys=('rouge1','rouge2','rougeL')), "
    "which follows Google's rouge-score (google-research/rouge: tokenize.py, rouge_scorer.py, scoring.py). "
    "Tokens: lowercase, every run outside [a-z0-9] is a separator (so 'U.S.' -> u s, \"don't\" -> don t, 'caf\u00e9' -> caf, "
    "CJK and emoji vanish). ROUGE-N is clipped n-gram overlap; ROUGE-L is the sentence-level LCS (not rougeLsum). "
    "Empty sides: rouge-score divides n-gram counts by max(count, 1) and its fmeasure is 0 when P + R = 0; "
    "torchmetrics returns P = R = F = 0 early when either side has no n-grams (or no tokens, for L): the same numbers, "
    "so no case here needs rouge-score's numbers in place of torchmetrics'. "
    "torchmetrics keeps every score as a float32 tensor (and averages the corpus in float32), rouge-score and lowbit "
    "in float64: compare to 1e-6. The corpus figure is the plain mean of per-example F (torchmetrics' compute()); "
    "rouge-score's BootstrapAggregator would report the median of bootstrap means instead."
)


# ---------------------------------------------------------------------------------------------------------
# Cases: (name, prediction, reference)

def long_pair():
    """Two ~150-token texts over a 30-word vocabulary: many repeats, so bag-of-words and LCS differ a lot,
    and the LCS runs on a table big enough to matter."""
    rng = random.Random(2026)
    vocab = [f"w{i}" for i in range(30)]
    ref = [rng.choice(vocab) for _ in range(150)]
    pred = [t for t in ref if rng.random() > 0.2]  # drop some
    for _ in range(30):  # insert others
        pred.insert(rng.randrange(len(pred) + 1), rng.choice(vocab))
    for _ in range(10):  # swap neighbours
        i = rng.randrange(len(pred) - 1)
        pred[i], pred[i + 1] = pred[i + 1], pred[i]
    return " ".join(pred), " ".join(ref)


def cases():
    long_pred, long_ref = long_pair()
    return [
        ("identical", "the cat sat on the mat", "the cat sat on the mat"),
        ("disjoint", "alpha beta gamma", "delta epsilon"),
        ("empty prediction", "", "the cat sat on the mat"),
        ("empty reference", "the cat sat on the mat", ""),
        ("both empty", "", ""),
        ("whitespace-only prediction", "   \t  \n ", "a b c"),
        ("whitespace-only both", " ", "\t"),
        ("punctuation-only prediction", "!!! ... ???", "hello world"),
        ("punctuation-only both", "...", "\u2014 -- !"),
        ("abbreviation dots", "U.S. officials said no", "US officials said no"),
        ("apostrophe", "don't stop me now", "do not stop me now"),
        ("typographic apostrophe", "it\u2019s fine", "it s fine"),
        ("hyphen", "e-mail me today", "email me today"),
        ("punctuation glued", "Hello, world! (again)", "hello world again"),
        ("underscore is a separator", "snake_case_name", "snake case name"),
        ("markup", "<b>bold</b> text", "b bold b text"),
        ("clipping: repeats in prediction", "the the the", "the cat"),
        ("clipping: repeats in reference", "the cat", "the the the"),
        ("clipping: repeated bigrams", "a b a b a b", "a b a b"),
        ("numbers", "1,000 people paid $3.14 in 2026", "1000 people paid 3.14 dollars in 2026"),
        ("digits glued to letters", "COVID-19 cases rose 5% in Q3", "covid19 cases rose 5 percent in q3"),
        ("mixed case", "The Quick BROWN fox", "the quick brown FOX"),
        ("accents split words", "caf\u00e9 na\u00efve r\u00e9sum\u00e9", "cafe naive resume"),
        ("accents on both sides", "caf\u00e9 au lait", "Caf\u00e9 au lait"),
        ("CJK only", "\u6771\u4eac\u306f\u6674\u308c", "\u6771\u4eac \u306f \u6674\u308c"),
        ("CJK mixed with ASCII", "Tokyo \u6771\u4eac weather is fine", "tokyo weather is fine"),
        ("emoji", "great job \U0001F44D see you", "great \U0001F44D job see you"),
        ("dotted capital I", "\u0130STANBUL is big", "i stanbul is big"),
        ("Kelvin sign lowercases to k", "300 \u212a outside", "300 k outside"),
        ("full-width digits are not ASCII", "\uff11\uff12\uff13 go", "123 go"),
        ("reordering: LCS below bag-of-words", "the cat sat on the mat", "on the mat the cat sat"),
        ("reordering: police and gunman", "police killed the gunman", "the gunman killed police"),
        ("long-ish summary", "police said the suspect, a 34-year-old man, was arrested on Tuesday night after a brief chase "
         "through the city centre and is expected to appear in court on Friday",
         "A 34-year-old man was arrested on Tuesday after police chased him through the city centre; "
         "he will appear in court on Friday, officials said"),
        ("long-ish with repeats", "the committee said that the report was late and that the report was wrong and the committee was angry",
         "the report was wrong, the committee said, and the committee wanted the report sooner"),
        ("single token equal", "hello", "hello"),
        ("single token different", "hello", "world"),
        ("single token vs sentence", "cat", "the cat sat"),
        ("newlines and tabs inside", "the cat\nsat\ton the\r\nmat", "the cat sat on the mat"),
        ("leading and trailing spaces", "   padded   text   ", "padded text"),
        ("prediction longer than reference", "the cat sat on the mat all day long", "the cat sat"),
        ("150 tokens, repeats and swaps", long_pred, long_ref),
    ]


# ---------------------------------------------------------------------------------------------------------
# Scoring: torchmetrics (the golden file) or lowbit_train.rouge (--self-check)

def torchmetrics_scores(pairs):
    import torch
    import torchmetrics
    from torchmetrics.text.rouge import ROUGEScore

    def metric():
        return ROUGEScore(use_stemmer=False, rouge_keys=KEYS)

    try:  # private: only to show tokens beside the scores, so a mismatch is easy to read
        from torchmetrics.functional.text.rouge import _normalize_and_tokenize_text as tm_tokenize
    except ImportError:
        tm_tokenize = None
    out = []
    for name, pred, ref in pairs:
        m = metric()
        m.update(pred, ref)
        r = m.compute()
        case = {"name": name, "prediction": pred, "reference": ref}
        if tm_tokenize is not None:
            case["tokens"] = {"prediction": list(tm_tokenize(pred)), "reference": list(tm_tokenize(ref))}
        for k in KEYS:
            case[k] = {t: float(r[f"{k}_{t}"]) for t in ("precision", "recall", "fmeasure")}
        out.append(case)
    m = metric()
    m.update([p for _, p, _ in pairs], [r for _, _, r in pairs])
    r = m.compute()
    corpus = {k: float(r[f"{k}_fmeasure"]) for k in KEYS}
    made_with = {"torchmetrics": torchmetrics.__version__, "torch": str(torch.__version__)}
    return made_with, out, corpus


def lowbit_scores(pairs):
    out = []
    for name, pred, ref in pairs:
        case = {"name": name, "prediction": pred, "reference": ref,
                "tokens": {"prediction": lowbit_rouge.tokenize(pred), "reference": lowbit_rouge.tokenize(ref)}}
        case.update(lowbit_rouge.rouge_scores(pred, ref))
        out.append(case)
    r = lowbit_rouge.corpus_rouge([p for _, p, _ in pairs], [r for _, _, r in pairs])
    return {"lowbit_train.rouge": "self-check, not a golden file"}, out, {k: r[k] for k in KEYS}


def document(made_with, scored, corpus, pairs):
    return {
        "made_with": made_with,
        "notes": NOTES,
        "cases": scored,
        "corpus": {"predictions": [p for _, p, _ in pairs], "references": [r for _, _, r in pairs], **corpus},
    }


def compare(doc):
    """Max |torchmetrics - lowbit_train.rouge| over every case, key and measure, and the corpus means."""
    worst, where = 0.0, ""
    for case in doc["cases"]:
        ours = lowbit_rouge.rouge_scores(case["prediction"], case["reference"])
        for k in KEYS:
            for t in ("precision", "recall", "fmeasure"):
                d = abs(case[k][t] - ours[k][t])
                if d > worst:
                    worst, where = d, f"{case['name']}: {k} {t}"
    c = doc["corpus"]
    ours = lowbit_rouge.corpus_rouge(c["predictions"], c["references"])
    for k in KEYS:
        d = abs(c[k] - ours[k])
        if d > worst:
            worst, where = d, f"corpus {k}"
    return worst, where


def write_atomic(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".rouge_cases.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    ap = argparse.ArgumentParser(description="golden ROUGE cases from torchmetrics")
    ap.add_argument("--out", help="the JSON file to write (test/fixtures/rouge_cases.json)")
    ap.add_argument("--self-check", action="store_true",
                    help="score the cases with lowbit_train.rouge instead of torchmetrics and print them; writes nothing")
    args = ap.parse_args()
    if args.self_check == (args.out is not None):
        ap.error("give --out FILE (torchmetrics) or --self-check (lowbit_train.rouge, printed), not both")
    pairs = cases()
    if args.self_check:
        print(json.dumps(document(*lowbit_scores(pairs), pairs), ensure_ascii=False, indent=1))
        return
    try:
        made_with, scored, corpus = torchmetrics_scores(pairs)
    except ImportError as err:
        sys.exit(f"error: {err}; this script needs torch and torchmetrics (the GPU machine has them). "
                 "HINT: run with --self-check to try the case list without them")
    doc = document(made_with, scored, corpus, pairs)
    write_atomic(args.out, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
    worst, where = compare(doc)
    status = "OK" if worst <= 1e-6 else "NOT OK"
    print(f"wrote {args.out}: {len(scored)} cases, torchmetrics {made_with['torchmetrics']}; "
          f"lowbit_train.rouge vs torchmetrics: {status}, maxdiff {worst:.3g}{f' ({where})' if where else ''}")


if __name__ == "__main__":
    main()
