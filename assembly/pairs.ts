// Products for 4- and 8-bit weights with int8 activations through i32x4.dot_i16x8_s (one pmaddwd: 8
// multiply-adds), on weights repacked at load so that each vector is ready for it ("pairs" layout).
//
// The file's K-major rows (assembly/matmul.ts) put the 16 columns of one vector in the lanes, which leaves
// widening multiplies (i16x8.extmul_*, several instructions each on x64) as the only way to multiply; and
// the 8-bit kernel interleaves rows k and k+1 at run time. Here the repack does that interleave once: lane
// pair (2i, 2i+1) holds column i's codes at rows 2p and 2p+1, so sign- or zero-extending to i16 and one dot
// with (x[2p], x[2p+1]) gives four columns' sums of two rows in i32, with no widening step to schedule.
//
// 4-bit codes are stored biased, c + 8 ∈ [0, 15] (the file's nibble XOR 8), so that a nibble is its own
// unsigned byte after a mask; the kernel subtracts 8 · Σ_{k ∈ g} x[k] from every column of group g. All sums
// are exact integers: the results equal matmulQRef bit for bit.
//
// Layout, for W (K, N): P = ⌈K/2⌉ pairs, ⌈N/16⌉ blocks of 16 columns, block-major (block b's pairs lie one
// after another, so a product streams them). Block b, pair p:
//   8-bit: 32 bytes; byte 2i / 2i+1 of the first 16: column 16b + i at rows 2p / 2p+1 (i < 8), of the
//          second 16: column 16b + 8 + i;
//   4-bit: 16 bytes; byte j's low nibble is L[j] and high nibble H[j], where L[2i] / L[2i+1] are column
//          16b + i at rows 2p / 2p+1 and H the same for column 16b + 8 + i, each c + 8.
// Rows past K and columns past N hold code 0. Sizes: K·N bytes (8-bit) and K·N/2 (4-bit), plus padding.
//
// Letters: T tokens, K inputs, N outputs, P pairs, G inputs per scale group.

import { scaleAt, unpackCode, zipHigh, zipLow } from "./packed";

const BLOCK = 16;

/** Bytes of the pairs layout of W (K, N) at 4 or 8 bits. */
export function pairsBytes(K: i32, N: i32, bits: i32): usize {
  return <usize>((K + 1) >> 1) * <usize>((N + BLOCK - 1) / BLOCK) * <usize>(bits == 8 ? 32 : 16);
}

// ─── repack ─────────────────────────────────────────────────────────────────────────────────────

/** Repacks a K-major packed W (K, N) at 4 or 8 bits (the file's layout) into dst (pairsBytes). */
export function repackPairs(src: usize, K: i32, N: i32, bits: i32, dst: usize): void {
  const P = (K + 1) >> 1;
  const blocks = (N + BLOCK - 1) / BLOCK;
  const bytes = pairsBytes(K, N, bits);
  const rowBytes = <usize>((N * bits) >> 3);
  // Blocks whose two rows' 16 columns lie whole and byte-aligned in the file take the vector path.
  const whole = ASC_FEATURE_SIMD && (N * bits) % 8 == 0 ? N / BLOCK : 0;
  const step: usize = bits == 8 ? 32 : 16;
  memory.fill(dst, bits == 8 ? 0 : 0x88, bytes); // code 0: 0 at 8 bits, 8 (biased) at 4
  for (let b = 0; b < blocks; b++) {
    for (let p = 0; p < P; p++) {
      const to = dst + (<usize>(b * P + p)) * step;
      const k0 = 2 * p, k1 = 2 * p + 1;
      if (ASC_FEATURE_SIMD && b < whole) {
        if (bits == 8) {
          const r0 = v128.load(src + <usize>k0 * rowBytes + (<usize>b << 4));
          const r1 = k1 < K ? v128.load(src + <usize>k1 * rowBytes + (<usize>b << 4)) : i8x16.splat(0);
          v128.store(to, zipLow(r0, r1));
          v128.store(to, zipHigh(r0, r1), 16);
        } else {
          const r0 = nibblesToBytes(v128.load64_zero(src + <usize>k0 * rowBytes + (<usize>b << 3)));
          const r1 = k1 < K ? nibblesToBytes(v128.load64_zero(src + <usize>k1 * rowBytes + (<usize>b << 3))) : i8x16.splat(0);
          // Indices and biased codes are ≤ 15, so a 16-bit shift by 4 keeps each byte's nibble in its byte.
          const bias = i8x16.splat(8);
          v128.store(to, v128.or(v128.xor(zipLow(r0, r1), bias), i16x8.shl(v128.xor(zipHigh(r0, r1), bias), 4)));
        }
        continue;
      }
      for (let i = 0; i < BLOCK; i++) {
        const n = b * BLOCK + i;
        if (n >= N) break;
        const c0 = unpackCode(src, bits, k0 * N + n);
        const c1 = k1 < K ? unpackCode(src, bits, k1 * N + n) : 0;
        if (bits == 8) {
          const at = to + <usize>((i >> 3) * 16 + 2 * (i & 7));
          store<i8>(at, <i8>c0);
          store<i8>(at, <i8>c1, 1);
        } else {
          const at = to + <usize>(2 * (i & 7));
          const shift = (i >> 3) << 2;
          const keep = ~(0xf << shift);
          store<u8>(at, <u8>((<i32>load<u8>(at) & keep) | ((c0 + 8) << shift)));
          store<u8>(at, <u8>((<i32>load<u8>(at, 1) & keep) | ((c1 + 8) << shift)), 1);
        }
      }
    }
  }
}

