// The quantizer formula in AssemblyScript (DESIGN.md), the runtime's copy of it: weight codes for one
// block and per-token int8 activation quantization. Pinned to the TS exporter and the Python trainer by
// test/fixtures/quantizer_cases.json. f32 arithmetic throughout; f32.nearest rounds half to even.

/** Activation absmax floor, as in src/export/quantize.ts: keeps an all-zero row from 0 / 0. */
const ABSMAX_FLOOR: f32 = 1e-30;

/** code = clamp(nearest((w / α) · k), −k, k). */
// @ts-ignore: decorator
@inline
export function quantizeValue(w: f32, alpha: f32, k: i32): i32 {
  const q = <i32>nearest<f32>((w / alpha) * <f32>k);
  return min(max(q, -k), k);
}

/**
 * Quantizes `count` f32 weights at src (stride `stride` elements) with clip value α into int8 codes at
 * dst (same stride). Returns the step α / k; α = 0 gives codes 0 and step 0.
 */
export function quantizeBlock(src: usize, dst: usize, count: i32, stride: i32, alpha: f32, k: i32): f32 {
  for (let j = 0; j < count; j++) {
    const i = <usize>(j * stride);
    store<i8>(dst + i, alpha == 0 ? 0 : <i8>quantizeValue(load<f32>(src + (i << 2)), alpha, k));
  }
  return alpha == 0 ? 0 : alpha / <f32>k;
}

/** Per-token int8 codes of a row: codes at dst, returns the scale s = max(max|x|, floor) / 127. */
export function quantizeActivationRow(src: usize, dst: usize, n: i32): f32 {
  let m: f32 = 0;
  for (let i = 0; i < n; i++) m = max(m, abs(load<f32>(src + (<usize>i << 2))));
  const s = max(m, ABSMAX_FLOOR) / 127;
  for (let i = 0; i < n; i++) {
    const q = <i32>nearest<f32>(load<f32>(src + (<usize>i << 2)) / s);
    store<i8>(dst + <usize>i, <i8>min(max(q, -127), 127));
  }
  return s;
}
