// The fuzz harness's seed inputs and how a case id picks one: a fixed table of valid files (the test
// fixtures as they are, GPT-2 and BART, one re-split into .part-NN files, lowbit exports (single files and
// Hugging Face folders) and quantized checkpoints of them at several settings, and the shipped models),
// built afresh into a temp dir at every run with the current `lowbit` (so they carry whatever the format
// writes today), and the argv each entry point gets.
//
// The table's order and weights are part of every case id's meaning: append new seeds at the end, with a
// new name, or old ids replay differently. Small seeds carry weight 1; the shipped 5-35 MB models weigh
// little, so that thousands of cases finish in minutes. Not in here: mutating (the *_mutators.ts files).

import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { KINDS, Rand, caseId, caseSeed, type Entry, type Kind } from "./common.js";
import { unseal } from "./onnx_mutators.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURES = join(ROOT, "test", "fixtures", "gpt2");
const BART_FIXTURES = join(ROOT, "test", "fixtures", "bart");

type Source =
  | { copy: string; skip?: string[] } // a file or directory under the repository, copied (less the files named in skip)
  | { split: string; sizes: number[] } // a checkpoint seed whose model.safetensors is cut into .part-NN files
  | { export: string; args: string[] } // `lowbit export <seed> -o <name>.onnx <args>`, or `-o <name>/` for a folder seed
  | { quantize: string; args: string[] } // `lowbit quantize <seed> -o <name> <args>`
  | { unseal: string }; // an .onnx seed (or every .onnx file of a folder seed) without its checksum, as format version 1 (onnx_mutators.ts: unseal)

export interface SeedSpec {
  name: string;
  /** A single .onnx file, a checkpoint directory, or a Hugging Face folder export (onnx/ + JSON files). */
  type: "onnx" | "checkpoint" | "folder";
  /** The model family (default gpt2): BART checkpoints export to a folder, BART folders summarize. */
  family?: "gpt2" | "bart";
  kinds: Kind[];
  entries: Entry[];
  weight: number;
  large: boolean;
  source: Source;
  /** Options of the `export` / `quantize` entry points for a checkpoint seed. */
  exportArgs?: string[];
  quantizeArgs?: string[];
  /** Which input `perplexity` scores: the uint16 token file or the text file (through the tokenizer). */
  perplexity?: "tokens" | "text";
  /** Run with the CLI's option to load a file without checksum, where the command has one (`--no-verify…`). */
  unverified?: boolean;
}

const ONNX_KINDS: Kind[] = ["onnx-bytes", "onnx-structure"];
const ONNX_ENTRIES: Entry[] = ["inspect", "generate", "perplexity"];
const CKPT_ENTRIES: Entry[] = ["inspect", "export", "quantize"];
const FOLDER_KINDS: Kind[] = ["onnx-bytes", "onnx-structure", "hf-folder"];
const G32 = ["--granularity", "group", "--group-size", "32"];
const NO_EXPECTED = ["expected.json"]; // the fixtures' reference outputs: not part of a checkpoint

