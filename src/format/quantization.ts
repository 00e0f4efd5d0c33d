// Quantization settings as files record them, with their validators: the quantized checkpoint's
// `quantization_config` block (config.json, docs/FORMAT.md §2) and the lowbit ONNX file's
// `lowbit.quantization` metadata (§3). Per-tensor layouts are in lowbit_onnx.ts; bit widths and group
// sizes come from the one table in quant_formats.ts.

import { LowbitError } from "../errors.js";
import { SUPPORTED_GROUP_SIZES, SUPPORTED_WEIGHT_BITS, type WeightBits } from "./quant_formats.js";
import { oneOf, parseOrThrow, str, v } from "./schema.js";

export type Granularity = "module" | "group";
/** How quantized linear weights are stored in the ONNX file: DequantizeLinear inputs, or MatMulNBits blobs. */
export type WeightFormat = "dq" | "nbits";

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

/** What the ONNX file's `lowbit.quantization` metadata records. */
export interface FileQuantization {
  weight_bits: WeightBits | 32;
  embedding_bits: WeightBits | 32;
  activation_bits: 8 | 32;
  granularity: Granularity;
  group_size: number;
  method: string;
  weight_format: WeightFormat;
}

const weightBits = oneOf([2, 4, 8] as const);
const weightOrFloatBits = oneOf([2, 4, 8, 32] as const);
const activationBits = oneOf([8, 32] as const);
const granularity = oneOf(["module", "group"] as const);
const groupSize = oneOf([0, ...SUPPORTED_GROUP_SIZES] as readonly number[]);
const method = v.pipe(str(), v.maxLength(64, "a name of at most 64 characters"));

const QuantizationConfigSchema = v.looseObject({
  format: v.literal(QUANTIZED_CHECKPOINT_FORMAT, QUANTIZED_CHECKPOINT_FORMAT),
  format_version: v.number(`${QUANTIZED_CHECKPOINT_VERSION}`),
  weight_bits: weightBits,
  embedding_bits: weightOrFloatBits,
  activation_bits: activationBits,
  granularity,
  group_size: v.optional(groupSize),
  method: v.optional(method),
}, "an object");

const FileQuantizationSchema = v.strictObject(
  {
    weight_bits: weightOrFloatBits,
    embedding_bits: weightOrFloatBits,
    activation_bits: activationBits,
    granularity,
    group_size: groupSize,
    method,
    weight_format: oneOf(["dq", "nbits"] as const),
  },
  "an object with only the keys lowbit writes",
);

/** Group size 0 goes with "module" and only with it. */
function checkGrouping(granularity: Granularity, groupSize: number, file: string, field: string): void {
  if ((granularity === "group") !== (groupSize > 0)) {
    throw new LowbitError(`${field}.group_size does not fit granularity "${granularity}"`, {
      file, expected: granularity === "group" ? SUPPORTED_GROUP_SIZES.join("|") : "0", found: String(groupSize),
    });
  }
}

export function parseQuantizationConfig(raw: unknown, file: string): QuantizationConfig {
  const q = parseOrThrow(QuantizationConfigSchema, raw, { file, field: "quantization_config" });
  if (q.format_version !== QUANTIZED_CHECKPOINT_VERSION) {
    throw new LowbitError("unsupported quantization_config.format_version", {
      file, expected: String(QUANTIZED_CHECKPOINT_VERSION), found: JSON.stringify(q.format_version), hint: "re-export the checkpoint with this lowbit version",
    });
  }
  const groupSizeValue = q.granularity === "group" ? q.group_size ?? -1 : q.group_size ?? 0;
  checkGrouping(q.granularity, groupSizeValue, file, "quantization_config");
  return {
    format: QUANTIZED_CHECKPOINT_FORMAT,
    format_version: QUANTIZED_CHECKPOINT_VERSION,
    weight_bits: q.weight_bits,
    embedding_bits: q.embedding_bits,
    activation_bits: q.activation_bits,
    granularity: q.granularity,
    group_size: groupSizeValue,
    method: q.method ?? "unknown",
  };
}

export function parseFileQuantization(raw: unknown, file: string): FileQuantization {
  const q = parseOrThrow(FileQuantizationSchema, raw, { file, field: "lowbit.quantization" });
  checkGrouping(q.granularity, q.group_size, file, "lowbit.quantization");
  return q;
}

export function checkBits(value: unknown, what: string, file?: string): asserts value is WeightBits {
  if (!SUPPORTED_WEIGHT_BITS.includes(value as number)) {
    throw new LowbitError(`unsupported bit width for ${what}`, { file, expected: SUPPORTED_WEIGHT_BITS.join("|"), found: JSON.stringify(value) });
  }
}

export function checkGroupSize(value: unknown, what: string, file?: string): void {
  if (!SUPPORTED_GROUP_SIZES.includes(value as number)) {
    throw new LowbitError(`unsupported ${what}`, { file, expected: SUPPORTED_GROUP_SIZES.join("|"), found: JSON.stringify(value) });
  }
}
