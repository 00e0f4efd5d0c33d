// Instantiates lowbit's WebAssembly kernels (assembly/, built by `npm run build`) from bytes the host
// supplies, and picks the SIMD128 build where the engine validates it. No Node built-ins: the same code
// runs in browsers.

/** The smallest module that uses SIMD128: () -> v128 { i8x16.splat(i32.const 0) }. */
const SIMD_PROBE = Uint8Array.of(0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0, 10, 8, 1, 6, 0, 0x41, 0, 0xfd, 0x0f, 0x0b);

export type KernelVariant = "simd" | "scalar";

export function simdSupported(): boolean {
  return WebAssembly.validate(SIMD_PROBE);
}

export function preferredVariant(): KernelVariant {
  return simdSupported() ? "simd" : "scalar";
}

/** File name of a build under build/. */
export function kernelFileName(variant: KernelVariant): string {
  return `lowbit.${variant}.wasm`;
}

export interface Kernels {
  variant: KernelVariant;
  memory: WebAssembly.Memory;
  /** Bump-allocates `bytes` in WASM memory; returns the byte offset. */
  allocate(bytes: number): number;
  /** Int8 codes of `count` f32 weights (stride in elements) with clip α and k levels; returns the step. */
  quantizeBlock(src: number, dst: number, count: number, stride: number, alpha: number, k: number): number;
  /** Int8 codes of one activation row; returns its scale max|x| / 127. */
  quantizeActivationRow(src: number, dst: number, n: number): number;
}

export async function instantiateKernels(wasm: BufferSource, variant: KernelVariant): Promise<Kernels> {
  const { instance } = await WebAssembly.instantiate(wasm, {
    env: {
      abort: (_msg: number, _file: number, line: number, column: number) => {
        throw new Error(`lowbit kernel aborted at line ${line}:${column}`);
      },
    },
  });
  const e = instance.exports as unknown as Omit<Kernels, "variant" | "allocate"> & { allocate(bytes: number): number; simd: WebAssembly.Global };
  if (Boolean(e.simd.value) !== (variant === "simd")) throw new Error(`lowbit kernels: expected the ${variant} build`);
  return { variant, memory: e.memory, allocate: (b) => e.allocate(b) >>> 0, quantizeBlock: e.quantizeBlock, quantizeActivationRow: e.quantizeActivationRow };
}
