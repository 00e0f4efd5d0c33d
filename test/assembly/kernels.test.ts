// Every SIMD kernel against its scalar reference on awkward sizes (integer paths and column-ordered f32
// sums bit-exact, reordered f32 sums within 1e-5 relative), and every scalar reference against a plain
// TypeScript computation in f64 (the independent check that the reference itself is right).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fakeQuantizeActivationRow } from "../../src/format/quantizer.js";
import { packCodes, QUANT_FORMATS, type WeightBits } from "../../src/format/quant_formats.js";
import { Arena, AWKWARD_SIZES, loadKernels, rng } from "../helpers/wasm.js";

const BITS: WeightBits[] = [2, 4, 8];

function randomCodes(n: number, bits: WeightBits, r: () => number): Int8Array {
  const k = QUANT_FORMATS[bits].maxCode;
  return Int8Array.from({ length: n }, () => Math.floor(r() * (2 * k + 1)) - k);
}
const randomF32 = (n: number, r: () => number, scale = 1) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);

function assertClose(got: Float32Array, want: ArrayLike<number>, relTol: number, what: string): void {
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    assert.ok(Number.isFinite(got[i]), `${what}: element ${i} is ${got[i]}`);
    worst = Math.max(worst, err);
  }
  assert.ok(worst <= relTol, `${what}: worst relative error ${worst} > ${relTol}`);
}

/** Scales for a (K, N) weight: one, or (⌈K/G⌉, N). */
function scalesFor(K: number, N: number, G: number, r: () => number): Float32Array {
  return randomF32(G > 0 ? Math.ceil(K / G) * N : 1, r, 0.01).map(Math.abs);
}

describe("matmulQ (int8 activations × packed K-major weights)", async () => {
  const k = await loadKernels("simd");
  const shapes: Array<[number, number, number]> = [];
  for (const K of AWKWARD_SIZES) for (const N of [1, 17, 64, 68, 129, 132, 192]) shapes.push([1 + (K % 3), K, N]);
  shapes.push([2, 300, 256], [1, 768, 320]);
  for (const bits of BITS) {
    for (const G of [0, 32, 64]) {
      it(`${bits}-bit, ${G ? `G=${G}` : "per module"}: SIMD equals the scalar reference bit for bit, and the reference equals f64`, () => {
        const r = rng(bits * 100 + G);
        const a = new Arena(k);
        for (const [T, K, N] of shapes) {
          const codes = randomCodes(K * N, bits, r);
          const x = randomF32(T * K, r, 3);
          const scale = scalesFor(K, N, G, r);
          const bias = randomF32(N, r, 0.1);
          const xPtr = a.put(x), xq = a.alloc(T * K), sx = a.alloc(4 * T);
          k.quantizeActivationRows(xPtr, xq, sx, T, K);
          const w = a.put(packCodes(codes, bits)), s = a.put(scale), b = a.put(bias);
          const outSimd = a.alloc(4 * T * N), outRef = a.alloc(4 * T * N), acc = a.alloc(4 * N), perm = a.alloc(4 * N);
          k.matmulQ(xq, sx, T, K, N, w, bits, s, G, b, outSimd, acc, perm);
          k.matmulQRef(xq, sx, T, K, N, w, bits, s, G, b, outRef, acc);
          const got = a.f32(outSimd, T * N);
          assert.deepEqual(got, a.f32(outRef, T * N), `T=${T} K=${K} N=${N}`);
          // Independent: f64 sums of dequantized products.
          const xqs = a.i8(xq, T * K), sxs = a.f32(sx, T);
          const want = new Float64Array(T * N);
          for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) {
            let y = bias[n];
            for (let kk = 0; kk < K; kk++) y += xqs[t * K + kk] * sxs[t] * codes[kk * N + n] * scale[G ? Math.floor(kk / G) * N + n : 0];
            want[t * N + n] = y;
          }
          assertClose(got, want, 1e-5, `T=${T} K=${K} N=${N}`);
        }
      });
    }
  }
});

