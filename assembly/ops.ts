// The rest of a GPT-2 block: LayerNorm, GELU (tanh form), residual adds, causal attention over the KV
// cache, per-token activation quantization, and argmax. Attention has a SIMD version beside its scalar
// reference; the others are cheap next to the matrix products and stay scalar in both builds.
//
// Letters: T new tokens, P cached tokens before them, C width, NH heads, HS = C / NH head size.

/** out (T, C) = LayerNorm(x (T, C)) · gain + bias, mean and variance in f64 as the reference takes them. */
export function layerNorm(x: usize, T: i32, C: i32, gain: usize, bias: usize, eps: f32, out: usize): void {
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
    const inv = 1 / Math.sqrt(variance + <f64>eps);
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
 * sx[t] and codes clamp(nearest(x / s), ±127) into xq (T, K).
 */
export function quantizeActivationRows(x: usize, xq: usize, sx: usize, T: i32, K: i32): void {
  for (let t = 0; t < T; t++) {
    const off = <usize>t * <usize>K;
    let m: f32 = 0;
    for (let k = 0; k < K; k++) m = max(m, abs(load<f32>(x + ((off + <usize>k) << 2))));
    const s = max(m, <f32>1e-30) / 127;
    store<f32>(sx + (<usize>t << 2), s);
    for (let k = 0; k < K; k++) {
      const q = <i32>nearest<f32>(load<f32>(x + ((off + <usize>k) << 2)) / s);
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
// qkv (T, 3C): the c_attn output of the T new tokens (queries, keys, values side by side). The caller has
// appended their keys and values to kc/vc (capacity rows of C), so the cache holds P + T rows. Token t
// (absolute position P + t) attends to cache rows 0..P+t. out (T, C); scores: scratch of P + T floats.

export function attentionRef(qkv: usize, T: i32, C: i32, NH: i32, kc: usize, vc: usize, P: i32, out: usize, scores: usize): void {
  const HS = C / NH;
  const scale = <f32>Math.sqrt(<f64>HS);
  for (let t = 0; t < T; t++) {
    const S = P + t + 1;
    for (let h = 0; h < NH; h++) {
      const q = qkv + ((<usize>t * <usize>(3 * C) + <usize>(h * HS)) << 2);
      for (let s = 0; s < S; s++) {
        const k = kc + ((<usize>s * <usize>C + <usize>(h * HS)) << 2);
        let dot: f32 = 0;
        for (let d = 0; d < HS; d++) dot += load<f32>(q + (<usize>d << 2)) * load<f32>(k + (<usize>d << 2));
        store<f32>(scores + (<usize>s << 2), dot / scale);
      }
      softmax(scores, S);
      const o = out + ((<usize>t * <usize>C + <usize>(h * HS)) << 2);
      for (let d = 0; d < HS; d++) {
        let acc: f32 = 0;
        for (let s = 0; s < S; s++) acc += load<f32>(scores + (<usize>s << 2)) * load<f32>(vc + ((<usize>s * <usize>C + <usize>(h * HS + d)) << 2));
        store<f32>(o + (<usize>d << 2), acc);
      }
    }
  }
}

/**
 * SIMD attention for head sizes divisible by 4: q·k in four lane sums (a different order from the
 * reference: equal within rounding), then the weighted sum of values with lanes over the head's
 * dimensions, in position order (the same order as the reference).
 */
export function attention(qkv: usize, T: i32, C: i32, NH: i32, kc: usize, vc: usize, P: i32, out: usize, scores: usize): void {
  const HS = C / NH;
  if (HS % 4 != 0) {
    attentionRef(qkv, T, C, NH, kc, vc, P, out, scores);
    return;
  }
  const scale = <f32>Math.sqrt(<f64>HS);
  for (let t = 0; t < T; t++) {
    const S = P + t + 1;
    for (let h = 0; h < NH; h++) {
      const q = qkv + ((<usize>t * <usize>(3 * C) + <usize>(h * HS)) << 2);
      for (let s = 0; s < S; s++) {
        const k = kc + ((<usize>s * <usize>C + <usize>(h * HS)) << 2);
        let acc = f32x4.splat(0);
        for (let d = 0; d < HS; d += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(q + (<usize>d << 2)), v128.load(k + (<usize>d << 2))));
        const dot = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
        store<f32>(scores + (<usize>s << 2), dot / scale);
      }
      softmax(scores, S);
      const o = out + ((<usize>t * <usize>C + <usize>(h * HS)) << 2);
      for (let d = 0; d < HS; d += 4) {
        let acc = f32x4.splat(0);
        for (let s = 0; s < S; s++) {
          acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(scores + (<usize>s << 2))), v128.load(vc + ((<usize>s * <usize>C + <usize>(h * HS + d)) << 2))));
        }
        v128.store(o + (<usize>d << 2), acc);
      }
    }
  }
}

/** In-place softmax of n floats (exp in f64 after subtracting the max). */
function softmax(x: usize, n: i32): void {
  let m = load<f32>(x);
  for (let i = 1; i < n; i++) m = max(m, load<f32>(x + (<usize>i << 2)));
  let sum: f64 = 0;
  for (let i = 0; i < n; i++) {
    const p = x + (<usize>i << 2);
    const e = Math.exp(<f64>(load<f32>(p) - m));
    store<f32>(p, <f32>e);
    sum += e;
  }
  const inv = <f32>(1 / sum);
  for (let i = 0; i < n; i++) {
    const p = x + (<usize>i << 2);
    store<f32>(p, load<f32>(p) * inv);
  }
}
