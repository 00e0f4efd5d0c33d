// BART benchmark: a bart-base-shaped checkpoint with random weights (scripts/make_random_bart.ts), exported as
// Hugging Face folders at fp32, W8-E8-A8, W4-E4-A8 and W2-E2-A8 (module scales, MSE clip, dq), run by
// lowbit's WASM runtime (SIMD), by onnxruntime-web's WASM backend in Node and by onnxruntime-node, each at
// every thread count of --threads (default 1 and the core count: lowbit's `threads` load option,
// onnxruntime-web's env.wasm.numThreads, onnxruntime-node's intra-op threads). Measures the encoder on a
// 512-token input, greedy decode tokens/s, beam-4 decode steps/s, load time, peak RSS, for lowbit WASM
// memory against weights + caches; and per precision the export's weights ratio and the folder's size on disk.
//
// The measuring half (checkpoint, exports, one child per engine × threads × folder) is measureBart(), which
// bench/generate.ts also calls for its BART rows; main() adds this file's tables. Run as a script only.
//
// Every engine × folder runs in a fresh child process (this file re-invoked with --child), so peak RSS is
// its own. Decoding is the same code for every engine: src/runtime/generation.ts's runGeneration (greedy,
// or beam search with transformers' processors) over a DecoderStepper (lowbit's executor, or onnxruntime's
// merged decoder through bench/ort_bart.ts). A fixed number of steps is forced: max_new_tokens = N with
// min_length = N + 1, so EOS is banned throughout. Not a quality check: the weights are random, so ids only
// show that two engines run the same function.
//
//   npx tsx bench/bart.ts [--runs 3] [--decode-budget-s 3] [--threads 1,N] [--engines lowbit,ort-web,ort-node]
//                         [--models w2,fp32] [--checkpoint DIR] [--reuse-exports]
// Writes bench/results/bart.json and bench/results/bart.md.
//
// Letters: S encoder tokens, N decoder steps, B beams, d d_model, F FFN width, V vocab, L layers.

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { readBartCheckpoint } from "../src/export/checkpoint.js";
import { quantizeCheckpoint } from "../src/export/export.js";
import { buildFolderExport, writeFolder } from "../src/export/hf_folder.js";
import type { CompressionReport } from "../src/export/report.js";
import { resolveGeneration, runGeneration, type DecoderStepper, type GenerationDefaults, type ResolvedGeneration } from "../src/runtime/generation.js";
import { loadBartModel } from "../src/runtime/index.js";
import type { Kernels } from "../src/runtime/kernels.js";
import { seededRandom } from "../src/runtime/sampling.js";
import { BART_BASE, makeRandomBart } from "../scripts/make_random_bart.js";
import { openOrtBart, ortEncode, ortStepper, releaseOrtBart, type EncoderOutput } from "./ort_bart.js";
import { childMain, engineName, type EngineRun, fmt, machineInfo, median, peakRssBytes, runChild, selectModels } from "./harness.js";
import { importOrtWeb, ortRuntime } from "./ort_web.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const SELF = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------------------
// What is measured
// ---------------------------------------------------------------------------------------------------------

const ENCODER_TOKENS = 512; // S of the timed encoder input
const NEW_TOKENS = 32; // decoder steps of a full decode run (greedy and beam); the first is timed apart
const MIN_STEPS = 8; // a capped decode run still runs at least this many steps
const WARMUP_STEPS = 8; // untimed decode run that sizes the timed ones; its ids are compared across engines
const NUM_BEAMS = 4;
const ENCODER_BUDGET_S = 12; // default --encoder-budget-s: fewer warm encoder runs where one takes long (at least 1)
const PROBE_TOKENS = 128; // encoder input of onnxruntime-web's level probe
const PROBE_STEPS = 4; // decoder steps after the first in the probe
const WEB_LEVELS = ["disabled", "basic", "all"] as const;
const SEED = 1;

const DIMS = { S: ENCODER_TOKENS, d: BART_BASE.dModel, F: BART_BASE.ffn, L: BART_BASE.layers, V: BART_BASE.vocab };

export interface BartModelSpec {
  key: string; // folder name
  label: string; // W-E-A label for tables
  bits: 32 | 8 | 4 | 2;
}
type ModelSpec = BartModelSpec;

export const BART_MODELS: ModelSpec[] = [
  { key: "fp32", label: "fp32", bits: 32 },
  { key: "w8", label: "8-8-8", bits: 8 },
  { key: "w4", label: "4-4-8", bits: 4 },
  { key: "w2", label: "2-2-8", bits: 2 },
];

