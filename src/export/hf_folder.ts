// The Hugging Face folder export (DESIGN.md "The ONNX file", CONTRACT.md "Files"): the layout Optimum
// writes and transformers.js loads, for both families.
//
//   <dir>/onnx/model{suffix}.onnx                                            GPT-2
//   <dir>/onnx/encoder_model{suffix}.onnx + onnx/decoder_model_merged{suffix}.onnx   BART
//   <dir>/config.json             HF config (from the validated lowbit config) + "transformers.js_config": {"dtype"}
//   <dir>/generation_config.json  generation defaults and special token ids
//   <dir>/tokenizer.json, tokenizer_config.json   (tokenizer_json.ts)
//
// suffix by weight bits, as transformers.js names dtypes (src/format/hf_layout.ts): fp32 "", 8-bit
// "_quantized" (q8), 4-bit "_q4", 2-bit "_q2". The ONNX files are the same self-describing lowbit files as
// the single-file export (metadata, tokenizer and checksum inside); the JSON files are for other runtimes.
//
// Writing is all-or-nothing as far as a loader can tell: config.json, without which nothing loads the
// folder, is written last. A new folder is built beside its final path under a hidden temporary name and
// renamed into place; an existing folder (another precision of the same model, say) loses its config.json
// first and gets it back last, every file going in by temporary file + rename. An interrupted export thus
// leaves either a hidden temporary folder or a folder without config.json, never one that looks complete.

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { LowbitError } from "../errors.js";
import type { BartConfig } from "../format/bart_config.js";
import type { Gpt2Config } from "../format/gpt2_config.js";
import { dtypeForBits, onnxFiles, type Dtype } from "../format/hf_layout.js";
import { writeFileAtomic } from "./atomic_write.js";
import type { BartCheckpoint, Checkpoint, Gpt2Checkpoint } from "./checkpoint.js";
import { exportBart, exportGpt2, type ExportOptions } from "./export.js";
import type { CompressionReport } from "./report.js";
import { tokenizerConfigJson, tokenizerJson } from "./tokenizer_json.js";

export interface FolderFile {
  /** Relative to the folder, "/"-separated. */
  path: string;
  data: Uint8Array | string;
}

export interface FolderExport {
  dtype: Dtype;
  /** In writing order: config.json last. */
  files: FolderFile[];
  report: CompressionReport;
}

// ─── contents ───────────────────────────────────────────────────────────────────────────────────

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** config.json: the model's hyperparameters under Hugging Face's names, plus the dtype transformers.js loads. */
export function hfConfig(config: Gpt2Config | BartConfig, dtype: Dtype): Record<string, unknown> {
  const untrained = config.untrained === true ? { lowbit_untrained: true } : {};
  const tjs = { "transformers.js_config": { dtype } };
  if (config.model_type === "gpt2") {
    return {
      architectures: ["GPT2LMHeadModel"],
      model_type: "gpt2",
      vocab_size: config.vocab_size,
      n_positions: config.n_positions,
      n_ctx: config.n_positions,
      n_embd: config.n_embd,
      n_layer: config.n_layer,
      n_head: config.n_head,
      n_inner: config.n_inner,
      activation_function: config.activation_function,
      layer_norm_epsilon: config.layer_norm_epsilon,
      tie_word_embeddings: config.tie_word_embeddings,
      bos_token_id: config.bos_token_id,
      eos_token_id: config.eos_token_id,
      use_cache: true,
      ...untrained,
      ...tjs,
    };
  }
  return {
    architectures: ["BartForConditionalGeneration"],
    model_type: "bart",
    is_encoder_decoder: true,
    vocab_size: config.vocab_size,
    d_model: config.d_model,
    encoder_layers: config.encoder_layers,
    decoder_layers: config.decoder_layers,
    encoder_attention_heads: config.encoder_attention_heads,
    decoder_attention_heads: config.decoder_attention_heads,
    encoder_ffn_dim: config.encoder_ffn_dim,
    decoder_ffn_dim: config.decoder_ffn_dim,
    max_position_embeddings: config.max_position_embeddings,
    activation_function: config.activation_function,
    scale_embedding: config.scale_embedding,
    pad_token_id: config.pad_token_id,
    bos_token_id: config.bos_token_id,
    eos_token_id: config.eos_token_id,
    decoder_start_token_id: config.decoder_start_token_id,
    forced_bos_token_id: config.forced_bos_token_id,
    forced_eos_token_id: config.forced_eos_token_id,
    tie_word_embeddings: true,
    use_cache: true,
    ...untrained,
    ...tjs,
  };
}

