// Builds docs/RESULTS.md's GPT-2-124M section (issue 12) and bench/results/training_124m.json from the runs of
// train/run_124m.sh: the teachers with their validation curves, the method grid on the teacher it picked, and,
// for the runs named in --check (brought back with their weights), the runtime against PyTorch on one slice.
//
//   npx tsx scripts/results_124m.ts [--runs runs] [--data data/corpus] [--max-tokens 8192] [--check quantgpt-228]
//
// The section replaces what lies between the <!-- 124m:begin --> and <!-- 124m:end --> markers, so the 6×256
// tables that scripts/make_results.ts wrote stay as they are. --check costs minutes: the runtime scores the
// slice at ~50 tokens/s on this 2-core machine, Debian's CPU torch at ~14; a later run without --check keeps
// the figures bench/results/training_124m.json holds for a run whose test perplexity is unchanged.

import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { readGpt2Checkpoint } from "../src/export/checkpoint.js";
import { exportGpt2 } from "../src/export/export.js";
import { writeFileAtomic } from "../src/export/atomic_write.js";
import { loadGpt2Model } from "../src/runtime/index.js";
import { perplexity } from "../src/runtime/perplexity.js";
import { fmt as fixed, median } from "../bench/harness.js";
import { torchPerplexity } from "./torch_perplexity.js";

interface Ppl { perplexity: number; scored_tokens: number }
interface Metrics {
  config: Record<string, number | string | string[]> & { method: string; seed: number; weight_bits: number; embedding_bits: number; activation_bits: number; n_layer: number; n_embd: number; batch_size: number; block_size: number };
  steps: number; train_seconds: number; tokens_per_s: number; kept?: string;
  valid: Ppl; test: Ppl; test_v1: Ppl; evals?: { step: number; valid_perplexity: number }[];
}

const o = new Command()
  .option("--runs <dir>", "folder of training runs", "runs")
  .option("--data <dir>", "corpus folder with test.bin", "data/corpus")
  .option("--max-tokens <n>", "test tokens the runtime and PyTorch both score for --check", Number, 8192)
  .option("--check <runs>", "comma-separated runs (with model/) to score through the runtime and PyTorch", "")
  .parse()
  .opts<{ runs: string; data: string; maxTokens: number; check: string }>();

const load = (name: string) => JSON.parse(readFileSync(join(o.runs, name, "metrics.json"), "utf8")) as Metrics;
const runs = readdirSync(o.runs).filter((n) => existsSync(join(o.runs, n, "metrics.json"))).sort();
const teachers = runs.filter((n) => n.startsWith("teacher-") && !lstatSync(join(o.runs, n)).isSymbolicLink()); // not teacher-selected
const picked = JSON.parse(readFileSync(join(o.runs, "teacher-selected.json"), "utf8")) as { selected: string };
const teacher = load(picked.selected);
const grid = runs.filter((n) => !n.startsWith("teacher-")).map((name) => ({ name, m: load(name) }));
const fmt = (x: number | undefined, d = 2) => fixed(x, d);
const wea = (m: Metrics) => `${m.config.weight_bits}-${m.config.embedding_bits}-${m.config.activation_bits}`;
const QAT = JSON.parse(readFileSync("train/configs/qat_124m.json", "utf8")) as Record<string, unknown>;
const differs = (m: Metrics, keys: string[]) => keys
  .filter((k) => m.config[k] !== undefined && m.config[k] !== (QAT[k] ?? { seed: 1337, group_size: 0, gamma_init: "auto" }[k]))
  .map((k) => `${k} ${m.config[k]}`).join(", ");
const settings = (m: Metrics) => differs(m, ["seed", "group_size", "gamma_init", "lam", "tau", "bank_momentum"]);
// A variant of its method, shown on a line of its own rather than pooled with the method's runs
const variant = (m: Metrics) => differs(m, ["group_size", "lam", "tau", "bank_momentum"]);

// The runtime against PyTorch on the same slice, for runs brought back with their weights.
const test = new Uint16Array(readFileSync(join(o.data, "test.bin")).buffer.slice(0));
const slice = test.subarray(0, o.maxTokens);
interface Check { runtime: number; torch: number; ratio: number; file_mb: number; weights_ratio: number; runtime_s: number; torch_s: number; test_ppl: number; measured: string }
const previous = existsSync("bench/results/training_124m.json")
  ? (JSON.parse(readFileSync("bench/results/training_124m.json", "utf8")) as { checks?: Record<string, Check> }).checks ?? {} : {};
