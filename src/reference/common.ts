// What the plain TypeScript reference forwards of GPT-2 (gpt2.ts) and BART (bart.ts) share: reading
// weights, LayerNorm, the per-token int8 activation quantizer, linear layers, attention of one head, the
// tied head, GELU and argmax. The forwards are the oracles that onnxruntime and our WASM runtime are
// checked against: readable on purpose, no tricks, weights read as stored, and the same per-token int8
// activation quantization as the graph and runtime.
//
// Why some things are computed exactly as the runtime's kernels do. With int8 activations (the shipped
// W-E-A 2-2-8 models) the input row of every quantized linear is rounded to codes, round(x / s): a step
// function. Two forwards that differ only in the last f32 bit flip a code wherever an input lies within
// that bit of a .5 boundary; the layer's output then moves by s · step · |code| (~3e-4 on quantgpt-228),
// which flips more codes downstream, and the KV cache carries it to every later token. Measured with the
// earlier all-f64 GPT-2 reference (fake-quantized × dequantized weights) on quantgpt-228, the same inputs
// fed to both: 45–68% of linear outputs and 75% of attention outputs differed from the kernels' in the
// last bit, and 0.01% of LayerNorm outputs (the kernel took eps as an f32). On "Once upon a time, in a
// small village by the sea, …" the first flip came at token 9, layer 1: c_fc's output differed by one
// ulp, GELU gave x / s = −8.5 exactly here and −8.500002 there, codes −8 and −9; 28 head-input codes
// differed by the last layer, logits by 0.065, and 0.02–0.3 over 64 greedy steps on every trained model
// tried. So every value that can reach an int8 quantizer is computed here with the same f32 operations,
// in the same order, as assembly/:
//   - a quantized linear with int8 input, and the head: Σ xq · code per scale group as an exact integer,
//     then out = f32(out + f32(f32(f32(Σ) · step) · sx)) group by group, starting from the bias (0 for
//     the head) — assembly/matmul.ts and head.ts; this is the format's own arithmetic, int8 × intN codes
//     scaled twice, where the graph's DequantizeLinear → MatMul rounds each factor first;
//   - attention: q·k as four interleaved f32 partial sums (the SIMD lanes), softmax with f32-rounded exp
//     values summed in f64, p·v as running f32 sums in position order (assembly/ops.ts, attention banner);
//     the same for causal self-attention, BART's bidirectional encoder attention and its cross-attention,
//     which differ only in the list of key/value rows a query sees;
//   - LayerNorm and GELU (tanh here, exact erf in erf.ts): f64 from the f32 inputs, the same formula text,
//     eps as an f64 (assembly/ops.ts);
//   - residual adds and the embedding: one f32 rounding each (BART's embed_scale: one more, the f32
//     multiply before the position row is added), nothing to choose.
// What stays the reference's own: reading the weights, the activation quantizer (src/format/quantizer.ts,
// pinned to assembly/quantize.ts by test/fixtures/quantizer_cases.json), each forward's structure, and
// exp and tanh: V8's libm here, AssemblyScript's (a musl port) there. Both err by < 1 f64 ulp and differ
// in the last f64 bit on ~10% of arguments, so their f32 roundings can differ only where exp(x) lies
// within an f64 ulp of an f32 rounding boundary: < 2⁻²⁸ per call, 0 seen in 2·10⁶ calls of each. What
// reaches no quantizer (fp32 weights, A32 exports, nbits files) is summed in f64 over dequantized weights,
// within ~1e-6 of the kernels' f32 sums. onnxruntime runs the graph's f32 DequantizeLinear → MatMul in
// its own order: within 1e-4 of the reference on the tests' random models, but on trained weights it
// parts from both by the same mechanism (quantgpt-228, 4-token prompt: 3e-6 in the prompt's logits,
// greedy ids equal for 23 of 64 steps).
//
// Letters: K input features, N output features of a linear; S key/value rows; C width, NH heads,
// HS = C / NH; V vocab.

