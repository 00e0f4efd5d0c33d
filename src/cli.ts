// The `lowbit` command line: a thin argv layer over the library, with no logic of its own.
//
//   lowbit export <checkpoint> -o model.onnx|<folder>/ [--bits 2|4|8|32] [--embedding-bits N] [--activation-bits 8|32]
//                 [--granularity module|group] [--group-size G] [--clip maxabs|mse] [--format dq|nbits] [--report r.json] [--revision R]
//   lowbit quantize <checkpoint> -o <quantized-dir> [same quantization options, --bits 2|4|8] [--revision R]
//   lowbit download <repo-id> [--revision R]          (prints the snapshot directory in the Hugging Face cache)
//   (<checkpoint>: a directory, or a Hugging Face Hub id such as gpt2 or facebook/bart-base: src/hub/)
//   lowbit inspect <file.onnx|folder|checkpoint-dir>
//   lowbit generate --model m.onnx --prompt "..." [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--threads N] [--json]
//   lowbit perplexity --model m.onnx --text FILE [--context N] [--stride S] [--threads N] [--json]
//   lowbit summarize --model <bart-dir> (--text "…" | --input-file F | --input-ids 0,…,2) [--num-beams N] [--length-penalty X]
//                    [--no-repeat-ngram-size N] [--min-length N] [--max-length N] [--max-new-tokens N] [--early-stopping] [--threads N] [--json]
//   lowbit rouge --predictions P --references R [--json]
//   lowbit serve [--model m.onnx|<folder> …] [--port 8080] [--host 127.0.0.1]   (the browser demo: src/demo/)
//
// Output goes through out(), which notices a closed pipe or a full disk (see "stdout" below).

import { statSync } from "node:fs";
import { Command, Option } from "commander";
import cliProgress from "cli-progress";
import { LowbitError } from "./errors.js";
import { readCheckpoint, type Checkpoint, type Gpt2Checkpoint } from "./export/checkpoint.js";
import { writeFileAtomic } from "./export/atomic_write.js";
import { exportGpt2, quantizeCheckpoint, type Progress, type QuantizeSettings } from "./export/export.js";
import { inspectCheckpoint, inspectFolder, inspectModelFile, isFolderExport } from "./export/inspect.js";
import { writeQuantizedCheckpoint } from "./export/quantized_checkpoint.js";
import { buildFolderExport, isFolderOutput, writeFolder } from "./export/hf_folder.js";
import { formatReport, type CompressionReport } from "./export/report.js";
import { loadBartModel, loadGpt2Model, type GenerateOptions, type Seq2SeqOptions } from "./runtime/index.js";
import { readModelFiles } from "./runtime/sources.js";
import { perplexity } from "./runtime/perplexity.js";
import { MAX_THREADS } from "./runtime/threads.js";
import { readBytes } from "./format/node_io.js";
import { corpusRouge, ROUGE_KEYS, splitExamples } from "./eval/rouge.js";
import type { DownloadProgress } from "./hub/download.js";
import { serveCommand, type ServeCliOptions } from "./demo/server.js";

const QUANT_OPTIONS = ["bits", "embeddingBits", "activationBits", "granularity", "groupSize", "clip"] as const;

/** Weight bit widths per command: only `export` can write unquantized fp32 weights; a quantized checkpoint
 * has quantized weights by definition. */
const WEIGHT_BITS = { export: [2, 4, 8, 32], quantize: [2, 4, 8] } as const;
type QuantCommand = keyof typeof WEIGHT_BITS;

function addQuantOptions(cmd: Command, command: QuantCommand): Command {
  const bitsHelp = command === "export" ? "weight bits: 2|4|8, or 32 for an unquantized fp32 export" : "weight bits: 2|4|8";
  return cmd
    .option("--bits <n>", bitsHelp, "4")
    .option("--embedding-bits <n>", "word-embedding bits: 2|4|8|32 (default: --bits)")
    .option("--activation-bits <n>", "bits of quantized layers' inputs: 8|32", "8")
    .addOption(new Option("--granularity <g>", "one scale per module or per group").choices(["module", "group"]).default("module"))
    .option("--group-size <G>", "input features per scale (32|64|128|256)", "128")
    .addOption(new Option("--clip <m>", "clipping value α").choices(["maxabs", "mse"]).default("maxabs"));
}

