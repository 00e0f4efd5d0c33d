// The exporter: checkpoint (plain or quantized) → post-training quantization → one self-describing .onnx
// file plus its compression report. The CLI is a thin layer over exportGpt2().

import { createHash } from "node:crypto";
import { LowbitError } from "../errors.js";
import { isEmbeddingWeight, quantizedWeightAxes } from "../format/gpt2_config.js";
import { CHECKSUM_PLACEHOLDER, LOWBIT_ONNX_FORMAT, LOWBIT_ONNX_VERSION, META, sealChecksum } from "../format/lowbit_onnx.js";
import { encodeModel, type IModelProto } from "../format/onnx_proto.js";
import {
  QUANTIZED_CHECKPOINT_FORMAT, QUANTIZED_CHECKPOINT_VERSION, checkBits, checkGroupSize,
  type FileQuantization, type Granularity, type QuantizationConfig, type WeightFormat,
} from "../format/quantization.js";
import type { WeightBits } from "../format/quant_formats.js";
import type { CheckpointTensor, Gpt2Checkpoint } from "./checkpoint.js";
import { buildGpt2Graph } from "./gpt2_onnx.js";
import { quantizeMatrix, type ClipMethod } from "./quantize.js";
import { compressionReport, type CompressionReport } from "./report.js";

/** Post-training quantization settings: W-E-A bit widths plus how scales are chosen. 32 means fp32. */
export interface QuantizeSettings {
  weightBits: WeightBits | 32;
  embeddingBits: WeightBits | 32;
  activationBits: 8 | 32;
  granularity: Granularity;
  groupSize: number;
  clip: ClipMethod;
}

export type Progress = (done: number, total: number, what: string) => void;

export function validateQuantizeSettings(s: QuantizeSettings): void {
  if (s.weightBits !== 32) checkBits(s.weightBits, "--bits");
  if (s.embeddingBits !== 32) checkBits(s.embeddingBits, "--embedding-bits");
  if (s.activationBits !== 8 && s.activationBits !== 32) {
    throw new LowbitError("unsupported bit width for --activation-bits", { expected: "8|32", found: String(s.activationBits) });
  }
  if (s.granularity !== "module" && s.granularity !== "group") {
    throw new LowbitError("unsupported --granularity", { expected: "module|group", found: String(s.granularity) });
  }
  if (s.granularity === "group") checkGroupSize(s.groupSize, "--group-size");
  if (s.clip !== "maxabs" && s.clip !== "mse") throw new LowbitError("unsupported --clip", { expected: "maxabs|mse", found: String(s.clip) });
}

/**
 * Round-to-nearest post-training quantization of every linear weight (weight bits) and of the word
 * embedding (embedding bits). Position embeddings, biases and LayerNorm stay fp32.
 */
export function quantizeCheckpoint(ckpt: Gpt2Checkpoint, s: QuantizeSettings, progress?: Progress): Gpt2Checkpoint {
  validateQuantizeSettings(s);
  if (ckpt.quantization !== undefined) throw new LowbitError("checkpoint is already quantized");
  const axes = quantizedWeightAxes(ckpt.config);
  const tensors = new Map<string, CheckpointTensor>(ckpt.tensors);
  // Progress counts weights, not tensors: wte alone is a third of GPT-2-124M, and the bar should move inside it.
  const bitsOf = (name: string) => (isEmbeddingWeight(name) ? s.embeddingBits : s.weightBits);
  const todo = [...axes.keys()].filter((name) => bitsOf(name) !== 32 && ckpt.tensors.get(name)!.kind === "float");
  const total = todo.reduce((n, name) => n + ckpt.tensors.get(name)!.shape.reduce((a, b) => a * b, 1), 0);
  let done = 0;
  for (const [name, inputAxis] of axes) {
    const bits = bitsOf(name);
    const t = ckpt.tensors.get(name)!;
    if (bits !== 32 && t.kind === "float") {
      const spec = { bits, granularity: s.granularity, groupSize: s.groupSize, clip: s.clip };
      const q = quantizeMatrix(t.data, [t.shape[0], t.shape[1]], inputAxis, spec, progress && ((inTensor) => progress(done + inTensor, total, name)));
      tensors.set(name, { kind: "quant", ...q });
      done += t.data.length;
    }
    progress?.(done, total, name);
  }
  if (s.weightBits === 32) {
    // Embedding-only quantization (or none): recorded in the file's metadata, not as a checkpoint format.
    return { ...ckpt, tensors };
  }
  const quantization: QuantizationConfig = {
    format: QUANTIZED_CHECKPOINT_FORMAT,
    format_version: QUANTIZED_CHECKPOINT_VERSION,
    weight_bits: s.weightBits,
    embedding_bits: s.embeddingBits,
    activation_bits: s.activationBits,
    granularity: s.granularity,
    group_size: s.granularity === "group" ? s.groupSize : 0,
    method: `rtn-${s.clip}`,
  };
  return { ...ckpt, tensors, quantization };
}

