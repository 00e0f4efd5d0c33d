// The logits processors and warpers of src/runtime/logits_processors.ts, one by one, on hand-made scores,
// each checked against what transformers' class of the same name does (logits_process.py).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  applyMinLength, applyNoRepeatNgram, applyProcessors, applyRepetitionPenalty, applyWarpers, drawFromScores, forceToken, logSoftmaxInto,
  topIndices, type ProcessorSettings,
} from "../../src/runtime/logits_processors.js";
import { Prng } from "../../src/runtime/sampling.js";

const f32 = Math.fround;
const scores = (...v: number[]) => Float32Array.from(v);
const banned = (s: Float32Array) => [...s.keys()].filter((i) => s[i] === -Infinity);

describe("RepetitionPenaltyLogitsProcessor", () => {
  it("multiplies negative scores, divides positive ones, once per distinct id, the start token included", () => {
    const s = scores(2, -1, 0.5, 0, 3);
    applyRepetitionPenalty(s, [0, 1, 1, 1, 3], 2);
    assert.deepEqual([...s], [1, -2, 0.5, 0, 3]);
  });

  it("works in float32, as torch does with a float32 tensor and a Python float", () => {
    const s = scores(1.7, -0.3);
    applyRepetitionPenalty(s, [0, 1], 1.3);
    assert.equal(s[0], f32(f32(1.7) / f32(1.3)));
    assert.equal(s[1], f32(f32(-0.3) * f32(1.3)));
  });

  it("on beam search's log-probabilities (all ≤ 0) it makes seen tokens less likely", () => {
    const s = scores(-0.1, -2, -3);
    applyRepetitionPenalty(s, [0], 1.2);
    assert.ok(s[0] < f32(-0.1));
  });

  it("penalty 1 changes nothing", () => {
    const s = scores(2, -1);
    applyRepetitionPenalty(s, [0, 1], 1);
    assert.deepEqual([...s], [2, -1]);
  });
});

describe("NoRepeatNGramLogitsProcessor", () => {
  it("bans the token that would repeat an n-gram ending in the current suffix", () => {
    // bigrams of [2, 5, 6, 5]: (2,5) (5,6) (6,5); the suffix 5 was followed by 6.
    const s = new Float32Array(8);
    applyNoRepeatNgram(s, [2, 5, 6, 5], 2);
    assert.deepEqual(banned(s), [6]);
  });

  it("counts n-grams that start with the decoder start token", () => {
    // trigrams of [2, 0, 7, 2, 0]: (2,0,7) (0,7,2) (7,2,0); the suffix (2, 0) was followed by 7.
    const s = new Float32Array(8);
    applyNoRepeatNgram(s, [2, 0, 7, 2, 0], 3);
    assert.deepEqual(banned(s), [7]);
  });

  it("bans every id after each earlier occurrence of the suffix", () => {
    const s = new Float32Array(8);
    applyNoRepeatNgram(s, [1, 3, 1, 4, 1], 2);
    assert.deepEqual(banned(s), [3, 4]);
  });

  it("bans nothing while the sequence is shorter than n, and never the suffix's own successor slot", () => {
    const s = new Float32Array(8);
    applyNoRepeatNgram(s, [1, 1], 3);
    assert.deepEqual(banned(s), []);
    applyNoRepeatNgram(s, [1, 1, 1], 3); // (1,1,1) seen; suffix (1,1) → bans 1
    assert.deepEqual(banned(s), [1]);
  });

  it("size 1 bans every id already present, the start token too", () => {
    const s = new Float32Array(8);
    applyNoRepeatNgram(s, [2, 0, 5], 1);
    assert.deepEqual(banned(s), [0, 2, 5]);
  });
});

