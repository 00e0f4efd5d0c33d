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
