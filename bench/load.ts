// Load-time benchmark: what loading a lowbit model costs, phase by phase, and the whole load as the library
// and the CLI see it. Not a kernel benchmark: nothing here runs a forward pass beyond the CLI's one token.
//
// A load runs once per process (the CLI), so the phases are timed cold: each run is a fresh Node process
// (this file re-invoked with --child) that calls the loader's steps in the order loadModel runs them and
// times each (a BART folder's two files are summed). Medians of --runs:
//   read        the file's bytes (node:fs), with the checksum's running SHA-256 made during the read
//   protobuf    metadata_props and initializers out of the protobuf (views into the bytes)
//   schemas     lowbit.config, lowbit.quantization and the manifest's JSON through their valibot schemas
//   manifest    the manifest against the config and the initializers: types, dims, sizes, code ranges, scales
//   bpe         vocab.json + merges.txt checked (parseBpeFiles)
//   checksum    verifyChecksum: SHA-256 of the file but its checksum (what the read's running hash left)
//   compile     WebAssembly.compile of build/lowbit.simd.wasm, the first in the process (through
//               compileKernels where it exists, whose cache loadKernels then finds)
//   wasm        loadKernels: the .wasm read, compiled (unless cached), instantiated (and worker threads
//               started where the model uses them)
//   weights     the executor: weights copied (and repacked) into WASM memory (src/runtime/weights.ts)
//   tokenizer   the tokenizer made and its first encode + decode ("Hi"): its tables are built on first use
// and, each in fresh processes too:
//   load        loadModel(path): read to ready model, checksum on (default), and off
//   CLI         `lowbit generate --prompt Hi --max-new-tokens 1` (src/cli.ts through tsx): the "load N ms" it
//               prints (GPT-2; `summarize` prints none)
// plus `load warm`: loadModel again and again in one process (a library that loads several models).
//
//   npx tsx bench/load.ts [--runs 15] [--checkpoint /tmp/lowbit-gpt2-124m-random]
// Writes bench/results/load.json and bench/results/load.md.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { readGpt2Checkpoint } from "../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint } from "../src/export/export.js";
import { parseBpeFiles } from "../src/format/bpe_files.js";
import { parseStoredBartConfig } from "../src/format/bart_config.js";
import { parseStoredGpt2Config } from "../src/format/gpt2_config.js";
import { checkManifest, META, parseModelFile, verifyChecksum, type LowbitModelFile, type StoredInitializer } from "../src/format/lowbit_onnx.js";
import * as onnx from "../src/format/onnx_proto.js";
import { parseFileQuantization } from "../src/format/quantization.js";
import { BartExecutor } from "../src/runtime/bart.js";
import * as kernelsModule from "../src/runtime/kernels.js";
import { Gpt2Executor } from "../src/runtime/gpt2.js";
import { loadKernels, loadModel } from "../src/runtime/index.js";
import * as sources from "../src/runtime/sources.js";
import { BpeTokenizer } from "../src/runtime/tokenizer.js";
import { GPT2_124M, makeRandomGpt2 } from "../scripts/make_random_gpt2.js";
import { childMain, machineInfo, median, runChild } from "./harness.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..");
const SELF = fileURLToPath(import.meta.url);

const PHASES = ["read", "protobuf", "schemas", "manifest", "bpe", "checksum", "compile", "wasm", "weights", "tokenizer"] as const;
type Phase = (typeof PHASES)[number];

interface Model {
  label: string;
  /** A .onnx file, or a folder (BART). */
  path: string;
  folder: boolean;
}

// ─── child: one cold load, phase by phase ───────────────────────────────────────────────────────

/** BART's two files in a folder (its config.json's dtype is q2 for the shipped one). */
function folderFiles(dir: string): string[] {
  return ["onnx/encoder_model_q2.onnx", "onnx/decoder_model_merged_q2.onnx"].map((f) => join(dir, f));
}

/**
 * The loader's steps (src/runtime/sources.ts readModelFiles, src/format/lowbit_onnx.ts parseModelFile, then
 * buildModel) called one by one. Written against the exported steps so that it also runs on older trees
 * (where readModelParts and the running hash do not exist, it times decodeModel and a plain read).
 */
