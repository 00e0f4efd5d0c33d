// Every SIMD kernel against its scalar reference on awkward sizes (integer paths and column-ordered f32
// sums bit-exact, reordered f32 sums within 1e-5 relative), and every scalar reference against a plain
// TypeScript computation in f64 (the independent check that the reference itself is right). erf and the
// exact GELU against 320-bit BigInt values and, bit for bit, against their transcription src/reference/erf.ts.

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
          // Split over 1–3 parts, as threads run it: every part writes its own columns.
          const parts = 1 + (K % 3);
          for (let part = 0; part < parts; part++) k.matmulQ(xq, sx, T, K, N, w, bits, s, G, b, outSimd, acc, perm, part, parts);
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
      const T = [1, 2, 4, 5, 9][(K + N) % 5]; // the four-token tile, its tail, and lone tokens
      const x = randomF32(T * K, r), w = randomF32(K * N, r, 0.1), bias = randomF32(N, r);
      const xp = a.put(x), wp = a.put(w), bp = a.put(bias), o1 = a.alloc(4 * T * N), o2 = a.alloc(4 * T * N);
      const parts = 1 + (K % 3);
      for (let part = 0; part < parts; part++) k.matmulF32(xp, T, K, N, wp, bp, o1, part, parts);
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
      const xp = a.put(x), wp = a.put(packCodes(codes, bits)), sp = a.put(scale), accf = a.alloc(4 * N);
      for (let part = 0; part < 2; part++) k.matmulQf32(xp, 2, K, N, wp, bits, sp, G, 0, out, accf, part, 2);
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
          const xperm = a.alloc(6 * C);
          k.headPermute(xq, C, bits, G, xperm);
          for (let part = 0; part < 2; part++) k.headQ(xq, s, V, C, w, bits, sp, G, o1, xperm, part, 2);
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
      for (let part = 0; part < 2; part++) k.headF32(x, V, C, w, o1, part, 2);
      k.headF32Ref(x, V, C, w, o2);
      assertClose(a.f32(o1, V), a.f32(o2, V), 1e-5, `C=${C}`);
    }
  });
});

