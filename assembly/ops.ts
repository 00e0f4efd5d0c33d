// The rest of a GPT-2 or BART block: LayerNorm, GELU (tanh form and exact erf form), residual adds,
// attention (causal over the KV cache, or over all rows for BART's encoder and cross-attention), per-token
// activation quantization, and argmax. Attention has a SIMD version beside its scalar reference; the
// others are cheap next to the matrix products and stay scalar in both builds.
//
// Every f32 these kernels produce is computed in an order written down here, and src/reference/ computes
// the same f32 operations in the same order (see src/reference/common.ts's header for why: a one-ulp
// difference upstream of a per-token int8 quantizer can flip a code, and the flip cascades). Keep them in step:
//   layerNorm  mean and variance in f64 over the f32 inputs in c order, eps as the config's f64,
//              out = f32((x − mean) · (1 / √(var + eps)) · gain + bias) evaluated in f64;
//   gelu       f32(0.5 · v · (1 + tanh(√(2/π) · (v + 0.044715 · v · v · v)))) in f64;
//   geluErf    f32(0.5 · v · (1 + erf(v · 0.7071067811865476))) in f64 from v = f64(x), evaluated left to
//              right, 0.7071067811865476 being 1/√2 rounded to f64, erf assembly/erf.ts's (mirrored by
//              src/reference/erf.ts, bit for bit: no libm call in it);
//   attend     see the banner above attendRef.
//
// Letters: T new tokens, P cached tokens before them, S cache rows attended to, C width, NH heads,
// HS = C / NH head size.

import { erf } from "./erf";

const SQRT1_2: f64 = 0.7071067811865476; // 1/√2 rounded to f64, as src/reference/erf.ts

/**
 * out (T, C) = LayerNorm(x (T, C)) · gain + bias, mean and variance in f64 as the reference takes them.
 * eps is f64: GPT-2's 1e-5 rounded to f32 is 2.5e-13 smaller, which moves 1 / √(var + eps) by more than an
 * f64 ulp and so, now and then, an output by one f32 ulp.
 */
export function layerNorm(x: usize, T: i32, C: i32, gain: usize, bias: usize, eps: f64, out: usize): void {
  for (let t = 0; t < T; t++) {
    const row = x + ((<usize>t * <usize>C) << 2);
    const o = out + ((<usize>t * <usize>C) << 2);
    let mean: f64 = 0;
    for (let c = 0; c < C; c++) mean += <f64>load<f32>(row + (<usize>c << 2));
    mean /= <f64>C;
    let variance: f64 = 0;
    for (let c = 0; c < C; c++) {
      const d = <f64>load<f32>(row + (<usize>c << 2)) - mean;
      variance += d * d;
    }
    variance /= <f64>C;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let c = 0; c < C; c++) {
      const p = <usize>c << 2;
      store<f32>(o + p, <f32>((<f64>load<f32>(row + p) - mean) * inv * <f64>load<f32>(gain + p) + <f64>load<f32>(bias + p)));
    }
  }
}

/** GPT-2's GELU in place: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))). */
export function gelu(x: usize, n: i32): void {
  const k: f64 = Math.sqrt(2 / Math.PI);
  for (let i = 0; i < n; i++) {
    const p = x + (<usize>i << 2);
    const v = <f64>load<f32>(p);
    store<f32>(p, <f32>(0.5 * v * (1 + Math.tanh(k * (v + 0.044715 * v * v * v)))));
  }
}

/**
 * Exact GELU in place (BART's "gelu", torch's default): 0.5 x (1 + erf(x / √2)), in the order of the
 * banner. For very negative x, 1 + erf cancels (a multiple of 2⁻⁵³ near −1): the absolute error stays
 * under |x| · 2⁻⁵³, and below x ≈ −8.35 (true value > −3e-16) the output is −0.
 */
export function geluErf(x: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const p = x + (<usize>i << 2);
    const v = <f64>load<f32>(p);
    store<f32>(p, <f32>(0.5 * v * (1 + erf(v * SQRT1_2))));
  }
}

