// Threads (src/runtime/threads.ts): every kernel that threads share gives, through a pool of 2 and 3 threads,
// the bytes its single-thread call gives on awkward sizes; whole models give the same token ids on 1, 2 and 3
// threads (GPT-2 greedy and sampled on every kind of weight storage, the 124M student, BART beam search on
// the shipped student and the fp32 fixture); an error in a worker reaches the caller as an exception; the
// `threads` option, dispose() and the memory limit behave as documented; and workers do not keep Node alive.
//
// Exact equality, no tolerance: a part computes its outputs with the same instructions in the same order
// whichever thread runs it and however the outputs are split, so threads change nothing but the time.
//
// Needs build/lowbit.simd.wasm and build/lowbit.simd-threads.wasm (`npm run build`). This machine may have
// fewer cores than threads: the pool must be right (not fast) when oversubscribed.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { runtimeOptions } from "../../scripts/eval_summaries.js";
import { readBartCheckpoint, readGpt2Checkpoint, type Gpt2Checkpoint } from "../../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint, type QuantizeSettings } from "../../src/export/export.js";
import { packCodes, QUANT_FORMATS, type WeightBits } from "../../src/format/quant_formats.js";
import { KernelAbort, kernelFileName, singleThread, type Kernels, type SharedKernel } from "../../src/runtime/kernels.js";
import { loadBartModel, loadGpt2Model, LowbitError, type GenerateOptions, type LoadOptions, type LowbitModel, type Seq2SeqOptions } from "../../src/runtime/index.js";
import { instantiateThreadedKernels, ThreadPool } from "../../src/runtime/threads.js";
import { bartExpected, bartFixtureDir, folderFiles } from "../helpers/bart_fixtures.js";
import { runCli } from "../helpers/cli.js";
import { expected, fixtureDir, ROOT, tempDir } from "../helpers/fixtures.js";
import { Arena, AWKWARD_SIZES, rng } from "../helpers/wasm.js";

const THREADS_WASM = join(ROOT, "build", kernelFileName("simd", true));
assert.ok(existsSync(THREADS_WASM), `${THREADS_WASM} is missing: run \`npm run build\``);
const threadsWasm = readFileSync(THREADS_WASM);

/** Models loaded here, disposed at the end so their workers stop. */
const loaded: LowbitModel[] = [];
after(() => loaded.forEach((m) => m.dispose()));

function keep<M extends LowbitModel>(m: M): M {
  loaded.push(m);
  return m;
}

// ---------------------------------------------------------------------------------------------------------
// Kernels through the pool

const randomF32 = (n: number, r: () => number, scale = 1) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
function randomCodes(n: number, bits: WeightBits, r: () => number): Int8Array {
  const k = QUANT_FORMATS[bits].maxCode;
  return Int8Array.from({ length: n }, () => Math.floor(r() * (2 * k + 1)) - k);
}
const scales = (n: number, r: () => number) => randomF32(n, r, 0.01).map(Math.abs);
const accBytes = (N: number) => 4 * Math.ceil(N / 64) * 64;

/** One call of a shared kernel: its arguments, where its output is, and how to reset in-place inputs. */
interface Case {
  what: string;
  args: number[];
  out: number;
  outBytes: number;
  /** Restores inputs the kernel overwrites (gelu works in place). */
  reset?: () => void;
}

/** Cases for one kernel on kernels `k`, allocated in `a`; `threads` sizes per-part scratch. */
type CaseMaker = (k: Kernels, a: Arena, r: () => number, threads: number) => Case[];

const LINEAR_SHAPES: Array<[number, number, number]> = [];
for (const K of [1, 7, 33, 65, 129]) for (const N of [1, 17, 64, 68, 129, 192]) LINEAR_SHAPES.push([1 + ((K + N) % 3), K, N]);
LINEAR_SHAPES.push([2, 300, 256], [1, 768, 320], [3, 64, 1000]);

function quantizedRows(k: Kernels, a: Arena, r: () => number, T: number, K: number): { xq: number; sx: number } {
  const xq = a.alloc(T * K), sx = a.alloc(4 * T);
  k.quantizeActivationRows(a.put(randomF32(T * K, r, 3)), xq, sx, T, K);
  return { xq, sx };
}

