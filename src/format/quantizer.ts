// The one quantizer formula (DESIGN.md, docs/FORMAT.md §1) as the file formats define it: codes, steps and
// their dequantized values, and the per-token int8 activation quantizer. The exporter's post-training
// quantizer (src/export/quantize.ts: how α is chosen), the reference forward and the tests build on this;
// the runtime's AssemblyScript copy (assembly/quantize.ts) and the trainer's are pinned to it by
// test/fixtures/quantizer_cases.json.
//
//   code  = clamp(roundHalfEven(f32(f32(w / α) · k)), −k, k)
//   step  = f32(α / k)                      (the stored "scale": what DequantizeLinear multiplies by)
//   w_hat = f32(code · step)

import type { WeightBits } from "./quant_formats.js";
import type { Granularity } from "./quantization.js";

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

export type { Granularity };

const f32 = Math.fround;

/** Round half to even, as torch.round and WASM f32.nearest do. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** code = clamp(roundHalfEven(f32(f32(w / α) · k)), −k, k). */
export function quantizeValue(w: number, alpha: number, k: number): number {
  const q = roundHalfEven(f32(f32(w / alpha) * k));
  return q > k ? k : q < -k ? -k : q;
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

/** The scale tensor's shape: [] per module (groupSize 0), else the weight's with the input axis divided by G, rounded up. */
export function scaleShapeOf([rows, cols]: readonly number[], inputAxis: 0 | 1, groupSize: number): number[] {
  if (groupSize === 0) return [];
  return inputAxis === 0 ? [Math.ceil(rows / groupSize), cols] : [rows, Math.ceil(cols / groupSize)];
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
