// The plain TypeScript reference forward for GPT-2: the oracle that onnxruntime and our WASM runtime are
// checked against. Readable on purpose, no tricks: one token at a time, weights read from the file as
// stored, and the same per-token int8 activation quantization as the graph and runtime.
//
// Why it computes some things exactly as the runtime's kernels do. With int8 activations (the shipped
// W-E-A 2-2-8 models) the input row of every quantized linear is rounded to codes, round(x / s): a step
// function. Two forwards that differ only in the last f32 bit flip a code wherever an input lies within
// that bit of a .5 boundary; the layer's output then moves by s · step · |code| (~3e-4 on quantgpt-228),
// which flips more codes downstream, and the KV cache carries it to every later token. Measured with the
// earlier all-f64 reference (fake-quantized × dequantized weights) on quantgpt-228, the same inputs fed
// to both: 45–68% of linear outputs and 75% of attention outputs differed from the kernels' in the last
// bit, and 0.01% of LayerNorm outputs (the kernel took eps as an f32). On "Once upon a time, in a small
// village by the sea, …" the first flip came at token 9, layer 1: c_fc's output differed by one ulp, GELU
// gave x / s = −8.5 exactly here and −8.500002 there, codes −8 and −9; 28 head-input codes differed by
// the last layer, logits by 0.065, and 0.02–0.3 over 64 greedy steps on every trained model tried. So every
// value that can reach an int8 quantizer is computed here with the same f32 operations, in the same
// order, as assembly/:
//   - a quantized linear with int8 input, and the head: Σ xq · code per scale group as an exact integer,
//     then out = f32(out + f32(f32(f32(Σ) · step) · sx)) group by group, starting from the bias (0 for
//     the head) — assembly/matmul.ts and head.ts; this is the format's own arithmetic, int8 × intN codes
//     scaled twice, where the graph's DequantizeLinear → MatMul rounds each factor first;
//   - attention: q·k as four interleaved f32 partial sums (the SIMD lanes), softmax with f32-rounded exp
//     values summed in f64, p·v as running f32 sums in position order (assembly/ops.ts, attention banner);
//   - LayerNorm and GELU: f64 from the f32 inputs, the same formula text, eps as an f64 (assembly/ops.ts);
//   - residual adds and the embedding: one f32 rounding each, nothing to choose.
// What stays the reference's own: reading the file, the activation quantizer (src/format/quantizer.ts,
// pinned to assembly/quantize.ts by test/fixtures/quantizer_cases.json), the forward's structure, and
// exp and tanh: V8's libm here, AssemblyScript's (a musl port) there. Both err by < 1 f64 ulp and differ
// in the last f64 bit on ~10% of arguments, so their f32 roundings can differ only where exp(x) lies
// within an f64 ulp of an f32 rounding boundary: < 2⁻²⁸ per call, 0 seen in 2·10⁶ calls of each. What
// reaches no quantizer (fp32 weights, A32 exports, nbits files) is summed in f64 over dequantized weights,
// within ~1e-6 of the kernels' f32 sums. onnxruntime runs the graph's f32 DequantizeLinear → MatMul in
// its own order: within 1e-4 of this file on the tests' random models, but on trained weights it parts
// from both by the same mechanism (quantgpt-228, 4-token prompt: 3e-6 in the prompt's logits, greedy ids
// equal for 23 of 64 steps).
//
// Letters: T new tokens, S cached + new tokens, C n_embd, NH heads, HS = C / NH, F n_inner, V vocab.

import type { Gpt2Config } from "../format/gpt2_config.js";
import { dequantizeWeight, type LowbitModelFile, type WeightEntry } from "../format/lowbit_onnx.js";
import { unpackCodes } from "../format/quant_formats.js";
import { fakeQuantizeActivationRow } from "../format/quantizer.js";

const f32 = Math.fround;

/** A "dq" weight as stored: integer codes and the steps that scale them. */
interface Codes {
  codes: Int8Array; // the weight's own layout: (K, N) for a linear, (V, C) for the embedding
  step: Float32Array; // per group: (⌈K/G⌉, N) or (V, ⌈C/G⌉); per module: (1)
  grouped: boolean;
  G: number; // input features per step (the whole input axis per module)
}

interface Linear {
  w: Float32Array; // (K, N), input-major like HF Conv1D, dequantized
  b: Float32Array; // (N)
  K: number;
  N: number;
  quantizeInput: boolean;
  /** The stored codes when the input is quantized and the weight is "dq": then the integer path runs. */
  q?: Codes;
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
  /** The head's stored codes when its input is quantized and it is "dq": (V, C). */
  headCodes?: Codes;
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
  const codesIfInt8Input = (name: string): Codes | undefined => {
    const w = byName.get(name)!;
    return quantActs && w.layout === "dq" ? storedCodes(f, w) : undefined;
  };
  const linear = (m: string): Linear => {
    const w = byName.get(`${m}.weight`)!;
    return { w: weight(`${m}.weight`), b: weight(`${m}.bias`), K: w.shape[0], N: w.shape[1], quantizeInput: quantActs && isQuantized(`${m}.weight`), q: codesIfInt8Input(`${m}.weight`) };
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
    headCodes: codesIfInt8Input(headName),
  };
}

/** Codes and steps of a "dq" weight, as docs/FORMAT.md lays them out (LSB-first packing, fp32 steps). */
function storedCodes(f: LowbitModelFile, w: WeightEntry): Codes {
  const [rows, cols] = w.shape;
  const codes = unpackCodes(f.initializers.get(w.initializer)!.raw, w.bits!, rows * cols);
  const step = new Float32Array(Uint8Array.prototype.slice.call(f.initializers.get(w.scale!)!.raw).buffer); // an aligned copy (on a Node Buffer, .slice() is a view)
  const inputFeatures = w.input_axis === 0 ? rows : cols;
  const grouped = (w.group_size ?? 0) > 0;
  return { codes, step, grouped, G: grouped ? w.group_size! : inputFeatures };
}

