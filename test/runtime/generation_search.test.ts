// Greedy decoding, sampling and beam search (src/runtime/generation.ts, beam_search.ts) on a small
// deterministic "model": a stepper whose next-token distribution is a fixed function of each row's ids so
// far. The expected outcomes are worked out by hand below from transformers' rules; parity with transformers'
// own ids on real BART checkpoints is test/runtime/generation_fixtures.test.ts.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LowbitError } from "../../src/errors.js";
import {
  beamSearch, decodeGreedyOrSample, resolveGeneration, runGeneration, type DecoderStepper, type GenerationOptions, type ResolvedGeneration,
} from "../../src/runtime/generation.js";

/** Next-token probabilities for a row's ids (start token included); missing ids have probability 0. */
type Model = (history: readonly number[]) => Partial<Record<number, number>>;

/** A stepper whose logits are log-probabilities from `model`, with each row's ids kept as the search feeds them. */
class TableStepper implements DecoderStepper {
  rows: number[][] = [];
  steps = 0;
  reorders: number[][] = [];
  constructor(readonly vocabSize: number, private model: Model, private async = false) {}
  step(tokens: number[]): Float32Array[] | Promise<Float32Array[]> {
    if (this.rows.length === 0) this.rows = tokens.map(() => []);
    assert.equal(tokens.length, this.rows.length, "a step must pass one token per row");
    this.steps++;
    tokens.forEach((t, i) => this.rows[i].push(t));
    const out = this.rows.map((h) => {
      const logits = new Float32Array(this.vocabSize).fill(-Infinity);
      for (const [id, p] of Object.entries(this.model(h))) if (p !== undefined) logits[Number(id)] = Math.log(p);
      return logits;
    });
    return this.async ? Promise.resolve(out) : out;
  }
  reorder(from: number[]): void {
    this.reorders.push(from);
    this.rows = from.map((f) => [...this.rows[f]]);
  }
}

const START = 0;
const A = 1;
const EOS = 2;
const B = 3;

/** Settings over BART-like ids: start 0, EOS 2, nothing forced unless asked. */
function settings(o: GenerationOptions): ResolvedGeneration {
  return resolveGeneration({ decoder_start_token_id: START, eos_token_id: EOS, pad_token_id: 1 }, o);
}

async function greedy(stepper: DecoderStepper, g: ResolvedGeneration): Promise<{ yielded: number[]; sequence: number[] }> {
  const yielded: number[] = [];
  const it = decodeGreedyOrSample(stepper, g);
  let r = await it.next();
  while (!r.done) {
    yielded.push(r.value);
    r = await it.next();
  }
  return { yielded, sequence: r.value };
}

// ---------------------------------------------------------------------------------------------------------

describe("greedy decoding", () => {
  // a, then b, then a, ... (alternating), with EOS always second best.
  const alternating: Model = (h) => (h[h.length - 1] === A ? { [B]: 0.6, [EOS]: 0.3, [A]: 0.1 } : { [A]: 0.6, [EOS]: 0.3, [B]: 0.1 });

  it("yields each new id and returns the sequence with the start token; max_length counts the start token", async () => {
    const s = new TableStepper(4, alternating);
    const { yielded, sequence } = await greedy(s, settings({ maxLength: 5 }));
    assert.deepEqual(sequence, [START, A, B, A, B]);
    assert.deepEqual(yielded, [A, B, A, B]);
    assert.equal(s.steps, 4, "the last id is never fed to the model");
  });

  it("max_new_tokens n gives n ids after the start token", async () => {
    const { sequence } = await greedy(new TableStepper(4, alternating), settings({ maxNewTokens: 3 }));
    assert.deepEqual(sequence, [START, A, B, A]);
  });

  it("stops at EOS, which is yielded and kept", async () => {
    const model: Model = (h) => (h.length < 3 ? { [A]: 0.9, [EOS]: 0.1 } : { [EOS]: 0.9, [A]: 0.1 });
    const { yielded, sequence } = await greedy(new TableStepper(4, model), settings({ maxLength: 10 }));
    assert.deepEqual(sequence, [START, A, A, EOS]);
    assert.deepEqual(yielded, [A, A, EOS]);
  });

  it("min_length (start token included) holds EOS back; forced BOS/EOS set the first and last ids", async () => {
    const eager: Model = () => ({ [EOS]: 0.7, [A]: 0.2, [B]: 0.1 });
    assert.deepEqual((await greedy(new TableStepper(4, eager), settings({ maxLength: 10 }))).sequence, [START, EOS]);
    assert.deepEqual((await greedy(new TableStepper(4, eager), settings({ maxLength: 10, minLength: 4 }))).sequence, [START, A, A, A, EOS]);
    const never: Model = () => ({ [A]: 0.7, [B]: 0.3 });
    assert.deepEqual((await greedy(new TableStepper(4, never), settings({ maxLength: 5, forcedBosTokenId: B, forcedEosTokenId: EOS }))).sequence, [START, B, A, A, EOS]);
  });

  it("no_repeat_ngram_size and repetition_penalty change the arg-max as transformers' processors do", async () => {
    const sticky: Model = () => ({ [A]: 0.5, [B]: 0.4, [EOS]: 0.1 });
    // Bigram (a, a) may occur once: after [0 a a] the id a is banned, so b; after [0 a a b a] both (a, a)
    // and (a, b) have occurred, so EOS.
    assert.deepEqual((await greedy(new TableStepper(4, sticky), settings({ maxLength: 8, noRepeatNgramSize: 2 }))).sequence, [START, A, A, B, A, EOS]);
    // log(0.5) · 1.5 < log(0.4): a, once seen, loses to b; then both are seen and a wins again.
    assert.deepEqual((await greedy(new TableStepper(4, sticky), settings({ maxLength: 4, repetitionPenalty: 1.5 }))).sequence, [START, A, B, A]);
  });

  it("a stepper that returns promises works the same", async () => {
    const { sequence } = await greedy(new TableStepper(4, alternating, true), settings({ maxLength: 5 }));
    assert.deepEqual(sequence, [START, A, B, A, B]);
  });
});

