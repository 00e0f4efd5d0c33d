// Matrix products over weights stored K-major as in Hugging Face Conv1D and the ONNX file: W (K, N),
// element (k, n) at k·N + n, packed LSB-first at 2/4/8 bits or plain f32. out (T, N) = x (T, K) · W + b.
//
// Each kernel has a plain scalar reference (…Ref) beside its SIMD version. With K-major weights the SIMD
// lanes run over output columns, so every column's sum is taken in the same order as the reference: the
// integer paths are bit-exact and so are the f32 ones (WASM SIMD128 has no fused multiply-add).
//
// Letters: T tokens (rows of x), K input features, N output features, G rows per scale group.

import { field2, field4, scaleAt, unpackCode } from "./packed";

// ─── int8 activations × packed codes ────────────────────────────────────────────────────────────
//
//   out[t, n] = bias[n] + Σ_g f32(Σ_{k ∈ g} xq[t, k] · code[k, n]) · step[g, n] · sx[t]
//
// xq (T, K) int8 and sx (T) come from quantizeActivationRows; step is one f32 (module) or (⌈K/G⌉, N).
// The epilogue's f32 order — out = bias, then out = out + (f32(Σ) · step) · sx group by group — is part of
// the contract with src/reference/common.ts, which repeats it: change both or neither.

/** Scalar reference. acc: i32 scratch of N. */
export function matmulQRef(xq: usize, sx: usize, T: i32, K: i32, N: i32, w: usize, bits: i32, scale: usize, groupSize: i32, bias: usize, out: usize, acc: usize): void {
  const G = groupSize > 0 ? groupSize : K;
  for (let t = 0; t < T; t++) {
    const x = xq + <usize>t * <usize>K;
    for (let k0 = 0, g = 0; k0 < K; k0 += G, g++) {
      memory.fill(acc, 0, <usize>N << 2);
      accumulateRowsRef(x, w, bits, k0, min(k0 + G, K), 0, N, N, acc);
      epilogue(acc, 0, N, N, g, scale, groupSize, load<f32>(sx + (<usize>t << 2)), bias, out + ((<usize>t * <usize>N) << 2));
    }
  }
}

/**
 * SIMD version, for output columns n0 ≤ n < n1 (n0 a multiple of 64: threads split N this way); perm: i32
 * scratch of N (columns in the unpacked lane order). acc and perm are used only at the columns computed.
 */
export function matmulQ(xq: usize, sx: usize, T: i32, K: i32, N: i32, w: usize, bits: i32, scale: usize, groupSize: i32, bias: usize, out: usize, acc: usize, perm: usize, n0: i32, n1: i32): void {
  const G = groupSize > 0 ? groupSize : K;
  // Rows must start on a byte boundary for whole-vector loads; otherwise every column is a tail column.
  const chunk = bits == 2 ? 64 : bits == 4 ? 32 : 16;
  const aligned = (N * bits) % 8 == 0;
  const simdEnd = aligned ? min(n1, (N / chunk) * chunk) : n0;
  const tail = max(n0, simdEnd);
  for (let t = 0; t < T; t++) {
    const x = xq + <usize>t * <usize>K;
    for (let k0 = 0, g = 0; k0 < K; k0 += G, g++) {
      const k1 = min(k0 + G, K);
      memory.fill(acc + (<usize>n0 << 2), 0, <usize>(n1 - n0) << 2);
      if (simdEnd > n0) {
        if (bits == 2) accumulateQ2(x, w, k0, k1, N, n0, simdEnd, acc, perm);
        else if (bits == 4) accumulateQ4(x, w, k0, k1, N, n0, simdEnd, acc, perm);
        else accumulateQ8(x, w, k0, k1, N, n0, simdEnd, acc);
      }
      if (tail < n1) accumulateRowsRef(x, w, bits, k0, k1, tail, n1, N, acc);
      epilogue(acc, n0, n1, N, g, scale, groupSize, load<f32>(sx + (<usize>t << 2)), bias, out + ((<usize>t * <usize>N) << 2));
    }
  }
}

/** acc[n] += Σ_{k0 ≤ k < k1} x[k] · code[k, n] for columns n0 ≤ n < n1. */
function accumulateRowsRef(x: usize, w: usize, bits: i32, k0: i32, k1: i32, n0: i32, n1: i32, N: i32, acc: usize): void {
  for (let k = k0; k < k1; k++) {
    const xk = <i32>load<i8>(x + <usize>k);
    const row = k * N;
    for (let n = n0; n < n1; n++) {
      const p = acc + (<usize>n << 2);
      store<i32>(p, load<i32>(p) + xk * unpackCode(w, bits, row + n));
    }
  }
}

