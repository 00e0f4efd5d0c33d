// The AssemblyScript quantizer (both builds) against the golden vectors: weight codes and steps, and
// per-token activation codes, bit for bit.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { seededRandom } from "../../src/runtime/sampling.js";
import { instantiateKernels, kernelFileName, simdSupported, type KernelVariant, type Kernels } from "../../src/runtime/kernels.js";
import { FIXTURES, ROOT } from "../helpers/fixtures.js";

const golden = JSON.parse(readFileSync(join(FIXTURES, "quantizer_cases.json"), "utf8"));

async function load(variant: KernelVariant): Promise<Kernels> {
  const path = join(ROOT, "build", kernelFileName(variant));
  assert.ok(existsSync(path), `${path} is missing: run \`npm run build\``);
  return instantiateKernels(readFileSync(path), variant);
}

describe("AssemblyScript quantizer", () => {
  it("this engine validates SIMD128 (Node 20 does)", () => assert.ok(simdSupported()));

  for (const variant of ["simd", "scalar"] as const) {
    it(`${variant} build: weight codes and steps equal the golden vectors`, async () => {
      const k = await load(variant);
      let checked = 0;
      for (const c of golden.weights) {
        if (c.w === undefined || c.granularity !== "module") continue;
        const n = c.w.length;
        const src = k.allocate(4 * n);
        const dst = k.allocate(n);
        new Float32Array(k.memory.buffer, src, n).set(c.w);
        const step = k.quantizeBlock(src, dst, n, 1, c.alpha[0], 2 ** (c.bits - 1) - 1);
        assert.equal(step, c.scale[0], c.name);
        assert.deepEqual(Array.from(new Int8Array(k.memory.buffer, dst, n)), c.codes, c.name);
        checked++;
      }
      assert.ok(checked >= 8);
    });

    it(`${variant} build: activation codes and scales equal the golden vectors`, async () => {
      const k = await load(variant);
      for (const a of golden.activations) {
        const n = a.x.length;
        const src = k.allocate(4 * n);
        const dst = k.allocate(n);
        new Float32Array(k.memory.buffer, src, n).set(a.x);
        const scale = k.quantizeActivationRow(src, dst, n);
        assert.equal(scale, a.scale);
        const codes = new Int8Array(k.memory.buffer, dst, n);
        assert.deepEqual(Array.from(codes, (q) => Math.fround(q * scale)), a.x_hat);
      }
    });

    it(`${variant} build: quantizeActivationRows (the runtime's, SIMD lanes in the simd build) equals quantizeActivationRow row by row`, async () => {
      const k = await load(variant);
      const r = seededRandom(21);
      for (const K of [1, 3, 15, 16, 17, 31, 33, 64, 65, 127, 129, 768]) {
        const T = 1 + (K % 3);
        // Values on the half-code grid too, so that nearest's ties (half to even) are exercised.
        const x = Float32Array.from({ length: T * K }, (_, i) => (i % 5 === 0 ? Math.round((r() * 2 - 1) * 254) / 2 : (r() * 2 - 1) * 3));
        const src = k.allocate(4 * T * K), xq = k.allocate(T * K), sx = k.allocate(4 * T), one = k.allocate(K);
        new Float32Array(k.memory.buffer, src, T * K).set(x);
        k.quantizeActivationRows(src, xq, sx, T, K);
        for (let t = 0; t < T; t++) {
          const scale = k.quantizeActivationRow(src + 4 * t * K, one, K);
          assert.equal(new Float32Array(k.memory.buffer, sx, T)[t], scale, `K=${K} t=${t}`);
          assert.deepEqual(new Int8Array(k.memory.buffer, xq + t * K, K), new Int8Array(k.memory.buffer, one, K), `K=${K} t=${t}`);
        }
      }
    });
  }
});
