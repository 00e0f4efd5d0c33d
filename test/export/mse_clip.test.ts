// The fast quantizer against the plain one beside it (src/export/quantize.ts): quantizeMatrix must give
// the same codes and scales, bit for bit, as quantizeMatrixReference for every setting, on awkward sizes,
// on both input axes, and on blocks built to sit on the rounding and clipping boundaries. Also the
// threshold fact the fast MSE search rests on, and progress reporting.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readGpt2Checkpoint } from "../../src/export/checkpoint.js";
import { quantizeCheckpoint } from "../../src/export/export.js";
import {
  codeThresholds, quantizeMatrix, quantizeMatrixReference, MSE_CLIP_CANDIDATES, MSE_CLIP_SAMPLE, type WeightQuantSpec,
} from "../../src/export/quantize.js";
import { quantizeValue } from "../../src/format/quantizer.js";
import { QUANT_FORMATS, SUPPORTED_GROUP_SIZES, type WeightBits } from "../../src/format/quant_formats.js";
import { seededRandom } from "../../src/runtime/sampling.js";
import { fixtureDir } from "../helpers/fixtures.js";

const f32 = Math.fround;
const BITS: WeightBits[] = [2, 4, 8];
const AWKWARD = [1, 3, 7, 15, 17, 31, 33, 63, 65, 127, 129];

/** Asserts bit-identical codes and scales (Object.is: −0 ≠ 0 and NaN = NaN), naming the first mismatch. */
function assertSameQuantization(w: Float32Array, shape: [number, number], inputAxis: 0 | 1, spec: WeightQuantSpec, label: string): void {
  const fast = quantizeMatrix(w, shape, inputAxis, spec);
  const ref = quantizeMatrixReference(w, shape, inputAxis, spec);
  const where = `${label}: shape ${shape.join("x")}, axis ${inputAxis}, ${spec.bits}-bit ${spec.granularity}${spec.granularity === "group" ? ` G=${spec.groupSize}` : ""} ${spec.clip}`;
  assert.deepEqual(fast.scaleShape, ref.scaleShape, where);
  for (let b = 0; b < ref.scale.length; b++) {
    if (!Object.is(fast.scale[b], ref.scale[b])) assert.fail(`${where}: scale[${b}] is ${fast.scale[b]}, the reference's is ${ref.scale[b]}`);
  }
  for (let i = 0; i < ref.codes.length; i++) {
    if (fast.codes[i] !== ref.codes[i]) assert.fail(`${where}: code[${i}] (w = ${w[i]}) is ${fast.codes[i]}, the reference's is ${ref.codes[i]}`);
  }
}

function gaussian(n: number, std: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n }, () => std * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()));
}

/** Heavy tails (a few weights far beyond the rest), as trained weight matrices have: clipping matters. */
function heavyTailed(n: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n }, () => {
    const u = random() - 0.5;
    return 0.8 * u * u * u + (random() < 0.01 ? (random() - 0.5) * 4 : 0);
  });
}

/**
 * Weights on and next to every candidate's boundaries: for α_c = f32(top·c/50) and each level, the f32
 * values just below, at and above α_c·(q ± 0.5)/k, with random signs. Rounding ties, threshold
 * neighbours, and candidates whose errors come out (nearly) equal.
 */
function onBoundaries(n: number, k: number, top: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const out = new Float32Array(n);
  out[0] = top;
  for (let i = 1; i < n; i++) {
    const alpha = f32(top * ((1 + Math.floor(random() * MSE_CLIP_CANDIDATES)) / MSE_CLIP_CANDIDATES));
    const q = Math.floor(random() * (k + 1));
    const v = f32((alpha * (q + (random() < 0.5 ? -0.5 : 0.5))) / k);
    const nudge = Math.floor(random() * 5) - 2; // −2..2 ulps
    out[i] = Math.min(top, Math.abs(nextF32(v, nudge))) * (random() < 0.5 ? -1 : 1);
  }
  return out;
}

function nextF32(x: number, ulps: number): number {
  const cell = new Float32Array([x]);
  new Int32Array(cell.buffer)[0] += ulps;
  return cell[0];
}

