// ROUGE-1, ROUGE-2 and ROUGE-L for summaries, as Google's `rouge-score` package computes them with
// use_stemmer=False (and torchmetrics' ROUGEScore(use_stemmer=False) too). Not rougeLsum (summary-level LCS
// over newline-split sentences), not the Porter stemmer, not multi-reference scoring, not bootstrap intervals.
//
// The reference is google-research/rouge: tokenize.py (tokenizer), rouge_scorer.py (_create_ngrams,
// _score_ngrams, _score_lcs), scoring.py (fmeasure). train/lowbit_train/rouge.py is the same in Python; both
// are tested against test/fixtures/rouge_cases.json, written by torchmetrics (scripts/make_rouge_cases.py).
//
// Edge cases, as the reference has them:
//   - a side with no n-grams (empty text, or one token for ROUGE-2) scores P = R = F = 0: rouge-score divides
//     by max(count, 1) and its fmeasure() is 0 when P + R = 0; torchmetrics returns zeros early. Same numbers.
//   - ROUGE-L of an empty side is 0 in both.
//   - the corpus score is the plain mean of per-example scores, as torchmetrics' compute() gives. rouge-score's
//     BootstrapAggregator reports instead the median of 1000 bootstrap means ("mid"), which is close to the
//     mean but random; Hugging Face `evaluate` reports that by default.
//
// Letters: n = |prediction tokens|, m = |reference tokens|.

import { LowbitError } from "../errors.js";

export interface RougeScore {
  precision: number;
  recall: number;
  fmeasure: number;
}

export interface RougeScores {
  rouge1: RougeScore;
  rouge2: RougeScore;
  rougeL: RougeScore;
}

export type RougeKey = keyof RougeScores;
export const ROUGE_KEYS: readonly RougeKey[] = ["rouge1", "rouge2", "rougeL"];

/** Corpus ROUGE: the mean over examples of each per-example F-measure (and of P and R). */
export interface CorpusRouge {
  rouge1: number;
  rouge2: number;
  rougeL: number;
  count: number;
  precision: Record<RougeKey, number>;
  recall: Record<RougeKey, number>;
}

// ---------------------------------------------------------------------------------------------------------
// Tokenizer (rouge/tokenize.py)
//
// Lowercase first, then every run outside [a-z0-9] is a separator: "U.S." → u s, "don't" → don t,
// "1,000" → 1 000, "café" → caf. Lowercasing is Unicode's, in JS as in Python, so "İ" becomes "i" + U+0307
// and the Kelvin sign "K" becomes "k" before the ASCII filter.

export function rougeTokenize(text: string): string[] {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, " ").split(/\s+/).filter((t) => /^[a-z0-9]+$/.test(t));
}

// ---------------------------------------------------------------------------------------------------------
// Scores

/** F1 of precision and recall; 0 when both are 0 (rouge/scoring.py fmeasure). */
function fmeasure(precision: number, recall: number): number {
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

/** n-gram counts; tokens never hold a space, so a space-joined key is unambiguous. */
function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join(" ");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** ROUGE-N: clipped n-gram overlap ("the the the" vs "the cat": 1 unigram hit, not 3). */
function rougeN(pred: readonly string[], ref: readonly string[], n: number): RougeScore {
  const p = ngramCounts(pred, n);
  const r = ngramCounts(ref, n);
  let overlap = 0;
  for (const [gram, count] of r) overlap += Math.min(count, p.get(gram) ?? 0);
  const predTotal = Math.max(0, pred.length - n + 1);
  const refTotal = Math.max(0, ref.length - n + 1);
  const precision = overlap / Math.max(predTotal, 1);
  const recall = overlap / Math.max(refTotal, 1);
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

/** Length of the longest common subsequence: the classic DP, O(n·m) time, one row of min(n, m) + 1 cells. */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  const [long, short] = a.length >= b.length ? [a, b] : [b, a];
  if (short.length === 0) return 0;
  // Integer ids make the inner loop compare numbers, not strings (a few thousand tokens → millions of cells).
  const ids = new Map<string, number>();
  const id = (t: string) => { let v = ids.get(t); if (v === undefined) ids.set(t, (v = ids.size)); return v; };
  const s = Int32Array.from(short, id); // (S)
  const row = new Int32Array(s.length + 1); // (S + 1): row[j] = LCS(long[0..i), short[0..j))
  for (const t of long) {
    const li = ids.get(t) ?? -1; // a token absent from `short` matches nothing
    let diag = 0; // row[j - 1] of the previous i
    for (let j = 1; j <= s.length; j++) {
      const up = row[j];
      row[j] = s[j - 1] === li ? diag + 1 : Math.max(up, row[j - 1]);
      diag = up;
    }
  }
  return row[s.length];
}

/** ROUGE-L (sentence level): P = LCS/n, R = LCS/m; 0 when either side is empty. */
function rougeL(pred: readonly string[], ref: readonly string[]): RougeScore {
  if (pred.length === 0 || ref.length === 0) return { precision: 0, recall: 0, fmeasure: 0 };
  const lcs = lcsLength(pred, ref);
  const precision = lcs / pred.length;
  const recall = lcs / ref.length;
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

export function rougeScores(prediction: string, reference: string): RougeScores {
  const pred = rougeTokenize(prediction);
  const ref = rougeTokenize(reference);
  return { rouge1: rougeN(pred, ref, 1), rouge2: rougeN(pred, ref, 2), rougeL: rougeL(pred, ref) };
}

/** Mean ROUGE over aligned examples (prediction i is scored against reference i). */
export function corpusRouge(predictions: readonly string[], references: readonly string[]): CorpusRouge {
  if (predictions.length !== references.length) {
    throw new LowbitError("predictions and references differ in number", {
      expected: "one prediction per reference", found: `${predictions.length} predictions and ${references.length} references`,
    });
  }
  if (predictions.length === 0) throw new LowbitError("nothing to score", { expected: "at least one example", found: "none" });
  const zero = () => ({ rouge1: 0, rouge2: 0, rougeL: 0 });
  const sum = { precision: zero(), recall: zero(), fmeasure: zero() };
  for (let i = 0; i < predictions.length; i++) {
    const s = rougeScores(predictions[i], references[i]);
    for (const k of ROUGE_KEYS) {
      sum.precision[k] += s[k].precision;
      sum.recall[k] += s[k].recall;
      sum.fmeasure[k] += s[k].fmeasure;
    }
  }
  const count = predictions.length;
  const mean = (v: Record<RougeKey, number>) => ({ rouge1: v.rouge1 / count, rouge2: v.rouge2 / count, rougeL: v.rougeL / count });
  return { ...mean(sum.fmeasure), count, precision: mean(sum.precision), recall: mean(sum.recall) };
}

/** One example per line: `\n` or `\r\n`; a final newline ends the last line rather than starting an empty
 * one, but an empty line inside the file is an example (it scores 0). An empty file has no examples. */
export function splitExamples(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}
