"""ROUGE (lowbit_train/rouge.py): hand-computed cases, the golden cases torchmetrics wrote
(test/fixtures/rouge_cases.json, scripts/make_rouge_cases.py), the module's command line, and the generator's
--self-check. test/eval/rouge.test.ts checks the TypeScript twin against this module on random strings."""

import json
import os
import random
import subprocess
import sys

import pytest

from lowbit_train.rouge import corpus_rouge, lcs_length, rouge_scores, split_examples, tokenize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "test", "fixtures", "rouge_cases.json")
MAKE_GOLDEN = "python3 scripts/make_rouge_cases.py --out test/fixtures/rouge_cases.json"
KEYS = ("rouge1", "rouge2", "rougeL")
ZERO = {"precision": 0.0, "recall": 0.0, "fmeasure": 0.0}


def close(got, want, what, tol=1e-12):
    for m in ("precision", "recall", "fmeasure"):
        assert abs(got[m] - want[m]) <= tol, f"{what} {m}: got {got[m]}, want {want[m]}"


# ---------------------------------------------------------------------------------------------------------
# Hand-computed

def test_tokenize_splits_on_everything_outside_a_z_0_9():
    # "U.S." -> u s; "don't" -> don t; "e-mail" -> e mail; "1,000" -> 1 000; "3.14" -> 3 14; "Café" -> caf;
    # "snake_case" -> snake case (_ is not [a-z0-9]); CJK and emoji vanish.
    assert tokenize("U.S. don't e-mail 1,000 3.14 Café snake_case 東京 👍") == [
        "u", "s", "don", "t", "e", "mail", "1", "000", "3", "14", "caf", "snake", "case"]
    assert tokenize("  \t\r\n ") == []
    assert tokenize("?!…") == []
    # Unicode lowercasing first: İ -> i + U+0307 (the dot then splits), Kelvin sign -> k.
    assert tokenize("İSTANBUL 300\u212a") == ["i", "stanbul", "300k"]


def test_clipping():
    # unigrams: pred {the: 3}, ref {the: 1, cat: 1} -> overlap 1; P = 1/3, R = 1/2, F = 0.4. No common bigram.
    # LCS = 1 -> the same as ROUGE-1.
    s = rouge_scores("the the the", "the cat")
    close(s["rouge1"], {"precision": 1 / 3, "recall": 0.5, "fmeasure": 0.4}, "rouge1")
    close(s["rouge2"], ZERO, "rouge2")
    close(s["rougeL"], {"precision": 1 / 3, "recall": 0.5, "fmeasure": 0.4}, "rougeL")


def test_lcs_is_order_aware_where_rouge1_is_a_bag():
    # unigrams: all 4 match -> 1. bigrams: only "the gunman" is shared, 1 of 3 each way -> 1/3.
    # LCS = "the gunman": 2 of 4 -> 0.5.
    s = rouge_scores("police killed the gunman", "the gunman killed police")
    close(s["rouge1"], {"precision": 1, "recall": 1, "fmeasure": 1}, "rouge1")
    close(s["rouge2"], {"precision": 1 / 3, "recall": 1 / 3, "fmeasure": 1 / 3}, "rouge2")
    close(s["rougeL"], {"precision": 0.5, "recall": 0.5, "fmeasure": 0.5}, "rougeL")


def test_sentence_pair():
    # unigrams: the x2, cat, on, mat -> 5/6. bigrams: the cat, on the, the mat -> 3/5. LCS: the cat on the mat -> 5/6.
    s = rouge_scores("the cat sat on the mat", "the cat was on the mat")
    close(s["rouge1"], {"precision": 5 / 6, "recall": 5 / 6, "fmeasure": 5 / 6}, "rouge1")
    close(s["rouge2"], {"precision": 0.6, "recall": 0.6, "fmeasure": 0.6}, "rouge2")
    close(s["rougeL"], {"precision": 5 / 6, "recall": 5 / 6, "fmeasure": 5 / 6}, "rougeL")


def test_empty_and_punctuation_only_score_zero():
    for p, r in [("", "a b"), ("a b", ""), ("", ""), ("...", "..."), (" \t", "x y"), ("東京", "東京")]:
        s = rouge_scores(p, r)
        for k in KEYS:
            close(s[k], ZERO, f"{p!r} vs {r!r} {k}")
    # One token each side: no bigrams -> ROUGE-2 = 0 while ROUGE-1 = ROUGE-L = 1.
    s = rouge_scores("hello", "hello")
    close(s["rouge1"], {"precision": 1, "recall": 1, "fmeasure": 1}, "rouge1")
    close(s["rouge2"], ZERO, "rouge2")
    close(s["rougeL"], {"precision": 1, "recall": 1, "fmeasure": 1}, "rougeL")
    close(rouge_scores("U.S.", "US")["rouge1"], ZERO, "U.S. vs US")  # u s vs us


