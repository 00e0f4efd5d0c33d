// The output head and the embedding: kernels over the (V, C) word embedding, stored row by row, packed
// at 2/4/8 bits or plain f32. Tied GPT-2 reads the same packed rows for both.
//
//   embedRow:  x[c] = code[v, c] · step[v, g(c)]                          (one token's embedding row)
//   headQ:     logits[v] = Σ_g f32(Σ_{c ∈ g} xq[c] · code[v, c]) · step[v, g] · sx   (int8 activations)
//   headF32:   logits[v] = Σ_c x[c] · W[v, c]                              (fp32 embedding)
//
// headQ's f32 order (logit = 0, then logit + (f32(Σ) · step) · sx group by group) is repeated by
// src/reference/common.ts: change both or neither.
//
// Letters: V vocabulary rows, C features per row, G features per scale group.

import { field2, rowScaleAt, unpackCode } from "./packed";

export function embedRow(v: i32, C: i32, w: usize, bits: i32, scale: usize, groupSize: i32, out: usize): void {
  if (bits == 32) {
    memory.copy(out, w + ((<usize>v * <usize>C) << 2), <usize>C << 2);
    return;
  }
  const G = groupSize > 0 ? groupSize : C;
  for (let c = 0; c < C; c++) {
    store<f32>(out + (<usize>c << 2), <f32>unpackCode(w, bits, v * C + c) * rowScaleAt(scale, groupSize, C, v, c / G));
  }
}

/** Scalar reference for headQ. */
export function headQRef(xq: usize, sx: f32, V: i32, C: i32, w: usize, bits: i32, scale: usize, groupSize: i32, out: usize): void {
  headRowsRef(xq, sx, C, w, bits, scale, groupSize, out, 0, V);
}

function headRowsRef(xq: usize, sx: f32, C: i32, w: usize, bits: i32, scale: usize, groupSize: i32, out: usize, v0: i32, v1: i32): void {
  const G = groupSize > 0 ? groupSize : C;
  for (let v = v0; v < v1; v++) {
    let logit: f32 = 0;
    for (let c0 = 0, g = 0; c0 < C; c0 += G, g++) {
      logit += <f32>dotRowRef(xq, w, bits, v * C, c0, min(c0 + G, C)) * rowScaleAt(scale, groupSize, C, v, g) * sx;
    }
    store<f32>(out + (<usize>v << 2), logit);
  }
}

function dotRowRef(xq: usize, w: usize, bits: i32, rowStart: i32, c0: i32, c1: i32): i32 {
  let s = 0;
  for (let c = c0; c < c1; c++) s += <i32>load<i8>(xq + <usize>c) * unpackCode(w, bits, rowStart + c);
  return s;
}

/** Whether headQ's SIMD path takes this shape: byte-aligned rows, groups of whole chunks. */
// @ts-ignore: decorator
@inline
function headSimdOk(C: i32, bits: i32, groupSize: i32): bool {
  const chunk = bits == 2 ? 64 : bits == 4 ? 32 : 16;
  return (C * bits) % 8 == 0 && (groupSize <= 0 || groupSize % chunk == 0);
}

/**
 * Per-token preparation for headQ, run once before the rows are split over threads. 2 bits: xperm (C bytes)
 * = xq in the lane order of the unpacked fields, xperm[c + 16f + j] = xq[c + 4j + f]. 4 bits: the same order
 * as i16 (2C bytes), then at xperm + 2C one i32 per scale group: Σ xq over the group's columns that the SIMD
 * path takes (c < 32·⌊C/32⌋), the correction for the biased nibbles of dotChunksQ4.
 */
export function headPermute(xq: usize, C: i32, bits: i32, groupSize: i32, xperm: usize): void {
  if (bits == 8) return;
  const chunk = bits == 2 ? 64 : 32;
  const fields = 8 / bits;
  const whole = (C / chunk) * chunk;
  for (let c = 0; c < whole; c += chunk) {
    for (let f = 0; f < fields; f++) {
      for (let j = 0; j < 16; j++) {
        const x = load<i8>(xq + <usize>(c + fields * j + f));
        if (bits == 2) store<i8>(xperm + <usize>(c + 16 * f + j), x);
        else store<i16>(xperm + (<usize>(c + 16 * f + j) << 1), <i16>x);
      }
    }
  }
  if (bits == 4) {
    const G = groupSize > 0 ? groupSize : C;
    const sums = xperm + (<usize>C << 1);
    for (let c0 = 0, g = 0; c0 < C; c0 += G, g++) {
      let s = 0;
      for (let c = c0; c < min(c0 + G, whole); c++) s += <i32>load<i8>(xq + <usize>c);
      store<i32>(sums + (<usize>g << 2), s);
    }
  }
}

