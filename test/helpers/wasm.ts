// Loads the built kernels in Node and moves arrays in and out of WASM memory for kernel tests.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { instantiateKernels, kernelFileName, type KernelVariant, type Kernels } from "../../src/runtime/kernels.js";
import { ROOT } from "./fixtures.js";
import { seededRandom } from "../../src/runtime/sampling.js";

/** A seeded PRNG so every run checks the same (random-looking) inputs. */
export const rng = seededRandom;

export async function loadKernels(variant: KernelVariant): Promise<Kernels> {
  const path = join(ROOT, "build", kernelFileName(variant));
  assert.ok(existsSync(path), `${path} is missing: run \`npm run build\``);
  return instantiateKernels(readFileSync(path), variant);
}

/** Copies typed arrays into fresh WASM allocations and reads results back (views are re-made after growth). */
export class Arena {
  constructor(readonly k: Kernels) {}

  put(data: Float32Array | Int8Array | Uint8Array | Int32Array): number {
    const ptr = this.k.allocate(Math.max(16, data.byteLength));
    new Uint8Array(this.k.memory.buffer, ptr, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return ptr;
  }

  alloc(bytes: number): number {
    const ptr = this.k.allocate(Math.max(16, bytes));
    new Uint8Array(this.k.memory.buffer, ptr, bytes).fill(0xa5); // poison: every output must be written
    return ptr;
  }

  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.k.memory.buffer, ptr, n).slice();
  }

  i8(ptr: number, n: number): Int8Array {
    return new Int8Array(this.k.memory.buffer, ptr, n).slice();
  }
}

export const AWKWARD_SIZES = [1, 3, 7, 15, 17, 31, 33, 63, 65, 127, 129];
