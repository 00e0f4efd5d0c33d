// Post-training weight quantizer: exactly the DESIGN.md formula, per module or per group, with the
// clipping value α chosen by max-abs or by an MSE search. Also the per-token activation quantizer.
//
//   code  = clamp(roundHalfEven(f32(f32(w / α) · k)), −k, k)
//   step  = f32(α / k)                      (the stored "scale": what DequantizeLinear multiplies by)
//   w_hat = f32(code · step)
//
// Every operation is rounded to f32 in the order written, so the Python trainer (torch float32) and the
// WASM runtime reproduce the codes bit for bit; test/fixtures/quantizer_cases.json pins all three.

import { QUANT_FORMATS, type WeightBits } from "../quant_formats.js";

export type Granularity = "module" | "group";
export type ClipMethod = "maxabs" | "mse";

export interface WeightQuantSpec {
  bits: WeightBits;
  granularity: Granularity;
  /** G: consecutive input features sharing one scale (granularity "group" only). */
  groupSize: number;
  clip: ClipMethod;
}

/**
 * A quantized matrix. `codes` has the weight's own layout; `inputAxis` says which axis is the input
 * (contracted) one: 0 for HF Conv1D weights (K, N), 1 for the embedding (V, C). Groups run along it.
 */
export interface QuantizedMatrix {
  bits: WeightBits;
  shape: [number, number];
  inputAxis: 0 | 1;
  /** 0 for one scale per module. */
  groupSize: number;
  codes: Int8Array; // (rows, cols), int8 values in [-k, k]
  /** Per module: shape []. Per group: the weight's shape with the input axis divided by G (rounded up). */
  scaleShape: number[];
  scale: Float32Array; // step = α / k per block
}

const f32 = Math.fround;

/** Round half to even, as torch.round and WASM f32.nearest do. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The MSE clip search evaluates α = f32(max|w| · r) for r = 50/50, 49/50, …, 1/50. */
export const MSE_CLIP_CANDIDATES = 50;
/** Blocks larger than this are searched on an evenly strided sample of this many weights. */
export const MSE_CLIP_SAMPLE = 65536;

/** One block of a matrix: weights at start + j·stride for j < count. */
interface Block { start: number; stride: number; count: number }

export function quantizeMatrix(w: Float32Array, shape: [number, number], inputAxis: 0 | 1, spec: WeightQuantSpec): QuantizedMatrix {
  const [rows, cols] = shape;
  const k = QUANT_FORMATS[spec.bits].maxCode;
  const codes = new Int8Array(w.length);
  const grouped = spec.granularity === "group";
  const G = spec.groupSize;
  let scaleShape: number[];
  let blocks: Block[];
  if (!grouped) {
    scaleShape = [];
    blocks = [{ start: 0, stride: 1, count: w.length }];
  } else if (inputAxis === 0) {
    // (K, N): block (g, n) holds w[k, n] for k in [gG, gG + G).
    const groups = Math.ceil(rows / G);
    scaleShape = [groups, cols];
    blocks = [];
    for (let g = 0; g < groups; g++) {
      for (let n = 0; n < cols; n++) blocks.push({ start: g * G * cols + n, stride: cols, count: Math.min(G, rows - g * G) });
    }
  } else {
    // (V, C): block (v, g) holds w[v, c] for c in [gG, gG + G).
    const groups = Math.ceil(cols / G);
    scaleShape = [rows, groups];
    blocks = [];
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < groups; g++) blocks.push({ start: r * cols + g * G, stride: 1, count: Math.min(G, cols - g * G) });
    }
  }
  const scale = new Float32Array(blocks.length);
  for (let b = 0; b < blocks.length; b++) {
    const block = blocks[b];
    const alpha = spec.clip === "mse" ? mseClip(w, block, k) : maxAbs(w, block);
    scale[b] = quantizeBlock(w, block, alpha, k, codes);
  }
  return { bits: spec.bits, shape, inputAxis, groupSize: grouped ? G : 0, codes, scaleShape, scale };
}