import type { CheckpointTensor } from "../export/checkpoint.js";
import { dequantizeWeight, type LowbitModelFile, type WeightEntry } from "../format/lowbit_onnx.js";
import { unpackCodes } from "../format/quant_formats.js";
import { dequantizeMatrix, fakeQuantizeActivationRow } from "../format/quantizer.js";

export const f32 = Math.fround;

// ─── weights ────────────────────────────────────────────────────────────────────────────────────

/** A "dq" weight as stored: integer codes and the steps that scale them. */
export interface Codes {
  codes: Int8Array; // the weight's own layout: (K, N) for a linear, (V, C) for an embedding
  step: Float32Array; // per group: (⌈K/G⌉, N) or (V, ⌈C/G⌉); per module: (1)
  grouped: boolean;
  G: number; // input features per step (the whole input axis per module)
}

/** One weight as a forward reads it. */
export interface SourceWeight {
  /** Logical shape: (K, N) for a linear, (V, C) for an embedding, (n) for a vector. */
  shape: number[];
  /** Stored as quantized codes (any layout): with A8, a linear's input is quantized to int8 per token. */
  quantized: boolean;
  /** fp32 values in that shape: dequantized, f32(code · step), where stored quantized. */
  values(): Float32Array;
  /** The integer codes and their steps, where stored so ("dq" files, quantized checkpoints); else undefined. */
  codes(): Codes | undefined;
}

/**
 * Where a forward's weights come from, by canonical name: a lowbit ONNX file (fileWeights) or a
 * checkpoint in memory (checkpointWeights). One source per file; a BART export has two.
 */
export interface WeightSource {
  /** For messages: the file or checkpoint. */
  label: string;
  /** 8: the input row of every quantized linear (and of the head) is quantized to int8 per token. */
  activationBits: 8 | 32;
  /** Throws where the source has no such weight. */
  weight(name: string): SourceWeight;
}

/** The weights of a lowbit ONNX file, read as the manifest says. */
export function fileWeights(f: LowbitModelFile): WeightSource {
  const byName = new Map(f.weights.map((w) => [w.name, w]));
  return cached({
    label: f.file,
    activationBits: f.quantization.activation_bits,
    weight(name) {
      const w = byName.get(name);
      if (w === undefined) throw new Error(`${f.file}: the weight manifest has no ${name}`);
      return { shape: w.shape, quantized: w.layout !== "float", values: () => dequantizeWeight(f, w), codes: () => (w.layout === "dq" ? storedCodes(f, w) : undefined) };
    },
  });
}

/**
 * The weights of a checkpoint in memory (src/export/checkpoint.ts), linears (K, N) input-major.
 * activationBits: the checkpoint's quantization_config's, or 32 where it has none (an fp32 checkpoint).
 */
export function checkpointWeights(tensors: Map<string, CheckpointTensor>, activationBits: 8 | 32, label = "checkpoint"): WeightSource {
  return cached({
    label,
    activationBits,
    weight(name) {
      const t = tensors.get(name);
      if (t === undefined) throw new Error(`${label}: no tensor ${name}`);
      if (t.kind === "float") return { shape: t.shape, quantized: false, values: () => t.data, codes: () => undefined };
      const inputFeatures = t.shape[t.inputAxis];
      const grouped = t.groupSize > 0;
      return {
        shape: t.shape, quantized: true, values: () => dequantizeMatrix(t),
        codes: () => ({ codes: t.codes, step: t.scale, grouped, G: grouped ? t.groupSize : inputFeatures }),
      };
    },
  });
}