/** out[n] (= bias[n] for the first group) += f32(acc[n]) · step[g, n] · s, for n0 ≤ n < n1. */
// @ts-ignore: decorator
@inline
function epilogue(acc: usize, n0: i32, n1: i32, N: i32, g: i32, scale: usize, groupSize: i32, s: f32, bias: usize, out: usize): void {
  for (let n = n0; n < n1; n++) {
    const o = out + (<usize>n << 2);
    const base: f32 = g > 0 ? load<f32>(o) : bias != 0 ? load<f32>(bias + (<usize>n << 2)) : 0;
    store<f32>(o, base + <f32>load<i32>(acc + (<usize>n << 2)) * scaleAt(scale, groupSize, g, N, n) * s);
  }
}

// 2-bit: 16 bytes of a row hold 64 columns; field f of byte j is column 4j + f. Products are at most
// 127 in magnitude, so i16 lanes take 128 rows (16,256 < 32,767) before they are widened into `perm`.
function accumulateQ2(x: usize, w: usize, k0: i32, k1: i32, N: i32, c0: i32, c1: i32, acc: usize, perm: usize): void {
  for (let c = c0; c < c1; c += 64) {
    const p = perm + (<usize>c << 2);
    memory.fill(p, 0, 256);
    let k = k0;
    while (k < k1) {
      const kEnd = min(k + 128, k1);
      let a0 = i16x8.splat(0), b0 = i16x8.splat(0), a1 = i16x8.splat(0), b1 = i16x8.splat(0);
      let a2 = i16x8.splat(0), b2 = i16x8.splat(0), a3 = i16x8.splat(0), b3 = i16x8.splat(0);
      for (; k < kEnd; k++) {
        const v = v128.load(w + ((<usize>k * <usize>N + <usize>c) >> 2));
        const xk = i8x16.splat(load<i8>(x + <usize>k));
        const f0 = field2(v, 0);
        const f1 = field2(v, 1);
        const f2 = field2(v, 2);
        const f3 = field2(v, 3);
        a0 = i16x8.add(a0, i16x8.extmul_low_i8x16_s(f0, xk)); b0 = i16x8.add(b0, i16x8.extmul_high_i8x16_s(f0, xk));
        a1 = i16x8.add(a1, i16x8.extmul_low_i8x16_s(f1, xk)); b1 = i16x8.add(b1, i16x8.extmul_high_i8x16_s(f1, xk));
        a2 = i16x8.add(a2, i16x8.extmul_low_i8x16_s(f2, xk)); b2 = i16x8.add(b2, i16x8.extmul_high_i8x16_s(f2, xk));
        a3 = i16x8.add(a3, i16x8.extmul_low_i8x16_s(f3, xk)); b3 = i16x8.add(b3, i16x8.extmul_high_i8x16_s(f3, xk));
      }
      // perm[c + 16f + j] holds column c + 4j + f.
      widenInto(p, a0, b0); widenInto(p + 64, a1, b1); widenInto(p + 128, a2, b2); widenInto(p + 192, a3, b3);
    }
    for (let f = 0; f < 4; f++) {
      for (let j = 0; j < 16; j++) {
        const dst = acc + (<usize>(c + 4 * j + f) << 2);
        store<i32>(dst, load<i32>(dst) + load<i32>(p + (<usize>(16 * f + j) << 2)));
      }
    }
  }
}

