// Generation benchmark: GPT-2-124M-shaped exports (random weights) at fp32, W8, W4 and W2 (embedding bits =
// weight bits, A8), plus one trained file used as it is (the 124M-shaped 2-2-8 QuantGPT student,
// models/quantgpt124m-228.onnx, "dq" format, per-module scales), run by lowbit's WASM runtime, by
// onnxruntime-web's WASM backend in Node (one thread) and by onnxruntime-node (one intra-op thread, and its
// default threading). Measures decode tokens/s, prefill tokens/s, load time, peak RSS, for lowbit WASM
// memory against packed weights + KV cache, and engine agreement: whether each engine's greedy ids equal
// lowbit's on the same file, how many leading ids agree and where they first differ.
//
// Why the trained row: random weights give near-tied logits, so greedy ids there break ties on rounding and
// a difference between engines says little. The trained student has peaked logits, so engines that run the
// same function should agree on every step. Its prompts are real text (PASSAGE below, tokenized with the
// file's own embedded tokenizer: the first 32 tokens for decoding, the first 128 for prefill), where the
// random rows use seeded random ids; and its agreement is checked over all 128 new tokens (one extra
// untimed greedy run where a timed run was capped by --decode-budget-s).
//
// Every engine × file runs in a fresh child process (this file re-invoked with --child), so peak RSS is
// its own. Timings are medians of --runs timed runs after one untimed warm-up; the first prefill after
// loading is kept as "cold". Not a kernel benchmark (bench/kernels.ts is) and not a quality check.
//
//   npx tsx bench/generate.ts [--runs 3] [--decode-budget-s 8] [--models w2-dq,trained-w2-dq]
//                             [--trained models/quantgpt124m-228.onnx | --trained ""] [--checkpoint DIR] [--reuse-exports]
// Writes bench/results/generate.json and bench/results/generate.md from the rows this run measured (a run
// with --models writes only those, and says so in the markdown's header).
//
// Letters: L layers, C n_embd, F = 4C, V vocab, NH heads, HS = C / NH.

import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
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
import { childMain, engineName, type EngineRun, fmt, machineInfo, median, peakRssBytes, runChild, selectModels } from "./harness.js";
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
  { key: "w4-nbits", label: "4-4-8 nbits", bits: 4, format: "nbits" },
  { key: "w2-nbits", label: "2-2-8 nbits", bits: 2, format: "nbits" },
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
  const model = await loadGpt2Model(file, { variant: "simd", contextLength: 2 });
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

interface Timings {
  prefill: { prompt_tokens: number; cold_ms: number; runs_ms: number[]; median_ms: number; tokens_per_s: number };
  decode: {
    prompt_tokens: number; steps: number; capped: boolean; estimated_step_ms: number;
    runs_ms: number[]; runs_tokens_per_s: number[]; tokens_per_s: number; ids: number[];
    /** --full-agreement: greedy ids over all NEW_TOKENS (an extra untimed run where the timed ones were capped). */
    full_ids?: number[];
  };
}

interface ChildArgs {
  model: string;
  runs: number;
  decodeBudgetS: number;
  level: string;
  threads: string;
  prompts: Prompts;
  fullAgreement: boolean;
}

