// Post-training weight quantizer: exactly the DESIGN.md formula (src/format/quantizer.ts), per module or per
// group, with the clipping value α chosen by max-abs or by an MSE search.
//
//   code  = clamp(roundHalfEven(f32(f32(w / α) · k)), −k, k)
//   step  = f32(α / k)                      (the stored "scale": what DequantizeLinear multiplies by)
//   w_hat = f32(code · step)
//
// Every operation is rounded to f32 in the order written, so the Python trainer (torch float32) and the
// WASM runtime reproduce the codes bit for bit; test/fixtures/quantizer_cases.json pins all three.
// quantizeMatrix is the fast version (its MSE search is ~30× the plain one); quantizeMatrixReference is the
// plain one, kept as the oracle that test/export/mse_clip.test.ts holds it to, bit for bit.

import { QUANT_FORMATS, type WeightBits } from "../format/quant_formats.js";
import type { Granularity } from "../format/quantization.js";
import { quantizeValue, scaleShapeOf, type QuantizedMatrix } from "../format/quantizer.js";

export type ClipMethod = "maxabs" | "mse";

export interface WeightQuantSpec {
  bits: WeightBits;
  granularity: Granularity;
  /** G: consecutive input features sharing one scale (granularity "group" only). */
  groupSize: number;
  clip: ClipMethod;
}

const f32 = Math.fround;

/** The MSE clip search evaluates α = f32(max|w| · r) for r = 50/50, 49/50, …, 1/50. */
export const MSE_CLIP_CANDIDATES = 50;
/** Blocks larger than this are searched on an evenly strided sample of this many weights. */
export const MSE_CLIP_SAMPLE = 65536;

/** One block of a matrix: weights at start + j·stride for j < count. */
interface Block { start: number; stride: number; count: number }

/** quantizeMatrix reports progress about this often, in weights (≈ 120 reports for GPT-2-124M). */
const PROGRESS_EVERY = 1 << 20;

/**
 * Quantizes every block (one per module, or one per group of G input features). Codes and scales are
 * bit-identical to quantizeMatrixReference (test/export/mse_clip.test.ts); this version allocates nothing
 * per block and searches the MSE clip as described at mseClip. `progress` is told the weights done so far.
 */
export function quantizeMatrix(
  w: Float32Array, shape: [number, number], inputAxis: 0 | 1, spec: WeightQuantSpec, progress?: (weightsDone: number) => void,
): QuantizedMatrix {
  const k = QUANT_FORMATS[spec.bits].maxCode;
  const grouped = spec.granularity === "group";
  const scaleShape = scaleShapeOf(shape, inputAxis, grouped ? spec.groupSize : 0);
  const codes = new Int8Array(w.length);
  const scale = new Float32Array(scaleShape.reduce((a, b) => a * b, 1));
  const mse = spec.clip === "mse";
  let done = 0;
  let reported = 0;
  forEachBlock(shape, inputAxis, grouped, spec.groupSize, (b, start, stride, count) => {
    const alpha = mse ? mseClip(w, start, stride, count, k) : maxAbs(w, start, stride, count);
    scale[b] = quantizeBlock(w, start, stride, count, alpha, k, codes);
    done += count;
    if (progress !== undefined && done - reported >= PROGRESS_EVERY) progress((reported = done));
  });
  return { bits: spec.bits, shape, inputAxis, groupSize: grouped ? spec.groupSize : 0, codes, scaleShape, scale };
}

/** The plain quantizer, one Block object and one formula call per weight: the oracle for quantizeMatrix. */
export function quantizeMatrixReference(w: Float32Array, shape: [number, number], inputAxis: 0 | 1, spec: WeightQuantSpec): QuantizedMatrix {
  const k = QUANT_FORMATS[spec.bits].maxCode;
  const grouped = spec.granularity === "group";
  const blocks: Block[] = [];
  forEachBlock(shape, inputAxis, grouped, spec.groupSize, (_b, start, stride, count) => blocks.push({ start, stride, count }));
  const codes = new Int8Array(w.length);
  const scale = new Float32Array(blocks.length);
  for (let b = 0; b < blocks.length; b++) {
    const block = blocks[b];
    const alpha = spec.clip === "mse" ? mseClipReference(w, block, k) : maxAbs(w, block.start, block.stride, block.count);
    scale[b] = quantizeBlockReference(w, block, alpha, k, codes);
  }
  return { bits: spec.bits, shape, inputAxis, groupSize: grouped ? spec.groupSize : 0, codes, scaleShape: scaleShapeOf(shape, inputAxis, grouped ? spec.groupSize : 0), scale };
}

