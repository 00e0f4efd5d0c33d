// Lookup-table products for ternary (2-bit, codes −1, 0, +1) weights with int8 activations: the T-MAC idea
// (Wei et al., "T-MAC: CPU Renaissance via Table Lookup", 2024) on WebAssembly SIMD128, kept exact.
//
// Per token, every pair of activations (x[2p], x[2p+1]) gets a table of its 9 possible partial sums
// c0·x[2p] + c1·x[2p+1], c0, c1 ∈ {−1, 0, 1}; the weights are repacked once at load so that each output
// feature holds one 4-bit table index per pair of input features. i8x16.swizzle then looks up 16 outputs'
// partial sums at once. A sum reaches ±254, which needs 9 bits, so each table is stored as two byte
// tables (low byte, high byte) and the two lookups are interleaved into i16 lanes: 128 pairs fit an i16
// lane (128 · 254 = 32,512) before they are widened to i32. The i32 sums are exactly the reference's
// (assembly/matmul.ts matmulQRef, assembly/head.ts headQRef), and so is the f32 epilogue, so the results
// equal the scalar references bit for bit.
//
// Repacked layout ("lut2"), for a product with K inputs and N outputs (a linear layer's (K, N), or the
// head's (V, C) read as N = V outputs over K = C inputs):
//   P = ⌈K/2⌉ pairs, ⌈N/64⌉ blocks of 64 outputs, block-major: block b, pair p at (b·P + p)·32 bytes;
//   byte j of the first 16 holds outputs 64b + 4j (low nibble) and 64b + 4j + 1 (high nibble), byte j
//   of the second 16 holds 64b + 4j + 2 and 64b + 4j + 3 (the order a 16-byte load of a K-major row
//   unpacks in, so the repack needs no transpose); nibble = 3·(c0 + 1) + (c1 + 1), 4 for padding.
// Same size as the 2-bit packing: K·N/4 bytes, plus padding to whole blocks and an even K.
//
// A 2-bit field of 2 (code −2) is valid two's complement but not ternary: the repack reports it and the
// runtime keeps that weight on the unpacking kernels.
//
// Letters: T tokens, K inputs, N outputs, P pairs, G inputs per scale group.

import { scaleAt, rowScaleAt, unpackCode, zipHigh, zipLow } from "./packed";

const BLOCK = 64;
/** Pairs an i16 lane can take before it is widened: 128 · 254 ≤ 32,767. */
const PAIRS_PER_WIDEN = 128;

/** Bytes of the repacked layout of a ternary product with K inputs and N outputs. */
export function lutBytes(K: i32, N: i32): usize {
  return <usize>((K + 1) >> 1) * <usize>((N + BLOCK - 1) / BLOCK) * 32;
}

// ─── repack ─────────────────────────────────────────────────────────────────────────────────────

/** Table index of a pair of codes; −1 marks a code outside {−1, 0, 1}. */
// @ts-ignore: decorator
@inline
function pairIndex(c0: i32, c1: i32): i32 {
  return (c0 < -1 || c1 < -1) ? -1 : 3 * (c0 + 1) + (c1 + 1);
}

/** Byte offset, in the repacked layout, of the byte holding output n at pair p, and the nibble's shift. */
// @ts-ignore: decorator
@inline
function nibbleAt(P: i32, n: i32, p: i32): usize {
  const b = n / BLOCK, r = n % BLOCK;
  return (<usize>(b * P + p) << 5) + <usize>(((r & 2) << 3) + (r >> 2));
}

/**
 * Repacks a K-major 2-bit weight W (K, N) (element (k, n) at k·N + n) into dst (lutBytes(K, N)).
 * Returns 0, or 1 if some code is −2 (dst is then incomplete: do not use it).
 */
