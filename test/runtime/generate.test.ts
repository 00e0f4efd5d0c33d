// Generation options: sampling rules on hand-made logits, and stop strings, EOS, seeds and streaming on a
// real model.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { readGpt2Checkpoint } from "../../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint } from "../../src/export/export.js";
import { loadGpt2Model, type GenerateOptions, type Gpt2Model as LowbitModel } from "../../src/runtime/index.js";
import { LowbitError } from "../../src/errors.js";
import { applyRepetitionPenalty, sampleFrom } from "../../src/runtime/logits_processors.js";
import { argmax, isSampling, Prng, warpersOf, type SamplingOptions } from "../../src/runtime/sampling.js";
import { fixtureDir, tempDir } from "../helpers/fixtures.js";

describe("sampling rules (GPT-2's options through the shared logits processors)", () => {
  const logits = () => Float32Array.of(1, 3, 2, -1, 2.5);
  const sample = (l: Float32Array, o: SamplingOptions, rng: Prng) => sampleFrom(l, warpersOf(o), rng);

  it("top-k 1 and a tiny top-p both reduce to greedy", () => {
    const rng = new Prng(9);
    for (let i = 0; i < 20; i++) {
      assert.equal(sample(logits(), { temperature: 1, topK: 1 }, rng), 1);
      assert.equal(sample(logits(), { temperature: 1, topP: 1e-6 }, rng), 1);
    }
  });

  it("top-k keeps only the k most likely tokens", () => {
    const rng = new Prng(1);
    const drawn = new Set(Array.from({ length: 300 }, () => sample(logits(), { temperature: 5, topK: 3 }, rng)));
    assert.deepEqual([...drawn].sort(), [1, 2, 4]);
  });

  it("top-p keeps the smallest set reaching p", () => {
    // probabilities ∝ e^3, e^2.5, e^2, e^1, e^-1 → 0.49, 0.30, 0.18, 0.07, 0.01: p = 0.7 keeps ids 1 and 4.
    const rng = new Prng(2);
    const drawn = new Set(Array.from({ length: 300 }, () => sample(logits(), { temperature: 1, topP: 0.7 }, rng)));
    assert.deepEqual([...drawn].sort(), [1, 4]);
  });

  it("sampling frequencies follow softmax(logits / T)", () => {
    const rng = new Prng(3);
    const counts = new Array(5).fill(0);
    const n = 20000;
    for (let i = 0; i < n; i++) counts[sample(logits(), { temperature: 2 }, rng)]++;
    const weights = Array.from(logits(), (l) => Math.exp(l / 2));
    const z = weights.reduce((a, b) => a + b, 0);
    weights.forEach((w, i) => assert.ok(Math.abs(counts[i] / n - w / z) < 0.015, `id ${i}: ${counts[i] / n} vs ${w / z}`));
  });

  it("temperature 0 is greedy whatever top-k, top-p or seed say", () => {
    assert.equal(isSampling({ temperature: 0, topK: 5, topP: 0.9, seed: 3 }), false);
    assert.equal(isSampling({ temperature: 0 }), false);
    assert.equal(isSampling({}), false);
    for (const o of [{ seed: 3 }, { topK: 5 }, { topP: 0.9 }, { temperature: 0.5 }]) assert.equal(isSampling(o), true, JSON.stringify(o));
  });

  it("repetition penalty divides positive and multiplies negative logits of seen tokens", () => {
    const l = logits();
    applyRepetitionPenalty(l, [1, 3, 1], 2);
    assert.deepEqual(Array.from(l), [1, 1.5, 2, -2, 2.5]);
    assert.equal(argmax(l), 4);
  });

  it("the PRNG is mulberry32: golden values from a separate Python implementation", () => {
    // python: s += 0x6D2B79F5; t = (t ^ t>>15)·(t|1); t ^= t + (t ^ t>>7)·(t|61); out = t ^ t>>14 (mod 2^32)
    const rng = new Prng(1234);
    assert.deepEqual(Array.from({ length: 3 }, () => rng.next() * 2 ** 32), [314799534, 3021131492, 3877737075]);
  });
});

