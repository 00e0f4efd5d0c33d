// Instantiates lowbit's WebAssembly kernels (assembly/, built by `npm run build`) from bytes the host
// supplies or from the copies built into the package (embeddedKernels), and picks the SIMD128 build where
// the engine validates it. No Node built-ins: the same code runs in browsers. Pointers are byte offsets into
// `memory`; sizes are element counts.

import { LowbitError } from "../errors.js";

/** The smallest module that uses SIMD128: () -> v128 { i8x16.splat(i32.const 0) }. */
const SIMD_PROBE = Uint8Array.of(0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0, 10, 8, 1, 6, 0, 0x41, 0, 0xfd, 0x0f, 0x0b);

export type KernelVariant = "simd" | "scalar";

export function simdSupported(): boolean {
  return WebAssembly.validate(SIMD_PROBE);
}

export function preferredVariant(): KernelVariant {
  return simdSupported() ? "simd" : "scalar";
}

/**
 * File name of a build under build/. `threaded`: the threads build (SIMD only: lowbit.simd-threads.wasm), which
 * imports a shared memory instead of owning one (src/runtime/threads.ts).
 */
export function kernelFileName(variant: KernelVariant, threaded = false): string {
  return threaded ? `lowbit.${variant}-threads.wasm` : `lowbit.${variant}.wasm`;
}

// ---------------------------------------------------------------------------------------------------------
// Kernels built into the package
//
// scripts/embed_wasm.ts writes each build under build/ as a module of base64 text,
// src/runtime/embedded_kernels/<module>.ts (generated, git-ignored; tsc compiles it into dist/). A module
// rather than a .wasm file beside this one: nothing is resolved at run time, so an installed package and
// any bundle of it (esbuild, Vite, webpack) have their kernels without an asset to copy or a URL relative
// to import.meta.url, which bundling breaks. Each build is its own literal import(): bundlers follow those
// (Vite and esbuild's splitting make each a chunk), and a host decodes only the build it runs.

/** The generated modules, by build: scripts/embed_wasm.ts writes one per row. */
export const EMBEDDED_KERNEL_MODULES = [
  { module: "simd", variant: "simd", threaded: false },
  { module: "scalar", variant: "scalar", threaded: false },
  { module: "simd_threads", variant: "simd", threaded: true },
] as const satisfies readonly { module: string; variant: KernelVariant; threaded: boolean }[];

/** A generated module's exports (scripts/embed_wasm.ts). */
interface EmbeddedKernelModule {
  WASM_BASE64: string;
  WASM_SHA256: string;
}

/**
 * The package's own copy of a build (`threaded`: the threads build, SIMD only), as bytes. Fails with one
 * line naming the fix where the generated module is missing (tsc ran without scripts/embed_wasm.ts).
 */
export async function embeddedKernels(variant: KernelVariant, threaded = false): Promise<Uint8Array> {
  if (threaded && variant !== "simd") throw new Error(`lowbit kernels: there is no threads build of the ${variant} kernels`);
  const module = threaded ? "simd_threads" : variant;
  let embedded: EmbeddedKernelModule;
  try {
    // Literal specifiers, one per build, for the bundlers' sake (see above): not a template.
    embedded = threaded ? await import("./embedded_kernels/simd_threads.js")
      : variant === "simd" ? await import("./embedded_kernels/simd.js")
      : await import("./embedded_kernels/scalar.js");
  } catch (err) {
    throw new LowbitError("the built-in WASM kernels are missing", {
      file: `lowbit's runtime/embedded_kernels/${module}.js`, found: (err as Error).message ?? String(err),
      hint: "`npm run build` writes it (scripts/embed_wasm.ts); or pass the kernels option",
    });
  }
  return base64Bytes(embedded.WASM_BASE64);
}

/**
 * Base64 to bytes through atob, which Node (16+) and browsers both have; Node's Buffer is not in browsers,
 * and Uint8Array.fromBase64 is not in Node 20. A loop over ~32 KB of text, once per load.
 */
function base64Bytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

type Ptr = number;