async function phasesOnce(model: Model): Promise<Record<Phase, number>> {
  const ms = Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>;
  const lap = async <T>(phase: Phase, f: () => T | Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const result = await f();
    ms[phase] += performance.now() - t0;
    return result;
  };
  const sha256 = () => createHash("sha256");
  const files: LowbitModelFile[] = [];
  for (const path of model.folder ? folderFiles(model.path) : [model.path]) {
    const bytes = await lap("read", () => sources.readSource(path, "model file", sha256));
    const readParts = (onnx as { readModelParts?: typeof onnx.readModelParts }).readModelParts;
    const metadata = new Map<string, string>();
    const initializers = new Map<string, StoredInitializer>();
    let utf8: { vocab: Uint8Array; merges: Uint8Array } | undefined;
    await lap("protobuf", () => {
      if (readParts !== undefined) {
        const parts = readParts(bytes, path);
        for (const m of parts.metadata) metadata.set(m.key, m.value);
        for (const t of parts.initializers) initializers.set(t.name, { name: t.name, dataType: t.dataType, dims: t.dims, raw: t.rawData });
        const vocab = parts.metadata.find((m) => m.key === META.vocab)!;
        const merges = parts.metadata.find((m) => m.key === META.merges)!;
        if (vocab.valueUtf8 && merges.valueUtf8) utf8 = { vocab: vocab.valueBytes, merges: merges.valueBytes };
      } else {
        const m = onnx.decodeModel(bytes, path);
        for (const p of m.metadataProps ?? []) metadata.set(p.key ?? "", p.value ?? "");
        for (const t of m.graph?.initializer ?? []) {
          initializers.set(t.name ?? "", { name: t.name ?? "", dataType: t.dataType ?? 0, dims: (t.dims ?? []).map(onnx.toNumber), raw: t.rawData ?? new Uint8Array(0) });
        }
      }
    });
    const { config, quantization, weights } = await lap("schemas", () => {
      const raw = JSON.parse(metadata.get(META.config)!);
      return {
        config: metadata.get(META.modelType) === "bart" ? parseStoredBartConfig(raw, path) : parseStoredGpt2Config(raw, path),
        quantization: parseFileQuantization(JSON.parse(metadata.get(META.quantization)!), path),
        weights: JSON.parse(metadata.get(META.weights)!),
      };
    });
    const component = metadata.get(META.component) as "encoder" | "decoder" | undefined;
    await lap("manifest", () => checkManifest(weights, config, component, quantization, initializers, path));
    await lap("bpe", () => parseBpeFiles(metadata.get(META.vocab)!, metadata.get(META.merges)!, { vocab: "vocab", merges: "merges" }, utf8));
    // The steps above again, untimed, for the objects the later steps take.
    const file = parseModelFile(bytes, path);
    const takePrefix = (sources as { takeChecksumPrefix?: (b: Uint8Array) => ReturnType<typeof sources.takeChecksumPrefix> }).takeChecksumPrefix;
    await lap("checksum", () => verifyChecksum(file, { sha256, prefix: takePrefix?.(bytes) }));
    files.push(file);
  }
  // The kernels' first compile in the process (the SIMD build, where loadKernels finds it compiled once
  // src/runtime/kernels.ts caches modules; the threads build, where the model uses threads, is compiled there).
  const wasmBytes = readFileSync(join(ROOT, "build", "lowbit.simd.wasm"));
  const compile = (kernelsModule as { compileKernels?: (b: BufferSource) => Promise<WebAssembly.Module> }).compileKernels ?? ((b: BufferSource) => WebAssembly.compile(b));
  await lap("compile", () => compile(wasmBytes));
  const kernels = await lap("wasm", () => loadKernels());
  await lap("weights", () => (model.folder ? new BartExecutor(kernels, { encoder: files[0], decoder: files[1] }) : new Gpt2Executor(kernels, files[0])));
  await lap("tokenizer", () => {
    const tokenizer = BpeTokenizer.fromBpe(files[0].bpe);
    return tokenizer.decode(tokenizer.encode("Hi"));
  });
  (kernels as { runner?: { dispose?: () => void } }).runner?.dispose?.();
  return ms;
}