describe("matmulF32 and matmulQf32", async () => {
  const k = await loadKernels("simd");
  it("matmulF32: SIMD equals the reference bit for bit (same per-column order), and f64 within 1e-5", () => {
    const r = rng(7);
    const a = new Arena(k);
    for (const K of AWKWARD_SIZES) for (const N of [1, 15, 16, 33, 129]) {
      const T = 1 + (N % 2);
      const x = randomF32(T * K, r), w = randomF32(K * N, r, 0.1), bias = randomF32(N, r);
      const xp = a.put(x), wp = a.put(w), bp = a.put(bias), o1 = a.alloc(4 * T * N), o2 = a.alloc(4 * T * N);
      k.matmulF32(xp, T, K, N, wp, bp, o1);
      k.matmulF32Ref(xp, T, K, N, wp, bp, o2);
      assert.deepEqual(a.f32(o1, T * N), a.f32(o2, T * N), `K=${K} N=${N}`);
      const want = Array.from({ length: T * N }, (_, i) => {
        const t = Math.floor(i / N), n = i % N;
        let y = bias[n];
        for (let kk = 0; kk < K; kk++) y += x[t * K + kk] * w[kk * N + n];
        return y;
      });
      assertClose(a.f32(o1, T * N), want, 1e-5, `K=${K} N=${N}`);
    }
  });

  it("matmulQf32 (fp32 activations × packed codes) equals f64", () => {
    const r = rng(8);
    const a = new Arena(k);
    for (const bits of BITS) for (const [K, N, G] of [[33, 17, 0], [65, 64, 32], [129, 7, 64]]) {
      const codes = randomCodes(K * N, bits, r), x = randomF32(2 * K, r), scale = scalesFor(K, N, G, r);
      const out = a.alloc(8 * N);
      k.matmulQf32(a.put(x), 2, K, N, a.put(packCodes(codes, bits)), bits, a.put(scale), G, 0, out, a.alloc(4 * N));
      const want = Array.from({ length: 2 * N }, (_, i) => {
        const t = Math.floor(i / N), n = i % N;
        let y = 0;
        for (let kk = 0; kk < K; kk++) y += x[t * K + kk] * codes[kk * N + n] * scale[G ? Math.floor(kk / G) * N + n : 0];
        return y;
      });
      assertClose(a.f32(out, 2 * N), want, 1e-5, `${bits}-bit K=${K} N=${N} G=${G}`);
    }
  });
});

describe("output head and embedding over (V, C) rows", async () => {
  const k = await loadKernels("simd");
  for (const bits of BITS) {
    for (const G of [0, 64, 128]) {
      it(`headQ ${bits}-bit ${G ? `G=${G}` : "per module"}: SIMD equals the reference bit for bit, and f64`, () => {
        const r = rng(bits * 10 + G);
        const a = new Arena(k);
        for (const C of [...AWKWARD_SIZES, 64, 192, 256, 768]) {
          if (G > 0 && G > C) continue;
          const V = 1 + (C % 13);
          const codes = randomCodes(V * C, bits, r);
          const scale = randomF32(G ? V * Math.ceil(C / G) : 1, r, 0.01).map(Math.abs);
          const x = randomF32(C, r, 2);
          const xq = a.alloc(C), sx = a.alloc(4);
          k.quantizeActivationRows(a.put(x), xq, sx, 1, C);
          const s = a.f32(sx, 1)[0];
          const w = a.put(packCodes(codes, bits)), sp = a.put(scale), o1 = a.alloc(4 * V), o2 = a.alloc(4 * V);
          k.headQ(xq, s, V, C, w, bits, sp, G, o1, a.alloc(C));
          k.headQRef(xq, s, V, C, w, bits, sp, G, o2);
          assert.deepEqual(a.f32(o1, V), a.f32(o2, V), `C=${C}`);
          const xqs = a.i8(xq, C);
          const groups = G ? Math.ceil(C / G) : 1;
          const want = Array.from({ length: V }, (_, v) => {
            let y = 0;
            for (let c = 0; c < C; c++) y += xqs[c] * s * codes[v * C + c] * scale[G ? v * groups + Math.floor(c / G) : 0];
            return y;
          });
          assertClose(a.f32(o1, V), want, 1e-5, `C=${C}`);
        }
      });
    }
    it(`embedRow ${bits}-bit gathers and dequantizes a packed row exactly`, () => {
      const r = rng(bits);
      const a = new Arena(k);
      for (const [V, C, G] of [[5, 33, 0], [7, 64, 32], [3, 129, 64]]) {
        const codes = randomCodes(V * C, bits, r);
        const scale = randomF32(G ? V * Math.ceil(C / G) : 1, r, 0.01).map(Math.abs);
        const w = a.put(packCodes(codes, bits)), sp = a.put(scale), out = a.alloc(4 * C);
        for (let v = 0; v < V; v++) {
          k.embedRow(v, C, w, bits, sp, G, out);
          const want = Array.from({ length: C }, (_, c) => Math.fround(codes[v * C + c] * scale[G ? v * Math.ceil(C / G) + Math.floor(c / G) : 0]));
          assert.deepEqual(Array.from(a.f32(out, C)), want);
        }
      }
    });
  }

  it("headF32: SIMD within 1e-5 of the reference (lane sums reorder the adds)", () => {
    const r = rng(11);
    const a = new Arena(k);
    for (const C of AWKWARD_SIZES) {
      const V = 9;
      const x = a.put(randomF32(C, r)), w = a.put(randomF32(V * C, r)), o1 = a.alloc(4 * V), o2 = a.alloc(4 * V);
      k.headF32(x, V, C, w, o1);
      k.headF32Ref(x, V, C, w, o2);
      assertClose(a.f32(o1, V), a.f32(o2, V), 1e-5, `C=${C}`);
    }
  });
});

