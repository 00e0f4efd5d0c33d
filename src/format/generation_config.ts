// Generation defaults: Hugging Face's generation_config.json (read beside a checkpoint) and the lowbit ONNX
// decoder file's `lowbit.generation` metadata, both validated by the one schema here. Only the keys that
// lowbit's decoding implements are kept, with HF's names; HF's other bookkeeping keys
// (transformers_version, _from_model_config, output_scores, ...) are accepted and dropped. Keys that would
// change the result in ways lowbit does not implement (diverse beam search, bad_words_ids, ...) are refused
// unless they hold HF's neutral value, so a file never decodes differently here than in transformers.
// Defaults for absent keys are the decoder's business (src/runtime/generation.ts), as HF's GenerationConfig.

import { LowbitError } from "../errors.js";
import { MAX_TOKEN_ID } from "./bpe_files.js";
import { bool, describeValue, intIn, numberIn, parseOrThrow, v } from "./schema.js";

/** Upper limits: far above any real setting, low enough that nothing a file says allocates unboundedly. */
export const GENERATION_LIMITS = {
  num_beams: 256,
  length: 1 << 20,
  no_repeat_ngram_size: 1 << 10,
  top_k: 1 << 20,
} as const;

/** The generation settings lowbit implements, as generation_config.json names them; absent = HF's default. */
export interface GenerationDefaults {
  num_beams?: number;
  length_penalty?: number;
  early_stopping?: boolean | "never";
  no_repeat_ngram_size?: number;
  min_length?: number;
  max_length?: number;
  max_new_tokens?: number;
  repetition_penalty?: number;
  do_sample?: boolean;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  decoder_start_token_id?: number;
  bos_token_id?: number;
  /** HF allows a list; lowbit takes a list of one (as its value) and refuses longer ones. */
  eos_token_id?: number;
  pad_token_id?: number;
  /** null: no forced token (kept, unlike other nulls, since it overrides a model config's value). */
  forced_bos_token_id?: number | null;
  forced_eos_token_id?: number | null;
}

const tokenId = intIn(0, MAX_TOKEN_ID);
const length = intIn(0, GENERATION_LIMITS.length);
// null is HF's "unset" (GenerationConfig's default None) for every key: nullish, then dropped below.
const n = <S extends v.GenericSchema>(s: S) => v.nullish(s);

const GenerationSchema = v.looseObject({
  num_beams: n(intIn(1, GENERATION_LIMITS.num_beams)),
  length_penalty: n(numberIn(-1000, 1000)),
  early_stopping: n(v.union([bool(), v.literal("never")], 'true, false or "never"')),
  no_repeat_ngram_size: n(intIn(0, GENERATION_LIMITS.no_repeat_ngram_size)),
  min_length: n(length),
  max_length: n(length),
  max_new_tokens: n(intIn(1, GENERATION_LIMITS.length)),
  repetition_penalty: n(numberIn(0, 1000, { openMin: true })),
  do_sample: n(bool()),
  temperature: n(numberIn(0, 1000)),
  top_k: n(intIn(0, GENERATION_LIMITS.top_k)),
  top_p: n(numberIn(0, 1)),
  decoder_start_token_id: n(tokenId),
  bos_token_id: n(tokenId),
  eos_token_id: n(v.union([tokenId, v.array(tokenId)], `an integer in 0..${MAX_TOKEN_ID} or a list of one`)),
  pad_token_id: n(tokenId),
  forced_bos_token_id: n(tokenId),
  forced_eos_token_id: n(v.union([tokenId, v.array(tokenId)], `an integer in 0..${MAX_TOKEN_ID} or a list of one`)),
}, "a JSON object");

/** Settings lowbit's decoding does not implement: allowed only absent, null, or at HF's neutral value. */
const NEUTRAL: Record<string, unknown> = {
  num_beam_groups: 1,
  diversity_penalty: 0,
  min_new_tokens: null,
  encoder_no_repeat_ngram_size: 0,
  encoder_repetition_penalty: 1,
  bad_words_ids: null,
  force_words_ids: null,
  suppress_tokens: null,
  begin_suppress_tokens: null,
  sequence_bias: null,
  exponential_decay_length_penalty: null,
  typical_p: 1,
  epsilon_cutoff: 0,
  eta_cutoff: 0,
  min_p: null,
  penalty_alpha: null,
  guidance_scale: null,
  renormalize_logits: false,
  constraints: null,
  max_time: null,
  stop_strings: null,
};

const KEYS = [
  "num_beams", "length_penalty", "early_stopping", "no_repeat_ngram_size", "min_length", "max_length", "max_new_tokens",
  "repetition_penalty", "do_sample", "temperature", "top_k", "top_p", "decoder_start_token_id", "bos_token_id",
  "eos_token_id", "pad_token_id", "forced_bos_token_id", "forced_eos_token_id",
] as const;

/** One id from HF's `int | list[int]`: a list of one is its value; a longer one lowbit cannot honour. */
function singleId(value: number | number[], key: string, file: string, field?: string): number {
  if (typeof value === "number") return value;
  if (value.length === 1) return value[0];
  const path = field === undefined ? key : `${field}.${key}`;
  throw new LowbitError(`${path} lists ${value.length === 0 ? "no" : "several"} tokens`, {
    file, expected: "one token id (lowbit stops on one end token)", found: describeValue(value),
  });
}

/**
 * Validates a generation_config.json object (or `lowbit.generation` metadata, with `field` naming it) and
 * keeps the keys lowbit implements. Token ids are checked against the vocabulary by checkGenerationTokens.
 */
export function parseGenerationConfig(raw: unknown, file: string, field?: string): GenerationDefaults {
  // valibot's object schemas take an array as an object of index keys; the format wants an object.
  if (Array.isArray(raw)) throw new LowbitError(field === undefined ? "bad value" : `bad value for ${field}`, { file, expected: "a JSON object", found: describeValue(raw) });
  const g = parseOrThrow(GenerationSchema, raw, { file, field }) as Record<string, unknown>;
  for (const [key, neutral] of Object.entries(NEUTRAL)) {
    const value = g[key];
    if (value === undefined || value === null || JSON.stringify(value) === JSON.stringify(neutral)) continue;
    throw new LowbitError(`${field === undefined ? key : `${field}.${key}`} is not supported`, {
      file, expected: neutral === null ? "absent or null" : `${JSON.stringify(neutral)} (or absent)`, found: describeValue(value),
      hint: "lowbit implements greedy, sampling and beam search with the usual processors only",
    });
  }
  const out: Record<string, unknown> = {};
  for (const key of KEYS) {
    const value = g[key];
    if (value === undefined) continue;
    if (value === null) {
      if (key === "forced_bos_token_id" || key === "forced_eos_token_id") out[key] = null;
      continue;
    }
    out[key] = key === "eos_token_id" || key === "forced_eos_token_id" ? singleId(value as number | number[], key, file, field) : value;
  }
  return out as GenerationDefaults;
}

/** Every token id of the settings lies inside the model's vocabulary. */
export function checkGenerationTokens(g: GenerationDefaults, vocabSize: number, file: string, field?: string): void {
  for (const key of ["decoder_start_token_id", "bos_token_id", "eos_token_id", "pad_token_id", "forced_bos_token_id", "forced_eos_token_id"] as const) {
    const id = g[key];
    if (id !== undefined && id !== null && id >= vocabSize) {
      throw new LowbitError(`${field === undefined ? key : `${field}.${key}`} is outside the vocabulary`, { file, expected: `an id below vocab_size ${vocabSize}`, found: String(id) });
    }
  }
}