/** Every SharedKernel (the Record makes tsc name a kernel added to the type but missing here). */
const CASES: Record<SharedKernel, CaseMaker> = {
  matmulQ: (k, a, r) => LINEAR_SHAPES.flatMap(([T, K, N]) => ([2, 4, 8] as WeightBits[]).map((bits) => {
    const G = K >= 32 ? 32 : 0;
    const { xq, sx } = quantizedRows(k, a, r, T, K);
    const w = a.put(packCodes(randomCodes(K * N, bits, r), bits)), s = a.put(scales(G ? Math.ceil(K / G) * N : 1, r));
    const out = a.alloc(4 * T * N);
    return { what: `${bits}-bit T=${T} K=${K} N=${N}`, args: [xq, sx, T, K, N, w, bits, s, G, a.put(randomF32(N, r)), out, a.alloc(accBytes(N)), a.alloc(4 * N)], out, outBytes: 4 * T * N };
  })),
  matmulQf32: (k, a, r) => LINEAR_SHAPES.flatMap(([T, K, N]) => ([2, 4, 8] as WeightBits[]).map((bits) => {
    const G = K >= 64 ? 64 : 0;
    const w = a.put(packCodes(randomCodes(K * N, bits, r), bits)), s = a.put(scales(G ? Math.ceil(K / G) * N : 1, r));
    const out = a.alloc(4 * T * N);
    return { what: `${bits}-bit T=${T} K=${K} N=${N}`, args: [a.put(randomF32(T * K, r)), T, K, N, w, bits, s, G, a.put(randomF32(N, r)), out, a.alloc(accBytes(N))], out, outBytes: 4 * T * N };
  })),
  matmulF32: (k, a, r) => LINEAR_SHAPES.map(([T, K, N]) => {
    const out = a.alloc(4 * T * N);
    return { what: `T=${T} K=${K} N=${N}`, args: [a.put(randomF32(T * K, r)), T, K, N, a.put(randomF32(K * N, r, 0.1)), a.put(randomF32(N, r)), out], out, outBytes: 4 * T * N };
  }),
  matmulLut: (k, a, r) => LINEAR_SHAPES.flatMap(([T, K, N]) => {
    const G = K >= 64 ? 32 : 0;
    const ternary = randomCodes(K * N, 2, r);
    const { xq, sx } = quantizedRows(k, a, r, T, K);
    const tables = a.alloc(T * Math.ceil(K / 2) * 32);
    k.lutTables(xq, T, K, tables);
    // As a linear layer (K, N) and as a head (V = N rows of C = K), each in its own repacking.
    const linear = a.alloc(k.lutBytes(K, N)), head = a.alloc(k.lutBytes(K, N));
    assert.equal(k.repackLutKN(a.put(packCodes(ternary, 2)), K, N, linear), 0);
    assert.equal(k.repackLutVC(a.put(packCodes(ternary, 2)), N, K, head), 0);
    const o1 = a.alloc(4 * T * N), o2 = a.alloc(4 * N);
    return [
      { what: `linear T=${T} K=${K} N=${N}`, args: [tables, sx, T, K, N, linear, a.put(scales(G ? Math.ceil(K / G) * N : 1, r)), G, 0, a.put(randomF32(N, r)), o1, a.alloc(accBytes(N))], out: o1, outBytes: 4 * T * N },
      { what: `head V=${N} C=${K}`, args: [tables, sx, 1, K, N, head, a.put(scales(G ? Math.ceil(K / G) * N : 1, r)), G, 1, 0, o2, a.alloc(accBytes(N))], out: o2, outBytes: 4 * N },
    ];
  }),
  matmulPairs: (k, a, r) => LINEAR_SHAPES.flatMap(([T, K, N]) => ([4, 8] as WeightBits[]).map((bits) => {
    const G = K >= 32 ? 32 : 0;
    const { xq, sx } = quantizedRows(k, a, r, T, K);
    const xp = a.alloc(4 * T * Math.ceil(K / 2));
    k.pairsActivations(xq, T, K, xp);
    const w = a.alloc(k.pairsBytes(K, N, bits));
    k.repackPairs(a.put(packCodes(randomCodes(K * N, bits, r), bits)), K, N, bits, w);
    const out = a.alloc(4 * T * N);
    return { what: `${bits}-bit T=${T} K=${K} N=${N}`, args: [xp, sx, T, K, N, w, bits, a.put(scales(G ? Math.ceil(K / G) * N : 1, r)), G, a.put(randomF32(N, r)), out, a.alloc(accBytes(N))], out, outBytes: 4 * T * N };
  })),
  headQ: (k, a, r) => [...AWKWARD_SIZES, 256, 768].flatMap((C) => ([2, 4, 8] as WeightBits[]).map((bits) => {
    const V = 1 + ((C * 37) % 300), G = C >= 64 ? 64 : 0;
    const { xq, sx } = quantizedRows(k, a, r, 1, C);
    const xperm = a.alloc(6 * C);
    k.headPermute(xq, C, bits, G, xperm);
    const w = a.put(packCodes(randomCodes(V * C, bits, r), bits)), s = a.put(scales(G ? V * Math.ceil(C / G) : 1, r));
    const out = a.alloc(4 * V);
    return { what: `${bits}-bit V=${V} C=${C}`, args: [xq, a.f32(sx, 1)[0], V, C, w, bits, s, G, out, xperm], out, outBytes: 4 * V };
  })),
  headQf32: (k, a, r) => [...AWKWARD_SIZES, 256].flatMap((C) => ([2, 4, 8] as WeightBits[]).map((bits) => {
    const V = 1 + ((C * 37) % 300), G = C >= 64 ? 64 : 0;
    const w = a.put(packCodes(randomCodes(V * C, bits, r), bits)), s = a.put(scales(G ? V * Math.ceil(C / G) : 1, r));
    const out = a.alloc(4 * V);
    return { what: `${bits}-bit V=${V} C=${C}`, args: [a.put(randomF32(C, r)), V, C, w, bits, s, G, out], out, outBytes: 4 * V };
  })),
  headF32: (k, a, r) => [...AWKWARD_SIZES, 256].map((C) => {
    const V = 1 + ((C * 37) % 300);
    const out = a.alloc(4 * V);
    return { what: `V=${V} C=${C}`, args: [a.put(randomF32(C, r)), V, C, a.put(randomF32(V * C, r)), out], out, outBytes: 4 * V };
  }),
  attendHeads: (k, a, r, threads) => {
    const cases: Case[] = [];
    // [NH, HS, P, T]: causal over GPT-2's fused qkv rows, and full attention over a separate query (BART).
    for (const [NH, HS, P, T] of [[1, 4, 0, 1], [2, 8, 3, 5], [3, 16, 17, 2], [12, 64, 63, 1], [5, 6, 2, 3], [7, 32, 128, 3]]) {
      const C = NH * HS, S = P + T;
      const kc = a.put(randomF32(S * C, r)), vc = a.put(randomF32(S * C, r)), scores = a.alloc(4 * S * threads);
      const o1 = a.alloc(4 * T * C), o2 = a.alloc(4 * T * C);
      cases.push({ what: `causal NH=${NH} HS=${HS} P=${P} T=${T}`, args: [a.put(randomF32(T * 3 * C, r)), 3 * C, T, C, NH, kc, vc, S, 1, o1, scores], out: o1, outBytes: 4 * T * C });
      cases.push({ what: `full NH=${NH} HS=${HS} S=${S} T=${T}`, args: [a.put(randomF32(T * C, r)), C, T, C, NH, kc, vc, S, 0, o2, scores], out: o2, outBytes: 4 * T * C });
    }
    return cases;
  },
  geluSlice: (k, a, r) => geluCases(a, r),
  geluErfSlice: (k, a, r) => geluCases(a, r),
};

