// The BART config (BartForConditionalGeneration), as Hugging Face's config.json gives it and as a lowbit
// ONNX file's `lowbit.config` stores it, with its validator and the tensor shapes it implies. Both the
// exporter and the runtime read this; it is not a reader of files itself. Also the family dispatch
// (GPT-2 or BART) that the manifest checker, the checkpoint reader and the quantizer share.
//
// Letters: V vocab, P max_position_embeddings, d d_model, L_e / L_d encoder / decoder layers,
// F_e / F_d FFN widths. Linear weights are input-major (K, N) in lowbit: HF's nn.Linear (out, in) transposed.

import { LowbitError } from "../errors.js";
import type { BpeFiles } from "./bpe_files.js";
import { expectedShapes, isEmbeddingWeight, quantizedWeightAxes, type Gpt2Config } from "./gpt2_config.js";
import type { GenerationDefaults } from "./generation_config.js";
import { bool, intIn, numberIn, oneOf, parseOrThrow, v } from "./schema.js";

/**
 * Hard upper limits on config values, far above any BART (bart-large: 12 + 12 layers, d 1024, 16 heads,
 * FFN 4096, V 50265, P 1024); they keep a hostile config from looping or allocating before the tensors,
 * which must then match, are even looked at.
 */
export const BART_LIMITS = {
  vocab_size: 1 << 20,
  max_position_embeddings: 1 << 17,
  d_model: 1 << 14,
  encoder_layers: 256,
  decoder_layers: 256,
  encoder_attention_heads: 256,
  decoder_attention_heads: 256,
  encoder_ffn_dim: 1 << 16,
  decoder_ffn_dim: 1 << 16,
} as const;

/** BART's learned positions start at row 2 (fairseq's padding offset): position p uses row p + 2. */
export const BART_POSITION_OFFSET = 2;

/** BART has no config key for it: nn.LayerNorm's default. */
export const BART_LAYER_NORM_EPSILON = 1e-5;

const ACTIVATIONS = ["gelu", "gelu_new"] as const;

/** The BART hyperparameters lowbit uses, with Hugging Face's names. */
export interface BartConfig {
  model_type: "bart";
  vocab_size: number; // V
  d_model: number; // d
  encoder_layers: number; // L_e
  decoder_layers: number; // L_d
  encoder_attention_heads: number;
  decoder_attention_heads: number;
  encoder_ffn_dim: number; // F_e
  decoder_ffn_dim: number; // F_d
  max_position_embeddings: number; // P: the positions tables hold P + 2 rows
  /** "gelu": exact erf GELU (HF's nn.GELU); "gelu_new": the tanh approximation. */
  activation_function: (typeof ACTIVATIONS)[number];
  /** Token embeddings times sqrt(d) before the positions are added. */
  scale_embedding: boolean;
  layer_norm_epsilon: number;
  pad_token_id: number;
  bos_token_id: number;
  eos_token_id: number;
  decoder_start_token_id: number;
  /** null: no forced first token. */
  forced_bos_token_id: number | null;
  /** null: no forced end token at max_length. */
  forced_eos_token_id: number | null;
  tie_word_embeddings: true;
  /** Set (from `lowbit_untrained` in config.json) on test models with random weights. */
  untrained?: true;
}

const shapeKeys = {
  vocab_size: intIn(1, BART_LIMITS.vocab_size),
  d_model: intIn(1, BART_LIMITS.d_model),
  encoder_layers: intIn(1, BART_LIMITS.encoder_layers),
  decoder_layers: intIn(1, BART_LIMITS.decoder_layers),
  encoder_attention_heads: intIn(1, BART_LIMITS.encoder_attention_heads),
  decoder_attention_heads: intIn(1, BART_LIMITS.decoder_attention_heads),
  encoder_ffn_dim: intIn(1, BART_LIMITS.encoder_ffn_dim),
  decoder_ffn_dim: intIn(1, BART_LIMITS.decoder_ffn_dim),
  max_position_embeddings: intIn(1, BART_LIMITS.max_position_embeddings),
};
const tokenId = intIn(0, BART_LIMITS.vocab_size - 1);
const epsilon = numberIn(0, 1, { openMin: true });

/** Keys of pre-4.0 BART configs (fairseq-style variants): accepted only at the value plain BART has. */
const bartOnly = <T extends boolean | number>(value: T) => v.optional(v.literal(value, `${value} (lowbit runs plain BART only)`));

/** Hugging Face's config.json: loose (other keys are HF's business), optional keys with BART's defaults. */
const HfBartConfigSchema = v.looseObject({
  model_type: v.literal("bart", "bart (BartForConditionalGeneration; mBART and other variants are not supported)"),
  ...shapeKeys,
  activation_function: v.optional(oneOf(ACTIVATIONS)),
  scale_embedding: v.optional(bool()),
  tie_word_embeddings: v.optional(v.literal(true, "true (lowbit ties the LM head to shared.weight; untied BART is not supported)")),
  pad_token_id: v.optional(tokenId),
  bos_token_id: v.optional(tokenId),
  eos_token_id: v.optional(tokenId),
  decoder_start_token_id: v.optional(tokenId),
  forced_bos_token_id: v.nullish(tokenId),
  forced_eos_token_id: v.nullish(tokenId),
  // Variants the forward does not implement: refused rather than run wrongly.
  normalize_before: bartOnly(false),
  add_final_layer_norm: bartOnly(false),
  add_bias_logits: bartOnly(false),
  normalize_embedding: bartOnly(true),
  static_position_embeddings: bartOnly(false),
  extra_pos_embeddings: bartOnly(BART_POSITION_OFFSET),
  lowbit_untrained: v.optional(bool()),
}, "a JSON object");

