// Load-time benchmark: what validating a lowbit ONNX file costs, phase by phase, against the whole load.
// Phases, each timed on its own in one warm process (median of --runs):
//   decode    protobuf decode of the file's bytes (onnx-proto)
//   schemas   the valibot schemas alone: lowbit.config, lowbit.quantization, the weight manifest
//   parse     parseModelFile: decode + schemas + manifest against config and initializers + tokenizer files
//   checksum  verifyChecksum: SHA-256 of metadata and every stored tensor through SubtleCrypto
//   load      loadModel from bytes, checksum on (default) and off: parse + checksum + tokenizer + WASM mapping
//
//   npx tsx bench/load.ts [--runs 9] [--checkpoint /tmp/lowbit-gpt2-124m-random]
// Writes bench/results/load.json and bench/results/load.md.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { readGpt2Checkpoint } from "../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint } from "../src/export/export.js";
import { parseStoredGpt2Config } from "../src/format/gpt2_config.js";
import { META, parseModelFile, verifyChecksum } from "../src/format/lowbit_onnx.js";
import { decodeModel } from "../src/format/onnx_proto.js";
import { parseFileQuantization } from "../src/format/quantization.js";
import { loadModel } from "../src/runtime/index.js";
import { GPT2_124M, makeRandomGpt2 } from "../scripts/make_random_gpt2.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..");

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function time(runs: number, f: () => unknown): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

async function measure(label: string, bytes: Uint8Array, runs: number) {
  const file = parseModelFile(bytes, label);
  const meta = file.metadata;
  const row = {
    model: label,
    file_bytes: bytes.byteLength,
    decode_ms: await time(runs, () => decodeModel(bytes, label)),
    schemas_ms: await time(runs, () => {
      parseStoredGpt2Config(JSON.parse(meta.get(META.config)!), label);
      parseFileQuantization(JSON.parse(meta.get(META.quantization)!), label);
      JSON.parse(meta.get(META.weights)!);
    }),
    parse_ms: await time(runs, () => parseModelFile(bytes, label)),
    checksum_ms: await time(runs, () => verifyChecksum(file)),
    load_ms: await time(runs, () => loadModel(bytes)),
    load_unverified_ms: await time(runs, () => loadModel(bytes, { verifyChecksum: false })),
  };
  console.error(JSON.stringify(row));
  return row;
}

async function main(): Promise<void> {
  const o = new Command()
    .option("--runs <n>", "repetitions per phase (median reported)", Number, 9)
    .option("--checkpoint <dir>", "124M-shaped checkpoint (made if missing)", join(tmpdir(), "lowbit-gpt2-124m-random"))
    .parse()
    .opts();
  if (!existsSync(join(o.checkpoint, "model.safetensors"))) {
    console.error(`making ${o.checkpoint} (GPT-2 124M shape, random weights)`);
    makeRandomGpt2(o.checkpoint, GPT2_124M);
  }
  const q = quantizeCheckpoint(readGpt2Checkpoint(o.checkpoint), { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "maxabs" });
  const big = exportGpt2(q, { format: "dq", activationBits: 8, source: o.checkpoint }).bytes;
  const rows = [
    await measure("models/quantgpt-228.onnx", new Uint8Array(readFileSync(join(ROOT, "models", "quantgpt-228.onnx"))), o.runs),
    await measure("GPT-2-124M shape, W-E-A 2-2-8", big, o.runs),
  ];
  const machine = { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, node: process.version };
  const results = { benchmark: "load of a lowbit ONNX file from bytes in memory, phase by phase", date: new Date().toISOString(), runs: o.runs, machine, rows };
  mkdirSync(join(HERE, "results"), { recursive: true });
  writeFileSync(join(HERE, "results", "load.json"), `${JSON.stringify(results, null, 2)}\n`);
  const f = (x: number) => x.toFixed(1);
  const md = [
    "# Load benchmark: the cost of validation",
    "",
    `${results.benchmark}; median of ${o.runs} runs per phase in one warm process. ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${results.date.slice(0, 10)}.`,
    "Command: `npx tsx bench/load.ts --runs " + o.runs + "`",
    "",
    "| model | file MiB | decode ms | schemas ms | parse ms (all checks) | checksum ms | load ms | load ms, checksum off |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) => `| ${r.model} | ${(r.file_bytes / 2 ** 20).toFixed(2)} | ${f(r.decode_ms)} | ${r.schemas_ms.toFixed(2)} | ${f(r.parse_ms)} | ${f(r.checksum_ms)} | ${f(r.load_ms)} | ${f(r.load_unverified_ms)} |`),
    "",
    "`schemas` is the valibot part of `parse`; `parse` also holds the protobuf decode, the manifest checks against the config",
    "and the initializers, and the tokenizer files' validation. `load` adds the checksum, the tokenizer's tables and the copy",
    "into WASM memory.",
    "",
  ].join("\n");
  writeFileSync(join(HERE, "results", "load.md"), md);
  console.log(md);
}

await main();
