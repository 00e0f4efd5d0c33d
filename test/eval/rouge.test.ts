// ROUGE (src/eval/rouge.ts): hand-computed cases, the golden cases torchmetrics wrote
// (test/fixtures/rouge_cases.json, scripts/make_rouge_cases.py), `lowbit rouge` end to end, and agreement
// with the Python twin (train/lowbit_train/rouge.py) on a few hundred random strings.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { corpusRouge, lcsLength, rougeScores, rougeTokenize, splitExamples, type RougeScore } from "../../src/eval/rouge.js";
import { runCli } from "../helpers/cli.js";
import { FIXTURES, ROOT, removeTempDir, tempDir } from "../helpers/fixtures.js";

const GOLDEN = join(FIXTURES, "rouge_cases.json");
const MAKE_GOLDEN = "python3 scripts/make_rouge_cases.py --out test/fixtures/rouge_cases.json";
const PYTHON = "/usr/bin/python3"; // Debian's, as test/train/cross_check.test.ts uses
const KEYS = ["rouge1", "rouge2", "rougeL"] as const;

function close(actual: RougeScore, want: { precision: number; recall: number; fmeasure: number }, what: string, tol = 1e-12): void {
  for (const m of ["precision", "recall", "fmeasure"] as const) {
    assert.ok(Math.abs(actual[m] - want[m]) <= tol, `${what} ${m}: got ${actual[m]}, want ${want[m]}`);
  }
}

const f1 = (p: number, r: number) => (2 * p * r) / (p + r);

