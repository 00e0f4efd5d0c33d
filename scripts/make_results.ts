// Builds the quality table from saved training runs: for every run under runs/ (each with metrics.json
// from the training stage and its model/ checkpoint), export it with lowbit, score the exported file with
// the WASM runtime on the test split, and write docs/RESULTS.md and bench/results/training.json.
//
//   npx tsx scripts/make_results.ts [--runs runs] [--data data/corpus] [--max-tokens 8192] [--check a,b] [--full a,b]
//
// PyTorch's test perplexity (full split, on the GPU at the end of training) comes from metrics.json. The
// runtime scores the first --max-tokens test tokens of the exported file; for the runs named in --check,
// PyTorch (CPU, fp32 fake-quant, `python3 -m lowbit_train.evaluate`) scores the same slice, and the two
// must agree within 1%; for the runs named in --full the runtime also scores the whole split.

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { readGpt2Checkpoint } from "../src/export/checkpoint.js";
import { exportGpt2 } from "../src/export/export.js";
import { writeFileAtomic } from "../src/export/atomic_write.js";
import { loadGpt2Model } from "../src/runtime/index.js";
import { perplexity } from "../src/runtime/perplexity.js";
import { torchPerplexity } from "./torch_perplexity.js";

interface Metrics {
  config: { method: string; weight_bits: number; embedding_bits: number; activation_bits: number; eval_context: number; eval_stride: number; n_layer: number; n_embd: number; batch_size: number; seed: number } & Record<string, unknown>;
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
  .option("--max-tokens <n>", "test tokens the runtime scores", Number, 8192)
  .option("--check <runs>", "comma-separated runs whose slice PyTorch scores too", "")
  .option("--full <runs>", "comma-separated runs the runtime also scores on the whole test split (~10 min each)", "")
  .parse()
  .opts<{ runs: string; data: string; maxTokens: number; check: string; full: string }>();
const checks = new Set(o.check.split(",").filter(Boolean));
const fullSplit = new Set(o.full.split(",").filter(Boolean));

const CONTRASTIVE = ["quantgpt", "quantgpt-inbatch", "quantgpt-no-dynamic-scaling"];
const TRAINED_QAT = [...CONTRASTIVE, "logit-kd", "pact", "lsq"];
// The QAT settings a run differs in from train/configs/qat.json (TrainConfig's defaults for keys it omits),
// so rows of the sweep and of earlier defaults say what they ran with.
const SETTING_KEYS: Record<string, [string, number | string, string[]]> = {
  // key: [label, TrainConfig default, the methods it matters to]
  lam: ["λ", 0.1, CONTRASTIVE], tau: ["τ", 0.1, CONTRASTIVE], bank_momentum: ["momentum", 0.9, CONTRASTIVE],
  quant_lr_scale: ["quantizer lr ×", 1.0, TRAINED_QAT], gamma_init: ["γ init", "auto", ["quantgpt", "quantgpt-inbatch", "logit-kd"]],
  seed: ["seed", 1337, TRAINED_QAT], batch_size: ["batch", 32, TRAINED_QAT], max_steps: ["steps", 2000, TRAINED_QAT],
};
const qatDefaults = JSON.parse(readFileSync("train/configs/qat.json", "utf8")) as Record<string, unknown>;
function settings(m: Metrics, ignore: string[] = []): string {
  const diffs = Object.entries(SETTING_KEYS).flatMap(([key, [label, fallback, methods]]) => {
    if (!methods.includes(m.config.method) || ignore.includes(key)) return [];
    const value = m.config[key] ?? fallback; // metrics written before a key existed ran with its old default
    return value === (qatDefaults[key] ?? fallback) ? [] : [`${label} ${value}`];
  });
  if (m.world_size > 1) diffs.push(`${m.world_size} GPUs`);
  return diffs.join(", ");
}

const test = new Uint16Array(readFileSync(join(o.data, "test.bin")).buffer.slice(0));
const tokens = test.subarray(0, o.maxTokens);
interface Row {
  run: string; method: string; settings: string; wea: string; shape?: string;
  recipe: string; // settings but the seed and γ init: "" for the defaults of qat.json
  torch_test_ppl?: number; torch_valid_ppl: number; runtime_test_ppl?: number; torch_slice_ppl?: number; runtime_vs_torch_slice?: number;
  runtime_full_ppl?: number; runtime_vs_torch_full?: number; // the runtime on the whole test split (--full)
  scored_tokens?: number; model_mb?: number; file_mb?: number; weights_ratio?: number; param_count?: number;
  world_size: number; batch_size: number; seed: number; train_seconds: number; gpu_tokens_per_s: number; steps: number; runtime_seconds?: number;
}
const rows: Row[] = [];
for (const name of readdirSync(o.runs).sort()) {
  const metricsPath = join(o.runs, name, "metrics.json");
  if (!existsSync(metricsPath)) continue;
  const m = JSON.parse(readFileSync(metricsPath, "utf8")) as Metrics;
  const base = {
    run: name, method: m.config.method, settings: settings(m), recipe: settings(m, ["seed", "gamma_init"]), torch_test_ppl: m.test?.perplexity, torch_valid_ppl: m.valid.perplexity,
    world_size: m.world_size, batch_size: m.config.batch_size, seed: m.config.seed,
    train_seconds: m.train_seconds, gpu_tokens_per_s: m.tokens_per_s, steps: m.steps,
  };
  const modelDir = join(o.runs, name, "model");
  if (!existsSync(modelDir) || !readdirSync(modelDir).some((f) => f.includes(".safetensors"))) { // sweep and scaling runs brought back without their weights
    rows.push({ ...base, wea: m.config.method === "pretrain" ? "fp32" : `${m.config.weight_bits}-${m.config.embedding_bits}-${m.config.activation_bits}` });
    continue;
  }
  const ckpt = readGpt2Checkpoint(modelDir);
  const { bytes, report } = exportGpt2(ckpt, { format: "dq", activationBits: ckpt.quantization?.activation_bits ?? 32, source: name });
  mkdirSync(join(o.runs, name, "export"), { recursive: true });
  const onnxPath = join(o.runs, name, "export", "model.onnx");
  writeFileAtomic(onnxPath, bytes);
  const model = await loadGpt2Model(bytes);
  const t0 = performance.now();
  const ppl = perplexity(model.executor, tokens, { context: m.config.eval_context, stride: m.config.eval_stride });
  const seconds = (performance.now() - t0) / 1e3;
  const torchPpl = m.test?.perplexity;
  let torchSlice: number | undefined;
  if (checks.has(name)) {
    torchSlice = torchPerplexity(modelDir, join(o.data, "test.bin"), m.config.eval_context, m.config.eval_stride, tokens.length);
  }
  const full = fullSplit.has(name) ? perplexity(model.executor, test, { context: m.config.eval_context, stride: m.config.eval_stride }) : undefined;
  const row: Row = {
    ...base,
    runtime_full_ppl: full?.perplexity,
    runtime_vs_torch_full: full && torchPpl ? full.perplexity / torchPpl : undefined,
    wea: ckpt.quantization ? `${m.config.weight_bits}-${m.config.embedding_bits}-${m.config.activation_bits}` : "fp32",
    shape: `${ckpt.config.n_layer}×${ckpt.config.n_embd}`, // QAT runs take the teacher's shape, not the config's defaults
    runtime_test_ppl: ppl.perplexity,
    torch_slice_ppl: torchSlice,
    runtime_vs_torch_slice: torchSlice ? ppl.perplexity / torchSlice : undefined,
    scored_tokens: ppl.scoredTokens,
    model_mb: report.param_bytes / 2 ** 20,
    file_mb: report.file_bytes / 2 ** 20,
    weights_ratio: report.weights_ratio,
    param_count: report.param_count,
    runtime_seconds: seconds,
  };
  rows.push(row);
  console.error(`${name}: torch ${torchPpl?.toFixed(3)} runtime ${ppl.perplexity.toFixed(3)} (${seconds.toFixed(0)} s)`);
}

const teacher = rows.find((r) => r.method === "pretrain" && r.run.includes("teacher"));
const fmt = (x: number | undefined, d = 2) => (x === undefined ? "—" : x.toFixed(d));
const timesTeacher = (ppl: number | undefined) => (teacher?.torch_test_ppl && ppl ? fmt(ppl / teacher.torch_test_ppl, 3) : "—");
const ratio = (x: number | undefined) => (x === undefined ? "—" : `${fmt(x)}×`);
const scaling = rows.filter((r) => r.run.startsWith("scale-"));
// tokens/s ÷ the median 1-GPU run at global batch `batch`: undefined when no such run exists
const speedupOver = (r: Row, batch: number) => {
  const base = scaling.filter((s) => s.world_size === 1 && s.batch_size === batch).map((s) => s.gpu_tokens_per_s);
  return base.length ? r.gpu_tokens_per_s / median(base) : undefined;
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[Math.floor((s.length - 1) / 2)] + s[Math.ceil((s.length - 1) / 2)]) / 2;
};
const mainRows = rows.filter((r) => !r.run.startsWith("scale-"));

