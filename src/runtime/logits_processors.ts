// Hugging Face's logits processors and warpers for seq2seq decoding, one small function each, applied in the
// order transformers' `_get_logits_processor` builds them. Pure arithmetic on Float32Arrays: no Node built-ins.
//
// Facts read from transformers' generation/utils.py and logits_process.py (v5; the vectorised beam search of
// 4.5x and later):
// - Order (`_get_logits_processor`, only the processors lowbit's options can turn on):
//     RepetitionPenalty (penalty != 1) → NoRepeatNGram (size > 0) → MinLength (min_length > 0)
//     → ForcedBOS (forced_bos_token_id set) → ForcedEOS (forced_eos_token_id set),
//   then, only when do_sample, the warpers Temperature (T != 1) → TopK (k != 0) → TopP (p < 1).
// - Every processor sees the decoder's ids so far *including* decoder_start_token_id ("input_ids" of the
//   decoder, length cur_len). So min_length, forced BOS/EOS, n-grams and the repetition penalty all count the
//   start token.
// - Greedy and sampling apply them to the raw logits (float32). Beam search first takes log_softmax of the
//   logits, then applies the same processors to those log-probabilities (so the repetition penalty, whose
//   targets are then all ≤ 0, multiplies them), and only then adds each beam's running score.
// - Scores are float32 tensors in torch: `fround` below keeps our doubles on the same float32 grid, so that
//   equal scores stay equal and comparisons break the same way.

import { argmax, type Prng } from "./sampling.js";

const f32 = Math.fround;

/** What the processors need from the resolved generation settings. */
export interface ProcessorSettings {
  repetitionPenalty: number;
  noRepeatNgramSize: number;
  minLength: number;
  maxLength: number;
  eosTokenId: number;
  forcedBosTokenId: number | null;
  forcedEosTokenId: number | null;
}

export interface WarperSettings {
  temperature: number;
  topK: number;
  topP: number;
}

// ---------------------------------------------------------------------------------------------- processors

/**
 * RepetitionPenaltyLogitsProcessor: each distinct id in `history` (the start token included) once:
 * `score < 0 ? score * penalty : score / penalty`, in float32 (torch casts the Python float to the tensor's
 * dtype). A score of exactly 0 is divided, which leaves it 0.
 */
export function applyRepetitionPenalty(scores: Float32Array, history: readonly number[], penalty: number): void {
  if (penalty === 1) return;
  const p = f32(penalty);
  for (const id of new Set(history)) {
    const s = scores[id];
    scores[id] = s < 0 ? f32(s * p) : f32(s / p);
  }
}

/**
 * NoRepeatNGramLogitsProcessor: with n = size and the history h (start token included, length L), every
 * earlier window h[i .. i+n-1] whose first n−1 ids equal the last n−1 ids of h bans its last id h[i+n−1].
 * Nothing is banned while L < n. With n = 1 every id already in h is banned, the start token too.
 */
export function applyNoRepeatNgram(scores: Float32Array, history: readonly number[], size: number): void {
  const L = history.length;
  if (size <= 0 || L < size) return;
  const prefixStart = L - size + 1; // the last n−1 ids
  for (let i = 0; i + size <= L; i++) {
    let match = true;
    for (let j = 0; j < size - 1; j++) {
      if (history[i + j] !== history[prefixStart + j]) {
        match = false;
        break;
      }
    }
    if (match) scores[history[i + size - 1]] = -Infinity;
  }
}

/** MinLengthLogitsProcessor: EOS is -inf while the decoder's length (start token included) is below min_length. */
export function applyMinLength(scores: Float32Array, length: number, minLength: number, eosTokenId: number): void {
  if (length < minLength) scores[eosTokenId] = -Infinity;
}

/** ForcedBOSTokenLogitsProcessor / ForcedEOSTokenLogitsProcessor: every score -inf except `id`, which becomes 0. */
export function forceToken(scores: Float32Array, id: number): void {
  scores.fill(-Infinity);
  scores[id] = 0;
}

/**
 * The processors in transformers' order, in place, on one row's scores (logits for greedy/sampling,
 * log-probabilities for beam search). `history` is the row's decoder ids so far, start token included.
 */
export function applyProcessors(scores: Float32Array, history: readonly number[], s: ProcessorSettings): void {
  const length = history.length;
  applyRepetitionPenalty(scores, history, s.repetitionPenalty);
  applyNoRepeatNgram(scores, history, s.noRepeatNgramSize);
  if (s.minLength > 0) applyMinLength(scores, length, s.minLength, s.eosTokenId);
  // Forced BOS at the first step (length 1 = only the start token), forced EOS when one slot is left
  // (length max_length − 1). When both hold (max_length 2) EOS wins, as it comes later in HF's list.
  if (s.forcedBosTokenId !== null && length === 1) forceToken(scores, s.forcedBosTokenId);
  if (s.forcedEosTokenId !== null && length === s.maxLength - 1) forceToken(scores, s.forcedEosTokenId);
}

// ------------------------------------------------------------------------------------------------- warpers