describe("MinLength, ForcedBOS and ForcedEOS", () => {
  it("min length counts the start token: EOS is banned while the length is below it", () => {
    const s = scores(1, 1, 1);
    applyMinLength(s, 2, 3, 2);
    assert.equal(s[2], -Infinity);
    const t = scores(1, 1, 1);
    applyMinLength(t, 3, 3, 2);
    assert.equal(t[2], 1);
  });

  const settings: ProcessorSettings = {
    repetitionPenalty: 1, noRepeatNgramSize: 0, minLength: 0, maxLength: 5, eosTokenId: 2, forcedBosTokenId: 0, forcedEosTokenId: 2,
  };

  it("forced BOS acts at length 1 only (the start token alone), forced EOS at max_length − 1 only", () => {
    const first = scores(-5, 3, 4, 1);
    applyProcessors(first, [2], settings);
    assert.deepEqual([...first], [0, -Infinity, -Infinity, -Infinity]);
    for (const len of [2, 3]) {
      const mid = scores(-5, 3, 4, 1);
      applyProcessors(mid, new Array(len).fill(1), settings);
      assert.deepEqual([...mid], [-5, 3, 4, 1], `length ${len}`);
    }
    const last = scores(-5, 3, 4, 1);
    applyProcessors(last, [2, 0, 1, 1], settings);
    assert.deepEqual([...last], [-Infinity, -Infinity, 0, -Infinity]);
  });

  it("with max_length 2 both apply at the first step and EOS wins (it comes later in transformers' list)", () => {
    const s = scores(-5, 3, 4, 1);
    applyProcessors(s, [2], { ...settings, maxLength: 2 });
    assert.deepEqual([...s], [-Infinity, -Infinity, 0, -Infinity]);
  });

  it("forced tokens overwrite whatever the earlier processors did", () => {
    const s = scores(5, 3, 4, 1);
    // min length would ban EOS, no-repeat (size 1) would ban 0 and 2; forced BOS still gives 0 a score of 0.
    applyProcessors(s, [2], { ...settings, minLength: 10, noRepeatNgramSize: 1, repetitionPenalty: 2, forcedEosTokenId: null });
    assert.deepEqual([...s], [0, -Infinity, -Infinity, -Infinity]);
  });

  it("null turns a forced token off", () => {
    const s = scores(-5, 3, 4, 1);
    applyProcessors(s, [2], { ...settings, forcedBosTokenId: null });
    assert.deepEqual([...s], [-5, 3, 4, 1]);
    forceToken(s, 3);
    assert.deepEqual([...s], [-Infinity, -Infinity, -Infinity, 0]);
  });
});

describe("warpers (sampling only)", () => {
  const w = (temperature: number, topK: number, topP: number) => ({ temperature, topK, topP });

  it("temperature divides in float32", () => {
    const s = scores(1, 2, 3);
    applyWarpers(s, w(0.7, 0, 1), 1);
    assert.deepEqual([...s], [1, 2, 3].map((x) => f32(x / f32(0.7))));
  });

  it("top-k keeps every score that ties the k-th", () => {
    const s = scores(1, 3, 2, 3, 2);
    applyWarpers(s, w(1, 3, 1), 1);
    assert.deepEqual([...s], [-Infinity, 3, 2, 3, 2]);
  });

  it("top-k is raised to min_tokens_to_keep (2 for beam sampling)", () => {
    const s = scores(1, 3, 2);
    applyWarpers(s, w(1, 1, 1), 2);
    assert.deepEqual([...s], [-Infinity, 3, 2]);
  });

  it("top-p removes the tail whose ascending running sum is ≤ 1 − p", () => {
    // probabilities ∝ e^3, e^2.5, e^2, e^1, e^-1 → 0.49, 0.30, 0.18, 0.07, 0.01
    const s = scores(1, 3, 2, -1, 2.5);
    applyWarpers(s, w(1, 0, 0.7), 1);
    assert.deepEqual(banned(s), [0, 2, 3]);
    const t = scores(1, 3, 2, -1, 2.5);
    applyWarpers(t, w(1, 0, 0.8), 1);
    assert.deepEqual(banned(t), [0, 3]);
  });

  it("top-p keeps min_tokens_to_keep however small p is", () => {
    const s = scores(1, 3, 2, -1, 2.5);
    applyWarpers(s, w(1, 0, 1e-6), 2);
    assert.deepEqual(banned(s), [0, 2, 3]);
  });

  it("draws follow softmax of the warped scores and never pick a removed token", () => {
    const rng = new Prng(5);
    const counts = [0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[drawFromScores(scores(0, Math.log(3), -Infinity), rng)]++;
    assert.equal(counts[2], 0);
    assert.ok(Math.abs(counts[1] / n - 0.75) < 0.015, String(counts));
  });
});

describe("log_softmax and top-k selection", () => {
  it("log_softmax equals x − log Σ exp x, and keeps -inf", () => {
    const x = [1.5, -2, 0.25, -Infinity, 7];
    const out = logSoftmaxInto(Float32Array.from(x), new Float32Array(5));
    const z = Math.log(x.reduce((a, v) => a + Math.exp(v), 0));
    x.forEach((v, i) => assert.ok(v === -Infinity ? out[i] === -Infinity : Math.abs(out[i] - (v - z)) < 1e-6, `${i}`));
  });

  it("topIndices: highest first, equal values by lower index, NaN last", () => {
    assert.deepEqual(topIndices(scores(1, 5, 3, 5, NaN, 4), 4), [1, 3, 5, 2]);
    assert.deepEqual(topIndices(scores(-Infinity, -Infinity, 0), 3), [2, 0, 1]);
    assert.deepEqual(topIndices(scores(2, 1), 5), [0, 1]);
  });
});