// tiny-f32: V 277, P 64, C 64, L 2, NH 4, tied, F32, one file with `transformer.` names.
// tiny-f16: V 320 (past its 277-token tokenizer), P 48, C 48, L 3, NH 3, tied, F16, two shards + index.
// tiny-bf16: V 290, P 48, C 32, L 2, NH 2, n_inner 96, untied (lm_head), BF16, one file.
export const SEEDS: SeedSpec[] = [
  // Hugging Face checkpoints.
  { name: "ckpt-tiny-f32", type: "checkpoint", kinds: ["hf-config", "hf-safetensors"], entries: CKPT_ENTRIES, weight: 1, large: false,
    source: { copy: join(FIXTURES, "tiny-f32") }, exportArgs: ["--bits", "2"], quantizeArgs: ["--bits", "2"] },
  { name: "ckpt-tiny-bf16", type: "checkpoint", kinds: ["hf-config", "hf-safetensors"], entries: CKPT_ENTRIES, weight: 1, large: false,
    source: { copy: join(FIXTURES, "tiny-bf16") }, exportArgs: ["--bits", "4", ...G32], quantizeArgs: ["--bits", "4", ...G32] },
  { name: "ckpt-tiny-f16-sharded", type: "checkpoint", kinds: ["hf-config", "hf-safetensors", "hf-shards"], entries: CKPT_ENTRIES, weight: 1, large: false,
    source: { copy: join(FIXTURES, "tiny-f16") }, exportArgs: ["--bits", "8", "--activation-bits", "32"], quantizeArgs: ["--bits", "4"] },
  { name: "ckpt-tiny-f32-parts", type: "checkpoint", kinds: ["hf-safetensors", "hf-shards"], entries: CKPT_ENTRIES, weight: 1, large: false,
    source: { split: "ckpt-tiny-f32", sizes: [150_000, 150_000] }, exportArgs: ["--bits", "32"], quantizeArgs: ["--bits", "8", "--granularity", "group", "--group-size", "64"] },
  { name: "ckpt-teacher", type: "checkpoint", kinds: ["hf-config", "hf-safetensors"], entries: ["inspect"], weight: 0.02, large: true,
    source: { copy: join(ROOT, "models", "teacher") } },
  // Quantized checkpoints (`lowbit quantize`); export and quantize take no options: they keep the file's own.
  { name: "q-f32-w2", type: "checkpoint", kinds: ["quantized-checkpoint"], entries: CKPT_ENTRIES, weight: 1, large: false,
    source: { quantize: "ckpt-tiny-f32", args: ["--bits", "2"] }, exportArgs: [], quantizeArgs: [] },
  { name: "q-f16-w4-g32-a32", type: "checkpoint", kinds: ["quantized-checkpoint"], entries: CKPT_ENTRIES, weight: 1, large: false,
    source: { quantize: "ckpt-tiny-f16-sharded", args: ["--bits", "4", ...G32, "--activation-bits", "32"] }, exportArgs: [], quantizeArgs: [] },
  { name: "q-bf16-w8-e32", type: "checkpoint", kinds: ["quantized-checkpoint"], entries: CKPT_ENTRIES, weight: 1, large: false,
    source: { quantize: "ckpt-tiny-bf16", args: ["--bits", "8", "--embedding-bits", "32"] }, exportArgs: [], quantizeArgs: [] },
  { name: "q-bf16-w2-g32", type: "checkpoint", kinds: ["quantized-checkpoint"], entries: CKPT_ENTRIES, weight: 1, large: false,
    source: { quantize: "ckpt-tiny-bf16", args: ["--bits", "2", ...G32] }, exportArgs: [], quantizeArgs: [] },
  // lowbit ONNX files.
  { name: "onnx-f32-fp32", type: "onnx", kinds: ONNX_KINDS, entries: ONNX_ENTRIES, weight: 1, large: false,
    source: { export: "ckpt-tiny-f32", args: ["--bits", "32"] }, perplexity: "text" },
  { name: "onnx-f32-w2", type: "onnx", kinds: ONNX_KINDS, entries: ONNX_ENTRIES, weight: 1, large: false,
    source: { export: "ckpt-tiny-f32", args: ["--bits", "2"] }, perplexity: "tokens" },
  { name: "onnx-f32-w4-g32", type: "onnx", kinds: ONNX_KINDS, entries: ONNX_ENTRIES, weight: 1, large: false,
    source: { export: "ckpt-tiny-f32", args: ["--bits", "4", ...G32] }, perplexity: "text" },
  { name: "onnx-f32-w8-a32", type: "onnx", kinds: ONNX_KINDS, entries: ONNX_ENTRIES, weight: 1, large: false,
    source: { export: "ckpt-tiny-f32", args: ["--bits", "8", "--activation-bits", "32"] }, perplexity: "tokens" },
  { name: "onnx-f16-w4", type: "onnx", kinds: ONNX_KINDS, entries: ONNX_ENTRIES, weight: 1, large: false,
    source: { export: "ckpt-tiny-f16-sharded", args: ["--bits", "4"] }, perplexity: "tokens" },
  { name: "onnx-f16-w2-g32-a32", type: "onnx", kinds: ONNX_KINDS, entries: ONNX_ENTRIES, weight: 1, large: false,
    source: { export: "ckpt-tiny-f16-sharded", args: ["--bits", "2", ...G32, "--activation-bits", "32"] }, perplexity: "text" },
  { name: "onnx-bf16-w8-e32", type: "onnx", kinds: ONNX_KINDS, entries: ONNX_ENTRIES, weight: 1, large: false,
    source: { export: "ckpt-tiny-bf16", args: ["--bits", "8", "--embedding-bits", "32"] }, perplexity: "tokens" },
  { name: "onnx-bf16-w4-mse", type: "onnx", kinds: ONNX_KINDS, entries: ONNX_ENTRIES, weight: 1, large: false,
    source: { export: "ckpt-tiny-bf16", args: ["--bits", "4", "--clip", "mse"] }, perplexity: "text" },
  { name: "onnx-q-f32-w2", type: "onnx", kinds: ONNX_KINDS, entries: ONNX_ENTRIES, weight: 1, large: false,
    source: { export: "q-f32-w2", args: [] }, perplexity: "tokens" },
  { name: "onnx-f32-w4-nbits", type: "onnx", kinds: ONNX_KINDS, entries: ["inspect"], weight: 0.5, large: false,
    source: { export: "ckpt-tiny-f32", args: ["--bits", "4", "--format", "nbits"] } },
  { name: "onnx-quantgpt-228", type: "onnx", kinds: ONNX_KINDS, entries: ONNX_ENTRIES, weight: 0.04, large: true,
    source: { copy: join(ROOT, "models", "quantgpt-228.onnx") }, perplexity: "text" },
  { name: "onnx-quantgpt-448", type: "onnx", kinds: ONNX_KINDS, entries: ONNX_ENTRIES, weight: 0.02, large: true,
    source: { copy: join(ROOT, "models", "quantgpt-448.onnx") }, perplexity: "tokens" },
  // Twins without the checksum, run with the CLI's option to skip it, so that structural edits also reach the
  // runtime behind the checksum instead of all stopping at a mismatch. Structural edits only: with the
  // check skipped on request, changed weight or graph bytes are the user's to vouch for (the runtime never
  // reads the graph), so byte-level fuzzing is done on the sealed files, where every changed byte must be refused.
  ...["onnx-f32-fp32", "onnx-f32-w2", "onnx-f32-w4-g32", "onnx-f16-w2-g32-a32", "onnx-bf16-w8-e32"].map((name, i): SeedSpec => ({
    name: `${name}-unsealed`, type: "onnx", kinds: ["onnx-structure"], entries: ["generate", "perplexity"], weight: 1, large: false, source: { unseal: name }, perplexity: i % 2 === 0 ? "tokens" : "text", unverified: true,
  })),
  // BART (issue 11). Checkpoints: bart-f32 is `model.`-prefixed with final_logits_bias outside it, no tied copies
  // (V 281, d 64, 2 + 2 layers, exact GELU); bart-f16 is two shards + index without the prefix, with the tied
  // copies encoder/decoder.embed_tokens.weight (V 288, d 48, 3 + 1 layers, scale_embedding); bart-bf16 is
  // prefixed (V 281, d 32, 1 + 3 layers, tanh GELU, FFN 80: group 32 does not divide it). Linear weights are
  // (out, in) on disk. Export goes to a folder (out-folder/), the only layout BART has.
  { name: "ckpt-bart-f32", type: "checkpoint", family: "bart", kinds: ["hf-config", "hf-safetensors"], entries: CKPT_ENTRIES, weight: 1, large: false,
    source: { copy: join(BART_FIXTURES, "bart-f32"), skip: NO_EXPECTED }, exportArgs: ["--bits", "2"], quantizeArgs: ["--bits", "2"] },
  { name: "ckpt-bart-f16-sharded", type: "checkpoint", family: "bart", kinds: ["hf-config", "hf-safetensors", "hf-shards"], entries: CKPT_ENTRIES, weight: 1, large: false,
    source: { copy: join(BART_FIXTURES, "bart-f16"), skip: NO_EXPECTED }, exportArgs: ["--bits", "8", "--activation-bits", "32"], quantizeArgs: ["--bits", "4"] },
  { name: "ckpt-bart-bf16", type: "checkpoint", family: "bart", kinds: ["hf-config", "hf-safetensors"], entries: CKPT_ENTRIES, weight: 1, large: false,
    source: { copy: join(BART_FIXTURES, "bart-bf16"), skip: NO_EXPECTED }, exportArgs: ["--bits", "4", ...G32], quantizeArgs: ["--bits", "8", "--embedding-bits", "32"] },
  // BART quantized checkpoints (HF names and (out, in) layout on disk, codes and scales transposed back).
  { name: "q-bart-f32-w2", type: "checkpoint", family: "bart", kinds: ["quantized-checkpoint"], entries: CKPT_ENTRIES, weight: 1, large: false,
    source: { quantize: "ckpt-bart-f32", args: ["--bits", "2"] }, exportArgs: [], quantizeArgs: [] },
  { name: "q-bart-bf16-w4-g32", type: "checkpoint", family: "bart", kinds: ["quantized-checkpoint"], entries: CKPT_ENTRIES, weight: 1, large: false,
    source: { quantize: "ckpt-bart-bf16", args: ["--bits", "4", ...G32] }, exportArgs: [], quantizeArgs: [] },
  // Hugging Face folder exports: BART's encoder_model + decoder_model_merged at four precisions, and a GPT-2 one
  // (4-bit per module, so that 4-bit files of the same checkpoint at other settings can be swapped in).
  { name: "folder-bart-f32-fp32", type: "folder", family: "bart", kinds: FOLDER_KINDS, entries: ["inspect", "summarize"], weight: 1, large: false,
    source: { export: "ckpt-bart-f32", args: ["--bits", "32"] } },
  { name: "folder-bart-q-f32-w2", type: "folder", family: "bart", kinds: FOLDER_KINDS, entries: ["inspect", "summarize"], weight: 1, large: false,
    source: { export: "q-bart-f32-w2", args: [] } },
  { name: "folder-bart-bf16-w4-g32", type: "folder", family: "bart", kinds: FOLDER_KINDS, entries: ["inspect", "summarize"], weight: 1, large: false,
    source: { export: "ckpt-bart-bf16", args: ["--bits", "4", ...G32] } },
  { name: "folder-bart-f16-w8-a32", type: "folder", family: "bart", kinds: FOLDER_KINDS, entries: ["inspect", "summarize"], weight: 1, large: false,
    source: { export: "ckpt-bart-f16-sharded", args: ["--bits", "8", "--activation-bits", "32"] } },
  { name: "folder-gpt2-f32-w4", type: "folder", family: "gpt2", kinds: FOLDER_KINDS, entries: ["inspect", "generate"], weight: 1, large: false,
    source: { export: "ckpt-tiny-f32", args: ["--bits", "4"] } },
  // Unsealed twins of two BART folders (both files format version 1), summarized with the check skipped on
  // request: structural edits that keep a file well-formed then reach the BART runtime.
  ...["folder-bart-f32-fp32", "folder-bart-q-f32-w2"].map((name): SeedSpec => ({
    name: `${name}-unsealed`, type: "folder", family: "bart", kinds: ["onnx-structure"], entries: ["summarize"], weight: 1, large: false, source: { unseal: name }, unverified: true,
  })),
];

