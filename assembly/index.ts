// lowbit's WebAssembly module: the kernels the runtime calls. Built twice by `npm run build`, with SIMD128
// (build/lowbit.simd.wasm) and without (build/lowbit.scalar.wasm). Each SIMD kernel is exported beside its
// scalar reference (…Ref); in the scalar build the plain names are the references themselves.

import * as mm from "./matmul";
import * as hd from "./head";
import * as ops from "./ops";

export { quantizeBlock, quantizeActivationRow } from "./quantize";
export { matmulQRef, matmulF32Ref, matmulQf32 } from "./matmul";
export { headQRef, headF32Ref, headQf32, embedRow } from "./head";
export { attendRef, attentionRef, layerNorm, gelu, geluErf, addInPlace, quantizeActivationRows, argmax } from "./ops";
export { erf } from "./erf";

export function matmulQ(xq: usize, sx: usize, T: i32, K: i32, N: i32, w: usize, bits: i32, scale: usize, groupSize: i32, bias: usize, out: usize, acc: usize, perm: usize): void {
  if (ASC_FEATURE_SIMD) mm.matmulQ(xq, sx, T, K, N, w, bits, scale, groupSize, bias, out, acc, perm);
  else mm.matmulQRef(xq, sx, T, K, N, w, bits, scale, groupSize, bias, out, acc);
}

export function matmulF32(x: usize, T: i32, K: i32, N: i32, w: usize, bias: usize, out: usize): void {
  if (ASC_FEATURE_SIMD) mm.matmulF32(x, T, K, N, w, bias, out);
  else mm.matmulF32Ref(x, T, K, N, w, bias, out);
}

export function headQ(xq: usize, sx: f32, V: i32, C: i32, w: usize, bits: i32, scale: usize, groupSize: i32, out: usize, xperm: usize): void {
  if (ASC_FEATURE_SIMD) hd.headQ(xq, sx, V, C, w, bits, scale, groupSize, out, xperm);
  else hd.headQRef(xq, sx, V, C, w, bits, scale, groupSize, out);
}

export function headF32(x: usize, V: i32, C: i32, w: usize, out: usize): void {
  if (ASC_FEATURE_SIMD) hd.headF32(x, V, C, w, out);
  else hd.headF32Ref(x, V, C, w, out);
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

/** Bytes allocated so far, from offset 0 (the module's own data included). */
export function allocatedBytes(): usize {
  return top;
}

/** True when this build was compiled with SIMD128. */
export const simd: bool = ASC_FEATURE_SIMD;