/** Cold prefill, warm prefills, one short warm-up decode (which sizes the timed runs), timed decodes. */
async function measure(engine: Engine, a: ChildArgs): Promise<Timings> {
  const long = a.prompts.prefill;
  const short = a.prompts.decode;
  const coldMs = await engine.prefill(long);
  const prefillRuns: number[] = [];
  for (let r = 0; r < a.runs; r++) prefillRuns.push(await engine.prefill(long));

  const warm = await engine.decode(short, 4);
  const estimate = warm.decodeMs / 4;
  const full = NEW_TOKENS - 1;
  const steps = Math.min(full, Math.max(MIN_DECODE_STEPS, Math.floor((a.decodeBudgetS * 1e3) / estimate)));
  const decodeRuns: number[] = [];
  let ids: number[] = [];
  for (let r = 0; r < a.runs; r++) {
    const run = await engine.decode(short, steps);
    decodeRuns.push(run.decodeMs);
    ids = run.ids;
  }
  // Untimed: the ids over every new token, for the agreement check, where the timed runs stopped short.
  const fullIds = !a.fullAgreement ? undefined : steps < full ? (await engine.decode(short, full)).ids : ids;
  const prefillMedian = median(prefillRuns);
  const rates = decodeRuns.map((ms) => steps / (ms / 1e3));
  return {
    prefill: { prompt_tokens: PREFILL_PROMPT, cold_ms: coldMs, runs_ms: prefillRuns, median_ms: prefillMedian, tokens_per_s: PREFILL_PROMPT / (prefillMedian / 1e3) },
    decode: {
      prompt_tokens: DECODE_PROMPT, steps, capped: steps < full, estimated_step_ms: estimate,
      runs_ms: decodeRuns, runs_tokens_per_s: rates, tokens_per_s: steps / (median(decodeRuns) / 1e3), ids,
      ...(fullIds === undefined ? {} : { full_ids: fullIds }),
    },
  };
}

interface ChildResult extends Timings, EngineRun {
  level: string;
  lowbit?: { variant: string; wasm_memory_bytes: number; weight_bytes: number; kv_cache_bytes: number; kv_rows: number; memory_ratio: number };
}