describe("matmulLut (ternary weights through lookup tables, assembly/lut.ts)", async () => {
  const simd = await loadKernels("simd");
  const scalar = await loadKernels("scalar");
  const ternary = (n: number, r: () => number) => Int8Array.from({ length: n }, () => Math.floor(r() * 3) - 1);
  // Odd and even K (a padded last pair), N across the 64-output blocks and the SIMD repack's 4-column rows.
  const shapes: Array<[number, number]> = [];
  for (const K of AWKWARD_SIZES) for (const N of [1, 17, 64, 68, 129, 132, 192]) shapes.push([K, N]);
  shapes.push([768, 320], [300, 256], [512, 64]);

  for (const G of [0, 32, 64]) {
    it(`linear (K, N), ${G ? `G=${G}` : "per module"}: SIMD and scalar builds equal matmulQRef on the stored packing, bit for bit`, () => {
      const r = rng(500 + G);
      for (const [K, N] of shapes) {
        const T = 1 + ((K + N) % 3);
        const codes = ternary(K * N, r);
        const x = randomF32(T * K, r, 3), scale = scalesFor(K, N, G, r), bias = randomF32(N, r, 0.1);
        const want = (() => {
          const a = new Arena(simd);
          const xq = a.alloc(T * K), sx = a.alloc(4 * T), out = a.alloc(4 * T * N);
          simd.quantizeActivationRows(a.put(x), xq, sx, T, K);
          simd.matmulQRef(xq, sx, T, K, N, a.put(packCodes(codes, 2)), 2, a.put(scale), G, a.put(bias), out, a.alloc(4 * N));
          return a.f32(out, T * N);
        })();
        for (const k of [simd, scalar]) {
          const a = new Arena(k);
          const xq = a.alloc(T * K), sx = a.alloc(4 * T), out = a.alloc(4 * T * N);
          k.quantizeActivationRows(a.put(x), xq, sx, T, K);
          const lut = a.alloc(k.lutBytes(K, N));
          assert.equal(k.repackLutKN(a.put(packCodes(codes, 2)), K, N, lut), 0);
          const tables = a.alloc(T * Math.ceil(K / 2) * 32);
          k.lutTables(xq, T, K, tables);
          const parts = 1 + (K % 3);
          const acc = a.alloc(4 * Math.ceil(N / 64) * 64), s = a.put(scale), b = a.put(bias);
          for (let part = 0; part < parts; part++) k.matmulLut(tables, sx, T, K, N, lut, s, G, 0, b, out, acc, part, parts);
          assert.deepEqual(a.f32(out, T * N), want, `${k.variant} T=${T} K=${K} N=${N}`);
        }
      }
    });

    it(`head (V, C) rows, ${G ? `G=${G}` : "per module"}: equals headQRef bit for bit, and embedRowLut equals embedRow`, () => {
      const r = rng(600 + G);
      for (const k of [simd, scalar]) {
        const a = new Arena(k);
        for (const C of [...AWKWARD_SIZES, 64, 192, 256, 768]) {
          if (G > C) continue;
          for (const V of [1 + (C % 13), 64, 130, 257]) {
            const codes = ternary(V * C, r);
            const scale = randomF32(G ? V * Math.ceil(C / G) : 1, r, 0.01).map(Math.abs);
            const xq = a.alloc(C), sx = a.alloc(4);
            k.quantizeActivationRows(a.put(randomF32(C, r, 2)), xq, sx, 1, C);
            const w = a.put(packCodes(codes, 2)), sp = a.put(scale), want = a.alloc(4 * V), got = a.alloc(4 * V);
            k.headQRef(xq, a.f32(sx, 1)[0], V, C, w, 2, sp, G, want);
            const lut = a.alloc(k.lutBytes(C, V));
            assert.equal(k.repackLutVC(w, V, C, lut), 0);
            const tables = a.alloc(Math.ceil(C / 2) * 32), acc = a.alloc(4 * Math.ceil(V / 64) * 64);
            k.lutTables(xq, 1, C, tables);
            for (let part = 0; part < 2; part++) k.matmulLut(tables, sx, 1, C, V, lut, sp, G, 1, 0, got, acc, part, 2);
            assert.deepEqual(a.f32(got, V), a.f32(want, V), `${k.variant} C=${C} V=${V}`);
            const e1 = a.alloc(4 * C), e2 = a.alloc(4 * C);
            for (const v of [0, V >> 1, V - 1]) {
              k.embedRow(v, C, w, 2, sp, G, e1);
              k.embedRowLut(v, C, lut, sp, G, e2);
              assert.deepEqual(a.f32(e2, C), a.f32(e1, C), `${k.variant} embedRow C=${C} V=${V} v=${v}`);
            }
          }
        }
      }
    });
  }

  it("a code of −2 (valid two's complement, not ternary) is reported by both repacks, in SIMD blocks and in tails", () => {
    const a = new Arena(simd);
    for (const [rows, cols, at] of [[128, 128, 5], [128, 128, 128 * 128 - 1], [7, 33, 100], [130, 64, 129 * 64 + 3]]) {
      const codes = ternary(rows * cols, rng(rows + at));
      codes[at] = -2;
      const w = a.put(packCodes(codes, 2));
      assert.equal(simd.repackLutKN(w, rows, cols, a.alloc(simd.lutBytes(rows, cols))), 1, `KN ${rows}x${cols} at ${at}`);
      assert.equal(simd.repackLutVC(w, rows, cols, a.alloc(simd.lutBytes(cols, rows))), 1, `VC ${rows}x${cols} at ${at}`);
    }
  });
});

