// Drives an exported GPT-2 .onnx through onnxruntime-node with Optimum's KV-cache inputs and outputs:
// the independent oracle for our graph, our reference forward and (later) our runtime.

import * as ort from "onnxruntime-node";
import { isGpt2File } from "../../src/format/lowbit_onnx.js";
import { readModelFile } from "../../src/format/node_io.js";
import { argmax } from "../../src/reference/gpt2.js";

export interface OrtGpt2 {
  session: ort.InferenceSession;
  nLayer: number;
  nHead: number;
  headSize: number;
  vocab: number;
}

export async function openOrt(path: string, optimize = false): Promise<OrtGpt2> {
  const file = readModelFile(path);
  if (!isGpt2File(file)) throw new Error(`${path}: not a GPT-2 file`);
  const { config } = file;
  const session = await ort.InferenceSession.create(path, {
    graphOptimizationLevel: optimize ? "all" : "disabled",
    intraOpNumThreads: 1,
  });
  return { session, nLayer: config.n_layer, nHead: config.n_head, headSize: config.n_embd / config.n_head, vocab: config.vocab_size };
}

const i64 = (values: number[]) => BigInt64Array.from(values.map(BigInt));

/** One forward over `tokens` after `past`; returns logits (T rows of V) and the grown cache. */
export async function ortStep(m: OrtGpt2, tokens: number[], past: Map<string, ort.Tensor> | undefined) {
  const T = tokens.length;
  const P = past === undefined ? 0 : (past.get("present.0.key")!.dims[2] as number);
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor("int64", i64(tokens), [1, T]),
    attention_mask: new ort.Tensor("int64", i64(Array(P + T).fill(1)), [1, P + T]),
    position_ids: new ort.Tensor("int64", i64(tokens.map((_, i) => P + i)), [1, T]),
  };
  for (let l = 0; l < m.nLayer; l++) {
    for (const kv of ["key", "value"]) {
      feeds[`past_key_values.${l}.${kv}`] = past?.get(`present.${l}.${kv}`) ?? new ort.Tensor("float32", new Float32Array(0), [1, m.nHead, 0, m.headSize]);
    }
  }
  const out = await m.session.run(feeds);
  const data = out.logits.data as Float32Array;
  const logits = Array.from({ length: T }, (_, t) => data.slice(t * m.vocab, (t + 1) * m.vocab));
  const present = new Map(Object.entries(out).filter(([k]) => k.startsWith("present.")));
  return { logits, present };
}

/** Prompt logits, then `steps` greedy tokens fed back one at a time through the KV cache. */
export async function ortGreedy(m: OrtGpt2, prompt: number[], steps: number) {
  let { logits, present } = await ortStep(m, prompt, undefined);
  const promptLogits = logits;
  const ids: number[] = [];
  let next = argmax(logits[logits.length - 1]);
  for (let i = 0; i < steps; i++) {
    ids.push(next);
    if (i + 1 === steps) break;
    ({ logits, present } = await ortStep(m, [next], present));
    next = argmax(logits[0]);
  }
  return { ids, promptLogits };
}

export function maxAbsDiff(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  let worst = 0;
  for (let t = 0; t < a.length; t++) for (let i = 0; i < a[t].length; i++) worst = Math.max(worst, Math.abs(a[t][i] - b[t][i]));
  return worst;
}