function geluCases(a: Arena, r: () => number): Case[] {
  return [...AWKWARD_SIZES, 3072 + 5, 64 * 3072].map((n) => {
    const input = randomF32(n, r, 4);
    const x = a.put(input);
    const reset = () => new Float32Array(a.k.memory.buffer, x, n).set(input);
    return { what: `n=${n}`, args: [x, n], out: x, outBytes: 4 * n, reset };
  });
}

for (const threads of [2, 3]) {
  describe(`every shared kernel through a pool of ${threads} threads equals its single-thread call, bit for bit`, async () => {
    const k = await instantiateThreadedKernels(threadsWasm, "simd", threads);
    after(() => (k.runner as ThreadPool).dispose());
    const one = singleThread(k);
    for (const kernel of Object.keys(CASES) as SharedKernel[]) {
      it(kernel, () => {
        assert.ok(k.runner instanceof ThreadPool && k.runner.threads === threads);
        const a = new Arena(k);
        for (const c of CASES[kernel](k, a, rng(threads * 1000 + kernel.length), threads)) {
          c.reset?.();
          one.run(kernel, c.args);
          const want = new Uint8Array(k.memory.buffer, c.out, c.outBytes).slice();
          if (c.reset === undefined) new Uint8Array(k.memory.buffer, c.out, c.outBytes).fill(0xa5); // every output must be written again
          c.reset?.();
          k.runner.run(kernel, c.args);
          assert.deepEqual(new Uint8Array(k.memory.buffer, c.out, c.outBytes), want, `${kernel} ${c.what}`);
        }
      });
    }
  });
}