/** `lowbit.config` in a lowbit ONNX file: exactly what the exporter writes, every key present. */
const StoredBartConfigSchema = v.strictObject(
  {
    model_type: v.literal("bart", "bart"),
    ...shapeKeys,
    activation_function: oneOf(ACTIVATIONS),
    scale_embedding: bool(),
    layer_norm_epsilon: epsilon,
    pad_token_id: tokenId,
    bos_token_id: tokenId,
    eos_token_id: tokenId,
    decoder_start_token_id: tokenId,
    forced_bos_token_id: v.nullable(tokenId),
    forced_eos_token_id: v.nullable(tokenId),
    tie_word_embeddings: v.literal(true, "true"),
    untrained: v.optional(v.literal(true, "true or absent")),
  },
  "an object with only the keys lowbit writes",
);

const TOKEN_KEYS = ["pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id", "forced_bos_token_id", "forced_eos_token_id"] as const;

/** Checks across keys that a schema of single keys cannot: head sizes, token ids inside the vocabulary. */
function checkConsistent(c: BartConfig, file: string): BartConfig {
  for (const side of ["encoder", "decoder"] as const) {
    const heads = c[`${side}_attention_heads`];
    if (c.d_model % heads !== 0) {
      throw new LowbitError(`d_model is not a multiple of ${side}_attention_heads`, {
        file, expected: `d_model % ${side}_attention_heads == 0`, found: `${c.d_model} % ${heads} = ${c.d_model % heads}`,
      });
    }
  }
  for (const key of TOKEN_KEYS) {
    const id = c[key];
    if (id !== null && id >= c.vocab_size) throw new LowbitError(`${key} is outside the vocabulary`, { file, expected: `an id below vocab_size ${c.vocab_size}`, found: String(id) });
  }
  return c;
}

/**
 * Validates a Hugging Face config.json object and fills in BART's defaults. Token ids that config.json
 * leaves out are taken from generation_config.json when the caller has read it (transformers 5 keeps
 * forced_bos_token_id only there), else BART's defaults.
 */
export function parseHfBartConfig(raw: unknown, file: string, generation?: GenerationDefaults): BartConfig {
  const c = parseOrThrow(HfBartConfigSchema, raw, { file });
  const g = generation ?? {};
  return checkConsistent({
    model_type: "bart",
    vocab_size: c.vocab_size,
    d_model: c.d_model,
    encoder_layers: c.encoder_layers,
    decoder_layers: c.decoder_layers,
    encoder_attention_heads: c.encoder_attention_heads,
    decoder_attention_heads: c.decoder_attention_heads,
    encoder_ffn_dim: c.encoder_ffn_dim,
    decoder_ffn_dim: c.decoder_ffn_dim,
    max_position_embeddings: c.max_position_embeddings,
    activation_function: c.activation_function ?? "gelu",
    scale_embedding: c.scale_embedding ?? false,
    layer_norm_epsilon: BART_LAYER_NORM_EPSILON,
    pad_token_id: c.pad_token_id ?? g.pad_token_id ?? 1,
    bos_token_id: c.bos_token_id ?? g.bos_token_id ?? 0,
    eos_token_id: c.eos_token_id ?? g.eos_token_id ?? 2,
    decoder_start_token_id: c.decoder_start_token_id ?? g.decoder_start_token_id ?? 2,
    // undefined: the key is absent, so look further; null: the file says "none".
    forced_bos_token_id: c.forced_bos_token_id !== undefined ? c.forced_bos_token_id : g.forced_bos_token_id ?? null,
    forced_eos_token_id: c.forced_eos_token_id !== undefined ? c.forced_eos_token_id : g.forced_eos_token_id !== undefined ? g.forced_eos_token_id : 2,
    tie_word_embeddings: true,
    ...(c.lowbit_untrained === true ? { untrained: true as const } : {}),
  }, file);
}

/** Validates the `lowbit.config` metadata of a lowbit ONNX file. */
export function parseStoredBartConfig(raw: unknown, file: string): BartConfig {
  return checkConsistent(parseOrThrow(StoredBartConfigSchema, raw, { file, field: "lowbit.config" }), file);
}

// ─── tensors the config implies ─────────────────────────────────────────────────────────────────

export type BartPart = "encoder" | "decoder";

const ATTENTION_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "out_proj"] as const;

/**
 * Every tensor of a BART checkpoint (canonical names: no `model.` prefix), with its lowbit shape (linear
 * weights (K, N)). `part` narrows to one ONNX file's tensors: the encoder's are `shared.weight` +
 * `encoder.*`, the decoder's `shared.weight`, `final_logits_bias` + `decoder.*`; no part: all of them.
 */