/** Each weight's values and codes computed once (the GPT-2 head and a BART head share the embedding's). */
function cached(src: WeightSource): WeightSource {
  const memo = new Map<string, SourceWeight>();
  return {
    ...src,
    weight(name) {
      let w = memo.get(name);
      if (w === undefined) {
        const raw = src.weight(name);
        let values: Float32Array | undefined;
        let codes: { c: Codes | undefined } | undefined;
        w = { shape: raw.shape, quantized: raw.quantized, values: () => (values ??= raw.values()), codes: () => (codes ??= { c: raw.codes() }).c };
        memo.set(name, w);
      }
      return w;
    },
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

// ─── layers ─────────────────────────────────────────────────────────────────────────────────────

export interface Linear {
  w: Float32Array; // (K, N), input-major, dequantized
  b: Float32Array; // (N)
  K: number;
  N: number;
  quantizeInput: boolean;
  /** The stored codes when the input is quantized and the weight is "dq": then the integer path runs. */
  q?: Codes;
}

/** The head: logits from the embedding-layout (V, C) weight, no bias. */
export interface Head {
  w: Float32Array; // (V, C), dequantized
  V: number;
  C: number;
  quantizeInput: boolean;
  /** The stored codes (V, C) when the input is quantized and they are stored: the integer path. */
  q?: Codes;
}

export type Norm = [gain: Float32Array, bias: Float32Array];

/** `{module}.weight` (K, N) and `{module}.bias` (N) as a linear layer. */
export function loadLinear(src: WeightSource, module: string): Linear {
  const w = src.weight(`${module}.weight`);
  const quantizeInput = src.activationBits === 8 && w.quantized;
  return { w: w.values(), b: src.weight(`${module}.bias`).values(), K: w.shape[0], N: w.shape[1], quantizeInput, q: quantizeInput ? w.codes() : undefined };
}

/** An embedding-layout (V, C) weight as the head. */
export function loadHead(src: WeightSource, name: string): Head {
  const w = src.weight(name);
  const quantizeInput = src.activationBits === 8 && w.quantized;
  return { w: w.values(), V: w.shape[0], C: w.shape[1], quantizeInput, q: quantizeInput ? w.codes() : undefined };
}

export function loadNorm(src: WeightSource, module: string): Norm {
  return [src.weight(`${module}.weight`).values(), src.weight(`${module}.bias`).values()];
}

export function layerNorm(x: Float32Array, [gain, bias]: Norm, eps: number): Float32Array {
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

/** out (N) = x (K) · w + b. */
export function applyLinear(x: Float32Array, l: Linear): Float32Array {
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

/** Logits (V) of the head's input row (C), without any bias: the integer path when the input is int8. */
export function applyHead(h: Head, x: Float32Array): Float32Array {
  const { V, C } = h;
  const row = new Float32Array(V);
  if (h.q !== undefined) {
    const { codes, step, grouped, G } = h.q;
    const groups = Math.ceil(C / G);
    const { xq, sx } = activationCodes(x);
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
  const input = Float32Array.from(x);
  if (h.quantizeInput) fakeQuantizeActivationRow(input);
  for (let v = 0; v < V; v++) {
    let acc = 0;
    for (let i = 0; i < C; i++) acc += input[i] * h.w[v * C + i];
    row[v] = acc;
  }
  return row;
}

/** GPT-2's GELU (tanh form; BART's "gelu_new"): 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))) in f64. */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/** a + b elementwise, one f32 rounding each: a residual add. */
export function add(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => v + b[i]);
}

// ─── attention ──────────────────────────────────────────────────────────────────────────────────

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

/**
 * Attention of one head: a query (HS) against the S key and value rows (each (HS)) it may see, in f32 —
 * the cache up to its own position (causal), the whole sequence (BART's encoder) or the encoder's states
 * (cross-attention).
 */
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

/** Multi-head attention of one query row (C) over key and value rows (each (C), heads side by side). */
export function attention(q: Float32Array, keys: Float32Array[], values: Float32Array[], NH: number): Float32Array {
  const C = q.length;
  const HS = C / NH;
  const context = new Float32Array(C);
  for (let h = 0; h < NH; h++) {
    const head = (row: Float32Array) => row.subarray(h * HS, (h + 1) * HS);
    context.set(attendHead(head(q), keys.map(head), values.map(head)), h * HS);
  }
  return context;
}

export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}