it("thousands of tiny jobs alternating between part counts (4 per thread, 1 per thread), 3 threads: every output right", async () => {
  // The pattern that once hung the pool: a worker waking late for one job while the caller opens the next,
  // whose part count differs. Three threads on this machine's two cores make late wake-ups common.
  const threads = 3;
  const k = await instantiateThreadedKernels(threadsWasm, "simd", threads);
  after(() => (k.runner as ThreadPool).dispose());
  const one = singleThread(k);
  const a = new Arena(k);
  const r = rng(77);
  const n = 700, input = randomF32(n, r, 4), x = a.put(input), y = a.put(input);
  const [C, NH, S, T] = [24, 3, 5, 2];
  const q = a.put(randomF32(T * C, r)), kc = a.put(randomF32(S * C, r)), vc = a.put(randomF32(S * C, r));
  const o1 = a.alloc(4 * T * C), o2 = a.alloc(4 * T * C), scores = a.alloc(4 * S * threads);
  one.run("attendHeads", [q, C, T, C, NH, kc, vc, S, 0, o2, scores]);
  const attended = a.f32(o2, T * C);
  for (let job = 0; job < 4000; job++) {
    if (job % 2 === 0) {
      new Float32Array(k.memory.buffer, x, n).set(input);
      new Float32Array(k.memory.buffer, y, n).set(input);
      k.runner.run("geluSlice", [x, n]);
      one.run("geluSlice", [y, n]);
      assert.deepEqual(a.f32(x, n), a.f32(y, n), `gelu, job ${job}`);
    } else {
      new Float32Array(k.memory.buffer, o1, T * C).fill(Number.NaN);
      k.runner.run("attendHeads", [q, C, T, C, NH, kc, vc, S, 0, o1, scores]);
      assert.deepEqual(a.f32(o1, T * C), attended, `attendHeads, job ${job}`);
    }
  }
});

// ---------------------------------------------------------------------------------------------------------
// Errors