// 4-bit: 16 bytes hold 32 columns; field f of byte j is column 2j + f. Products reach 127 · 7 = 889, so
// i16 lanes take 32 rows (28,448) before widening.
function accumulateQ4(x: usize, w: usize, k0: i32, k1: i32, N: i32, c0: i32, c1: i32, acc: usize, perm: usize): void {
  for (let c = c0; c < c1; c += 32) {
    const p = perm + (<usize>c << 2);
    memory.fill(p, 0, 128);
    let k = k0;
    while (k < k1) {
      const kEnd = min(k + 32, k1);
      let a0 = i16x8.splat(0), b0 = i16x8.splat(0), a1 = i16x8.splat(0), b1 = i16x8.splat(0);
      for (; k < kEnd; k++) {
        const v = v128.load(w + ((<usize>k * <usize>N + <usize>c) >> 1));
        const xk = i8x16.splat(load<i8>(x + <usize>k));
        const f0 = field4(v, 0);
        const f1 = field4(v, 1);
        a0 = i16x8.add(a0, i16x8.extmul_low_i8x16_s(f0, xk)); b0 = i16x8.add(b0, i16x8.extmul_high_i8x16_s(f0, xk));
        a1 = i16x8.add(a1, i16x8.extmul_low_i8x16_s(f1, xk)); b1 = i16x8.add(b1, i16x8.extmul_high_i8x16_s(f1, xk));
      }
      widenInto(p, a0, b0); widenInto(p + 64, a1, b1);
    }
    for (let f = 0; f < 2; f++) {
      for (let j = 0; j < 16; j++) {
        const dst = acc + (<usize>(c + 2 * j + f) << 2);
        store<i32>(dst, load<i32>(dst) + load<i32>(p + (<usize>(16 * f + j) << 2)));
      }
    }
  }
}

/** Adds the 16 i16 lanes of (lo, hi) to the 16 i32 at p. */
// @ts-ignore: decorator
@inline
function widenInto(p: usize, lo: v128, hi: v128): void {
  v128.store(p, i32x4.add(v128.load(p), i32x4.extend_low_i16x8_s(lo)));
  v128.store(p + 16, i32x4.add(v128.load(p + 16), i32x4.extend_high_i16x8_s(lo)));
  v128.store(p + 32, i32x4.add(v128.load(p + 32), i32x4.extend_low_i16x8_s(hi)));
  v128.store(p + 48, i32x4.add(v128.load(p + 48), i32x4.extend_high_i16x8_s(hi)));
}

// 8-bit: products reach 127² = 16,129, too big for i16 sums, so rows go in pairs through i32x4.dot_i16x8_s:
// bytes of rows k and k+1 are interleaved per column and dotted with (x[k], x[k+1]); columns stay in order.
function accumulateQ8(x: usize, w: usize, k0: i32, k1: i32, N: i32, c0: i32, c1: i32, acc: usize): void {
  for (let c = c0; c < c1; c += 16) {
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    for (let k = k0; k < k1; k += 2) {
      const second = k + 1 < k1;
      const r0 = v128.load(w + <usize>k * <usize>N + <usize>c);
      const r1 = second ? v128.load(w + <usize>(k + 1) * <usize>N + <usize>c) : i8x16.splat(0);
      const x0 = <i32>load<i8>(x + <usize>k);
      const x1 = second ? <i32>load<i8>(x + <usize>k + 1) : 0;
      const xs = i32x4.splat((x0 & 0xffff) | (x1 << 16));
      const lo = i8x16.shuffle(r0, r1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const hi = i8x16.shuffle(r0, r1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(lo), xs));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(lo), xs));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(hi), xs));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(hi), xs));
    }
    const p = acc + (<usize>c << 2);
    v128.store(p, i32x4.add(v128.load(p), s0));
    v128.store(p + 16, i32x4.add(v128.load(p + 16), s1));
    v128.store(p + 32, i32x4.add(v128.load(p + 32), s2));
    v128.store(p + 48, i32x4.add(v128.load(p + 48), s3));
  }
}

// ─── f32 activations × packed codes (activation_bits = 32) ──────────────────────────────────────
//
//   out[t, n] = bias[n] + Σ_g (Σ_{k ∈ g} x[t, k] · code[k, n]) · step[g, n]
//
// Scalar only: it serves the non-default "A32" exports, where speed is not the point.

export function matmulQf32(x: usize, T: i32, K: i32, N: i32, w: usize, bits: i32, scale: usize, groupSize: i32, bias: usize, out: usize, accf: usize, n0: i32, n1: i32): void {
  const G = groupSize > 0 ? groupSize : K;
  for (let t = 0; t < T; t++) {
    const xt = x + ((<usize>t * <usize>K) << 2);
    const o = out + ((<usize>t * <usize>N) << 2);
    for (let k0 = 0, g = 0; k0 < K; k0 += G, g++) {
      memory.fill(accf + (<usize>n0 << 2), 0, <usize>(n1 - n0) << 2);
      for (let k = k0; k < min(k0 + G, K); k++) {
        const xk = load<f32>(xt + (<usize>k << 2));
        for (let n = n0; n < n1; n++) {
          const p = accf + (<usize>n << 2);
          store<f32>(p, load<f32>(p) + xk * <f32>unpackCode(w, bits, k * N + n));
        }
      }
      for (let n = n0; n < n1; n++) {
        const on = o + (<usize>n << 2);
        const base: f32 = g > 0 ? load<f32>(on) : bias != 0 ? load<f32>(bias + (<usize>n << 2)) : 0;
        store<f32>(on, base + load<f32>(accf + (<usize>n << 2)) * scaleAt(scale, groupSize, g, N, n));
      }
    }
  }
}