/** <s>, S − 2 seeded ids of ordinary tokens, </s>: what BartTokenizer gives for a long document. */
function encoderIds(n: number, seed: number): number[] {
  const random = seededRandom(seed);
  return [0, ...Array.from({ length: n - 2 }, () => 4 + Math.floor(random() * (50260 - 4))), 2];
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

const now = () => performance.now();

/** Multiply-accumulates: one encoder pass over S tokens (cross-attention K/V apart) and one decoder token. */
function macs(): { encoderLinear: number; encoderAttention: number; crossKv: number; decoderLinear: number; head: number; decoderCrossAttention: number } {
  const { S, d, F, L, V } = DIMS;
  return {
    encoderLinear: S * L * (4 * d * d + 2 * d * F),
    encoderAttention: L * 2 * S * S * d,
    crossKv: L * 2 * S * d * d,
    decoderLinear: L * (6 * d * d + 2 * d * F),
    head: V * d,
    decoderCrossAttention: L * 2 * S * d,
  };
}

/** Generation settings that force `steps` decoder steps: EOS banned until max_length (the checkpoint's other defaults kept). */
function forcedSteps(defaults: GenerationDefaults, numBeams: number, steps: number): ResolvedGeneration {
  return resolveGeneration(defaults, { numBeams, maxNewTokens: steps, minLength: steps + 1 }, { maxPositionEmbeddings: BART_BASE.positions });
}

// ---------------------------------------------------------------------------------------------------------
// Children: one engine on one folder, in this process
// ---------------------------------------------------------------------------------------------------------

/** An engine as the harness sees it: encode() keeps its output; stepper() decodes on the last one. */
interface Engine {
  encode(ids: number[]): Promise<void>;
  /** The last encode()'s output (S, d). */
  encoderOutput(): Float32Array;
  stepper(g: ResolvedGeneration): DecoderStepper;
}

export interface DecodeTimings {
  steps: number; // N, the first included
  capped: boolean;
  runs: number;
  first_step_ms: number[]; // the first step (onnxruntime: the cross-attention K/V projection too)
  /** Wall time of steps 2..N, the search's own work (log-softmax, processors, top-k) included. */
  after_first_ms: number[];
  /** Of that, the model's time alone: step() + reorder() of the stepper. */
  model_ms: number[];
  /** (N − 1) / median of after_first_ms: greedy tokens/s, or beam steps/s (each step moves every beam). */
  per_s: number;
  model_per_s: number;
  ids: number[]; // the (best) sequence of the last run, decoder start first
  /** The (best) sequence of the warm-up run: WARMUP_STEPS steps on every engine, so comparable (beam search's best depends on N). */
  warmup_ids: number[];
}

interface Timings {
  encoder: { tokens: number; cold_ms: number; runs_ms: number[]; median_ms: number };
  greedy: DecodeTimings;
  beam: DecodeTimings;
}

interface ChildArgs {
  folder: string;
  /** Where the child writes its encoder output (raw f32, S × d), for the parent to compare engines. */
  dump: string;
  runs: number;
  decodeBudgetS: number;
  encoderBudgetS: number;
  encLevel: string;
  decLevel: string;
  /** Threads asked for: lowbit's `threads`, onnxruntime-web's numThreads, onnxruntime-node's intra-op threads. */
  threads: number;
}

/** Wraps a stepper to time step() and reorder(). */
function timed(inner: DecoderStepper, t: { stepMs: number[]; reorderMs: number; firstDoneAt: number }): DecoderStepper {
  return {
    vocabSize: inner.vocabSize,
    async step(tokens) {
      const t0 = now();
      const out = await inner.step(tokens);
      const t1 = now();
      t.stepMs.push(t1 - t0);
      if (t.stepMs.length === 1) t.firstDoneAt = t1;
      return out;
    },
    async reorder(from) {
      const t0 = now();
      await inner.reorder(from);
      t.reorderMs += now() - t0;
    },
  };
}

async function decodeOnce(engine: Engine, g: ResolvedGeneration): Promise<{ first: number; afterFirst: number; model: number; ids: number[]; steps: number }> {
  const t = { stepMs: [] as number[], reorderMs: 0, firstDoneAt: 0 };
  const result = await runGeneration(timed(engine.stepper(g), t), g);
  const end = now();
  return { first: t.stepMs[0], afterFirst: end - t.firstDoneAt, model: sum(t.stepMs.slice(1)) + t.reorderMs, ids: result.sequences[0], steps: t.stepMs.length };
}

/** A warm-up run of WARMUP_STEPS sizes the timed runs to about decodeBudgetS each (MIN_STEPS..NEW_TOKENS steps). */
async function measureDecode(engine: Engine, defaults: GenerationDefaults, numBeams: number, a: ChildArgs): Promise<DecodeTimings> {
  const warm = await decodeOnce(engine, forcedSteps(defaults, numBeams, WARMUP_STEPS));
  const perStep = warm.afterFirst / (warm.steps - 1);
  const steps = Math.min(NEW_TOKENS, Math.max(MIN_STEPS, 1 + Math.floor((a.decodeBudgetS * 1e3 - warm.first) / perStep)));
  const g = forcedSteps(defaults, numBeams, steps);
  const runs: Awaited<ReturnType<typeof decodeOnce>>[] = [];
  for (let r = 0; r < a.runs; r++) runs.push(await decodeOnce(engine, g));
  for (const run of runs) if (run.steps !== steps) throw new Error(`decode ran ${run.steps} steps, expected ${steps} (EOS should be banned)`);
  const afterFirst = runs.map((r) => r.afterFirst);
  const model = runs.map((r) => r.model);
  return {
    steps, capped: steps < NEW_TOKENS, runs: a.runs,
    first_step_ms: runs.map((r) => r.first), after_first_ms: afterFirst, model_ms: model,
    per_s: (steps - 1) / (median(afterFirst) / 1e3), model_per_s: (steps - 1) / (median(model) / 1e3),
    ids: runs[runs.length - 1].ids, warmup_ids: warm.ids,
  };
}

/** Cold encode (the first after loading), warm encodes within encoderBudgetS, then greedy and beam-4 decodes on that input. */
async function measure(engine: Engine, defaults: GenerationDefaults, a: ChildArgs): Promise<Timings> {
  const ids = encoderIds(ENCODER_TOKENS, SEED);
  let t0 = now();
  await engine.encode(ids);
  const cold = now() - t0;
  const encRuns: number[] = [];
  const n = Math.max(1, Math.min(a.runs, Math.floor((a.encoderBudgetS * 1e3) / cold)));
  for (let r = 0; r < n; r++) {
    t0 = now();
    await engine.encode(ids);
    encRuns.push(now() - t0);
  }
  writeFileSync(a.dump, engine.encoderOutput());
  const greedy = await measureDecode(engine, defaults, 1, a);
  const beam = await measureDecode(engine, defaults, NUM_BEAMS, a);
  return { encoder: { tokens: ENCODER_TOKENS, cold_ms: cold, runs_ms: encRuns, median_ms: median(encRuns) }, greedy, beam };
}

interface KernelProfile {
  encoder_ms: number;
  encoder_kernels_ms: Record<string, number>;
  greedy_step_ms: number;
  greedy_step_kernels_ms: Record<string, number>;
  beam_step_ms: number;
  beam_step_kernels_ms: Record<string, number>;
}

export interface ChildResult extends Timings, EngineRun {
  enc_level: string;
  dec_level: string;
  lowbit?: { variant: string; wasm_memory_bytes: number; weight_bytes: number; cache_bytes: number; memory_ratio: number; profile: KernelProfile };
}

const defaultsOf = (folder: string) => JSON.parse(readFileSync(join(folder, "generation_config.json"), "utf8")) as GenerationDefaults;

/**
 * Where lowbit's time goes: one more encode and a few greedy and beam steps with every kernel call timed
 * (each kernel export wrapped in performance.now(); thousands of calls, so the wrapping costs little).
 * Run after the timed runs, which it does not affect.
 */
function profileKernels(kernels: Kernels, run: () => void): Record<string, number> {
  const k = kernels as unknown as Record<string, unknown>;
  const saved = new Map<string, unknown>();
  const acc: Record<string, number> = {};
  for (const [name, f] of Object.entries(k)) {
    if (typeof f !== "function") continue;
    saved.set(name, f);
    k[name] = (...args: unknown[]) => {
      const t0 = now();
      const r = (f as (...a: unknown[]) => unknown)(...args);
      acc[name] = (acc[name] ?? 0) + now() - t0;
      return r;
    };
  }
  try {
    run();
  } finally {
    for (const [name, f] of saved) k[name] = f;
  }
  return acc;
}

async function childLowbit(a: ChildArgs): Promise<ChildResult> {
  const model = await loadBartModel(a.folder, { variant: "simd", maxBeams: NUM_BEAMS, threads: a.threads });
  const e = model.executor;
  const engine: Engine = {
    encode: async (ids) => e.encode(ids),
    encoderOutput: () => e.encoderOutput(),
    stepper: (g) => {
      // As src/runtime/seq2seq.ts drives it: the first step starts the rows, sized for the longest sequence.
      let started = false;
      return {
        vocabSize: model.config.vocab_size,
        step(tokens) {
          if (!started) e.startDecoder(tokens.length, g.maxLength - 1);
          started = true;
          return e.step(tokens);
        },
        reorder: (from) => e.reorder(from),
      };
    },
  };
  const timings = await measure(engine, model.generation, a);
  const wasm = model.wasmMemoryBytes();
  const memory = { wasm_memory_bytes: wasm, weight_bytes: e.weightBytes, cache_bytes: e.cacheBytes, memory_ratio: wasm / (e.weightBytes + e.cacheBytes) };

  const kernels = (e as unknown as { k: Kernels }).k;
  const ids = encoderIds(ENCODER_TOKENS, SEED);
  const profileSteps = 6;
  let t0 = now();
  const encoderKernels = profileKernels(kernels, () => e.encode(ids));
  const encoderMs = now() - t0;
  const stepProfile = (rows: number) => {
    e.startDecoder(rows, profileSteps + 1);
    e.step(new Array(rows).fill(2)); // first step apart, as in the timings
    t0 = now();
    const kernelsMs = profileKernels(kernels, () => {
      for (let s = 0; s < profileSteps; s++) e.step(new Array(rows).fill(4 + s));
    });
    const ms = (now() - t0) / profileSteps;
    return { ms, kernels: Object.fromEntries(Object.entries(kernelsMs).map(([n, v]) => [n, v / profileSteps])) };
  };
  const greedyProfile = stepProfile(1);
  const beamProfile = stepProfile(NUM_BEAMS);
  model.dispose(); // stops the worker threads, so that the child exits
  return {
    engine: "lowbit", enc_level: "-", dec_level: "-", threads: String(model.threads), load_ms: model.loadMs, ...timings,
    peak_rss_bytes: peakRssBytes(), versions: { nodejs: process.version },
    lowbit: {
      variant: model.kernelVariant, ...memory,
      profile: {
        encoder_ms: encoderMs, encoder_kernels_ms: encoderKernels,
        greedy_step_ms: greedyProfile.ms, greedy_step_kernels_ms: greedyProfile.kernels,
        beam_step_ms: beamProfile.ms, beam_step_kernels_ms: beamProfile.kernels,
      },
    },
  };
}

function ortEngine(m: Awaited<ReturnType<typeof openOrtBart>>): Engine {
  let enc: EncoderOutput | undefined;
  return {
    encode: async (ids) => {
      enc = await ortEncode(m, [ids]);
    },
    encoderOutput: () => enc!.states.data as Float32Array,
    stepper: () => ortStepper(m, enc!),
  };
}

async function childOrt(kind: "ort-web" | "ort-node", a: ChildArgs): Promise<ChildResult> {
  const { ort, versions, wasmFile, threadsInUse, options: base } = await ortRuntime(kind, a.threads);
  const level = (l: string) => ({ ...base, graphOptimizationLevel: l as "disabled" | "basic" | "all" });
  const t0 = now();
  const m = await openOrtBart(ort, a.folder, { encoderOptions: level(a.encLevel), decoderOptions: level(a.decLevel) });
  const loadMs = now() - t0;
  const timings = await measure(ortEngine(m), defaultsOf(a.folder), a);
  await releaseOrtBart(m);
  return {
    engine: kind, enc_level: a.encLevel, dec_level: a.decLevel, threads: String(threadsInUse()), load_ms: loadMs, ...timings,
    peak_rss_bytes: peakRssBytes(), versions, ort_web_wasm: wasmFile?.(),
  };
}

export interface ProbeResult {
  level: string;
  load_ms: number;
  encoder_ms: number; // the second of two encodes of PROBE_TOKENS
  first_step_ms: number;
  median_step_ms: number; // of PROBE_STEPS greedy steps after the first
}

/** onnxruntime-web at each optimization level: load, encode PROBE_TOKENS tokens twice, 1 + PROBE_STEPS greedy steps. */
async function childWebProbe(a: ChildArgs): Promise<ProbeResult[]> {
  const { ort } = await importOrtWeb();
  const out: ProbeResult[] = [];
  const ids = encoderIds(PROBE_TOKENS, SEED);
  const g = forcedSteps(defaultsOf(a.folder), 1, 1 + PROBE_STEPS);
  for (const level of WEB_LEVELS) {
    let t0 = now();
    const m = await openOrtBart(ort, a.folder, { options: { executionProviders: ["wasm"], graphOptimizationLevel: level, logSeverityLevel: 3 } });
    const loadMs = now() - t0;
    const engine = ortEngine(m);
    await engine.encode(ids);
    t0 = now();
    await engine.encode(ids);
    const encoderMs = now() - t0;
    const t = { stepMs: [] as number[], reorderMs: 0, firstDoneAt: 0 };
    await runGeneration(timed(engine.stepper(g), t), g);
    await releaseOrtBart(m);
    out.push({ level, load_ms: loadMs, encoder_ms: encoderMs, first_step_ms: t.stepMs[0], median_step_ms: median(t.stepMs.slice(1)) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Parent: folders, children, tables
// ---------------------------------------------------------------------------------------------------------

export interface FolderInfo {
  path: string;
  /** Every file of the folder (ONNX files, config and tokenizer JSON). */
  bytes: number;
  onnx_bytes: number;
  export_ms: number;
  reused: boolean;
  report?: Pick<CompressionReport, "weights_ratio" | "param_count" | "param_bytes" | "fp32_bytes" | "duplicated_param_bytes" | "file_bytes" | "file_ratio" | "components">;
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(path) : statSync(path).size;
  }
  return total;
}

/** Exports every folder of MODELS from the checkpoint (in this process; the checkpoint is freed after). */
function exportFolders(models: ModelSpec[], checkpoint: string, outDir: string, reuse: boolean): Record<string, FolderInfo> {
  const reportPath = (s: ModelSpec) => join(outDir, `${s.key}.report.json`);
  const have = (s: ModelSpec) => existsSync(join(outDir, s.key, "config.json")) && existsSync(reportPath(s));
  const todo = models.filter((s) => !(reuse && have(s)));
  const ckpt = todo.length > 0 ? readBartCheckpoint(checkpoint) : undefined;
  const out: Record<string, FolderInfo> = {};
  for (const s of models) {
    const path = join(outDir, s.key);
    const t0 = now();
    if (todo.includes(s)) {
      const q = s.bits === 32
        ? ckpt!
        : quantizeCheckpoint(ckpt!, { weightBits: s.bits, embeddingBits: s.bits, activationBits: 8, granularity: "module", groupSize: 0, clip: "mse" });
      const built = buildFolderExport(q, { format: "dq", activationBits: s.bits === 32 ? 32 : 8, source: checkpoint });
      rmSync(path, { recursive: true, force: true });
      writeFolder(path, built.files);
      const r = built.report;
      const report = {
        weights_ratio: r.weights_ratio, param_count: r.param_count, param_bytes: r.param_bytes, fp32_bytes: r.fp32_bytes,
        duplicated_param_bytes: r.duplicated_param_bytes, file_bytes: r.file_bytes, file_ratio: r.file_ratio, components: r.components,
      };
      writeFileSync(reportPath(s), JSON.stringify(report));
    }
    const exportMs = now() - t0;
    out[s.key] = {
      path, bytes: folderBytes(path), onnx_bytes: folderBytes(join(path, "onnx")), export_ms: exportMs, reused: !todo.includes(s),
      report: JSON.parse(readFileSync(reportPath(s), "utf8")),
    };
    console.error(`${s.key}: ${path} (${mib(out[s.key].bytes)} MiB, weights ratio ${out[s.key].report!.weights_ratio.toFixed(2)}×` +
      `${todo.includes(s) ? `, exported in ${(exportMs / 1e3).toFixed(1)} s` : ", reused"})`);
  }
  return out;
}


export interface BartRow extends Partial<ChildResult> {
  /** This engine's encoder output against lowbit's (one thread) on the same folder and input. */
  encoder_vs_lowbit?: { max_abs_diff: number; share_over_1e3: number };
  model: string;
  label: string;
  engine: ChildResult["engine"];
  /** Threads the engine ran on (as it reported them; a failed row: as asked). */
  threads: string;
  threads_requested: number;
  enc_level: string;
  dec_level: string;
  wall_ms: number;
  error?: string;
}

/** Largest |a − b| of two encoder outputs written by children, and the share of elements that differ by more than 1e-3. */
function compareEncoders(a: string, b: string): { max_abs_diff: number; share_over_1e3: number } | undefined {
  if (!existsSync(a) || !existsSync(b)) return undefined;
  const read = (path: string) => { const buf = readFileSync(path); return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4); };
  const [x, y] = [read(a), read(b)];
  if (x.length !== y.length) return undefined;
  let worst = 0;
  let over = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i] - y[i]);
    worst = Math.max(worst, d); // NaN stays NaN
    if (!(d <= 1e-3)) over++;
  }
  return { max_abs_diff: worst, share_over_1e3: over / x.length };
}

