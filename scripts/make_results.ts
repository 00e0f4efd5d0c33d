// Builds the quality table from saved training runs: for every run under runs/ (each with metrics.json
// from the training stage and its model/ checkpoint), export it with lowbit, score the exported file with
// the WASM runtime on the test split, and write docs/RESULTS.md and bench/results/training.json.
//
//   npx tsx scripts/make_results.ts [--runs runs] [--data data/corpus] [--max-tokens N]
//
// The runtime's perplexity must agree with PyTorch's fake-quant perplexity (metrics.json) within 1%: the
// table shows both and the ratio.

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { readCheckpoint } from "../src/export/checkpoint.js";
import { exportGpt2 } from "../src/export/export.js";
import { writeFileAtomic } from "../src/export/atomic_write.js";
import { loadModel } from "../src/runtime/index.js";
import { perplexity } from "../src/runtime/perplexity.js";

interface Metrics {
  config: { method: string; weight_bits: number; embedding_bits: number; activation_bits: number; eval_context: number; eval_stride: number; n_layer: number; n_embd: number };
  steps: number;
  train_seconds: number;
  tokens_per_s: number;
  world_size: number;
  valid: { perplexity: number };
  test?: { perplexity: number; scored_tokens: number };
  device?: string;
}

const o = new Command()
  .option("--runs <dir>", "folder of training runs", "runs")
  .option("--data <dir>", "corpus folder with test.bin", "data/corpus")
  .option("--max-tokens <n>", "score only the first N test tokens in the runtime (default: all)", Number)
  .parse()
  .opts<{ runs: string; data: string; maxTokens?: number }>();

const test = new Uint16Array(readFileSync(join(o.data, "test.bin")).buffer.slice(0));
const tokens = o.maxTokens ? test.subarray(0, o.maxTokens) : test;
const rows = [];
for (const name of readdirSync(o.runs).sort()) {
  const metricsPath = join(o.runs, name, "metrics.json");
  if (!existsSync(metricsPath)) continue;
  const m = JSON.parse(readFileSync(metricsPath, "utf8")) as Metrics;
  const ckpt = readCheckpoint(join(o.runs, name, "model"));
  const { bytes, report } = exportGpt2(ckpt, { format: "dq", activationBits: ckpt.quantization?.activation_bits ?? 32, source: name });
  mkdirSync(join(o.runs, name, "export"), { recursive: true });
  const onnxPath = join(o.runs, name, "export", "model.onnx");
  writeFileAtomic(onnxPath, bytes);
  const model = await loadModel(bytes);
  const t0 = performance.now();
  const ppl = perplexity(model.executor, tokens, { context: m.config.eval_context, stride: m.config.eval_stride });
  const seconds = (performance.now() - t0) / 1e3;
  const torchPpl = m.test?.perplexity;
  const row = {
    run: name,
    method: m.config.method,
    wea: ckpt.quantization ? `${m.config.weight_bits}-${m.config.embedding_bits}-${m.config.activation_bits}` : "fp32",
    shape: `${m.config.n_layer}×${m.config.n_embd}`,
    torch_test_ppl: torchPpl,
    runtime_test_ppl: ppl.perplexity,
    runtime_vs_torch: torchPpl ? ppl.perplexity / torchPpl : undefined,
    scored_tokens: ppl.scoredTokens,
    model_mb: report.param_bytes / 2 ** 20,
    file_mb: report.file_bytes / 2 ** 20,
    weights_ratio: report.weights_ratio,
    param_count: report.param_count,
    train_seconds: m.train_seconds,
    gpu_tokens_per_s: m.tokens_per_s,
    steps: m.steps,
    runtime_seconds: seconds,
  };
  rows.push(row);
  console.error(`${name}: torch ${torchPpl?.toFixed(3)} runtime ${ppl.perplexity.toFixed(3)} (${seconds.toFixed(0)} s)`);
}

const teacher = rows.find((r) => r.method === "pretrain" && r.run.includes("teacher"));
const fmt = (x: number | undefined, d = 2) => (x === undefined ? "—" : x.toFixed(d));
const md = [
  "# Results",
  "",
  `Test perplexity on the corpus's test split (${test.length.toLocaleString("en-US")} tokens; windows of the training config's eval_context every eval_stride tokens), from PyTorch's fake-quant model at the end of training and from the WASM runtime on the exported file. Made by \`npx tsx scripts/make_results.ts\` on ${new Date().toISOString().slice(0, 10)} (${cpus()[0]?.model}, Node ${process.version}).`,
  "",
  "| run | method | W-E-A | shape | test ppl (PyTorch) | test ppl (runtime) | runtime ÷ PyTorch | × teacher | model MB | weights ratio | train s | GPU tok/s |",
  "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...rows.map((r) => `| ${r.run} | ${r.method} | ${r.wea} | ${r.shape} | ${fmt(r.torch_test_ppl)} | ${fmt(r.runtime_test_ppl)} | ${fmt(r.runtime_vs_torch, 4)} | ${teacher ? fmt(r.runtime_test_ppl / teacher.runtime_test_ppl, 3) : "—"} | ${fmt(r.model_mb)} | ${fmt(r.weights_ratio)}× | ${fmt(r.train_seconds, 0)} | ${fmt(r.gpu_tokens_per_s, 0)} |`),
  "",
].join("\n");
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/training.json", `${JSON.stringify({ date: new Date().toISOString(), test_tokens: test.length, rows }, null, 2)}\n`);
writeFileSync("docs/RESULTS.md", md);
console.log(md);