const checks: Record<string, Check> = Object.fromEntries(Object.entries(previous).filter(([name, c]) =>
  existsSync(join(o.runs, name, "metrics.json")) && c.test_ppl === load(name).test.perplexity));
for (const name of o.check.split(",").filter(Boolean)) {
  const m = load(name);
  const modelDir = join(o.runs, name, "model");
  const { bytes, report } = exportGpt2(readGpt2Checkpoint(modelDir), { format: "dq", activationBits: m.config.activation_bits === 8 ? 8 : 32, source: name });
  writeFileAtomic(join(o.runs, name, "model.onnx"), bytes);
  const model = await loadGpt2Model(bytes);
  let t0 = performance.now();
  const runtime = perplexity(model.executor, slice, { context: Number(m.config.eval_context), stride: Number(m.config.eval_stride) });
  const runtimeSeconds = (performance.now() - t0) / 1e3;
  t0 = performance.now();
  const torch = torchPerplexity(modelDir, join(o.data, "test.bin"), Number(m.config.eval_context), Number(m.config.eval_stride), slice.length);
  checks[name] = { runtime: runtime.perplexity, torch, ratio: runtime.perplexity / torch, file_mb: report.file_bytes / 2 ** 20,
    weights_ratio: report.weights_ratio, runtime_s: runtimeSeconds, torch_s: (performance.now() - t0) / 1e3,
    test_ppl: m.test.perplexity, measured: new Date().toISOString().slice(0, 10) };
  console.error(`${name}: runtime ${runtime.perplexity.toFixed(4)} PyTorch ${torch.toFixed(4)} on ${runtime.scoredTokens} tokens`);
}

const x = (ppl: number) => fmt(ppl / teacher.test.perplexity, 3);
const teacherLines = teachers.map((name) => {
  const m = load(name);
  const tokens = m.steps * m.config.batch_size * m.config.block_size;
  const curve = (m.evals ?? []).map((e) => `${e.step + 1}: ${fmt(e.valid_perplexity, 1)}`).concat(`${m.steps}: ${fmt(m.valid.perplexity, 1)}`).join(" → ");
  return `| ${name}${name === picked.selected ? " (picked)" : ""} | ${m.config.n_layer}×${m.config.n_embd} | ${m.steps} | ${(tokens / 1e6).toFixed(1)} M (${(tokens / 7_531_548).toFixed(1)} epochs) | ${fmt(m.train_seconds, 0)} | ${fmt(m.tokens_per_s, 0)} | ${fmt(m.valid.perplexity)} | ${fmt(m.test.perplexity)} | ${fmt(m.test_v1.perplexity)} | ${curve} |`;
});
const METHODS = ["quantgpt", "logit-kd", "lsq", "pact", "rtn-mse", "rtn-maxabs", "quantgpt-no-dynamic-scaling", "quantgpt-inbatch"];
const gridLines = ["2-2-8", "4-4-8", "8-8-8"].flatMap((bits) => METHODS.flatMap((method) => {
  const group = grid.filter((r) => r.m.config.method === method && wea(r.m) === bits && variant(r.m) === "");
  if (group.length === 0) return [];
  const ppl = group.map((r) => r.m.test.perplexity);
  return [`| ${method} | ${bits} | ${group.length} | ${ppl.map((p) => fmt(p)).join(", ")} | ${x(median(ppl))} | ${group.map((r) => fmt(r.m.test_v1.perplexity)).join(", ")} | ${group.map((r) => fmt(r.m.valid.perplexity)).join(", ")} | ${group.map((r) => r.name).join(", ")} |`];
}));
const extraLines = grid.filter((r) => variant(r.m) !== "").map((r) =>
  `| ${r.m.config.method} (${variant(r.m)}) | ${wea(r.m)} | 1 | ${fmt(r.m.test.perplexity)} | ${x(r.m.test.perplexity)} | ${fmt(r.m.test_v1.perplexity)} | ${fmt(r.m.valid.perplexity)} | ${r.name} |`);
const checkLines = Object.entries(checks).map(([name, c]) =>
  `| ${name} (${c.measured}) | ${fmt(c.runtime, 4)} | ${fmt(c.torch, 4)} | ${fmt(c.ratio, 5)} | ${fmt(c.file_mb)} | ${fmt(c.weights_ratio)}× | ${fmt(c.runtime_s, 0)} | ${fmt(c.torch_s, 0)} |`);

