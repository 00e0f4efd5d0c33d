// The `lowbit` command line: a thin argv layer over the library, with no logic of its own.
//
//   lowbit export <checkpoint-dir> -o model.onnx [--bits 2|4|8|32] [--embedding-bits N] [--activation-bits 8|32]
//                 [--granularity module|group] [--group-size G] [--clip maxabs|mse] [--format dq|nbits] [--report r.json]
//   lowbit quantize <checkpoint-dir> -o <quantized-dir> [same quantization options]
//   lowbit inspect <file.onnx|checkpoint-dir>

import { statSync } from "node:fs";
import { Command, Option } from "commander";
import cliProgress from "cli-progress";
import { LowbitError } from "./errors.js";
import { readCheckpoint, type Gpt2Checkpoint } from "./export/checkpoint.js";
import { writeFileAtomic } from "./export/atomic_write.js";
import { exportGpt2, quantizeCheckpoint, type Progress, type QuantizeSettings } from "./export/export.js";
import { inspectCheckpoint, inspectModelFile } from "./export/inspect.js";
import { writeQuantizedCheckpoint } from "./export/quantized_checkpoint.js";
import { formatReport } from "./export/report.js";

const QUANT_OPTIONS = ["bits", "embeddingBits", "activationBits", "granularity", "groupSize", "clip"] as const;

function addQuantOptions(cmd: Command): Command {
  return cmd
    .option("--bits <n>", "weight bits: 2|4|8, or 32 for an unquantized fp32 export", "4")
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

function settingsFrom(o: QuantOpts): QuantizeSettings {
  const weightBits = parseBits(o.bits, "--bits", [2, 4, 8, 32] as const);
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

/** Loads the checkpoint and applies post-training quantization unless it is quantized already. */
function loadAndQuantize(dir: string, o: QuantOpts, cmd: Command): Gpt2Checkpoint {
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
  const settings = settingsFrom(o);
  if (settings.weightBits === 32 && settings.embeddingBits === 32) return ckpt;
  const bar = progressBar("quantizing");
  try {
    return quantizeCheckpoint(ckpt, settings, bar.update);
  } finally {
    bar.stop();
  }
}

export function buildProgram(): Command {
  const program = new Command("lowbit").description("Compress GPT-2 to 2/4/8-bit weights and run it on-device");

  addQuantOptions(
    program.command("export").description("export a Hugging Face GPT-2 checkpoint (plain or quantized) to one low-bit ONNX file")
      .argument("<checkpoint-dir>", "config.json + model.safetensors (or a sharded index)")
      .requiredOption("-o, --output <file>", "the .onnx file to write"),
  )
    .addOption(new Option("--format <f>", "dq: INT initializers → DequantizeLinear; nbits: com.microsoft::MatMulNBits").choices(["dq", "nbits"]).default("dq"))
    .option("--report <file>", "also write the compression report as JSON")
    .action((dir: string, o: QuantOpts & { output: string; format: "dq" | "nbits"; report?: string }, cmd: Command) => {
      const ckpt = loadAndQuantize(dir, o, cmd);
      const { bytes, report } = exportGpt2(ckpt, { format: o.format, activationBits: settingsFrom(o).activationBits, source: dir });
      writeFileAtomic(o.output, bytes);
      if (o.report !== undefined) writeFileAtomic(o.report, `${JSON.stringify(report, null, 2)}\n`);
      console.log(formatReport(report));
      console.log(`wrote ${o.output}`);
    });

  addQuantOptions(
    program.command("quantize").description("post-training quantization to a quantized checkpoint directory (docs/FORMAT.md)")
      .argument("<checkpoint-dir>").requiredOption("-o, --output <dir>", "the quantized checkpoint directory to write"),
  ).action((dir: string, o: QuantOpts & { output: string }, cmd: Command) => {
    if (Number(o.bits) === 32) throw new LowbitError("a quantized checkpoint needs quantized weights", { expected: "--bits 2|4|8", found: "--bits 32" });
    writeQuantizedCheckpoint(o.output, loadAndQuantize(dir, o, cmd));
    console.log(`wrote ${o.output}`);
  });

  program.command("inspect").description("print the config and every tensor's shape, bits and bytes")
    .argument("<path>", "a lowbit .onnx file or a checkpoint directory")
    .action((path: string) => {
      let isDir = false;
      try { isDir = statSync(path).isDirectory(); } catch { throw new LowbitError("no such file or directory", { file: path }); }
      console.log(isDir ? inspectCheckpoint(path) : inspectModelFile(path));
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().exitOverride((err) => { throw err; }).parseAsync(argv);
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