export interface ExportResult {
  bytes: Uint8Array;
  report: CompressionReport;
}

export function exportGpt2(ckpt: Gpt2Checkpoint, opts: { format: WeightFormat; activationBits: 8 | 32; source: string }): ExportResult {
  // The tokenizer files were validated, and checked against vocab_size, when the checkpoint was read.
  const activationBits = ckpt.quantization?.activation_bits ?? opts.activationBits;
  const built = buildGpt2Graph(ckpt, { format: opts.format, activationBits });
  const fileQuant = fileQuantization(ckpt, activationBits, opts.format);
  const metadata: Record<string, string> = {
    [META.format]: LOWBIT_ONNX_FORMAT,
    [META.formatVersion]: String(LOWBIT_ONNX_VERSION),
    [META.modelType]: "gpt2",
    [META.config]: JSON.stringify(ckpt.config),
    [META.quantization]: JSON.stringify(fileQuant),
    [META.weights]: JSON.stringify(built.weights),
    [META.vocab]: ckpt.tokenizer.vocab,
    [META.merges]: ckpt.tokenizer.merges,
  };
  const opsetImport = [{ domain: "", version: built.opset }];
  if (built.usesMicrosoftDomain) opsetImport.push({ domain: "com.microsoft", version: 1 });
  const bytes = encodeSealed({
    irVersion: irVersionFor(built.opset),
    producerName: "lowbit",
    producerVersion: "0.1.0",
    opsetImport,
    graph: built.graph,
  }, Object.entries(metadata));
  const report = compressionReport(ckpt, built.storedBytes, bytes.byteLength, {
    source: opts.source, quantization: fileQuant,
    tokenizerBytes: Buffer.byteLength(ckpt.tokenizer.vocab) + Buffer.byteLength(ckpt.tokenizer.merges),
  });
  return { bytes, report };
}

/**
 * Encodes a lowbit ONNX file with `metadata` (replacing the model's own) plus lowbit.checksum, then seals the
 * checksum in place. The checksum entry goes last, where verifyChecksum looks for it; an old one is dropped.
 */
export function encodeSealed(model: IModelProto, metadata: Iterable<[string, string]>): Uint8Array {
  const entries = [...metadata].filter(([key]) => key !== META.checksum);
  entries.push([META.checksum, CHECKSUM_PLACEHOLDER]);
  const bytes = encodeModel({ ...model, metadataProps: entries.map(([key, value]) => ({ key, value })) });
  sealChecksum(bytes, (data) => createHash("sha256").update(data).digest());
  return bytes;
}

/** IR version of the ONNX release that introduced each opset we emit (18: 1.13, 21: 1.16, 25: 1.20). */
function irVersionFor(opset: number): number {
  return opset >= 25 ? 12 : opset >= 21 ? 10 : 8;
}

function fileQuantization(ckpt: Gpt2Checkpoint, activationBits: 8 | 32, format: WeightFormat): FileQuantization {
  const bitsOf = (name: string): WeightBits | 32 => {
    const t = ckpt.tensors.get(name)!;
    return t.kind === "quant" ? t.bits : 32;
  };
  const q = ckpt.quantization;
  const weightBits = bitsOf("h.0.attn.c_attn.weight");
  const anyQuantized = [...ckpt.tensors.values()].some((t) => t.kind === "quant");
  return {
    weight_bits: weightBits,
    embedding_bits: bitsOf("wte.weight"),
    activation_bits: anyQuantized ? activationBits : 32,
    granularity: q?.granularity ?? groupingOf(ckpt),
    group_size: q?.group_size ?? groupSizeOf(ckpt),
    method: q?.method ?? (anyQuantized ? "rtn" : "none"),
    weight_format: format,
  };
}

function groupSizeOf(ckpt: Gpt2Checkpoint): number {
  for (const t of ckpt.tensors.values()) if (t.kind === "quant") return t.groupSize;
  return 0;
}

function groupingOf(ckpt: Gpt2Checkpoint): Granularity {
  return groupSizeOf(ckpt) > 0 ? "group" : "module";
}