describe("generate options on a model", () => {
  let m: LowbitModel;
  before(async () => {
    const path = join(tempDir(), "tiny.onnx");
    const q = quantizeCheckpoint(readGpt2Checkpoint(fixtureDir("tiny-f32")), { weightBits: 4, embeddingBits: 4, activationBits: 8, granularity: "module", groupSize: 0, clip: "mse" });
    writeFileSync(path, exportGpt2(q, { format: "dq", activationBits: 8, source: "tiny" }).bytes);
    m = await loadGpt2Model(path);
  });
  const run = async (prompt: string | number[], o: GenerateOptions) => {
    const out: { ids: number[]; text: string } = { ids: [], text: "" };
    for await (const t of m.generate(prompt, o)) {
      if (t.id >= 0) out.ids.push(t.id);
      out.text += t.text;
    }
    return out;
  };

  it("the same seed gives the same tokens, another seed other tokens", async () => {
    const o = { maxNewTokens: 24, temperature: 1.2, topK: 50, stopAtEos: false };
    const a = await run([5, 6, 7], { ...o, seed: 1 });
    assert.deepEqual((await run([5, 6, 7], { ...o, seed: 1 })).ids, a.ids);
    assert.notDeepEqual((await run([5, 6, 7], { ...o, seed: 2 })).ids, a.ids);
  });

  it("streamed text equals decoding the ids", async () => {
    const r = await run("the cat sat on", { maxNewTokens: 20, stopAtEos: false });
    assert.equal(r.text, m.tokenizer.decode(r.ids));
    assert.equal(m.lastStats!.generatedTokens, 20);
    assert.equal(m.lastStats!.promptTokens, m.tokenizer.encode("the cat sat on").length);
  });

  it("a stop string ends generation and is not emitted", async () => {
    const full = await run([5, 6, 7], { maxNewTokens: 30, stopAtEos: false });
    const stop = full.text.slice(6, 8);
    const cut = await run([5, 6, 7], { maxNewTokens: 30, stopAtEos: false, stop: [stop] });
    assert.equal(cut.text, full.text.slice(0, full.text.indexOf(stop)));
    assert.equal(m.lastStats!.stopReason, "stop_string");
  });

  it("temperature 0 with a seed, top-k and top-p gives the greedy tokens", async () => {
    const greedy = await run([5, 6, 7], { maxNewTokens: 24, stopAtEos: false });
    assert.deepEqual((await run([5, 6, 7], { maxNewTokens: 24, stopAtEos: false, temperature: 0, seed: 3, topK: 5, topP: 0.9 })).ids, greedy.ids);
    // The same options at temperature 1 sample: the check above is not vacuous.
    assert.notDeepEqual((await run([5, 6, 7], { maxNewTokens: 24, stopAtEos: false, temperature: 1, seed: 3, topK: 5 })).ids, greedy.ids);
  });

  it("refuses a context longer than n_positions, an empty stop string, and says how to start from nothing", async () => {
    const refuses = (prompt: string | number[], o: GenerateOptions, message: RegExp) =>
      assert.rejects(run(prompt, o), (e: Error) => e instanceof LowbitError && message.test(e.message), String(message));
    await refuses([5, 6, 7], { contextLength: 100000 }, /^invalid context; expected an integer in 2\.\.64 \(n_positions\), found 100000$/);
    await refuses([5, 6, 7], { contextLength: 65 }, /found 65$/);
    assert.equal((await run([5, 6, 7], { contextLength: 64, maxNewTokens: 4, stopAtEos: false })).ids.length, 4); // n_positions itself is fine
    await refuses([5, 6, 7], { stop: ["x", ""] }, /^invalid stop string; expected a non-empty string, found ""$/);
    await refuses("", {}, /^empty prompt; expected at least one token \(for unconditional generation, start from the end-of-text token: prompt \[276\]\)$/);
    await refuses(Array.from({ length: 60 }, () => 5), { maxNewTokens: 8 }, /found 60 \+ 8 \(shorten the prompt, lower maxNewTokens, or pass truncate: "left" to keep its last tokens\)$/);
  });

  it("the end-of-text token ends generation unless told otherwise", async () => {
    const free = await run([5, 6, 7], { maxNewTokens: 12, stopAtEos: false });
    // Declare the 4th greedy token the end-of-text token: generation must stop before emitting it.
    const eos = free.ids[3];
    const stopped = await run([5, 6, 7], { maxNewTokens: 12, eosTokenId: eos });
    assert.deepEqual(stopped.ids, free.ids.slice(0, free.ids.indexOf(eos)));
    assert.equal(m.lastStats!.stopReason, "eos");
    assert.deepEqual((await run([5, 6, 7], { maxNewTokens: 12, eosTokenId: eos, stopAtEos: false })).ids, free.ids);
  });
});
