// Export benchmark: wall time (per phase) and peak RSS of exporting a GPT-2-124M-shaped checkpoint at fp32,
// W8, W4 and W2 with module scales and max-abs clip, then W2 with group scales (G = 128) and/or the MSE clip
// search (embedding bits = weight bits, A8), each in a fresh process so peak RSS is its own.
//
// Whole-process runs of seconds each, repeated and summarised by the median: a micro-benchmark harness
// (tinybench, benchmark.js) would time the same thing in one warm process and miss peak memory.
//
//   npx tsx bench/export.ts [--runs 3] [--checkpoint /tmp/gpt2-124m-random]
// Writes bench/results/export.json and bench/results/export.md.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { readGpt2Checkpoint } from "../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint } from "../src/export/export.js";
import type { ClipMethod } from "../src/export/quantize.js";
import type { Granularity } from "../src/format/quantization.js";
import { writeFileAtomic } from "../src/export/atomic_write.js";
import { GPT2_124M, makeRandomGpt2 } from "../scripts/make_random_gpt2.js";

const HERE = dirname(fileURLToPath(import.meta.url));

/** One row of the table: a W-E-A bit width (32 = fp32), how scales are grouped, and how α is chosen. */
interface Setting { bits: 32 | 8 | 4 | 2; granularity: Granularity; groupSize: number; clip: ClipMethod }
const SETTINGS: Setting[] = [
  { bits: 32, granularity: "module", groupSize: 0, clip: "maxabs" },
  { bits: 8, granularity: "module", groupSize: 0, clip: "maxabs" },
  { bits: 4, granularity: "module", groupSize: 0, clip: "maxabs" },
  { bits: 2, granularity: "module", groupSize: 0, clip: "maxabs" },
  { bits: 2, granularity: "group", groupSize: 128, clip: "maxabs" },
  { bits: 2, granularity: "module", groupSize: 0, clip: "mse" },
  // The slowest setting: 50 candidate α for each of ~1M blocks (quantize.ts, mseClip).
  { bits: 2, granularity: "group", groupSize: 128, clip: "mse" },
];

interface ChildResult {
  bits: number;
  read_ms: number;
  quantize_ms: number;
  build_ms: number;
  write_ms: number;
  total_ms: number;
  peak_rss_bytes: number;
  file_bytes: number;
  weights_ratio: number;
}