export function seedSpec(name: string): SeedSpec {
  const s = SEEDS.find((x) => x.name === name);
  if (s === undefined) throw new Error(`no seed named ${name}`);
  return s;
}

/** Where a built seed lives: `<dir>/<name>.onnx` or the directory `<dir>/<name>` (a checkpoint or a folder export). */
export function seedPath(seedsDir: string, s: SeedSpec): string {
  return join(seedsDir, s.type === "onnx" ? `${s.name}.onnx` : s.name);
}

// ─── planning a case ────────────────────────────────────────────────────────────────────────────

export interface CasePlan {
  id: string;
  kind: Kind;
  seed: SeedSpec;
  entry: Entry;
  /** How many mutations to apply (1-3). */
  count: number;
  /** The case's random stream, positioned after the plan: the mutators draw from it next. */
  rng: Rand;
}

/** The first draws of a case: input kind (uniform), seed (by weight), entry point, number of mutations. */
export function planCase(seed: number, index: number): CasePlan {
  const rng = new Rand(caseSeed(seed, index));
  const kind = rng.pick(KINDS);
  const s = rng.weighted(SEEDS.filter((x) => x.kinds.includes(kind)).map((x) => ({ weight: x.weight, value: x })));
  const entry = rng.pick(s.entries);
  const count = rng.weighted([{ weight: 70, value: 1 }, { weight: 22, value: 2 }, { weight: 8, value: 3 }]);
  return { id: caseId(seed, index), kind, seed: s, entry, count, rng };
}