describe("an error on a kernel thread reaches the caller as an exception", async () => {
  const k = await instantiateThreadedKernels(threadsWasm, "simd", 3, 64 * 2 ** 20);
  const pool = k.runner as ThreadPool;
  after(() => pool.dispose());
  const a = new Arena(k);
  const x = a.put(randomF32(16, rng(1))), w = a.put(randomF32(16 * 64, rng(2))), out = a.alloc(4 * 64);
  const beyond = 2 ** 32 - 64; // an output far past the memory's end: every part traps
  const works = () => {
    pool.run("matmulF32", [x, 1, 16, 64, w, 0, out]);
    singleThread(k).run("matmulF32", [x, 1, 16, 64, w, 0, a.alloc(4 * 64)]);
  };

  it("a trap in a worker's part (out-of-bounds memory) is a WebAssembly.RuntimeError naming the kernel, and the pool goes on", () => {
    assert.throws(() => pool.runOnWorkers("matmulF32", [x, 1, 16, 64, w, 0, beyond]), (e: Error) =>
      e instanceof WebAssembly.RuntimeError && /^matmulF32 on a kernel thread: memory access out of bounds/.test(e.message));
    works();
  });

  it("the kernel's abort in a worker (out of memory) is a KernelAbort", () => {
    // A worker's allocate() grows the shared memory past its 64 MiB maximum: the module calls abort.
    assert.throws(() => pool.runOnWorkers("allocate", [2 ** 31]), (e: Error) => e instanceof KernelAbort && /on a kernel thread: lowbit kernel aborted/.test(e.message));
    works();
  });

  it("a trap in the caller's own part throws too, after every worker has finished", () => {
    for (let i = 0; i < 20; i++) assert.throws(() => pool.run("matmulF32", [x, 1, 16, 64, w, 0, beyond]), WebAssembly.RuntimeError);
    works();
  });
});

// ---------------------------------------------------------------------------------------------------------
// Models: the same ids on 1, 2 and 3 threads

const GREEDY: GenerateOptions = { maxNewTokens: 32, stopAtEos: false };
const SAMPLED: GenerateOptions = { ...GREEDY, temperature: 0.8, topK: 40, topP: 0.95, seed: 1234 };

async function gpt2Ids(bytes: Uint8Array, options: LoadOptions, prompt: number[] | string, generate: GenerateOptions): Promise<{ ids: number[]; threads: number }> {
  const m = keep(await loadGpt2Model(bytes, options));
  const ids: number[] = [];
  for await (const tok of m.generate(prompt, generate)) if (tok.id >= 0) ids.push(tok.id);
  return { ids, threads: m.threads };
}

function exportBytes(ckpt: Gpt2Checkpoint, s?: QuantizeSettings): Uint8Array {
  return exportGpt2(s ? quantizeCheckpoint(ckpt, s) : ckpt, { format: "dq", activationBits: s?.activationBits ?? 32, source: "x" }).bytes;
}

describe("GPT-2 (tiny-f32) gives the same ids on 1, 2 and 3 threads, greedy and sampled, on every weight storage", () => {
  const ckpt = readGpt2Checkpoint(fixtureDir("tiny-f32"));
  const prompt = expected("tiny-f32").prompt_ids;
  const W2: QuantizeSettings = { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "mse" };
  const models: Array<{ what: string; bytes: Uint8Array; options?: LoadOptions }> = [
    { what: "2-bit (lookup tables)", bytes: exportBytes(ckpt, W2) },
    { what: "2-bit (unpacking kernels)", bytes: exportBytes(ckpt, W2), options: { lookupTables: false } },
    { what: "4-bit group-32", bytes: exportBytes(ckpt, { ...W2, weightBits: 4, embeddingBits: 4, granularity: "group", groupSize: 32 }) },
    { what: "8-bit, fp32 activations", bytes: exportBytes(ckpt, { ...W2, weightBits: 8, embeddingBits: 8, activationBits: 32 }) },
    { what: "fp32", bytes: exportBytes(ckpt) },
  ];
  for (const { what, bytes, options } of models) {
    it(what, async () => {
      for (const generate of [GREEDY, SAMPLED]) {
        const single = await gpt2Ids(bytes, { ...options, threads: 1 }, prompt, generate);
        assert.equal(single.threads, 1);
        assert.equal(single.ids.length, 32);
        assert.ok(new Set(single.ids).size > 3, `${what}: ${single.ids.join(",")}; the tiny model is expected to vary`);
        for (const threads of [2, 3]) {
          const got = await gpt2Ids(bytes, { ...options, threads }, prompt, generate);
          assert.equal(got.threads, threads);
          assert.deepEqual(got.ids, single.ids, `${what}, ${threads} threads, ${generate.temperature ? "sampled" : "greedy"}`);
        }
      }
    });
  }
});