/** One export, timed phase by phase, in this process. */
function runChild(checkpoint: string, { bits, granularity, groupSize, clip }: Setting, out: string): ChildResult {
  const t0 = performance.now();
  let ckpt = readGpt2Checkpoint(checkpoint);
  const t1 = performance.now();
  if (bits !== 32) {
    ckpt = quantizeCheckpoint(ckpt, { weightBits: bits, embeddingBits: bits, activationBits: 8, granularity, groupSize, clip });
  }
  const t2 = performance.now();
  const { bytes, report } = exportGpt2(ckpt, { format: "dq", activationBits: 8, source: checkpoint });
  const t3 = performance.now();
  writeFileAtomic(out, bytes);
  const t4 = performance.now();
  return {
    bits, read_ms: t1 - t0, quantize_ms: t2 - t1, build_ms: t3 - t2, write_ms: t4 - t3, total_ms: t4 - t0,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024, file_bytes: report.file_bytes, weights_ratio: report.weights_ratio,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const weaLabel = (bits: number) => (bits === 32 ? "fp32" : `${bits}-${bits}-8`);
const scalesLabel = (s: Setting) => (s.granularity === "group" ? `group ${s.groupSize}` : "module");

function main(): void {
  const o = new Command()
    .option("--runs <n>", "runs per setting (median reported)", Number, 3)
    .option("--checkpoint <dir>", "124M-shaped checkpoint (made if missing)", join(tmpdir(), "lowbit-gpt2-124m-random"))
    .option("--child <setting>", "internal: run one export (a JSON Setting) in this process and print JSON")
    .option("--out <file>", "internal: output path for --child")
    .parse()
    .opts();
  if (o.child !== undefined) {
    console.log(JSON.stringify(runChild(o.checkpoint, JSON.parse(o.child) as Setting, o.out)));
    return;
  }
  if (!existsSync(join(o.checkpoint, "model.safetensors"))) {
    console.error(`making ${o.checkpoint} (GPT-2 124M shape, random weights)`);
    makeRandomGpt2(o.checkpoint, GPT2_124M);
  }
  const out = join(tmpdir(), `lowbit-bench-export-${process.pid}.onnx`);
  // Other processes on a shared machine slow every row alike; the 1-minute load average says how much.
  const loadBefore = loadavg()[0];
  const rows = [];
  for (const setting of SETTINGS) {
    const runs: ChildResult[] = [];
    for (let r = 0; r < o.runs; r++) {
      const args = [fileURLToPath(import.meta.url), "--child", JSON.stringify(setting), "--out", out, "--checkpoint", o.checkpoint];
      const stdout = execFileSync(process.execPath, ["--import", "tsx", ...args], { encoding: "utf8", maxBuffer: 1 << 20 });
      runs.push(JSON.parse(stdout.trim().split("\n").pop()!) as ChildResult);
    }
    const pick = (k: keyof ChildResult) => median(runs.map((x) => x[k]));
    const { bits, granularity, groupSize, clip } = setting;
    const row = {
      bits, granularity, group_size: groupSize, clip, runs: o.runs, total_ms: pick("total_ms"), read_ms: pick("read_ms"), quantize_ms: pick("quantize_ms"), build_ms: pick("build_ms"),
      write_ms: pick("write_ms"), peak_rss_bytes: pick("peak_rss_bytes"), file_bytes: runs[0].file_bytes, weights_ratio: runs[0].weights_ratio,
      total_ms_all: runs.map((x) => Math.round(x.total_ms)),
    };
    rows.push(row);
    console.error(`${weaLabel(bits)} ${scalesLabel(setting)} ${clip}: total ${row.total_ms.toFixed(0)} ms (runs ${row.total_ms_all.join(", ")}), peak RSS ${(row.peak_rss_bytes / 2 ** 20).toFixed(0)} MiB`);
  }
  rmSync(out, { force: true });
  const machine = { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, memory_bytes: totalmem(), node: process.version, load_1min: [loadBefore, loadavg()[0]] };
  const results = { benchmark: "export of a GPT-2-124M-shaped checkpoint (random weights), dq format", date: new Date().toISOString(), machine, rows };
  mkdirSync(join(HERE, "results"), { recursive: true });
  writeFileSync(join(HERE, "results", "export.json"), `${JSON.stringify(results, null, 2)}\n`);
  const md = [
    "# Export benchmark",
    "",
    `${results.benchmark}. Median of ${o.runs} runs, each in a fresh process. ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${results.date.slice(0, 10)}; load average ${machine.load_1min.map((x) => x.toFixed(1)).join(" → ")}.`,
    "Command: `npx tsx bench/export.ts --runs " + o.runs + "`",
    "",
    "| W-E-A | scales | clip | total s | read s | quantize s | build + encode s | write s | peak RSS MiB | file MiB | weights ratio |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r, i) => `| ${weaLabel(r.bits)} | ${r.bits === 32 ? "—" : scalesLabel(SETTINGS[i])} | ${r.bits === 32 ? "—" : r.clip} | ${(r.total_ms / 1e3).toFixed(2)} | ${(r.read_ms / 1e3).toFixed(2)} | ${(r.quantize_ms / 1e3).toFixed(2)} | ${(r.build_ms / 1e3).toFixed(2)} | ${(r.write_ms / 1e3).toFixed(2)} | ${(r.peak_rss_bytes / 2 ** 20).toFixed(0)} | ${(r.file_bytes / 2 ** 20).toFixed(2)} | ${r.weights_ratio.toFixed(2)}× |`),
    "",
  ].join("\n");
  writeFileSync(join(HERE, "results", "export.md"), md);
  console.log(md);
}

main();