interface QuantOpts {
  bits: string;
  embeddingBits?: string;
  activationBits: string;
  granularity: "module" | "group";
  groupSize: string;
  clip: "maxabs" | "mse";
}

/** Bit-width flags are checked here, not by commander, so a bad one gets lowbit's one-line error. */
function parseBits<T extends number>(value: string, flag: string, allowed: readonly T[]): T {
  const n = Number(value);
  if (!allowed.includes(n as T)) throw new LowbitError(`unsupported bit width for ${flag}`, { expected: allowed.join("|"), found: value });
  return n as T;
}

function settingsFrom(o: QuantOpts, command: QuantCommand): QuantizeSettings {
  const weightBits = parseBits<2 | 4 | 8 | 32>(o.bits, "--bits", WEIGHT_BITS[command]);
  return {
    weightBits,
    embeddingBits: o.embeddingBits === undefined ? weightBits : parseBits(o.embeddingBits, "--embedding-bits", [2, 4, 8, 32] as const),
    activationBits: parseBits(o.activationBits, "--activation-bits", [8, 32] as const),
    granularity: o.granularity,
    groupSize: Number(o.groupSize),
    clip: o.clip,
  };
}

/** A progress bar on stderr when it is a terminal; silent otherwise (logs and tests stay clean). */
function progressBar(label: string): { update: Progress; stop: () => void } {
  const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} {what}`, stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update: (done, total, what) => {
      if (!started) { bar.start(total, 0, { what }); started = true; }
      bar.update(done, { what });
    },
    stop: () => { if (started) bar.stop(); },
  };
}

// ---------------------------------------------------------------------------------------------------------
// stdout
//
// The reader of stdout may go away (`lowbit generate … | head`: EPIPE) or the disk fill up (`> /dev/full`:
// ENOSPC). Node reports a failed write with an 'error' event that, unheard, ends the process with a stack
// trace, and generation would go on computing tokens nobody reads. So all output goes through out(), which
// says whether stdout still works, and main() ends as shell tools do: a closed pipe quietly with status 0
// (as `yes | head`), any other failure with one error line naming stdout.

let stdoutError: NodeJS.ErrnoException | undefined;
const recordStdoutError = (err: NodeJS.ErrnoException) => { stdoutError ??= err; };

/** Writes to stdout; false once a write has failed, after which text is dropped. Node marks the stream
 * `errored` inside the failing write (on Linux, stdout is written synchronously to files, pipes and
 * terminals), so a caller can stop before its next token rather than at the next turn of the event loop. */
function out(text: string): boolean {
  if (stdoutError === undefined) {
    process.stdout.write(text, (err) => err && recordStdoutError(err));
    stdoutError ??= (process.stdout.errored as NodeJS.ErrnoException | null) ?? undefined;
  }
  return stdoutError === undefined;
}

/** Resolves once everything written so far has left the process or failed (for writes that were queued). */
function flushStdout(): Promise<void> {
  if (stdoutError !== undefined) return Promise.resolve();
  return new Promise((resolve) => process.stdout.write("", (err) => { if (err) recordStdoutError(err); resolve(); }));
}

/** The exit status for a failed stdout: 0 for a reader that went away, else 1 and one error line. */
function stdoutFailure(err: NodeJS.ErrnoException): number {
  if (err.code === "EPIPE") return 0;
  const why = err.message.replace(/^[A-Z]+: /, "").replace(/, write$/, ""); // "ENOSPC: no space left on device, write"
  const error = new LowbitError("cannot write the output", { file: "stdout", found: err.code ?? "an error", hint: why });
  process.stderr.write(`lowbit: error: ${error.message}\n`);
  return 1;
}

/** Runs a download with a progress bar on stderr, stopped however it ends. src/hub/ is loaded only here, when
 * needed: @huggingface/hub adds ~40 ms to every start. */
async function withDownloadBar<T>(run: (hub: typeof import("./hub/download.js"), onProgress: DownloadProgress) => Promise<T>): Promise<T> {
  const hub = await import("./hub/download.js");
  const { downloadProgressBar } = await import("./hub/progress.js");
  const bar = downloadProgressBar();
  try {
    return await run(hub, bar.update);
  } finally {
    bar.stop();
  }
}

/** <checkpoint>: an existing directory as it is, else a Hub id brought into the Hugging Face cache (with a progress
 * bar on stderr); `source` names it in the report. */
function checkpointDir(arg: string, revision: string | undefined): Promise<{ dir: string; source: string }> {
  return withDownloadBar((hub, onProgress) => hub.resolveCheckpoint(arg, { revision, onProgress }));
}

const CHECKPOINT_HELP = "a checkpoint directory (config.json + model.safetensors or a sharded index), or a Hugging Face Hub id such as gpt2 or facebook/bart-base";
const REVISION_HELP = "the Hub revision (branch, tag or commit) when <checkpoint> is a Hub id (default: main)";
const THREADS_HELP = "threads for the matrix products (default: the core count, at most 8; 1: no worker threads)";

/** Loads the checkpoint and applies post-training quantization unless it is quantized already. */
function loadAndQuantize(dir: string, o: QuantOpts, cmd: Command, command: QuantCommand): Checkpoint {
  const ckpt = readCheckpoint(dir);
  if (ckpt.quantization !== undefined) {
    const given = QUANT_OPTIONS.filter((k) => cmd.getOptionValueSource(k) === "cli");
    if (given.length > 0) {
      const q = ckpt.quantization;
      throw new LowbitError("checkpoint is already quantized and exports with its own settings", {
        file: dir, expected: "no quantization options", found: given.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(", "),
        hint: `it is W-E-A ${q.weight_bits}-${q.embedding_bits}-${q.activation_bits}, ${q.method}`,
      });
    }
    return ckpt;
  }
  const settings = settingsFrom(o, command);
  if (settings.weightBits === 32 && settings.embeddingBits === 32) return ckpt;
  const bar = progressBar("quantizing");
  try {
    return quantizeCheckpoint(ckpt, settings, bar.update);
  } finally {
    bar.stop();
  }
}

export function buildProgram(): Command {
  // exitOverride before the subcommands are added, so they inherit it: commander then throws instead of
  // calling process.exit on a subcommand's --help or a bad option, and main() returns the status.
  const program = new Command("lowbit").description("Compress GPT-2 and BART to 2/4/8-bit weights and run them on-device")
    .exitOverride((err) => { throw err; });

  addQuantOptions(
    program.command("export").description("export a Hugging Face GPT-2 or BART checkpoint (plain or quantized) to low-bit ONNX: one file (GPT-2) or a Hugging Face folder")
      .argument("<checkpoint>", CHECKPOINT_HELP)
      .requiredOption("-o, --output <path>",
        "GPT-2: the .onnx file to write, or a folder; BART: always a folder. A path ending in / (or an existing " +
        "directory) is a folder in Hugging Face's layout, as transformers.js loads it: onnx/model{suffix}.onnx " +
        "(GPT-2) or onnx/encoder_model{suffix}.onnx + onnx/decoder_model_merged{suffix}.onnx (BART), suffix by " +
        "--bits (32: none, 8: _quantized, 4: _q4, 2: _q2), with config.json, generation_config.json, tokenizer.json " +
        "and tokenizer_config.json"),
    "export",
  )
    .addOption(new Option("--format <f>", "dq: INT initializers → DequantizeLinear; nbits: com.microsoft::MatMulNBits").choices(["dq", "nbits"]).default("dq"))
    .option("--report <file>", "also write the compression report as JSON")
    .option("--revision <rev>", REVISION_HELP)
    .action(async (arg: string, o: QuantOpts & { output: string; format: "dq" | "nbits"; report?: string; revision?: string }, cmd: Command) => {
      const { dir, source } = await checkpointDir(arg, o.revision);
      const ckpt = loadAndQuantize(dir, o, cmd, "export"); // GPT-2 or BART
      const exportOptions = { format: o.format, activationBits: settingsFrom(o, "export").activationBits, source };
      let report: CompressionReport;
      let wrote: string;
      if (ckpt.config.model_type === "bart" || isFolderOutput(o.output)) {
        if (/\.onnx$/i.test(o.output) && !isFolderOutput(o.output)) {
          throw new LowbitError("a BART export is a folder, not one .onnx file", { file: o.output, expected: "a folder path such as out/", hint: "its encoder and decoder go to <folder>/onnx/" });
        }
        const folder = buildFolderExport(ckpt, exportOptions);
        writeFolder(o.output, folder.files);
        report = folder.report;
        wrote = `${o.output} (${folder.files.map((f) => f.path).join(", ")})`;
      } else {
        const r = exportGpt2(ckpt as Gpt2Checkpoint, exportOptions);
        writeFileAtomic(o.output, r.bytes);
        report = r.report;
        wrote = o.output;
      }
      if (o.report !== undefined) writeFileAtomic(o.report, `${JSON.stringify(report, null, 2)}\n`);
      out(`${formatReport(report)}\nwrote ${wrote}\n`);
    });

  addQuantOptions(
    program.command("quantize").description("post-training quantization of a GPT-2 or BART checkpoint to a quantized checkpoint directory (docs/FORMAT.md)")
      .argument("<checkpoint>", CHECKPOINT_HELP).requiredOption("-o, --output <dir>", "the quantized checkpoint directory to write"),
    "quantize",
  ).option("--revision <rev>", REVISION_HELP).action(async (arg: string, o: QuantOpts & { output: string; revision?: string }, cmd: Command) => {
    const { dir } = await checkpointDir(arg, o.revision);
    writeQuantizedCheckpoint(o.output, loadAndQuantize(dir, o, cmd, "quantize"));
    out(`wrote ${o.output}\n`);
  });

  program.command("download").description("bring a Hugging Face Hub model's checkpoint files (config, safetensors weights, tokenizer) into the " +
    "Hugging Face cache ($HF_HUB_CACHE, default ~/.cache/huggingface/hub) and print the snapshot directory")
    .argument("<repo-id>", "a Hub model id such as gpt2 or facebook/bart-base")
    .option("--revision <rev>", "branch, tag or commit", "main")
    .action(async (repoId: string, o: { revision: string }) => {
      const snapshot = await withDownloadBar((hub, onProgress) => hub.downloadCheckpoint(repoId, { revision: o.revision, onProgress }));
      out(`${snapshot.dir}\n`);
    });

  program.command("inspect").description("validate a model file, folder export or checkpoint, then print its config and every tensor's shape, bits and bytes")
    .argument("<path>", "a lowbit .onnx file, a folder export (with onnx/) or a checkpoint directory")
    .option("--no-verify-checksum", "skip checking a .onnx file against its lowbit.checksum")
    .action(async (path: string, o: { verifyChecksum: boolean }) => {
      let isDir = false;
      try { isDir = statSync(path).isDirectory(); } catch { throw new LowbitError("no such file or directory", { file: path }); }
      const options = { verifyChecksum: o.verifyChecksum };
      // A folder is first checked as a whole, as loading it is (config.json, the files of its dtype, a BART pair
      // from one export, generation_config.json): inspect refuses what generate or summarize would refuse.
      if (isDir && isFolderExport(path)) await readModelFiles(path, options);
      out(`${!isDir ? await inspectModelFile(path, options) : isFolderExport(path) ? await inspectFolder(path, options) : inspectCheckpoint(path)}\n`);
    });

  program.command("generate").description("generate text with the WASM runtime, streaming it, then print speed and memory")
    .requiredOption("--model <file>", "a lowbit .onnx file")
    .option("--prompt <text>", "the prompt as text")
    .option("--prompt-ids <ids>", "the prompt as comma-separated token ids")
    .option("--max-new-tokens <n>", "tokens to generate", "32")
    .option("--temperature <t>", "sampling temperature; 0 = greedy, whatever --top-k, --top-p or --seed say")
    .option("--top-k <k>", "sample from the k most likely tokens")
    .option("--top-p <p>", "sample from the smallest set of tokens reaching probability p")
    .option("--repetition-penalty <r>", "penalise tokens already in the sequence (> 1)")
    .option("--seed <s>", "PRNG seed for sampling")
    .option("--stop <text...>", "stop when the generated text contains this string")
    .option("--no-eos", "keep going past the end-of-text token")
    .option("--truncate", "drop the prompt's first tokens when it does not fit the context")
    .option("--context <n>", "KV-cache length, at most the model's n_positions (the default)")
    .addOption(new Option("--kernels <variant>", "WASM build").choices(["simd", "scalar"]))
    .option("--threads <n>", THREADS_HELP)
    .option("--no-verify-checksum", "skip checking the file against its lowbit.checksum (only for bytes known to be good)")
    .option("--json", "print one JSON object instead of streaming")
    .action(async (o: GenerateCliOptions) => generateCommand(o));

  program.command("perplexity").description("perplexity of a text (or a uint16 token file) under a model, with a sliding window")
    .requiredOption("--model <file>", "a lowbit .onnx file")
    .option("--text <file>", "a UTF-8 text file, tokenized with the model's tokenizer")
    .option("--tokens <file>", "a file of little-endian uint16 token ids (the corpus builder's .bin)")
    .option("--context <n>", "window length (default: the model's n_positions)")
    .option("--stride <n>", "window step (default: the context: no overlap)")
    .option("--max-tokens <n>", "score only the first N tokens")
    .option("--threads <n>", THREADS_HELP)
    .option("--no-verify-checksum", "skip checking the file against its lowbit.checksum (only for bytes known to be good)")
    .option("--json", "print one JSON object")
    .action(async (o: { model: string; text?: string; tokens?: string; context?: string; stride?: string; maxTokens?: string; threads?: string; verifyChecksum: boolean; json?: boolean }) => {
      if ((o.text === undefined) === (o.tokens === undefined)) {
        throw new LowbitError("give the input once", { expected: "--text FILE or --tokens FILE", found: o.text === undefined ? "neither" : "both" });
      }
      const model = await loadGpt2Model(o.model, { verifyChecksum: o.verifyChecksum, threads: threadsFlag(o.threads) });
      try {
        let tokens: ArrayLike<number>;
        if (o.text !== undefined) {
          tokens = model.tokenizer.encode(new TextDecoder().decode(readBytes(o.text, "text file")));
        } else {
          const bytes = readBytes(o.tokens!, "token file");
          if (bytes.byteLength % 2 !== 0) throw new LowbitError("token file length is odd", { file: o.tokens, expected: "little-endian uint16 ids", found: `${bytes.byteLength} bytes` });
          tokens = new Uint16Array(bytes.slice().buffer);
        }
        const limit = numberFlag(o.maxTokens, "--max-tokens");
        if (limit !== undefined) tokens = Array.from(tokens).slice(0, limit);
        const t0 = performance.now();
        const r = perplexity(model.executor, tokens, { context: numberFlag(o.context, "--context"), stride: numberFlag(o.stride, "--stride") });
        const seconds = (performance.now() - t0) / 1e3;
        if (o.json) {
          out(`${JSON.stringify({ perplexity: r.perplexity, nll: r.nll, scored_tokens: r.scoredTokens, windows: r.windows, context: r.context, stride: r.stride, seconds, threads: model.threads })}\n`);
        } else {
          out(`perplexity ${r.perplexity.toFixed(4)} (mean NLL ${r.nll.toFixed(5)} nats) over ${r.scoredTokens} tokens, ${r.windows} windows of ${r.context} every ${r.stride}; ${seconds.toFixed(1)} s\n`);
        }
      } finally {
        model.dispose();
      }
    });

  program.command("summarize").description("summarize with a BART model folder (beam search as generation_config.json sets it), then print speed")
    .requiredOption("--model <dir>", "a BART folder written by `lowbit export <bart checkpoint> -o <dir>/`")
    .option("--text <text>", "one document")
    .option("--input-file <file>", "a UTF-8 file of documents, one per line")
    .option("--input-ids <ids>", "one document as comma-separated token ids (<s> … </s> included)")
    .option("--num-beams <n>", "beams (1 = greedy)")
    .option("--length-penalty <x>", "beam score = log-probability / length^x")
    .addOption(literalNoOption("--no-repeat-ngram-size <n>", "never repeat an n-gram (0 = off)"))
    .option("--min-length <n>", "no </s> before this many tokens (decoder start included)")
    .option("--max-length <n>", "at most this many tokens (decoder start included)")
    .option("--max-new-tokens <n>", "at most this many generated tokens (wins over --max-length)")
    .option("--early-stopping", "beam search ends once num_beams hypotheses have finished")
    .option("--no-early-stopping", "beam search goes on while a better hypothesis may still come")
    .option("--repetition-penalty <r>", "penalise tokens already generated (> 1)")
    .option("--dtype <d>", "which precision of the folder to load: fp32|q8|q4|q2 (default: its config.json)")
    .option("--truncate", "keep a too-long document's first tokens instead of refusing it")
    .addOption(new Option("--kernels <variant>", "WASM build").choices(["simd", "scalar"]))
    .option("--threads <n>", THREADS_HELP)
    .option("--no-verify-checksum", "skip checking the files against their lowbit.checksum (only for bytes known to be good)")
    .option("--json", "print one JSON object per document")
    .action(async (o: SummarizeCliOptions) => summarizeCommand(o));

  program.command("rouge").description("ROUGE-1/2/L F-measure of predictions against references, one example per line (rouge-score's tokenizer, no stemming)")
    .requiredOption("--predictions <file>", "a UTF-8 file of predicted summaries, one per line")
    .requiredOption("--references <file>", "a UTF-8 file of reference summaries, one per line, in the same order")
    .option("--json", "print one JSON object: rouge1, rouge2, rougeL (mean F in [0, 1]), count, precision, recall")
    .action((o: { predictions: string; references: string; json?: boolean }) => rougeCommand(o));

  program.command("serve").description("serve the browser demo (cross-origin isolated, so threads work): the bundled models and any --model, until Ctrl-C")
    .option("--model <path...>", "also serve these .onnx files or model folders")
    .option("--port <n>", "port to listen on (0: any free port)", "8080")
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .action(async (o: ServeCliOptions) => serveCommand(o));

  return program;
}

function rougeCommand(o: { predictions: string; references: string; json?: boolean }): void {
  const read = (file: string, what: string) => splitExamples(new TextDecoder().decode(readBytes(file, what)));
  const predictions = read(o.predictions, "predictions file");
  const references = read(o.references, "references file");
  if (predictions.length !== references.length) {
    throw new LowbitError(`${o.predictions} has ${predictions.length} lines but ${o.references} has ${references.length}`, {
      expected: "one prediction per reference line",
    });
  }
  if (predictions.length === 0) throw new LowbitError("nothing to score", { file: o.predictions, expected: "one example per line", found: "an empty file" });
  const r = corpusRouge(predictions, references);
  if (o.json) {
    out(`${JSON.stringify({ rouge1: r.rouge1, rouge2: r.rouge2, rougeL: r.rougeL, count: r.count, precision: r.precision, recall: r.recall })}\n`);
    return;
  }
  const pct = (x: number) => (100 * x).toFixed(2).padStart(6);
  const names = { rouge1: "ROUGE-1", rouge2: "ROUGE-2", rougeL: "ROUGE-L" } as const;
  out(
    `${r.count} examples; rouge-score tokenizer, no stemming; mean per-example scores ×100\n` +
    `${"".padEnd(7)}  ${"F".padStart(6)}  ${"P".padStart(6)}  ${"R".padStart(6)}\n` +
    ROUGE_KEYS.map((k) => `${names[k]}  ${pct(r[k])}  ${pct(r.precision[k])}  ${pct(r.recall[k])}\n`).join(""),
  );
}

/** An option whose name starts with "no-" but takes a value (transformers' no_repeat_ngram_size), which
 * commander would otherwise read as the negation of "--repeat-ngram-size". */
function literalNoOption(flags: string, description: string): Option {
  const option = new Option(flags, description);
  option.negate = false;
  return option;
}

interface SummarizeCliOptions {
  model: string;
  text?: string;
  inputFile?: string;
  inputIds?: string;
  numBeams?: string;
  lengthPenalty?: string;
  noRepeatNgramSize?: string;
  minLength?: string;
  maxLength?: string;
  maxNewTokens?: string;
  earlyStopping?: boolean;
  repetitionPenalty?: string;
  dtype?: string;
  truncate?: boolean;
  kernels?: "simd" | "scalar";
  threads?: string;
  verifyChecksum: boolean;
  json?: boolean;
}

async function summarizeCommand(o: SummarizeCliOptions): Promise<void> {
  const given = [o.text, o.inputFile, o.inputIds].filter((x) => x !== undefined).length;
  if (given !== 1) throw new LowbitError("give the input once", { expected: "--text TEXT, --input-file FILE or --input-ids 0,…,2", found: given === 0 ? "none" : "several" });
  const model = await loadBartModel(o.model, { variant: o.kernels, verifyChecksum: o.verifyChecksum, dtype: o.dtype, threads: threadsFlag(o.threads) });
  try {
    let documents: (string | number[])[];
    if (o.inputIds !== undefined) {
      documents = [o.inputIds.split(",").map((v) => {
        const id = Number(v.trim());
        if (!Number.isInteger(id) || id < 0 || id >= model.config.vocab_size) {
          throw new LowbitError("invalid --input-ids", { expected: `comma-separated integers in 0..${model.config.vocab_size - 1}`, found: JSON.stringify(v) });
        }
        return id;
      })];
    } else if (o.inputFile !== undefined) {
      documents = new TextDecoder().decode(readBytes(o.inputFile, "input file")).split(/\r?\n/).filter((line) => line.trim() !== "");
      if (documents.length === 0) throw new LowbitError("input file has no documents", { file: o.inputFile, expected: "one document per non-empty line" });
    } else {
      documents = [o.text!];
    }
    const options: Seq2SeqOptions = {
      numBeams: numberFlag(o.numBeams, "--num-beams"),
      lengthPenalty: numberFlag(o.lengthPenalty, "--length-penalty"),
      noRepeatNgramSize: numberFlag(o.noRepeatNgramSize, "--no-repeat-ngram-size"),
      minLength: numberFlag(o.minLength, "--min-length"),
      maxLength: numberFlag(o.maxLength, "--max-length"),
      maxNewTokens: numberFlag(o.maxNewTokens, "--max-new-tokens"),
      earlyStopping: o.earlyStopping,
      repetitionPenalty: numberFlag(o.repetitionPenalty, "--repetition-penalty"),
      truncate: o.truncate ? "right" : "error",
    };
    for (const k of Object.keys(options) as (keyof Seq2SeqOptions)[]) if (options[k] === undefined) delete options[k];
    if (model.config.untrained && !o.json) process.stderr.write(`note: ${o.model} is untrained (random weights): its text is noise, not language\n`);
    for (const doc of documents) {
      const summary = await model.summarize(doc, options).catch((err: unknown) => { throw withFlagNames(err); });
      const s = summary.stats;
      if (o.json) {
        if (!out(`${JSON.stringify({ ids: summary.ids, text: summary.text, encoder_ms: s.encoderMs, decode_tokens_per_s: s.decodeTokensPerS, decode_steps_per_s: s.decodeStepsPerS, input_tokens: s.inputTokens, num_beams: s.numBeams, stop_reason: s.stopReason, threads: model.threads })}\n`)) return;
      } else {
        if (!out(`${summary.text}\n`)) return;
        process.stderr.write(`input ${s.inputTokens} tokens, encoder ${s.encoderMs.toFixed(1)} ms; ${s.generatedTokens} tokens, ${s.numBeams} beam(s), ${s.decodeStepsPerS.toFixed(1)} steps/s; ${threadsText(model.threads)}; stop: ${s.stopReason}\n`);
      }
    }
  } finally {
    model.dispose();
  }
}

interface GenerateCliOptions {
  model: string;
  prompt?: string;
  promptIds?: string;
  maxNewTokens: string;
  temperature?: string;
  topK?: string;
  topP?: string;
  repetitionPenalty?: string;
  seed?: string;
  stop?: string[];
  eos: boolean;
  truncate?: boolean;
  context?: string;
  kernels?: "simd" | "scalar";
  threads?: string;
  verifyChecksum: boolean;
  json?: boolean;
}

/** A numeric flag, or a LowbitError naming it; range checks happen in the runtime. */
function numberFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new LowbitError(`invalid ${flag}`, { expected: "a number", found: JSON.stringify(value) });
  return n;
}

/** --threads: an integer in 1..MAX_THREADS, or undefined for the default. */
function threadsFlag(value: string | undefined): number | undefined {
  const n = numberFlag(value, "--threads");
  if (n !== undefined && !(Number.isInteger(n) && n >= 1 && n <= MAX_THREADS)) {
    throw new LowbitError("invalid --threads", { expected: `an integer in 1..${MAX_THREADS}`, found: JSON.stringify(value) });
  }
  return n;
}

const threadsText = (threads: number) => `${threads} thread${threads === 1 ? "" : "s"}`;

/** The runtime's errors name its options as the API spells them; on the command line they are flags. */
const API_TO_FLAGS: [RegExp, string][] = [
  [/\bpass truncate: "(left|right)"/, "pass --truncate"],
  [/\bmaxNewTokens\b/g, "--max-new-tokens"],
  [/\bprompt \[(\d+)\]/, "--prompt-ids $1"],
];

function withFlagNames(err: unknown): unknown {
  if (!(err instanceof LowbitError)) return err;
  const message = API_TO_FLAGS.reduce((m, [api, flag]) => m.replace(api, flag), err.message);
  return message === err.message ? err : new LowbitError(message);
}

async function generateCommand(o: GenerateCliOptions): Promise<void> {
  if ((o.prompt === undefined) === (o.promptIds === undefined)) {
    throw new LowbitError("give the prompt once", { expected: "--prompt TEXT or --prompt-ids 1,2,3", found: o.prompt === undefined ? "neither" : "both" });
  }
  const promptIds = o.promptIds?.split(",").map((v) => {
    const id = Number(v.trim());
    if (!Number.isInteger(id) || id < 0) throw new LowbitError("invalid --prompt-ids", { expected: "comma-separated non-negative integers", found: JSON.stringify(v) });
    return id;
  });
  const model = await loadGpt2Model(o.model, { variant: o.kernels, verifyChecksum: o.verifyChecksum, threads: threadsFlag(o.threads) });
  try {
    const vocab = model.config.vocab_size;
    for (const id of promptIds ?? []) {
      if (id >= vocab) throw new LowbitError("invalid --prompt-ids", { expected: `ids below the vocabulary size ${vocab}`, found: String(id) });
    }
    // The runtime refuses "" too, but as the option `stop`; here the user needs the flag's name.
    if (o.stop?.includes("")) throw new LowbitError("invalid --stop", { expected: "a non-empty string", found: '""' });
    const options: GenerateOptions = {
      maxNewTokens: numberFlag(o.maxNewTokens, "--max-new-tokens"),
      temperature: numberFlag(o.temperature, "--temperature"),
      topK: numberFlag(o.topK, "--top-k"),
      topP: numberFlag(o.topP, "--top-p"),
      repetitionPenalty: numberFlag(o.repetitionPenalty, "--repetition-penalty"),
      seed: numberFlag(o.seed, "--seed"),
      stop: o.stop,
      stopAtEos: o.eos,
      truncate: o.truncate ? "left" : "error",
      contextLength: numberFlag(o.context, "--context"),
    };
    if (model.config.untrained && !o.json) {
      process.stderr.write(`note: ${o.model} is untrained (random weights): its text is noise, not language\n`);
    }
    const ids: number[] = [];
    let text = "";
    try {
      for await (const token of model.generate(promptIds ?? o.prompt!, options)) {
        if (token.id >= 0) ids.push(token.id);
        text += token.text;
        // Leaving the loop returns the generator: no token is computed after stdout has failed. main()
        // reports the failure; the stats line is left out, as a reader that went away wants nothing more.
        if (!o.json && !out(token.text)) return;
      }
    } catch (err) {
      throw withFlagNames(err);
    }
    const stats = model.lastStats!;
    const peakRss = process.resourceUsage().maxRSS * 1024;
    if (o.json) {
      out(`${JSON.stringify({
        ids, text, prompt_tokens: stats.promptTokens, stop_reason: stats.stopReason,
        prefill_tokens_per_s: stats.prefillTokensPerS, decode_tokens_per_s: stats.decodeTokensPerS,
        load_ms: model.loadMs, peak_rss_bytes: peakRss, wasm_memory_bytes: model.wasmMemoryBytes(),
        kernels: model.kernelVariant, threads: model.threads, untrained: model.config.untrained === true,
      })}\n`);
      return;
    }
    if (!out("\n")) return;
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    process.stderr.write(
      `prefill: ${stats.promptTokens} tokens, ${stats.prefillTokensPerS.toFixed(1)} tok/s; ` +
      `decode: ${Math.max(0, stats.generatedTokens - 1)} tokens, ${stats.decodeTokensPerS.toFixed(1)} tok/s; ` +
      `load ${model.loadMs.toFixed(0)} ms; peak RSS ${mib(peakRss)}; WASM memory ${mib(model.wasmMemoryBytes())} (${model.kernelVariant}); ${threadsText(model.threads)}; stop: ${stats.stopReason}\n`,
    );
  } finally {
    model.dispose();
  }
}

export async function main(argv: string[]): Promise<number> {
  process.stdout.off("error", recordStdoutError).on("error", recordStdoutError);
  const status = await run(argv);
  await flushStdout();
  stdoutError ??= (process.stdout.errored as NodeJS.ErrnoException | null) ?? undefined; // commander's own help output
  return stdoutError === undefined ? status : stdoutFailure(stdoutError);
}

async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof LowbitError) {
      process.stderr.write(`lowbit: error: ${err.message}\n`);
      return 1;
    }
    const code = (err as { exitCode?: number; code?: string }).exitCode;
    if (code !== undefined) return code; // commander already printed usage or help
    process.stderr.write(`lowbit: internal error: ${(err as Error).stack ?? String(err)}\n`);
    return 70;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv);
}