// ─── f32 weights (unquantized exports) ──────────────────────────────────────────────────────────
//
//   out[t, n] = bias[n] + Σ_k x[t, k] · W[k, n], summed in k order.

export function matmulF32Ref(x: usize, T: i32, K: i32, N: i32, w: usize, bias: usize, out: usize): void {
  for (let t = 0; t < T; t++) {
    const xt = x + ((<usize>t * <usize>K) << 2);
    for (let n = 0; n < N; n++) {
      let s: f32 = bias != 0 ? load<f32>(bias + (<usize>n << 2)) : 0;
      for (let k = 0; k < K; k++) s += load<f32>(xt + (<usize>k << 2)) * load<f32>(w + ((<usize>k * <usize>N + <usize>n) << 2));
      store<f32>(out + ((<usize>t * <usize>N + <usize>n) << 2), s);
    }
  }
}

/**
 * SIMD, for output columns n0 ≤ n < n1: streams W row by row (contiguous, as it lies in memory) and keeps
 * the output rows in L1. Tokens go four at a time (a prefill's register tile): each loaded vector of W is
 * used for all four, so W streams once per four tokens instead of once per token; a lone token adds eight
 * rows of W per pass instead. Each column still adds its terms in k order, so it equals the reference bit
 * for bit. (Holding columns in registers across all of K instead strides through W by whole rows and ran
 * at a third of the memory bandwidth.)
 */
export function matmulF32(x: usize, T: i32, K: i32, N: i32, w: usize, bias: usize, out: usize, n0: i32, n1: i32): void {
  const span = <usize>(n1 - n0) << 2;
  for (let t = 0; t < T; t++) {
    const o = out + ((<usize>t * <usize>N + <usize>n0) << 2);
    if (bias != 0) memory.copy(o, bias + (<usize>n0 << 2), span);
    else memory.fill(o, 0, span);
  }
  let t = 0;
  for (; t + 4 <= T; t += 4) accumulateF32x4Tokens(x + ((<usize>t * <usize>K) << 2), K, N, w, out + ((<usize>t * <usize>N) << 2), n0, n1);
  for (; t < T; t++) accumulateF32Token(x + ((<usize>t * <usize>K) << 2), K, N, w, out + ((<usize>t * <usize>N) << 2), n0, n1);
}

/** o[n] += Σ_k xt[k] · W[k, n] for one token, eight rows of W per pass over the output row. */
function accumulateF32Token(xt: usize, K: i32, N: i32, w: usize, o: usize, n0: i32, n1: i32): void {
  const cols = n0 + (((n1 - n0) >> 2) << 2);
  const rowBytes = <usize>N << 2;
  let k = 0;
  for (; k + 8 <= K; k += 8) {
    const xk = xt + (<usize>k << 2);
    const x0 = f32x4.splat(load<f32>(xk)), x1 = f32x4.splat(load<f32>(xk, 4)), x2 = f32x4.splat(load<f32>(xk, 8)), x3 = f32x4.splat(load<f32>(xk, 12));
    const x4 = f32x4.splat(load<f32>(xk, 16)), x5 = f32x4.splat(load<f32>(xk, 20)), x6 = f32x4.splat(load<f32>(xk, 24)), x7 = f32x4.splat(load<f32>(xk, 28));
    const r0 = w + <usize>k * rowBytes;
    for (let n = n0; n < cols; n += 4) {
      const p = <usize>n << 2;
      const r = r0 + p;
      let acc = v128.load(o + p);
      acc = f32x4.add(acc, f32x4.mul(x0, v128.load(r)));
      acc = f32x4.add(acc, f32x4.mul(x1, v128.load(r + rowBytes)));
      acc = f32x4.add(acc, f32x4.mul(x2, v128.load(r + 2 * rowBytes)));
      acc = f32x4.add(acc, f32x4.mul(x3, v128.load(r + 3 * rowBytes)));
      acc = f32x4.add(acc, f32x4.mul(x4, v128.load(r + 4 * rowBytes)));
      acc = f32x4.add(acc, f32x4.mul(x5, v128.load(r + 5 * rowBytes)));
      acc = f32x4.add(acc, f32x4.mul(x6, v128.load(r + 6 * rowBytes)));
      acc = f32x4.add(acc, f32x4.mul(x7, v128.load(r + 7 * rowBytes)));
      v128.store(o + p, acc);
    }
    for (let n = cols; n < n1; n++) {
      const p = <usize>n << 2;
      let acc = load<f32>(o + p);
      for (let j = 0; j < 8; j++) acc += load<f32>(xt + (<usize>(k + j) << 2)) * load<f32>(r0 + <usize>j * rowBytes + p);
      store<f32>(o + p, acc);
    }
  }
  for (; k < K; k++) {
    const xk = load<f32>(xt + (<usize>k << 2));
    const row = w + <usize>k * rowBytes;
    for (let n = n0; n < n1; n++) {
      const p = <usize>n << 2;
      store<f32>(o + p, load<f32>(o + p) + xk * load<f32>(row + p));
    }
  }
}

