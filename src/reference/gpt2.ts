// The plain TypeScript reference forward for GPT-2: the oracle that onnxruntime and our WASM runtime are
// checked against. Readable on purpose, no tricks: fp32 weights (dequantized from the file as stored),
// float64 accumulation, and the same per-token int8 activation quantization as the graph and runtime.
//
// Letters: T new tokens, S cached + new tokens, C n_embd, NH heads, HS = C / NH, F n_inner, V vocab.

import { fakeQuantizeActivationRow } from "../export/quantize.js";
import type { Gpt2Config } from "../export/checkpoint.js";
import { dequantizeWeight, type LowbitModelFile } from "../model_file.js";

interface Linear {
  w: Float32Array; // (K, N), input-major like HF Conv1D
  b: Float32Array; // (N)
  K: number;
  N: number;
  quantizeInput: boolean;
}

interface Block {
  ln1: [Float32Array, Float32Array]; // (C), (C)
  attn: Linear; // (C, 3C)
  proj: Linear; // (C, C)
  ln2: [Float32Array, Float32Array];
  fc: Linear; // (C, F)
  fcProj: Linear; // (F, C)
}

export interface ReferenceModel {
  config: Gpt2Config;
  wte: Float32Array; // (V, C)
  wpe: Float32Array; // (P, C)
  blocks: Block[];
  lnf: [Float32Array, Float32Array];
  head: Float32Array; // (V, C): wte when tied
  quantizeHeadInput: boolean;
}

/** Key/value cache of one sequence: per layer, (S, C) rows of keys and of values, heads side by side. */
export interface KvCache {
  keys: Float32Array[][];
  values: Float32Array[][];
}

export function loadReferenceModel(f: LowbitModelFile): ReferenceModel {
  const byName = new Map(f.weights.map((w) => [w.name, w]));
  const quantActs = f.quantization.activation_bits === 8;
  const weight = (name: string) => dequantizeWeight(f, byName.get(name)!);
  const isQuantized = (name: string) => byName.get(name)!.layout !== "float";
  const linear = (m: string): Linear => {
    const w = byName.get(`${m}.weight`)!;
    return { w: weight(`${m}.weight`), b: weight(`${m}.bias`), K: w.shape[0], N: w.shape[1], quantizeInput: quantActs && isQuantized(`${m}.weight`) };
  };
  const ln = (m: string): [Float32Array, Float32Array] => [weight(`${m}.weight`), weight(`${m}.bias`)];
  const c = f.config;
  const blocks: Block[] = [];
  for (let l = 0; l < c.n_layer; l++) {
    const p = `h.${l}`;
    blocks.push({ ln1: ln(`${p}.ln_1`), attn: linear(`${p}.attn.c_attn`), proj: linear(`${p}.attn.c_proj`), ln2: ln(`${p}.ln_2`), fc: linear(`${p}.mlp.c_fc`), fcProj: linear(`${p}.mlp.c_proj`) });
  }
  const wte = weight("wte.weight");
  const headName = c.tie_word_embeddings ? "wte.weight" : "lm_head.weight";
  return {
    config: c, wte, wpe: weight("wpe.weight"), blocks, lnf: ln("ln_f"),
    head: c.tie_word_embeddings ? wte : weight(headName),
    quantizeHeadInput: quantActs && isQuantized(headName),
  };
}

export function emptyCache(m: ReferenceModel): KvCache {
  return { keys: m.blocks.map(() => []), values: m.blocks.map(() => []) };
}

function layerNorm(x: Float32Array, [gain, bias]: [Float32Array, Float32Array], eps: number): Float32Array {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let variance = 0;
  for (const v of x) variance += (v - mean) ** 2;
  variance /= x.length;
  const inv = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * inv * gain[i] + bias[i]);
}

function applyLinear(x: Float32Array, l: Linear): Float32Array {
  const input = Float32Array.from(x);
  if (l.quantizeInput) fakeQuantizeActivationRow(input);
  const out = new Float32Array(l.N);
  for (let n = 0; n < l.N; n++) {
    let acc = 0;
    for (let k = 0; k < l.K; k++) acc += input[k] * l.w[k * l.N + n];
    out[n] = acc + l.b[n];
  }
  return out;
}

function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/**
 * Runs `tokens` (positions cache length, cache length + 1, …) through the model, appending to the cache.
 * Returns the logits of every new token: T rows of V.
 */
export function referenceForward(m: ReferenceModel, tokens: number[], cache: KvCache): Float32Array[] {
  const c = m.config;
  const C = c.n_embd;
  const NH = c.n_head;
  const HS = C / NH;
  const eps = c.layer_norm_epsilon;
  const logits: Float32Array[] = [];
  for (const token of tokens) {
    const pos = cache.keys[0].length;
    let x = new Float32Array(C); // (C) residual stream of this token
    for (let i = 0; i < C; i++) x[i] = m.wte[token * C + i] + m.wpe[pos * C + i];
    m.blocks.forEach((b, l) => {
      const qkv = applyLinear(layerNorm(x, b.ln1, eps), b.attn); // (3C)
      cache.keys[l].push(qkv.slice(C, 2 * C));
      cache.values[l].push(qkv.slice(2 * C, 3 * C));
      const S = cache.keys[l].length;
      const context = new Float32Array(C);
      for (let h = 0; h < NH; h++) {
        const scores = new Float64Array(S);
        let max = -Infinity;
        for (let s = 0; s < S; s++) {
          let dot = 0;
          for (let d = 0; d < HS; d++) dot += qkv[h * HS + d] * cache.keys[l][s][h * HS + d];
          scores[s] = dot / Math.sqrt(HS);
          max = Math.max(max, scores[s]);
        }
        let sum = 0;
        for (let s = 0; s < S; s++) sum += (scores[s] = Math.exp(scores[s] - max));
        for (let d = 0; d < HS; d++) {
          let acc = 0;
          for (let s = 0; s < S; s++) acc += (scores[s] / sum) * cache.values[l][s][h * HS + d];
          context[h * HS + d] = acc;
        }
      }
      const attnOut = applyLinear(context, b.proj);
      x = x.map((v, i) => v + attnOut[i]);
      const hidden = applyLinear(layerNorm(x, b.ln2, eps), b.fc).map(gelu); // (F)
      const mlpOut = applyLinear(hidden, b.fcProj);
      x = x.map((v, i) => v + mlpOut[i]);
    });
    const final = layerNorm(x, m.lnf, eps);
    if (m.quantizeHeadInput) fakeQuantizeActivationRow(final);
    const row = new Float32Array(c.vocab_size);
    for (let v = 0; v < c.vocab_size; v++) {
      let acc = 0;
      for (let i = 0; i < C; i++) acc += final[i] * m.head[v * C + i];
      row[v] = acc;
    }
    logits.push(row);
  }
  return logits;
}

export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Greedy decoding: the prompt's logits, then `steps` argmax tokens, one forward each. */
export function referenceGreedy(m: ReferenceModel, prompt: number[], steps: number): { ids: number[]; promptLogits: Float32Array[] } {
  const cache = emptyCache(m);
  const promptLogits = referenceForward(m, prompt, cache);
  const ids: number[] = [];
  let next = argmax(promptLogits[promptLogits.length - 1]);
  for (let i = 0; i < steps; i++) {
    ids.push(next);
    if (i + 1 < steps) next = argmax(referenceForward(m, [next], cache)[0]);
  }
  return { ids, promptLogits };
}