export function bartExpectedShapes(c: BartConfig, part?: BartPart): Map<string, number[]> {
  const d = c.d_model;
  const shapes = new Map<string, number[]>([["shared.weight", [c.vocab_size, d]]]);
  if (part !== "encoder") shapes.set("final_logits_bias", [1, c.vocab_size]);
  for (const side of ["encoder", "decoder"] as const) {
    if (part !== undefined && part !== side) continue;
    const layers = side === "encoder" ? c.encoder_layers : c.decoder_layers;
    const F = side === "encoder" ? c.encoder_ffn_dim : c.decoder_ffn_dim;
    shapes.set(`${side}.embed_positions.weight`, [c.max_position_embeddings + BART_POSITION_OFFSET, d]);
    shapes.set(`${side}.layernorm_embedding.weight`, [d]).set(`${side}.layernorm_embedding.bias`, [d]);
    for (let l = 0; l < layers; l++) {
      const p = `${side}.layers.${l}.`;
      const attention = (block: string) => {
        for (const m of ATTENTION_PROJECTIONS) shapes.set(`${p}${block}.${m}.weight`, [d, d]).set(`${p}${block}.${m}.bias`, [d]);
        shapes.set(`${p}${block}_layer_norm.weight`, [d]).set(`${p}${block}_layer_norm.bias`, [d]);
      };
      attention("self_attn");
      if (side === "decoder") attention("encoder_attn");
      shapes.set(`${p}fc1.weight`, [d, F]).set(`${p}fc1.bias`, [F]);
      shapes.set(`${p}fc2.weight`, [F, d]).set(`${p}fc2.bias`, [d]);
      shapes.set(`${p}final_layer_norm.weight`, [d]).set(`${p}final_layer_norm.bias`, [d]);
    }
  }
  return shapes;
}

/**
 * Weights that may be quantized, and which axis is their input (contracted) axis: 1 for the embedding
 * (V, d), 0 for every linear weight (K, N). Axis 0 is exactly the set of HF nn.Linear weights, which the
 * checkpoint reader transposes.
 */
export function bartQuantizedWeightAxes(c: BartConfig, part?: BartPart): Map<string, 0 | 1> {
  const axes = new Map<string, 0 | 1>([["shared.weight", 1]]);
  for (const [name, shape] of bartExpectedShapes(c, part)) {
    if (shape.length === 2 && /\.(q_proj|k_proj|v_proj|out_proj|fc1|fc2)\.weight$/.test(name)) axes.set(name, 0);
  }
  return axes;
}

/** The shared token embedding (also the LM head) takes embedding_bits; linear weights take weight_bits. */
export function isBartEmbeddingWeight(name: string): boolean {
  return name === "shared.weight";
}

// ─── the tokenizer it needs ─────────────────────────────────────────────────────────────────────

/**
 * A BART model's vocab.json is BART's (<s>, <pad>, </s>, <unk>), with the ids its config gives them:
 * GPT-2's vocabulary, or another model's, would tokenize into ids this model never learned. `where` names
 * the vocabulary in errors (a vocab.json, or a model file's metadata).
 */
export function checkBartTokenizer(bpe: BpeFiles, c: BartConfig, where: string): void {
  const bart = ["<s>", "<pad>", "</s>", "<unk>"];
  if (bpe.layout !== "bart") {
    throw new LowbitError("not a BART vocabulary", {
      file: where, expected: `${bart.join(", ")} entries (BART's tokenizer)`, found: `no ${bart.filter((t) => !bpe.vocab.has(t)).join(", ")}`,
      hint: "use the model's own vocab.json and merges.txt",
    });
  }
  const pairs = [["bos_token_id", "<s>", bpe.bosTokenId], ["pad_token_id", "<pad>", bpe.padTokenId], ["eos_token_id", "</s>", bpe.eosTokenId]] as const;
  for (const [key, token, id] of pairs) {
    if (id !== c[key]) {
      throw new LowbitError(`${token} in the vocabulary is not the config's ${key}`, { file: where, expected: `id ${c[key]}`, found: `id ${id}`, hint: "the tokenizer and the model must come from the same checkpoint" });
    }
  }
}

// ─── both families ──────────────────────────────────────────────────────────────────────────────

export type ModelConfig = Gpt2Config | BartConfig;

/** The tensors a config implies (a BART `part` narrows to one ONNX file's; GPT-2 has no parts). */
export function modelExpectedShapes(c: ModelConfig, part?: BartPart): Map<string, number[]> {
  return c.model_type === "bart" ? bartExpectedShapes(c, part) : expectedShapes(c);
}

export function modelQuantizedWeightAxes(c: ModelConfig, part?: BartPart): Map<string, 0 | 1> {
  return c.model_type === "bart" ? bartQuantizedWeightAxes(c, part) : quantizedWeightAxes(c);
}

export function isModelEmbeddingWeight(c: ModelConfig, name: string): boolean {
  return c.model_type === "bart" ? isBartEmbeddingWeight(name) : isEmbeddingWeight(name);
}