/** Calls fn(b, start, stride, count) for every block, b being the block's index in the flat scale array. */
function forEachBlock(
  [rows, cols]: [number, number], inputAxis: 0 | 1, grouped: boolean, G: number,
  fn: (b: number, start: number, stride: number, count: number) => void,
): void {
  if (!grouped) {
    fn(0, 0, 1, rows * cols);
  } else if (inputAxis === 0) {
    // (K, N): block (g, n) holds w[k, n] for k in [gG, gG + G). Consecutive n share cache lines.
    const groups = Math.ceil(rows / G);
    for (let g = 0; g < groups; g++) {
      for (let n = 0; n < cols; n++) fn(g * cols + n, g * G * cols + n, cols, Math.min(G, rows - g * G));
    }
  } else {
    // (V, C): block (v, g) holds w[v, c] for c in [gG, gG + G).
    const groups = Math.ceil(cols / G);
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < groups; g++) fn(r * groups + g, r * cols + g * G, 1, Math.min(G, cols - g * G));
    }
  }
}

function maxAbs(w: Float32Array, start: number, stride: number, count: number): number {
  let m = 0;
  for (let j = 0, i = start; j < count; j++, i += stride) m = Math.max(m, Math.abs(w[i]));
  return m;
}

/** Writes the block's codes; returns its step α / k. An all-zero block gets codes 0 and step 0. */
function quantizeBlockReference(w: Float32Array, { start, stride, count }: Block, alpha: number, k: number, codes: Int8Array): number {
  if (alpha === 0) {
    for (let j = 0, i = start; j < count; j++, i += stride) codes[i] = 0;
    return 0;
  }
  for (let j = 0, i = start; j < count; j++, i += stride) {
    codes[i] = quantizeValue(w[i], alpha, k);
  }
  return f32(alpha / k);
}

// Codes without a division per weight. x = w · (k/α) differs from the value the formula rounds,
// f32(f32(w/α) · k), by at most |x| · 1.2e-7 (two f32 and two f64 roundings; less where f32(w/α) is
// subnormal): under 8e-4 while |x| ≤ 50k, which holds for every α here (α ≥ max|w|/50), and beyond that
// both clamp to ±k. So x rounded half to even is the formula's code unless x lies within 2^-8 of a .5
// tie; those weights (under 1%) take the formula. Measured 2.4–4× faster than the formula per weight.

/** The fast paths take α (quantizeBlock) or max|w| (mseClip) in [FAST_MIN, FAST_MAX]: normal steps, finite squares. */
const FAST_MIN = 2 ** -64;
const FAST_MAX = 2 ** 64;
/** (x + 1.5·2^52) − 1.5·2^52 rounds x to an integer, half to even, for |x| < 2^51. */
const ROUND_MAGIC = 6755399441055744;
const NEAR_TIE = 0.5 - 2 ** -8;

/** quantizeBlockReference, bit for bit. */
function quantizeBlock(w: Float32Array, start: number, stride: number, count: number, alpha: number, k: number, codes: Int8Array): number {
  if (!(alpha >= FAST_MIN && alpha <= FAST_MAX)) return quantizeBlockReference(w, { start, stride, count }, alpha, k, codes);
  const inv = k / alpha;
  for (let j = 0, i = start; j < count; j++, i += stride) {
    const v = w[i];
    const x = v * inv;
    const g = x + ROUND_MAGIC - ROUND_MAGIC;
    const r = x - g;
    const q = r > NEAR_TIE || r < -NEAR_TIE ? quantizeValue(v, alpha, k) : g > k ? k : g < -k ? -k : g;
    codes[i] = q | 0; // NaN and −0 store as 0, as the formula's do
  }
  return f32(alpha / k);
}