/** dst[i] += src[i]. */
export function addInPlace(dst: usize, src: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const p = <usize>i << 2;
      v128.store(dst + p, f32x4.add(v128.load(dst + p), v128.load(src + p)));
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(dst + p, load<f32>(dst + p) + load<f32>(src + p));
  }
}

/**
 * Per-token int8 activations (DESIGN.md): for each row of x (T, K), scale s = max(max|x|, 1e-30) / 127 into
 * sx[t] and codes clamp(nearest(x / s), ±127) into xq (T, K). The SIMD lanes compute the same: max is exact
 * in any order (a NaN propagates either way), and division, nearest, the saturating conversion and the
 * clamp are the scalar operations lane by lane.
 */
export function quantizeActivationRows(x: usize, xq: usize, sx: usize, T: i32, K: i32): void {
  const K16 = ASC_FEATURE_SIMD ? K & ~15 : 0;
  for (let t = 0; t < T; t++) {
    const off = <usize>t * <usize>K;
    const row = x + (off << 2);
    let m: f32 = 0;
    if (ASC_FEATURE_SIMD) {
      let mv = f32x4.splat(0);
      for (let k = 0; k < K16; k += 4) mv = f32x4.max(mv, f32x4.abs(v128.load(row + (<usize>k << 2))));
      m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    }
    for (let k = K16; k < K; k++) m = max(m, abs(load<f32>(row + (<usize>k << 2))));
    const s = max(m, <f32>1e-30) / 127;
    store<f32>(sx + (<usize>t << 2), s);
    if (ASC_FEATURE_SIMD) {
      const sv = f32x4.splat(s), hi = i32x4.splat(127), lo = i32x4.splat(-127);
      for (let k = 0; k < K16; k += 16) {
        const p = row + (<usize>k << 2);
        const q0 = i32x4.max_s(i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.div(v128.load(p), sv))), hi), lo);
        const q1 = i32x4.max_s(i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.div(v128.load(p, 16), sv))), hi), lo);
        const q2 = i32x4.max_s(i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.div(v128.load(p, 32), sv))), hi), lo);
        const q3 = i32x4.max_s(i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.div(v128.load(p, 48), sv))), hi), lo);
        v128.store(xq + off + <usize>k, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
      }
    }
    for (let k = K16; k < K; k++) {
      const q = <i32>nearest<f32>(load<f32>(row + (<usize>k << 2)) / s);
      store<i8>(xq + off + <usize>k, <i8>min(max(q, -127), 127));
    }
  }
}

