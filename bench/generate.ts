// Generation benchmark: GPT-2-124M-shaped exports (random weights) at fp32, W8, W4 and W2 (embedding bits =
// weight bits, A8), plus one trained file used as it is (the 124M-shaped 2-2-8 QuantGPT student,
// models/quantgpt124m-228.onnx, "dq" format, per-module scales), each run by lowbit's WASM runtime, by
// onnxruntime-web's WASM backend in Node and by onnxruntime-node, every engine at 1 thread and at N (the core
// count; --threads), side by side in one run. lowbit also runs the 2-bit files (and W4: --unpacking-bits) at
// 1 thread with `lookupTables: false`, the unpacking kernels it had before the lookup-table and pairs
// kernels: the same-run baseline of the 2× goal. Then, through bench/bart.ts's measureBart(), BART-base
// shapes (--bart: 2-2-8 and fp32 by default) on lowbit and onnxruntime-web at the same thread counts, for
// the beam-4 goal. Ends with a goals section computed from this run (and, for W4, the committed
// bench/results/generate.json, named as such).
//
// Measures decode tokens/s, prefill tokens/s, load time, peak RSS, for lowbit WASM memory against the
// weights as placed (repacked copies counted: they are what is in memory) + KV cache, and engine agreement:
// whether each row's greedy ids equal lowbit's (1 thread, default kernels) on the same file, how many
// leading ids agree and where they first differ.
//
// Why the trained row: random weights give near-tied logits, so greedy ids there break ties on rounding and
// a difference between engines says little. The trained student has peaked logits, so engines that run the
// same function should agree on every step. Its prompts are real text (PASSAGE below, tokenized with the
// file's own embedded tokenizer: the first 32 tokens for decoding, the first 128 for prefill), where the
// random rows use seeded random ids; and its agreement is checked over all 128 new tokens for lowbit's rows
// and onnxruntime's 1-thread rows (one extra untimed greedy run where a timed run was capped by
// --decode-budget-s); onnxruntime's N-thread rows compare their timed runs, to keep the run short.
//
// Every engine × file × threads runs in a fresh child process (this file re-invoked with --child), so peak
// RSS is its own (worker threads included: they live in the same process). Timings are medians of --runs
// timed runs after one untimed warm-up; the first prefill after loading is kept as "cold". Not a kernel
// benchmark (bench/kernels.ts is) and not a quality check.
//
//   npx tsx bench/generate.ts [--runs 3] [--decode-budget-s 8] [--threads 1,N] [--models w2-dq,trained-w2-dq]
//                             [--unpacking-bits 2,4] [--bart w2,fp32 | --bart ""] [--bart-decode-budget-s 3]
//                             [--bart-encoder-budget-s 12] [--trained models/quantgpt124m-228.onnx | --trained ""]
//                             [--checkpoint DIR] [--reuse-exports]
// Writes bench/results/generate.json and bench/results/generate.md from the rows this run measured (a run
// with --models writes only those, and says so in the markdown's header). bench/results/bart.* are left alone.
//
// Letters: L layers, C n_embd, F = 4C, V vocab, NH heads, HS = C / NH.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { readGpt2Checkpoint } from "../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint } from "../src/export/export.js";
import { writeFileAtomic } from "../src/export/atomic_write.js";
import { loadGpt2Model } from "../src/runtime/index.js";
import { GPT2_124M, makeRandomGpt2 } from "../scripts/make_random_gpt2.js";
import { openOrtGpt2, ortGreedy, ortStep, type Gpt2Dims } from "./ort_gpt2.js";
import { seededRandom } from "../src/runtime/sampling.js";
import { agreement as bartAgreement, BART_MODELS, type BartRow, defaultThreadCounts, measureBart, parseThreadList } from "./bart.js";
import { childMain, cpuMs, engineName, type EngineRun, fmt, machineInfo, median, peakRssBytes, runChild, selectModels } from "./harness.js";
import { importOrtWeb, ortRuntime } from "./ort_web.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const SELF = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------------------
// What is measured
// ---------------------------------------------------------------------------------------------------------

const DECODE_PROMPT = 32; // tokens of prompt before decoding
const NEW_TOKENS = 128; // generated tokens; the first comes from the prompt's logits, so 127 are decode steps
const PREFILL_PROMPT = 128; // tokens of the prompt whose time to first logits is "prefill"
const CONTEXT = Math.max(DECODE_PROMPT + NEW_TOKENS, PREFILL_PROMPT + 1); // KV-cache rows lowbit allocates
const MIN_DECODE_STEPS = 16; // a capped decode run still times at least this many steps
const PROBE_STEPS = 6; // decode steps per optimization level when choosing onnxruntime-web's level
const WEB_LEVELS = ["disabled", "basic", "all"] as const;

const DIMS: Gpt2Dims = { nLayer: GPT2_124M.layers, nHead: GPT2_124M.heads, headSize: GPT2_124M.embd / GPT2_124M.heads, vocab: GPT2_124M.vocab };

interface ModelSpec {
  key: string; // file label
  label: string; // W-E-A label for tables
  bits: 32 | 8 | 4 | 2;
  format: "dq" | "nbits";
  /** A trained file used as it is (--trained), with text prompts; otherwise exported from the random checkpoint. */
  trained?: boolean;
  /** Run only when --models names it (the nbits files: onnxruntime's fast path, not lowbit's format). */
  optional?: boolean;
}

const TRAINED_DEFAULT = join(HERE, "..", "models", "quantgpt124m-228.onnx");
const TRAINED_KEY = "trained-w2-dq";

const MODELS: ModelSpec[] = [
  { key: "fp32-dq", label: "fp32", bits: 32, format: "dq" },
  { key: "w8-dq", label: "8-8-8 dq", bits: 8, format: "dq" },
  { key: "w4-dq", label: "4-4-8 dq", bits: 4, format: "dq" },
  { key: "w2-dq", label: "2-2-8 dq", bits: 2, format: "dq" },
  // Beside the random W2 dq row; its label names the file --trained gives.
  { key: TRAINED_KEY, label: "2-2-8 dq, trained", bits: 2, format: "dq", trained: true },
  { key: "w4-nbits", label: "4-4-8 nbits", bits: 4, format: "nbits", optional: true },
  { key: "w2-nbits", label: "2-2-8 nbits", bits: 2, format: "nbits", optional: true },
];

/** The lowbit row an engine's greedy ids are compared with: the same file, or the dq file of its bit width. */
const referenceKey = (spec: ModelSpec): string => (spec.format === "dq" ? spec.key : `w${spec.bits}-dq`);

/** n token ids below V (GPT-2's 50257), fixed by the seed. */
function promptIds(n: number, seed: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => Math.floor(random() * DIMS.vocab));
}

/**
 * Plain English for the trained file's prompts (written for this benchmark). It must tokenize to at least
 * PREFILL_PROMPT tokens; the decode prompt is its first DECODE_PROMPT tokens, the prefill prompt its first
 * PREFILL_PROMPT.
 */
const PASSAGE =
  "The old lighthouse stood at the end of a narrow road that ran along the cliffs above the harbour. " +
  "Every evening the keeper climbed the one hundred and twelve steps to the lamp room, wound the clockwork " +
  "that turned the great lens, and wrote the weather in a heavy book with a green cover. In the morning he " +
  "walked down to the village to buy bread and to hear the news from the fishing boats. Most days nothing " +
  "happened at all, and he liked it that way. The children of the village thought that he must be lonely, " +
  "but he told them that the sea was never quiet for long, and that a man who listens to the wind always " +
  "has someone to talk to. When the winter storms came, the boats stayed in the harbour for a week at a " +
  "time, and the keeper kept the light burning through the longest nights of the year.";

/** Prompts a child runs: the decode prompt and the prefill prompt (token ids). */
interface Prompts {
  decode: number[];
  prefill: number[];
}

const randomPrompts = (): Prompts => ({ decode: promptIds(DECODE_PROMPT, 1), prefill: promptIds(PREFILL_PROMPT, 2) });

/** PASSAGE tokenized with the trained file's own tokenizer, cut to the two prompt lengths. */
async function textPrompts(file: string): Promise<Prompts & { passage_tokens: number; decode_text: string; tokenizer: Awaited<ReturnType<typeof loadGpt2Model>>["tokenizer"] }> {
  const model = await loadGpt2Model(file, { variant: "simd", contextLength: 2, threads: 1 });
  model.dispose();
  const tokenizer = model.tokenizer;
  const ids = tokenizer.encode(PASSAGE);
  if (ids.length < PREFILL_PROMPT) throw new Error(`PASSAGE is ${ids.length} tokens with ${file}'s tokenizer, fewer than the ${PREFILL_PROMPT} the prefill prompt needs`);
  const decode = ids.slice(0, DECODE_PROMPT);
  return { decode, prefill: ids.slice(0, PREFILL_PROMPT), passage_tokens: ids.length, decode_text: tokenizer.decode(decode), tokenizer };
}

const parseIds = (s: string): number[] => s.split(",").map((x) => {
  const n = Number(x);
  if (!Number.isInteger(n) || n < 0 || n >= DIMS.vocab) throw new Error(`prompt id: expected an integer below ${DIMS.vocab}, found ${x}`);
  return n;
});


