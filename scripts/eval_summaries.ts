// Summarizes a split of a summarization task with lowbit's runtime and scores it: ROUGE against the
// references, and, given PyTorch's summaries of the same model (train/lowbit_train/summarize_hf.py's JSON),
// how many summaries are identical and PyTorch's ROUGE by the same scorer. Issue 13's "evaluation through
// the runtime"; scripts/results_bart.ts reads what this writes.
//
//   npx tsx scripts/eval_summaries.ts --model models/quantbart-228 --settings bench/results/bart/tuned.json \
//       [--task data/summarization/lead] [--split test] [--torch runs/NAME/summaries.test.json] [--jobs 2] [--limit N]
//       --out bench/results/bart/NAME.json [--predictions P.txt]
//
// The sources are fed as the task's token ids (<s> ids </s>), the ids PyTorch was fed; scripts/build_summarization.ts
// checks that they are what the runtime's tokenizer makes of each source line. --jobs N runs N single-threaded
// processes over interleaved shares of the examples (this script again, with --shard), then merges them in order.
// Not a benchmark: the speed it reports is per-example medians, for orientation only (bench/ measures speed).

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { LowbitError } from "../src/errors.js";
import { writeFileAtomic } from "../src/export/atomic_write.js";
import { corpusRouge, splitExamples } from "../src/eval/rouge.js";
import { loadBartModel, type Seq2SeqOptions } from "../src/runtime/index.js";
import { median } from "../bench/harness.js";

interface Options {
  model: string;
  settings: string;
  task: string;
  split: string;
  torch?: string;
  jobs: string;
  limit?: string;
  out: string;
  predictions?: string;
  shard?: string;
}

interface Row {
  index: number;
  ids: number[];
  text: string;
  seconds: number;
}

/** A separator-terminated uint16 id file (build_summarization.ts) → one id list per example. */
export function readExamples(path: string): number[][] {
  const bytes = readFileSync(path);
  if (bytes.length % 2 !== 0) throw new LowbitError("token file is not whole uint16 values", { file: path, found: `${bytes.length} bytes` });
  const ids = new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  if (ids.length > 0 && ids[ids.length - 1] !== 2) throw new LowbitError("token file does not end with the separator 2: truncated?", { file: path });
  const out: number[][] = [];
  let start = 0;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] === 2) {
      out.push(Array.from(ids.subarray(start, i)));
      start = i + 1;
    }
  }
  return out;
}

/** summarize_hf.py's settings (transformers' generate() keys) as the runtime's options. */
export function runtimeOptions(settings: Record<string, unknown>): Seq2SeqOptions {
  const keys: [string, keyof Seq2SeqOptions][] = [
    ["num_beams", "numBeams"], ["length_penalty", "lengthPenalty"], ["no_repeat_ngram_size", "noRepeatNgramSize"],
    ["min_length", "minLength"], ["max_length", "maxLength"], ["early_stopping", "earlyStopping"],
    ["decoder_start_token_id", "decoderStartTokenId"], ["eos_token_id", "eosTokenId"], ["pad_token_id", "padTokenId"],
    ["forced_bos_token_id", "forcedBosTokenId"], ["forced_eos_token_id", "forcedEosTokenId"],
  ];
  const out: Record<string, unknown> = {};
  for (const [from, to] of keys) if (settings[from] !== undefined) out[to] = settings[from];
  return out as Seq2SeqOptions;
}

function readJson(path: string, what: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new LowbitError(`cannot read ${what}`, { file: path, found: (err as Error).message });
  }
}

/** The settings file: summarize_hf.py tune's output (its "best") or a settings object. */
function readSettings(path: string): Record<string, unknown> {
  const settings = readJson(path, "settings");
  return (settings.best as Record<string, unknown> | undefined) ?? settings;
}

async function summarizeShard(o: Options, shard: number, of: number, sources: number[][]): Promise<Row[]> {
  const model = await loadBartModel(o.model);
  const options = runtimeOptions(readSettings(o.settings));
  const rows: Row[] = [];
  for (let i = shard; i < sources.length; i += of) {
    const t0 = performance.now();
    const s = await model.summarize([0, ...sources[i], 2], options);
    rows.push({ index: i, ids: s.ids, text: s.text.replace(/\s+/g, " ").trim(), seconds: (performance.now() - t0) / 1000 });
  }
  return rows;
}

function runChild(args: string[]): Promise<Row[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out) as Row[]) : reject(new Error(`shard ${args.join(" ")} exited ${code}`))));
  });
}