describe("quantizeMatrix equals quantizeMatrixReference", () => {
  const shapes: Array<[number, number]> = [];
  for (const r of AWKWARD) shapes.push([r, AWKWARD[(AWKWARD.indexOf(r) * 5 + 3) % AWKWARD.length]]);
  shapes.push([256, 64], [1, 1]);

  for (const bits of BITS) {
    for (const clip of ["mse", "maxabs"] as const) {
      it(`${bits}-bit ${clip}: awkward shapes, both axes, module and every group size, gaussian and heavy-tailed`, () => {
        let seed = bits * 1000 + (clip === "mse" ? 1 : 2);
        for (const shape of shapes) {
          for (const inputAxis of [0, 1] as const) {
            for (const make of [(n: number) => gaussian(n, 0.02, seed++), (n: number) => heavyTailed(n, seed++)]) {
              const w = make(shape[0] * shape[1]);
              assertSameQuantization(w, shape, inputAxis, { bits, granularity: "module", groupSize: 0, clip }, "random");
              for (const G of SUPPORTED_GROUP_SIZES) assertSameQuantization(w, shape, inputAxis, { bits, granularity: "group", groupSize: G, clip }, "random");
            }
          }
        }
        const w = heavyTailed(129 * 257, seed);
        for (const inputAxis of [0, 1] as const) assertSameQuantization(w, [129, 257], inputAxis, { bits, granularity: "group", groupSize: 128, clip }, "random");
      });
    }

    it(`${bits}-bit mse: weights on the rounding boundaries of every candidate`, () => {
      const k = QUANT_FORMATS[bits].maxCode;
      for (let seed = 1; seed <= 12; seed++) {
        const top = f32(0.01 + seed * 0.37);
        for (const [shape, inputAxis] of [[[128, 33], 0], [[33, 128], 1], [[17, 129], 1], [[129, 17], 0]] as Array<[[number, number], 0 | 1]>) {
          const w = onBoundaries(shape[0] * shape[1], k, top, seed * 7 + inputAxis);
          for (const G of [32, 128]) assertSameQuantization(w, shape, inputAxis, { bits, granularity: "group", groupSize: G, clip: "mse" }, `boundaries, seed ${seed}`);
          assertSameQuantization(w, shape, inputAxis, { bits, granularity: "module", groupSize: 0, clip: "mse" }, `boundaries, seed ${seed}`);
        }
      }
    });

    it(`${bits}-bit mse: degenerate blocks (zeros, constants, one weight, ties between candidates)`, () => {
      const blocks: Array<[string, number[]]> = [
        ["all zero", [0, 0, 0, 0, -0, 0, 0, 0]],
        ["one weight", [0.3]],
        ["one nonzero", [0, 0, 0, -0.7, 0, 0, 0, 0]],
        ["constant", [0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]],
        ["two levels", [1, -1, 0.5, -0.5, 1, 0.5, 0.5, -1]],
        ["powers of two", [1, 0.5, 0.25, 0.125, 0.0625, -1, -0.5, -0.25]],
        ["subnormal and tiny", [1e-40, -3e-39, 1e-45, 0, 2e-38, -1e-38, 5e-39, 1e-39]],
        ["beyond 2^64", [3e19, -2e19, 1e19, 5e18, -4e19, 1e18, 0, 2.5e19]],
        ["with ±∞", [Infinity, 0.5, -0.25, 0.125, 0, -0.5, 0.75, 1]],
        ["with NaN", [NaN, 0.5, -0.25, 0.125, 0, -0.5, 0.75, 1]],
      ];
      for (const [label, values] of blocks) {
        const w = Float32Array.from(values);
        assertSameQuantization(w, [w.length, 1], 0, { bits, granularity: "group", groupSize: 32, clip: "mse" }, label);
        assertSameQuantization(w, [1, w.length], 1, { bits, granularity: "module", groupSize: 0, clip: "mse" }, label);
      }
    });

    it(`${bits}-bit mse: a module larger than the ${MSE_CLIP_SAMPLE}-weight sample, both axes`, () => {
      const w = heavyTailed(257 * 300, bits);
      assertSameQuantization(w, [257, 300], 0, { bits, granularity: "module", groupSize: 0, clip: "mse" }, "sampled");
      assertSameQuantization(w, [300, 257], 1, { bits, granularity: "module", groupSize: 0, clip: "mse" }, "sampled");
    });
  }
});

describe("code thresholds (the fact the fast MSE search rests on)", () => {
  for (const bits of BITS) {
    const k = QUANT_FORMATS[bits].maxCode;
    it(`${bits}-bit: quantizeValue(a, α, k) ≥ l exactly when a > α · μ_l, at the f32 values around every threshold`, () => {
      const mu = codeThresholds(k);
      const random = seededRandom(bits);
      for (let trial = 0; trial < 300; trial++) {
        // α over many binades, including the 50 candidates of a random top.
        const alpha = f32(2 ** (Math.floor(random() * 60) - 30) * (1 + random()));
        for (let l = 1; l <= k; l++) {
          const t = alpha * mu[l];
          assert.notEqual(f32(t), t, `α · μ_${l} must never be an f32 (α = ${alpha})`);
          const below = f32(t) < t ? f32(t) : nextF32(f32(t), -1);
          for (let ulps = -2; ulps <= 3; ulps++) {
            const a = nextF32(below, ulps);
            assert.equal(quantizeValue(a, alpha, k) >= l, a > t, `k = ${k}, l = ${l}, α = ${alpha}, a = ${a}`);
          }
        }
      }
    });
  }
});

describe("progress", () => {
  it("quantizeMatrix reports weights done within a matrix, increasing, never past its size", () => {
    const w = gaussian(1100 * 1000, 0.02, 5);
    const seen: number[] = [];
    quantizeMatrix(w, [1100, 1000], 1, { bits: 2, granularity: "group", groupSize: 128, clip: "maxabs" }, (done) => seen.push(done));
    assert.ok(seen.length >= 1, "no progress inside a 1.1M-weight matrix");
    for (let i = 0; i < seen.length; i++) assert.ok(seen[i] > (seen[i - 1] ?? 0) && seen[i] <= w.length, `progress ${seen.join(", ")}`);
  });

  it("quantizeCheckpoint counts weights: monotone, ending at the total of the quantized tensors", () => {
    const ckpt = readGpt2Checkpoint(fixtureDir("tiny-f32"));
    const calls: Array<[number, number, string]> = [];
    quantizeCheckpoint(ckpt, { weightBits: 2, embeddingBits: 4, activationBits: 8, granularity: "group", groupSize: 32, clip: "mse" }, (d, t, what) => calls.push([d, t, what]));
    const total = calls[0][1];
    const quantized = [...ckpt.tensors].filter(([name, t]) => t.kind === "float" && t.shape.length === 2 && /(^|\.)wte\.weight$|\.(c_attn|c_proj|c_fc)\.weight$/.test(name));
    assert.equal(total, quantized.reduce((n, [, t]) => n + t.shape[0] * t.shape[1], 0));
    for (let i = 1; i < calls.length; i++) assert.ok(calls[i][0] >= calls[i - 1][0] && calls[i][1] === total);
    assert.equal(calls.at(-1)![0], total);
  });
});