/** Multiply-accumulates of one decoded token in the linear layers and the head (attention excluded). */
function macsPerToken(): { linear: number; head: number } {
  const C = GPT2_124M.embd;
  const F = 4 * C;
  return { linear: GPT2_124M.layers * (C * 3 * C + C * C + C * F + F * C), head: GPT2_124M.vocab * C };
}

// ---------------------------------------------------------------------------------------------------------
// Children: one engine on one file, in this process
// ---------------------------------------------------------------------------------------------------------

/** An engine as the harness sees it: load once, then prefills and greedy decodes on a fresh cache each. */
interface Engine {
  /** Time to the first logits of `prompt` (a new sequence). */
  prefill(prompt: number[]): Promise<number>;
  /** Greedy: prompt, then `steps` one-token forwards; decodeMs covers those steps only. */
  decode(prompt: number[], steps: number): Promise<{ ids: number[]; decodeMs: number }>;
}

/**
 * cpu_share: the process's CPU time ÷ (wall time × threads asked for) over each timed call, median. Near 1
 * when the engine had its cores to itself (spinning workers count as busy); well below 1 when something
 * else on this shared machine took them, so the row's speed says less about the engine.
 */
interface Timings {
  prefill: { prompt_tokens: number; cold_ms: number; runs_ms: number[]; median_ms: number; tokens_per_s: number; cpu_share: number };
  decode: {
    prompt_tokens: number; steps: number; capped: boolean; estimated_step_ms: number;
    runs_ms: number[]; runs_tokens_per_s: number[]; tokens_per_s: number; ids: number[]; cpu_share: number;
    /** --full-agreement: greedy ids over all NEW_TOKENS (an extra untimed run where the timed ones were capped). */
    full_ids?: number[];
  };
}

interface ChildArgs {
  model: string;
  runs: number;
  decodeBudgetS: number;
  level: string;
  /** Threads asked for: lowbit's `threads`, onnxruntime-web's numThreads, onnxruntime-node's intra-op threads. */
  threads: number;
  /** lowbit: LoadOptions.lookupTables (false: the unpacking kernels). */
  lookupTables: boolean;
  prompts: Prompts;
  fullAgreement: boolean;
}

/** Runs f, and the CPU share over it (see Timings). */
async function withCpuShare<T>(threads: number, f: () => Promise<T>): Promise<{ value: T; share: number }> {
  const c0 = cpuMs();
  const t0 = performance.now();
  const value = await f();
  return { value, share: (cpuMs() - c0) / ((performance.now() - t0) * threads) };
}

/** Cold prefill, warm prefills, one short warm-up decode (which sizes the timed runs), timed decodes. */
async function measure(engine: Engine, a: ChildArgs): Promise<Timings> {
  const long = a.prompts.prefill;
  const short = a.prompts.decode;
  const coldMs = await engine.prefill(long);
  const prefillRuns: number[] = [];
  const prefillShares: number[] = [];
  for (let r = 0; r < a.runs; r++) {
    const { value, share } = await withCpuShare(a.threads, () => engine.prefill(long));
    prefillRuns.push(value);
    prefillShares.push(share);
  }

  const warm = await engine.decode(short, 4);
  const estimate = warm.decodeMs / 4;
  const full = NEW_TOKENS - 1;
  const steps = Math.min(full, Math.max(MIN_DECODE_STEPS, Math.floor((a.decodeBudgetS * 1e3) / estimate)));
  const decodeRuns: number[] = [];
  const decodeShares: number[] = [];
  let ids: number[] = [];
  for (let r = 0; r < a.runs; r++) {
    const { value: run, share } = await withCpuShare(a.threads, () => engine.decode(short, steps));
    decodeRuns.push(run.decodeMs);
    decodeShares.push(share);
    ids = run.ids;
  }
  // Untimed: the ids over every new token, for the agreement check, where the timed runs stopped short.
  const fullIds = !a.fullAgreement ? undefined : steps < full ? (await engine.decode(short, full)).ids : ids;
  const prefillMedian = median(prefillRuns);
  const rates = decodeRuns.map((ms) => steps / (ms / 1e3));
  return {
    prefill: {
      prompt_tokens: PREFILL_PROMPT, cold_ms: coldMs, runs_ms: prefillRuns, median_ms: prefillMedian, tokens_per_s: PREFILL_PROMPT / (prefillMedian / 1e3), cpu_share: median(prefillShares),
    },
    decode: {
      prompt_tokens: DECODE_PROMPT, steps, capped: steps < full, estimated_step_ms: estimate,
      runs_ms: decodeRuns, runs_tokens_per_s: rates, tokens_per_s: steps / (median(decodeRuns) / 1e3), ids, cpu_share: median(decodeShares),
      ...(fullIds === undefined ? {} : { full_ids: fullIds }),
    },
  };
}

/** lowbit's kernels: "default" (2-bit: lookup tables; 4/8-bit: pairs; as LoadOptions leave them) or "unpacking" (lookupTables: false). */
type KernelChoice = "default" | "unpacking";

interface ChildResult extends Timings, EngineRun {
  level: string;
  lowbit?: {
    variant: string; kernels: KernelChoice; wasm_memory_bytes: number; weight_bytes: number; kv_cache_bytes: number; kv_rows: number; memory_ratio: number;
    /** How many weights the executor placed in each layout (packed as stored, or repacked at load). */
    layouts: Record<string, number>;
  };
}

/**
 * How many of the executor's weights sit in each layout ("packed", "lut2", "pairs"): that the unpacking row
 * really runs the unpacking kernels, and the default rows the repacked ones. Reads the executor's private
 * layers and head (src/runtime/gpt2.ts: MappedWeight.layout), as a benchmark may; fp32 weights are "packed".
 */
function weightLayouts(executor: object): Record<string, number> {
  const e = executor as unknown as { layers?: Array<Record<string, unknown>>; head?: unknown };
  const counts: Record<string, number> = {};
  const count = (w: unknown) => {
    const layout = (w as { layout?: unknown } | undefined)?.layout;
    if (typeof layout === "string") counts[layout] = (counts[layout] ?? 0) + 1;
  };
  for (const layer of e.layers ?? []) for (const w of Object.values(layer)) count(w);
  count(e.head);
  return counts;
}

async function childLowbit(a: ChildArgs): Promise<ChildResult> {
  const model = await loadGpt2Model(a.model, { variant: "simd", contextLength: CONTEXT, threads: a.threads, lookupTables: a.lookupTables });
  const run = async (prompt: number[], maxNewTokens: number) => {
    const ids: number[] = [];
    for await (const t of model.generate(prompt, { maxNewTokens, stopAtEos: false })) if (t.id >= 0) ids.push(t.id);
    return { ids, stats: model.lastStats! };
  };
  const engine: Engine = {
    prefill: async (prompt) => (await run(prompt, 1)).stats.prefillMs,
    decode: async (prompt, steps) => {
      const { ids, stats } = await run(prompt, steps + 1);
      return { ids, decodeMs: stats.decodeMs };
    },
  };
  const timings = await measure(engine, a);
  const e = model.executor;
  const wasm = model.wasmMemoryBytes();
  const layouts = weightLayouts(e);
  model.dispose(); // stops the worker threads, so that the child exits
  return {
    engine: "lowbit", level: "-", threads: String(model.threads), load_ms: model.loadMs, ...timings,
    peak_rss_bytes: peakRssBytes(), versions: { nodejs: process.version },
    lowbit: {
      variant: model.kernelVariant, kernels: a.lookupTables ? "default" : "unpacking", wasm_memory_bytes: wasm, weight_bytes: e.weightBytes,
      kv_cache_bytes: e.kvCacheBytes, kv_rows: e.capacity, memory_ratio: wasm / (e.weightBytes + e.kvCacheBytes), layouts,
    },
  };
}

function ortEngine(m: Awaited<ReturnType<typeof openOrtGpt2>>): Engine {
  return {
    prefill: async (prompt) => {
      const t0 = performance.now();
      await ortStep(m, prompt, undefined);
      return performance.now() - t0;
    },
    decode: async (prompt, steps) => {
      const { ids, decodeMs } = await ortGreedy(m, prompt, steps);
      return { ids, decodeMs };
    },
  };
}

async function childOrt(kind: "ort-web" | "ort-node", a: ChildArgs): Promise<ChildResult> {
  const { ort, versions, wasmFile, threadsInUse, options: base } = await ortRuntime(kind, a.threads);
  const options = { ...base, graphOptimizationLevel: a.level as "disabled" | "basic" | "all" };
  const t0 = performance.now();
  const m = await openOrtGpt2(ort, a.model, DIMS, options);
  const loadMs = performance.now() - t0;
  const timings = await measure(ortEngine(m), a);
  await m.session.release();
  return {
    engine: kind, level: a.level, threads: String(threadsInUse()), load_ms: loadMs, ...timings,
    peak_rss_bytes: peakRssBytes(), versions, ort_web_wasm: wasmFile?.(),
  };
}