/** Index of the largest value (the first on ties). */
export function argmax(x: usize, n: i32): i32 {
  let best = 0;
  let bestValue = load<f32>(x);
  for (let i = 1; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

// ─── attention ──────────────────────────────────────────────────────────────────────────────────
//
// attend: T query rows against S cached key/value rows, for every attention a GPT-2 or BART block has.
//   q      T rows, row t at q + t·qStride floats, head h its floats [h·HS, (h+1)·HS): qStride = 3C when q
//          is the first third of a fused c_attn output (GPT-2), C for a separate q_proj output (BART);
//   kc/vc  S rows of C floats each, head h of row s at s·C + h·HS;
//   causal ≠ 0: the last T cache rows are these T tokens' own, so token t attends to rows 0 .. S−T+t
//          (decoder self-attention; needs S ≥ T); causal = 0: every token attends to all S rows (the
//          encoder's self-attention, cross-attention; needs S ≥ 1);
//   out (T, C); scores: scratch of S floats.
// attention (GPT-2) is attend with qStride = 3C, S = P + T, causal = 1: qkv (T, 3C) is c_attn's output for
// the T new tokens, and the caller has appended their keys and values to the P cached rows.
//
// The f32 order, the same in both versions and in src/reference/common.ts (so all three agree bit for bit):
//   q·k    four running f32 sums over d ≡ 0, 1, 2, 3 (mod 4) for d < HS4 = HS − HS mod 4 (the SIMD lanes),
//          added as ((p0 + p1) + p2) + p3, then the tail d ≥ HS4 one by one; score = dot / f32(√HS);
//   softmax  e = f32(exp(f64(score − max))) (the subtraction in f32), sum = Σ f64(e) in f64 in position
//          order, p = e · f32(1 / sum) in f32. Summing the f32-rounded e (not exp's f64 result) makes the
//          result depend on exp only through f32(exp(x)): AssemblyScript's exp and V8's differ in the last
//          f64 bit for ~10% of arguments, but never (0 in 2·10⁶ measured) after rounding to f32;
//   p·v    one running f32 sum per dimension, in position order, from 0.

/** q·k of one head in the order above (the SIMD version's lanes, written out). */
// @ts-ignore: decorator
@inline
function dotQKRef(q: usize, k: usize, HS: i32): f32 {
  const HS4 = HS & ~3;
  let p0: f32 = 0, p1: f32 = 0, p2: f32 = 0, p3: f32 = 0;
  for (let d = 0; d < HS4; d += 4) {
    const o = <usize>d << 2;
    p0 += load<f32>(q + o) * load<f32>(k + o);
    p1 += load<f32>(q + o + 4) * load<f32>(k + o + 4);
    p2 += load<f32>(q + o + 8) * load<f32>(k + o + 8);
    p3 += load<f32>(q + o + 12) * load<f32>(k + o + 12);
  }
  let dot = p0 + p1 + p2 + p3;
  for (let d = HS4; d < HS; d++) dot += load<f32>(q + (<usize>d << 2)) * load<f32>(k + (<usize>d << 2));
  return dot;
}

export function attendRef(q: usize, qStride: i32, T: i32, C: i32, NH: i32, kc: usize, vc: usize, S: i32, causal: i32, out: usize, scores: usize): void {
  attendHeadsRef(q, qStride, T, C, NH, kc, vc, S, causal, out, scores, 0, NH);
}

export function attendHeadsRef(q: usize, qStride: i32, T: i32, C: i32, NH: i32, kc: usize, vc: usize, S: i32, causal: i32, out: usize, scores: usize, h0: i32, h1: i32): void {
  const HS = C / NH;
  const scale = <f32>Math.sqrt(<f64>HS);
  for (let t = 0; t < T; t++) {
    const n = causal != 0 ? S - T + t + 1 : S; // rows this token sees
    for (let h = h0; h < h1; h++) {
      const qh = q + ((<usize>t * <usize>qStride + <usize>(h * HS)) << 2);
      for (let s = 0; s < n; s++) {
        const k = kc + ((<usize>s * <usize>C + <usize>(h * HS)) << 2);
        store<f32>(scores + (<usize>s << 2), dotQKRef(qh, k, HS) / scale);
      }
      softmax(scores, n);
      const o = out + ((<usize>t * <usize>C + <usize>(h * HS)) << 2);
      for (let d = 0; d < HS; d++) {
        let acc: f32 = 0;
        for (let s = 0; s < n; s++) acc += load<f32>(scores + (<usize>s << 2)) * load<f32>(vc + ((<usize>s * <usize>C + <usize>(h * HS + d)) << 2));
        store<f32>(o + (<usize>d << 2), acc);
      }
    }
  }
}

/**
 * SIMD attend for head sizes divisible by 4 (others take the reference): q·k in four lane sums, then the
 * weighted sum of values with lanes over the head's dimensions, 16 at a time where it can (four independent
 * accumulators, each lane still one running sum in position order), both in the order above, so it equals
 * attendRef bit for bit (WASM SIMD128 has no fused multiply-add).
 */
export function attend(q: usize, qStride: i32, T: i32, C: i32, NH: i32, kc: usize, vc: usize, S: i32, causal: i32, out: usize, scores: usize): void {
  attendHeads(q, qStride, T, C, NH, kc, vc, S, causal, out, scores, 0, NH);
}

/** attend for heads h0 ≤ h < h1 only (threads split the heads; each needs its own scores). */
export function attendHeads(q: usize, qStride: i32, T: i32, C: i32, NH: i32, kc: usize, vc: usize, S: i32, causal: i32, out: usize, scores: usize, h0: i32, h1: i32): void {
  const HS = C / NH;
  if (HS % 4 != 0) {
    attendHeadsRef(q, qStride, T, C, NH, kc, vc, S, causal, out, scores, h0, h1);
    return;
  }
  const scale = <f32>Math.sqrt(<f64>HS);
  const rowBytes = <usize>C << 2;
  for (let t = 0; t < T; t++) {
    const n = causal != 0 ? S - T + t + 1 : S;
    for (let h = h0; h < h1; h++) {
      const qh = q + ((<usize>t * <usize>qStride + <usize>(h * HS)) << 2);
      for (let s = 0; s < n; s++) {
        const k = kc + ((<usize>s * <usize>C + <usize>(h * HS)) << 2);
        let acc = f32x4.splat(0);
        for (let d = 0; d < HS; d += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(qh + (<usize>d << 2)), v128.load(k + (<usize>d << 2))));
        const dot = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
        store<f32>(scores + (<usize>s << 2), dot / scale);
      }
      softmax(scores, n);
      const o = out + ((<usize>t * <usize>C + <usize>(h * HS)) << 2);
      const v0 = vc + (<usize>(h * HS) << 2);
      let d = 0;
      for (; d + 16 <= HS; d += 16) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        let v = v0 + (<usize>d << 2);
        for (let s = 0; s < n; s++) {
          const p = f32x4.splat(load<f32>(scores + (<usize>s << 2)));
          a0 = f32x4.add(a0, f32x4.mul(p, v128.load(v)));
          a1 = f32x4.add(a1, f32x4.mul(p, v128.load(v, 16)));
          a2 = f32x4.add(a2, f32x4.mul(p, v128.load(v, 32)));
          a3 = f32x4.add(a3, f32x4.mul(p, v128.load(v, 48)));
          v += rowBytes;
        }
        const od = o + (<usize>d << 2);
        v128.store(od, a0);
        v128.store(od, a1, 16);
        v128.store(od, a2, 32);
        v128.store(od, a3, 48);
      }
      for (; d < HS; d += 4) {
        let acc = f32x4.splat(0);
        let v = v0 + (<usize>d << 2);
        for (let s = 0; s < n; s++) {
          acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(scores + (<usize>s << 2))), v128.load(v)));
          v += rowBytes;
        }
        v128.store(o + (<usize>d << 2), acc);
      }
    }
  }
}