describe("rouge: hand-computed", () => {
  it("tokenizes as rouge-score: lowercase, every run outside [a-z0-9] splits", () => {
    // "U.S." → u s; "don't" → don t; "e-mail" → e mail; "1,000" → 1 000; "3.14" → 3 14; "Café" → caf (é splits);
    // "snake_case" → snake case (_ is not [a-z0-9], unlike \w); CJK and emoji vanish.
    assert.deepEqual(rougeTokenize("U.S. don't e-mail 1,000 3.14 Café snake_case 東京 👍"),
      ["u", "s", "don", "t", "e", "mail", "1", "000", "3", "14", "caf", "snake", "case"]);
    assert.deepEqual(rougeTokenize("  \t\r\n  "), []);
    assert.deepEqual(rougeTokenize("?!…"), []);
    // Unicode lowercasing happens first: İ → i + U+0307 (then the dot splits), Kelvin sign K → k.
    assert.deepEqual(rougeTokenize("İSTANBUL 300\u212a"), ["i", "stanbul", "300k"]);
  });

  it("clips repeated n-grams: 'the the the' vs 'the cat'", () => {
    // unigrams: pred {the: 3}, ref {the: 1, cat: 1} → overlap min(3, 1) = 1; P = 1/3, R = 1/2, F = 2·(1/6)/(5/6) = 0.4
    // bigrams: pred {the the: 2}, ref {the cat: 1} → 0.  LCS("the the the", "the cat") = 1 → same as ROUGE-1.
    const s = rougeScores("the the the", "the cat");
    close(s.rouge1, { precision: 1 / 3, recall: 1 / 2, fmeasure: 0.4 }, "rouge1");
    close(s.rouge2, { precision: 0, recall: 0, fmeasure: 0 }, "rouge2");
    close(s.rougeL, { precision: 1 / 3, recall: 1 / 2, fmeasure: 0.4 }, "rougeL");
  });

  it("ROUGE-L is order-aware where ROUGE-1 is a bag: 'police killed the gunman' vs 'the gunman killed police'", () => {
    // unigrams: all 4 match → 1.  bigrams: pred {police killed, killed the, the gunman}, ref {the gunman, gunman killed,
    // killed police} → 1 of 3 each way: P = R = F = 1/3.  LCS = "the gunman" (or "police"…): 2 of 4 → 0.5.
    const s = rougeScores("police killed the gunman", "the gunman killed police");
    close(s.rouge1, { precision: 1, recall: 1, fmeasure: 1 }, "rouge1");
    close(s.rouge2, { precision: 1 / 3, recall: 1 / 3, fmeasure: 1 / 3 }, "rouge2");
    close(s.rougeL, { precision: 0.5, recall: 0.5, fmeasure: 0.5 }, "rougeL");
  });

  it("'the cat sat on the mat' vs 'the cat was on the mat'", () => {
    // unigrams: the×2, cat, on, mat match → 5/6 each way.  bigrams: the cat, on the, the mat → 3/5.
    // LCS = the cat on the mat = 5 → 5/6.
    const s = rougeScores("the cat sat on the mat", "the cat was on the mat");
    close(s.rouge1, { precision: 5 / 6, recall: 5 / 6, fmeasure: 5 / 6 }, "rouge1");
    close(s.rouge2, { precision: 3 / 5, recall: 3 / 5, fmeasure: 3 / 5 }, "rouge2");
    close(s.rougeL, { precision: 5 / 6, recall: 5 / 6, fmeasure: 5 / 6 }, "rougeL");
    // Unequal lengths: 'hello world' vs 'hello there world': 2 hits, P = 1, R = 2/3, F = 0.8; LCS 2 → the same.
    close(rougeScores("hello world", "hello there world").rougeL, { precision: 1, recall: 2 / 3, fmeasure: f1(1, 2 / 3) }, "rougeL");
  });

  it("scores 0 when a side is empty, punctuation-only, or (ROUGE-2) one token long", () => {
    const zero = { precision: 0, recall: 0, fmeasure: 0 };
    for (const [p, r] of [["", "a b"], ["a b", ""], ["", ""], ["...", "..."], [" \t", "x y"], ["東京", "東京"]]) {
      const s = rougeScores(p, r);
      for (const k of KEYS) close(s[k], zero, `${JSON.stringify(p)} vs ${JSON.stringify(r)} ${k}`);
    }
    // "hello" vs "hello": one unigram each, no bigram on either side → ROUGE-1 = ROUGE-L = 1, ROUGE-2 = 0.
    const s = rougeScores("hello", "hello");
    close(s.rouge1, { precision: 1, recall: 1, fmeasure: 1 }, "rouge1");
    close(s.rouge2, zero, "rouge2");
    close(s.rougeL, { precision: 1, recall: 1, fmeasure: 1 }, "rougeL");
    // Punctuation splits, so "U.S." (u s) shares nothing with "US" (us).
    close(rougeScores("U.S.", "US").rouge1, zero, "U.S. vs US");
  });

  it("corpus ROUGE is the mean of per-example scores; it refuses lists of different lengths", () => {
    // example 1: F1 = 5/6 (above); example 2: 'hello world' vs 'hello there world' F1 = 0.8; example 3: empty → 0.
    const c = corpusRouge(["the cat sat on the mat", "hello world", ""], ["the cat was on the mat", "hello there world", "x"]);
    assert.equal(c.count, 3);
    assert.ok(Math.abs(c.rouge1 - (5 / 6 + 0.8 + 0) / 3) < 1e-12);
    assert.ok(Math.abs(c.precision.rouge1 - (5 / 6 + 1 + 0) / 3) < 1e-12);
    assert.ok(Math.abs(c.recall.rouge1 - (5 / 6 + 2 / 3 + 0) / 3) < 1e-12);
    assert.throws(() => corpusRouge(["a"], ["a", "b"]), /predictions and references differ in number.*1 predictions and 2 references/);
    assert.throws(() => corpusRouge([], []), /nothing to score/);
  });

  it("splits files into examples: \\n or \\r\\n, a final newline adds none, an empty line is one", () => {
    assert.deepEqual(splitExamples(""), []);
    assert.deepEqual(splitExamples("\n"), [""]);
    assert.deepEqual(splitExamples("a\r\nb\r\n"), ["a", "b"]);
    assert.deepEqual(splitExamples("a\n\nb"), ["a", "", "b"]);
  });

  it("LCS in one row equals the full-table DP on awkward sizes, and handles thousands of tokens", () => {
    const fullTable = (a: string[], b: string[]) => {
      const t = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
      for (let i = 1; i <= a.length; i++) {
        for (let j = 1; j <= b.length; j++) t[i][j] = a[i - 1] === b[j - 1] ? t[i - 1][j - 1] + 1 : Math.max(t[i - 1][j], t[i][j - 1]);
      }
      return t[a.length][b.length];
    };
    let seed = 11;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const words = (n: number, v: number) => Array.from({ length: n }, () => `w${Math.floor(rand() * v)}`);
    for (const n of [0, 1, 3, 7, 15, 17, 31, 33, 63, 65]) {
      for (const m of [0, 1, 2, 7, 33, 64]) {
        const a = words(n, 5), b = words(m, 5);
        assert.equal(lcsLength(a, b), fullTable(a, b), `n=${n} m=${m}`);
        assert.equal(lcsLength(b, a), fullTable(a, b), `swapped n=${n} m=${m}`);
      }
    }
    const a = words(3000, 50), b = words(2500, 50);
    const t0 = performance.now();
    const lcs = lcsLength(a, b);
    assert.ok(lcs > 0 && lcs <= 2500);
    assert.ok(performance.now() - t0 < 2000, "3000 × 2500 tokens took over 2 s");
  });
});

// ---------------------------------------------------------------------------------------------------------
// Golden cases: torchmetrics' numbers (float32, so 1e-6)