/** 8 bytes of two-nibble codes (low 64 bits of v) → their 16 nibbles as bytes, in column order. */
// @ts-ignore: decorator
@inline
function nibblesToBytes(v: v128): v128 {
  const mask = i8x16.splat(0x0f);
  return zipLow(v128.and(v, mask), v128.and(i16x8.shr_u(v, 4), mask));
}

// ─── the product ────────────────────────────────────────────────────────────────────────────────

/** xp (T, P) i32: (x[2p], x[2p+1]) of each token as the low and high i16 halves (x past K reads as 0). */
export function pairsActivations(xq: usize, T: i32, K: i32, xp: usize): void {
  const P = (K + 1) >> 1;
  for (let t = 0; t < T; t++) {
    const x = xq + <usize>t * <usize>K;
    const row = xp + ((<usize>t * <usize>P) << 2);
    for (let p = 0; p < P; p++) {
      const lo = <i32>load<i8>(x + <usize>(2 * p));
      const hi = 2 * p + 1 < K ? <i32>load<i8>(x + <usize>(2 * p + 1)) : 0;
      store<i32>(row + (<usize>p << 2), (lo & 0xffff) | (hi << 16));
    }
  }
}

/**
 * out[t, n] = bias[n] + Σ_g f32(Σ_{k ∈ g} xq[t, k] · code[k, n]) · step[g, n] · sx[t] for n0 ≤ n < n1 (n0 a
 * multiple of 16), over W in the pairs layout and xp from pairsActivations; the epilogue's order is
 * matmulQRef's. G must be even (or 0: one group). acc: i32 scratch of ⌈N/16⌉·16, used at the columns
 * computed.
 */
export function matmulPairs(xp: usize, sx: usize, T: i32, K: i32, N: i32, w: usize, bits: i32, scale: usize, groupSize: i32, bias: usize, out: usize, acc: usize, n0: i32, n1: i32): void {
  const P = (K + 1) >> 1;
  const G = groupSize > 0 ? groupSize : K;
  const pairsPerGroup = (G + 1) >> 1;
  const step: usize = bits == 8 ? 32 : 16;
  const end = ((n1 + BLOCK - 1) / BLOCK) * BLOCK;
  for (let t = 0; t < T; t++) {
    const x = xp + ((<usize>t * <usize>P) << 2);
    const s = load<f32>(sx + (<usize>t << 2));
    const o = out + ((<usize>t * <usize>N) << 2);
    for (let p0 = 0, g = 0; p0 < P; p0 += pairsPerGroup, g++) {
      const p1 = min(p0 + pairsPerGroup, P);
      // The 4-bit codes' bias: 8 · Σ x over the group's rows.
      let offset = 0;
      if (bits == 4) {
        for (let p = p0; p < p1; p++) {
          const v = load<i32>(x + (<usize>p << 2));
          offset += ((v << 16) >> 16) + (v >> 16);
        }
        offset <<= 3;
      }
      for (let c = n0; c < end; c += BLOCK) {
        const wb = w + <usize>((c / BLOCK) * P) * step;
        const a = acc + (<usize>c << 2);
        if (bits == 8) dotPairs8(x, wb, p0, p1, a);
        else dotPairs4(x, wb, p0, p1, a);
      }
      for (let n = n0; n < n1; n++) {
        const on = o + (<usize>n << 2);
        const base: f32 = g > 0 ? load<f32>(on) : bias != 0 ? load<f32>(bias + (<usize>n << 2)) : 0;
        store<f32>(on, base + <f32>(load<i32>(acc + (<usize>n << 2)) - offset) * scaleAt(scale, groupSize, g, N, n) * s);
      }
    }
  }
}