/** The same for four tokens (x rows K apart, o rows N apart), two rows of W per pass, each loaded once. */
function accumulateF32x4Tokens(x: usize, K: i32, N: i32, w: usize, o: usize, n0: i32, n1: i32): void {
  const cols = n0 + (((n1 - n0) >> 2) << 2);
  const rowBytes = <usize>N << 2;
  const xs = <usize>K << 2;
  const o1 = o + rowBytes, o2 = o + 2 * rowBytes, o3 = o + 3 * rowBytes;
  let k = 0;
  for (; k + 2 <= K; k += 2) {
    const xk = x + (<usize>k << 2);
    const a0 = f32x4.splat(load<f32>(xk)), b0 = f32x4.splat(load<f32>(xk, 4));
    const a1 = f32x4.splat(load<f32>(xk + xs)), b1 = f32x4.splat(load<f32>(xk + xs, 4));
    const a2 = f32x4.splat(load<f32>(xk + 2 * xs)), b2 = f32x4.splat(load<f32>(xk + 2 * xs, 4));
    const a3 = f32x4.splat(load<f32>(xk + 3 * xs)), b3 = f32x4.splat(load<f32>(xk + 3 * xs, 4));
    const r0 = w + <usize>k * rowBytes;
    for (let n = n0; n < cols; n += 4) {
      const p = <usize>n << 2;
      const w0 = v128.load(r0 + p), w1 = v128.load(r0 + rowBytes + p);
      v128.store(o + p, f32x4.add(f32x4.add(v128.load(o + p), f32x4.mul(a0, w0)), f32x4.mul(b0, w1)));
      v128.store(o1 + p, f32x4.add(f32x4.add(v128.load(o1 + p), f32x4.mul(a1, w0)), f32x4.mul(b1, w1)));
      v128.store(o2 + p, f32x4.add(f32x4.add(v128.load(o2 + p), f32x4.mul(a2, w0)), f32x4.mul(b2, w1)));
      v128.store(o3 + p, f32x4.add(f32x4.add(v128.load(o3 + p), f32x4.mul(a3, w0)), f32x4.mul(b3, w1)));
    }
    for (let n = cols; n < n1; n++) {
      const p = <usize>n << 2;
      for (let j = 0; j < 4; j++) {
        const oj = o + <usize>j * rowBytes + p, xj = xk + <usize>j * xs;
        store<f32>(oj, load<f32>(oj) + load<f32>(xj) * load<f32>(r0 + p) + load<f32>(xj, 4) * load<f32>(r0 + rowBytes + p));
      }
    }
  }
  for (; k < K; k++) {
    const row = w + <usize>k * rowBytes;
    for (let j = 0; j < 4; j++) {
      const xk = load<f32>(x + <usize>j * xs + (<usize>k << 2));
      const oj = o + <usize>j * rowBytes;
      for (let n = n0; n < n1; n++) {
        const p = <usize>n << 2;
        store<f32>(oj + p, load<f32>(oj + p) + xk * load<f32>(row + p));
      }
    }
  }
}