// ─── entry points ───────────────────────────────────────────────────────────────────────────────

/** Inputs `perplexity` reads, written next to the seeds. */
export function perplexityInputs(seedsDir: string): { tokens: string; text: string } {
  return { tokens: join(seedsDir, "tokens.bin"), text: join(seedsDir, "text.txt") };
}

/** The document `summarize` reads: <s> … </s> in BART's ids, below every BART seed's vocabulary. */
export const SUMMARIZE_IDS = "0,31,7,45,112,9,2";

/**
 * The argv of one entry point, run with the case directory as cwd: the input is always `input.onnx` or
 * `input/` and outputs `out.onnx` / `out-folder/` (export) or `out/` (quantize), so that stdout and written
 * files are comparable across cases.
 */
export function entryArgv(entry: Entry, s: SeedSpec, seedsDir: string): string[] {
  const input = s.type === "onnx" ? "input.onnx" : "input";
  const ppl = perplexityInputs(seedsDir);
  const extra = s.unverified ? unverifiedFlags(seedsDir)[entry] ?? [] : [];
  return [...baseArgv(entry, s, input, ppl), ...extra];
}

const flagCache = new Map<string, Partial<Record<Entry, string[]>>>();
function unverifiedFlags(seedsDir: string): Partial<Record<Entry, string[]>> {
  let f = flagCache.get(seedsDir);
  if (f === undefined) {
    try {
      f = JSON.parse(readFileSync(join(seedsDir, "flags.json"), "utf8")) as Partial<Record<Entry, string[]>>;
    } catch {
      f = {};
    }
    flagCache.set(seedsDir, f);
  }
  return f;
}

