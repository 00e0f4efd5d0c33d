// lowbit's WebAssembly module: the kernels the runtime calls. Built twice by `npm run build`, with SIMD128
// (build/lowbit.simd.wasm) and without (build/lowbit.scalar.wasm). Each SIMD kernel is exported beside its
// scalar reference (…Ref); in the scalar build the plain names are the references themselves.

import * as mm from "./matmul";
import * as hd from "./head";
import * as ops from "./ops";
import * as lut from "./lut";
import * as pairs from "./pairs";

export { quantizeBlock, quantizeActivationRow } from "./quantize";
export { matmulQRef, matmulF32Ref } from "./matmul";
export { headQRef, headF32Ref, headPermute, embedRow } from "./head";
export { pairsBytes, repackPairs, pairsActivations } from "./pairs";
export { lutBytes, repackLutKN, repackLutVC, lutTables, embedRowLut } from "./lut";
export { attendRef, attentionRef, layerNorm, gelu, geluErf, addInPlace, quantizeActivationRows, argmax } from "./ops";
export { erf } from "./erf";

// Kernels that threads share take (part, parts) last: each of `parts` threads calls them with its own `part`
// and computes one slice of the outputs (columns of a linear layer, rows of the head), in whole blocks so
// that no two threads write the same output, accumulator or cache line of scratch. One thread: (0, 1).

/** First output of part `part` of `parts` when n outputs are split in whole multiples of `align`. */
// @ts-ignore: decorator
@inline
function partStart(n: i32, align: i32, part: i32, parts: i32): i32 {
  const units = (n + align - 1) / align;
  return min(n, <i32>(<i64>units * <i64>part / <i64>parts) * align);
}

export function matmulQ(xq: usize, sx: usize, T: i32, K: i32, N: i32, w: usize, bits: i32, scale: usize, groupSize: i32, bias: usize, out: usize, acc: usize, perm: usize, part: i32, parts: i32): void {
  if (ASC_FEATURE_SIMD) mm.matmulQ(xq, sx, T, K, N, w, bits, scale, groupSize, bias, out, acc, perm, partStart(N, 64, part, parts), partStart(N, 64, part + 1, parts));
  else if (part == 0) mm.matmulQRef(xq, sx, T, K, N, w, bits, scale, groupSize, bias, out, acc);
}

export function matmulQf32(x: usize, T: i32, K: i32, N: i32, w: usize, bits: i32, scale: usize, groupSize: i32, bias: usize, out: usize, accf: usize, part: i32, parts: i32): void {
  mm.matmulQf32(x, T, K, N, w, bits, scale, groupSize, bias, out, accf, partStart(N, 16, part, parts), partStart(N, 16, part + 1, parts));
}

export function matmulF32(x: usize, T: i32, K: i32, N: i32, w: usize, bias: usize, out: usize, part: i32, parts: i32): void {
  if (ASC_FEATURE_SIMD) mm.matmulF32(x, T, K, N, w, bias, out, partStart(N, 16, part, parts), partStart(N, 16, part + 1, parts));
  else if (part == 0) mm.matmulF32Ref(x, T, K, N, w, bias, out);
}

/** Ternary weights repacked by repackLutKN / repackLutVC (assembly/lut.ts); head ≠ 0 reads the head's (V, ⌈C/G⌉) scales. */
export function matmulLut(tables: usize, sx: usize, T: i32, K: i32, N: i32, w: usize, scale: usize, groupSize: i32, head: i32, bias: usize, out: usize, acc: usize, part: i32, parts: i32): void {
  lut.matmulLut(tables, sx, T, K, N, w, scale, groupSize, head != 0, bias, out, acc, partStart(N, 64, part, parts), partStart(N, 64, part + 1, parts));
}

/** 4- and 8-bit weights repacked by repackPairs (assembly/pairs.ts), activations from pairsActivations. */
export function matmulPairs(xp: usize, sx: usize, T: i32, K: i32, N: i32, w: usize, bits: i32, scale: usize, groupSize: i32, bias: usize, out: usize, acc: usize, part: i32, parts: i32): void {
  pairs.matmulPairs(xp, sx, T, K, N, w, bits, scale, groupSize, bias, out, acc, partStart(N, 64, part, parts), partStart(N, 64, part + 1, parts));
}

export function headQ(xq: usize, sx: f32, V: i32, C: i32, w: usize, bits: i32, scale: usize, groupSize: i32, out: usize, xperm: usize, part: i32, parts: i32): void {
  if (ASC_FEATURE_SIMD) hd.headQ(xq, sx, V, C, w, bits, scale, groupSize, out, xperm, partStart(V, 64, part, parts), partStart(V, 64, part + 1, parts));
  else if (part == 0) hd.headQRef(xq, sx, V, C, w, bits, scale, groupSize, out);
}