describe("matmulPairs (4- and 8-bit weights through i32x4.dot_i16x8_s, assembly/pairs.ts)", async () => {
  const simd = await loadKernels("simd");
  const scalar = await loadKernels("scalar");
  // Odd and even K (a padded last pair), N across 16-column blocks, odd N (4-bit rows not byte-aligned).
  const shapes: Array<[number, number]> = [];
  for (const K of AWKWARD_SIZES) for (const N of [1, 15, 16, 17, 33, 64, 70, 129]) shapes.push([K, N]);
  shapes.push([768, 320], [300, 256]);
  for (const bits of [4, 8] as WeightBits[]) {
    for (const G of [0, 32, 64]) {
      it(`${bits}-bit, ${G ? `G=${G}` : "per module"}: SIMD and scalar builds equal matmulQRef on the stored packing, bit for bit`, () => {
        const r = rng(700 + bits + G);
        for (const [K, N] of shapes) {
          const T = 1 + ((K + N) % 3);
          const codes = randomCodes(K * N, bits, r);
          const x = randomF32(T * K, r, 3), scale = scalesFor(K, N, G, r), bias = randomF32(N, r, 0.1);
          const want = (() => {
            const a = new Arena(simd);
            const xq = a.alloc(T * K), sx = a.alloc(4 * T), out = a.alloc(4 * T * N);
            simd.quantizeActivationRows(a.put(x), xq, sx, T, K);
            simd.matmulQRef(xq, sx, T, K, N, a.put(packCodes(codes, bits)), bits, a.put(scale), G, a.put(bias), out, a.alloc(4 * N));
            return a.f32(out, T * N);
          })();
          for (const k of [simd, scalar]) {
            const a = new Arena(k);
            const xq = a.alloc(T * K), sx = a.alloc(4 * T), out = a.alloc(4 * T * N);
            k.quantizeActivationRows(a.put(x), xq, sx, T, K);
            const w = a.alloc(k.pairsBytes(K, N, bits));
            k.repackPairs(a.put(packCodes(codes, bits)), K, N, bits, w);
            const xp = a.alloc(4 * T * Math.ceil(K / 2));
            k.pairsActivations(xq, T, K, xp);
            const parts = 1 + (K % 3);
            const acc = a.alloc(4 * Math.ceil(N / 64) * 64), s = a.put(scale), b = a.put(bias);
            for (let part = 0; part < parts; part++) k.matmulPairs(xp, sx, T, K, N, w, bits, s, G, b, out, acc, part, parts);
            assert.deepEqual(a.f32(out, T * N), want, `${k.variant} T=${T} K=${K} N=${N}`);
          }
        }
      });
    }
  }
});

describe("block ops", async () => {
  const k = await loadKernels("simd");
  // Bit for bit, not within rounding: src/reference/common.ts repeats this f32 order, and a one-ulp difference
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

  // layerNorm and gelu bit for bit against their f64 formulas as src/reference/common.ts writes them (eps an
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
      const gs = a.put(x), ge = a.put(x), geWant = a.put(x);
      for (let part = 0; part < 3; part++) k.geluSlice(gs, 2 * C, part, 3);
      assert.deepEqual(Array.from(a.f32(gs, 2 * C)), Array.from(x, gelu), `geluSlice n=${2 * C}`);
      for (let part = 0; part < 3; part++) k.geluErfSlice(ge, 2 * C, part, 3);
      k.geluErf(geWant, 2 * C);
      assert.deepEqual(a.f32(ge, 2 * C), a.f32(geWant, 2 * C), `geluErfSlice n=${2 * C}`);

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
      if (fn === "matmulQ") k.matmulQ(xq, sx, T, K, N, a.put(packCodes(codes, bits)), bits, a.put(scale), 0, 0, out, a.alloc(4 * N), a.alloc(4 * N), 0, 1);
      else k.matmulQRef(xq, sx, T, K, N, a.put(packCodes(codes, bits)), bits, a.put(scale), 0, 0, out, a.alloc(4 * N));
      return a.f32(out, T * N);
    };
    assert.deepEqual(run(s, "matmulQ"), run(v, "matmulQRef"));
  });
});

// ─── attend: BART's attentions (no mask, separate queries, per-beam caches) ──────────────────────

interface AttendCase { HS: number; NH: number; T: number; S: number; causal: number; qStride: number }

/** Plain f64 softmax attention over the rows each token may see (assembly/ops.ts, attend banner). */
function attendF64(q: Float32Array, kc: Float32Array, vc: Float32Array, { HS, NH, T, S, causal, qStride }: AttendCase): Float64Array {
  const C = NH * HS;
  const want = new Float64Array(T * C);
  for (let t = 0; t < T; t++) for (let h = 0; h < NH; h++) {
    const n = causal ? S - T + t + 1 : S;
    const sc = Array.from({ length: n }, (_, s) => {
      let d = 0;
      for (let i = 0; i < HS; i++) d += q[t * qStride + h * HS + i] * kc[s * C + h * HS + i];
      return d / Math.sqrt(HS);
    });
    const m = Math.max(...sc);
    const e = sc.map((v) => Math.exp(v - m));
    const z = e.reduce((x, y) => x + y, 0);
    for (let i = 0; i < HS; i++) want[t * C + h * HS + i] = e.reduce((acc, p, s) => acc + (p / z) * vc[s * C + h * HS + i], 0);
  }
  return want;
}

