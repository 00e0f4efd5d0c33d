// Writes docs/RESULTS.md's BART section (between <!-- bart:begin --> and <!-- bart:end -->) and docs/SAMPLES.md's
// (between the same markers there) from the committed figures in bench/results/bart/:
//   training.json        every GPU run's metrics and PyTorch's test ROUGE (summarize_hf.py), made by --runs
//   tuned.json           the decoding settings tuned on valid for the teacher (summarize_hf.py tune)
//   sizes.json           exported bytes and weights ratio per bit width (`lowbit export --report`)
//   runtime_*.json       the runtime's summaries of the test split against PyTorch's (scripts/eval_summaries.ts)
// and the lead baseline, scored here from data/summarization/lead (scripts/build_summarization.ts).
//
//   npx tsx scripts/results_bart.ts [--runs DIR]    # --runs: first (re)write training.json from train/run_bart.sh's runs/
//
// Not a scorer of its own: every ROUGE figure is src/eval/rouge.ts's or lowbit_train/rouge.py's (they agree to
// 3e-8 on torchmetrics' golden cases).

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../src/export/atomic_write.js";
import { corpusRouge, splitExamples } from "../src/eval/rouge.js";
import { fmt, median } from "../bench/harness.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIR = join(ROOT, "bench", "results", "bart");
const TASK = join(ROOT, "data", "summarization", "lead");

interface Rouge { rouge1: number; rouge2: number; rougeL: number }
interface Run {
  name: string;
  method: string;
  bits: string; // W-E-A
  seed: number;
  steps: number;
  train_seconds: number;
  valid_nll: number;
  test_nll: number;
  rouge: Rouge; // PyTorch's summaries of the 600 test examples
  logit_check: number;
}
interface Training {
  made_from: string;
  teacher: { pretrain: Record<string, unknown>; finetune: Record<string, unknown> };
  runs: Run[];
  samples: { reference: string; source: string; teacher: string; student: string }[];
}

const read = <T>(path: string): T => JSON.parse(readFileSync(path, "utf8")) as T;

/** training.json from a runs/ folder of train/run_bart.sh. */
function collect(runs: string): Training {
  const out: Run[] = [];
  const summaries: Record<string, { texts: string[] }> = {};
  for (const name of readdirSync(runs).sort()) {
    const metrics = join(runs, name, "metrics.json");
    const sums = join(runs, name, "summaries.test.json");
    if (!existsSync(metrics) || !existsSync(sums)) continue;
    const m = read<{ config: Record<string, number | string>; steps: number; train_seconds: number; valid: { nll: number }; test: { nll: number } }>(metrics);
    const s = read<{ rouge: Rouge; texts: string[]; logit_check_max_abs_diff: number }>(sums);
    summaries[name] = s;
    const c = m.config;
    const bits = c.method === "finetune" ? "32-32-32" : `${c.weight_bits}-${c.embedding_bits}-${c.activation_bits}`;
    out.push({
      name, method: c.method === "finetune" ? "teacher" : String(c.method), bits, seed: Number(c.seed), steps: m.steps,
      train_seconds: m.train_seconds, valid_nll: m.valid.nll, test_nll: m.test.nll,
      rouge: { rouge1: s.rouge.rouge1, rouge2: s.rouge.rouge2, rougeL: s.rouge.rougeL }, logit_check: s.logit_check_max_abs_diff,
    });
  }
  const sources = splitExamples(readFileSync(join(TASK, "test.source.txt"), "utf8"));
  const references = splitExamples(readFileSync(join(TASK, "test.target.txt"), "utf8"));
  const samples = [0, 1, 2, 3, 4, 5].map((i) => ({
    reference: references[i], source: `${sources[i].split(" ").slice(0, 60).join(" ")} …`,
    teacher: summaries["bart-finetune"].texts[i], student: summaries["quantbart-228-s1"].texts[i],
  }));
  const pick = (path: string) => {
    const m = read<Record<string, unknown>>(path);
    return { steps: m.steps, train_seconds: m.train_seconds, tokens_per_s: m.tokens_per_s, valid: m.valid, test: m.test, kept: m.kept };
  };
  return {
    made_from: "train/run_bart.sh on one H200 (issue 13), runs/*/metrics.json and summaries.test.json",
    teacher: { pretrain: pick(join(runs, "bart-pretrain", "metrics.json")), finetune: pick(join(runs, "bart-finetune", "metrics.json")) },
    runs: out, samples,
  };
}

