// Beam search (and beam sampling) as transformers' vectorised `_beam_search` does it, for one input.
// Pure TypeScript, no Node built-ins.
//
// Facts from transformers' generation/utils.py (`_beam_search` and its helpers `_get_top_k_continuations`,
// `_get_running_beams_for_next_iteration`, `_update_finished_beams`, `_check_early_stop_heuristic`,
// `_beam_search_has_unfinished_sequences`), all in float32:
// - N = num_beams running rows, all starting as [decoder_start_token_id]. Running scores start at
//   [0, -1e9, …, -1e9], so that the first step expands beam 0 only; finished slots start as N placeholders
//   of score -1e9, not finished.
// - Each step: log_softmax(logits) per row, then the logits processors on those log-probs (with the row's ids,
//   start token included), [beam sampling: the warpers with min_tokens_to_keep 2], then + the row's running
//   score. Over all N × V of them, keep K = max(2, 1 + number of EOS ids) × N = 2N candidates: torch.topk
//   (sorted, highest first), or for beam sampling K draws without replacement from softmax of all N × V
//   scores (kept in draw order). Flat index i → beam i / V, token i % V.
// - A candidate "hits" when its token is EOS or its new length (cur_len + 1) reaches max_length.
// - Next running rows: the N best of the K after adding -1e9 to the hits (so with few live candidates a row
//   can run on with a score near -1e9, as in transformers).
// - Finished slots: only candidates among the first N of the K that hit can enter. Their score is
//   sum of log-probs / (generated length ** length_penalty), where generated length = cur_len + 1 − 1: the
//   ids after decoder_start_token_id, the final EOS (or the id at max_length) included. A candidate also gets
//   -1e9 when every slot is already finished and early_stopping is true, or when the early-stop heuristic
//   said no improvement is possible. Old slots + the K candidates → the N best (torch.topk) become the slots.
// - Early-stop heuristic, after each step with cur_len now one longer: best possible running score =
//   (best running score) / L ** length_penalty with L = max_length − 1 when early_stopping is "never" and
//   length_penalty > 0, else L = cur_len − 1 (the running rows' generated length). "Improvement possible"
//   while some slot s has best possible > (s finished ? min of all slot scores : -1e9); once false it stays
//   false.
// - Stop when improvement is impossible, or every slot is finished and early_stopping is true, or every one
//   of the K candidates hit (max_length reached). The answer is the best slot; we return all finished slots,
//   best first.
// - Ties: torch.topk does not promise an order among equal scores. We take the lower index first (lower flat
//   index among candidates, an older slot before a new candidate). Equal float32 scores are rare except
//   among the -1e9 placeholders, where the choice does not change the result.

import { applyProcessors, applyWarpers, logSoftmaxInto, topIndices } from "./logits_processors.js";
import { checkAbort, checkIdsInVocab, checkLogits, type DecoderStepper, type ResolvedGeneration } from "./generation.js";
import { Prng } from "./sampling.js";

const f32 = Math.fround;
/** transformers' "very large negative value" for beams that must not be chosen. */
const NEG = -1.0e9;

export interface BeamSearchResult {
  /** Finished hypotheses, best first, each starting with decoder_start_token_id. sequences[0] is transformers' output. */
  sequences: number[][];
  /** Their scores (transformers' sequences_scores for the first). */
  scores: number[];
}

interface Slot {
  tokens: number[];
  score: number;
  finished: boolean;
}

/**
 * k draws without replacement from softmax(values), in draw order, with lowbit's generator (one next() per
 * draw, walking indices upwards). When fewer than k entries have nonzero probability, the rest are the
 * highest remaining values (torch.multinomial would refuse; this keeps beam sampling defined).
 */
function drawWithoutReplacement(values: Float32Array, k: number, rng: Prng): number[] {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i] > max) max = values[i];
  const weights = new Float64Array(values.length);
  if (max > -Infinity) for (let i = 0; i < values.length; i++) weights[i] = Math.exp(values[i] - max);
  const picked: number[] = [];
  const taken = new Set<number>();
  while (picked.length < k) {
    let total = 0;
    for (let i = 0; i < weights.length; i++) total += weights[i];
    if (!(total > 0)) {
      const rest = Float32Array.from(values, (v, i) => (taken.has(i) ? -Infinity : v));
      for (const i of topIndices(rest, k - picked.length + taken.size)) {
        if (picked.length === k) break;
        if (!taken.has(i)) picked.push(i);
      }
      break;
    }
    let r = rng.next() * total;
    let choice = -1;
    for (let i = 0; i < weights.length; i++) {
      if (weights[i] === 0) continue;
      choice = i;
      r -= weights[i];
      if (r < 0) break;
    }
    picked.push(choice);
    taken.add(choice);
    weights[choice] = 0;
  }
  return picked;
}