/** Head sizes off and on the SIMD path (HS % 4), NH 1..4, T 1..5, S from T (or 1) to 70, every query stride. */
function attendCases(seed: number): AttendCase[] {
  const r = rng(seed);
  const cases: AttendCase[] = [];
  for (const HS of [1, 3, 4, 6, 7, 8, 12, 16, 20, 36, 64]) for (let NH = 1; NH <= 4; NH++) for (const causal of [0, 1]) {
    const C = NH * HS;
    for (const qStride of [C, 3 * C, C + 5]) {
      const T = 1 + Math.floor(r() * 5);
      const S = causal ? T + Math.floor(r() * (71 - T)) : 1 + Math.floor(r() * 70);
      cases.push({ HS, NH, T, S, causal, qStride });
    }
    cases.push({ HS, NH, T: 3, S: 3, causal, qStride: C }); // causal: the cache holds only these tokens
  }
  return cases;
}

const bitsOf = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);

describe("attend (general attention: causal or not, any query stride)", async () => {
  const k = await loadKernels("simd");
  const ks = await loadKernels("scalar");
  const label = (c: AttendCase) => `HS=${c.HS} NH=${c.NH} T=${c.T} S=${c.S} causal=${c.causal} qStride=${c.qStride}`;

  it("SIMD equals attendRef bit for bit, and attendRef is within 1e-5 of f64 softmax attention", () => {
    const r = rng(21);
    const a = new Arena(k);
    for (const c of attendCases(20)) {
      const C = c.NH * c.HS;
      const q = randomF32(c.T * c.qStride, r, 2), kc = randomF32(c.S * C, r), vc = randomF32(c.S * C, r);
      const qp = a.put(q), kp = a.put(kc), vp = a.put(vc), o1 = a.alloc(4 * c.T * C), o2 = a.alloc(4 * c.T * C), sc = a.alloc(4 * c.S);
      k.attend(qp, c.qStride, c.T, C, c.NH, kp, vp, c.S, c.causal, o1, sc);
      k.attendRef(qp, c.qStride, c.T, C, c.NH, kp, vp, c.S, c.causal, o2, sc);
      assert.deepEqual(bitsOf(a.f32(o1, c.T * C)), bitsOf(a.f32(o2, c.T * C)), label(c));
      assertClose(a.f32(o2, c.T * C), attendF64(q, kc, vc, c), 1e-5, label(c));
    }
  });

  it("attendHeads split over 2 and 3 parts (as threads run it) equals attend bit for bit, in both builds", () => {
    const r = rng(24);
    for (const kk of [k, ks]) {
      const a = new Arena(kk);
      for (const c of attendCases(27).filter((_, i) => i % 2 === 0)) {
        const C = c.NH * c.HS;
        const qp = a.put(randomF32(c.T * c.qStride, r, 2)), kp = a.put(randomF32(c.S * C, r)), vp = a.put(randomF32(c.S * C, r));
        const want = a.alloc(4 * c.T * C);
        kk.attend(qp, c.qStride, c.T, C, c.NH, kp, vp, c.S, c.causal, want, a.alloc(4 * c.S));
        for (const parts of [2, 3]) {
          const got = a.alloc(4 * c.T * C), sc = a.alloc(4 * c.S * parts);
          for (let part = 0; part < parts; part++) kk.attendHeads(qp, c.qStride, c.T, C, c.NH, kp, vp, c.S, c.causal, got, sc, part, parts);
          assert.deepEqual(bitsOf(a.f32(got, c.T * C)), bitsOf(a.f32(want, c.T * C)), `${kk.variant} ${parts} parts ${label(c)}`);
        }
      }
    }
  });

  it("the scalar build's attend is attendRef", () => {
    const r = rng(22);
    for (const c of attendCases(23).filter((_, i) => i % 7 === 0)) {
      const C = c.NH * c.HS;
      const q = randomF32(c.T * c.qStride, r, 2), kc = randomF32(c.S * C, r), vc = randomF32(c.S * C, r);
      const run = (kk: typeof k, ref: boolean) => {
        const a = new Arena(kk);
        const out = a.alloc(4 * c.T * C);
        (ref ? kk.attendRef : kk.attend)(a.put(q), c.qStride, c.T, C, c.NH, a.put(kc), a.put(vc), c.S, c.causal, out, a.alloc(4 * c.S));
        return bitsOf(a.f32(out, c.T * C));
      };
      assert.deepEqual(run(ks, false), run(k, true), label(c));
    }
  });

  it("attention (GPT-2) is attend with qStride 3C, S = P + T, causal 1", () => {
    const r = rng(24);
    const a = new Arena(k);
    for (const [NH, HS, P, T] of [[1, 4, 0, 1], [2, 8, 3, 5], [3, 16, 17, 2], [4, 64, 63, 1], [2, 6, 2, 3], [1, 7, 5, 2], [2, 20, 30, 4]]) {
      const C = NH * HS, S = P + T;
      const qkv = a.put(randomF32(T * 3 * C, r)), kp = a.put(randomF32(S * C, r)), vp = a.put(randomF32(S * C, r)), sc = a.alloc(4 * S);
      const outs = [0, 1, 2, 3].map(() => a.alloc(4 * T * C));
      k.attention(qkv, T, C, NH, kp, vp, P, outs[0], sc);
      k.attend(qkv, 3 * C, T, C, NH, kp, vp, S, 1, outs[1], sc);
      k.attentionRef(qkv, T, C, NH, kp, vp, P, outs[2], sc);
      k.attendRef(qkv, 3 * C, T, C, NH, kp, vp, S, 1, outs[3], sc);
      const want = bitsOf(a.f32(outs[1], T * C));
      for (const o of outs) assert.deepEqual(bitsOf(a.f32(o, T * C)), want, `NH=${NH} HS=${HS} P=${P} T=${T}`);
    }
  });

  // The reference forwards' attention (src/reference/common.ts) takes the rows a query sees as a list; it
  // must match attend row for row. Imported here, not above, so that work in progress there fails only this test.
  it("equals src/reference/common.ts's attention bit for bit", async () => {
    const { attention } = await import("../../src/reference/common.js");
    const r = rng(25);
    const a = new Arena(k);
    for (const c of attendCases(26).filter((_, i) => i % 3 === 0)) {
      const C = c.NH * c.HS;
      const q = randomF32(c.T * c.qStride, r, 2), kc = randomF32(c.S * C, r), vc = randomF32(c.S * C, r);
      const out = a.alloc(4 * c.T * C);
      k.attend(a.put(q), c.qStride, c.T, C, c.NH, a.put(kc), a.put(vc), c.S, c.causal, out, a.alloc(4 * c.S));
      const got = a.f32(out, c.T * C);
      const rows = (x: Float32Array, n: number) => Array.from({ length: n }, (_, s) => x.subarray(s * C, (s + 1) * C));
      for (let t = 0; t < c.T; t++) {
        const n = c.causal ? c.S - c.T + t + 1 : c.S;
        const want = attention(q.subarray(t * c.qStride, t * c.qStride + C), rows(kc, n), rows(vc, n), c.NH);
        assert.deepEqual(bitsOf(got.subarray(t * C, (t + 1) * C)), bitsOf(want), `${label(c)} t=${t}`);
      }
    }
  });
});

