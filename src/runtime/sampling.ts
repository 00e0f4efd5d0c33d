// Sampling options shared by both families (their validation, and whether they ask for sampling at all), the
// seeded PRNG and argmax. The penalty, the warpers and the draw themselves are Hugging Face's logits
// processors in logits_processors.ts. A 32-bit integer generator, so one seed gives the same tokens in Node
// and in browsers.

import { LowbitError } from "../errors.js";
import type { WarperSettings } from "./logits_processors.js";

export interface SamplingOptions {
  /** 0 means greedy (the arg-max after the repetition penalty) whatever top-k, top-p and seed say: the
   * limit of softmax(logits / T) as T → 0. Unset means 1 when another sampling option is set, else greedy. */
  temperature?: number;
  /** Keep the k most likely tokens (0 = all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 = all). */
  topP?: number;
  /** > 1 discourages tokens already in the sequence (CTRL's rule: divide positive logits, multiply negative). */
  repetitionPenalty?: number;
  seed?: number;
}

export function validateSampling(o: SamplingOptions): void {
  const bad = (name: string, expected: string, value: unknown) => new LowbitError(`invalid ${name}`, { expected, found: String(value) });
  if (o.temperature !== undefined && !(Number.isFinite(o.temperature) && o.temperature >= 0)) throw bad("temperature", "a number >= 0", o.temperature);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) throw bad("top-k", "an integer >= 0", o.topK);
  if (o.topP !== undefined && !(Number.isFinite(o.topP) && o.topP > 0 && o.topP <= 1)) throw bad("top-p", "a number in (0, 1]", o.topP);
  if (o.repetitionPenalty !== undefined && !(Number.isFinite(o.repetitionPenalty) && o.repetitionPenalty > 0)) throw bad("repetition penalty", "a number > 0", o.repetitionPenalty);
  if (o.seed !== undefined && !(Number.isInteger(o.seed) && o.seed >= 0 && o.seed < 2 ** 32)) throw bad("seed", "an integer in [0, 2^32)", o.seed);
}

/** True when the options ask for sampling rather than greedy decoding: temperature 0 is greedy, whatever else is set. */
export function isSampling(o: SamplingOptions): boolean {
  if (o.temperature === 0) return false;
  return o.temperature !== undefined || o.topK !== undefined || o.topP !== undefined || o.seed !== undefined;
}

/** mulberry32: 32-bit state, integer arithmetic only; next() in [0, 1). */
export class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** A Prng as a plain function: the same values from a seed on every machine (benches, tests, scripts). */
export function seededRandom(seed: number): () => number {
  const prng = new Prng(seed);
  return () => prng.next();
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** The warpers these options ask for: unset temperature 1, top-k 0 (all tokens), top-p 1. */
export function warpersOf(o: SamplingOptions): WarperSettings {
  return { temperature: o.temperature ?? 1, topK: o.topK ?? 0, topP: o.topP ?? 1 };
}
