// Kernel benchmark: GMAC/s of the matrix kernels on GPT-2-124M shapes, SIMD against scalar, with the
// napkin bound from DESIGN.md (int8 dot through i32x4.dot_i16x8_s: 12–16 GMAC/s; 2-bit unpack + dot:
// 10–13 GMAC/s on one core here). Every kernel is first checked against its reference on these shapes.
//
//   npx tsx bench/kernels.ts            → bench/results/kernels.{json,md}

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { Bench } from "tinybench";
import { packCodes, type WeightBits } from "../src/format/quant_formats.js";
import { Arena, loadKernels, rng } from "../test/helpers/wasm.js";

const SHAPES: Array<{ name: string; K: number; N: number }> = [
  { name: "c_attn (768 → 2304)", K: 768, N: 2304 },
  { name: "c_fc (768 → 3072)", K: 768, N: 3072 },
  { name: "mlp c_proj (3072 → 768)", K: 3072, N: 768 },
];
const HEAD = { name: "lm_head (768 → 50257)", C: 768, V: 50257 };

async function main(): Promise<void> {
  const k = await loadKernels("simd");
  const a = new Arena(k);
  const r = rng(1);
  const rows: Array<{ kernel: string; shape: string; bits: number; ms: number; gmacs: number }> = [];
  const bench = new Bench({ time: 400, warmupTime: 100 });
  const tasks: Array<{ label: string; kernel: string; shape: string; bits: number; macs: number }> = [];

  for (const bits of [2, 4, 8] as WeightBits[]) {
    const kmax = (1 << (bits - 1)) - 1;
    for (const { name, K, N } of SHAPES) {
      const codes = Int8Array.from({ length: K * N }, () => Math.floor(r() * (2 * kmax + 1)) - kmax);
      const x = Float32Array.from({ length: K }, () => r() * 2 - 1);
      const xq = a.alloc(K), sx = a.alloc(4);
      k.quantizeActivationRows(a.put(x), xq, sx, 1, K);
      const w = a.put(packCodes(codes, bits)), s = a.put(Float32Array.of(0.01)), out = a.alloc(4 * N), out2 = a.alloc(4 * N), acc = a.alloc(4 * N), perm = a.alloc(4 * N);
      k.matmulQ(xq, sx, 1, K, N, w, bits, s, 0, 0, out, acc, perm, 0, 1);
      k.matmulQRef(xq, sx, 1, K, N, w, bits, s, 0, 0, out2, acc);
      assert.deepEqual(a.f32(out, N), a.f32(out2, N), `matmulQ ${bits}-bit ${name}`);
      for (const [variant, fn] of [["simd", () => k.matmulQ(xq, sx, 1, K, N, w, bits, s, 0, 0, out, acc, perm, 0, 1)], ["scalar", () => k.matmulQRef(xq, sx, 1, K, N, w, bits, s, 0, 0, out, acc)]] as const) {
        const label = `matmulQ ${variant} ${bits}-bit ${name}`;
        bench.add(label, fn);
        tasks.push({ label, kernel: `matmulQ (${variant})`, shape: name, bits, macs: K * N });
      }
    }
    const { C, V } = HEAD;
    const codes = Int8Array.from({ length: V * C }, () => Math.floor(r() * (2 * kmax + 1)) - kmax);
    const xq = a.alloc(C), sx = a.alloc(4);
    k.quantizeActivationRows(a.put(Float32Array.from({ length: C }, () => r() * 2 - 1)), xq, sx, 1, C);
    const w = a.put(packCodes(codes, bits)), s = a.put(Float32Array.of(0.01)), out = a.alloc(4 * V), out2 = a.alloc(4 * V), xperm = a.alloc(C);
    const scale = a.f32(sx, 1)[0];
    k.headPermute(xq, C, bits, xperm);
    k.headQ(xq, scale, V, C, w, bits, s, 0, out, xperm, 0, 1);
    k.headQRef(xq, scale, V, C, w, bits, s, 0, out2);
    assert.deepEqual(a.f32(out, V), a.f32(out2, V), `headQ ${bits}-bit`);
    const label = `headQ simd ${bits}-bit`;
    bench.add(label, () => { k.headPermute(xq, C, bits, xperm); k.headQ(xq, scale, V, C, w, bits, s, 0, out, xperm, 0, 1); });
    tasks.push({ label, kernel: "headQ (simd)", shape: HEAD.name, bits, macs: V * C });
  }
  await bench.run();
  for (const t of tasks) {
    const result = bench.getTask(t.label)!.result as unknown as { latency: { p50: number } };
    const ms = result.latency.p50;
    rows.push({ kernel: t.kernel, shape: t.shape, bits: t.bits, ms, gmacs: t.macs / (ms * 1e6) });
  }
  const machine = `${cpus()[0]?.model ?? "unknown"}, ${cpus().length} cores, Node ${process.version}`;
  const md = [
    "# Kernel benchmark",
    "",
    `One decode step's matrix kernels on GPT-2-124M shapes (T = 1), median latency (tinybench). ${machine}, ${new Date().toISOString().slice(0, 10)}.`,
    "Bound (DESIGN.md, one core): int8 dot via i32x4.dot_i16x8_s 12–16 GMAC/s; 2-bit unpack + dot 10–13 GMAC/s. Command: `npx tsx bench/kernels.ts`.",
    "",
    "| kernel | shape | bits | median ms | GMAC/s |",
    "| --- | --- | ---: | ---: | ---: |",
    ...rows.map((x) => `| ${x.kernel} | ${x.shape} | ${x.bits} | ${x.ms.toFixed(3)} | ${x.gmacs.toFixed(2)} |`),
    "",
  ].join("\n");
  writeFileSync(new URL("./results/kernels.md", import.meta.url), md);
  writeFileSync(new URL("./results/kernels.json", import.meta.url), `${JSON.stringify({ machine, date: new Date().toISOString(), rows }, null, 2)}\n`);
  console.log(md);
}

await main();