const mib = (bytes: number | undefined): string => (bytes === undefined ? "—" : (bytes / 2 ** 20).toFixed(1));

/**
 * Ids both runs produced before the first difference, over the shorter run; the decoder start and the last
 * id (forced </s> at max_length) left out, so that greedy runs of different lengths compare as prefixes.
 */
export function agreement(a: number[] | undefined, b: number[] | undefined): string {
  if (a === undefined || b === undefined) return "—";
  const [x, y] = [a.slice(1, -1), b.slice(1, -1)];
  const n = Math.min(x.length, y.length);
  let k = 0;
  while (k < n && x[k] === y[k]) k++;
  return `${k}/${n}`;
}

/** Kernel milliseconds grouped for the notes: matrix products, head, attention, GELU, the rest. */
function groupKernels(ms: Record<string, number>): { matmul: number; head: number; attention: number; gelu: number; other: number } {
  const g = { matmul: 0, head: 0, attention: 0, gelu: 0, other: 0 };
  for (const [name, v] of Object.entries(ms)) {
    if (/^matmul|^quantizeActivation/.test(name)) g.matmul += v;
    else if (/^head/.test(name)) g.head += v;
    else if (/^attend/.test(name)) g.attention += v;
    else if (/^gelu/.test(name)) g.gelu += v;
    else g.other += v;
  }
  return g;
}