function baseArgv(entry: Entry, s: SeedSpec, input: string, ppl: { tokens: string; text: string }): string[] {
  switch (entry) {
    case "inspect": return ["inspect", input];
    case "export": return ["export", input, "-o", s.family === "bart" ? "out-folder/" : "out.onnx", ...(s.exportArgs ?? [])];
    case "quantize": return ["quantize", input, "-o", "out", ...(s.quantizeArgs ?? [])];
    case "generate": return ["generate", "--model", input, "--prompt-ids", "1,2,3", "--max-new-tokens", "2", "--json"];
    case "perplexity":
      return ["perplexity", "--model", input, ...(s.perplexity === "text" ? ["--text", ppl.text] : ["--tokens", ppl.tokens]), "--json"];
    case "summarize": return ["summarize", "--model", input, "--input-ids", SUMMARIZE_IDS, "--max-new-tokens", "4", "--num-beams", "2", "--json"];
  }
}

// ─── building ───────────────────────────────────────────────────────────────────────────────────

export type MainFn = (argv: string[]) => Promise<number>;
export type CapturedRun = (argv: string[]) => Promise<{ rc: number; stdout: string; stderr: string }>;

/**
 * Builds the seeds in table order (each source is built before it is used) into `seedsDir`. Returns,
 * per seed, undefined when it was built or the reason it was not (a seed the current code cannot make
 * is reported, and its cases become "seed-error", rather than stopping the run).
 */