const section = [
  "<!-- 124m:begin -->",
  "## GPT-2-124M shape (corpus version 2)",
  "",
  `Made by \`npx tsx scripts/results_124m.ts${o.check ? ` --check ${o.check}` : ""}\` (the runtime-against-PyTorch rows name the day \`--check\` measured them) on ${new Date().toISOString().slice(0, 10)} (${cpus()[0]?.model}, Node ${process.version}) from the runs of \`train/run_124m.sh\` (one call of the device tool, ${existsSync(join(o.runs, "device.txt")) ? readFileSync(join(o.runs, "device.txt"), "utf8").trim() : "a GPU"}). Corpus version 2 (docs/DATA.md): 7,531,548 train, 462,139 valid, 432,961 test tokens; \`test_v1\` is version 1's test split (191,305 tokens), the one the 6×256 tables above use. Perplexity: PyTorch, fp32 fake-quant, windows of 256 every 256, whole splits.`,
  "",
  "### Teachers",
  "",
  "Each shape trained under the same rules (`train/configs/teacher_124m.json`: AdamW 6e-4 cosine, weight decay 0.1, dropout 0.1, 32 × 1,024-token windows; the smaller ones as `train/runs_124m_teachers.txt` says), each with a wall-clock budget inside the one device lease (124M: 330 s; the other two ran one after the other beside it on the same GPU, which slowed all three), early stopping on validation (patience 3) and the best evaluation kept. None stopped early: every curve was still falling when its budget ended.",
  "",
  "| run | shape | steps | tokens seen | train s | tok/s | valid | test | test_v1 | valid curve (step: ppl) |",
  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ...teacherLines,
  "",
  `### Method × bit setting, on ${picked.selected} (test ${fmt(teacher.test.perplexity)}, test_v1 ${fmt(teacher.test_v1.perplexity)})`,
  "",
  "`train/configs/qat_124m.json`: the 6×256 grid's QAT settings (1,000 steps × 32 × 256 tokens, λ 0.01, τ 0.5, momentum 0.9, quantizer lr × 10). Runs in the list's order, four at a time on the one GPU, until the deadline; three more ran one at a time afterwards. × teacher divides the median test perplexity by the teacher's.",
  "",
  "| method | W-E-A | runs | test ppl | × teacher (median) | test_v1 ppl | valid ppl | runs |",
  "| --- | --- | ---: | --- | ---: | --- | --- | --- |",
  ...gridLines,
  ...extraLines,
  "",
  ...(checkLines.length === 0 ? [] : [
    `### Runtime against PyTorch (first ${slice.length.toLocaleString("en-US")} test tokens, the exported .onnx against the quantized checkpoint)`,
    "",
    "| run | runtime ppl | PyTorch ppl (CPU) | runtime ÷ PyTorch | file MiB | weights ratio | runtime s | PyTorch s |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...checkLines,
    "",
  ]),
  "<!-- 124m:end -->",
].join("\n");

const resultsPath = "docs/RESULTS.md";
const doc = readFileSync(resultsPath, "utf8");
const begin = doc.indexOf("<!-- 124m:begin -->");
const end = doc.indexOf("<!-- 124m:end -->");
if (begin < 0 || end < begin) throw new Error(`${resultsPath}: no <!-- 124m:begin --> … <!-- 124m:end --> markers to write between`);
writeFileAtomic(resultsPath, doc.slice(0, begin) + section + doc.slice(end + "<!-- 124m:end -->".length));
writeFileAtomic("bench/results/training_124m.json", JSON.stringify({
  date: new Date().toISOString(), teacher: picked.selected,
  teachers: Object.fromEntries(teachers.map((n) => {
    const m = load(n);
    return [n, { shape: `${m.config.n_layer}×${m.config.n_embd}`, steps: m.steps, train_seconds: m.train_seconds, tokens_per_s: m.tokens_per_s,
      valid: m.valid.perplexity, test: m.test.perplexity, test_v1: m.test_v1.perplexity, evals: m.evals }];
  })),
  grid: Object.fromEntries(grid.map((r) => [r.name, { method: r.m.config.method, wea: wea(r.m), settings: settings(r.m), valid: r.m.valid.perplexity, test: r.m.test.perplexity, test_v1: r.m.test_v1.perplexity, train_seconds: r.m.train_seconds, tokens_per_s: r.m.tokens_per_s }])),
  checks,
}, null, 1) + "\n");
console.error(`wrote ${resultsPath} (124M section) and bench/results/training_124m.json`);