/** What measureBart runs: which folders, which engines at which thread counts, and how long each measurement may take. */
export interface BartPlan {
  models: ModelSpec[];
  /** Engines in the order they run per folder; lowbit's 1-thread row, where present, is the others' reference. */
  engines: Array<"lowbit" | "ort-web" | "ort-node">;
  threads: number[];
  runs: number;
  decodeBudgetS: number;
  encoderBudgetS: number;
  checkpoint: string;
  std: number;
  folders: string;
  reuseExports: boolean;
}

export interface BartMeasured {
  folders: Record<string, FolderInfo>;
  rows: BartRow[];
  probes: Record<string, ProbeResult[]>;
  checkpointConfig: { init_std?: number };
  exportedMs: number;
  totalMs: number;
}

/** The default thread counts: 1 and the core count (just 1 on a one-core machine). */
export const defaultThreadCounts = (): number[] => [...new Set([1, availableParallelism()])];

/**
 * The checkpoint (made if missing), the folders (exported unless reused), then per folder one child per
 * engine × thread count: lowbit, onnxruntime-web's level probe (one thread; its levels serve every thread
 * count) and onnxruntime-web, onnxruntime-node at "all". Children run one at a time.
 */
export async function measureBart(plan: BartPlan): Promise<BartMeasured> {
  const started = Date.now();
  if (!existsSync(join(plan.checkpoint, "model.safetensors"))) {
    console.error(`making ${plan.checkpoint} (bart-base shape, random weights, std ${plan.std})`);
    makeRandomBart(plan.checkpoint, { ...BART_BASE, std: plan.std });
  }
  const checkpointConfig = JSON.parse(readFileSync(join(plan.checkpoint, "config.json"), "utf8")) as { init_std?: number };
  mkdirSync(plan.folders, { recursive: true });
  const folders = exportFolders(plan.models, plan.checkpoint, plan.folders, plan.reuseExports);
  const exportedMs = Date.now() - started;

  const common = ["--runs", String(plan.runs), "--decode-budget-s", String(plan.decodeBudgetS), "--encoder-budget-s", String(plan.encoderBudgetS)];
  const rows: BartRow[] = [];
  const probes: Record<string, ProbeResult[]> = {};
  const dumpOf = (spec: ModelSpec, engine: string, threads: number) => join(plan.folders, `${spec.key}.${engine}-${threads}.encoder.f32`);
  const run = (spec: ModelSpec, engine: ChildResult["engine"], encLevel: string, decLevel: string, threads: number): void => {
    const t0 = Date.now();
    const base = { model: spec.key, label: spec.label, engine, threads: String(threads), threads_requested: threads, enc_level: encLevel, dec_level: decLevel };
    try {
      const dump = dumpOf(spec, engine, threads);
      rmSync(dump, { force: true });
      const r = runChild<ChildResult>(SELF, ["--child", engine, "--folder", folders[spec.key].path, "--dump", dump, "--enc-level", encLevel, "--dec-level", decLevel, "--threads", String(threads), ...common]);
      const encoderVsLowbit = engine === "lowbit" && threads === 1 ? undefined : compareEncoders(dumpOf(spec, "lowbit", 1), dump);
      rows.push({ ...base, ...r, encoder_vs_lowbit: encoderVsLowbit, wall_ms: Date.now() - t0 });
      console.error(`${spec.key} ${engine} (${encLevel}/${decLevel}, ${r.threads} of ${threads} threads): encoder ${fmt(r.encoder.median_ms, 0)} ms, ` +
        `greedy ${fmt(r.greedy.per_s)} tok/s (${r.greedy.steps} steps), beam-4 ${fmt(r.beam.per_s)} steps/s (${r.beam.steps} steps), ` +
        `load ${fmt(r.load_ms, 0)} ms, peak RSS ${mib(r.peak_rss_bytes)} MiB  [${((Date.now() - t0) / 1e3).toFixed(0)} s]`);
    } catch (err) {
      rows.push({ ...base, wall_ms: Date.now() - t0, error: String((err as Error).message).split("\n")[0] });
      console.error(`${spec.key} ${engine} (${threads} threads): FAILED ${(err as Error).message}`);
    }
  };

  for (const spec of plan.models) {
    for (const engine of plan.engines) {
      if (engine === "lowbit") {
        for (const t of plan.threads) run(spec, "lowbit", "-", "-", t);
      } else if (engine === "ort-web") {
        const probe = runChild<ProbeResult[]>(SELF, ["--child", "ort-web-probe", "--folder", folders[spec.key].path, ...common]);
        probes[spec.key] = probe;
        const bestEnc = probe.reduce((x, y) => (y.encoder_ms < x.encoder_ms ? y : x)).level;
        const bestDec = probe.reduce((x, y) => (y.median_step_ms < x.median_step_ms ? y : x)).level;
        console.error(`${spec.key} ort-web levels: ${probe.map((p) => `${p.level} encoder ${fmt(p.encoder_ms, 0)} ms, step ${fmt(p.median_step_ms, 0)} ms`).join("; ")} → ${bestEnc}/${bestDec}`);
        for (const t of plan.threads) run(spec, "ort-web", bestEnc, bestDec, t);
      } else {
        for (const t of plan.threads) run(spec, "ort-node", "all", "all", t);
      }
    }
  }
  return { folders, rows, probes, checkpointConfig, exportedMs, totalMs: Date.now() - started };
}