/** The module's exports (assembly/index.ts). Shapes are documented there (assembly/ops.ts for the block ops). */
export interface KernelExports {
  memory: WebAssembly.Memory;
  allocate(bytes: number): Ptr;
  allocatedBytes(): number;
  /** Memory for `bytes` past the allocations, not allocated: the next allocate() reuses it. */
  stage(bytes: number): Ptr;
  quantizeBlock(src: Ptr, dst: Ptr, count: number, stride: number, alpha: number, k: number): number;
  quantizeActivationRow(src: Ptr, dst: Ptr, n: number): number;
  quantizeActivationRows(x: Ptr, xq: Ptr, sx: Ptr, T: number, K: number): void;
  // Kernels that threads share take (part, parts) last and compute one slice of the outputs; one thread
  // passes (0, 1). See assembly/index.ts.
  matmulQ(xq: Ptr, sx: Ptr, T: number, K: number, N: number, w: Ptr, bits: number, scale: Ptr, groupSize: number, bias: Ptr, out: Ptr, acc: Ptr, perm: Ptr, part: number, parts: number): void;
  matmulQRef(xq: Ptr, sx: Ptr, T: number, K: number, N: number, w: Ptr, bits: number, scale: Ptr, groupSize: number, bias: Ptr, out: Ptr, acc: Ptr): void;
  matmulQf32(x: Ptr, T: number, K: number, N: number, w: Ptr, bits: number, scale: Ptr, groupSize: number, bias: Ptr, out: Ptr, accf: Ptr, part: number, parts: number): void;
  matmulF32(x: Ptr, T: number, K: number, N: number, w: Ptr, bias: Ptr, out: Ptr, part: number, parts: number): void;
  matmulF32Ref(x: Ptr, T: number, K: number, N: number, w: Ptr, bias: Ptr, out: Ptr): void;
  /** Ternary lookup-table product (assembly/lut.ts) over weights repacked by repackLutKN / repackLutVC; head ≠ 0 reads (V, ⌈C/G⌉) scales. acc: ⌈N/64⌉·64 i32. */
  matmulLut(tables: Ptr, sx: Ptr, T: number, K: number, N: number, w: Ptr, scale: Ptr, groupSize: number, head: number, bias: Ptr, out: Ptr, acc: Ptr, part: number, parts: number): void;
  /** tables (T, ⌈K/2⌉, 32 bytes) of xq (T, K) for matmulLut. */
  lutTables(xq: Ptr, T: number, K: number, tables: Ptr): void;
  lutBytes(K: number, N: number): number;
  /** 0, or 1 when a code is −2 (not ternary; dst is then unusable). */
  repackLutKN(src: Ptr, K: number, N: number, dst: Ptr): number;
  repackLutVC(src: Ptr, V: number, C: number, dst: Ptr): number;
  embedRowLut(v: number, C: number, w: Ptr, scale: Ptr, groupSize: number, out: Ptr): void;
  embedRow(v: number, C: number, w: Ptr, bits: number, scale: Ptr, groupSize: number, out: Ptr): void;
  /** Per-token preparation for headQ (assembly/head.ts): xperm holds 6·C bytes. */
  headPermute(xq: Ptr, C: number, bits: number, groupSize: number, xperm: Ptr): void;
  /** 4- and 8-bit products over weights repacked by repackPairs (assembly/pairs.ts); xp from pairsActivations. acc: ⌈N/64⌉·64 i32. */
  matmulPairs(xp: Ptr, sx: Ptr, T: number, K: number, N: number, w: Ptr, bits: number, scale: Ptr, groupSize: number, bias: Ptr, out: Ptr, acc: Ptr, part: number, parts: number): void;
  /** xp (T, ⌈K/2⌉) i32 of xq (T, K) for matmulPairs. */
  pairsActivations(xq: Ptr, T: number, K: number, xp: Ptr): void;
  pairsBytes(K: number, N: number, bits: number): number;
  repackPairs(src: Ptr, K: number, N: number, bits: number, dst: Ptr): void;
  headQ(xq: Ptr, sx: number, V: number, C: number, w: Ptr, bits: number, scale: Ptr, groupSize: number, out: Ptr, xperm: Ptr, part: number, parts: number): void;
  headQRef(xq: Ptr, sx: number, V: number, C: number, w: Ptr, bits: number, scale: Ptr, groupSize: number, out: Ptr): void;
  headQf32(x: Ptr, V: number, C: number, w: Ptr, bits: number, scale: Ptr, groupSize: number, out: Ptr, part: number, parts: number): void;
  headF32(x: Ptr, V: number, C: number, w: Ptr, out: Ptr, part: number, parts: number): void;
  headF32Ref(x: Ptr, V: number, C: number, w: Ptr, out: Ptr): void;
  /** eps is an f64 (the config's value as is): src/reference/common.ts uses the same. */
  layerNorm(x: Ptr, T: number, C: number, gain: Ptr, bias: Ptr, eps: number, out: Ptr): void;
  /** GPT-2's tanh GELU in place over n floats. */
  gelu(x: Ptr, n: number): void;
  /** Exact GELU 0.5 v (1 + erf(v / √2)) in place over n floats (BART's "gelu"); src/reference/erf.ts's geluErf bit for bit. */
  geluErf(x: Ptr, n: number): void;
  /** erf of an f64 (assembly/erf.ts), exported for tests: equal bit for bit to src/reference/erf.ts's erf. */
  erf(x: number): number;
  addInPlace(dst: Ptr, src: Ptr, n: number): void;
  /**
   * Attention of T query rows over S cached rows. q: T rows, row t at q + 4·t·qStride bytes (qStride = 3C for
   * GPT-2's fused qkv, C for a separate query); kc, vc (≥ S, C); out (T, C); scores: S floats of scratch.
   * HS = C / NH. causal ≠ 0: the last T cache rows are the T queries' own and token t sees rows 0..S−T+t
   * (needs S ≥ T); causal = 0: every token sees all S rows (encoder self-attention, cross-attention).
   */
  attend(q: Ptr, qStride: number, T: number, C: number, NH: number, kc: Ptr, vc: Ptr, S: number, causal: number, out: Ptr, scores: Ptr): void;
  attendRef(q: Ptr, qStride: number, T: number, C: number, NH: number, kc: Ptr, vc: Ptr, S: number, causal: number, out: Ptr, scores: Ptr): void;
  /** attend split by heads over threads: scores holds parts · S floats, part p using its own S. */
  attendHeads(q: Ptr, qStride: number, T: number, C: number, NH: number, kc: Ptr, vc: Ptr, S: number, causal: number, out: Ptr, scores: Ptr, part: number, parts: number): void;
  /** gelu / geluErf over part p's share of n floats. */
  geluSlice(x: Ptr, n: number, part: number, parts: number): void;
  geluErfSlice(x: Ptr, n: number, part: number, parts: number): void;
  /** GPT-2's causal attention: attend(qkv, 3C, T, C, NH, kc, vc, P + T, 1, out, scores); qkv (T, 3C), kc/vc hold P + T rows. */
  attention(qkv: Ptr, T: number, C: number, NH: number, kc: Ptr, vc: Ptr, P: number, out: Ptr, scores: Ptr): void;
  attentionRef(qkv: Ptr, T: number, C: number, NH: number, kc: Ptr, vc: Ptr, P: number, out: Ptr, scores: Ptr): void;
  argmax(x: Ptr, n: number): number;
}

