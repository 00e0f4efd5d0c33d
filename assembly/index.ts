// lowbit's WebAssembly module: the kernels the runtime calls. Built twice by `npm run build`, with SIMD128
// (build/lowbit.simd.wasm) and without (build/lowbit.scalar.wasm). Each SIMD kernel is exported beside its
// scalar reference (…Ref); in the scalar build the plain names are the references themselves.

import * as mm from "./matmul";
import * as hd from "./head";
import * as ops from "./ops";

export { quantizeBlock, quantizeActivationRow } from "./quantize";
export { matmulQRef, matmulF32Ref, matmulQf32 } from "./matmul";
export { headQRef, headF32Ref, headQf32, embedRow } from "./head";
export { attentionRef, layerNorm, gelu, addInPlace, quantizeActivationRows, argmax } from "./ops";

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

export function attention(qkv: usize, T: i32, C: i32, NH: i32, kc: usize, vc: usize, P: i32, out: usize, scores: usize): void {
  if (ASC_FEATURE_SIMD) ops.attention(qkv, T, C, NH, kc, vc, P, out, scores);
  else ops.attentionRef(qkv, T, C, NH, kc, vc, P, out, scores);
}

/** Bump allocation from the stub runtime's heap: the host places its buffers here, 16-byte aligned. */
export function allocate(bytes: usize): usize {
  return heap.alloc(bytes);
}

/** True when this build was compiled with SIMD128. */
export const simd: bool = ASC_FEATURE_SIMD;