/**
 * Indices of the k largest values, highest first; equal values by lower index (our choice: torch.topk and
 * torch.sort promise no order among ties); NaN counts as -inf. O(n·k) at worst, about O(n) on real logits.
 * Float32Array only: one element type keeps this hot loop monomorphic (beam search runs it on N × V scores),
 * and every score here is a float32 anyway.
 */
export function topIndices(values: Float32Array, k: number): number[] {
  const idx: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = Number.isNaN(values[i]) ? -Infinity : values[i];
    if (idx.length === k && !(v > val[k - 1])) continue;
    // Full: the last (worst) place is given up; strict > puts v after equal values already kept.
    let p = idx.length === k ? k - 1 : idx.length;
    while (p > 0 && v > val[p - 1]) {
      idx[p] = idx[p - 1];
      val[p] = val[p - 1];
      p--;
    }
    idx[p] = i;
    val[p] = v;
  }
  return idx;
}

/** The ids whose score is not -inf, highest score first, equal scores by lower id. */
function liveIdsByScoreDesc(scores: Float32Array): number[] {
  const ids: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i] > -Infinity) ids.push(i);
  ids.sort((a, b) => (scores[b] > scores[a] ? 1 : scores[b] < scores[a] ? -1 : a - b));
  return ids;
}

/**
 * TemperatureLogitsWarper → TopKLogitsWarper → TopPLogitsWarper, in place; removed tokens become -inf.
 * `minTokensToKeep` is 1 for sampling and 2 (= number of EOS ids + 1) for beam sampling, as in transformers.
 * - top-k keeps every score ≥ the k-th largest (ties at the threshold survive), k = max(top_k, minKeep).
 * - top-p sorts ascending, takes softmax and its running sum, and removes the tokens whose running sum is
 *   ≤ 1 − top_p, never the `minTokensToKeep` largest.
 */
export function applyWarpers(scores: Float32Array, w: WarperSettings, minTokensToKeep: number): void {
  if (w.temperature !== 1) {
    const t = f32(w.temperature);
    for (let i = 0; i < scores.length; i++) scores[i] = f32(scores[i] / t);
  }
  if (w.topK !== 0) {
    const k = Math.min(Math.max(w.topK, minTokensToKeep), scores.length);
    const top = topIndices(scores, k);
    const threshold = scores[top[top.length - 1]];
    for (let i = 0; i < scores.length; i++) if (scores[i] < threshold) scores[i] = -Infinity;
  }
  if (w.topP < 1) {
    // -inf scores have probability 0: they stay removed and do not move the running sum.
    const ascending = liveIdsByScoreDesc(scores).reverse();
    const probs = softmaxOf(scores, ascending);
    const removable = ascending.length - minTokensToKeep;
    let cumulative = 0;
    for (let r = 0; r < removable; r++) {
      cumulative += probs[r];
      if (cumulative > 1 - w.topP) break;
      scores[ascending[r]] = -Infinity;
    }
  }
}

/** softmax of scores[ids[i]] in ids' order (doubles; -inf → 0). */
function softmaxOf(scores: Float32Array, ids: readonly number[]): Float64Array {
  let max = -Infinity;
  for (const id of ids) if (scores[id] > max) max = scores[id];
  const out = new Float64Array(ids.length);
  if (max === -Infinity) return out;
  let total = 0;
  for (let i = 0; i < ids.length; i++) total += out[i] = Math.exp(scores[ids[i]] - max);
  for (let i = 0; i < ids.length; i++) out[i] /= total;
  return out;
}

/**
 * Draws one id from softmax(scores) with lowbit's seeded generator (transformers' torch.multinomial stream
 * cannot be reproduced): one `rng.next()` per draw, walking the ids from the highest score down (ties by id).
 */
export function drawFromScores(scores: Float32Array, rng: Prng): number {
  const ids = liveIdsByScoreDesc(scores);
  if (ids.length === 0) return argmax(scores);
  const probs = softmaxOf(scores, ids);
  let r = rng.next();
  for (let i = 0; i < ids.length; i++) {
    r -= probs[i];
    if (r < 0 && probs[i] > 0) return ids[i];
  }
  // Rounding left r ≥ 0 after the last step: the least likely id that can be drawn.
  for (let i = ids.length - 1; i >= 0; i--) if (probs[i] > 0) return ids[i];
  return ids[0];
}

/** Sampling: the warpers, then one draw. Both families sample through this (GPT-2's generate and seq2seq). */
export function sampleFrom(scores: Float32Array, w: WarperSettings, rng: Prng, minTokensToKeep = 1): number {
  applyWarpers(scores, w, minTokensToKeep);
  return drawFromScores(scores, rng);
}

// ------------------------------------------------------------------------------------------- log-softmax

/**
 * log_softmax over one row, into `out`, on torch's float32 grid: (x − max) − log(Σ exp(x − max)).
 * (Summation order can differ from torch's in the last bit; only exact ties would notice.)
 */
export function logSoftmaxInto(logits: Float32Array, out: Float32Array): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  if (max === -Infinity || Number.isNaN(max)) {
    out.fill(max === -Infinity ? -Infinity : NaN);
    return out;
  }
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(f32(logits[i] - max));
  const logSum = f32(Math.log(sum));
  for (let i = 0; i < logits.length; i++) out[i] = f32(f32(logits[i] - max) - logSum);
  return out;
}