it("models/quantgpt124m-228.onnx gives the same ids on 1, 2 and 3 threads (greedy and sampled, 8 tokens)", async () => {
  const bytes = readFileSync(join(ROOT, "models", "quantgpt124m-228.onnx"));
  for (const generate of [{ ...GREEDY, maxNewTokens: 8 }, { ...SAMPLED, maxNewTokens: 8 }]) {
    const single = await gpt2Ids(bytes, { threads: 1 }, "The President said that", generate);
    for (const threads of [2, 3]) {
      assert.deepEqual((await gpt2Ids(bytes, { threads }, "The President said that", generate)).ids, single.ids, `${threads} threads`);
    }
    loaded.splice(0).forEach((m) => m.dispose()); // 36 MB each: do not keep them
  }
});

describe("BART beam search gives the same ids on 1, 2 and 3 threads", () => {
  it("models/quantbart-228 (beam 4, the tuned settings): transformers' ids on every thread count", async () => {
    const golden = JSON.parse(readFileSync(join(ROOT, "test", "fixtures", "quantbart228_golden.json"), "utf8")) as {
      settings: Record<string, unknown>; examples: { source_ids: number[]; transformers_ids: number[] }[];
    };
    const options = runtimeOptions(golden.settings);
    for (const threads of [1, 2, 3]) {
      const m = keep(await loadBartModel(join(ROOT, "models", "quantbart-228"), { threads }));
      assert.equal(m.threads, threads);
      for (const ex of golden.examples.slice(0, 2)) {
        const s = await m.summarize([0, ...ex.source_ids, 2], options);
        assert.deepEqual([m.config.decoder_start_token_id, ...s.ids], ex.transformers_ids, `${threads} threads`);
      }
    }
  });

  it("the fp32 fixture (fp32 kernels, exact GELU): generation_config.json's beam search and greedy", async () => {
    const folder = folderFiles(readBartCheckpoint(bartFixtureDir("bart-f32")));
    const input = bartExpected("bart-f32").input_ids;
    const runs: Seq2SeqOptions[] = [{}, { numBeams: 1, maxLength: 20 }];
    const idsOn = async (threads: number) => {
      const m = keep(await loadBartModel(folder, { threads }));
      const out = [];
      for (const o of runs) out.push((await m.summarize(input, o)).ids);
      return out;
    };
    const single = await idsOn(1);
    assert.ok(single[0].length >= 8 && new Set(single[0]).size >= 4, `beam search: ${single[0].join(",")}`);
    for (const threads of [2, 3]) assert.deepEqual(await idsOn(threads), single, `${threads} threads`);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Options, dispose, memory limit, process exit

describe("the threads option, dispose() and the memory limit", () => {
  const bytes = exportBytes(readGpt2Checkpoint(fixtureDir("tiny-f32")), { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "mse" });

  it("threads 1 runs today's build on one thread, without shared memory; more shares it", async () => {
    const one = keep(await loadGpt2Model(bytes, { threads: 1 }));
    assert.equal(one.threads, 1);
    assert.ok(one.wasmMemoryBytes() > 0);
    const kOne = (one.executor as unknown as { k: Kernels }).k;
    assert.ok(kOne.memory.buffer instanceof ArrayBuffer, "threads: 1 owns an unshared memory (build/lowbit.simd.wasm)");
    const two = keep(await loadGpt2Model(bytes, { threads: 2 }));
    assert.equal(two.threads, 2);
    assert.ok((two.executor as unknown as { k: Kernels }).k.memory.buffer instanceof SharedArrayBuffer);
  });

  it("the default is the core count (at most 8); scalar kernels and given single-thread kernels run on one thread", async () => {
    const { availableParallelism } = await import("node:os");
    assert.equal(keep(await loadGpt2Model(bytes)).threads, Math.min(8, availableParallelism()));
    assert.equal(keep(await loadGpt2Model(bytes, { variant: "scalar", threads: 2 })).threads, 1);
    const kernels = readFileSync(join(ROOT, "build", kernelFileName("simd")));
    assert.equal(keep(await loadGpt2Model(bytes, { kernels })).threads, 1);
    assert.equal(keep(await loadGpt2Model(bytes, { kernels, threadKernels: threadsWasm, threads: 2 })).threads, 2);
    await assert.rejects(loadGpt2Model(bytes, { kernels, threads: 2 }), (e: Error) => e instanceof LowbitError && /threads > 1 needs the threads build/.test(e.message));
  });

  it("invalid threads are refused", async () => {
    for (const threads of [0, 1.5, 65, Number.NaN]) {
      await assert.rejects(loadGpt2Model(bytes, { threads }), (e: Error) => e instanceof LowbitError && /^invalid threads; expected an integer in 1\.\.64/.test(e.message), String(threads));
    }
  });

  it("dispose() stops the workers; the model refuses to run afterwards", async () => {
    const m = await loadGpt2Model(bytes, { threads: 2 });
    m.dispose();
    m.dispose(); // twice is harmless
    await assert.rejects(m.generate([1, 2, 3]).next(), /this model was disposed/);
  });

  it("the memory limit holds with shared memory: the engine refuses to grow past it, and allocations fail cleanly", async () => {
    await assert.rejects(loadGpt2Model(bytes, { threads: 2, memoryLimitBytes: 64 * 1024 }), (e: Error) =>
      e instanceof LowbitError && /out of WASM memory/.test(e.message) && /over the limit of 65536/.test(e.message));
    const limit = 8 * 2 ** 20;
    const m = keep(await loadGpt2Model(bytes, { threads: 2, memoryLimitBytes: limit }));
    const memory = (m.executor as unknown as { k: Kernels }).k.memory;
    assert.throws(() => memory.grow(limit / 65536 - memory.buffer.byteLength / 65536 + 1), RangeError);
  });

  it("the CLI: --threads on generate, summarize and perplexity, reported by --json, the same output on 1 and 2", () => {
    const dir = tempDir();
    const text = join(dir, "text.txt");
    writeFileSync(text, "The President said that the Congress would meet again in the spring. ".repeat(8));
    const commands: Array<[string, string[]]> = [
      ["generate", ["generate", "--model", join(ROOT, "models", "quantgpt-228.onnx"), "--prompt", "The President said that", "--max-new-tokens", "12", "--seed", "3", "--temperature", "0.8", "--json"]],
      ["summarize", ["summarize", "--model", join(ROOT, "models", "quantbart-228"), "--text", "The Congress has before it a bill to improve the rivers and harbors of the country. I recommend that the bill be passed.", "--json"]],
      ["perplexity", ["perplexity", "--model", join(ROOT, "models", "quantgpt-228.onnx"), "--text", text, "--json"]],
    ];
    for (const [name, args] of commands) {
      const runs = [1, 2].map((threads) => {
        const r = runCli([...args, "--threads", String(threads)]);
        assert.equal(r.status, 0, `${name} --threads ${threads}: ${r.stderr}`);
        const out = JSON.parse(r.stdout) as Record<string, unknown>;
        assert.equal(out.threads, threads, `${name} --threads ${threads}`);
        return out;
      });
      const same = name === "generate" ? "ids" : name === "summarize" ? "ids" : "perplexity";
      assert.deepEqual(runs[1][same], runs[0][same], `${name}: ${same}`);
    }
    const bad = runCli([...commands[0][1], "--threads", "0"]);
    assert.equal(bad.status, 1);
    assert.equal(bad.stderr, 'lowbit: error: invalid --threads; expected an integer in 1..64, found "0"\n');
  });

  it("workers do not keep Node alive: a script that never disposes its model exits", () => {
    const script = `
      const { loadGpt2Model } = await import(${JSON.stringify(join(ROOT, "src", "runtime", "index.ts"))});
      const { readFileSync } = await import("node:fs");
      const m = await loadGpt2Model(readFileSync(${JSON.stringify(join(ROOT, "models", "quantgpt-228.onnx"))}), { threads: 2 });
      for await (const t of m.generate([464], { maxNewTokens: 3 })) {}
      console.log("threads", m.threads);`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    assert.equal(r.signal, null, `the script did not exit on its own: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "threads 2");
  });
});