export interface Kernels extends KernelExports {
  variant: KernelVariant;
  /** Runs the kernels that threads share: on this thread, or over a worker pool (src/runtime/threads.ts). */
  runner: KernelRunner;
  /**
   * Whether weights are repacked at load for the faster kernels: ternary (2-bit) weights for the
   * lookup-table kernel (assembly/lut.ts), 4- and 8-bit ones for the pairs kernel (assembly/pairs.ts). On
   * by default in the SIMD build; off keeps the file's layout and the unpacking kernels (benchmarks compare
   * the two).
   */
  lookupTables: boolean;
}

/** Kernels that threads share (their last two arguments are part, parts). */
export type SharedKernel = "matmulQ" | "matmulQf32" | "matmulF32" | "matmulLut" | "matmulPairs" | "headQ" | "headQf32" | "headF32" | "attendHeads" | "geluSlice" | "geluErfSlice";

export interface KernelRunner {
  readonly threads: number;
  /** Runs kernel(...args, part, parts) for every part, and returns when all are done. */
  run(kernel: SharedKernel, args: number[]): void;
}

/** The runner without threads: the whole product on the calling thread. */
export function singleThread(e: Pick<KernelExports, SharedKernel>): KernelRunner {
  return { threads: 1, run: (kernel, args) => (e[kernel] as (...a: number[]) => void)(...args, 0, 1) };
}