async function main(argv: string[]): Promise<void> {
  const o = new Command()
    .requiredOption("--model <dir>").requiredOption("--settings <json>").requiredOption("--out <json>")
    .option("--task <dir>", "task folder", "data/summarization/lead").option("--split <name>", "split", "test")
    .option("--torch <json>").option("--jobs <n>", "processes", "2").option("--limit <n>").option("--predictions <txt>")
    .option("--shard <k/n>")
    .parse(argv, { from: "user" }).opts<Options>();
  let sources = readExamples(join(o.task, `${o.split}.source.bin`));
  if (o.limit !== undefined) sources = sources.slice(0, Number(o.limit));
  if (o.shard !== undefined) {
    const [k, n] = o.shard.split("/").map(Number);
    process.stdout.write(JSON.stringify(await summarizeShard(o, k, n, sources)));
    return;
  }
  const jobs = Math.max(1, Number(o.jobs));
  const t0 = performance.now();
  const childArgs = argv.filter((a, i) => !(a === "--jobs" || argv[i - 1] === "--jobs"));
  const parts = await Promise.all(Array.from({ length: jobs }, (_, k) => runChild([...childArgs, "--shard", `${k}/${jobs}`])));
  const rows = parts.flat().sort((a, b) => a.index - b.index);
  const wall = (performance.now() - t0) / 1000;
  const references = splitExamples(readFileSync(join(o.task, `${o.split}.target.txt`), "utf8")).slice(0, sources.length);
  const predictions = rows.map((r) => r.text);
  const result: Record<string, unknown> = {
    model: o.model, split: o.split, count: rows.length, settings: readSettings(o.settings),
    runtime: { rouge: corpusRouge(predictions, references), wall_seconds: wall, jobs, median_seconds_per_example: median(rows.map((r) => r.seconds)) },
  };
  if (o.torch !== undefined) {
    const torch = readJson(o.torch, "PyTorch summaries") as { ids: number[][]; rouge: Record<string, number> };
    if (torch.ids.length < rows.length) throw new LowbitError("PyTorch summaries are fewer than the examples", { file: o.torch, expected: `${rows.length}`, found: `${torch.ids.length}` });
    const model = await loadBartModel(o.model);
    const start = model.config.decoder_start_token_id;
    const torchIds = torch.ids.slice(0, rows.length).map((ids) => (ids[0] === start ? ids.slice(1) : ids));
    const torchTexts = torchIds.map((ids) => model.tokenizer.decode(ids, { skipSpecialTokens: true }).replace(/\s+/g, " ").trim());
    const identical = rows.filter((r, i) => r.ids.length === torchIds[i].length && r.ids.every((id, j) => id === torchIds[i][j])).length;
    // Where the two differ: how many ids they share before the first difference, against the summaries' lengths.
    const differing = rows.map((r, i) => ({ r: r.ids, t: torchIds[i] })).filter(({ r, t }) => r.length !== t.length || r.some((id, j) => id !== t[j]));
    const sharedPrefix = differing.map(({ r, t }) => {
      let j = 0;
      while (j < r.length && j < t.length && r[j] === t[j]) j++;
      return j;
    });
    result.differing = { count: differing.length, median_shared_prefix: differing.length ? median(sharedPrefix) : 0,
      median_length: differing.length ? median(differing.map(({ r }) => r.length)) : 0,
      first_id_differs: sharedPrefix.filter((j) => j <= 1).length };
    const torchRouge = corpusRouge(torchTexts, references);
    const runtimeRouge = result.runtime as { rouge: Record<string, number> };
    result.torch = { rouge: torchRouge, rouge_as_reported_by_python: torch.rouge };
    (result.runtime as Record<string, unknown>).ids = rows.map((r) => r.ids);
    result.identical = identical;
    result.identical_share = identical / rows.length;
    result.rouge_points_runtime_minus_torch = Object.fromEntries(["rouge1", "rouge2", "rougeL"].map((k) => [k, 100 * (runtimeRouge.rouge[k] - (torchRouge as unknown as Record<string, number>)[k])]));
  }
  writeFileAtomic(o.out, `${JSON.stringify(result, null, 1)}\n`);
  if (o.predictions !== undefined) writeFileAtomic(o.predictions, predictions.map((p) => `${p}\n`).join(""));
  process.stdout.write(`${JSON.stringify({ model: o.model, count: rows.length, wall_seconds: wall, runtime: (result.runtime as { rouge: unknown }).rouge, identical: result.identical })}\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`eval_summaries: error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
