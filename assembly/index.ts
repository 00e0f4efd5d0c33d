// lowbit's WebAssembly module: the kernels the runtime calls. Built twice by `npm run build`, with SIMD128
// (build/lowbit.simd.wasm) and without (build/lowbit.scalar.wasm); ASC_FEATURE_SIMD selects variants.

export { quantizeBlock, quantizeActivationRow } from "./quantize";

/** Bump allocation from the stub runtime's heap: the host places its buffers here. */
export function allocate(bytes: usize): usize {
  return heap.alloc(bytes);
}

/** True when this build was compiled with SIMD128. */
export const simd: bool = ASC_FEATURE_SIMD;