// The method × bit-setting grid at qat.json's defaults, one line per method and setting with its seeds (and
// repeats) pooled: single runs differ by up to 4 perplexity at 2-2-8, so one run per method ranks nothing.
const GRID_METHODS = ["quantgpt", "logit-kd", "lsq", "pact", "quantgpt-no-dynamic-scaling", "quantgpt-inbatch", "rtn-mse", "rtn-maxabs"];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? undefined : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
// Every QAT run has the teacher's shape, so the size of a bit setting comes from any exported run of it
const sizeOf = (wea: string) => rows.find((r) => r.wea === wea && r.model_mb !== undefined && r.method !== "pretrain");
// A method × setting never run at today's defaults shows its runs nearest to them, their differences named.
const differences = (recipe: string) => (recipe === "" ? 0 : recipe.split(", ").length);
// Full-precision models first: the teacher, and the small one trained from scratch with the 2-2-8 model's bytes
const fullPrecisionLines = mainRows.filter((r) => r.method === "pretrain").map((r) =>
  `| ${r.run === teacher?.run ? "teacher" : r.run} | fp32 | ${r.shape ?? "—"} | 1 | ${fmt(r.torch_test_ppl)} | — | — | ${timesTeacher(r.torch_test_ppl)} | ${fmt(r.model_mb)} | ${ratio(r.weights_ratio)} | ${fmt(r.train_seconds, 0)} | ${fmt(r.gpu_tokens_per_s, 0)} | ${r.run} |`);