const pct = (x: number) => (100 * x).toFixed(2);
const triple = (r: Rouge) => `${pct(r.rouge1)} / ${pct(r.rouge2)} / ${pct(r.rougeL)}`;

function main(argv: string[]): void {
  const at = argv.indexOf("--runs");
  if (at >= 0) writeFileAtomic(join(DIR, "training.json"), `${JSON.stringify(collect(argv[at + 1]), null, 1)}\n`);
  const training = read<Training>(join(DIR, "training.json"));
  const tuned = read<{ best: Record<string, unknown>; examples: number; search: Record<string, unknown[]> }>(join(DIR, "tuned.json"));
  const sizes = read<Record<string, { param_bytes: number; weights_ratio: number; from: string }>>(join(DIR, "sizes.json"));
  const lead = corpusRouge(splitExamples(readFileSync(join(TASK, "test.lead.txt"), "utf8")), splitExamples(readFileSync(join(TASK, "test.target.txt"), "utf8")));
  const teacher = training.runs.find((r) => r.method === "teacher")!;
  const size = (bits: string) => {
    const s = sizes[bits.split("-")[0]];
    return s ? `${fmt(s.param_bytes / 2 ** 20, 2)} MiB, ${s.weights_ratio.toFixed(2)}×` : "—";
  };
  const groups = new Map<string, Run[]>();
  for (const r of training.runs) {
    const key = `${r.bits}|${r.method}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const order = ["teacher", "quantbart", "logit-kd", "quantbart-no-dynamic-scaling", "lsq", "pact", "rtn-mse", "rtn-maxabs"];
  const rank = (key: string) => {
    const [bits, method] = key.split("|");
    return ["32-32-32", "2-2-8", "4-4-8", "8-8-8"].indexOf(bits) * 100 + order.indexOf(method);
  };
  const rows: string[] = [];
  for (const [key, runs] of [...groups].sort((a, b) => rank(a[0]) - rank(b[0]))) {
    const [bits, method] = key.split("|");
    const med = (k: keyof Rouge) => median(runs.map((r) => r.rouge[k]));
    const r1s = runs.map((r) => r.rouge.rouge1);
    const spread = runs.length > 1 ? ` (${pct(Math.min(...r1s))}–${pct(Math.max(...r1s))}, ${runs.length} seeds)` : "";
    const m = { rouge1: med("rouge1"), rouge2: med("rouge2"), rougeL: med("rougeL") };
    rows.push(`| ${bits} | ${method} | ${triple(m)}${spread} | ${(m.rouge1 / teacher.rouge.rouge1).toFixed(3)} | ${runs.map((r) => r.test_nll.toFixed(3)).join(", ")} | ${runs.map((r) => r.steps).join(", ")} | ${size(bits)} |`);
  }
  const runtime = readdirSync(DIR).filter((f) => f.startsWith("runtime_")).sort().map((f) => ({ file: f, ...read<{
    count: number; identical: number; runtime: { rouge: Rouge; wall_seconds: number; jobs: number; median_seconds_per_example: number };
    torch: { rouge: Rouge }; rouge_points_runtime_minus_torch: Rouge;
  }>(join(DIR, f)) }));
  const goal = (bits: string, want: number) => {
    const runs = groups.get(`${bits}|quantbart`) ?? [];
    const r1 = median(runs.map((r) => r.rouge.rouge1)) / teacher.rouge.rouge1;
    return `| ${bits} R1 ÷ teacher | ≥ ${want} | ${r1.toFixed(3)} | ${r1 >= want ? "met" : `not met (gap ${(want - r1).toFixed(3)})`} |`;
  };
  const section = [
    "<!-- bart:begin -->",
    "## BART: QuantBART on the lead summarization task",
    "",
    "Written by `npx tsx scripts/results_bart.ts` from `bench/results/bart/` (GPU runs of `train/run_bart.sh`, one H200).",
    "Task: docs/DATA.md, \"Summarization task: lead\" (600 test examples, ~295-word sources, ~23-word targets).",
    `Teacher: BART 6+6 layers, d 384, 6 heads, FFN 1536, 416 positions, vocabulary 50,261 (44.5M parameters);`,
    `denoising pretraining ${training.teacher.pretrain.steps} steps × 64 chunks (${fmt(Number(training.teacher.pretrain.train_seconds), 0)} s), then fine-tuning ${training.teacher.finetune.steps} steps × 64 examples (${fmt(Number(training.teacher.finetune.train_seconds), 0)} s).`,
    `Decoding, tuned on ${tuned.examples} valid examples for the teacher and kept for every model: ${JSON.stringify(tuned.best)}.`,
    "ROUGE: F-measure ×100, rouge-score's tokenizer, no stemming, mean over the 600 test examples; PyTorch's summaries",
    "(transformers' `generate()` on the checkpoint, fp32 fake quantization) unless the row says otherwise.",
    "",
    "| W-E-A | method | R1 / R2 / RL (median; R1 spread) | R1 ÷ teacher | test NLL | steps | weights, ratio |",
    "| --- | --- | --- | ---: | --- | --- | --- |",
    ...rows,
    `| — | lead baseline (source's first sentence) | ${triple(lead)} | ${(lead.rouge1 / teacher.rouge.rouge1).toFixed(3)} | — | — | — |`,
    "",
    "Weights: the exported parameters (`lowbit export --report`): 2 and 4 bits from the trained students, 8 and 32 bits",
    "from a random-weight BART of the same shape (sizes depend on shapes and bits alone).",
    "",
    "### Goals, as measured",
    "",
    "| figure | goal | measured | |",
    "| --- | --- | ---: | --- |",
    goal("2-2-8", 0.97), goal("4-4-8", 0.99), goal("8-8-8", 0.998),
    `| 2-2-8 weights ratio | ≥ 13.4× | ${sizes["2"].weights_ratio.toFixed(2)}× | ${sizes["2"].weights_ratio >= 13.4 ? "met" : "not met"} |`,
    "",
    "### The runtime against PyTorch (the whole test split, beam 4, the tuned settings)",
    "",
    "| model | examples | identical summaries | runtime R1 / R2 / RL | PyTorch R1 / R2 / RL | runtime − PyTorch (points) | wall, processes |",
    "| --- | ---: | ---: | --- | --- | --- | --- |",
    ...runtime.map((r) => `| ${r.file.replace(/^runtime_|\.json$/g, "")} | ${r.count} | ${r.identical} (${(100 * r.identical / r.count).toFixed(1)}%) | ${triple(r.runtime.rouge)} | ${triple(r.torch.rouge)} | ${r.rouge_points_runtime_minus_torch.rouge1.toFixed(2)} / ${r.rouge_points_runtime_minus_torch.rouge2.toFixed(2)} / ${r.rouge_points_runtime_minus_torch.rougeL.toFixed(2)} | ${fmt(r.runtime.wall_seconds, 0)} s, ${r.runtime.jobs} |`),
    "",
    "Both columns are scored by src/eval/rouge.ts against the same references; PyTorch's ids are decoded by the runtime's",
    "tokenizer. `npx tsx scripts/eval_summaries.ts --model DIR --settings bench/results/bart/tuned.json --torch …` makes a row.",
    "<!-- bart:end -->",
  ].join("\n");
  replaceBetween(join(ROOT, "docs", "RESULTS.md"), section);
  const samples = [
    "<!-- bart:begin -->",
    "## BART: the teacher against QuantBART 2-2-8 (lead task, first test examples, PyTorch's beam-4 summaries)",
    "",
    "Written by `npx tsx scripts/results_bart.ts` from bench/results/bart/training.json. The model is small and briefly",
    "trained (docs/RESULTS.md): both repeat themselves; the point is how close the 2-bit student stays to its teacher.",
    "",
    ...training.samples.flatMap((s, i) => [
      `**Example ${i + 1}.** Source: ${s.source}`, "", `- reference: ${s.reference}`, `- teacher: ${s.teacher}`, `- QuantBART 2-2-8: ${s.student}`, "",
    ]),
    "<!-- bart:end -->",
  ].join("\n");
  replaceBetween(join(ROOT, "docs", "SAMPLES.md"), samples);
  process.stdout.write(`${section}\n`);
}

function replaceBetween(path: string, section: string): void {
  const doc = readFileSync(path, "utf8");
  const begin = doc.indexOf("<!-- bart:begin -->");
  const end = doc.indexOf("<!-- bart:end -->");
  const next = begin < 0 ? `${doc.trimEnd()}\n\n${section}\n` : doc.slice(0, begin) + section + doc.slice(end + "<!-- bart:end -->".length);
  writeFileAtomic(path, next);
}

main(process.argv.slice(2));