async function loadOnce(model: Model, verify: boolean): Promise<{ ms: number }> {
  const t0 = performance.now();
  const m = await loadModel(model.path, { verifyChecksum: verify });
  const ms = performance.now() - t0;
  (m as { dispose?: () => void }).dispose?.();
  return { ms };
}

// ─── parent ─────────────────────────────────────────────────────────────────────────────────────

/** The load time `lowbit generate` reports (its --json load_ms, the "load N ms" of its stats line), from a fresh process. */
function cliLoadMs(path: string): number {
  const r = execFileSync(process.execPath, ["--import", "tsx", join(ROOT, "src", "cli.ts"), "generate", "--model", path, "--prompt", "Hi", "--max-new-tokens", "1", "--json"], {
    encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], cwd: ROOT,
  });
  return (JSON.parse(r.trim().split("\n").pop()!) as { load_ms: number }).load_ms;
}

interface Row {
  model: string;
  file_bytes: number;
  /** Medians over the runs, each a fresh process. */
  phases_ms: Record<Phase, number>;
  /** The phases of a load (all but `tokenizer`, which comes after it). */
  phases_sum_ms: number;
  load_ms: number;
  load_unverified_ms: number;
  load_warm_ms: number;
  cli_load_ms?: number;
}

async function measure(model: Model, runs: number, bytes: number): Promise<Row> {
  const phaseRuns: Record<Phase, number>[] = [];
  const load: number[] = [];
  const loadOff: number[] = [];
  const cli: number[] = [];
  // Interleaved, so that a burst of load on the machine falls on every column alike.
  for (let i = 0; i < runs; i++) {
    phaseRuns.push(runChild<Record<Phase, number>>(SELF, ["--child", "phases", "--model", model.path, ...(model.folder ? ["--folder"] : [])]));
    load.push(runChild<{ ms: number }>(SELF, ["--child", "load", "--model", model.path]).ms);
    loadOff.push(runChild<{ ms: number }>(SELF, ["--child", "load-unverified", "--model", model.path]).ms);
    if (!model.folder) cli.push(cliLoadMs(model.path));
  }
  const warm: number[] = [];
  await loadOnce(model, true);
  for (let i = 0; i < runs; i++) warm.push((await loadOnce(model, true)).ms);
  const phases = Object.fromEntries(PHASES.map((p) => [p, median(phaseRuns.map((r) => r[p]))])) as Record<Phase, number>;
  const row: Row = {
    model: model.label, file_bytes: bytes, phases_ms: phases, phases_sum_ms: PHASES.filter((p) => p !== "tokenizer").reduce((a, p) => a + phases[p], 0),
    load_ms: median(load), load_unverified_ms: median(loadOff), load_warm_ms: median(warm),
    ...(cli.length > 0 ? { cli_load_ms: median(cli) } : {}),
  };
  console.error(JSON.stringify(row));
  return row;
}