/**
 * α minimising Σ (w − w_hat)² over the candidates f32(max|w| · r), r = i/50, largest α first; the first
 * strict minimum wins. Large blocks are scored on the sample at indices floor(j · count / 65536).
 * The plain search: the oracle for mseClip below.
 */
function mseClipReference(w: Float32Array, block: Block, k: number): number {
  const top = maxAbs(w, block.start, block.stride, block.count);
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

// ─── fast MSE clip ──────────────────────────────────────────────────────────────────────────────
//
// mseClip returns exactly the α that mseClipReference returns. The reference compares float64 sums taken
// in weight order, so no sum may be reordered; what can change is how many are taken. For 2 and 4 bits,
// one pass over the block finds, for every weight, level and candidate, whether the weight reaches that
// code level, which gives every candidate's error in closed form to within a proven bound; only the
// candidates whose bound reaches the smallest error (nearly always one) are then summed in weight order.
// 8 bits (127 levels a side) sums every candidate in order, abandoning a sum once it cannot win.
//
// Letters: C = 50 candidates, c = 1..C with α_c = f32(top · c/C); m weights searched (the block or its
// sample); k levels a side; l = 1..k a code level; a = |w|.

const C = MSE_CLIP_CANDIDATES;
/** Unit roundoff of float64. */
const U = 2 ** -53;

// Scratch shared by all blocks (grown on demand), so that no block allocates.
let ABS = new Float64Array(256); //                  (m) a, in weight order
let REACHED = new Uint8Array(256 * 7); //           (m, k) how many candidates put the weight at level ≥ l
let THRESHOLD = new Float64Array(8 * (C + 1)); //   (k + 1, C + 1) α_c · μ_l
let SUM = new Float64Array(8 * (C + 1)); //         (k + 1, C + 1) Σ a, then A_l(c)
let COUNT = new Float64Array(8 * (C + 1)); //       (k + 1, C + 1) count, then N_l(c)
const GUESS = new Float64Array(128); //             (k + 1) C / (top · μ_l)
const RATIO = Float64Array.from({ length: C + 1 }, (_, c) => c / C); // (C + 1) c/C, as the reference computes it
const ALPHA = new Float64Array(C + 1); //           (C + 1) α_c
const STEP = new Float64Array(C + 1); //            (C + 1) f32(α_c / k)
const APPROX = new Float64Array(C + 1); //          (C + 1) closed-form error
const TOL = new Float64Array(C + 1); //             (C + 1) its bound
const LEVEL_VALUE = new Float64Array(128); //       (k + 1) f32(q · step) for one candidate

/**
 * mseClipReference, bit for bit. Blocks whose max|w| is not finite or lies outside [FAST_MIN, FAST_MAX]
 * (where the arguments below would meet subnormals or overflow) take the reference itself.
 */
function mseClip(w: Float32Array, start: number, stride: number, count: number, k: number): number {
  const m = Math.min(count, MSE_CLIP_SAMPLE);
  if (ABS.length < m) ABS = new Float64Array(m);
  const a = ABS;
  let top = 0;
  if (m < count) {
    for (let j = 0, i = start; j < count; j++, i += stride) top = Math.max(top, Math.abs(w[i]));
    for (let j = 0; j < m; j++) a[j] = Math.abs(w[start + Math.floor((j * count) / MSE_CLIP_SAMPLE) * stride]);
  } else {
    for (let j = 0, i = start; j < m; j++, i += stride) {
      const v = Math.abs(w[i]);
      a[j] = v;
      top = Math.max(top, v);
    }
  }
  if (top === 0) return 0;
  if (!(top >= FAST_MIN && top <= FAST_MAX)) return mseClipReference(w, { start, stride, count }, k);
  for (let c = 1; c <= C; c++) {
    const alpha = f32(top * RATIO[c]);
    ALPHA[c] = alpha;
    STEP[c] = k === 1 ? alpha : f32(alpha / k);
  }
  return ALPHA[k <= 7 ? bestByLevels(m, top, k) : bestByPrunedSums(m, k)];
}

/**
 * 2 and 4 bits. Under α_c let N_l(c) be the number of weights at level ≥ l and A_l(c) their Σ a; with
 * W_l = f32(l · step_c), Σ (a − W_q)² = S2 − 2 Σ_l (W_l − W_{l−1}) A_l(c) + Σ_l W_l² (N_l(c) − N_{l+1}(c)),
 * S2 = Σ a². Each of the three sums has terms ≥ 0, so its float64 value is within (m + k + 50)u of the
 * real one, and the reference's in-order sum is within (m + 2)u of the real error: TOL covers both twice
 * over. A candidate whose APPROX − TOL exceeds the smallest APPROX + TOL is not a minimum of the
 * reference's sums; the others are summed as the reference sums them, and the first strict minimum wins.
 */
function bestByLevels(m: number, top: number, k: number): number {
  const a = ABS;
  const mu = codeThresholds(k);
  const R = C + 1; // row length of the (level, candidate) tables
  if (REACHED.length < m * k) REACHED = new Uint8Array(m * k);
  if (THRESHOLD.length < (k + 1) * R) {
    THRESHOLD = new Float64Array((k + 1) * R);
    SUM = new Float64Array((k + 1) * R);
    COUNT = new Float64Array((k + 1) * R);
  }
  const reached = REACHED, threshold = THRESHOLD, sum = SUM, count = COUNT;
  for (let l = 1; l <= k; l++) {
    for (let c = 1; c <= C; c++) threshold[l * R + c] = ALPHA[c] * mu[l];
    GUESS[l] = C / (top * mu[l]); // α_c · μ_l ≈ top · μ_l · c/C
  }
  sum.fill(0, 0, (k + 1) * R);
  count.fill(0, 0, (k + 1) * R);
  let s2 = 0;
  if (k === 1) {
    // The general loop below with its level loop unrolled: 2-bit blocks are most of the work.
    const guess = GUESS[1];
    for (let j = 0; j < m; j++) {
      const v = a[j];
      s2 += v * v;
      let n = Math.min((v * guess) | 0, C);
      while (n < C && v > threshold[R + n + 1]) n++;
      while (n > 0 && !(v > threshold[R + n])) n--;
      reached[j] = n;
      sum[R + n] += v;
      count[R + n] += 1;
    }
  } else {
    for (let j = 0; j < m; j++) {
      const v = a[j];
      s2 += v * v;
      for (let l = 1; l <= k; l++) {
        // n = #{c : v > α_c · μ_l}: thresholds grow with c, so step from the guess to the exact count.
        const row = l * R;
        let n = Math.min((v * GUESS[l]) | 0, C);
        while (n < C && v > threshold[row + n + 1]) n++;
        while (n > 0 && !(v > threshold[row + n])) n--;
        reached[j * k + l - 1] = n;
        if (n === 0) {
          for (l++; l <= k; l++) reached[j * k + l - 1] = 0; // higher levels are out of reach too
          break;
        }
        sum[row + n] += v;
        count[row + n] += 1;
      }
    }
  }
  for (let l = 1; l <= k; l++) {
    const row = l * R;
    for (let c = C - 1; c >= 1; c--) {
      sum[row + c] += sum[row + c + 1];
      count[row + c] += count[row + c + 1];
    }
  }
  const tolPerMagnitude = 4 * (m + k + 64) * U;
  let ceiling = Infinity;
  for (let c = 1; c <= C; c++) {
    const step = STEP[c];
    let x = 0;
    let y = 0;
    let below = 0;
    for (let l = 1; l <= k; l++) {
      const wl = f32(l * step);
      x += (wl - below) * sum[l * R + c];
      y += wl * wl * (count[l * R + c] - (l < k ? count[(l + 1) * R + c] : 0));
      below = wl;
    }
    APPROX[c] = s2 - 2 * x + y;
    TOL[c] = tolPerMagnitude * (s2 + 2 * x + y);
    ceiling = Math.min(ceiling, APPROX[c] + TOL[c]);
  }
  let best = 0;
  let bestErr = Infinity;
  for (let c = C; c >= 1; c--) {
    if (APPROX[c] - TOL[c] > ceiling) continue;
    const err = orderedError(m, k, c);
    if (err < bestErr) {
      bestErr = err;
      best = c;
    }
  }
  return best;
}

/** The reference's Σ (w − w_hat)² under α_c, in weight order, with each code read off REACHED. */
function orderedError(m: number, k: number, c: number): number {
  const a = ABS, reached = REACHED, value = LEVEL_VALUE;
  const step = STEP[c];
  for (let q = 0; q <= k; q++) value[q] = f32(q * step);
  const lower = c - 1; // (lower − n) >>> 31 is 1 exactly when n ≥ c, i.e. α_c puts the weight at that level
  let err = 0;
  if (k === 1) {
    for (let j = 0; j < m; j++) {
      const d = a[j] - value[(lower - reached[j]) >>> 31];
      err += d * d;
    }
  } else {
    for (let j = 0; j < m; j++) {
      let q = 0;
      for (let l = 0; l < k; l++) q += (lower - reached[j * k + l]) >>> 31;
      const d = a[j] - value[q];
      err += d * d;
    }
  }
  return err;
}

/**
 * 8 bits: every candidate summed in weight order, as the reference sums it, but abandoned once the sum
 * reaches the best so far: its terms are ≥ 0, so a float64 partial sum never decreases, and on a tie the
 * earlier (larger) α wins anyway. Codes as in quantizeBlock, without a division.
 */
function bestByPrunedSums(m: number, k: number): number {
  const a = ABS;
  let best = 0;
  let bestErr = Infinity;
  for (let c = C; c >= 1; c--) {
    const alpha = ALPHA[c];
    const inv = k / alpha;
    const step = STEP[c];
    let err = 0;
    for (let j = 0; j < m && err < bestErr; j++) {
      const v = a[j];
      const x = v * inv;
      const g = x + ROUND_MAGIC - ROUND_MAGIC;
      const r = x - g;
      const q = r > NEAR_TIE || r < -NEAR_TIE ? quantizeValue(v, alpha, k) : g > k ? k : g;
      const d = v - f32(q * step);
      err += d * d;
    }
    if (err < bestErr) {
      bestErr = err;
      best = c;
    }
  }
  return best;
}

/**
 * μ_l for l = 1..k (index 0 unused): code(w, α) ≥ l exactly when |w| > α · μ_l, for f32 w and α ≥ 2^-70.
 * τ_l is the smallest f32 t with clamp(roundHalfEven(f32(t · k))) ≥ l, and μ_l the midpoint between τ_l
 * and the f32 below it, so f32(|w|/α) ≥ τ_l exactly when the real quotient exceeds μ_l (the f64 quotient
 * rounded again to f32 is the correctly rounded one: double rounding is innocuous for f32 operands).
 * μ_l's mantissa is odd with 25 bits, so α · μ_l has an odd mantissa of 25 to 49 bits: exact in f64 and
 * never an f32, so no weight sits on a threshold.
 */
export function codeThresholds(k: number): Float64Array {
  let mu = THRESHOLDS.get(k);
  if (mu !== undefined) return mu;
  mu = new Float64Array(k + 1);
  for (let l = 1; l <= k; l++) {
    let t = f32((l - 0.5) / k);
    while (quantizeValue(t, 1, k) >= l) t = nextF32(t, -1);
    while (quantizeValue(t, 1, k) < l) t = nextF32(t, 1);
    mu[l] = (nextF32(t, -1) + t) / 2;
  }
  THRESHOLDS.set(k, mu);
  return mu;
}

const THRESHOLDS = new Map<number, Float64Array>();
const F32_CELL = new Float32Array(1);
const F32_BITS = new Int32Array(F32_CELL.buffer);

/** The f32 next to the positive f32 x, above (+1) or below (−1). */
function nextF32(x: number, dir: 1 | -1): number {
  F32_CELL[0] = x;
  F32_BITS[0] += dir;
  return F32_CELL[0];
}
