// The GPT-2 model config, as Hugging Face's config.json gives it and as the lowbit ONNX file's
// `lowbit.config` stores it, with its validator and the tensor shapes it implies. Both the exporter and the
// runtime read this; it is not a reader of files itself.
//
// Letters: V vocab, P positions (context), C n_embd, L layers, NH heads, HS = C / NH, F n_inner.

import { LowbitError } from "../errors.js";
import { bool, intIn, numberIn, oneOf, parseOrThrow, v } from "./schema.js";

/**
 * Hard upper limits on config values. They are far above any GPT-2 (124M: L 12, C 768, V 50257, P 1024;
 * 1.5B: L 48, C 1600) and keep a hostile config from looping or allocating unboundedly before the tensors,
 * which must then match, are even looked at.
 */
export const GPT2_LIMITS = {
  vocab_size: 1 << 20,
  n_positions: 1 << 17,
  n_embd: 1 << 14,
  n_layer: 256,
  n_head: 256,
  n_inner: 1 << 16,
} as const;

const TANH_GELUS = ["gelu_new", "gelu_pytorch_tanh"] as const;

/** The GPT-2 hyperparameters lowbit uses, with Hugging Face's names. */
export interface Gpt2Config {
  model_type: "gpt2";
  vocab_size: number; // V
  n_positions: number; // P: the context length
  n_embd: number; // C
  n_layer: number; // L
  n_head: number; // NH
  n_inner: number; // F: MLP width, 4C unless set
  layer_norm_epsilon: number;
  activation_function: (typeof TANH_GELUS)[number];
  tie_word_embeddings: boolean;
  bos_token_id: number;
  eos_token_id: number;
  /** Set (from `lowbit_untrained` in config.json) on test models with random weights, so runtimes can say so. */
  untrained?: boolean;
}

const shapeKeys = {
  vocab_size: intIn(1, GPT2_LIMITS.vocab_size),
  n_positions: intIn(1, GPT2_LIMITS.n_positions),
  n_embd: intIn(1, GPT2_LIMITS.n_embd),
  n_layer: intIn(1, GPT2_LIMITS.n_layer),
  n_head: intIn(1, GPT2_LIMITS.n_head),
};
const tokenId = intIn(0, GPT2_LIMITS.vocab_size - 1);
const epsilon = numberIn(0, 1, { openMin: true });

/** Hugging Face's config.json: loose (other keys are HF's business), optional keys with HF's defaults. */
const HfGpt2ConfigSchema = v.looseObject({
  model_type: v.optional(v.literal("gpt2", "gpt2")),
  ...shapeKeys,
  n_inner: v.nullish(intIn(1, GPT2_LIMITS.n_inner)),
  layer_norm_epsilon: v.optional(epsilon),
  activation_function: v.optional(oneOf(TANH_GELUS)),
  tie_word_embeddings: v.optional(bool()),
  // Absent means GPT-2's default (vocab_size − 1, which is GPT-2's 50256); null would mean "no such token"
  // to Hugging Face, which lowbit's generation does not model, so it is refused rather than guessed.
  bos_token_id: v.optional(tokenId),
  eos_token_id: v.optional(tokenId),
  // GPT-2 variants lowbit's forward does not implement: refused rather than run wrongly.
  scale_attn_by_inverse_layer_idx: v.optional(v.literal(false, "false (not supported)")),
  reorder_and_upcast_attn: v.optional(v.literal(false, "false (not supported)")),
  scale_attn_weights: v.optional(v.literal(true, "true (not supported otherwise)")),
  lowbit_untrained: v.optional(bool()),
}, "a JSON object");

/** `lowbit.config` in a lowbit ONNX file: exactly what the exporter writes, every key present. */
const StoredGpt2ConfigSchema = v.strictObject(
  {
    model_type: v.literal("gpt2", "gpt2"),
    ...shapeKeys,
    n_inner: intIn(1, GPT2_LIMITS.n_inner),
    layer_norm_epsilon: epsilon,
    activation_function: oneOf(TANH_GELUS),
    tie_word_embeddings: bool(),
    bos_token_id: tokenId,
    eos_token_id: tokenId,
    untrained: v.optional(v.literal(true, "true or absent")),
  },
  "an object with only the keys lowbit writes",
);

/** Checks across keys that a schema of single keys cannot: head size, token ids inside the vocabulary. */
function checkConsistent(c: Gpt2Config, file: string): Gpt2Config {
  if (c.n_embd % c.n_head !== 0) {
    throw new LowbitError("n_embd is not a multiple of n_head", { file, expected: "n_embd % n_head == 0", found: `${c.n_embd} % ${c.n_head} = ${c.n_embd % c.n_head}` });
  }
  for (const key of ["bos_token_id", "eos_token_id"] as const) {
    if (c[key] >= c.vocab_size) throw new LowbitError(`${key} is outside the vocabulary`, { file, expected: `an id below vocab_size ${c.vocab_size}`, found: String(c[key]) });
  }
  return c;
}

/** Validates a Hugging Face config.json object and fills in GPT-2's defaults. */
export function parseHfGpt2Config(raw: unknown, file: string): Gpt2Config {
  const c = parseOrThrow(HfGpt2ConfigSchema, raw, { file });
  const eos = c.eos_token_id ?? c.vocab_size - 1;
  return checkConsistent({
    model_type: "gpt2",
    vocab_size: c.vocab_size,
    n_positions: c.n_positions,
    n_embd: c.n_embd,
    n_layer: c.n_layer,
    n_head: c.n_head,
    n_inner: c.n_inner ?? 4 * c.n_embd,
    layer_norm_epsilon: c.layer_norm_epsilon ?? 1e-5,
    activation_function: c.activation_function ?? "gelu_new",
    tie_word_embeddings: c.tie_word_embeddings ?? true,
    bos_token_id: c.bos_token_id ?? eos,
    eos_token_id: eos,
    ...(c.lowbit_untrained === true ? { untrained: true } : {}),
  }, file);
}

/** Validates the `lowbit.config` metadata of a lowbit ONNX file. */
export function parseStoredGpt2Config(raw: unknown, file: string): Gpt2Config {
  return checkConsistent(parseOrThrow(StoredGpt2ConfigSchema, raw, { file, field: "lowbit.config" }), file);
}

// ─── tensors the config implies ─────────────────────────────────────────────────────────────────

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

/** Weights that may be quantized, and which axis is their input (contracted) axis. */
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