interface ProbeResult {
  level: string;
  load_ms: number;
  prompt_ms: number;
  step_ms: number[];
  median_step_ms: number;
}

/** onnxruntime-web at each optimization level: load, a 32-token prompt, PROBE_STEPS decode steps. */
async function childWebProbe(a: ChildArgs): Promise<ProbeResult[]> {
  const { ort } = await importOrtWeb();
  const out: ProbeResult[] = [];
  for (const level of WEB_LEVELS) {
    const t0 = performance.now();
    const m = await openOrtGpt2(ort, a.model, DIMS, { executionProviders: ["wasm"], graphOptimizationLevel: level, logSeverityLevel: 3 });
    const loadMs = performance.now() - t0;
    const run = await ortGreedy(m, a.prompts.decode, PROBE_STEPS);
    await m.session.release();
    // The first step after a prompt still grows ORT's buffers: leave it out.
    out.push({ level, load_ms: loadMs, prompt_ms: run.prefillMs, step_ms: run.stepMs, median_step_ms: median(run.stepMs.slice(1)) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Parent: files, children, tables
// ---------------------------------------------------------------------------------------------------------

/** Exports every file of MODELS from the checkpoint (in this process; the checkpoint is freed after). */
function exportFiles(models: ModelSpec[], checkpoint: string, outDir: string, reuse: boolean): Record<string, { path: string; bytes: number; export_ms: number }> {
  const files: Record<string, { path: string; bytes: number; export_ms: number }> = {};
  if (models.length === 0) return files;
  const todo = models.filter((s) => !(reuse && existsSync(join(outDir, `${s.key}.onnx`))));
  const ckpt = todo.length > 0 ? readGpt2Checkpoint(checkpoint) : undefined;
  for (const s of models) {
    const path = join(outDir, `${s.key}.onnx`);
    const t0 = performance.now();
    if (todo.includes(s)) {
      const q = s.bits === 32
        ? ckpt!
        : quantizeCheckpoint(ckpt!, { weightBits: s.bits, embeddingBits: s.bits, activationBits: 8, granularity: "module", groupSize: 0, clip: "maxabs" });
      const { bytes } = exportGpt2(q, { format: s.format, activationBits: s.bits === 32 ? 32 : 8, source: checkpoint });
      writeFileAtomic(path, bytes);
    }
    files[s.key] = { path, bytes: statSync(path).size, export_ms: performance.now() - t0 };
    console.error(`${s.key}: ${path} (${(files[s.key].bytes / 2 ** 20).toFixed(1)} MiB${todo.includes(s) ? `, exported in ${(files[s.key].export_ms / 1e3).toFixed(1)} s` : ", reused"})`);
  }
  return files;
}


/** One child's configuration: an engine at a thread count; lowbit also with its unpacking kernels. */
interface Lane {
  engine: ChildResult["engine"];
  threads: number;
  kernels: KernelChoice;
}

interface Row extends Partial<ChildResult> {
  model: string;
  label: string;
  file_bytes: number;
  engine: ChildResult["engine"];
  /** Threads the engine ran on, as it reported them (a failed row: as asked). */
  threads: string;
  threads_requested: number;
  kernels: KernelChoice;
  level: string;
  wall_ms: number;
  error?: string;
  /** Greedy ids against lowbit's (1 thread, default kernels) on the same file (nbits files: the dq file of the same bits). */
  agreement?: Agreement;
}

const mib = (bytes: number | undefined): string => (bytes === undefined ? "—" : (bytes / 2 ** 20).toFixed(bytes < 2 ** 30 ? 1 : 0));

interface Agreement {
  /** The lowbit row compared with (model key). */
  reference: string;
  /** Whether the ids equal lowbit's over the compared length. */
  equal: boolean;
  /** Leading ids that agree. */
  leading_agree: number;
  /** Ids compared: the shorter run's length. */
  compared: number;
  /** Index (0-based, among the new tokens) of the first difference; null where they all agree. */
  first_difference: number | null;
  /** Whether the comparison covers every new token (the trained row's full-length check). */
  full_length: boolean;
}

/** Greedy ids of `b` against the reference `a`: leading ids that agree, over the shorter run. */
function compareIds(reference: string, a: number[], b: number[], fullLength: boolean): Agreement {
  const n = Math.min(a.length, b.length);
  let k = 0;
  while (k < n && a[k] === b[k]) k++;
  return { reference, equal: k === n, leading_agree: k, compared: n, first_difference: k === n ? null : k, full_length: fullLength };
}

function agreementCell(g: Agreement | undefined): string {
  if (g === undefined) return "—";
  return g.equal ? `yes, ${g.leading_agree}/${g.compared}` : `no: ${g.leading_agree}/${g.compared}, first differs at new token ${g.first_difference! + 1}`;
}


/** Where an earlier figure came from: the committed bench/results/generate.json (git HEAD), else the file on disk before this run. */
interface EarlierRun {
  source: string;
  date?: string;
  command?: string;
  rows: Array<{ model: string; engine: string; threads: string; kernels?: string; decode?: { tokens_per_s: number }; prefill?: { tokens_per_s: number } }>;
}

function earlierRun(): EarlierRun | undefined {
  const root = join(HERE, "..");
  const parse = (text: string, source: string): EarlierRun => {
    const j = JSON.parse(text) as Omit<EarlierRun, "source">;
    return { source, date: j.date, command: j.command, rows: j.rows ?? [] };
  };
  try {
    const git = (args: string[]) => execFileSync("git", args, { cwd: root, encoding: "utf8", maxBuffer: 256 << 20, stdio: ["ignore", "pipe", "ignore"] });
    const commit = git(["log", "-1", "--format=%h (%cs)", "HEAD", "--", "bench/results/generate.json"]).trim();
    return parse(git(["show", "HEAD:bench/results/generate.json"]), `bench/results/generate.json as committed in ${commit}`);
  } catch {
    // Not a git checkout: the file this run is about to overwrite.
    const path = join(HERE, "results", "generate.json");
    return existsSync(path) ? parse(readFileSync(path, "utf8"), "bench/results/generate.json on disk before this run (no git)") : undefined;
  }
}

const BITS_NAME: Record<number, string> = { 32: "fp32", 8: "W8", 4: "W4", 2: "W2" };

async function main(): Promise<void> {
  const o = new Command()
    .option("--runs <n>", "timed runs per measurement (median reported)", Number, 3)
    .option("--decode-budget-s <s>", "cap one timed decode run at about this long (fewer tokens, at least 16)", Number, 8)
    .option("--threads <list>", "thread counts every engine runs at (parent), or the one for --child", defaultThreadCounts().join(","))
    .option("--unpacking-bits <list>", "bit widths whose dq files lowbit also runs at 1 thread with lookupTables: false (\"\" for none)", "2,4")
    .option("--checkpoint <dir>", "124M-shaped checkpoint (made if missing)", join(tmpdir(), "lowbit-gpt2-124m-random"))
    .option("--files <dir>", "where the exported .onnx files go", join(tmpdir(), "lowbit-bench-generate"))
    .option("--reuse-exports", "reuse exported files and BART folders already there (default: export afresh)", false)
    .option("--models <keys>", `comma-separated subset of ${MODELS.map((m) => m.key).join(",")} (default: all but the nbits files)`)
    .option("--trained <file>", `the trained 124M-shaped file of row ${TRAINED_KEY}, used as it is ("" skips the row)`, TRAINED_DEFAULT)
    .option("--bart <keys>", `BART-base folders to add, some of ${BART_MODELS.map((m) => m.key).join(",")} ("" skips BART)`, "w2,fp32")
    .option("--bart-runs <n>", "timed runs of the BART rows (default: --runs)", Number)
    .option("--bart-decode-budget-s <s>", "cap one timed BART decode run at about this long (at least 8 steps)", Number, 3)
    .option("--bart-encoder-budget-s <s>", "BART warm encoder runs: up to the runs, fewer where they would take longer than this", Number, 12)
    .option("--bart-checkpoint <dir>", "bart-base-shaped checkpoint (made if missing)", join(tmpdir(), "lowbit-bart-base-random"))
    .option("--bart-folders <dir>", "where the exported BART folders go", join(tmpdir(), "lowbit-bench-bart"))
    .option("--child <engine>", "internal: lowbit | ort-web | ort-node | ort-web-probe")
    .option("--model <file>", "internal: .onnx for --child")
    .option("--level <l>", "internal: graph optimization level for --child", "all")
    .option("--no-lookup-tables", "internal: lowbit --child with lookupTables: false (the unpacking kernels)")
    .option("--decode-prompt <ids>", "internal: comma-separated decode prompt for --child (default: seeded random ids)")
    .option("--prefill-prompt <ids>", "internal: comma-separated prefill prompt for --child (default: seeded random ids)")
    .option("--full-agreement", "internal: --child also reports greedy ids over all new tokens", false)
    .parse()
    .opts();
  const threadCounts = parseThreadList(o.threads);
  if (o.child !== undefined) {
    const random = randomPrompts();
    const prompts: Prompts = {
      decode: o.decodePrompt === undefined ? random.decode : parseIds(o.decodePrompt),
      prefill: o.prefillPrompt === undefined ? random.prefill : parseIds(o.prefillPrompt),
    };
    const childArgs: ChildArgs = {
      model: o.model, runs: o.runs, decodeBudgetS: o.decodeBudgetS, level: o.level, threads: threadCounts[0], lookupTables: o.lookupTables, prompts, fullAgreement: o.fullAgreement,
    };
    return childMain(o.child, {
      lowbit: () => childLowbit(childArgs),
      "ort-web": () => childOrt("ort-web", childArgs),
      "ort-node": () => childOrt("ort-node", childArgs),
      "ort-web-probe": () => childWebProbe(childArgs),
    });
  }

  const unpackingBits = o.unpackingBits === "" ? [] : (o.unpackingBits as string).split(",").map(Number);
  if (unpackingBits.some((b) => ![2, 4, 8].includes(b))) throw new Error(`--unpacking-bits: expected some of 2,4,8, found ${o.unpackingBits}`);
  const trainedFile: string = o.trained;
  const trainedName = trainedFile === "" ? "" : relative(process.cwd(), trainedFile) || trainedFile;
  let models = (o.models === undefined ? MODELS.filter((m) => !m.optional) : selectModels(MODELS, o.models))
    .map((s) => (s.trained ? { ...s, label: `${s.label} (${trainedName})` } : s));
  if (trainedFile === "" && models.some((s) => s.trained)) {
    console.error(`${TRAINED_KEY}: skipped (--trained is empty)`);
    models = models.filter((s) => !s.trained);
    if (models.length === 0) throw new Error(`--models ${o.models}: nothing left to run once ${TRAINED_KEY} is skipped`);
  }
  const bartModels = o.bart === "" ? [] : selectModels(BART_MODELS, o.bart);
  const trainedSpec = models.find((s) => s.trained);
  if (trainedSpec !== undefined && !existsSync(trainedFile)) throw new Error(`--trained: ${trainedFile} does not exist (pass --trained "" to skip row ${TRAINED_KEY})`);
  // Read before anything is written: the W4 goal compares with the committed run.
  const earlier = earlierRun();
  const randomModels = models.filter((s) => !s.trained);
  const started = Date.now();
  const loadStart = loadavg();
  if (randomModels.length > 0 && !existsSync(join(o.checkpoint, "model.safetensors"))) {
    console.error(`making ${o.checkpoint} (GPT-2 124M shape, random weights)`);
    makeRandomGpt2(o.checkpoint, GPT2_124M);
  }
  mkdirSync(o.files, { recursive: true });
  const files = exportFiles(randomModels, o.checkpoint, o.files, o.reuseExports);
  const exportedMs = Date.now() - started;

  // The trained file runs as it is, on text prompts from its own tokenizer.
  const text = trainedSpec === undefined ? undefined : await textPrompts(trainedFile);
  if (trainedSpec !== undefined) {
    files[trainedSpec.key] = { path: trainedFile, bytes: statSync(trainedFile).size, export_ms: 0 };
    console.error(`${trainedSpec.key}: ${trainedFile} (${(files[trainedSpec.key].bytes / 2 ** 20).toFixed(1)} MiB, used as it is); ` +
      `prompts from a ${text!.passage_tokens}-token passage: ${JSON.stringify(text!.decode_text)}`);
  }
  const promptArgs = (spec: ModelSpec, fullAgreement: boolean): string[] =>
    spec.trained ? ["--decode-prompt", text!.decode.join(","), "--prefill-prompt", text!.prefill.join(","), ...(fullAgreement ? ["--full-agreement"] : [])] : [];

  const common = ["--runs", String(o.runs), "--decode-budget-s", String(o.decodeBudgetS)];
  const rows: Row[] = [];
  const probes: Record<string, ProbeResult[]> = {};
  const run = (spec: ModelSpec, lane: Lane, level: string): void => {
    const t0 = Date.now();
    const base = { model: spec.key, label: spec.label, file_bytes: files[spec.key].bytes, engine: lane.engine, threads: String(lane.threads), threads_requested: lane.threads, kernels: lane.kernels, level };
    // The trained file's full-length agreement: every lowbit row (cheap), onnxruntime's at 1 thread.
    const full = lane.engine === "lowbit" || lane.threads === 1;
    const args = ["--child", lane.engine, "--model", files[spec.key].path, "--level", level, "--threads", String(lane.threads), ...common, ...promptArgs(spec, full)];
    if (lane.kernels === "unpacking") args.push("--no-lookup-tables");
    const what = `${spec.key} ${lane.engine}${lane.kernels === "unpacking" ? " (unpacking kernels)" : ""} (${level}, ${lane.threads} thread${lane.threads === 1 ? "" : "s"})`;
    try {
      const r = runChild<ChildResult>(SELF, args);
      rows.push({ ...base, ...r, wall_ms: Date.now() - t0 });
      console.error(`${what}: ${r.threads} threads in use, decode ${fmt(r.decode.tokens_per_s)} tok/s over ${r.decode.steps} steps, ` +
        `prefill ${fmt(r.prefill.tokens_per_s)} tok/s, load ${fmt(r.load_ms, 0)} ms, peak RSS ${mib(r.peak_rss_bytes)} MiB  [${((Date.now() - t0) / 1e3).toFixed(0)} s]`);
    } catch (err) {
      rows.push({ ...base, wall_ms: Date.now() - t0, error: String((err as Error).message).split("\n")[0] });
      console.error(`${what}: FAILED ${(err as Error).message}`);
    }
  };

  for (const spec of models) {
    if (spec.format === "dq") {
      // The unpacking row right after the 1-thread row it is compared with, so that the two share the machine's mood.
      run(spec, { engine: "lowbit", threads: threadCounts[0], kernels: "default" }, "-");
      if (unpackingBits.includes(spec.bits)) run(spec, { engine: "lowbit", threads: 1, kernels: "unpacking" }, "-");
      for (const t of threadCounts.slice(1)) run(spec, { engine: "lowbit", threads: t, kernels: "default" }, "-");
    }
    // onnxruntime-web's level is probed at 1 thread and used at every thread count.
    const probe = runChild<ProbeResult[]>(SELF, ["--child", "ort-web-probe", "--model", files[spec.key].path, ...common, ...promptArgs(spec, false)]);
    probes[spec.key] = probe;
    const best = probe.reduce((a, b) => (b.median_step_ms < a.median_step_ms ? b : a));
    console.error(`${spec.key} ort-web levels: ${probe.map((p) => `${p.level} ${fmt(p.median_step_ms)} ms/step`).join(", ")} → ${best.level}`);
    for (const t of threadCounts) run(spec, { engine: "ort-web", threads: t, kernels: "default" }, best.level);
    for (const t of threadCounts) run(spec, { engine: "ort-node", threads: t, kernels: "default" }, "all");
  }
  const gpt2Ms = Date.now() - started;

  // ── BART-base rows, through bench/bart.ts (its children, its measurements) ──────────────────────────────
  const bartRuns: number = o.bartRuns ?? o.runs;
  const bart = bartModels.length === 0 ? undefined : await measureBart({
    models: bartModels, engines: ["lowbit", "ort-web"], threads: threadCounts, runs: bartRuns, decodeBudgetS: o.bartDecodeBudgetS,
    encoderBudgetS: o.bartEncoderBudgetS, checkpoint: o.bartCheckpoint, std: 0.05, folders: o.bartFolders, reuseExports: o.reuseExports,
  });
  const totalMs = Date.now() - started;

  // ── agreement: each row's greedy ids against lowbit's (1 thread, default kernels) on the same file ───────
  const find = (model: string, engine: string, threads = 1, kernels: KernelChoice = "default") =>
    rows.find((r) => r.model === model && r.engine === engine && r.threads_requested === threads && r.kernels === kernels && r.error === undefined);
  for (const r of rows) {
    const spec = models.find((s) => s.key === r.model)!;
    const ref = find(referenceKey(spec), "lowbit");
    if (r === ref || ref?.decode === undefined || r.decode === undefined) continue;
    const full = ref.decode.full_ids !== undefined && r.decode.full_ids !== undefined;
    r.agreement = full ? compareIds(ref.model, ref.decode.full_ids!, r.decode.full_ids!, true) : compareIds(ref.model, ref.decode.ids, r.decode.ids, false);
  }

  // ── goals ──────────────────────────────────────────────────────────────────────────────────────────────
  const N = Math.max(...threadCounts);
  const ratio = (x: number | undefined, y: number | undefined) => (x === undefined || y === undefined ? undefined : x / y);
  const verdict = (x: number | undefined, goal: number, atMost = false) => (x === undefined ? "not measured" : (atMost ? x <= goal : x >= goal) ? "met" : "**NOT met**");
  const dqKey = (bits: number) => MODELS.find((s) => s.bits === bits && s.format === "dq" && !s.trained)!.key;
  const present = (key: string) => models.some((s) => s.key === key);
  const lowbitModels = models.filter((s) => s.format === "dq");
  const twoBit = [dqKey(2), TRAINED_KEY].filter(present);
  const macs = macsPerToken();
  const gmacPerToken = (macs.linear + macs.head) / 1e9;
  const earlierW4 = earlier?.rows.find((r) => r.model === dqKey(4) && r.engine === "lowbit" && r.threads === "1" && (r.kernels === undefined || r.kernels === "default"));
  const bartRow = (model: string, engine: string, threads: number) =>
    bart?.rows.find((r) => r.model === model && r.engine === engine && r.threads_requested === threads && r.error === undefined);
  const bartKey = (bits: number) => BART_MODELS.find((s) => s.bits === bits)!.key;
  const nodeFp32Prefill = find(dqKey(32), "ort-node")?.prefill?.tokens_per_s;
  const goals = {
    threads_compared: N,
    lut_vs_unpacking: twoBit.map((key) => {
      const lut = find(key, "lowbit")?.decode?.tokens_per_s;
      const unpacking = find(key, "lowbit", 1, "unpacking")?.decode?.tokens_per_s;
      return { model: key, lut_tokens_per_s: lut, unpacking_tokens_per_s: unpacking, ratio: ratio(lut, unpacking), goal_ratio: 2, goal_tokens_per_s: 140 };
    }),
    w4_vs_earlier: {
      this_run_tokens_per_s: find(dqKey(4), "lowbit")?.decode?.tokens_per_s,
      this_run_unpacking_tokens_per_s: find(dqKey(4), "lowbit", 1, "unpacking")?.decode?.tokens_per_s,
      earlier_tokens_per_s: earlierW4?.decode?.tokens_per_s, earlier_source: earlier?.source, earlier_date: earlier?.date, earlier_command: earlier?.command,
      ratio: ratio(find(dqKey(4), "lowbit")?.decode?.tokens_per_s, earlierW4?.decode?.tokens_per_s),
    },
    threads_vs_one: lowbitModels.map((s) => ({
      model: s.key, threads: N,
      decode_ratio: ratio(find(s.key, "lowbit", N)?.decode?.tokens_per_s, find(s.key, "lowbit")?.decode?.tokens_per_s),
      prefill_ratio: ratio(find(s.key, "lowbit", N)?.prefill?.tokens_per_s, find(s.key, "lowbit")?.prefill?.tokens_per_s),
      threads_in_use: find(s.key, "lowbit", N)?.threads, goal: 1.7,
    })),
    prefill_vs_ort_node_fp32: lowbitModels.map((s) => ({
      model: s.key, lowbit_tokens_per_s: find(s.key, "lowbit")?.prefill?.tokens_per_s, ort_node_fp32_tokens_per_s: nodeFp32Prefill,
      ratio: ratio(find(s.key, "lowbit")?.prefill?.tokens_per_s, nodeFp32Prefill), goal: 1,
    })),
    fp32_decode_vs_ort_web: [...new Set([1, N])].map((t) => ({
      threads: t, lowbit_tokens_per_s: find(dqKey(32), "lowbit", t)?.decode?.tokens_per_s, ort_web_tokens_per_s: find(dqKey(32), "ort-web", t)?.decode?.tokens_per_s,
      ratio: ratio(find(dqKey(32), "lowbit", t)?.decode?.tokens_per_s, find(dqKey(32), "ort-web", t)?.decode?.tokens_per_s), goal: 1,
    })),
    bart_w2_beam4_vs_ort_web: [...new Set([1, N])].map((t) => {
      const l = bartRow(bartKey(2), "lowbit", t);
      const w = bartRow(bartKey(2), "ort-web", t);
      return {
        threads: t, lowbit_steps_per_s: l?.beam?.per_s, ort_web_steps_per_s: w?.beam?.per_s, ratio: ratio(l?.beam?.per_s, w?.beam?.per_s), goal: 4,
        lowbit_greedy_tokens_per_s: l?.greedy?.per_s, ort_web_greedy_tokens_per_s: w?.greedy?.per_s,
      };
    }),
    trained_load_ms: [...new Set([1, N])].map((t) => ({ threads: t, load_ms: find(TRAINED_KEY, "lowbit", t)?.load_ms, goal_ms: 100 })),
    // Goals of earlier issues, remeasured here.
    decode_vs_ort_web: [4, 2].map((bits) => {
      const r = find(dqKey(bits), "lowbit")?.decode?.tokens_per_s;
      const web = find(dqKey(bits), "ort-web")?.decode?.tokens_per_s;
      return { bits, lowbit_tokens_per_s: r, ort_web_same_file_tokens_per_s: web, ratio: ratio(r, web), goal: 2 };
    }),
    wasm_memory: lowbitModels.map((s) => ({ model: s.key, ...find(s.key, "lowbit")?.lowbit, goal: 1.2 })),
    napkin: lowbitModels.map((s) => {
      const r = find(s.key, "lowbit")?.decode?.tokens_per_s;
      return { model: s.key, gmac_per_token: gmacPerToken, lowbit_tokens_per_s: r, gmac_per_s: r === undefined ? undefined : r * gmacPerToken, weight_bytes: find(s.key, "lowbit")?.lowbit?.weight_bytes };
    }),
  };

  // ── results ────────────────────────────────────────────────────────────────────────────────────────────
  const machine = machineInfo(loadStart);
  const command = `npx tsx bench/generate.ts --runs ${o.runs} --decode-budget-s ${o.decodeBudgetS} --threads ${threadCounts.join(",")} --unpacking-bits ${JSON.stringify(unpackingBits.join(","))}` +
    ` --bart ${JSON.stringify(bartModels.map((s) => s.key).join(","))}${o.bartRuns === undefined ? "" : ` --bart-runs ${o.bartRuns}`} --bart-decode-budget-s ${o.bartDecodeBudgetS} --bart-encoder-budget-s ${o.bartEncoderBudgetS}` +
    `${o.models === undefined ? "" : ` --models ${o.models}`}${trainedFile === TRAINED_DEFAULT ? "" : ` --trained ${JSON.stringify(trainedName)}`}${o.reuseExports ? " --reuse-exports" : ""}`;
  const partial = o.models !== undefined || models.length < MODELS.filter((m) => !m.optional).length || bartModels.length === 0;
  const trainedLowbit = trainedSpec === undefined ? undefined : find(trainedSpec.key, "lowbit");
  const trainedIds = trainedLowbit?.decode?.full_ids ?? trainedLowbit?.decode?.ids;
  const trained = trainedSpec === undefined ? undefined : {
    key: trainedSpec.key, file: trainedName, bytes: files[trainedSpec.key].bytes,
    passage: PASSAGE, passage_tokens: text!.passage_tokens, decode_prompt_ids: text!.decode, decode_prompt_text: text!.decode_text, prefill_prompt_ids: text!.prefill,
    lowbit_greedy_ids: trainedIds, lowbit_greedy_text: trainedIds === undefined ? undefined : text!.tokenizer.decode(trainedIds),
    agreement: rows.filter((r) => r.model === trainedSpec.key && r.agreement !== undefined)
      .map((r) => ({ engine: r.engine, threads: r.threads, kernels: r.kernels, level: r.level, ...r.agreement! })),
  };
  const webWasm = rows.find((r) => r.ort_web_wasm !== undefined)?.ort_web_wasm;
  const versions = { ort_web: rows.find((r) => r.engine === "ort-web")?.versions, ort_node: rows.find((r) => r.engine === "ort-node")?.versions };
  const results = {
    benchmark: `greedy generation on GPT-2-124M-shaped exports (random weights) and a trained 124M-shaped 2-2-8 student, and BART-base-shaped beam search: ` +
      `lowbit WASM runtime vs onnxruntime-web (WASM) vs onnxruntime-node, at ${threadCounts.join(" and ")} thread${threadCounts.length === 1 && N === 1 ? "" : "s"}`,
    date: new Date(started).toISOString(), command, partial, models: models.map((s) => s.key), machine, versions,
    settings: {
      runs: o.runs, decode_prompt_tokens: DECODE_PROMPT, new_tokens: NEW_TOKENS, prefill_prompt_tokens: PREFILL_PROMPT, lowbit_kv_rows: CONTEXT,
      decode_budget_s: o.decodeBudgetS, min_decode_steps: MIN_DECODE_STEPS, web_probe_steps: PROBE_STEPS, threads: threadCounts, unpacking_bits: unpackingBits,
      quantization: "RTN, module-wise scales, max-abs clip; embedding bits = weight bits; int8 activations for quantized files",
      prompts: "random rows: seeded random ids; trained row: PASSAGE tokenized with the file's own tokenizer",
      bart: bart === undefined ? undefined : { models: bartModels.map((s) => s.key), runs: bartRuns, decode_budget_s: o.bartDecodeBudgetS, encoder_budget_s: o.bartEncoderBudgetS, engines: ["lowbit", "ort-web"] },
    },
    trained, files, ort_web_wasm: webWasm, ort_web_level_probes: probes, rows,
    bart: bart === undefined ? undefined : { folders: bart.folders, ort_web_level_probes: bart.probes, rows: bart.rows, checkpoint_std: bart.checkpointConfig.init_std },
    goals,
    earlier: earlier === undefined ? undefined : { source: earlier.source, date: earlier.date, command: earlier.command },
    timing: { export_ms: exportedMs, gpt2_ms: gpt2Ms, bart_ms: bart?.totalMs, total_ms: totalMs },
  };
  mkdirSync(join(HERE, "results"), { recursive: true });
  writeFileSync(join(HERE, "results", "generate.json"), `${JSON.stringify(results, null, 2)}\n`);

  // ── markdown ───────────────────────────────────────────────────────────────────────────────────────────
  const specOf = (key: string) => models.find((s) => s.key === key)!;
  const threadsCell = (r: { threads: string; threads_requested: number }) => (r.threads === String(r.threads_requested) ? r.threads : `${r.threads} (asked ${r.threads_requested})`);
  const kernelCell = (r: Row) => {
    if (r.engine !== "lowbit") return "—";
    const bits = specOf(r.model).bits;
    const name = r.kernels === "unpacking" ? "unpacking (lookupTables: false)" : bits === 32 ? "fp32" : bits === 2 ? "lookup tables" : "pairs";
    const layouts = r.lowbit?.layouts;
    return bits === 32 || layouts === undefined ? name : `${name}; weights ${Object.entries(layouts).map(([k, v]) => `${k} ${v}`).join(", ")}`;
  };
  const tableRows = rows.map((r) => {
    const l = r.lowbit;
    const decodeNote = r.decode === undefined ? "—" : `${r.decode.steps + 1}${r.decode.capped ? " (capped)" : ""}`;
    const isRef = r === find(referenceKey(specOf(r.model)), "lowbit");
    return `| ${r.label} | ${engineName(r.engine)} | ${kernelCell(r)} | ${threadsCell(r)} | ${r.level} | ${fmt(r.decode?.tokens_per_s, 2)} | ${decodeNote} | ${fmt(r.prefill?.tokens_per_s, 1)} | ` +
      `${fmt(r.decode?.cpu_share, 2)} / ${fmt(r.prefill?.cpu_share, 2)} | ` +
      `${fmt(r.prefill?.cold_ms, 0)} | ${fmt(r.load_ms, 0)} | ${mib(r.peak_rss_bytes)} | ` +
      `${l === undefined ? "—" : `${mib(l.wasm_memory_bytes)} / ${mib(l.weight_bytes + l.kv_cache_bytes)} = ${l.memory_ratio.toFixed(3)}`} | ` +
      `${isRef ? "(reference)" : agreementCell(r.agreement)} |${r.error === undefined ? "" : ` FAILED: ${r.error}`}`;
  });
  const label = (key: string) => (key === TRAINED_KEY ? "trained W2" : key.startsWith("w") ? `random ${BITS_NAME[specOf(key).bits]}` : BITS_NAME[specOf(key).bits]);
  const x = (v: number | undefined, d = 2) => `**${fmt(v, d)}×**`;
  const laneName = (r: { engine: ChildResult["engine"]; threads: string; kernels?: KernelChoice }) =>
    `${r.engine}${r.kernels === "unpacking" ? " unpacking" : ""} (${r.threads} thread${r.threads === "1" ? "" : "s"})`;

  const goalLines: string[] = [];
  // 1. 2-bit lookup tables vs the unpacking kernel, and the absolute figure.
  const lutRatios = goals.lut_vs_unpacking.map((g) =>
    `${label(g.model)} ${fmt(g.lut_tokens_per_s, 1)} ÷ ${fmt(g.unpacking_tokens_per_s, 1)} tok/s = ${x(g.ratio)} (${verdict(g.ratio, 2)})`).join("; ");
  const lutAbsolute = goals.lut_vs_unpacking.map((g) => `${label(g.model)} ${fmt(g.lut_tokens_per_s, 1)} tok/s (${verdict(g.lut_tokens_per_s, 140)})`).join("; ");
  const lutThreaded = twoBit.map((key) => `${label(key)} ${fmt(find(key, "lowbit", N)?.decode?.tokens_per_s, 1)} tok/s (${verdict(find(key, "lowbit", N)?.decode?.tokens_per_s, 140)})`).join("; ");
  goalLines.push("- **2-bit decode, 1 thread, lookup tables ÷ the unpacking kernel (lookupTables: false), goal ≥ 2×**: " +
    (twoBit.length === 0 ? "not measured (no 2-bit file in this run)." : `${lutRatios}. Absolute, goal ≥ 140 tok/s: ${lutAbsolute}${N > 1 ? `; at ${N} threads: ${lutThreaded}` : ""}.`));
  // 2. W4 against the earlier run.
  const w4 = goals.w4_vs_earlier;
  goalLines.push(`- **4-bit decode, 1 thread, against the previous build**: not measurable within one run (one build per run). This run: ${fmt(w4.this_run_tokens_per_s, 2)} tok/s ` +
    `(default kernels: pairs; run ${results.date.slice(0, 16).replace("T", " ")} UTC). ` +
    (w4.earlier_tokens_per_s === undefined ? `No earlier W4 figure was found (${w4.earlier_source ?? "no earlier results"}).` :
      `Earlier: ${fmt(w4.earlier_tokens_per_s, 2)} tok/s from ${w4.earlier_source} (run ${w4.earlier_date?.slice(0, 16).replace("T", " ")} UTC, \`${w4.earlier_command}\`) → ${x(w4.ratio)}; ` +
      "two runs on a noisy shared machine, so read it with the same-run figure: ") +
    (w4.this_run_unpacking_tokens_per_s === undefined ? "the unpacking kernel was not run on W4 here." :
      `this run's W4 on the unpacking kernel (lookupTables: false) ${fmt(w4.this_run_unpacking_tokens_per_s, 2)} tok/s → pairs ÷ unpacking ${x(ratio(w4.this_run_tokens_per_s, w4.this_run_unpacking_tokens_per_s))}.`) +
    " No threshold was set for this one: reported, not judged.");
  // 3. N threads vs 1.
  goalLines.push(`- **${N} threads ÷ 1, goal ≥ 1.7×**: ` + (N === 1 ? "not measured (--threads has no count above 1)." : goals.threads_vs_one.map((g) =>
    `${label(g.model)} decode ${x(g.decode_ratio)} (${verdict(g.decode_ratio, 1.7)}), prefill ${x(g.prefill_ratio)} (${verdict(g.prefill_ratio, 1.7)})` +
    (g.threads_in_use !== undefined && g.threads_in_use !== String(N) ? ` [ran on ${g.threads_in_use} thread(s)]` : "")).join("; ") + "."));
  // 4. Prefill vs onnxruntime-node fp32.
  goalLines.push(`- **Prefill (${PREFILL_PROMPT} tokens), lowbit 1 thread ÷ onnxruntime-node fp32 1 thread (${fmt(nodeFp32Prefill, 1)} tok/s), goal ≥ 1×**: ` +
    goals.prefill_vs_ort_node_fp32.map((g) => `${label(g.model)} ${fmt(g.lowbit_tokens_per_s, 1)} tok/s = ${x(g.ratio)} (${verdict(g.ratio, 1)})`).join("; ") + ".");
  // 5. fp32 decode vs onnxruntime-web.
  goalLines.push(`- **fp32 decode, lowbit ÷ onnxruntime-web at the same threads, goal ≥ 1×**: ` + goals.fp32_decode_vs_ort_web.map((g) =>
    `${g.threads} thread${g.threads === 1 ? "" : "s"}: ${fmt(g.lowbit_tokens_per_s, 2)} ÷ ${fmt(g.ort_web_tokens_per_s, 2)} tok/s = ${x(g.ratio)} (${verdict(g.ratio, 1)})`).join("; ") + ".");
  // 6. BART beam-4.
  goalLines.push(`- **BART-base 2-2-8, beam-4 decode steps/s, lowbit ÷ onnxruntime-web at the same threads, goal ≥ 4×**: ` +
    (bart === undefined ? "not measured (--bart \"\")." : goals.bart_w2_beam4_vs_ort_web.map((g) =>
      `${g.threads} thread${g.threads === 1 ? "" : "s"}: ${fmt(g.lowbit_steps_per_s, 2)} ÷ ${fmt(g.ort_web_steps_per_s, 2)} = ${x(g.ratio, 1)} (${verdict(g.ratio, 4)}; ` +
      `greedy ${fmt(g.lowbit_greedy_tokens_per_s, 1)} ÷ ${fmt(g.ort_web_greedy_tokens_per_s, 1)} tok/s = ${fmt(ratio(g.lowbit_greedy_tokens_per_s, g.ort_web_greedy_tokens_per_s), 1)}×)`).join("; ") + "."));
  // 7. Load time of the trained file.
  goalLines.push(`- **Load of the trained 124M 2-bit file (${trainedName || "—"}), goal ≤ 100 ms**: ` + goals.trained_load_ms.map((g) =>
    `${g.threads} thread${g.threads === 1 ? "" : "s"} ${fmt(g.load_ms, 0)} ms (${verdict(g.load_ms, 100, true)})`).join("; ") +
    ". Load is loadGpt2Model() from the call to a ready model: file read, checksum (SHA-256 of the file), WASM instantiation (and worker start), weight placement and repacking, tokenizer.");

  const contended = rows.filter((r) => r.engine === "lowbit" && r.error === undefined && Math.min(r.decode!.cpu_share, r.prefill!.cpu_share) < 0.9)
    .map((r) => `${label(r.model)} ${laneName(r)} decode ${fmt(r.decode!.cpu_share, 2)} / prefill ${fmt(r.prefill!.cpu_share, 2)}`);
  const earlierLines = [
    ...goals.decode_vs_ort_web.filter((g) => g.lowbit_tokens_per_s !== undefined).map((g) =>
      `- W${g.bits} decode, 1 thread: lowbit ${fmt(g.lowbit_tokens_per_s, 2)} ÷ onnxruntime-web ${fmt(g.ort_web_same_file_tokens_per_s, 2)} tok/s on the same dq file = ${x(g.ratio, 1)} (goal ≥ 2×: ${verdict(g.ratio, 2)}).`),
    `- WASM memory ÷ (weights as placed, repacked copies counted, + KV cache of ${CONTEXT} rows), 1 thread, goal ≤ 1.2: ` +
      goals.wasm_memory.filter((m) => m.memory_ratio !== undefined).map((m) => `${label(m.model)} ${mib(m.wasm_memory_bytes)} / (${mib(m.weight_bytes)} + ${mib(m.kv_cache_bytes)}) MiB = ` +
        `**${fmt(m.memory_ratio, 3)}** (${verdict(m.memory_ratio, 1.2, true)})`).join("; ") + ".",
  ];
  const napkin = goals.napkin.filter((n) => n.lowbit_tokens_per_s !== undefined).map((n) => `${label(n.model)} ${fmt(n.lowbit_tokens_per_s, 1)} tok/s × ${gmacPerToken.toFixed(4)} = **${fmt(n.gmac_per_s, 2)} GMAC/s**` +
    (n.weight_bytes === undefined || n.lowbit_tokens_per_s === undefined ? "" : ` (${((n.weight_bytes * n.lowbit_tokens_per_s) / 1e9).toFixed(1)} GB/s of weights)`)).join("; ");
  const probeLines = models.map((s) => {
    const p = probes[s.key];
    const best = p.reduce((a, b) => (b.median_step_ms < a.median_step_ms ? b : a));
    return `${s.label}: ${p.map((q) => `${q.level} ${fmt(q.median_step_ms, 0)}`).join(", ")} → **${best.level}**`;
  }).join("; ");
  const capped = rows.filter((r) => r.decode?.capped);

  // The trained row beside the random W2 dq row, lane by lane.
  const trainedSection: string[] = [];
  if (trained !== undefined) {
    const laneKey = (r: Row) => `${r.engine}|${r.threads_requested}|${r.kernels}`;
    const lanes = rows.filter((r) => r.model === TRAINED_KEY || r.model === dqKey(2)).map(laneKey).filter((k, i, all) => all.indexOf(k) === i);
    const cell = (r: Row | undefined, f: (r: Row) => string) => (r === undefined ? "—" : f(r));
    const ref = (r: Row | undefined) => r !== undefined && r === find(r.model, "lowbit");
    const pair = lanes.map((k) => {
      const rnd = rows.find((r) => r.model === dqKey(2) && laneKey(r) === k);
      const trn = rows.find((r) => r.model === TRAINED_KEY && laneKey(r) === k);
      const any = (rnd ?? trn)!;
      return `| ${engineName(any.engine)}${any.kernels === "unpacking" ? ", unpacking kernel" : ""} | ${threadsCell(any)} | ${cell(rnd, (r) => fmt(r.decode?.tokens_per_s, 2))} | ${cell(trn, (r) => fmt(r.decode?.tokens_per_s, 2))} | ` +
        `${cell(rnd, (r) => fmt(r.prefill?.tokens_per_s, 1))} | ${cell(trn, (r) => fmt(r.prefill?.tokens_per_s, 1))} | ${cell(rnd, (r) => fmt(r.load_ms, 0))} | ${cell(trn, (r) => fmt(r.load_ms, 0))} | ` +
        `${ref(rnd) ? "(reference)" : cell(rnd, (r) => agreementCell(r.agreement))} | ${ref(trn) ? "(reference)" : cell(trn, (r) => agreementCell(r.agreement))} |`;
    });
    const others = trained.agreement;
    const fullOnes = others.filter((g) => g.full_length);
    const verdictLine = others.length === 0
      ? "No other row's ids were measured on the trained file."
      : `Over all ${NEW_TOKENS} new tokens (lowbit's rows and onnxruntime's 1-thread rows): ` +
        (fullOnes.every((g) => g.equal && g.compared === NEW_TOKENS) ? `**every row's greedy ids equal lowbit's**` : fullOnes.map((g) => `${laneName(g)} ` +
          (g.equal ? `equal over ${g.compared}` : `**differs**: ${g.leading_agree} leading ids agree of ${g.compared}, first difference at new token ${g.first_difference! + 1}`)).join("; ")) +
        `. onnxruntime's ${N}-thread rows, over their timed runs: ${others.filter((g) => !g.full_length).map((g) => `${laneName(g)} ${g.equal ? `equal over ${g.compared}` : `**differs** at new token ${g.first_difference! + 1} of ${g.compared}`}`).join("; ") || "—"}.`;
    trainedSection.push(
      "## Trained weights beside random W2",
      "",
      `Random weights give near-tied logits, so greedy ids there break ties on rounding; the trained student (\`${trained.file}\`, ${mib(trained.bytes)} MiB, used as it is) has peaked logits, ` +
        `so engines that compute the same function must agree. Its prompts are the first ${DECODE_PROMPT} (decode) and ${PREFILL_PROMPT} (prefill) tokens of a fixed English passage ` +
        `(${trained.passage_tokens} tokens with the file's own tokenizer; PASSAGE in bench/generate.ts).`,
      "",
      "| engine | threads | decode tok/s, random W2 | decode tok/s, trained | prefill tok/s, random W2 | prefill tok/s, trained | load ms, random W2 | load ms, trained | greedy ids = lowbit, random W2 | greedy ids = lowbit, trained |",
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
      ...pair,
      "",
      verdictLine,
      "",
      `Decode prompt: ${JSON.stringify(trained.decode_prompt_text)}. lowbit's greedy continuation (${trained.lowbit_greedy_ids?.length ?? 0} new tokens): ` +
        `${trained.lowbit_greedy_text === undefined ? "—" : JSON.stringify(trained.lowbit_greedy_text)}`,
      "",
    );
  }

  // BART-base rows.
  const bartSection: string[] = [];
  if (bart !== undefined) {
    const refOf = (r: BartRow) => bartRow(r.model, "lowbit", 1);
    const stepsNote = (d: { steps: number; capped: boolean } | undefined) => (d === undefined ? "—" : `${d.steps}${d.capped ? "*" : ""}`);
    const bartTable = bart.rows.map((r) => {
      const ref = refOf(r);
      const isRef = r === ref;
      const l = r.lowbit;
      const level = r.enc_level === r.dec_level ? r.enc_level : `${r.enc_level} / ${r.dec_level}`;
      return `| ${r.label} | ${engineName(r.engine)} | ${threadsCell(r)} | ${level} | ${fmt(r.load_ms, 0)} | ${fmt(r.encoder?.median_ms, 0)} | ${fmt(r.greedy?.per_s, 2)} | ${stepsNote(r.greedy)} | ` +
        `${fmt(r.beam?.per_s, 2)} | ${stepsNote(r.beam)} | ${mib(r.peak_rss_bytes)} | ${l === undefined ? "—" : `${mib(l.wasm_memory_bytes)} / (${mib(l.weight_bytes)} + ${mib(l.cache_bytes)}) = ${l.memory_ratio.toFixed(3)}`} | ` +
        `${isRef ? "(reference)" : bartAgreement(ref?.greedy?.ids, r.greedy?.ids)} | ${isRef ? "(reference)" : bartAgreement(ref?.beam?.warmup_ids, r.beam?.warmup_ids)} |` +
        `${r.error === undefined ? "" : ` FAILED: ${r.error}`}`;
    });
    const bartProbes = bartModels.map((s) => `${s.label}: ${(bart.probes[s.key] ?? []).map((p) => `${p.level} ${fmt(p.encoder_ms, 0)}/${fmt(p.median_step_ms, 0)}`).join(", ")}`).join("; ");
    bartSection.push(
      "## BART-base shapes (through bench/bart.ts)",
      "",
      `bench/bart.ts's measureBart() in this run: bart-base-shaped folders (random weights ~ N(0, ${bart.checkpointConfig.init_std ?? "?"}²), 6 + 6 layers, d 768, V 50265; RTN, module-wise scales, MSE clip, dq) ` +
        `${bartModels.map((s) => s.label).join(" and ")}, on lowbit and onnxruntime-web at ${threadCounts.join(" and ")} thread(s). Encoder: 512-token input, median of warm runs (up to ${bartRuns}, ` +
        `fewer where they would take over ${o.bartEncoderBudgetS} s). Greedy tok/s and beam-4 steps/s: steps 2..N of a decode with EOS banned (generation_config.json's other defaults: ` +
        `no_repeat_ngram_size 3, forced BOS/EOS), wall time with the search's own work, median of ${bartRuns} runs; N = 32, or fewer (*) where a run would take over ~${o.bartDecodeBudgetS} s (at least 8). ` +
        "Ids = lowbit: ids before the first difference from lowbit's (1 thread) on the same folder / ids compared; beam-4 from the 8-step warm-up run every row makes. " +
        `onnxruntime-web's levels were probed at 1 thread (ms encoder/step): ${bartProbes}; the fastest serve every thread count. The full BART table (onnxruntime-node, all widths, profiles) is bench/bart.ts's.`,
      "",
      "| W-E-A | engine | threads | graph opt (enc / dec) | load ms | encoder ms | greedy tok/s | N | beam-4 steps/s | N | peak RSS MiB | WASM MiB / (weights + caches) | greedy ids = lowbit | beam ids = lowbit |",
      "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
      ...bartTable,
      "",
    );
  }

  const fp32WeightBytes = find(dqKey(32), "lowbit")?.lowbit?.weight_bytes ?? 4 * (GPT2_124M.vocab * GPT2_124M.embd + 1024 * GPT2_124M.embd + GPT2_124M.layers * (12 * GPT2_124M.embd ** 2 + 13 * GPT2_124M.embd) + 2 * GPT2_124M.embd);
  const threadedWeb = rows.find((r) => r.engine === "ort-web" && r.threads_requested > 1 && r.error === undefined);
  const md = [
    "# Generation benchmark",
    "",
    `${results.benchmark}. GPT-2 124M shape (L 12, C 768, NH 12, V 50257), tied head; quantized files use ${results.settings.quantization}. ` +
      `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, onnxruntime-web ${versions.ort_web?.web ?? "?"}, onnxruntime-node ${versions.ort_node?.node ?? "?"}, ${results.date.slice(0, 10)}.`,
    `Command: \`${command}\` — the whole run (exports included) took **${(totalMs / 1e3).toFixed(0)} s** (${(totalMs / 60e3).toFixed(1)} min: GPT-2 ${(gpt2Ms / 1e3).toFixed(0)} s` +
      `${bart === undefined ? "" : `, BART ${(bart.totalMs / 1e3).toFixed(0)} s`}).`,
    ...(partial
      ? ["", `**Partial run: ${models.map((s) => s.key).join(", ")}${bartModels.length === 0 ? ", no BART" : `, BART ${bartModels.map((s) => s.key).join(", ")}`}.** This file holds what this run measured, nothing carried over.`]
      : []),
    "",
    "## Goals (this run)",
    "",
    `Each figure below comes from this run's rows (medians of ${o.runs} runs; BART ${bartRuns}), ratios within the run, except the W4 line, which names the earlier run it compares with. ` +
      `The machine was shared: load average ${loadStart.map((v) => v.toFixed(2)).join("/")} at the start, ${machine.loadavg_end.map((v) => v.toFixed(2)).join("/")} at the end (1/5/15 min, ${machine.cores} cores). ` +
      (contended.length === 0 ? "Every lowbit row kept a CPU share of at least 0.9." : `lowbit rows whose CPU share fell below 0.9 (others took their cores; their speeds are low by about that much): ${contended.join("; ")}.`),
    "",
    ...goalLines,
    "",
    "Goals of earlier issues, remeasured:",
    "",
    ...earlierLines,
    "",
    "## GPT-2-124M shape",
    "",
    `Each row is one child process. Decode: greedy after a ${DECODE_PROMPT}-token prompt; tokens/s counts the one-token forwards after the first new token ` +
      `(which comes from the prompt's logits), median of ${o.runs} runs. Prefill: time to the first logits of a ${PREFILL_PROMPT}-token prompt, median of ${o.runs} warm runs; ` +
      "cold is the first one after loading. CPU share: the process's CPU time ÷ (wall time × threads) over the timed runs, median: near 1 where the row had its cores, " +
      "lower where other processes on this machine took them (spinning threads count as busy, so it shows preemption, not efficiency; it cannot see what the VM's host does to caches and memory bandwidth). " +
      "Load: file read to ready session. Peak RSS: the child's VmHWM (its worker threads included). Threads: what the engine reported it ran on. " +
      "lowbit's kernel: fp32; pairs (4/8-bit, repacked at load); lookup tables (2-bit, repacked at load); unpacking (lookupTables: false, the file's packing as stored), with how many weights sit in each layout. " +
      "WASM memory ÷ (weights as placed, repacked copies counted, + KV cache). Prompts: fixed seeded random ids for the random-weight files; " +
      "for the trained file, a fixed English passage tokenized with its own tokenizer (see below).",
    "",
    "| W-E-A file | engine | lowbit kernel | threads | graph opt | decode tok/s | new tokens | prefill tok/s | CPU share decode / prefill | cold prefill ms | load ms | peak RSS MiB | WASM MiB / (weights + KV) MiB | greedy ids = lowbit |",
    "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ...tableRows,
    "",
    ...trainedSection,
    ...bartSection,
    "## Napkin",
    "",
    `One decoded token is ${(macs.linear / 1e6).toFixed(1)} M MACs in the linear layers + ${(macs.head / 1e6).toFixed(1)} M in the head = ${gmacPerToken.toFixed(4)} GMAC ` +
      `(attention adds ~2·P·C per layer, ~1.8 M at P ≈ 96). Achieved at 1 thread: ${napkin || "not measured in this run"}. Bounds on one core (DESIGN.md): int8 dot 12–16 GMAC/s, 2-bit unpack + dot 10–13 GMAC/s, ` +
      `streaming reads 23–28 GB/s (fp32 weights, ${mib(fp32WeightBytes)} MiB per token, cap decode at ${fmt(23e9 / fp32WeightBytes, 0)}–${fmt(28e9 / fp32WeightBytes, 0)} tok/s). Kernel by kernel: bench/results/kernels.md.`,
    "",
    "## Notes",
    "",
    `- onnxruntime-web runs in Node from its \`ort.node.min.mjs\` entry; it loaded \`${webWasm ?? "?"}\` (seen by watching WebAssembly.instantiate). env.wasm.numThreads = the row's threads: ` +
      (threadedWeb === undefined ? "no threaded onnxruntime-web row ran in this run." : threadedWeb.threads === String(threadedWeb.threads_requested)
        ? `it runs threaded in Node (${threadedWeb.threads} threads read back from env.wasm.numThreads after loading; Emscripten pthreads on worker_threads, with SharedArrayBuffer).`
        : `asked for ${threadedWeb.threads_requested}, it fell back to ${threadedWeb.threads} (env.wasm.numThreads read back after loading).`),
    `- onnxruntime-web's optimization level was chosen per file by a probe at 1 thread (load, ${DECODE_PROMPT}-token prompt, ${PROBE_STEPS} decode steps; median ms/step of the last ${PROBE_STEPS - 1}), ` +
      `fastest decode step wins, and used at every thread count: ${probeLines}. onnxruntime-node runs at "all" (its default, its fastest here), intra-op threads = the row's threads.`,
    `- Decode runs are capped where one would take over ~${o.decodeBudgetS} s (from a 4-step warm-up estimate), timing at least ${MIN_DECODE_STEPS} steps: ` +
      (capped.length === 0 ? "none were." : `${capped.map((r) => `${r.label} ${laneName(r)} ${r.decode!.steps + 1} tokens`).join(", ")}. ` +
      "A capped run attends over a shorter cache (32 + its tokens instead of up to 160 rows); at these sizes attention is ~1–2% of a step, so tokens/s is comparable."),
    "- lowbit's decode time is `lastStats.decodeMs` (the executor's forwards); onnxruntime's includes building the feeds, `session.run` (the KV cache goes in and comes back as new tensors every step) and the argmax of the last row.",
    "- \"greedy ids = lowbit\": whether a row's greedy ids equal those of lowbit at 1 thread with its default kernels on the same file (nbits files: the dq file of the same bits), with the ids that agree before the first difference " +
      `over the shorter run's length, and the first new token that differs. Random-weight files compare the timed runs; the trained file compares all ${NEW_TOKENS} new tokens for lowbit's rows and onnxruntime's 1-thread rows. ` +
      "lowbit's kernels are exact integer sums, so its thread counts and kernels must agree with each other everywhere. " +
      "With random weights logits are nearly flat and ties break on rounding: a difference between engines there is not a bug by itself. " +
      "onnxruntime at \"all\" fuses DequantizeLinear + MatMul into MatMulNBits with its own int8 activations, so quantized files can differ early on random weights; the trained file's peaked logits leave no such excuse.",
    `- The machine is shared and noisy: load average ${loadStart.map((v) => v.toFixed(2)).join("/")} at the start, ${machine.loadavg_end.map((v) => v.toFixed(2)).join("/")} at the end (1/5/15 min). ` +
      `With ${machine.cores} cores, ${N}-thread rows have no core to spare for anything else. Per-run numbers are in generate.json.`,
    "",
  ].join("\n");
  writeFileSync(join(HERE, "results", "generate.md"), md);
  console.log(md);
}

await main();
