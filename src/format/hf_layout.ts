// The Hugging Face folder layout that Optimum writes and transformers.js loads, as lowbit uses it for both
// families: which ONNX files a folder holds for a model type and precision, the file-name suffix of each
// precision (transformers.js's dtype names), and the two keys of the folder's config.json that pick them.
// The exporter writes folders by this table and the runtime reads them by it.

import { LowbitError } from "../errors.js";
import type { WeightBits } from "./quant_formats.js";
import { oneOf, parseJson, parseOrThrow, v } from "./schema.js";

/** transformers.js dtype names for the precisions lowbit writes, by weight bits (32 = fp32). */
export const DTYPE_BY_BITS = { 32: "fp32", 8: "q8", 4: "q4", 2: "q2" } as const;
export type Dtype = (typeof DTYPE_BY_BITS)[keyof typeof DTYPE_BY_BITS];
export const DTYPES = Object.values(DTYPE_BY_BITS) as Dtype[];

/** File-name suffix of each dtype, as transformers.js maps them (DEFAULT_DTYPE_SUFFIX_MAPPING). */
export const SUFFIX_BY_DTYPE: Record<Dtype, string> = { fp32: "", q8: "_quantized", q4: "_q4", q2: "_q2" };

export type ModelType = "gpt2" | "bart";

export function dtypeForBits(bits: WeightBits | 32): Dtype {
  return DTYPE_BY_BITS[bits];
}

/** The ONNX files of a folder, relative to it: one for a decoder-only model, two for seq2seq. */
export function onnxFiles(modelType: ModelType, dtype: Dtype): { model?: string; encoder?: string; decoder?: string } {
  const suffix = SUFFIX_BY_DTYPE[dtype];
  return modelType === "gpt2"
    ? { model: `onnx/model${suffix}.onnx` }
    : { encoder: `onnx/encoder_model${suffix}.onnx`, decoder: `onnx/decoder_model_merged${suffix}.onnx` };
}

/** What the runtime reads from a folder's config.json: the model type and the precision to load. */
const FolderConfigSchema = v.looseObject({
  model_type: oneOf(["gpt2", "bart"] as const),
  "transformers.js_config": v.optional(v.looseObject({ dtype: v.optional(oneOf(DTYPES)) }, "an object")),
}, "a JSON object");

export interface FolderConfig {
  modelType: ModelType;
  dtype?: Dtype;
}

export function parseFolderConfig(text: string, file: string): FolderConfig {
  const raw = parseOrThrow(FolderConfigSchema, parseJson(text, file, "config.json"), { file });
  return { modelType: raw.model_type, dtype: raw["transformers.js_config"]?.dtype };
}

/** A dtype the caller asked for, checked. */
export function checkDtype(dtype: string): Dtype {
  if (!(DTYPES as string[]).includes(dtype)) throw new LowbitError("unknown dtype", { expected: DTYPES.join("|"), found: JSON.stringify(dtype) });
  return dtype as Dtype;
}