export async function buildSeeds(seedsDir: string, run: CapturedRun, opts: { large: boolean; treeRoot?: string }): Promise<Map<string, string | undefined>> {
  mkdirSync(seedsDir, { recursive: true });
  const rng = new Rand(0x5eed);
  const ids = Uint16Array.from({ length: 40 }, () => rng.int(277)); // below every seed's vocabulary
  writeFileSync(perplexityInputs(seedsDir).tokens, new Uint8Array(ids.buffer));
  writeFileSync(perplexityInputs(seedsDir).text, "The quick brown fox jumps over the lazy dog. It was the best of times.\n");

  // The option each ONNX command has (if any) to load a file that carries no checksum, for the unsealed twins.
  const flags: Partial<Record<Entry, string[]>> = {};
  for (const entry of ["inspect", "generate", "perplexity", "summarize"] as const) {
    // In a child process: commander's subcommand help calls process.exit(), even under exitOverride.
    const help = spawnSync(process.execPath, ["--import", "tsx", join(opts.treeRoot ?? ROOT, "src", "cli.ts"), entry, "--help"], { cwd: ROOT, encoding: "utf8" });
    const m = /--no-verify[\w-]*/.exec(help.stdout ?? "");
    if (m !== null) flags[entry] = [m[0]];
  }
  writeFileSync(join(seedsDir, "flags.json"), JSON.stringify(flags));

  const status = new Map<string, string | undefined>();
  const order = [...SEEDS].sort((a, b) => rank(a) - rank(b)); // checkpoints, then quantized, then exports
  for (const s of order) {
    if (s.large && !opts.large) {
      status.set(s.name, "not built (small seeds only)");
      continue;
    }
    const out = seedPath(seedsDir, s);
    const src = s.source;
    const from = (name: string) => {
      const why = status.get(name);
      if (why !== undefined || !status.has(name)) throw new Error(`its source ${name} was not built: ${why}`);
      return seedPath(seedsDir, seedSpec(name));
    };
    try {
      if ("copy" in src) {
        const skip = new Set(src.skip ?? []);
        cpSync(src.copy, out, { recursive: true, filter: (f) => !skip.has(basename(f)) });
      } else if ("split" in src) {
        cpSync(from(src.split), out, { recursive: true });
        const whole = readFileSync(join(out, "model.safetensors"));
        let at = 0;
        const cuts = [...src.sizes, whole.byteLength - src.sizes.reduce((a, b) => a + b, 0)];
        cuts.forEach((n, i) => {
          writeFileSync(join(out, `model.safetensors.part-${String(i).padStart(2, "0")}`), whole.subarray(at, at + n));
          at += n;
        });
        rmSync(join(out, "model.safetensors"));
      } else if ("unseal" in src && s.type === "folder") {
        cpSync(from(src.unseal), out, { recursive: true });
        for (const f of readdirSync(join(out, "onnx")).filter((n) => n.endsWith(".onnx"))) {
          writeFileSync(join(out, "onnx", f), unseal(new Uint8Array(readFileSync(join(out, "onnx", f)))));
        }
      } else if ("unseal" in src) {
        writeFileSync(out, unseal(new Uint8Array(readFileSync(from(src.unseal)))));
      } else {
        const isExport = "export" in src;
        const to = s.type === "folder" ? `${out}/` : out;
        const argv = isExport ? ["export", from(src.export), "-o", to, ...src.args] : ["quantize", from(src.quantize), "-o", out, ...src.args];
        const r = await run(argv);
        if (r.rc !== 0) throw new Error(`lowbit ${argv.join(" ")} → exit ${r.rc}: ${r.stderr.trim().split("\n").slice(0, 3).join(" | ")}`);
      }
      status.set(s.name, undefined);
    } catch (err) {
      status.set(s.name, (err as Error).message);
    }
  }
  return status;
}

function rank(s: SeedSpec): number {
  const src = s.source;
  return "copy" in src ? 0 : "split" in src ? 1 : "quantize" in src ? 2 : "export" in src ? 3 : 4;
}