function maxAbs(w: Float32Array, { start, stride, count }: Block): number {
  let m = 0;
  for (let j = 0, i = start; j < count; j++, i += stride) m = Math.max(m, Math.abs(w[i]));
  return m;
}

/** Writes the block's codes; returns its step α / k. An all-zero block gets codes 0 and step 0. */
function quantizeBlock(w: Float32Array, { start, stride, count }: Block, alpha: number, k: number, codes: Int8Array): number {
  if (alpha === 0) {
    for (let j = 0, i = start; j < count; j++, i += stride) codes[i] = 0;
    return 0;
  }
  for (let j = 0, i = start; j < count; j++, i += stride) {
    codes[i] = quantizeValue(w[i], alpha, k);
  }
  return f32(alpha / k);
}

export function quantizeValue(w: number, alpha: number, k: number): number {
  const q = roundHalfEven(f32(f32(w / alpha) * k));
  return q > k ? k : q < -k ? -k : q;
}

/**
 * α minimising Σ (w − w_hat)² over the candidates f32(max|w| · r), r = i/50, largest α first; the first
 * strict minimum wins. Large blocks are scored on the sample at indices floor(j · count / 65536).
 */
function mseClip(w: Float32Array, block: Block, k: number): number {
  const top = maxAbs(w, block);
  if (top === 0) return 0;
  const sampled = block.count > MSE_CLIP_SAMPLE;
  const m = sampled ? MSE_CLIP_SAMPLE : block.count;
  const values = new Float32Array(m);
  for (let j = 0; j < m; j++) {
    const idx = sampled ? Math.floor((j * block.count) / MSE_CLIP_SAMPLE) : j;
    values[j] = w[block.start + idx * block.stride];
  }
  let bestAlpha = top;
  let bestErr = Infinity;
  for (let i = MSE_CLIP_CANDIDATES; i >= 1; i--) {
    const alpha = f32(top * (i / MSE_CLIP_CANDIDATES));
    const step = f32(alpha / k);
    let err = 0;
    for (let j = 0; j < m; j++) {
      const d = values[j] - f32(quantizeValue(values[j], alpha, k) * step);
      err += d * d;
    }
    if (err < bestErr) {
      bestErr = err;
      bestAlpha = alpha;
    }
  }
  return bestAlpha;
}

/** w_hat = f32(code · step), in the weight's own layout. */
export function dequantizeMatrix(q: QuantizedMatrix): Float32Array {
  const [rows, cols] = q.shape;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      out[i] = f32(q.codes[i] * q.scale[scaleIndex(q, r, c)]);
    }
  }
  return out;
}

/** Index into q.scale of the block holding element (r, c). */
export function scaleIndex(q: Pick<QuantizedMatrix, "groupSize" | "inputAxis" | "scaleShape">, r: number, c: number): number {
  if (q.groupSize === 0) return 0;
  const G = q.groupSize;
  return q.inputAxis === 0 ? Math.floor(r / G) * q.scaleShape[1] + c : r * q.scaleShape[1] + Math.floor(c / G);
}

// ─── activations ────────────────────────────────────────────────────────────────────────────────

/**
 * Absolute maxima below this are raised to it before the activation scale is taken, so an all-zero row
 * quantizes to zeros instead of 0/0. Real rows (LayerNorm outputs) never come near it.
 */
export const ACTIVATION_ABSMAX_FLOOR = 1e-30;

/**
 * Per-token symmetric int8 fake quantization, in place: scale = f32(max(max|x|, floor) / 127),
 * x ← f32(clamp(roundHalfEven(f32(x / scale)), −127, 127) · scale). Returns the scale.
 */
export function fakeQuantizeActivationRow(x: Float32Array): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  const scale = f32(Math.max(m, f32(ACTIVATION_ABSMAX_FLOOR)) / 127);
  for (let i = 0; i < x.length; i++) {
    const q = roundHalfEven(f32(x[i] / scale));
    x[i] = f32((q > 127 ? 127 : q < -127 ? -127 : q) * scale);
  }
  return scale;
}