/** Raised when the kernels cannot get the memory they need (WASM memory is limited to 4 GiB). */
export class KernelAbort extends Error {}

/** wasm32 addresses at most 4 GiB. */
export const WASM_MEMORY_MAX_BYTES = 2 ** 32;

/**
 * Instantiates a build. `memoryLimitBytes` caps what allocate() may reach (a browser tab may want less
 * than the 4 GiB wasm32 allows); past it, allocate() throws a KernelAbort, as when the engine refuses to grow.
 * `memory`: the shared memory the threads build imports (src/runtime/threads.ts makes it); the other builds
 * own theirs.
 */
export async function instantiateKernels(wasm: BufferSource | WebAssembly.Module, variant: KernelVariant, memoryLimitBytes = WASM_MEMORY_MAX_BYTES, memory?: WebAssembly.Memory): Promise<Kernels> {
  const imports = {
    env: {
      abort: (_msg: number, _file: number, line: number, column: number) => {
        throw new KernelAbort(`lowbit kernel aborted at ${line}:${column} (out of WASM memory?)`);
      },
      ...(memory !== undefined ? { memory } : {}),
    },
  };
  let instance: WebAssembly.Instance;
  try {
    instance = wasm instanceof WebAssembly.Module
      ? await WebAssembly.instantiate(wasm, imports)
      : (await WebAssembly.instantiate(wasm, imports)).instance;
  } catch (err) {
    if (memory === undefined && err instanceof WebAssembly.LinkError && /memory/.test(err.message)) {
      throw new Error("lowbit kernels: this is the threads build (it imports shared memory); pass it as the threadKernels option, not kernels");
    }
    throw err;
  }
  const e = instance.exports as unknown as KernelExports & { simd: WebAssembly.Global; start?: () => void };
  if (Boolean(e.simd.value) !== (variant === "simd")) throw new Error(`lowbit kernels: expected the ${variant} build`);
  // The threads build exports its start function (the erf tables, the allocator's base) rather than running
  // it at instantiation, so that the workers' instances over the same memory never run it: only this one does.
  e.start?.();
  const checkLimit = (bytes: number): void => {
    const wanted = e.allocatedBytes() + bytes;
    if (wanted > memoryLimitBytes) {
      throw new KernelAbort(`WASM memory would reach ${wanted} bytes, over the limit of ${memoryLimitBytes}`);
    }
  };
  const allocate = (bytes: number): number => {
    checkLimit(bytes);
    return e.allocate(bytes) >>> 0;
  };
  const stage = (bytes: number): number => {
    checkLimit(bytes);
    return e.stage(bytes) >>> 0;
  };
  return Object.assign(Object.create(null) as object, e, { variant, allocate, stage, runner: singleThread(e), lookupTables: variant === "simd" }) as Kernels;
}

/**
 * WebAssembly.compile, once per process for the same bytes: every model instantiates its own instance (its
 * own memory) from the one module. Keyed by content, so a rebuilt .wasm at the same path is compiled anew.
 */
export const compileKernels: (wasm: BufferSource) => Promise<WebAssembly.Module> = (() => {
  const KEEP = 4; // builds kept (simd, scalar, and a rebuilt one or two)
  const compiled: { bytes: Uint8Array; module: Promise<WebAssembly.Module> }[] = [];
  const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
    if (a.byteLength !== b.byteLength) return false;
    for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
    return true;
  };
  return (wasm: BufferSource) => {
    const bytes = wasm instanceof Uint8Array ? wasm : ArrayBuffer.isView(wasm) ? new Uint8Array(wasm.buffer, wasm.byteOffset, wasm.byteLength) : new Uint8Array(wasm);
    const hit = compiled.find((c) => sameBytes(c.bytes, bytes));
    if (hit !== undefined) return hit.module;
    const entry = { bytes: bytes.slice(), module: WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>) };
    compiled.push(entry);
    if (compiled.length > KEEP) compiled.shift();
    // A module that does not compile is not kept: the next call reports it again.
    entry.module.catch(() => {
      const at = compiled.indexOf(entry);
      if (at >= 0) compiled.splice(at, 1);
    });
    return entry.module;
  };
})();