async function childLowbit(a: ChildArgs): Promise<ChildResult> {
  const model = await loadGpt2Model(a.model, { variant: "simd", contextLength: CONTEXT });
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
  return {
    engine: "lowbit", level: "-", threads: "1", load_ms: model.loadMs, ...timings,
    peak_rss_bytes: peakRssBytes(), versions: { nodejs: process.version },
    lowbit: {
      variant: model.kernelVariant, wasm_memory_bytes: wasm, weight_bytes: e.weightBytes, kv_cache_bytes: e.kvCacheBytes, kv_rows: e.capacity,
      memory_ratio: wasm / (e.weightBytes + e.kvCacheBytes),
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
  const { ort, versions, wasmFile, options: base } = await ortRuntime(kind, a.threads);
  const options = { ...base, graphOptimizationLevel: a.level as "disabled" | "basic" | "all" };
  const t0 = performance.now();
  const m = await openOrtGpt2(ort, a.model, DIMS, options);
  const loadMs = performance.now() - t0;
  const timings = await measure(ortEngine(m), a);
  await m.session.release();
  return {
    engine: kind, level: a.level, threads: a.threads, load_ms: loadMs, ...timings,
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


interface Row extends Partial<ChildResult> {
  model: string;
  label: string;
  file_bytes: number;
  engine: ChildResult["engine"];
  threads: string;
  level: string;
  wall_ms: number;
  error?: string;
  /** Greedy ids against lowbit's on the same file (nbits files: lowbit on the dq file of the same bits). */
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

async function main(): Promise<void> {
  const o = new Command()
    .option("--runs <n>", "timed runs per measurement (median reported)", Number, 3)
    .option("--decode-budget-s <s>", "cap one timed decode run at about this long (fewer tokens, at least 16)", Number, 8)
    .option("--checkpoint <dir>", "124M-shaped checkpoint (made if missing)", join(tmpdir(), "lowbit-gpt2-124m-random"))
    .option("--files <dir>", "where the exported .onnx files go", join(tmpdir(), "lowbit-bench-generate"))
    .option("--reuse-exports", "reuse exported files already in --files (default: export afresh)", false)
    .option("--no-ort-node-default", "skip onnxruntime-node at its default threading")
    .option("--models <keys>", `comma-separated subset of ${MODELS.map((m) => m.key).join(",")}`)
    .option("--trained <file>", `the trained 124M-shaped file of row ${TRAINED_KEY}, used as it is ("" skips the row)`, TRAINED_DEFAULT)
    .option("--child <engine>", "internal: lowbit | ort-web | ort-node | ort-web-probe")
    .option("--model <file>", "internal: .onnx for --child")
    .option("--level <l>", "internal: graph optimization level for --child", "all")
    .option("--threads <n>", "internal: intra-op threads for --child ort-node (a number or 'default')", "1")
    .option("--decode-prompt <ids>", "internal: comma-separated decode prompt for --child (default: seeded random ids)")
    .option("--prefill-prompt <ids>", "internal: comma-separated prefill prompt for --child (default: seeded random ids)")
    .option("--full-agreement", "internal: --child also reports greedy ids over all new tokens", false)
    .parse()
    .opts();
  const random = randomPrompts();
  const prompts: Prompts = {
    decode: o.decodePrompt === undefined ? random.decode : parseIds(o.decodePrompt),
    prefill: o.prefillPrompt === undefined ? random.prefill : parseIds(o.prefillPrompt),
  };
  const childArgs: ChildArgs = { model: o.model, runs: o.runs, decodeBudgetS: o.decodeBudgetS, level: o.level, threads: o.threads, prompts, fullAgreement: o.fullAgreement };
  if (o.child !== undefined) {
    return childMain(o.child, {
      lowbit: () => childLowbit(childArgs),
      "ort-web": () => childOrt("ort-web", childArgs),
      "ort-node": () => childOrt("ort-node", childArgs),
      "ort-web-probe": () => childWebProbe(childArgs),
    });
  }

  const trainedFile: string = o.trained;
  const trainedName = trainedFile === "" ? "" : relative(process.cwd(), trainedFile) || trainedFile;
  let models = selectModels(MODELS, o.models).map((s) => (s.trained ? { ...s, label: `${s.label} (${trainedName})` } : s));
  if (trainedFile === "" && models.some((s) => s.trained)) {
    console.error(`${TRAINED_KEY}: skipped (--trained is empty)`);
    models = models.filter((s) => !s.trained);
    if (models.length === 0) throw new Error(`--models ${o.models}: nothing left to run once ${TRAINED_KEY} is skipped`);
  }
  const trainedSpec = models.find((s) => s.trained);
  if (trainedSpec !== undefined && !existsSync(trainedFile)) throw new Error(`--trained: ${trainedFile} does not exist (pass --trained "" to skip row ${TRAINED_KEY})`);
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
  const promptArgs = (spec: ModelSpec): string[] =>
    spec.trained ? ["--decode-prompt", text!.decode.join(","), "--prefill-prompt", text!.prefill.join(","), "--full-agreement"] : [];

  const common = ["--runs", String(o.runs), "--decode-budget-s", String(o.decodeBudgetS)];
  const rows: Row[] = [];
  const probes: Record<string, ProbeResult[]> = {};
  const run = (spec: ModelSpec, engine: ChildResult["engine"], level: string, threads: string): void => {
    const t0 = Date.now();
    const base = { model: spec.key, label: spec.label, file_bytes: files[spec.key].bytes, engine, threads, level };
    try {
      const r = runChild<ChildResult>(SELF, ["--child", engine, "--model", files[spec.key].path, "--level", level, "--threads", threads, ...common, ...promptArgs(spec)]);
      rows.push({ ...r, ...base, wall_ms: Date.now() - t0 });
      console.error(`${spec.key} ${engine} (${level}, ${threads} thread): decode ${fmt(r.decode.tokens_per_s)} tok/s over ${r.decode.steps} steps, ` +
        `prefill ${fmt(r.prefill.tokens_per_s)} tok/s, load ${fmt(r.load_ms, 0)} ms, peak RSS ${mib(r.peak_rss_bytes)} MiB  [${((Date.now() - t0) / 1e3).toFixed(0)} s]`);
    } catch (err) {
      rows.push({ ...base, wall_ms: Date.now() - t0, error: String((err as Error).message).split("\n")[0] });
      console.error(`${spec.key} ${engine}: FAILED ${(err as Error).message}`);
    }
  };

  for (const spec of models) {
    if (spec.format === "dq") run(spec, "lowbit", "-", "1");
    const probe = runChild<ProbeResult[]>(SELF, ["--child", "ort-web-probe", "--model", files[spec.key].path, ...common, ...promptArgs(spec)]);
    probes[spec.key] = probe;
    const best = probe.reduce((a, b) => (b.median_step_ms < a.median_step_ms ? b : a));
    console.error(`${spec.key} ort-web levels: ${probe.map((p) => `${p.level} ${fmt(p.median_step_ms)} ms/step`).join(", ")} → ${best.level}`);
    run(spec, "ort-web", best.level, "1");
    run(spec, "ort-node", "all", "1");
    if (o.ortNodeDefault) run(spec, "ort-node", "all", "default");
  }
  const totalMs = Date.now() - started;

  // ── agreement: each row's greedy ids against lowbit's on the same file (full length where measured) ─────
  for (const r of rows) {
    const spec = models.find((s) => s.key === r.model)!;
    const ref = rows.find((x) => x.model === referenceKey(spec) && x.engine === "lowbit" && x.error === undefined);
    if (r.engine === "lowbit" || ref?.decode === undefined || r.decode === undefined) continue;
    const full = ref.decode.full_ids !== undefined && r.decode.full_ids !== undefined;
    r.agreement = full ? compareIds(ref.model, ref.decode.full_ids!, r.decode.full_ids!, true) : compareIds(ref.model, ref.decode.ids, r.decode.ids, false);
  }

  // ── summary ────────────────────────────────────────────────────────────────────────────────────────────
  const find = (model: string, engine: string, threads = "1") => rows.find((r) => r.model === model && r.engine === engine && r.threads === threads && r.error === undefined);
  const ours = (bits: number) => find(MODELS.find((s) => s.bits === bits && s.format === "dq" && !s.trained)!.key, "lowbit");
  const macs = macsPerToken();
  const gmacPerToken = (macs.linear + macs.head) / 1e9;
  const goals = {
    decode_vs_ort_web: [4, 2].map((bits) => {
      const dq = `w${bits}-dq`;
      const r = ours(bits)?.decode?.tokens_per_s;
      const web = find(dq, "ort-web")?.decode?.tokens_per_s;
      const webNbits = find(`w${bits}-nbits`, "ort-web")?.decode?.tokens_per_s;
      return {
        bits, lowbit_tokens_per_s: r, ort_web_same_file_tokens_per_s: web, ratio: r !== undefined && web !== undefined ? r / web : undefined,
        ort_web_nbits_tokens_per_s: webNbits, ratio_vs_nbits: r !== undefined && webNbits !== undefined ? r / webNbits : undefined, goal: 2,
      };
    }),
    wasm_memory: [32, 8, 4, 2].map((bits) => ({ bits, ...ours(bits)?.lowbit, goal: 1.2 })),
    napkin: [32, 8, 4, 2].map((bits) => {
      const r = ours(bits)?.decode?.tokens_per_s;
      return { bits, gmac_per_token: gmacPerToken, lowbit_tokens_per_s: r, gmac_per_s: r === undefined ? undefined : r * gmacPerToken, weight_bytes: ours(bits)?.lowbit?.weight_bytes };
    }),
  };
  const machine = machineInfo(loadStart);
  const command = `npx tsx bench/generate.ts --runs ${o.runs} --decode-budget-s ${o.decodeBudgetS}${o.models === undefined ? "" : ` --models ${o.models}`}` +
    `${trainedFile === TRAINED_DEFAULT ? "" : ` --trained ${JSON.stringify(trainedName)}`}${o.ortNodeDefault ? "" : " --no-ort-node-default"}`;
  const partial = o.models !== undefined || models.length < MODELS.length;
  const trainedLowbit = trainedSpec === undefined ? undefined : find(trainedSpec.key, "lowbit");
  const trainedIds = trainedLowbit?.decode?.full_ids ?? trainedLowbit?.decode?.ids;
  const trained = trainedSpec === undefined ? undefined : {
    key: trainedSpec.key, file: trainedName, bytes: files[trainedSpec.key].bytes,
    passage: PASSAGE, passage_tokens: text!.passage_tokens, decode_prompt_ids: text!.decode, decode_prompt_text: text!.decode_text, prefill_prompt_ids: text!.prefill,
    lowbit_greedy_ids: trainedIds, lowbit_greedy_text: trainedIds === undefined ? undefined : text!.tokenizer.decode(trainedIds),
    agreement: rows.filter((r) => r.model === trainedSpec.key && r.agreement !== undefined).map((r) => ({ engine: r.engine, threads: r.threads, level: r.level, ...r.agreement! })),
  };
  const webWasm = rows.find((r) => r.ort_web_wasm !== undefined)?.ort_web_wasm;
  const versions = { ort_web: rows.find((r) => r.engine === "ort-web")?.versions, ort_node: rows.find((r) => r.engine === "ort-node")?.versions };
  const results = {
    benchmark: "greedy generation on GPT-2-124M-shaped exports (random weights) and a trained 124M-shaped 2-2-8 student: lowbit WASM runtime vs onnxruntime-web (WASM, 1 thread) vs onnxruntime-node",
    date: new Date(started).toISOString(), command, partial, models: models.map((s) => s.key), machine, versions,
    settings: {
      runs: o.runs, decode_prompt_tokens: DECODE_PROMPT, new_tokens: NEW_TOKENS, prefill_prompt_tokens: PREFILL_PROMPT, lowbit_kv_rows: CONTEXT,
      decode_budget_s: o.decodeBudgetS, min_decode_steps: MIN_DECODE_STEPS, web_probe_steps: PROBE_STEPS,
      quantization: "RTN, module-wise scales, max-abs clip; embedding bits = weight bits; int8 activations for quantized files",
      prompts: "random rows: seeded random ids; trained row: PASSAGE tokenized with the file's own tokenizer",
    },
    trained, files, ort_web_wasm: webWasm, ort_web_level_probes: probes, rows, goals,
    timing: { export_ms: exportedMs, total_ms: totalMs },
  };
  mkdirSync(join(HERE, "results"), { recursive: true });
  writeFileSync(join(HERE, "results", "generate.json"), `${JSON.stringify(results, null, 2)}\n`);

  const tableRows = rows.map((r) => {
    const l = r.lowbit;
    const decodeNote = r.decode === undefined ? "—" : `${r.decode.steps + 1}${r.decode.capped ? " (capped)" : ""}`;
    return `| ${r.label} | ${engineName(r.engine)} | ${r.threads} | ${r.level} | ${fmt(r.decode?.tokens_per_s, 2)} | ${decodeNote} | ${fmt(r.prefill?.tokens_per_s, 1)} | ` +
      `${fmt(r.prefill?.cold_ms, 0)} | ${fmt(r.load_ms, 0)} | ${mib(r.peak_rss_bytes)} | ` +
      `${l === undefined ? "—" : `${mib(l.wasm_memory_bytes)} / ${mib(l.weight_bytes + l.kv_cache_bytes)} = ${l.memory_ratio.toFixed(3)}`} | ` +
      `${r.engine === "lowbit" ? "(reference)" : agreementCell(r.agreement)} |${r.error === undefined ? "" : ` FAILED: ${r.error}`}`;
  });
  const ratioLine = (g: (typeof goals.decode_vs_ort_web)[number]) =>
    `- W${g.bits} decode: lowbit ${fmt(g.lowbit_tokens_per_s, 2)} tok/s ÷ onnxruntime-web ${fmt(g.ort_web_same_file_tokens_per_s, 2)} tok/s on the same dq file = ` +
    `**${fmt(g.ratio, 1)}×** (goal ≥ 2×: ${g.ratio === undefined ? "not measured" : g.ratio >= 2 ? "met" : "NOT met"}); ` +
    (g.ort_web_nbits_tokens_per_s === undefined
      ? `the ${g.bits}-bit nbits file was not measured in this run.`
      : `vs onnxruntime-web on the ${g.bits}-bit nbits file (${fmt(g.ort_web_nbits_tokens_per_s, 2)} tok/s): ${fmt(g.ratio_vs_nbits, 1)}×.`);
  const memLine = goals.wasm_memory.filter((m) => m.memory_ratio !== undefined).map((m) => `${m.bits === 32 ? "fp32" : `W${m.bits}`} ${mib(m.wasm_memory_bytes)} / (${mib(m.weight_bytes)} + ${mib(m.kv_cache_bytes)}) MiB = ` +
    `**${fmt(m.memory_ratio, 3)}** (${m.memory_ratio === undefined ? "not measured" : m.memory_ratio <= 1.2 ? "met" : "NOT met"})`).join("; ");
  const napkin = goals.napkin.filter((n) => n.lowbit_tokens_per_s !== undefined).map((n) => `${n.bits === 32 ? "fp32" : `W${n.bits}`} ${fmt(n.lowbit_tokens_per_s, 1)} tok/s × ${gmacPerToken.toFixed(4)} = **${fmt(n.gmac_per_s, 2)} GMAC/s**` +
    (n.weight_bytes === undefined || n.lowbit_tokens_per_s === undefined ? "" : ` (${((n.weight_bytes * n.lowbit_tokens_per_s) / 1e9).toFixed(1)} GB/s of weights)`)).join("; ");
  const probeLines = models.map((s) => {
    const p = probes[s.key];
    const best = p.reduce((a, b) => (b.median_step_ms < a.median_step_ms ? b : a));
    return `${s.label}: ${p.map((x) => `${x.level} ${fmt(x.median_step_ms, 0)}`).join(", ")} → **${best.level}**`;
  }).join("; ");
  const capped = rows.filter((r) => r.decode?.capped);

  // The trained row beside the random W2 dq row, engine by engine.
  const trainedSection: string[] = [];
  if (trained !== undefined) {
    const engines = rows.filter((r) => r.model === TRAINED_KEY || r.model === "w2-dq")
      .map((r) => `${r.engine}|${r.threads}`).filter((k, i, all) => all.indexOf(k) === i);
    const cell = (r: Row | undefined, f: (r: Row) => string) => (r === undefined ? "—" : f(r));
    const anyRow = (model: string, engine: string, threads: string) => rows.find((r) => r.model === model && r.engine === engine && r.threads === threads);
    const pair = engines.map((k) => {
      const [engine, threads] = k.split("|");
      const rnd = anyRow("w2-dq", engine, threads);
      const trn = anyRow(TRAINED_KEY, engine, threads);
      return `| ${engineName(engine as ChildResult["engine"])} | ${threads} | ${cell(rnd, (r) => fmt(r.decode?.tokens_per_s, 2))} | ${cell(trn, (r) => fmt(r.decode?.tokens_per_s, 2))} | ` +
        `${cell(rnd, (r) => fmt(r.prefill?.tokens_per_s, 1))} | ${cell(trn, (r) => fmt(r.prefill?.tokens_per_s, 1))} | ${cell(rnd, (r) => fmt(r.load_ms, 0))} | ${cell(trn, (r) => fmt(r.load_ms, 0))} | ` +
        `${engine === "lowbit" ? "(reference)" : cell(rnd, (r) => agreementCell(r.agreement))} | ${engine === "lowbit" ? "(reference)" : cell(trn, (r) => agreementCell(r.agreement))} |`;
    });
    const others = trained.agreement;
    const allEqual = others.length > 0 && others.every((g) => g.equal && g.full_length && g.compared === NEW_TOKENS);
    const verdict = others.length === 0
      ? "No other engine's ids were measured on the trained file."
      : allEqual
        ? `**Every engine's greedy ids equal lowbit's over all ${NEW_TOKENS} new tokens** on the trained file.`
        : `Agreement with lowbit over the trained file's new tokens: ${others.map((g) => `${engineName(g.engine)}${g.threads === "default" ? " (default threads)" : ""} ` +
          (g.equal ? `equal over ${g.compared}` : `**differs**: ${g.leading_agree} leading ids agree of ${g.compared}, first difference at new token ${g.first_difference! + 1}`)).join("; ")}.`;
    trainedSection.push(
      "## Trained weights beside random W2",
      "",
      `Random weights give near-tied logits, so greedy ids there break ties on rounding; the trained student (\`${trained.file}\`, ${mib(trained.bytes)} MiB, used as it is) has peaked logits, ` +
        `so engines that compute the same function must agree. Its prompts are the first ${DECODE_PROMPT} (decode) and ${PREFILL_PROMPT} (prefill) tokens of a fixed English passage ` +
        `(${trained.passage_tokens} tokens with the file's own tokenizer; PASSAGE in bench/generate.ts); its agreement is checked over all ${NEW_TOKENS} new tokens ` +
        "(one extra untimed greedy run where the timed runs were capped). The random W2 agreement is over each engine's timed run.",
      "",
      "| engine | threads | decode tok/s, random W2 | decode tok/s, trained | prefill tok/s, random W2 | prefill tok/s, trained | load ms, random W2 | load ms, trained | greedy ids = lowbit, random W2 | greedy ids = lowbit, trained |",
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
      ...pair,
      "",
      verdict,
      "",
      `Decode prompt: ${JSON.stringify(trained.decode_prompt_text)}. lowbit's greedy continuation (${trained.lowbit_greedy_ids?.length ?? 0} new tokens): ` +
        `${trained.lowbit_greedy_text === undefined ? "—" : JSON.stringify(trained.lowbit_greedy_text)}`,
      "",
    );
  }
  const measuredGoals = goals.decode_vs_ort_web.filter((g) => g.lowbit_tokens_per_s !== undefined);
  const fp32WeightBytes = ours(32)?.lowbit?.weight_bytes ?? 4 * (GPT2_124M.vocab * GPT2_124M.embd + 1024 * GPT2_124M.embd + GPT2_124M.layers * (12 * GPT2_124M.embd ** 2 + 13 * GPT2_124M.embd) + 2 * GPT2_124M.embd);
  const md = [
    "# Generation benchmark",
    "",
    `${results.benchmark}. GPT-2 124M shape (L 12, C 768, NH 12, V 50257), tied head; quantized files use ${results.settings.quantization}. ` +
      `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, onnxruntime-web ${versions.ort_web?.web ?? "?"}, onnxruntime-node ${versions.ort_node?.node ?? "?"}, ${results.date.slice(0, 10)}.`,
    `Command: \`${command}\` — the whole run (exports included) took **${(totalMs / 1e3).toFixed(0)} s** (${(totalMs / 60e3).toFixed(1)} min).`,
    ...(partial
      ? ["", `**Partial run: only ${models.map((s) => s.key).join(", ")} ${models.length === 1 ? "was" : "were"} measured.** This file holds what this run measured, nothing carried over; ` +
          "rows and goals of files not run here are in earlier versions of this file (git history) or in a full run (no --models)."]
      : []),
    "",
    `Each row is one child process. Decode: greedy after a ${DECODE_PROMPT}-token prompt; tokens/s counts the one-token forwards after the first new token ` +
      `(which comes from the prompt's logits), median of ${o.runs} runs. Prefill: time to the first logits of a ${PREFILL_PROMPT}-token prompt, median of ${o.runs} warm runs; ` +
      "cold is the first one after loading. Load: file read to ready session. Peak RSS: the child's VmHWM. Prompts: fixed seeded random ids for the random-weight files; " +
      "for the trained file, a fixed English passage tokenized with its own tokenizer (see below).",
    "",
    "| W-E-A file | engine | threads | graph opt | decode tok/s | new tokens | prefill tok/s | cold prefill ms | load ms | peak RSS MiB | WASM MiB / (weights + KV) MiB | greedy ids = lowbit |",
    "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ...tableRows,
    "",
    ...trainedSection,
    "## Goals (random-weight files)",
    "",
    ...(measuredGoals.length === 0 ? ["- Decode goal: lowbit's W4/W2 dq files were not measured in this run."] : measuredGoals.map(ratioLine)),
    `- WASM memory ÷ (packed weights + KV cache of ${CONTEXT} rows), goal ≤ 1.2: ${memLine || "not measured in this run"}.`,
    "",
    `Napkin math: one decoded token is ${(macs.linear / 1e6).toFixed(1)} M MACs in the linear layers + ${(macs.head / 1e6).toFixed(1)} M in the head = ${gmacPerToken.toFixed(4)} GMAC ` +
      `(attention adds ~2·P·C per layer, ~1.8 M at P ≈ 96). Achieved: ${napkin || "not measured in this run"}. Bounds on one core: int8 dot 12–16 GMAC/s, 2-bit unpack + dot 10–13 GMAC/s, ` +
      `streaming reads 23–28 GB/s (fp32 weights, ${mib(fp32WeightBytes)} MiB per token, cap decode at ${fmt(23e9 / fp32WeightBytes, 0)}–${fmt(28e9 / fp32WeightBytes, 0)} tok/s).`,
    "",
    "## Notes",
    "",
    `- onnxruntime-web runs in Node from its \`ort.node.min.mjs\` entry; it loaded \`${webWasm ?? "?"}\` (seen by watching WebAssembly.instantiate), with env.wasm.numThreads = 1.`,
    `- onnxruntime-web's optimization level was chosen per file by a probe (load, ${DECODE_PROMPT}-token prompt, ${PROBE_STEPS} decode steps; median ms/step of the last ${PROBE_STEPS - 1}), ` +
      `fastest decode step wins: ${probeLines}. onnxruntime-node runs at "all" (its default).`,
    `- Decode runs are capped where one would take over ~${o.decodeBudgetS} s (from a 4-step warm-up estimate), timing at least ${MIN_DECODE_STEPS} steps: ` +
      (capped.length === 0 ? "none were." : `${capped.map((r) => `${r.label} ${r.engine}${r.threads === "default" ? " (default threads)" : ""} ${r.decode!.steps + 1} tokens`).join(", ")}. ` +
      "A capped run attends over a shorter cache (32 + its tokens instead of up to 160 rows); at these sizes attention is ~1–2% of a step, so tokens/s is comparable."),
    "- lowbit's decode time is `lastStats.decodeMs` (the executor's forwards); onnxruntime's includes building the feeds, `session.run` (the KV cache goes in and comes back as new tensors every step) and the argmax of the last row.",
    "- \"greedy ids = lowbit\": whether an engine's greedy ids equal lowbit's on the same file (nbits files: lowbit on the dq file of the same bits), with the ids that agree before the first difference " +
      `over the shorter run's length, and the first new token that differs. Random-weight files compare the timed runs; the trained file compares all ${NEW_TOKENS} new tokens. ` +
      "With random weights logits are nearly flat and ties break on rounding: a difference there is not a bug by itself, but fp32 engines agreeing shows they compute the same function. " +
      "onnxruntime at \"all\" fuses DequantizeLinear + MatMul into MatMulNBits with its own int8 activations, so quantized files can differ early on random weights; the trained file's peaked logits leave no such excuse.",
    `- The machine is shared and noisy: load average ${loadStart.map((x) => x.toFixed(2)).join("/")} at the start, ${machine.loadavg_end.map((x) => x.toFixed(2)).join("/")} at the end (1/5/15 min). Per-run numbers are in generate.json.`,
    "",
  ].join("\n");
  writeFileSync(join(HERE, "results", "generate.md"), md);
  console.log(md);
}

await main();