export function headQf32(x: usize, V: i32, C: i32, w: usize, bits: i32, scale: usize, groupSize: i32, out: usize, part: i32, parts: i32): void {
  hd.headQf32(x, V, C, w, bits, scale, groupSize, out, partStart(V, 64, part, parts), partStart(V, 64, part + 1, parts));
}

export function headF32(x: usize, V: i32, C: i32, w: usize, out: usize, part: i32, parts: i32): void {
  if (ASC_FEATURE_SIMD) hd.headF32(x, V, C, w, out, partStart(V, 64, part, parts), partStart(V, 64, part + 1, parts));
  else if (part == 0) hd.headF32Ref(x, V, C, w, out);
}

/**
 * attend split over threads by heads: part p takes its share of the NH heads and scores + p·S floats of
 * scratch (the caller sizes scores for parts · S).
 */
export function attendHeads(q: usize, qStride: i32, T: i32, C: i32, NH: i32, kc: usize, vc: usize, S: i32, causal: i32, out: usize, scores: usize, part: i32, parts: i32): void {
  const h0 = partStart(NH, 1, part, parts), h1 = partStart(NH, 1, part + 1, parts);
  const own = scores + ((<usize>part * <usize>S) << 2);
  if (ASC_FEATURE_SIMD) ops.attendHeads(q, qStride, T, C, NH, kc, vc, S, causal, out, own, h0, h1);
  else ops.attendHeadsRef(q, qStride, T, C, NH, kc, vc, S, causal, out, own, h0, h1);
}

/** gelu over part p's share of n floats (elementwise: any split gives the same floats). */
export function geluSlice(x: usize, n: i32, part: i32, parts: i32): void {
  const i0 = partStart(n, 16, part, parts);
  ops.gelu(x + (<usize>i0 << 2), partStart(n, 16, part + 1, parts) - i0);
}

/** geluErf over part p's share of n floats. */
export function geluErfSlice(x: usize, n: i32, part: i32, parts: i32): void {
  const i0 = partStart(n, 16, part, parts);
  ops.geluErf(x + (<usize>i0 << 2), partStart(n, 16, part + 1, parts) - i0);
}

export function attend(q: usize, qStride: i32, T: i32, C: i32, NH: i32, kc: usize, vc: usize, S: i32, causal: i32, out: usize, scores: usize): void {
  if (ASC_FEATURE_SIMD) ops.attend(q, qStride, T, C, NH, kc, vc, S, causal, out, scores);
  else ops.attendRef(q, qStride, T, C, NH, kc, vc, S, causal, out, scores);
}

export function attention(qkv: usize, T: i32, C: i32, NH: i32, kc: usize, vc: usize, P: i32, out: usize, scores: usize): void {
  if (ASC_FEATURE_SIMD) ops.attention(qkv, T, C, NH, kc, vc, P, out, scores);
  else ops.attentionRef(qkv, T, C, NH, kc, vc, P, out, scores);
}

// The host's buffers live in one bump-allocated region above the module's data, 16-byte aligned. Memory
// grows to exactly what is asked for (the stub runtime's allocator doubles it, which would overstate the
// runtime's footprint); nothing is freed: the host sizes everything once per model.
let top: usize = (__heap_base + 15) & ~(<usize>15);

/** Reserves `bytes` and returns their offset; aborts if WASM memory cannot grow that far. */
export function allocate(bytes: usize): usize {
  const start = top;
  const end = (start + bytes + 15) & ~(<usize>15);
  const pages = <i32>((end + 0xffff) >>> 16);
  const have = memory.size();
  if (pages > have && memory.grow(pages - have) < 0) abort("out of WASM memory");
  top = end;
  return start;
}

/**
 * Makes memory reach `bytes` past the allocations without allocating them, and returns where they start:
 * a staging area that the next allocate() reuses (a weight's file bytes on their way to being repacked).
 */
export function stage(bytes: usize): usize {
  const end = top + bytes;
  const pages = <i32>((end + 0xffff) >>> 16);
  const have = memory.size();
  if (pages > have && memory.grow(pages - have) < 0) abort("out of WASM memory");
  return top;
}

/** Bytes allocated so far, from offset 0 (the module's own data included). */
export function allocatedBytes(): usize {
  return top;
}

/** True when this build was compiled with SIMD128. */
export const simd: bool = ASC_FEATURE_SIMD;