export function repackLutKN(src: usize, K: i32, N: i32, dst: usize): i32 {
  const P = (K + 1) >> 1;
  memory.fill(dst, 0x44, lutBytes(K, N)); // index 4 = (0, 0) in both nibbles: padding
  let bad = 0;
  if (ASC_FEATURE_SIMD && (N & 3) == 0) bad = repackRowsSimd(src, K, N, dst, P, N / BLOCK);
  // Columns past the whole blocks (and every column when rows are not byte-aligned).
  const n0 = ASC_FEATURE_SIMD && (N & 3) == 0 ? (N / BLOCK) * BLOCK : 0;
  for (let p = 0; p < P; p++) {
    for (let n = n0; n < N; n++) {
      const c0 = unpackCode(src, 2, 2 * p * N + n);
      const c1 = 2 * p + 1 < K ? unpackCode(src, 2, (2 * p + 1) * N + n) : 0;
      const i = pairIndex(c0, c1);
      if (i < 0) return 1;
      const at = dst + nibbleAt(P, n, p);
      const shift = (n & 1) << 2;
      store<u8>(at, <u8>((<i32>load<u8>(at) & ~(0xf << shift)) | (i << shift)));
    }
  }
  return bad;
}

// Field value → 3·(c + 1) and → (c + 1); 2 (code −2) → 0x40, which no valid sum reaches.
// @ts-ignore: decorator
@lazy const HIGH3: v128 = i8x16(3, 6, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
// @ts-ignore: decorator
@lazy const LOW1: v128 = i8x16(1, 2, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

function repackRowsSimd(src: usize, K: i32, N: i32, dst: usize, P: i32, whole: i32): i32 {
  const rowBytes = <usize>(N >> 2);
  let bad = i8x16.splat(0);
  const three = i8x16.splat(3);
  for (let b = 0; b < whole; b++) {
    for (let p = 0; p < P; p++) {
      const r0 = v128.load(src + <usize>(2 * p) * rowBytes + <usize>(b << 4));
      const r1 = 2 * p + 1 < K ? v128.load(src + <usize>(2 * p + 1) * rowBytes + <usize>(b << 4)) : i8x16.splat(0);
      const i0 = i8x16.add(i8x16.swizzle(HIGH3, v128.and(r0, three)), i8x16.swizzle(LOW1, v128.and(r1, three)));
      const i1 = i8x16.add(i8x16.swizzle(HIGH3, v128.and(i16x8.shr_u(r0, 2), three)), i8x16.swizzle(LOW1, v128.and(i16x8.shr_u(r1, 2), three)));
      const i2 = i8x16.add(i8x16.swizzle(HIGH3, v128.and(i16x8.shr_u(r0, 4), three)), i8x16.swizzle(LOW1, v128.and(i16x8.shr_u(r1, 4), three)));
      const i3 = i8x16.add(i8x16.swizzle(HIGH3, v128.and(i16x8.shr_u(r0, 6), three)), i8x16.swizzle(LOW1, v128.and(i16x8.shr_u(r1, 6), three)));
      bad = v128.or(bad, v128.or(v128.or(i0, i1), v128.or(i2, i3)));
      // Indices are ≤ 8, so a 16-bit shift by 4 keeps each byte's nibble in its byte.
      const at = dst + (<usize>(b * P + p) << 5);
      v128.store(at, v128.or(i0, i16x8.shl(i1, 4)));
      v128.store(at + 16, v128.or(i2, i16x8.shl(i3, 4)));
    }
  }
  return v128.any_true(v128.and(bad, i8x16.splat(<i8>0xf0))) ? 1 : 0;
}

/**
 * Repacks a row-major 2-bit (V, C) embedding (element (v, c) at v·C + c) into dst (lutBytes(C, V)): the
 * head's product, V outputs over C inputs. Returns 0, or 1 if some code is −2.
 */
export function repackLutVC(src: usize, V: i32, C: i32, dst: usize): i32 {
  const P = (C + 1) >> 1;
  memory.fill(dst, 0x44, lutBytes(C, V));
  // Whole blocks of 64 rows × 64 columns go through the SIMD transpose; the rest one code at a time.
  const simd = ASC_FEATURE_SIMD && (C & 3) == 0;
  const rows = simd ? (V / BLOCK) * BLOCK : 0;
  const chunks = simd ? C / 64 : 0;
  if (rows > 0 && chunks > 0 && repackBlocksSimd(src, C, dst, P, rows / BLOCK, chunks) != 0) return 1;
  for (let v = 0; v < V; v++) {
    const row = v * C;
    const shift = (v & 1) << 2;
    const keep = ~(0xf << shift);
    for (let p = v < rows ? chunks * 32 : 0; p < P; p++) {
      const c0 = unpackCode(src, 2, row + 2 * p);
      const c1 = 2 * p + 1 < C ? unpackCode(src, 2, row + 2 * p + 1) : 0;
      const i = pairIndex(c0, c1);
      if (i < 0) return 1;
      const at = dst + nibbleAt(P, v, p);
      store<u8>(at, <u8>((<i32>load<u8>(at) & keep) | (i << shift)));
    }
  }
  return 0;
}

// A 2-bit row nibble (field f0 | f1 << 2, the codes of columns 2p and 2p + 1) → its pair index; a field of
// 2 (code −2) → 0x40.
// @ts-ignore: decorator
@lazy const NIBBLE_PAIR: v128 = i8x16(4, 7, 0x40, 1, 5, 8, 0x40, 2, 0x40, 0x40, 0x40, 0x40, 3, 6, 0x40, 0);

/** 1 KiB of scratch: four 16 × 16 byte tiles (the repack runs once per weight, on one thread). */
const TILES: usize = memory.data(1024, 16);

function repackBlocksSimd(src: usize, C: i32, dst: usize, P: i32, blocks: i32, chunks: i32): i32 {
  const rowBytes = <usize>(C >> 2);
  const mask = i8x16.splat(0x0f);
  let bad = i8x16.splat(0);
  for (let b = 0; b < blocks; b++) {
    for (let ch = 0; ch < chunks; ch++) {
      // Rows 4j..4j+3 of the block: pair indices of pairs 2m (A, from byte m's low nibble) and 2m + 1 (B),
      // two rows to a byte as the layout wants; tile row j, column m.
      for (let j = 0; j < 16; j++) {
        const at = src + <usize>(b * BLOCK + 4 * j) * rowBytes + (<usize>ch << 4);
        const s0 = v128.load(at), s1 = v128.load(at + rowBytes), s2 = v128.load(at + 2 * rowBytes), s3 = v128.load(at + 3 * rowBytes);
        const a0 = i8x16.swizzle(NIBBLE_PAIR, v128.and(s0, mask)), b0 = i8x16.swizzle(NIBBLE_PAIR, v128.and(i16x8.shr_u(s0, 4), mask));
        const a1 = i8x16.swizzle(NIBBLE_PAIR, v128.and(s1, mask)), b1 = i8x16.swizzle(NIBBLE_PAIR, v128.and(i16x8.shr_u(s1, 4), mask));
        const a2 = i8x16.swizzle(NIBBLE_PAIR, v128.and(s2, mask)), b2 = i8x16.swizzle(NIBBLE_PAIR, v128.and(i16x8.shr_u(s2, 4), mask));
        const a3 = i8x16.swizzle(NIBBLE_PAIR, v128.and(s3, mask)), b3 = i8x16.swizzle(NIBBLE_PAIR, v128.and(i16x8.shr_u(s3, 4), mask));
        bad = v128.or(bad, v128.or(v128.or(v128.or(a0, b0), v128.or(a1, b1)), v128.or(v128.or(a2, b2), v128.or(a3, b3))));
        const t = TILES + (<usize>j << 4);
        v128.store(t, v128.or(a0, i16x8.shl(a1, 4)));
        v128.store(t + 256, v128.or(a2, i16x8.shl(a3, 4)));
        v128.store(t + 512, v128.or(b0, i16x8.shl(b1, 4)));
        v128.store(t + 768, v128.or(b2, i16x8.shl(b3, 4)));
      }
      for (let tile = 0; tile < 4; tile++) transpose16(TILES + (<usize>tile << 8));
      // Transposed tile row m is pair 2m (A tiles) or 2m + 1 (B tiles) of this chunk, first or second half.
      for (let m = 0; m < 16; m++) {
        const pa = dst + (<usize>(b * P + ch * 32 + 2 * m) << 5);
        const t = TILES + (<usize>m << 4);
        v128.store(pa, v128.load(t));
        v128.store(pa + 16, v128.load(t + 256));
        v128.store(pa + 32, v128.load(t + 512));
        v128.store(pa + 48, v128.load(t + 768));
      }
    }
  }
  return v128.any_true(v128.and(bad, i8x16.splat(<i8>0xf0))) ? 1 : 0;
}

/** Transposes the 16 × 16 bytes at t in place: four rounds of zipping rows i and i + 8. */
function transpose16(t: usize): void {
  for (let round = 0; round < 4; round++) {
    let r0 = v128.load(t), r1 = v128.load(t, 16), r2 = v128.load(t, 32), r3 = v128.load(t, 48);
    let r4 = v128.load(t, 64), r5 = v128.load(t, 80), r6 = v128.load(t, 96), r7 = v128.load(t, 112);
    let r8 = v128.load(t, 128), r9 = v128.load(t, 144), r10 = v128.load(t, 160), r11 = v128.load(t, 176);
    let r12 = v128.load(t, 192), r13 = v128.load(t, 208), r14 = v128.load(t, 224), r15 = v128.load(t, 240);
    v128.store(t, zipLow(r0, r8)); v128.store(t, zipHigh(r0, r8), 16);
    v128.store(t, zipLow(r1, r9), 32); v128.store(t, zipHigh(r1, r9), 48);
    v128.store(t, zipLow(r2, r10), 64); v128.store(t, zipHigh(r2, r10), 80);
    v128.store(t, zipLow(r3, r11), 96); v128.store(t, zipHigh(r3, r11), 112);
    v128.store(t, zipLow(r4, r12), 128); v128.store(t, zipHigh(r4, r12), 144);
    v128.store(t, zipLow(r5, r13), 160); v128.store(t, zipHigh(r5, r13), 176);
    v128.store(t, zipLow(r6, r14), 192); v128.store(t, zipHigh(r6, r14), 208);
    v128.store(t, zipLow(r7, r15), 224); v128.store(t, zipHigh(r7, r15), 240);
  }
}

/** Code of input k for output n in the repacked layout (the embedding's row lookup reads it this way). */
// @ts-ignore: decorator
@inline
function lutCode(w: usize, P: i32, n: i32, k: i32): i32 {
  const i = (<i32>load<u8>(w + nibbleAt(P, n, k >> 1)) >> ((n & 1) << 2)) & 0xf;
  return (k & 1) == 0 ? i / 3 - 1 : i % 3 - 1;
}

/** embedRow over a repacked (V, C) embedding: x[c] = code[v, c] · step[v, g(c)], as assembly/head.ts's embedRow. */
export function embedRowLut(v: i32, C: i32, w: usize, scale: usize, groupSize: i32, out: usize): void {
  const P = (C + 1) >> 1;
  const G = groupSize > 0 ? groupSize : C;
  for (let c = 0; c < C; c++) {
    store<f32>(out + (<usize>c << 2), <f32>lutCode(w, P, v, c) * rowScaleAt(scale, groupSize, C, v, c / G));
  }
}

// ─── tables ─────────────────────────────────────────────────────────────────────────────────────

/**
 * tables (T, P, 32 bytes): for token t and pair p, byte i of the first 16 is the low byte and byte i of the
 * second 16 the high byte of (i / 3 − 1)·x[2p] + (i % 3 − 1)·x[2p+1] for i < 9 (x past K reads as 0);
 * bytes 9..15 are 0. xq (T, K) int8.
 */
export function lutTables(xq: usize, T: i32, K: i32, tables: usize): void {
  const P = (K + 1) >> 1;
  for (let t = 0; t < T; t++) {
    const x = xq + <usize>t * <usize>K;
    const tab = tables + ((<usize>t * <usize>P) << 5);
    for (let p = 0; p < P; p++) {
      const x0 = <i32>load<i8>(x + <usize>(2 * p));
      const x1 = 2 * p + 1 < K ? <i32>load<i8>(x + <usize>(2 * p + 1)) : 0;
      const at = tab + (<usize>p << 5);
      if (ASC_FEATURE_SIMD) {
        // Lanes i < 9: (i/3 − 1)·x0 + (i%3 − 1)·x1 as i16, then split into low and high bytes.
        const lo = i16x8.add(i16x8.mul(i16x8(-1, -1, -1, 0, 0, 0, 1, 1), i16x8.splat(<i16>x0)), i16x8.mul(i16x8(-1, 0, 1, -1, 0, 1, -1, 0), i16x8.splat(<i16>x1)));
        const hi = i16x8.add(i16x8.mul(i16x8(1, 0, 0, 0, 0, 0, 0, 0), i16x8.splat(<i16>x0)), i16x8.mul(i16x8(1, 0, 0, 0, 0, 0, 0, 0), i16x8.splat(<i16>x1)));
        v128.store(at, i8x16.shuffle(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 18, 18, 18, 18, 18, 18));
        v128.store(at + 16, i8x16.shuffle(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 19, 19, 19, 19, 19, 19));
        // Entries 9..15 must be 0: lanes 2..7 of hi are 0, so bytes 18 and 19 read as 0.
      } else {
        for (let i = 0; i < 16; i++) {
          const s = i < 9 ? (i / 3 - 1) * x0 + (i % 3 - 1) * x1 : 0;
          store<u8>(at + <usize>i, <u8>(s & 0xff));
          store<u8>(at + 16 + <usize>i, <u8>((s >> 8) & 0xff));
        }
      }
    }
  }
}

// ─── the products ───────────────────────────────────────────────────────────────────────────────

/**
 * out[t, n] for outputs n0 ≤ n < n1 (n0 a multiple of 64) of a repacked ternary weight, int8 activations:
 *   out[t, n] = bias[n] + Σ_g f32(Σ_{k ∈ g} xq[t, k] · code[k, n]) · step · sx[t]
 * with step = scaleAt (a linear layer's (⌈K/G⌉, N) scales) or, when headScales, rowScaleAt (the head's
 * (V, ⌈C/G⌉)). acc: i32 scratch, 64 per block (⌈N/64⌉·64), each block using its own.
 */
export function matmulLut(tables: usize, sx: usize, T: i32, K: i32, N: i32, w: usize, scale: usize, groupSize: i32, headScales: bool, bias: usize, out: usize, acc: usize, n0: i32, n1: i32): void {
  const P = (K + 1) >> 1;
  const G = groupSize > 0 ? groupSize : K;
  const pairsPerGroup = (G + 1) >> 1;
  for (let t = 0; t < T; t++) {
    const tab = tables + ((<usize>t * <usize>P) << 5);
    const s = load<f32>(sx + (<usize>t << 2));
    const o = out + ((<usize>t * <usize>N) << 2);
    for (let c = n0; c < n1; c += BLOCK) {
      const wb = w + ((<usize>(c / BLOCK) * <usize>P) << 5);
      const accb = acc + (<usize>c << 2);
      for (let p0 = 0, g = 0; p0 < P; p0 += pairsPerGroup, g++) {
        memory.fill(accb, 0, BLOCK << 2);
        accumulateLut(tab, wb, p0, min(p0 + pairsPerGroup, P), accb);
        const end = min(c + BLOCK, n1);
        for (let n = c; n < end; n++) {
          const r = n - c;
          // accb holds output 4j + q at 16q + j (see the layout).
          const a = load<i32>(accb + (<usize>(((r & 3) << 4) + (r >> 2)) << 2));
          const step = headScales ? rowScaleAt(scale, groupSize, K, n, g) : scaleAt(scale, groupSize, g, N, n);
          const on = o + (<usize>n << 2);
          const base: f32 = g > 0 ? load<f32>(on) : bias != 0 ? load<f32>(bias + (<usize>n << 2)) : 0;
          store<f32>(on, base + <f32>a * step * s);
        }
      }
    }
  }
}

/** accb[16q + j] += Σ_{p0 ≤ p < p1} table_p[index of output 4j + q at pair p], for one block. */
function accumulateLut(tab: usize, wb: usize, p0: i32, p1: i32, accb: usize): void {
  if (!ASC_FEATURE_SIMD) {
    accumulateLutRef(tab, wb, p0, p1, accb);
    return;
  }
  const mask = i8x16.splat(0x0f);
  let p = p0;
  while (p < p1) {
    const pEnd = min(p + PAIRS_PER_WIDEN, p1);
    let a0 = i16x8.splat(0), a1 = i16x8.splat(0), a2 = i16x8.splat(0), a3 = i16x8.splat(0);
    let a4 = i16x8.splat(0), a5 = i16x8.splat(0), a6 = i16x8.splat(0), a7 = i16x8.splat(0);
    for (; p < pEnd; p++) {
      const tp = tab + (<usize>p << 5);
      const tl = v128.load(tp), th = v128.load(tp + 16);
      const wp = wb + (<usize>p << 5);
      const v0 = v128.load(wp), v1 = v128.load(wp + 16);
      const q0 = v128.and(v0, mask), q1 = v128.and(i16x8.shr_u(v0, 4), mask);
      const q2 = v128.and(v1, mask), q3 = v128.and(i16x8.shr_u(v1, 4), mask);
      let l = i8x16.swizzle(tl, q0), h = i8x16.swizzle(th, q0);
      a0 = i16x8.add(a0, i8x16.shuffle(l, h, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23));
      a1 = i16x8.add(a1, i8x16.shuffle(l, h, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31));
      l = i8x16.swizzle(tl, q1); h = i8x16.swizzle(th, q1);
      a2 = i16x8.add(a2, i8x16.shuffle(l, h, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23));
      a3 = i16x8.add(a3, i8x16.shuffle(l, h, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31));
      l = i8x16.swizzle(tl, q2); h = i8x16.swizzle(th, q2);
      a4 = i16x8.add(a4, i8x16.shuffle(l, h, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23));
      a5 = i16x8.add(a5, i8x16.shuffle(l, h, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31));
      l = i8x16.swizzle(tl, q3); h = i8x16.swizzle(th, q3);
      a6 = i16x8.add(a6, i8x16.shuffle(l, h, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23));
      a7 = i16x8.add(a7, i8x16.shuffle(l, h, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31));
    }
    widen(accb, a0, a1); widen(accb + 64, a2, a3); widen(accb + 128, a4, a5); widen(accb + 192, a6, a7);
  }
}

/** Scalar reference for accumulateLut: one lookup at a time, the table's two bytes joined as an i16. */
function accumulateLutRef(tab: usize, wb: usize, p0: i32, p1: i32, accb: usize): void {
  for (let p = p0; p < p1; p++) {
    const tp = tab + (<usize>p << 5);
    const wp = wb + (<usize>p << 5);
    for (let q = 0; q < 4; q++) {
      for (let j = 0; j < 16; j++) {
        const i = (<i32>load<u8>(wp + <usize>((q >> 1) * 16 + j)) >> ((q & 1) << 2)) & 0xf;
        const sum = <i32>load<u8>(tp + <usize>i) | (<i32>load<i8>(tp + 16 + <usize>i) << 8);
        const at = accb + (<usize>(16 * q + j) << 2);
        store<i32>(at, load<i32>(at) + sum);
      }
    }
  }
}

/** Adds the 16 i16 lanes of (lo, hi) to the 16 i32 at p. */
// @ts-ignore: decorator
@inline
function widen(p: usize, lo: v128, hi: v128): void {
  v128.store(p, i32x4.add(v128.load(p), i32x4.extend_low_i16x8_s(lo)));
  v128.store(p + 16, i32x4.add(v128.load(p + 16), i32x4.extend_high_i16x8_s(lo)));
  v128.store(p + 32, i32x4.add(v128.load(p + 32), i32x4.extend_low_i16x8_s(hi)));
  v128.store(p + 48, i32x4.add(v128.load(p + 48), i32x4.extend_high_i16x8_s(hi)));
}