/**
 * SIMD headQ, for rows v0 ≤ v < v1, with xperm from headPermute. Whole vectors need byte-aligned rows and
 * groups that hold whole chunks (64 codes at 2 bits, 32 at 4, 16 at 8); otherwise this falls back to the
 * reference.
 */
export function headQ(xq: usize, sx: f32, V: i32, C: i32, w: usize, bits: i32, scale: usize, groupSize: i32, out: usize, xperm: usize, v0: i32, v1: i32): void {
  const chunk = bits == 2 ? 64 : bits == 4 ? 32 : 16;
  const G = groupSize > 0 ? groupSize : C;
  if (!headSimdOk(C, bits, groupSize)) {
    headRowsRef(xq, sx, C, w, bits, scale, groupSize, out, v0, v1);
    return;
  }
  const whole = (C / chunk) * chunk;
  const rowBytes = <usize>((C * bits) >> 3);
  for (let v = v0; v < v1; v++) {
    const row = w + <usize>v * rowBytes;
    let logit: f32 = 0;
    for (let c0 = 0, g = 0; c0 < C; c0 += G, g++) {
      const c1 = min(c0 + G, C);
      const simdEnd = min(c1, whole);
      let s = 0;
      if (bits == 2) s = dotChunksQ2(xperm, row, c0, simdEnd);
      else if (bits == 4) s = dotChunksQ4(xperm, row, c0, simdEnd) - (load<i32>(xperm + (<usize>C << 1) + (<usize>g << 2)) << 3);
      else s = dotChunksQ8(xq, row, c0, simdEnd);
      if (simdEnd < c1) s += dotRowRef(xq, w, bits, v * C, simdEnd, c1);
      logit += <f32>s * rowScaleAt(scale, groupSize, C, v, g) * sx;
    }
    store<f32>(out + (<usize>v << 2), logit);
  }
}

// 2-bit: per 64 codes, four fields of 16 lanes; products ≤ 127, so each i16 lane (4 products a chunk)
// takes 32 chunks before it is widened.
function dotChunksQ2(xperm: usize, row: usize, c0: i32, c1: i32): i32 {
  let total = i32x4.splat(0);
  let c = c0;
  while (c < c1) {
    const cEnd = min(c + 32 * 64, c1);
    let lo = i16x8.splat(0), hi = i16x8.splat(0);
    for (; c < cEnd; c += 64) {
      const v = v128.load(row + (<usize>c >> 2));
      const x = xperm + <usize>c;
      const f0 = field2(v, 0), x0 = v128.load(x);
      const f1 = field2(v, 1), x1 = v128.load(x + 16);
      const f2 = field2(v, 2), x2 = v128.load(x + 32);
      const f3 = field2(v, 3), x3 = v128.load(x + 48);
      lo = i16x8.add(lo, i16x8.add(i16x8.add(i16x8.extmul_low_i8x16_s(f0, x0), i16x8.extmul_low_i8x16_s(f1, x1)), i16x8.add(i16x8.extmul_low_i8x16_s(f2, x2), i16x8.extmul_low_i8x16_s(f3, x3))));
      hi = i16x8.add(hi, i16x8.add(i16x8.add(i16x8.extmul_high_i8x16_s(f0, x0), i16x8.extmul_high_i8x16_s(f1, x1)), i16x8.add(i16x8.extmul_high_i8x16_s(f2, x2), i16x8.extmul_high_i8x16_s(f3, x3))));
    }
    total = i32x4.add(total, i32x4.add(i32x4.extadd_pairwise_i16x8_s(lo), i32x4.extadd_pairwise_i16x8_s(hi)));
  }
  return horizontalSum(total);
}