const gridLines = ["2-2-8", "4-4-8", "8-8-8"].flatMap((wea) => GRID_METHODS.flatMap((method) => {
  const candidates = mainRows.filter((r) => r.method === method && r.wea === wea && r.world_size === 1 && r.torch_test_ppl !== undefined);
  if (candidates.length === 0) return [];
  const nearest = Math.min(...candidates.map((r) => differences(r.recipe)));
  const recipe = candidates.find((r) => differences(r.recipe) === nearest)!.recipe;
  const group = candidates.filter((r) => r.recipe === recipe);
  const ppl = group.map((r) => r.torch_test_ppl!);
  const spread = group.length > 1 ? [`${fmt(mean(ppl))} ± ${fmt(sd(ppl))}`, `${fmt(Math.min(...ppl))}–${fmt(Math.max(...ppl))}`] : ["—", "—"];
  const size = sizeOf(wea);
  const trained = group.filter((r) => r.steps > 0);
  return [`| ${method} | ${wea} | ${recipe || "—"} | ${group.length} | ${fmt(median(ppl))} | ${spread.join(" | ")} | ${timesTeacher(median(ppl))} | ${fmt(size?.model_mb)} | ${ratio(size?.weights_ratio)} | ${trained.length ? fmt(median(trained.map((r) => r.train_seconds)), 0) : "—"} | ${trained.length ? fmt(median(trained.map((r) => r.gpu_tokens_per_s)), 0) : "—"} | ${group.map((r) => r.run).join(", ")} |`];
}));
const md = [
  "# Results",
  "",
  `Test perplexity (windows of 256 tokens every 256). **PyTorch**: the whole test split (${test.length.toLocaleString("en-US")} tokens), fp32 fake-quant, on the GPU at the end of training. **Runtime**: lowbit's WASM runtime on the exported .onnx, first ${tokens.length.toLocaleString("en-US")} test tokens; for some runs PyTorch scored that same slice too (CPU), and the ratio shows the agreement; for the runs named in \`--full\` the runtime scored the whole split too, against PyTorch's full-split figure. "× teacher" divides full-split PyTorch perplexities. "settings" lists where a run differs from train/configs/qat.json. Runs brought back without their weights (sweep, scaling) have no runtime figures. Made by \`npx tsx scripts/make_results.ts --check ${o.check}${o.full ? ` --full ${o.full}` : ""}\` on ${new Date().toISOString().slice(0, 10)} (${cpus()[0]?.model}, Node ${process.version}); training on ${existsSync(join(o.runs, "device.txt")) ? [...new Set(readFileSync(join(o.runs, "device.txt"), "utf8").trim().split("\n"))].join(", ") : "a GPU"} (one GPU a run unless settings say otherwise).`,
  "",
  "## Method × bit setting",
  "",
  `At the defaults of train/configs/qat.json (1,000 steps, one GPU), each setting's runs pooled: seeds and repeats of the same seed (GPU training is not bit-reproducible). Where a method was never run at today's defaults, "differs" names where its runs do (seed and γ init aside); for the full-precision models it gives layers × width, and their train s is pretraining (2,000 steps of 64 windows). Perplexity is PyTorch's on the full test split; the teacher's is ${fmt(teacher?.torch_test_ppl)}. Model MB and weights ratio are the exported file's weights against fp32; train s and tok/s are medians over the runs that trained.`,
  "",
  "| method | W-E-A | differs | runs | test ppl, median | mean ± sd | min–max | × teacher (median) | model MB | weights ratio | train s | GPU tok/s | runs pooled |",
  "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ...fullPrecisionLines,
  ...gridLines,
  "",
  "## Every run",
  "",
  "| run | method | W-E-A | settings | shape | test ppl (PyTorch, full) | × teacher | valid ppl | runtime ppl (slice) | PyTorch ppl (slice) | runtime ÷ PyTorch | runtime ppl (full) | runtime ÷ PyTorch (full) | model MB | weights ratio | train s | GPU tok/s |",
  "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...mainRows.map((r) => `| ${r.run} | ${r.method} | ${r.wea} | ${r.settings} | ${r.shape ?? "—"} | ${fmt(r.torch_test_ppl)} | ${timesTeacher(r.torch_test_ppl)} | ${fmt(r.torch_valid_ppl)} | ${fmt(r.runtime_test_ppl)} | ${fmt(r.torch_slice_ppl)} | ${fmt(r.runtime_vs_torch_slice, 5)} | ${fmt(r.runtime_full_ppl)} | ${fmt(r.runtime_vs_torch_full, 5)} | ${fmt(r.model_mb)} | ${ratio(r.weights_ratio)} | ${fmt(r.train_seconds, 0)} | ${fmt(r.gpu_tokens_per_s, 0)} |`),
  "",
  ...(scaling.length === 0 ? [] : [
    "## Multi-GPU scaling",
    "",
    "QuantGPT 2-2-8, 1,000 steps of 256-token windows under `torchrun` (DistributedDataParallel, NCCL). Speedup: tokens/s ÷ the median 1-GPU run's, at the same global batch (strong scaling) or the same batch per GPU (weak scaling); efficiency: speedup ÷ GPUs.",
    "",
    "| run | GPUs | global batch | seed | GPU tok/s | speedup, same global batch | efficiency | speedup, same batch per GPU | efficiency | train s | test ppl | valid ppl |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...scaling.map((r) => {
      const strong = speedupOver(r, r.batch_size);
      const weak = speedupOver(r, r.batch_size / r.world_size);
      const eff = (x: number | undefined) => (x === undefined ? "—" : fmt(x / r.world_size));
      return `| ${r.run} | ${r.world_size} | ${r.batch_size} | ${r.seed} | ${fmt(r.gpu_tokens_per_s, 0)} | ${fmt(strong)} | ${eff(strong)} | ${fmt(weak)} | ${eff(weak)} | ${fmt(r.train_seconds, 0)} | ${fmt(r.torch_test_ppl)} | ${fmt(r.torch_valid_ppl)} |`;
    }),
    "",
  ]),
].join("\n");
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/training.json", `${JSON.stringify({ date: new Date().toISOString(), test_tokens: test.length, rows }, null, 2)}\n`);
// Hand-written analysis below the marker survives regeneration.
const MARKER = "<!-- notes: kept when this file is regenerated -->";
const previous = existsSync("docs/RESULTS.md") ? readFileSync("docs/RESULTS.md", "utf8") : "";
const notes = previous.includes(MARKER) ? previous.slice(previous.indexOf(MARKER)) : `${MARKER}\n`;
writeFileSync("docs/RESULTS.md", `${md}\n${notes}`);
console.log(md);