/** a[0..16) = Σ_{p0 ≤ p < p1} of one block's 4-bit pairs (biased codes). */
function dotPairs4(x: usize, wb: usize, p0: i32, p1: i32, a: usize): void {
  if (!ASC_FEATURE_SIMD) {
    dotPairsRef(x, wb, 4, p0, p1, a);
    return;
  }
  const mask = i8x16.splat(0x0f);
  let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
  for (let p = p0; p < p1; p++) {
    const xs = v128.load32_splat(x + (<usize>p << 2));
    const v = v128.load(wb + (<usize>p << 4));
    const l = v128.and(v, mask), h = v128.and(i16x8.shr_u(v, 4), mask);
    s0 = i32x4.add(s0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(l), xs));
    s1 = i32x4.add(s1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(l), xs));
    s2 = i32x4.add(s2, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(h), xs));
    s3 = i32x4.add(s3, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(h), xs));
  }
  v128.store(a, s0);
  v128.store(a, s1, 16);
  v128.store(a, s2, 32);
  v128.store(a, s3, 48);
}

/** a[0..16) = Σ_{p0 ≤ p < p1} of one block's 8-bit pairs. */
function dotPairs8(x: usize, wb: usize, p0: i32, p1: i32, a: usize): void {
  if (!ASC_FEATURE_SIMD) {
    dotPairsRef(x, wb, 8, p0, p1, a);
    return;
  }
  let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
  for (let p = p0; p < p1; p++) {
    const xs = v128.load32_splat(x + (<usize>p << 2));
    const at = wb + (<usize>p << 5);
    const v0 = v128.load(at), v1 = v128.load(at, 16);
    s0 = i32x4.add(s0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(v0), xs));
    s1 = i32x4.add(s1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(v0), xs));
    s2 = i32x4.add(s2, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(v1), xs));
    s3 = i32x4.add(s3, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(v1), xs));
  }
  v128.store(a, s0);
  v128.store(a, s1, 16);
  v128.store(a, s2, 32);
  v128.store(a, s3, 48);
}

/** Scalar reference for dotPairs4/8: the layout read one code at a time. */
function dotPairsRef(x: usize, wb: usize, bits: i32, p0: i32, p1: i32, a: usize): void {
  for (let i = 0; i < BLOCK; i++) {
    let s = 0;
    for (let p = p0; p < p1; p++) {
      const v = load<i32>(x + (<usize>p << 2));
      const x0 = (v << 16) >> 16, x1 = v >> 16;
      let c0: i32, c1: i32;
      if (bits == 8) {
        const at = wb + (<usize>p << 5) + <usize>((i >> 3) * 16 + 2 * (i & 7));
        c0 = <i32>load<i8>(at);
        c1 = <i32>load<i8>(at, 1);
      } else {
        const at = wb + (<usize>p << 4) + <usize>(2 * (i & 7));
        const shift = (i >> 3) << 2;
        c0 = (<i32>load<u8>(at) >> shift) & 0xf;
        c1 = (<i32>load<u8>(at, 1) >> shift) & 0xf;
      }
      s += x0 * c0 + x1 * c1;
    }
    store<i32>(a + (<usize>i << 2), s);
  }
}