/** generation_config.json: the checkpoint's generation defaults (BART), with the config's token ids where they lack them. */
export function hfGenerationConfig(ckpt: Checkpoint): Record<string, unknown> {
  const c = ckpt.config;
  if (c.model_type === "gpt2") return { bos_token_id: c.bos_token_id, eos_token_id: c.eos_token_id };
  const g = (ckpt as BartCheckpoint).generation ?? {};
  return {
    bos_token_id: c.bos_token_id,
    eos_token_id: c.eos_token_id,
    pad_token_id: c.pad_token_id,
    decoder_start_token_id: c.decoder_start_token_id,
    forced_bos_token_id: c.forced_bos_token_id,
    forced_eos_token_id: c.forced_eos_token_id,
    ...g,
  };
}

/** Every file of the folder export of a checkpoint (plain or quantized), with the compression report. */
export function buildFolderExport(ckpt: Checkpoint, opts: ExportOptions): FolderExport {
  const c = ckpt.config;
  let onnx: FolderFile[];
  let report: CompressionReport;
  let dtype: Dtype;
  if (c.model_type === "gpt2") {
    const r = exportGpt2(ckpt as Gpt2Checkpoint, opts);
    report = r.report;
    dtype = dtypeForBits(report.quantization.weight_bits);
    onnx = [{ path: onnxFiles("gpt2", dtype).model!, data: r.bytes }];
  } else {
    const r = exportBart(ckpt as BartCheckpoint, opts);
    report = r.report;
    dtype = dtypeForBits(report.quantization.weight_bits);
    const names = onnxFiles("bart", dtype);
    onnx = [{ path: names.encoder!, data: r.encoder }, { path: names.decoder!, data: r.decoder }];
    report.files = [{ file: names.encoder!, bytes: r.encoder.byteLength }, { file: names.decoder!, bytes: r.decoder.byteLength }];
  }
  const family = c.model_type;
  const maxLength = c.model_type === "gpt2" ? c.n_positions : c.max_position_embeddings;
  return {
    dtype,
    report,
    files: [
      ...onnx,
      { path: "generation_config.json", data: json(hfGenerationConfig(ckpt)) },
      { path: "tokenizer.json", data: tokenizerJson(ckpt.tokenizer, family) },
      { path: "tokenizer_config.json", data: tokenizerConfigJson(ckpt.tokenizer, family, maxLength) },
      { path: "config.json", data: json(hfConfig(c, dtype)) },
    ],
  };
}

// ─── writing ────────────────────────────────────────────────────────────────────────────────────

/** Whether `-o PATH` asks for the folder layout: a path ending in a separator, or an existing directory. */
export function isFolderOutput(path: string): boolean {
  if (path.endsWith("/") || path.endsWith("\\")) return true;
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Writes the files into `dir` so that no interruption leaves a folder that looks complete (see the header). */
export function writeFolder(dir: string, files: FolderFile[]): void {
  const target = resolve(dir);
  const ordered = [...files.filter((f) => f.path !== "config.json"), ...files.filter((f) => f.path === "config.json")];
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new LowbitError("output exists and is not a directory", { file: dir, expected: "a folder or a new path" });
    refuseCheckpointFolder(target, dir);
    rmSync(join(target, "config.json"), { force: true });
    syncDirectory(target);
    writeFiles(target, ordered);
    return;
  }
  const parent = dirname(target);
  try {
    mkdirSync(parent, { recursive: true });
  } catch (err) {
    throw new LowbitError("cannot create the output folder", { file: parent, found: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
  const staging = join(parent, `.${basename(target)}.tmp-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  try {
    mkdirSync(staging);
    writeFiles(staging, ordered);
    renameSync(staging, target);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (err instanceof LowbitError) throw err;
    throw new LowbitError("cannot write the output folder", { file: dir, found: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
  syncDirectory(parent);
}

function writeFiles(root: string, files: FolderFile[]): void {
  for (const f of files) {
    const path = join(root, ...f.path.split("/"));
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (err) {
      throw new LowbitError("cannot write output", { file: dirname(path), found: (err as NodeJS.ErrnoException).code ?? String(err) });
    }
    writeFileAtomic(path, f.data);
  }
}

/** A checkpoint directory (weights in safetensors) is input, never output: its config.json would be replaced. */
function refuseCheckpointFolder(target: string, dir: string): void {
  const weights = readdirSync(target).filter((name) => name.endsWith(".safetensors") || name === "model.safetensors.index.json");
  if (weights.length > 0) {
    throw new LowbitError("output folder holds a checkpoint", {
      file: dir, expected: "a new or export folder", found: weights.slice(0, 3).join(", "), hint: "export to another folder",
    });
  }
}

/** Makes renames and removals in a directory durable (best effort: not every platform can open a directory). */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Windows cannot fsync a directory; the renames are still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