interface GoldenCase {
  name: string;
  prediction: string;
  reference: string;
  tokens?: { prediction: string[]; reference: string[] };
  rouge1: RougeScore;
  rouge2: RougeScore;
  rougeL: RougeScore;
}

describe("rouge: golden cases from torchmetrics", () => {
  it("matches every case and the corpus mean in test/fixtures/rouge_cases.json to 1e-6", () => {
    assert.ok(existsSync(GOLDEN), `${GOLDEN} is missing: make it on the GPU machine (torch + torchmetrics) with \`${MAKE_GOLDEN}\``);
    const golden = JSON.parse(readFileSync(GOLDEN, "utf8")) as {
      made_with: Record<string, string>;
      cases: GoldenCase[];
      corpus: { predictions: string[]; references: string[]; rouge1: number; rouge2: number; rougeL: number };
    };
    assert.ok(golden.made_with.torchmetrics !== undefined, `${GOLDEN} was not written by torchmetrics (made_with: ${JSON.stringify(golden.made_with)}); HINT: \`${MAKE_GOLDEN}\``);
    assert.ok(golden.cases.length >= 30, `only ${golden.cases.length} cases`);
    for (const c of golden.cases) {
      if (c.tokens !== undefined) {
        assert.deepEqual(rougeTokenize(c.prediction), c.tokens.prediction, `${c.name}: prediction tokens`);
        assert.deepEqual(rougeTokenize(c.reference), c.tokens.reference, `${c.name}: reference tokens`);
      }
      const s = rougeScores(c.prediction, c.reference);
      for (const k of KEYS) close(s[k], c[k], `${c.name}: ${k}`, 1e-6);
    }
    const corpus = corpusRouge(golden.corpus.predictions, golden.corpus.references);
    assert.equal(corpus.count, golden.corpus.predictions.length);
    for (const k of KEYS) assert.ok(Math.abs(corpus[k] - golden.corpus[k]) <= 1e-6, `corpus ${k}: got ${corpus[k]}, want ${golden.corpus[k]}`);
  });
});

// ---------------------------------------------------------------------------------------------------------
// `lowbit rouge`

