// Perplexity of a token sequence under a model, with a sliding window (Hugging Face's recipe): windows of
// `context` tokens start every `stride` tokens; each window scores only the tokens the previous window did
// not, so every token after the first is predicted exactly once, with up to context − stride tokens of
// left context carried over. The training stage's Python evaluation computes the same thing.

import { LowbitError } from "../errors.js";
import type { Gpt2Executor } from "./gpt2.js";

export interface PerplexityResult {
  perplexity: number;
  /** Mean negative log-likelihood per scored token, in nats. */
  nll: number;
  scoredTokens: number;
  windows: number;
  context: number;
  stride: number;
}

/** The one rule for a context length, shared by perplexity() and generate(): 2..n_positions, never capped quietly. */
export function checkContextLength(context: number, nPositions: number): void {
  if (!(Number.isInteger(context) && context >= 2 && context <= nPositions)) {
    throw new LowbitError("invalid context", { expected: `an integer in 2..${nPositions} (n_positions)`, found: String(context) });
  }
}

/** −log softmax(logits)[target], in float64. */
export function negativeLogLikelihood(logits: Float32Array, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return Math.log(sum) + max - logits[target];
}

export function perplexity(executor: Gpt2Executor, tokens: ArrayLike<number>, options: { context?: number; stride?: number } = {}): PerplexityResult {
  const nPositions = executor.config.n_positions;
  const context = options.context ?? nPositions;
  const stride = options.stride ?? context;
  checkContextLength(context, nPositions);
  if (!(Number.isInteger(stride) && stride >= 1 && stride <= context)) {
    throw new LowbitError("invalid stride", { expected: `an integer in 1..${context} (the context)`, found: String(stride) });
  }
  if (tokens.length < 2) throw new LowbitError("too few tokens for perplexity", { expected: "at least 2", found: String(tokens.length) });
  const V = executor.config.vocab_size;
  let total = 0;
  let scored = 0;
  let windows = 0;
  let prevEnd = 0;
  for (let begin = 0; begin < tokens.length; begin += stride) {
    const end = Math.min(begin + context, tokens.length);
    const window = Array.from({ length: end - begin }, (_, i) => tokens[begin + i]);
    executor.reset();
    const logits = executor.forward(window, true); // (end − begin, V)
    // Token j is predicted by the logits at position j − 1; score those the last window did not.
    for (let j = Math.max(prevEnd, begin + 1); j < end; j++) {
      total += negativeLogLikelihood(logits.subarray((j - 1 - begin) * V, (j - begin) * V), tokens[j]);
      scored++;
    }
    windows++;
    prevEnd = end;
    if (end === tokens.length) break;
  }
  const nll = total / scored;
  return { perplexity: Math.exp(nll), nll, scoredTokens: scored, windows, context, stride };
}