// ─── erf and the exact GELU ─────────────────────────────────────────────────────────────────────
//
// Independent values: erf in 320-bit fixed point (BigInt) from the everywhere-positive series
// erf x = (2/√π) e^(−x²) Σₙ 2ⁿ x²ⁿ⁺¹ / (1·3·…·(2n+1)) (Abramowitz & Stegun 7.1.6), with e^(x²) from its
// Taylor series and π from Machin's formula: another series than the kernel's Taylor expansions, and no
// f64 arithmetic anywhere.

const FRAC = 320n;
const ONE = 1n << FRAC;

/** x · 2^FRAC exactly (x a finite f64 with |x| ≥ 2^−250 or 0). */
function toFixed(x: number): bigint {
  let m = Math.abs(x), e = 0n;
  while (!Number.isInteger(m)) {
    m *= 2;
    e++;
  }
  const v = (BigInt(m) << FRAC) >> e;
  return x < 0 ? -v : v;
}

function isqrt(n: bigint): bigint {
  let x = 1n << BigInt((n.toString(2).length >> 1) + 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** atan(1/n) in fixed point. */
function atanInv(n: bigint): bigint {
  let sum = 0n, power = ONE / n, k = 0n;
  while (power !== 0n) {
    const term = power / (2n * k + 1n);
    sum += k % 2n === 0n ? term : -term;
    power /= n * n;
    k++;
  }
  return sum;
}

const PI = 16n * atanInv(5n) - 4n * atanInv(239n);
const SQRT_PI = isqrt(PI << FRAC);

/** erf(x) · 2^FRAC for x ≥ 0, good to ~2^−300. */
function erfFixed(xf: bigint): bigint {
  const x2 = (xf * xf) >> FRAC;
  let expSum = 0n, term = ONE;
  for (let n = 1n; term !== 0n; n++) {
    expSum += term;
    term = (term * x2) / (n << FRAC);
  }
  let sum = 0n;
  term = xf;
  for (let n = 1n; term !== 0n; n++) {
    sum += term;
    term = (term * 2n * x2) / ((2n * n + 1n) << FRAC);
  }
  // (2/√π) · sum / e^(x²)
  return (((2n * sum) << FRAC) / SQRT_PI << FRAC) / expSum;
}

/** |erf(x) − got|, exactly then rounded. */
function erfError(x: number, got: number): number {
  const want = x < 0 ? -erfFixed(-toFixed(x)) : erfFixed(toFixed(x));
  const d = toFixed(got) - want;
  return Math.abs(Number(d) / 2 ** Number(FRAC));
}

/** f64 inputs: uniform on [−7, 7], small ones down to 1e-20, the table's interval ends and centres. */
function erfInputs(): number[] {
  const r = rng(31);
  const xs: number[] = [0, 6, -6, 5.999999999999999, -5.999999999999999, 0.125, 0.12499999999999999, 1e-20, -3e-9];
  for (let i = 0; i < 1500; i++) xs.push((r() * 2 - 1) * 7);
  for (let i = 0; i < 200; i++) xs.push((r() < 0.5 ? -1 : 1) * 0.125 * 10 ** (-r() * 19));
  for (let j = 1; j <= 48; j++) xs.push(j / 8, j / 8 - 2 ** -50, -(j / 8 + 1 / 16));
  return xs;
}

const GELU_EDGES = [0, -0, 1e-30, -1e-30, 1e-8, -1e-8, 3, -3, 5.9, -5.9, 6, -6, 10, -10, 1e4, -1e4, 3e38, -3e38];

describe("erf and geluErf (exact GELU)", async () => {
  const k = await loadKernels("simd");
  const ks = await loadKernels("scalar");
  const ref = await import("../../src/reference/erf.js");

  it("erf is within 2^-52 of 320-bit values (src/reference/erf.ts and both builds, bit for bit alike)", (t) => {
    let worst = 0, worstAt = 0;
    for (const x of erfInputs()) {
      const got = ref.erf(x);
      assert.ok(Object.is(k.erf(x), got) && Object.is(ks.erf(x), got), `erf(${x}): WASM ${k.erf(x)}, TS ${got}`);
      const err = erfError(x, got);
      if (err > worst) [worst, worstAt] = [err, x];
    }
    t.diagnostic(`max |erf error| ${worst.toExponential(3)} at x = ${worstAt}`);
    assert.ok(worst <= 2 ** -52, `max |error| ${worst} at ${worstAt}`);
  });

  it("erf near 0 keeps its relative accuracy and sign, is ±1 from |x| = 6, and passes NaN", () => {
    for (const x of [1e-8, 1e-4, 0.01, 0.1, 0.12]) {
      const want = Number(erfFixed(toFixed(x))) / 2 ** Number(FRAC);
      assert.ok(erfError(x, ref.erf(x)) <= 2 ** -52 * want, `erf(${x}) = ${ref.erf(x)}, want ${want}`);
      assert.equal(ref.erf(-x), -ref.erf(x));
    }
    // Below 1e-8, erf x = (2/√π) x within 2^−56 relative.
    const twoOverSqrtPi = Number(((2n * ONE) << FRAC) / SQRT_PI) / 2 ** Number(FRAC);
    for (const x of [1e-20, 1e-300, 5e-324]) {
      assert.equal(ref.erf(x), x * twoOverSqrtPi, `erf(${x})`);
      assert.equal(ref.erf(-x), -x * twoOverSqrtPi, `erf(${-x})`);
    }
    assert.ok(Object.is(ref.erf(0), 0) && Object.is(ref.erf(-0), -0) && Object.is(k.erf(-0), -0));
    for (const x of [6, 6.5, 27, 1e300, Infinity]) {
      assert.equal(ref.erf(x), 1);
      assert.equal(ref.erf(-x), -1);
      assert.equal(k.erf(x), 1);
      assert.equal(k.erf(-x), -1);
    }
    assert.ok(Number.isNaN(ref.erf(NaN)) && Number.isNaN(k.erf(NaN)) && Number.isNaN(ks.erf(NaN)));
  });

  it("erf of known constants within 1e-13", () => {
    const known: Array<[number, number]> = [[1, 0.8427007929497149], [0.5, 0.5204998778130465], [2, 0.9953222650189527], [3, 0.9999779095030014]];
    for (const [x, want] of known) {
      for (const got of [ref.erf(x), k.erf(x), ks.erf(x), -ref.erf(-x)]) assert.ok(Math.abs(got - want) <= 1e-13, `erf(${x}) = ${got}, want ${want}`);
    }
  });

  it("geluErf (both builds) equals src/reference/erf.ts's geluErf bit for bit on 10^5 inputs and edge values", () => {
    const r = rng(32);
    const x = new Float32Array(100_000 + GELU_EDGES.length);
    for (let i = 0; i < 100_000; i++) x[i] = (r() * 2 - 1) * 12;
    x.set(GELU_EDGES, 100_000);
    const want = Float32Array.from(x, ref.geluErf);
    for (const kk of [k, ks]) {
      const a = new Arena(kk);
      const p = a.put(x);
      kk.geluErf(p, x.length);
      const out = a.f32(p, x.length), got = bitsOf(out), wantBits = bitsOf(want);
      for (let i = 0; i < x.length; i++) if (got[i] !== wantBits[i]) assert.fail(`${kk.variant} geluErf(${x[i]}) = ${out[i]}, want ${want[i]}`);
    }
  });

  // Off by at most f32 rounding (2^−24 relative) plus |x| · 2^−52: 1 + erf cancels for negative x, where the
  // f64 erf near −1 has steps of 2^−53.
  it("geluErf is 0.5 x (1 + erf(x / √2)) within f32 rounding and the f64 cancellation", () => {
    const r = rng(33);
    const inverseSqrt2 = (ONE << FRAC) / isqrt(2n << (2n * FRAC));
    for (let i = 0; i < 400; i++) {
      const v = Math.fround((r() * 2 - 1) * 10);
      const vf = toFixed(v);
      const e = erfFixed(((vf < 0n ? -vf : vf) * inverseSqrt2) >> FRAC);
      const want = Number((vf * (ONE + (v < 0 ? -e : e))) >> (FRAC + 1n)) / 2 ** Number(FRAC);
      const got = ref.geluErf(v);
      assert.ok(Math.abs(got - want) <= Math.abs(want) * 2 ** -24 + Math.abs(v) * 2 ** -52, `geluErf(${v}) = ${got}, want ${want}`);
    }
    const exact: Array<[number, number]> = [[0, 0], [-0, -0], [10, 10], [-10, -0], [1e4, 1e4], [-1e4, -0], [3e38, Math.fround(3e38)], [-3e38, -0]];
    for (const [v, want] of exact) assert.ok(Object.is(ref.geluErf(Math.fround(v)), want), `geluErf(${v}) = ${ref.geluErf(v)}, want ${want}`);
  });
});