describe("lowbit rouge", () => {
  const dir = tempDir();
  after(() => removeTempDir(dir));
  let n = 0;
  const file = (text: string) => {
    const path = join(dir, `f${n++}.txt`);
    writeFileSync(path, text);
    return path;
  };

  it("--json prints one line: rouge1, rouge2, rougeL, count first; CRLF and a final newline are handled", () => {
    // The same three examples as "corpus ROUGE" above, with CRLF predictions and a references file without a
    // final newline; the middle reference line is the empty example ("" → 0).
    const p = file("the cat sat on the mat\r\nhello world\r\nanything\r\n");
    const r = file("the cat was on the mat\nhello there world\n");
    const bad = runCli(["rouge", "--predictions", p, "--references", r, "--json"]);
    assert.equal(bad.status, 1); // 3 lines vs 2
    const r3 = file("the cat was on the mat\nhello there world\n\n");
    const res = runCli(["rouge", "--predictions", p, "--references", r3, "--json"]);
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stderr, "");
    assert.match(res.stdout, /^\{"rouge1":[0-9.e-]+,"rouge2":[0-9.e-]+,"rougeL":[0-9.e-]+,"count":3,/);
    assert.equal(res.stdout.split("\n").length, 2); // one line and its newline
    const j = JSON.parse(res.stdout) as { rouge1: number; rouge2: number; rougeL: number; count: number };
    const want = corpusRouge(["the cat sat on the mat", "hello world", "anything"], ["the cat was on the mat", "hello there world", ""]);
    assert.deepEqual(j, JSON.parse(JSON.stringify(want)));
    assert.ok(Math.abs(j.rouge1 - (5 / 6 + 0.8) / 3) < 1e-12);
  });

  it("prints a table: F, P and R ×100 with two decimals, the number of examples, 'no stemming'", () => {
    const res = runCli(["rouge", "--predictions", file("the cat sat on the mat\nhello world\n"), "--references", file("the cat was on the mat\r\nhello there world")]);
    assert.equal(res.status, 0, res.stderr);
    // ROUGE-1: F = (5/6 + 0.8)/2 = 81.67, P = (5/6 + 1)/2 = 91.67, R = (5/6 + 2/3)/2 = 75.00; ROUGE-2: (3/5 + 0)/2 = 30.00.
    assert.match(res.stdout, /^2 examples; .*no stemming/);
    assert.match(res.stdout, /\nROUGE-1 +81\.67 +91\.67 +75\.00\n/);
    assert.match(res.stdout, /\nROUGE-2 +30\.00 +30\.00 +30\.00\n/);
    assert.match(res.stdout, /\nROUGE-L +81\.67 +91\.67 +75\.00\n$/);
  });

  it("refuses files of different line counts with one line naming both files and counts", () => {
    const p = file("a\nb\n");
    const r = file("a\nb\nc\n");
    const res = runCli(["rouge", "--predictions", p, "--references", r]);
    assert.equal(res.status, 1);
    assert.equal(res.stdout, "");
    assert.equal(res.stderr, `lowbit: error: ${p} has 2 lines but ${r} has 3; expected one prediction per reference line\n`);
  });

  it("refuses a missing file and an empty pair of files", () => {
    const missing = join(dir, "missing.txt");
    const res = runCli(["rouge", "--predictions", missing, "--references", file("a\n")]);
    assert.equal(res.status, 1);
    assert.equal(res.stderr, `lowbit: error: ${missing}: cannot read predictions file, found ENOENT\n`);
    const empty = runCli(["rouge", "--predictions", file(""), "--references", file("")]);
    assert.equal(empty.status, 1);
    assert.match(empty.stderr, /^lowbit: error: .*: nothing to score; expected one example per line, found an empty file\n$/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// TypeScript vs Python

describe("rouge: TypeScript and Python agree", () => {
  // Strings from an alphabet with the awkward parts: case, digits, punctuation, tabs, CR/LF, accents, İ, the
  // Kelvin sign, CJK, emoji; few distinct words, so n-grams and LCS overlap a lot.
  let seed = 2026;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  const WORDS = ["the", "The", "CAT", "cat", "sat", "on", "mat", "a", "1,000", "3.14", "2026", "U.S.", "don't", "e-mail",
    "café", "naïve", "İstanbul", "300\u212a", "東京", "👍", "snake_case", "x", "y", "z", "...", "—"];
  const SEPS = [" ", " ", " ", "  ", "\t", ", ", ". ", "\n", "\r\n", ""];
  const randomText = () => {
    const n = Math.floor(rand() * 14);
    let s = "";
    for (let i = 0; i < n; i++) s += pick(WORDS) + pick(SEPS);
    return s;
  };
  const pairs = Array.from({ length: 300 }, () => [randomText(), randomText()] as const);

  const python = (args: string[], input?: string) => {
    const r = spawnSync(PYTHON, args, { cwd: ROOT, env: { ...process.env, PYTHONPATH: join(ROOT, "train") }, input, encoding: "utf8" });
    assert.ok(r.error === undefined, `${PYTHON} is missing (${r.error?.message}): run scripts/setup.sh`);
    assert.equal(r.status, 0, `python ${args.join(" ")} failed:\n${r.stderr.slice(-2000)}`);
    return r.stdout;
  };

  it("on 300 random pairs: the same tokens and the same scores (to 1e-12)", () => {
    const code = "import json, sys\nfrom lowbit_train.rouge import tokenize, rouge_scores\n" +
      "print(json.dumps([[tokenize(p), tokenize(r), rouge_scores(p, r)] for p, r in json.load(sys.stdin)]))";
    const theirs = JSON.parse(python(["-c", code], JSON.stringify(pairs))) as [string[], string[], Record<string, RougeScore>][];
    assert.equal(theirs.length, pairs.length);
    pairs.forEach(([p, r], i) => {
      assert.deepEqual(rougeTokenize(p), theirs[i][0], `pair ${i} prediction ${JSON.stringify(p)}`);
      assert.deepEqual(rougeTokenize(r), theirs[i][1], `pair ${i} reference ${JSON.stringify(r)}`);
      const ours = rougeScores(p, r);
      for (const k of KEYS) close(ours[k], theirs[i][2][k], `pair ${i} ${k}`);
    });
  });

  it("`python3 -m lowbit_train.rouge --json` and `lowbit rouge --json` print the same numbers for the same files", () => {
    const dir = tempDir();
    try {
      const oneLine = (s: string) => s.replace(/[\r\n]+/g, " ");
      const p = join(dir, "p.txt"), r = join(dir, "r.txt");
      writeFileSync(p, pairs.map(([a]) => oneLine(a)).join("\r\n") + "\r\n");
      writeFileSync(r, pairs.map(([, b]) => oneLine(b)).join("\n"));
      const theirs = JSON.parse(python(["-m", "lowbit_train.rouge", "--predictions", p, "--references", r, "--json"]));
      const res = runCli(["rouge", "--predictions", p, "--references", r, "--json"]);
      assert.equal(res.status, 0, res.stderr);
      const ours = JSON.parse(res.stdout);
      assert.deepEqual(Object.keys(ours), Object.keys(theirs));
      assert.equal(ours.count, 300);
      assert.deepEqual(ours, theirs); // the same float64 sums in the same order
    } finally {
      removeTempDir(dir);
    }
  });
});
