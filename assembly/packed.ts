// Reading packed codes and scales as the ONNX file stores them: element i of a b-bit tensor is the
// two's-complement field at bit (i · b) mod 8 of byte ⌊i · b / 8⌋ (LSB first, docs/FORMAT.md).

/** Code of element i of a packed 2/4/8-bit tensor, sign-extended. */
// @ts-ignore: decorator
@inline
export function unpackCode(w: usize, bits: i32, i: i32): i32 {
  const bit = i * bits;
  const shift = 32 - bits;
  return ((<i32>load<u8>(w + <usize>(bit >>> 3)) >> (bit & 7)) << shift) >> shift;
}

/** Step of output column n in K-group g of a (K, N) weight: one scale, or scale[g, n] of (⌈K/G⌉, N). */
// @ts-ignore: decorator
@inline
export function scaleAt(scale: usize, groupSize: i32, g: i32, N: i32, n: i32): f32 {
  return groupSize > 0 ? load<f32>(scale + (<usize>(g * N + n) << 2)) : load<f32>(scale);
}

/** Step of row v, group g of a (V, C) embedding: one scale, or scale[v, g] of (V, ⌈C/G⌉). */
// @ts-ignore: decorator
@inline
export function rowScaleAt(scale: usize, groupSize: i32, C: i32, v: i32, g: i32): f32 {
  if (groupSize <= 0) return load<f32>(scale);
  const groups = (C + groupSize - 1) / groupSize;
  return load<f32>(scale + (<usize>(v * groups + g) << 2));
}

// ─── SIMD unpacking ─────────────────────────────────────────────────────────────────────────────
//
// Field f of every byte of v, as signed int8 codes. The field is shifted down with a 16-bit shift and
// masked (both native on x64 and Arm), then sign-extended by a 16-entry table lookup (i8x16.swizzle, one
// pshufb/tbl): WASM's i8x16.shl / i8x16.shr_s have no 8-bit hardware form and cost several instructions.

/** Two's-complement 2-bit field value → code: 0, 1, −2, −1. */
// @ts-ignore: decorator
@lazy const SIGN2: v128 = i8x16(0, 1, -2, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
/** Two's-complement 4-bit field value → code: 0…7, −8…−1. */
// @ts-ignore: decorator
@lazy const SIGN4: v128 = i8x16(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1);

/** Codes in bits 2f..2f+1 of each byte (2-bit packing: byte j holds elements 4j..4j+3). */
// @ts-ignore: decorator
@inline
export function field2(v: v128, f: i32): v128 {
  return i8x16.swizzle(SIGN2, v128.and(i16x8.shr_u(v, 2 * f), i8x16.splat(3)));
}

/** Codes in bits 4f..4f+3 of each byte (4-bit packing: byte j holds elements 2j, 2j+1). */
// @ts-ignore: decorator
@inline
export function field4(v: v128, f: i32): v128 {
  return i8x16.swizzle(SIGN4, v128.and(i16x8.shr_u(v, 4 * f), i8x16.splat(15)));
}

/** Bytes 0..7 of a and b interleaved (a0 b0 a1 b1 …): how the repacked layouts (lut.ts, pairs.ts) pair codes. */
// @ts-ignore: decorator
@inline
export function zipLow(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}

/** Bytes 8..15 of a and b interleaved (a8 b8 a9 b9 …). */
// @ts-ignore: decorator
@inline
export function zipHigh(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}
