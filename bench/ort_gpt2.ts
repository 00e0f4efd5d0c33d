// Greedy GPT-2 generation through onnxruntime over a lowbit .onnx, for the generation benchmark
// (bench/generate.ts). Works with onnxruntime-node and onnxruntime-web alike: both export the same API
// from onnxruntime-common, so the module is a parameter.
//
// Drives the graph with Hugging Face Optimum's names: input_ids, attention_mask (ones over past + new),
// position_ids (int64, (1, T)), past_key_values.{l}.key|value (f32, (1, NH, P, HS), P = 0 at first); reads
// logits (1, T, V) and present.{l}.key|value, which become the next step's past as they are.
//
// Not an oracle: test/helpers/ort_gpt2.ts is the tested driver the runtime is checked against. This one
// keeps only what a timed loop needs (argmax of the last row, no copies of the logits).

import type * as OrtApi from "onnxruntime-web";

/** What we use of either package (the two share onnxruntime-common's types). */
export type OrtModule = Pick<typeof OrtApi, "InferenceSession" | "Tensor">;

/** Model dimensions the feeds need: L layers, NH heads, HS = C / NH head size, V vocab. */
export interface Gpt2Dims {
  nLayer: number;
  nHead: number;
  headSize: number;
  vocab: number;
}

export interface OrtGpt2 {
  ort: OrtModule;
  session: OrtApi.InferenceSession;
  dims: Gpt2Dims;
}

export type KvCache = Record<string, OrtApi.Tensor>;

export async function openOrtGpt2(ort: OrtModule, path: string, dims: Gpt2Dims, options: OrtApi.InferenceSession.SessionOptions): Promise<OrtGpt2> {
  const session = await ort.InferenceSession.create(path, options);
  const missing = ["input_ids", "attention_mask", "position_ids", "past_key_values.0.key"].filter((n) => !session.inputNames.includes(n));
  if (missing.length > 0) throw new Error(`${path}: expected Optimum's GPT-2 inputs, missing ${missing.join(", ")} (found ${session.inputNames.join(", ")})`);
  return { ort, session, dims };
}

const i64 = (values: ArrayLike<number>): BigInt64Array => {
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]);
  return out;
};

function argmaxRow(data: Float32Array, start: number, n: number): number {
  let best = 0;
  let bestValue = data[start];
  for (let i = 1; i < n; i++) {
    if (data[start + i] > bestValue) {
      bestValue = data[start + i];
      best = i;
    }
  }
  return best;
}

/** One forward of `tokens` after `past` (undefined: empty cache). Returns the greedy next id and the grown cache. */
export async function ortStep(m: OrtGpt2, tokens: number[], past: KvCache | undefined): Promise<{ next: number; present: KvCache }> {
  const { ort, dims } = m;
  const T = tokens.length;
  const P = past === undefined ? 0 : (past["present.0.key"].dims[2] as number);
  const feeds: Record<string, OrtApi.Tensor> = {
    input_ids: new ort.Tensor("int64", i64(tokens), [1, T]),
    attention_mask: new ort.Tensor("int64", new BigInt64Array(P + T).fill(1n), [1, P + T]),
    position_ids: new ort.Tensor("int64", i64(tokens.map((_, i) => P + i)), [1, T]),
  };
  const empty = new Float32Array(0);
  for (let l = 0; l < dims.nLayer; l++) {
    for (const kv of ["key", "value"]) {
      feeds[`past_key_values.${l}.${kv}`] = past?.[`present.${l}.${kv}`] ?? new ort.Tensor("float32", empty, [1, dims.nHead, 0, dims.headSize]);
    }
  }
  const out = await m.session.run(feeds);
  const logits = out.logits.data as Float32Array; // (1, T, V)
  const next = argmaxRow(logits, (T - 1) * dims.vocab, dims.vocab);
  const present: KvCache = {};
  for (const [name, t] of Object.entries(out)) if (name.startsWith("present.")) present[name] = t;
  return { next, present };
}

/**
 * Greedy decoding: the prompt in one forward (its logits give the first new token), then `steps` forwards
 * of one token each. Returns the time of those `steps` forwards alone, like the runtime's decodeMs.
 */
export async function ortGreedy(m: OrtGpt2, prompt: number[], steps: number): Promise<{ ids: number[]; prefillMs: number; decodeMs: number; stepMs: number[] }> {
  const t0 = performance.now();
  let { next, present } = await ortStep(m, prompt, undefined);
  const t1 = performance.now();
  const ids = [next];
  const stepMs: number[] = [];
  for (let i = 0; i < steps; i++) {
    const s = performance.now();
    ({ next, present } = await ortStep(m, [next], present));
    stepMs.push(performance.now() - s);
    ids.push(next);
  }
  return { ids, prefillMs: t1 - t0, decodeMs: performance.now() - t1, stepMs };
}