describe("block ops", async () => {
  const k = await loadKernels("simd");
  // Bit for bit, not within rounding: src/reference/gpt2.ts repeats this f32 order, and a one-ulp difference
  // in attention's output can flip an int8 code of the next layer's input (assembly/ops.ts).
  it("attention: SIMD equals the reference bit for bit, and the reference is within 1e-5 of f64 causal softmax attention", () => {
    const r = rng(12);
    const a = new Arena(k);
    for (const [NH, HS, P, T] of [[1, 4, 0, 1], [2, 8, 3, 5], [3, 16, 17, 2], [4, 64, 63, 1], [2, 6, 2, 3], [1, 32, 128, 3], [2, 12, 64, 1], [1, 7, 5, 2]]) {
      const C = NH * HS, S = P + T;
      const qkv = randomF32(T * 3 * C, r), kc = randomF32(S * C, r), vc = randomF32(S * C, r);
      const q = a.put(qkv), kp = a.put(kc), vp = a.put(vc), o1 = a.alloc(4 * T * C), o2 = a.alloc(4 * T * C), sc = a.alloc(4 * S);
      k.attention(q, T, C, NH, kp, vp, P, o1, sc);
      k.attentionRef(q, T, C, NH, kp, vp, P, o2, sc);
      assert.deepEqual(a.f32(o1, T * C), a.f32(o2, T * C), `NH=${NH} HS=${HS} P=${P} T=${T}`);
      const want = new Float64Array(T * C);
      for (let t = 0; t < T; t++) for (let h = 0; h < NH; h++) {
        const n = P + t + 1;
        const sc64 = Array.from({ length: n }, (_, s) => {
          let d = 0;
          for (let i = 0; i < HS; i++) d += qkv[t * 3 * C + h * HS + i] * kc[s * C + h * HS + i];
          return d / Math.sqrt(HS);
        });
        const m = Math.max(...sc64);
        const e = sc64.map((v) => Math.exp(v - m));
        const z = e.reduce((x, y) => x + y, 0);
        for (let i = 0; i < HS; i++) want[t * C + h * HS + i] = e.reduce((acc, p, s) => acc + (p / z) * vc[s * C + h * HS + i], 0);
      }
      assertClose(a.f32(o2, T * C), want, 1e-5, `reference NH=${NH} HS=${HS}`);
    }
  });

  // layerNorm and gelu bit for bit against their f64 formulas as src/reference/gpt2.ts writes them (eps an
  // f64, not 1e-5 rounded to f32); exp and tanh are V8's here and AssemblyScript's there, equal after
  // rounding to f32 on these inputs.
  it("layerNorm, gelu, addInPlace and argmax equal f64 / plain loops", () => {
    const r = rng(13);
    const a = new Arena(k);
    for (const C of AWKWARD_SIZES) {
      const x = randomF32(2 * C, r, 4), gain = randomF32(C, r), bias = randomF32(C, r);
      const out = a.alloc(8 * C);
      k.layerNorm(a.put(x), 2, C, a.put(gain), a.put(bias), 1e-5, out);
      const want: number[] = [];
      for (let t = 0; t < 2; t++) {
        const row = Array.from(x.subarray(t * C, (t + 1) * C));
        const mean = row.reduce((p, q) => p + q, 0) / C;
        const variance = row.reduce((p, q) => p + (q - mean) * (q - mean), 0) / C;
        const inv = 1 / Math.sqrt(variance + 1e-5);
        row.forEach((v, i) => want.push(Math.fround((v - mean) * inv * gain[i] + bias[i])));
      }
      assert.deepEqual(Array.from(a.f32(out, 2 * C)), want, `layerNorm C=${C}`);

      const g = a.put(x);
      k.gelu(g, 2 * C);
      const gelu = (v: number) => Math.fround(0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))));
      assert.deepEqual(Array.from(a.f32(g, 2 * C)), Array.from(x, gelu), `gelu n=${2 * C}`);

      const y = randomF32(C, r), d = a.put(x.subarray(0, C));
      k.addInPlace(d, a.put(y), C);
      assert.deepEqual(Array.from(a.f32(d, C)), Array.from(x.subarray(0, C), (v, i) => Math.fround(v + y[i])));

      const logits = randomF32(C, r);
      logits[C - 1] = logits[0] = 5; // ties: the first index wins
      assert.equal(k.argmax(a.put(logits), C), 0);
    }
  });

  it("quantizeActivationRows equals the exporter's per-token quantizer", () => {
    const r = rng(14);
    const a = new Arena(k);
    for (const K of AWKWARD_SIZES) {
      const x = randomF32(3 * K, r, 10);
      const xq = a.alloc(3 * K), sx = a.alloc(12);
      k.quantizeActivationRows(a.put(x), xq, sx, 3, K);
      const codes = a.i8(xq, 3 * K), scales = a.f32(sx, 3);
      for (let t = 0; t < 3; t++) {
        const row = x.slice(t * K, (t + 1) * K);
        assert.equal(fakeQuantizeActivationRow(row), scales[t]);
        const plusZero = (v: number) => (v === 0 ? 0 : v); // the fake quantizer may give −0 where a code is 0
        assert.deepEqual(Array.from(row, plusZero), Array.from(codes.subarray(t * K, (t + 1) * K), (q) => Math.fround(q * scales[t])));
      }
    }
  });
});

describe("scalar build", async () => {
  it("exports the references under the plain names", async () => {
    const s = await loadKernels("scalar");
    const v = await loadKernels("simd");
    const r = rng(15);
    const [T, K, N, bits] = [2, 65, 70, 2] as const;
    const codes = randomCodes(K * N, bits, r), x = randomF32(T * K, r), scale = Float32Array.of(0.01);
    const run = (k: typeof s, fn: "matmulQ" | "matmulQRef") => {
      const a = new Arena(k);
      const xq = a.alloc(T * K), sx = a.alloc(4 * T), out = a.alloc(4 * T * N);
      k.quantizeActivationRows(a.put(x), xq, sx, T, K);
      if (fn === "matmulQ") k.matmulQ(xq, sx, T, K, N, a.put(packCodes(codes, bits)), bits, a.put(scale), 0, 0, out, a.alloc(4 * N), a.alloc(4 * N));
      else k.matmulQRef(xq, sx, T, K, N, a.put(packCodes(codes, bits)), bits, a.put(scale), 0, 0, out, a.alloc(4 * N));
      return a.f32(out, T * N);
    };
    assert.deepEqual(run(s, "matmulQ"), run(v, "matmulQRef"));
  });
});