/** GPT-2's causal attention: attendRef over qkv (T, 3C) and P + T cache rows (the banner above). */
export function attentionRef(qkv: usize, T: i32, C: i32, NH: i32, kc: usize, vc: usize, P: i32, out: usize, scores: usize): void {
  attendRef(qkv, 3 * C, T, C, NH, kc, vc, P + T, 1, out, scores);
}

/** GPT-2's causal attention: attend over qkv (T, 3C) and P + T cache rows (the banner above). */
export function attention(qkv: usize, T: i32, C: i32, NH: i32, kc: usize, vc: usize, P: i32, out: usize, scores: usize): void {
  attend(qkv, 3 * C, T, C, NH, kc, vc, P + T, 1, out, scores);
}

/** In-place softmax of n floats, in the order of the banner above. */
function softmax(x: usize, n: i32): void {
  let m = load<f32>(x);
  for (let i = 1; i < n; i++) m = max(m, load<f32>(x + (<usize>i << 2)));
  let sum: f64 = 0;
  for (let i = 0; i < n; i++) {
    const p = x + (<usize>i << 2);
    const e = <f32>Math.exp(<f64>(load<f32>(p) - m));
    store<f32>(p, e);
    sum += <f64>e;
  }
  const inv = <f32>(1 / sum);
  for (let i = 0; i < n; i++) {
    const p = x + (<usize>i << 2);
    store<f32>(p, load<f32>(p) * inv);
  }
}