// 4-bit: per 32 codes, two fields, each nibble v read as the unsigned c + 8 = v XOR 8 (so no sign
// extension), which makes the sum Σ x·c + 8·Σ x: the caller subtracts 8·Σ x (headPermute's group sums).
// Nibbles widen to i16 and meet the i16 activations in i32x4.dot_i16x8_s (one pmaddwd; the widening
// multiplies it replaces take several instructions each on x64): exact i32 sums.
function dotChunksQ4(xperm: usize, row: usize, c0: i32, c1: i32): i32 {
  const mask = i8x16.splat(0x0f);
  let s0 = i32x4.splat(0), s1 = i32x4.splat(0);
  for (let c = c0; c < c1; c += 32) {
    const v = v128.xor(v128.load(row + (<usize>c >> 1)), i8x16.splat(<i8>0x88));
    const x = xperm + (<usize>c << 1);
    const f0 = v128.and(v, mask), f1 = v128.and(i16x8.shr_u(v, 4), mask);
    s0 = i32x4.add(s0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(f0), v128.load(x)));
    s1 = i32x4.add(s1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(f0), v128.load(x, 16)));
    s0 = i32x4.add(s0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(f1), v128.load(x, 32)));
    s1 = i32x4.add(s1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(f1), v128.load(x, 48)));
  }
  return horizontalSum(i32x4.add(s0, s1));
}

// 8-bit: codes and activations widened to i16 and paired by i32x4.dot_i16x8_s.
function dotChunksQ8(xq: usize, row: usize, c0: i32, c1: i32): i32 {
  let total = i32x4.splat(0);
  for (let c = c0; c < c1; c += 16) {
    const v = v128.load(row + <usize>c);
    const x = v128.load(xq + <usize>c);
    total = i32x4.add(total, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(v), i16x8.extend_low_i8x16_s(x)));
    total = i32x4.add(total, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(v), i16x8.extend_high_i8x16_s(x)));
  }
  return horizontalSum(total);
}

// @ts-ignore: decorator
@inline
function horizontalSum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/** Scalar reference for headF32. */
export function headF32Ref(x: usize, V: i32, C: i32, w: usize, out: usize): void {
  for (let v = 0; v < V; v++) {
    let s: f32 = 0;
    const row = w + ((<usize>v * <usize>C) << 2);
    for (let c = 0; c < C; c++) s += load<f32>(x + (<usize>c << 2)) * load<f32>(row + (<usize>c << 2));
    store<f32>(out + (<usize>v << 2), s);
  }
}

/**
 * SIMD headF32: four independent f32x4 sums per row (so the adds need not wait on each other), added at the
 * end: a different order from the reference, equal within rounding.
 */
export function headF32(x: usize, V: i32, C: i32, w: usize, out: usize, v0: i32, v1: i32): void {
  const whole = (C >> 4) << 4;
  for (let v = v0; v < v1; v++) {
    const row = w + ((<usize>v * <usize>C) << 2);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let c = 0; c < whole; c += 16) {
      const p = <usize>c << 2;
      a0 = f32x4.add(a0, f32x4.mul(v128.load(x + p), v128.load(row + p)));
      a1 = f32x4.add(a1, f32x4.mul(v128.load(x + p + 16), v128.load(row + p + 16)));
      a2 = f32x4.add(a2, f32x4.mul(v128.load(x + p + 32), v128.load(row + p + 32)));
      a3 = f32x4.add(a3, f32x4.mul(v128.load(x + p + 48), v128.load(row + p + 48)));
    }
    const acc = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
    let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
    for (let c = whole; c < C; c++) s += load<f32>(x + (<usize>c << 2)) * load<f32>(row + (<usize>c << 2));
    store<f32>(out + (<usize>v << 2), s);
  }
}

/** f32 activations against packed rows (activation_bits = 32), rows v0 ≤ v < v1. Scalar: the non-default A32 path. */
export function headQf32(x: usize, V: i32, C: i32, w: usize, bits: i32, scale: usize, groupSize: i32, out: usize, v0: i32, v1: i32): void {
  const G = groupSize > 0 ? groupSize : C;
  for (let v = v0; v < v1; v++) {
    let logit: f32 = 0;
    for (let c0 = 0, g = 0; c0 < C; c0 += G, g++) {
      let s: f32 = 0;
      for (let c = c0; c < min(c0 + G, C); c++) s += load<f32>(x + (<usize>c << 2)) * <f32>unpackCode(w, bits, v * C + c);
      logit += s * rowScaleAt(scale, groupSize, C, v, g);
    }
    store<f32>(out + (<usize>v << 2), logit);
  }
}