export function emptyCache(m: ReferenceModel): KvCache {
  return { keys: m.blocks.map(() => []), values: m.blocks.map(() => []) };
}

function layerNorm(x: Float32Array, [gain, bias]: [Float32Array, Float32Array], eps: number): Float32Array {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let variance = 0;
  for (const v of x) variance += (v - mean) * (v - mean);
  variance /= x.length;
  const inv = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * inv * gain[i] + bias[i]);
}

/** Per-token int8 codes of a row and their scale s, by the shared quantizer. */
function activationCodes(x: Float32Array): { xq: Int8Array; sx: number } {
  const xhat = Float32Array.from(x);
  const sx = fakeQuantizeActivationRow(xhat); // xhat = f32(code · s)
  // |xhat / s − code| ≤ 127 · 2⁻²⁴, so rounding gives the code back exactly.
  return { xq: Int8Array.from(xhat, (v) => Math.round(v / sx)), sx };
}

function applyLinear(x: Float32Array, l: Linear): Float32Array {
  const out = new Float32Array(l.N);
  if (l.q !== undefined) {
    const { codes, step, grouped, G } = l.q;
    const { xq, sx } = activationCodes(x);
    for (let n = 0; n < l.N; n++) {
      let acc = l.b[n];
      for (let k0 = 0, g = 0; k0 < l.K; k0 += G, g++) {
        const k1 = Math.min(k0 + G, l.K);
        let dot = 0; // exact: |dot| ≤ 127 · 127 · K < 2⁵³
        for (let k = k0; k < k1; k++) dot += xq[k] * codes[k * l.N + n];
        acc = f32(acc + f32(f32(f32(dot) * step[grouped ? g * l.N + n : 0]) * sx));
      }
      out[n] = acc;
    }
    return out;
  }
  // fp32, A32 or nbits: nothing downstream is a step function of these sums, so f64 will do.
  const input = Float32Array.from(x);
  if (l.quantizeInput) fakeQuantizeActivationRow(input);
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

/** q · k of one head in f32: four interleaved partial sums (d mod 4), as the kernels' SIMD lanes take them. */
function dotQK(q: Float32Array, k: Float32Array): number {
  const HS = q.length;
  const HS4 = HS - (HS % 4);
  const p = [0, 0, 0, 0];
  for (let d = 0; d < HS4; d++) p[d % 4] = f32(p[d % 4] + f32(q[d] * k[d]));
  let dot = f32(f32(f32(p[0] + p[1]) + p[2]) + p[3]);
  for (let d = HS4; d < HS; d++) dot = f32(dot + f32(q[d] * k[d]));
  return dot;
}

/** Attention of one head: query (HS) against S cached keys and values (each (HS)), in f32. */
function attendHead(q: Float32Array, keys: Float32Array[], values: Float32Array[]): Float32Array {
  const S = keys.length;
  const HS = q.length;
  const scale = f32(Math.sqrt(HS));
  const scores = keys.map((k) => f32(dotQK(q, k) / scale)); // (S)
  const max = Math.max(...scores);
  const e = scores.map((s) => f32(Math.exp(f32(s - max))));
  let sum = 0; // f64, over the f32-rounded exponentials
  for (const v of e) sum += v;
  const inv = f32(1 / sum);
  const out = new Float32Array(HS);
  for (let d = 0; d < HS; d++) {
    let acc = 0;
    for (let s = 0; s < S; s++) acc = f32(acc + f32(f32(e[s] * inv) * values[s][d]));
    out[d] = acc;
  }
  return out;
}

/** Logits (V) of the final LayerNorm's output: the integer path when the head's input is int8. */
function applyHead(m: ReferenceModel, final: Float32Array): Float32Array {
  const { vocab_size: V, n_embd: C } = m.config;
  const row = new Float32Array(V);
  if (m.headCodes !== undefined) {
    const { codes, step, grouped, G } = m.headCodes;
    const groups = Math.ceil(C / G);
    const { xq, sx } = activationCodes(final);
    for (let v = 0; v < V; v++) {
      let logit = 0;
      for (let c0 = 0, g = 0; c0 < C; c0 += G, g++) {
        const c1 = Math.min(c0 + G, C);
        let dot = 0;
        for (let c = c0; c < c1; c++) dot += xq[c] * codes[v * C + c];
        logit = f32(logit + f32(f32(f32(dot) * step[grouped ? v * groups + g : 0]) * sx));
      }
      row[v] = logit;
    }
    return row;
  }
  const input = Float32Array.from(final);
  if (m.quantizeHeadInput) fakeQuantizeActivationRow(input);
  for (let v = 0; v < V; v++) {
    let acc = 0;
    for (let i = 0; i < C; i++) acc += input[i] * m.head[v * C + i];
    row[v] = acc;
  }
  return row;
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
      const context = new Float32Array(C);
      for (let h = 0; h < NH; h++) {
        const head = (row: Float32Array) => row.subarray(h * HS, (h + 1) * HS);
        context.set(attendHead(head(qkv), cache.keys[l].map(head), cache.values[l].map(head)), h * HS);
      }
      const attnOut = applyLinear(context, b.proj);
      x = x.map((v, i) => v + attnOut[i]);
      const hidden = applyLinear(layerNorm(x, b.ln2, eps), b.fc).map(gelu); // (F)
      const mlpOut = applyLinear(hidden, b.fcProj);
      x = x.map((v, i) => v + mlpOut[i]);
    });
    logits.push(applyHead(m, layerNorm(x, m.lnf, eps)));
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