def test_corpus_is_the_mean_of_examples():
    # F1: 5/6 (above), 0.8 ("hello world" vs "hello there world": P 1, R 2/3), 0 (empty prediction).
    c = corpus_rouge(["the cat sat on the mat", "hello world", ""], ["the cat was on the mat", "hello there world", "x"])
    assert list(c)[:4] == ["rouge1", "rouge2", "rougeL", "count"]
    assert c["count"] == 3
    assert abs(c["rouge1"] - (5 / 6 + 0.8) / 3) < 1e-12
    assert abs(c["precision"]["rouge1"] - (5 / 6 + 1) / 3) < 1e-12
    assert abs(c["recall"]["rouge1"] - (5 / 6 + 2 / 3) / 3) < 1e-12
    with pytest.raises(ValueError, match="1 predictions and 2 references"):
        corpus_rouge(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="nothing to score"):
        corpus_rouge([], [])


def test_split_examples():
    assert split_examples("") == []
    assert split_examples("\n") == [""]
    assert split_examples("a\r\nb\r\n") == ["a", "b"]
    assert split_examples("a\n\nb") == ["a", "", "b"]


def test_lcs_one_row_equals_full_table():
    def full_table(a, b):
        t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                t[i][j] = t[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(t[i - 1][j], t[i][j - 1])
        return t[-1][-1]

    rng = random.Random(11)
    for n in (0, 1, 3, 7, 15, 17, 31, 33, 63, 65):
        for m in (0, 1, 2, 7, 33, 64):
            a = [f"w{rng.randrange(5)}" for _ in range(n)]
            b = [f"w{rng.randrange(5)}" for _ in range(m)]
            assert lcs_length(a, b) == lcs_length(b, a) == full_table(a, b), (n, m)


# ---------------------------------------------------------------------------------------------------------
# Golden cases: torchmetrics' numbers (float32, so 1e-6)

def test_golden_cases_from_torchmetrics():
    if not os.path.exists(GOLDEN):
        pytest.fail(f"{GOLDEN} is missing: make it on the GPU machine (torch + torchmetrics) with `{MAKE_GOLDEN}`")
    with open(GOLDEN, encoding="utf-8") as f:
        golden = json.load(f)
    assert "torchmetrics" in golden["made_with"], f"{GOLDEN} was not written by torchmetrics; HINT: `{MAKE_GOLDEN}`"
    assert len(golden["cases"]) >= 30
    for case in golden["cases"]:
        if "tokens" in case:
            assert tokenize(case["prediction"]) == case["tokens"]["prediction"], case["name"]
            assert tokenize(case["reference"]) == case["tokens"]["reference"], case["name"]
        s = rouge_scores(case["prediction"], case["reference"])
        for k in KEYS:
            close(s[k], case[k], f"{case['name']}: {k}", tol=1e-6)
    c = golden["corpus"]
    ours = corpus_rouge(c["predictions"], c["references"])
    for k in KEYS:
        assert abs(ours[k] - c[k]) <= 1e-6, f"corpus {k}: got {ours[k]}, want {c[k]}"


# ---------------------------------------------------------------------------------------------------------
# Command lines

def run(args):
    env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "train")}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_module_cli(tmp_path):
    p = tmp_path / "p.txt"
    r = tmp_path / "r.txt"
    p.write_bytes(b"the cat sat on the mat\r\nhello world\r\nanything\r\n")  # CRLF, final newline
    r.write_bytes(b"the cat was on the mat\nhello there world\n\n")  # the last example is the empty line
    res = run(["-m", "lowbit_train.rouge", "--predictions", str(p), "--references", str(r), "--json"])
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("\n") == 1
    j = json.loads(res.stdout)
    assert list(j)[:4] == ["rouge1", "rouge2", "rougeL", "count"]
    assert j["count"] == 3
    assert abs(j["rouge1"] - (5 / 6 + 0.8) / 3) < 1e-12

    res = run(["-m", "lowbit_train.rouge", "--predictions", str(p), "--references", str(r)])
    assert res.returncode == 0, res.stderr
    assert "3 examples" in res.stdout and "no stemming" in res.stdout
    assert "ROUGE-1   54.44" in res.stdout  # (5/6 + 0.8 + 0) / 3 = 0.54444

    short = tmp_path / "short.txt"
    short.write_text("a\nb\n")
    res = run(["-m", "lowbit_train.rouge", "--predictions", str(p), "--references", str(short)])
    assert res.returncode == 1
    assert res.stdout == ""
    assert res.stderr == f"error: {p} has 3 lines but {short} has 2; expected one prediction per reference line\n"


def test_generator_self_check_runs_without_torchmetrics():
    res = run([os.path.join("scripts", "make_rouge_cases.py"), "--self-check"])
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert "torchmetrics" not in doc["made_with"]  # never mistaken for the golden file
    assert len(doc["cases"]) >= 40
    assert len(doc["corpus"]["predictions"]) == len(doc["cases"])
    names = [c["name"] for c in doc["cases"]]
    assert len(set(names)) == len(names)