describe("sampling", () => {
  const spread: Model = (h) => (h.length >= 12 ? { [EOS]: 1 } : { [A]: 0.45, [B]: 0.35, [EOS]: 0.01, 4: 0.19 });

  it("the same seed gives the same ids, other seeds other ids", async () => {
    const run = async (seed: number) => (await greedy(new TableStepper(5, spread), settings({ maxLength: 16, seed }))).sequence;
    assert.deepEqual(await run(7), await run(7));
    const others = await Promise.all([1, 2, 3, 4].map(run));
    assert.ok(others.some((s) => JSON.stringify(s) !== JSON.stringify(others[0])), "four seeds gave one sequence");
  });

  it("top-k 1 is greedy; temperature 0 means no sampling at all", async () => {
    const greedyIds = (await greedy(new TableStepper(5, spread), settings({ maxLength: 16 }))).sequence;
    assert.deepEqual((await greedy(new TableStepper(5, spread), settings({ maxLength: 16, topK: 1, seed: 3 }))).sequence, greedyIds);
    assert.equal(settings({ temperature: 0, seed: 3 }).doSample, false);
  });

  it("top-k 2 never draws a third id", async () => {
    for (let seed = 0; seed < 20; seed++) {
      const { sequence } = await greedy(new TableStepper(5, spread), settings({ maxLength: 12, topK: 2, seed }));
      assert.ok(sequence.slice(1).every((id) => id === A || id === B), `seed ${seed}: ${sequence}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------

/**
 * The beam-search model of the early-stopping cases (start 0, a 1, EOS 2, b 3):
 *   [0]        → a .6, EOS .3, b .1          [0 a]      → EOS .5, a .3, b .2
 *   [0 b]      → a .9, EOS .1                [0 a a]    → EOS .9, b .1
 *   [0 a b]    → EOS 1                       [0 a a b]  → b 1 (then EOS 1)
 * Hypotheses (score = log P / generated length ** length_penalty, generated length after the start token):
 *   [0 EOS]            log .3   = -1.204 (length 1)
 *   [0 a EOS]          log .3   = -1.204 (length 2)
 *   [0 a a EOS]        log .162 = -1.820 (length 3)
 *   [0 a b EOS]        log .12  = -2.120 (length 3)
 *   [0 a a b b EOS]    log .018 = -4.017 (length 5)
 */
const earlyStoppingModel: Model = (h) => {
  const key = h.join(" ");
  const table: Record<string, Record<number, number>> = {
    "0": { [A]: 0.6, [EOS]: 0.3, [B]: 0.1 },
    "0 1": { [EOS]: 0.5, [A]: 0.3, [B]: 0.2 },
    "0 3": { [A]: 0.9, [EOS]: 0.1 },
    "0 1 1": { [EOS]: 0.9, [B]: 0.1 },
    "0 1 3": { [EOS]: 1 },
    "0 1 1 3": { [B]: 1 },
  };
  return table[key] ?? { [EOS]: 1 };
};

async function beams(model: Model, o: GenerationOptions, vocab = 4) {
  const stepper = new TableStepper(vocab, model);
  const result = await beamSearch(stepper, settings(o));
  return { ...result, stepper };
}

function close(actual: number, expected: number, label = "") {
  assert.ok(Math.abs(actual - expected) < 1e-5, `${label} ${actual} vs ${expected}`);
}

describe("beam search: early_stopping and length_penalty", () => {
  const base = { numBeams: 2, maxLength: 8 };

  it("early_stopping true stops once num_beams hypotheses are finished: [0 a EOS] (length penalty 2)", async () => {
    // Step 1: [0 EOS] finishes (-1.204). Step 2: [0 a EOS] finishes (-1.204 / 2² = -0.301): both slots full.
    const r = await beams(earlyStoppingModel, { ...base, lengthPenalty: 2, earlyStopping: true });
    assert.deepEqual(r.sequences, [[START, A, EOS], [START, EOS]]);
    close(r.scores[0], Math.log(0.3) / 4);
    close(r.scores[1], Math.log(0.3));
    assert.equal(r.stepper.steps, 2);
  });

  it("early_stopping false goes on while the best running beam, at its current length, could still win", async () => {
    // After step 2 the best running beam [0 a a] scores log .18 / 2² = -0.429 > worst finished -1.204: go on.
    // Step 3: [0 a a EOS] = -1.820 / 9 = -0.202 and [0 a b EOS] = -0.236 fill the slots; the running
    // [0 a a b] (log .018 / 3² = -0.446) cannot beat -0.236 at its current length: stop.
    const r = await beams(earlyStoppingModel, { ...base, lengthPenalty: 2, earlyStopping: false });
    assert.deepEqual(r.sequences, [[START, A, A, EOS], [START, A, B, EOS]]);
    close(r.scores[0], Math.log(0.162) / 9);
    close(r.scores[1], Math.log(0.12) / 9);
    assert.equal(r.stepper.steps, 3);
  });

  it('early_stopping "never" with a positive length penalty assumes max_length and finds the longer winner', async () => {
    // The heuristic divides the running score by (max_length − 1)² = 49, so [0 a a b] (-4.017 / 49) keeps
    // going and ends as [0 a a b b EOS] = -4.017 / 25 = -0.161, better than -0.202.
    const r = await beams(earlyStoppingModel, { ...base, lengthPenalty: 2, earlyStopping: "never" });
    assert.deepEqual(r.sequences[0], [START, A, A, B, B, EOS]);
    close(r.scores[0], Math.log(0.018) / 25);
    assert.deepEqual(r.sequences[1], [START, A, A, EOS]);
  });

  it("length penalty 1 and -1: the average log-prob, or the sum times the length", async () => {
    // lp 1: [0 a EOS] -1.204 / 2 = -0.602 beats [0 EOS] -1.204; early_stopping false then also stops after
    // step 3, as [0 a a EOS] -0.607 and the running beams cannot win.
    for (const earlyStopping of [true, false] as const) {
      const r = await beams(earlyStoppingModel, { ...base, lengthPenalty: 1, earlyStopping });
      assert.deepEqual(r.sequences[0], [START, A, EOS], `early_stopping ${earlyStopping}`);
      close(r.scores[0], Math.log(0.3) / 2);
    }
    // lp -1 favours short hypotheses: [0 EOS] at -1.204 × 1 beats [0 a EOS] at -1.204 × 2.
    const r = await beams(earlyStoppingModel, { ...base, lengthPenalty: -1, earlyStopping: true });
    assert.deepEqual(r.sequences, [[START, EOS], [START, A, EOS]]);
    close(r.scores[1], Math.log(0.3) * 2);
  });

  it("hypotheses cut at max_length finish too (the last id need not be EOS)", async () => {
    const r = await beams(() => ({ [A]: 0.5, [B]: 0.5 }), { numBeams: 2, maxLength: 4 });
    assert.equal(r.sequences.length, 2);
    for (const s of r.sequences) assert.equal(s.length, 4);
    close(r.scores[0], Math.log(0.125) / 3);
  });
});

describe("beam search: candidates and beams", () => {
  it("only the first num_beams of the 2·num_beams candidates may finish: a third-ranked EOS is dropped", async () => {
    // Step 1 ranks a (.5), b (.3), EOS (.2): EOS is third of four, so [0 EOS] (-1.609) is never kept even
    // though every later hypothesis scores worse (29 equally likely ids: log .5 + log(1/29) over 2 = -2.03).
    const V = 30;
    const model: Model = (h) => {
      if (h.length === 1) return { [A]: 0.5, [B]: 0.3, [EOS]: 0.2 };
      const uniform: Record<number, number> = {};
      for (let id = 1; id < V; id++) uniform[id] = 1 / (V - 1);
      return uniform;
    };
    const r = await beams(model, { numBeams: 2, maxLength: 3 }, V);
    assert.ok(!r.sequences.some((s) => s.length === 2), JSON.stringify(r.sequences));
    close(r.scores[0], (Math.log(0.5) + Math.log(1 / 29)) / 2);
  });

  it("the stepper's rows always hold the ids the search thinks they hold (reorder is a gather)", async () => {
    // A model that checks every row it is asked about: the history must be a path the search could take,
    // and the result must be the best path of a model where the order of ids matters.
    const model: Model = (h) => {
      const last = h[h.length - 1];
      if (h.length >= 5) return { [EOS]: 1 };
      return last === A ? { [B]: 0.7, [A]: 0.2, [EOS]: 0.1 } : { [A]: 0.5, [B]: 0.45, [EOS]: 0.05 };
    };
    const r = await beams(model, { numBeams: 3, maxLength: 10, earlyStopping: "never", lengthPenalty: 0 });
    // Brute force over all paths of this model: the best total log-probability (length penalty 0).
    let best = -Infinity;
    let bestPath: number[] = [];
    const walk = (h: number[], lp: number) => {
      if (h[h.length - 1] === EOS && h.length > 1) {
        if (lp > best) [best, bestPath] = [lp, h];
        return;
      }
      for (const [id, p] of Object.entries(model(h))) walk([...h, Number(id)], lp + Math.log(p!));
    };
    walk([START], 0);
    assert.deepEqual(r.sequences[0], bestPath);
    close(r.scores[0], best);
    assert.ok(r.stepper.reorders.length > 0 && r.stepper.reorders.every((f) => f.length === 3));
  });

  it("num_beams 1 through runGeneration is greedy; forced BOS at the first step leaves one live beam", async () => {
    const model: Model = () => ({ [A]: 0.6, [B]: 0.3, [EOS]: 0.1 });
    const greedyRun = await runGeneration(new TableStepper(4, model), settings({ maxLength: 4 }));
    assert.deepEqual(greedyRun.sequences, [[START, A, A, A]]);
    assert.equal(greedyRun.scores, undefined);
    const r = await runGeneration(new TableStepper(4, model), settings({ numBeams: 3, maxLength: 4, forcedBosTokenId: B, forcedEosTokenId: EOS }));
    assert.deepEqual(r.sequences[0], [START, B, A, EOS]);
    close(r.scores![0], Math.log(0.6) / 3);
  });

  it("beam sampling is reproducible from its seed and respects top-k", async () => {
    const model: Model = (h) => (h.length >= 6 ? { [EOS]: 1 } : { [A]: 0.3, [B]: 0.3, 4: 0.3, [EOS]: 0.1 });
    const run = async (seed: number) => (await runGeneration(new TableStepper(5, model), settings({ numBeams: 2, maxLength: 8, seed, topK: 3 }))).sequences;
    assert.deepEqual(await run(11), await run(11));
    // Top-3 of a .3, b .3, 4 .3, EOS .1 drops EOS, so every hypothesis runs until EOS is the only choice.
    for (let seed = 0; seed < 5; seed++) {
      for (const s of await run(seed)) {
        assert.equal(s.length, 7, JSON.stringify(s));
        assert.ok(s.slice(1, 6).every((id) => id === A || id === B || id === 4), JSON.stringify(s));
      }
    }
  });
});

describe("abort and validation", () => {
  it("an aborted signal stops greedy decoding and beam search with its reason", async () => {
    const model: Model = () => ({ [A]: 1 });
    const controller = new AbortController();
    controller.abort(new Error("stop now"));
    await assert.rejects(async () => {
      await decodeGreedyOrSample(new TableStepper(4, model), settings({ maxLength: 5 }), controller.signal).next();
    }, /stop now/);
    await assert.rejects(beamSearch(new TableStepper(4, model), settings({ numBeams: 2, maxLength: 5 }), controller.signal), /stop now/);
  });

  it("an abort fired between steps is seen before the next step", async () => {
    const controller = new AbortController();
    let steps = 0;
    const stepper: DecoderStepper = {
      vocabSize: 4,
      step: (tokens) => {
        if (++steps === 2) controller.abort(new Error("late"));
        return tokens.map(() => Float32Array.of(-9, 0, -9, -9));
      },
      reorder: () => {},
    };
    await assert.rejects(runGeneration(stepper, settings({ maxLength: 50 }), controller.signal), /late/);
    assert.equal(steps, 2);
  });

  it("ids outside the model's vocabulary are refused before the first step", async () => {
    await assert.rejects(runGeneration(new TableStepper(4, () => ({ [A]: 1 })), settings({ forcedBosTokenId: 9 })), LowbitError);
  });
});
