// The quantizer against the golden vectors that an independent Python implementation wrote
// (scripts/make_quantizer_cases.py): codes and scales bit-exact, dequantized weights exact.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { quantizeMatrix, MSE_CLIP_CANDIDATES, MSE_CLIP_SAMPLE } from "../../src/export/quantize.js";
import { ACTIVATION_ABSMAX_FLOOR, dequantizeMatrix, fakeQuantizeActivationRow, roundHalfEven } from "../../src/format/quantizer.js";
import { packCodes, unpackCodes, packedBytes, QUANT_FORMATS, type WeightBits } from "../../src/format/quant_formats.js";
import { FIXTURES } from "../helpers/fixtures.js";

interface WeightCase {
  name: string; bits: WeightBits; granularity: "module" | "group"; group_size: number; input_axis: 0 | 1; clip: "maxabs" | "mse";
  shape: [number, number]; scale_shape: number[]; scale: number[];
  w?: number[]; codes?: number[]; w_hat?: number[];
  generator?: "hashed"; codes_digest?: number; code_counts?: Record<string, number>;
}

const golden = JSON.parse(readFileSync(join(FIXTURES, "quantizer_cases.json"), "utf8")) as {
  mse_candidates: number; mse_sample: number; absmax_floor: number;
  weights: WeightCase[]; activations: Array<{ x: number[]; scale: number; x_hat: number[] }>;
};

/** The generator both implementations share for cases too large to store. */
function hashedValues(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = ((i * 2654435761) % 4294967296) / 4294967296 - 0.5;
    out[i] = 0.8 * u * u * u;
  }
  return out;
}

describe("quantizer golden vectors", () => {
  it("uses the constants the golden vectors were made with", () => {
    assert.equal(golden.mse_candidates, MSE_CLIP_CANDIDATES);
    assert.equal(golden.mse_sample, MSE_CLIP_SAMPLE);
    assert.equal(golden.absmax_floor, ACTIVATION_ABSMAX_FLOOR);
  });

  for (const c of golden.weights) {
    it(c.name, () => {
      const w = c.generator === "hashed" ? hashedValues(c.shape[0] * c.shape[1]) : Float32Array.from(c.w!);
      const q = quantizeMatrix(w, c.shape, c.input_axis, { bits: c.bits, granularity: c.granularity, groupSize: c.group_size, clip: c.clip });
      assert.deepEqual(q.scaleShape, c.scale_shape);
      assert.deepEqual(Array.from(q.scale), c.scale);
      if (c.codes !== undefined) assert.deepEqual(Array.from(q.codes), c.codes);
      if (c.w_hat !== undefined) assert.deepEqual(Array.from(dequantizeMatrix(q)), c.w_hat);
      if (c.codes_digest !== undefined) {
        let digest = 0;
        q.codes.forEach((code, i) => (digest += ((i % 251) + 1) * code));
        assert.equal(digest, c.codes_digest);
        const counts: Record<string, number> = {};
        q.codes.forEach((code) => (counts[code] = (counts[code] ?? 0) + 1));
        assert.deepEqual(counts, c.code_counts);
      }
    });
  }

  golden.activations.forEach((a, i) => {
    it(`activation row ${i} (${a.x.length} values)`, () => {
      const x = Float32Array.from(a.x);
      assert.equal(fakeQuantizeActivationRow(x), a.scale);
      assert.deepEqual(Array.from(x), a.x_hat);
    });
  });
});

describe("quantizer building blocks", () => {
  it("rounds half to even", () => {
    assert.deepEqual([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4999, -2.5001].map(roundHalfEven), [-2, -2, -0, 0, 2, 2, 2, -3]);
  });

  for (const bits of [2, 4, 8] as WeightBits[]) {
    it(`${bits}-bit codes pack LSB-first and unpack back, odd lengths too`, () => {
      const k = QUANT_FORMATS[bits].maxCode;
      for (const n of [1, 3, 7, 17, 33, 129]) {
        const codes = Int8Array.from({ length: n }, (_, i) => ((i * 7) % (2 * k + 1)) - k);
        const packed = packCodes(codes, bits);
        assert.equal(packed.byteLength, packedBytes(n, bits));
        assert.deepEqual(unpackCodes(packed, bits, n), codes);
      }
    });
  }

  it("2-bit packing matches ONNX's layout: x0 in bits 0-1 … x3 in bits 6-7", () => {
    assert.deepEqual(Array.from(packCodes(Int8Array.of(1, -1, 0, 1, -1), 2)), [0b01_00_11_01, 0b11]);
    assert.deepEqual(Array.from(packCodes(Int8Array.of(-7, 7, 3), 4)), [0x79, 0x03]);
  });
});