async function main(): Promise<void> {
  const o = new Command()
    .option("--runs <n>", "repetitions (fresh processes) per measurement; medians reported", Number, 9)
    .option("--checkpoint <dir>", "124M-shaped random checkpoint (made if missing)", join(tmpdir(), "lowbit-gpt2-124m-random"))
    .option("--child <what>", "internal: one measurement in this process (phases | load | load-unverified)")
    .option("--model <path>", "internal: the model of --child")
    .option("--folder", "internal: --model is a folder")
    .parse()
    .opts();
  if (o.child !== undefined) {
    const model: Model = { label: o.model, path: o.model, folder: o.folder === true };
    await childMain(o.child, {
      phases: () => phasesOnce(model),
      load: () => loadOnce(model, true),
      "load-unverified": () => loadOnce(model, false),
    });
    return;
  }
  const loadavgStart = loadavg();
  if (!existsSync(join(o.checkpoint, "model.safetensors"))) {
    console.error(`making ${o.checkpoint} (GPT-2 124M shape, random weights)`);
    makeRandomGpt2(o.checkpoint, GPT2_124M);
  }
  const q = quantizeCheckpoint(readGpt2Checkpoint(o.checkpoint), { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "maxabs" });
  const tmp = mkdtempSync(join(tmpdir(), "lowbit-load-"));
  const randomFile = join(tmp, "gpt2-124m-random-228.onnx");
  writeFileSync(randomFile, exportGpt2(q, { format: "dq", activationBits: 8, source: o.checkpoint }).bytes);
  const models: (Model & { bytes: number })[] = [
    { label: "models/quantgpt-228.onnx", path: join(ROOT, "models", "quantgpt-228.onnx"), folder: false },
    { label: "models/quantgpt124m-228.onnx", path: join(ROOT, "models", "quantgpt124m-228.onnx"), folder: false },
    { label: "GPT-2-124M shape, random, W-E-A 2-2-8", path: randomFile, folder: false },
    { label: "models/quantbart-228/ (encoder + decoder)", path: join(ROOT, "models", "quantbart-228"), folder: true },
  ].map((m) => ({ ...m, bytes: (m.folder ? folderFiles(m.path) : [m.path]).reduce((a, f) => a + statSync(f).size, 0) }));
  const rows: Row[] = [];
  try {
    for (const m of models) rows.push(await measure(m, o.runs, m.bytes));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const machine = machineInfo(loadavgStart);
  const results = { benchmark: "load of a lowbit model, phase by phase (fresh processes), and whole", date: new Date().toISOString(), runs: o.runs, machine, rows };
  mkdirSync(join(HERE, "results"), { recursive: true });
  writeFileSync(join(HERE, "results", "load.json"), `${JSON.stringify(results, null, 2)}\n`);
  const f = (x: number | undefined) => (x === undefined ? "—" : x.toFixed(1));
  const md = [
    "# Load benchmark: phase by phase",
    "",
    `${results.benchmark}; medians of ${o.runs} runs, each a fresh Node process. ${machine.cpu}, ${machine.cores} cores, Node ${machine.node},`,
    `${results.date.slice(0, 10)}; load average ${machine.loadavg_start.map((x) => x.toFixed(2)).join(" ")} at the start, ${machine.loadavg_end.map((x) => x.toFixed(2)).join(" ")} at the end.`,
    "Command: `npx tsx bench/load.ts --runs " + o.runs + "`",
    "",
    `| model | MiB | ${PHASES.join(" | ")} | sum | load | load, checksum off | load warm | CLI "load" |`,
    `| --- | ---: | ${PHASES.map(() => "---:").join(" | ")} | ---: | ---: | ---: | ---: | ---: |`,
    ...rows.map((r) => `| ${r.model} | ${(r.file_bytes / 2 ** 20).toFixed(1)} | ${PHASES.map((p) => f(r.phases_ms[p])).join(" | ")} | ${f(r.phases_sum_ms)} | ${f(r.load_ms)} | ${f(r.load_unverified_ms)} | ${f(r.load_warm_ms)} | ${f(r.cli_load_ms)} |`),
    "",
    "All times in ms. Phases, each timed in a fresh process in the order the loader runs them (a folder's two files summed):",
    "`read` the file (with the checksum's running SHA-256 made during the read), `protobuf` metadata and initializers out of",
    "the protobuf, `schemas` the metadata's valibot schemas, `manifest` the manifest against the config and the initializers",
    "(types, dims, sizes, code ranges, scales), `bpe` the tokenizer files' checks, `checksum` the rest of the SHA-256,",
    "`compile` the SIMD kernels' first WebAssembly.compile, `wasm` loadKernels (the .wasm read, compiled unless cached,",
    "instantiated, and worker threads started where the model uses them), `weights` the",
    "weights copied into WASM memory (src/runtime/weights.ts), `tokenizer` the tokenizer's tables and its first encode +",
    "decode (built on first use, so not in `load`). `sum` adds the others; `load` is loadModel from its path in a fresh process,",
    "`load warm` loadModel again in one process, and `CLI \"load\"` what `lowbit generate` prints (src/cli.ts through tsx;",
    "`summarize` prints none).",
    "",
  ].join("\n");
  writeFileSync(join(HERE, "results", "load.md"), md);
  console.log(md);
}

await main();