/**
 * Beam search over `stepper`, transformers' `_beam_search` for a batch of one (beam sampling when
 * g.doSample). The stepper's rows are the N running beams; it is reordered after every step that continues.
 */
export async function beamSearch(stepper: DecoderStepper, g: ResolvedGeneration, signal?: AbortSignal): Promise<BeamSearchResult> {
  const V = stepper.vocabSize;
  checkIdsInVocab(g, V);
  const N = g.numBeams;
  const K = 2 * N; // max(2, 1 + one EOS id) × num_beams
  const rng = new Prng(g.seed);

  let rows: number[][] = Array.from({ length: N }, () => [g.decoderStartTokenId]);
  let running = new Float64Array(N).fill(NEG);
  running[0] = 0;
  let slots: Slot[] = Array.from({ length: N }, () => ({ tokens: [], score: NEG, finished: false }));
  let improvementPossible = true;

  const accumulated = new Float32Array(N * V); // (N, V) log-prob + running score
  const logProbs = new Float32Array(V);

  while (true) {
    await checkAbort(signal);
    const logits = await stepper.step(rows.map((r) => r[r.length - 1]));
    checkLogits(logits, N, V);
    const curLen = rows[0].length;

    for (let b = 0; b < N; b++) {
      logSoftmaxInto(logits[b].subarray(0, V), logProbs);
      applyProcessors(logProbs, rows[b], g);
      if (g.doSample) applyWarpers(logProbs, g, 2);
      const base = b * V;
      for (let v = 0; v < V; v++) accumulated[base + v] = f32(logProbs[v] + running[b]);
    }

    // K candidates: their beam, token, accumulated score and whether they hit a stopping criterion.
    const picks = g.doSample ? drawWithoutReplacement(accumulated, K, rng) : topIndices(accumulated, K);
    const beam = picks.map((i) => Math.floor(i / V));
    const token = picks.map((i) => i % V);
    const score = picks.map((i) => accumulated[i]);
    const hit = token.map((t) => t === g.eosTokenId || curLen + 1 >= g.maxLength);

    // Next running rows: the N best candidates that did not hit.
    const runScore = score.map((s, k) => (hit[k] ? f32(s + NEG) : s));
    const next = topIndices(Float32Array.from(runScore), N);

    // Finished slots: length penalty over the generated ids (start token excluded, this id included).
    const denominator = f32((curLen + 1 - 1) ** g.lengthPenalty);
    const allFinished = slots.every((s) => s.finished);
    const full = allFinished && g.earlyStopping === true;
    const candidateSlots = score.map((s, k) => {
      let adjusted = f32(s / denominator);
      if (full) adjusted = f32(adjusted + NEG);
      if (!improvementPossible) adjusted = f32(adjusted + NEG);
      const justFinished = hit[k] && k < N;
      if (!justFinished) adjusted = f32(adjusted + NEG);
      return { k, score: adjusted, finished: justFinished };
    });
    const mergedScores = [...slots.map((s) => s.score), ...candidateSlots.map((c) => c.score)];
    slots = topIndices(Float32Array.from(mergedScores), N).map((m) => {
      if (m < N) return slots[m];
      const c = candidateSlots[m - N];
      return { tokens: [...rows[beam[c.k]], token[c.k]], score: c.score, finished: c.finished };
    });

    const from = next.map((k) => beam[k]);
    const nextRows = next.map((k) => [...rows[beam[k]], token[k]]);
    const nextRunning = Float64Array.from(next, (k) => runScore[k]);

    // Early-stop heuristic with cur_len one longer.
    const newLen = curLen + 1;
    const bestLength = g.earlyStopping === "never" && g.lengthPenalty > 0 ? g.maxLength - 1 : newLen - 1;
    const bestPossible = f32(nextRunning[0] / f32(bestLength ** g.lengthPenalty));
    const minSlot = Math.min(...slots.map((s) => s.score));
    improvementPossible = improvementPossible && slots.some((s) => bestPossible > (s.finished ? minSlot : NEG));

    const openBeam = !(slots.every((s) => s.finished) && g.earlyStopping === true);
    const canContinue = !hit.every((h) => h);
    if (!(improvementPossible && openBeam && canContinue)) break;

    await stepper.reorder(from);
    rows = nextRows;
    running = nextRunning;
  }

  const done = slots.filter((s) => s.finished);
  return { sequences: done.map((s) => s.tokens), scores: done.map((s) => s.score) };
}