const ENGINES = ["lowbit", "ort-web", "ort-node"] as const;

/** A comma-separated list of positive integers (thread counts). */
export function parseThreadList(s: string): number[] {
  const list = s.split(",").map((x) => Number(x));
  if (list.length === 0 || list.some((n) => !(Number.isInteger(n) && n >= 1))) throw new Error(`--threads: expected comma-separated integers >= 1, found ${s}`);
  return [...new Set(list)];
}

async function main(): Promise<void> {
  const o = new Command()
    .option("--runs <n>", "timed runs per measurement (median reported)", Number, 3)
    .option("--decode-budget-s <s>", "cap one timed decode run at about this long (fewer steps, at least 8)", Number, 3)
    .option("--encoder-budget-s <s>", "warm encoder runs: up to --runs, fewer where they would take longer than this (at least 1)", Number, ENCODER_BUDGET_S)
    .option("--checkpoint <dir>", "bart-base-shaped checkpoint (made if missing)", join(tmpdir(), "lowbit-bart-base-random"))
    .option("--std <x>", "weight std of the checkpoint when it is made", Number, 0.05)
    .option("--folders <dir>", "where the exported folders go", join(tmpdir(), "lowbit-bench-bart"))
    .option("--reuse-exports", "reuse exported folders already in --folders (default: export afresh)", false)
    .option("--models <keys>", `comma-separated subset of ${BART_MODELS.map((m) => m.key).join(",")}`)
    .option("--engines <list>", `comma-separated subset of ${ENGINES.join(",")}`, ENGINES.join(","))
    .option("--threads <list>", "thread counts of every engine (parent), or the one for --child", defaultThreadCounts().join(","))
    .option("--results <dir>", "where bart.json and bart.md go", join(HERE, "results"))
    .option("--child <engine>", "internal: lowbit | ort-web | ort-node | ort-web-probe")
    .option("--folder <dir>", "internal: the folder for --child")
    .option("--dump <file>", "internal: where --child writes its encoder output (raw f32)")
    .option("--enc-level <l>", "internal: encoder graph optimization level for --child", "all")
    .option("--dec-level <l>", "internal: decoder graph optimization level for --child", "all")
    .parse()
    .opts();
  const threads = parseThreadList(o.threads);
  if (o.child !== undefined) {
    const childArgs: ChildArgs = {
      folder: o.folder, dump: o.dump, runs: o.runs, decodeBudgetS: o.decodeBudgetS, encoderBudgetS: o.encoderBudgetS, encLevel: o.encLevel, decLevel: o.decLevel, threads: threads[0],
    };
    return childMain(o.child, {
      lowbit: () => childLowbit(childArgs),
      "ort-web": () => childOrt("ort-web", childArgs),
      "ort-node": () => childOrt("ort-node", childArgs),
      "ort-web-probe": () => childWebProbe(childArgs),
    });
  }

  const models = selectModels(BART_MODELS, o.models);
  const engines = (o.engines as string).split(",") as BartPlan["engines"];
  if (engines.some((e) => !(ENGINES as readonly string[]).includes(e))) throw new Error(`--engines: expected some of ${ENGINES.join(",")}, found ${o.engines}`);
  const started = Date.now();
  const loadStart = loadavg();
  const { folders, rows, probes, checkpointConfig, exportedMs, totalMs } = await measureBart({
    models, engines, threads, runs: o.runs, decodeBudgetS: o.decodeBudgetS, encoderBudgetS: o.encoderBudgetS,
    checkpoint: o.checkpoint, std: o.std, folders: o.folders, reuseExports: o.reuseExports,
  });

  // ── summary ────────────────────────────────────────────────────────────────────────────────────────────
  const find = (model: string, engine: string, threads = 1) => rows.find((r) => r.model === model && r.engine === engine && r.threads_requested === threads && r.error === undefined);
  const keyOf = (bits: number) => BART_MODELS.find((s) => s.bits === bits)!.key;
  const ours = (bits: number) => find(keyOf(bits), "lowbit");
  const web = (bits: number) => find(keyOf(bits), "ort-web");
  const ratio = (x: number | undefined, y: number | undefined) => (x === undefined || y === undefined ? undefined : x / y);
  const m = macs();
  const present = models.map((s) => s.bits);
  const goals = {
    greedy_decode_vs_ort_web: present.map((bits) => ({
      bits, lowbit_tokens_per_s: ours(bits)?.greedy?.per_s, ort_web_tokens_per_s: web(bits)?.greedy?.per_s,
      ratio: ratio(ours(bits)?.greedy?.per_s, web(bits)?.greedy?.per_s), goal: bits === 2 ? 4 : undefined,
    })),
    beam_decode_vs_ort_web: present.map((bits) => ({
      bits, lowbit_steps_per_s: ours(bits)?.beam?.per_s, ort_web_steps_per_s: web(bits)?.beam?.per_s, ratio: ratio(ours(bits)?.beam?.per_s, web(bits)?.beam?.per_s),
    })),
    encoder_vs_ort_web: present.map((bits) => ({
      bits, lowbit_ms: ours(bits)?.encoder?.median_ms, ort_web_ms: web(bits)?.encoder?.median_ms,
      ratio: ratio(web(bits)?.encoder?.median_ms, ours(bits)?.encoder?.median_ms), goal: 2,
    })),
    wasm_memory: present.map((bits) => {
      const l = ours(bits)?.lowbit;
      return { bits, wasm_memory_bytes: l?.wasm_memory_bytes, weight_bytes: l?.weight_bytes, cache_bytes: l?.cache_bytes, memory_ratio: l?.memory_ratio, goal: 1.2 };
    }),
    weights_ratio: present.map((bits) => ({ bits, weights_ratio: folders[keyOf(bits)].report?.weights_ratio, goal: bits === 2 ? 13.4 : undefined })),
  };
  const machine = machineInfo(loadStart);
  const command = `npx tsx bench/bart.ts --runs ${o.runs} --decode-budget-s ${o.decodeBudgetS}${o.encoderBudgetS === ENCODER_BUDGET_S ? "" : ` --encoder-budget-s ${o.encoderBudgetS}`}` +
    ` --threads ${threads.join(",")} --engines ${engines.join(",")}${o.models === undefined ? "" : ` --models ${o.models}`}`;
  const webWasm = rows.find((r) => r.ort_web_wasm !== undefined)?.ort_web_wasm;
  const versions = {
    lowbit: (JSON.parse(readFileSync(join(HERE, "..", "package.json"), "utf8")) as { version: string }).version,
    ort_web: rows.find((r) => r.engine === "ort-web" && r.versions !== undefined)?.versions,
    ort_node: rows.find((r) => r.engine === "ort-node" && r.versions !== undefined)?.versions,
  };
  const results = {
    benchmark: `BART-base-shaped folders (random weights): encoder, greedy and beam-4 decoding; lowbit WASM runtime vs onnxruntime-web (WASM) vs onnxruntime-node, each at ${threads.join(" and ")} thread${threads.length === 1 && threads[0] === 1 ? "" : "s"}`,
    date: new Date(started).toISOString(), command, machine, versions,
    settings: {
      runs: o.runs, encoder_tokens: ENCODER_TOKENS, new_tokens: NEW_TOKENS, min_steps: MIN_STEPS, num_beams: NUM_BEAMS, decode_budget_s: o.decodeBudgetS,
      threads, engines, encoder_budget_s: o.encoderBudgetS, probe_tokens: PROBE_TOKENS, probe_steps: PROBE_STEPS, checkpoint: o.checkpoint, weight_std: checkpointConfig.init_std,
      shape: { layers: `${BART_BASE.layers} + ${BART_BASE.layers}`, d_model: BART_BASE.dModel, heads: BART_BASE.heads, ffn: BART_BASE.ffn, vocab: BART_BASE.vocab, positions: BART_BASE.positions, activation: "gelu (erf)" },
      quantization: "RTN, module-wise scales, MSE-optimal clip; embedding bits = weight bits; int8 activations for quantized files; dq format",
      macs: m,
    },
    folders, ort_web_wasm: webWasm, ort_web_level_probes: probes, rows, goals,
    timing: { export_ms: exportedMs, total_ms: totalMs },
  };
  mkdirSync(o.results, { recursive: true });
  writeFileSync(join(o.results, "bart.json"), `${JSON.stringify(results, null, 2)}\n`);

  // ── markdown ───────────────────────────────────────────────────────────────────────────────────────────
  const stepsNote = (d: DecodeTimings | undefined) => (d === undefined ? "—" : `${d.steps}${d.capped ? "*" : ""}`);
  const tableRows = rows.map((r) => {
    const l = r.lowbit;
    const reference = ours(BART_MODELS.find((s) => s.key === r.model)!.bits);
    const level = r.enc_level === r.dec_level ? r.enc_level : `${r.enc_level} / ${r.dec_level}`;
    return `| ${r.label} | ${engineName(r.engine)} | ${r.threads} | ${level} | ${fmt(r.load_ms, 0)} | ${fmt(r.encoder?.median_ms, 0)} | ${fmt(r.encoder?.cold_ms, 0)} | ` +
      `${fmt(r.greedy === undefined ? undefined : median(r.greedy.first_step_ms), 0)} | ${fmt(r.greedy?.per_s, 2)} | ${stepsNote(r.greedy)} | ${fmt(r.beam?.per_s, 2)} | ${stepsNote(r.beam)} | ` +
      `${mib(r.peak_rss_bytes)} | ${l === undefined ? "—" : `${mib(l.wasm_memory_bytes)} / (${mib(l.weight_bytes)} + ${mib(l.cache_bytes)}) = ${l.memory_ratio.toFixed(3)}`} | ` +
      `${r === reference ? "(reference)" : r.encoder_vs_lowbit === undefined ? "—" : `${r.encoder_vs_lowbit.max_abs_diff.toExponential(1)} (${fmt(100 * r.encoder_vs_lowbit.share_over_1e3, 0)}%)`} | ` +
      `${r === reference ? "(reference)" : agreement(reference?.greedy?.ids, r.greedy?.ids)} | ${r === reference ? "(reference)" : agreement(reference?.beam?.warmup_ids, r.beam?.warmup_ids)} |` +
      `${r.error === undefined ? "" : ` FAILED: ${r.error}`}`;
  });
  const met = (x: number | undefined, goal: number, atMost = false) => (x === undefined ? "not measured" : (atMost ? x <= goal : x >= goal) ? "met" : "**NOT met**");
  const bitsName = (bits: number) => (bits === 32 ? "fp32" : `${bits}-${bits}-8`);
  const folderRows = models.map((s) => {
    const f = folders[s.key];
    const r = f.report!;
    return `| ${s.label} | ${(r.param_count / 1e6).toFixed(1)} M | ${mib(r.param_bytes)} | ${r.weights_ratio.toFixed(2)}× | ${mib(f.onnx_bytes)} | ${mib(f.bytes)} | ${(r.fp32_bytes / f.bytes).toFixed(2)}× | ${f.reused ? "reused" : fmt(f.export_ms / 1e3, 1)} |`;
  });
  const decodeLines = goals.greedy_decode_vs_ort_web.map((g) => `${bitsName(g.bits)} ${fmt(g.lowbit_tokens_per_s, 2)} ÷ ${fmt(g.ort_web_tokens_per_s, 2)} = **${fmt(g.ratio, 1)}×**`).join("; ");
  const beamLines = goals.beam_decode_vs_ort_web.map((g) => `${bitsName(g.bits)} ${fmt(g.lowbit_steps_per_s, 2)} ÷ ${fmt(g.ort_web_steps_per_s, 2)} = **${fmt(g.ratio, 1)}×**`).join("; ");
  const encoderLines = goals.encoder_vs_ort_web.map((g) => `${bitsName(g.bits)} ${fmt(g.ort_web_ms, 0)} ms ÷ ${fmt(g.lowbit_ms, 0)} ms = **${fmt(g.ratio, 2)}×** (${met(g.ratio, 2)})`).join("; ");
  const memLines = goals.wasm_memory.map((g) => `${bitsName(g.bits)} **${fmt(g.memory_ratio, 3)}** (${met(g.memory_ratio, 1.2, true)})`).join("; ");
  const w2 = goals.greedy_decode_vs_ort_web.find((g) => g.bits === 2);
  const wr2 = goals.weights_ratio.find((g) => g.bits === 2);

  const encoderGmac = (m.encoderLinear + m.encoderAttention + m.crossKv) / 1e9;
  const tokenGmac = (m.decoderLinear + m.head + m.decoderCrossAttention) / 1e9;
  const profileLines = present.map((bits) => {
    const p = ours(bits)?.lowbit?.profile;
    if (p === undefined) return `- ${bitsName(bits)}: not measured.`;
    const e = groupKernels(p.encoder_kernels_ms);
    const g1 = groupKernels(p.greedy_step_kernels_ms);
    const g4 = groupKernels(p.beam_step_kernels_ms);
    const linearGmacS = (m.encoderLinear + m.crossKv) / 1e9 / (e.matmul / 1e3);
    const attentionGmacS = m.encoderAttention / 1e9 / (e.attention / 1e3);
    return `- ${bitsName(bits)}: encoder ${fmt(p.encoder_ms, 0)} ms = matrix products ${fmt(e.matmul, 0)} (${fmt(linearGmacS, 1)} GMAC/s) + attention ${fmt(e.attention, 0)} ` +
      `(${fmt(attentionGmacS, 1)} GMAC/s) + GELU ${fmt(e.gelu, 0)} + other kernels ${fmt(e.other, 0)} ms. ` +
      `Greedy step ${fmt(p.greedy_step_ms, 1)} ms = products ${fmt(g1.matmul, 1)} + head ${fmt(g1.head, 1)} + attention ${fmt(g1.attention, 1)} + rest ${fmt(g1.gelu + g1.other, 1)}. ` +
      `Beam-4 step ${fmt(p.beam_step_ms, 1)} ms = products ${fmt(g4.matmul, 1)} + head ${fmt(g4.head, 1)} (4 rows, one at a time) + attention ${fmt(g4.attention, 1)} + rest ${fmt(g4.gelu + g4.other, 1)}.`;
  });
  const overheadLines = rows.filter((r) => r.error === undefined && r.beam !== undefined && r.greedy !== undefined).map((r) => {
    const share = (d: DecodeTimings) => 1 - median(d.model_ms) / median(d.after_first_ms);
    return `${r.label} ${r.engine} (${r.threads} thread${r.threads === "1" ? "" : "s"}) ${fmt(100 * share(r.greedy!), 0)}% / ${fmt(100 * share(r.beam!), 0)}%`;
  }).join("; ");
  const probeLines = models.filter((s) => probes[s.key] !== undefined).map((s) => {
    const p = probes[s.key];
    const r = find(s.key, "ort-web");
    return `${s.label}: ${p.map((x) => `${x.level} ${fmt(x.encoder_ms, 0)}/${fmt(x.median_step_ms, 0)}`).join(", ")} → **${r?.enc_level ?? "?"} / ${r?.dec_level ?? "?"}**`;
  }).join("; ");
  const capped = rows.filter((r) => r.greedy?.capped || r.beam?.capped);
  const md = [
    "# BART benchmark",
    "",
    `${results.benchmark}. Shape: bart-base (${BART_BASE.layers} + ${BART_BASE.layers} layers, d ${BART_BASE.dModel}, ${BART_BASE.heads} heads, FFN ${BART_BASE.ffn}, V ${BART_BASE.vocab}, ` +
      `${BART_BASE.positions} positions, exact GELU), weights ~ N(0, ${checkpointConfig.init_std ?? "?"}²); quantized folders use ${results.settings.quantization}.`,
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${(machine.memory_bytes / 2 ** 30).toFixed(0)} GiB; load average ${loadStart.map((x) => x.toFixed(2)).join("/")} at the start, ` +
      `${machine.loadavg_end.map((x) => x.toFixed(2)).join("/")} at the end (1/5/15 min). Node ${machine.node}, lowbit ${versions.lowbit}, onnxruntime-web ${versions.ort_web?.web ?? "?"}, ` +
      `onnxruntime-node ${versions.ort_node?.node ?? "?"}, ${results.date.slice(0, 10)}.`,
    `Command: \`${command}\` — the whole run (checkpoint and exports included) took **${(totalMs / 1e3).toFixed(0)} s** (${(totalMs / 60e3).toFixed(1)} min). ` +
      "The checkpoint: `npx tsx scripts/make_random_bart.ts --out DIR --std 0.05` (bench/bart.ts makes it when missing).",
    "",
    "## Goals (issue 11)",
    "",
    `- 2-bit greedy decode ≥ 4× onnxruntime-web's on the same folder: ${fmt(w2?.lowbit_tokens_per_s, 2)} ÷ ${fmt(w2?.ort_web_tokens_per_s, 2)} tok/s = **${fmt(w2?.ratio, 1)}×** (${met(w2?.ratio, 4)}). ` +
      `All widths: ${decodeLines}. Beam-4 steps/s: ${beamLines}.`,
    `- Encoder (${ENCODER_TOKENS} tokens) ≥ 2× onnxruntime-web's: ${encoderLines}.`,
    `- WASM memory ≤ 1.2 × (weights + caches) (lowbit, after the beam-4 runs): ${memLines}.`,
    `- Weights ratio at 2-2-8 ≥ 13.4× (export report, shared.weight counted once): **${fmt(wr2?.weights_ratio, 2)}×** (${met(wr2?.weights_ratio, 13.4)}).`,
    "",
    "## Engines",
    "",
    `Each row is one child process. Encoder: ${ENCODER_TOKENS}-token input (<s>, seeded ids, </s>), median of warm runs (up to ${o.runs}, fewer where they would take over ${o.encoderBudgetS} s); cold is the first after loading. ` +
      `lowbit's encoder also projects the cross-attention K/V of all ${BART_BASE.layers} decoder layers (${(m.crossKv / 1e9).toFixed(2)} GMAC of its ${encoderGmac.toFixed(1)}); onnxruntime does that in the decoder's first step, ` +
      `which is timed apart ("1st step"). Greedy tok/s and beam-4 steps/s: steps 2..N of a decode with EOS banned (max_new_tokens N, min_length N + 1, ` +
      `generation_config.json's other defaults: no_repeat_ngram_size 3, forced BOS/EOS), wall time with the search's own work, median of ${o.runs} runs; ` +
      `N = ${NEW_TOKENS}, or fewer (*) where a run would take over ~${o.decodeBudgetS} s (at least ${MIN_STEPS}). Load: folder to ready sessions (lowbit: checksums verified). ` +
      "Peak RSS: the child's VmHWM. Ids = lowbit: ids an engine generated before the first difference from lowbit's on the same folder / ids compared " +
      `(decoder start and the final forced </s> left out); greedy from the timed runs (a shorter run is a prefix of a longer one), beam-4 from the ${WARMUP_STEPS}-step warm-up run that every engine makes.`,
    "",
    "| W-E-A | engine | threads | graph opt (enc / dec) | load ms | encoder ms | cold encoder ms | 1st step ms | greedy tok/s | N | beam-4 steps/s | N | peak RSS MiB | WASM MiB / (weights + caches) | encoder max \\|Δ\\| vs lowbit (share > 1e-3) | greedy ids = lowbit | beam ids = lowbit |",
    "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- |",
    ...tableRows,
    "",
    "## Folders",
    "",
    "Weights ratio: 4 bytes × parameters ÷ bytes of the stored parameters (codes, scales, fp32 tensors; shared.weight counted once though both files hold it). " +
      "On disk: the whole folder (both ONNX files with their shared.weight and tokenizer copies, config and tokenizer JSON).",
    "",
    "| W-E-A | parameters | stored parameters MiB | weights ratio | onnx/ MiB | folder MiB | fp32 params ÷ folder | export s |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...folderRows,
    "",
    "## Where the time goes",
    "",
    `Napkin math: the encoder is ${(m.encoderLinear / 1e9).toFixed(1)} GMAC of linear layers + ${(m.encoderAttention / 1e9).toFixed(1)} of attention (S² · d per layer, twice) ` +
      `+ ${(m.crossKv / 1e9).toFixed(1)} of cross-attention K/V = ${encoderGmac.toFixed(1)} GMAC; one decoded token ${(m.decoderLinear / 1e6).toFixed(1)} M MACs of linear layers ` +
      `+ ${(m.head / 1e6).toFixed(1)} M of head + ${(m.decoderCrossAttention / 1e6).toFixed(1)} M of cross-attention = ${tokenGmac.toFixed(3)} GMAC.`,
    "",
    "lowbit's kernels, timed call by call after the timed runs (one encode, 6 greedy and 6 beam-4 steps), ms:",
    "",
    ...profileLines,
    "",
    `Search overhead (share of the decode wall time outside step() and reorder(): log-softmax, processors, top-k, copies; same code for every engine), greedy / beam-4: ${overheadLines}.`,
    "",
    "## Notes",
    "",
    `- onnxruntime-web runs in Node from its \`ort.node.min.mjs\` entry; it loaded \`${webWasm ?? "?"}\` (seen by watching WebAssembly.instantiate), env.wasm.numThreads = the row's threads.`,
    `- onnxruntime-web's optimization levels were probed per folder (load, ${PROBE_TOKENS}-token encode, ${PROBE_STEPS} greedy steps after the first), encoder and decoder ` +
      `sessions picked apart (fastest encode / fastest step), at 1 thread, their levels serving every thread count; ms encoder/step: ${probeLines || "not run (no onnxruntime-web rows)"}. ` +
      "onnxruntime-node runs at \"all\" (its default), intra-op threads = the row's threads.",
    capped.length === 0 ? "- No decode run was capped." : `- Capped decode runs (*): ${capped.map((r) => `${r.label} ${r.engine} (${r.threads} thread${r.threads === "1" ? "" : "s"}) ` +
      [r.greedy?.capped ? `greedy ${r.greedy.steps}` : "", r.beam?.capped ? `beam ${r.beam.steps}` : ""].filter((x) => x !== "").join(", ")).join("; ")}. ` +
      "A capped run attends over a shorter decoder cache (at most 32 rows either way: a small share of a step, next to the 512-row cross-attention).",
    "- onnxruntime is driven as transformers.js drives the merged decoder (bench/ort_bart.ts): after the first step only logits and present.*.decoder.* are fetched, " +
      "the cross-attention K/V of the first step are fed back as they are; a beam reorder gathers the decoder caches in JS. onnxruntime-web copies every fed tensor into its WASM memory each run " +
      `(the cross-attention caches: ${mib(2 * BART_BASE.layers * ENCODER_TOKENS * BART_BASE.dModel * 4)} MiB per row and step).`,
    "- Why quantized folders part: the engines' fp32 sums differ in the last bits (another order of accumulation), and with int8 activations a value within that much of a " +
      "rounding boundary takes another code in one engine than in the other; the step that makes in the next product is far above the fp32 noise, so it moves more values across " +
      "boundaries, layer after layer (src/reference/common.ts's header describes the mechanism). The encoder column shows it: fp32 folders give the floor of fp32 rounding, " +
      "quantized ones differ far more over 512 tokens, on the order of the top-2 logit gaps of these random weights, so ids part after a few steps. " +
      "onnxruntime at \"all\" also fuses DequantizeLinear + MatMul (MatMulNBits, its own int8 activations). The tests check the graphs themselves on the tiny fixtures with " +
      "optimizations off (test/export/bart_onnx.test.ts: every generate() run equal to transformers' in onnxruntime and in lowbit, quantized logits within 1e-4 of the reference).",
    "- The machine is shared and noisy; per-run numbers are in bart.json.",
    "",
  ].join("\n");
  writeFileSync(join(o.results, "bart.md"), md);
  console.log(md);
}

// A script when run, a library when imported (bench/generate.ts): children re-run this file as the script.
if (resolve(process.argv[1] ?? "") === SELF) await main();
