// The exporter: checkpoint (plain or quantized) → post-training quantization → self-describing .onnx
// file(s) plus their compression report: one file for GPT-2 (exportGpt2), an encoder and a merged decoder
// for BART (exportBart). hf_folder.ts lays them out as a Hugging Face folder; the CLI is a thin layer over both.

import { createHash } from "node:crypto";
import { LowbitError } from "../errors.js";
import { isModelEmbeddingWeight, modelQuantizedWeightAxes } from "../format/bart_config.js";
import { CHECKSUM_PLACEHOLDER, LOWBIT_ONNX_FORMAT, LOWBIT_ONNX_VERSION, META, sealChecksum } from "../format/lowbit_onnx.js";
import { encodeModel, type IModelProto } from "../format/onnx_proto.js";
import {
  QUANTIZED_CHECKPOINT_FORMAT, QUANTIZED_CHECKPOINT_VERSION, checkBits, checkGroupSize,
  type FileQuantization, type Granularity, type QuantizationConfig, type WeightFormat,
} from "../format/quantization.js";
import type { WeightBits } from "../format/quant_formats.js";
import { buildBartDecoderGraph, buildBartEncoderGraph } from "./bart_onnx.js";
import type { BartCheckpoint, Checkpoint, CheckpointTensor, Gpt2Checkpoint, TokenizerFiles } from "./checkpoint.js";
import { buildGpt2Graph } from "./gpt2_onnx.js";
import type { BuiltGraph } from "./onnx_graph.js";
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
 * embedding (embedding bits), for either family. Position embeddings, biases, LayerNorm and BART's
 * final_logits_bias stay fp32.
 */
export function quantizeCheckpoint<C extends Checkpoint>(ckpt: C, s: QuantizeSettings, progress?: Progress): C {
  validateQuantizeSettings(s);
  if (ckpt.quantization !== undefined) throw new LowbitError("checkpoint is already quantized");
  const axes = modelQuantizedWeightAxes(ckpt.config);
  const tensors = new Map<string, CheckpointTensor>(ckpt.tensors);
  // Progress counts weights, not tensors: wte alone is a third of GPT-2-124M, and the bar should move inside it.
  const bitsOf = (name: string) => (isModelEmbeddingWeight(ckpt.config, name) ? s.embeddingBits : s.weightBits);
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

export interface ExportOptions {
  format: WeightFormat;
  activationBits: 8 | 32;
  source: string;
}

/** One lowbit ONNX file: the graph, then the metadata (lowbit.checksum last, sealed). */
function sealedFile(built: BuiltGraph, metadata: Record<string, string>): Uint8Array {
  const opsetImport = [{ domain: "", version: built.opset }];
  if (built.usesMicrosoftDomain) opsetImport.push({ domain: "com.microsoft", version: 1 });
  return encodeSealed({
    irVersion: irVersionFor(built.opset),
    producerName: "lowbit",
    producerVersion: "0.1.0",
    opsetImport,
    graph: built.graph,
  }, Object.entries(metadata));
}

function tokenizerBytes(t: TokenizerFiles): number {
  return Buffer.byteLength(t.vocab) + Buffer.byteLength(t.merges);
}

export function exportGpt2(ckpt: Gpt2Checkpoint, opts: ExportOptions): ExportResult {
  // The tokenizer files were validated, and checked against vocab_size, when the checkpoint was read.
  const activationBits = ckpt.quantization?.activation_bits ?? opts.activationBits;
  const built = buildGpt2Graph(ckpt, { format: opts.format, activationBits });
  const fileQuant = fileQuantization(ckpt, activationBits, opts.format, { weight: "h.0.attn.c_attn.weight", embedding: "wte.weight" });
  const bytes = sealedFile(built, {
    [META.format]: LOWBIT_ONNX_FORMAT,
    [META.formatVersion]: String(LOWBIT_ONNX_VERSION),
    [META.modelType]: "gpt2",
    [META.config]: JSON.stringify(ckpt.config),
    [META.quantization]: JSON.stringify(fileQuant),
    [META.weights]: JSON.stringify(built.weights),
    [META.vocab]: ckpt.tokenizer.vocab,
    [META.merges]: ckpt.tokenizer.merges,
  });
  const report = compressionReport(ckpt, built.storedBytes, bytes.byteLength, {
    source: opts.source, quantization: fileQuant, tokenizerBytes: tokenizerBytes(ckpt.tokenizer),
  });
  return { bytes, report };
}

export interface BartExportResult {
  /** onnx/encoder_model*.onnx: shared.weight + encoder.*. */
  encoder: Uint8Array;
  /** onnx/decoder_model_merged*.onnx: shared.weight, final_logits_bias + decoder.*. */
  decoder: Uint8Array;
  /** Both files together, shared.weight counted once in the weights ratio. */
  report: CompressionReport;
}

/**
 * BART → the encoder and merged-decoder files (CONTRACT.md "Files"), each self-describing with its own
 * manifest, metadata and checksum; the decoder also carries the generation defaults.
 */
export function exportBart(ckpt: BartCheckpoint, opts: ExportOptions): BartExportResult {
  const activationBits = ckpt.quantization?.activation_bits ?? opts.activationBits;
  const graphOptions = { format: opts.format, activationBits };
  const fileQuant = fileQuantization(ckpt, activationBits, opts.format, { weight: "encoder.layers.0.fc1.weight", embedding: "shared.weight" });
  const metadata = (component: "encoder" | "decoder", built: BuiltGraph): Record<string, string> => ({
    [META.format]: LOWBIT_ONNX_FORMAT,
    [META.formatVersion]: String(LOWBIT_ONNX_VERSION),
    [META.modelType]: "bart",
    [META.component]: component,
    [META.config]: JSON.stringify(ckpt.config),
    ...(component === "decoder" ? { [META.generation]: JSON.stringify(ckpt.generation ?? {}) } : {}),
    [META.quantization]: JSON.stringify(fileQuant),
    [META.weights]: JSON.stringify(built.weights),
    [META.vocab]: ckpt.tokenizer.vocab,
    [META.merges]: ckpt.tokenizer.merges,
  });
  const enc = buildBartEncoderGraph(ckpt, graphOptions);
  const encoder = sealedFile(enc, metadata("encoder", enc));
  const dec = buildBartDecoderGraph(ckpt, graphOptions);
  const decoder = sealedFile(dec, metadata("decoder", dec));
  const storedBytes = new Map([...dec.storedBytes, ...enc.storedBytes]);
  const report = compressionReport(ckpt, storedBytes, encoder.byteLength + decoder.byteLength, {
    source: opts.source, quantization: fileQuant, tokenizerBytes: 2 * tokenizerBytes(ckpt.tokenizer),
    duplicatedParamBytes: dec.storedBytes.get("shared.weight") ?? 0,
    files: [{ file: "encoder", bytes: encoder.byteLength }, { file: "decoder", bytes: decoder.byteLength }],
  });
  return { encoder, decoder, report };
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

function fileQuantization(
  ckpt: Gpt2Checkpoint | BartCheckpoint, activationBits: 8 | 32, format: WeightFormat, probe: { weight: string; embedding: string },
): FileQuantization {
  const bitsOf = (name: string): WeightBits | 32 => {
    const t = ckpt.tensors.get(name)!;
    return t.kind === "quant" ? t.bits : 32;
  };
  const q = ckpt.quantization;
  const weightBits = bitsOf(probe.weight);
  const anyQuantized = [...ckpt.tensors.values()].some((t) => t.kind === "quant");
  return {
    weight_bits: weightBits,
    embedding_bits: bitsOf(probe.embedding),
    activation_bits: anyQuantized ? activationBits : 32,
    granularity: q?.granularity ?? groupingOf(ckpt.tensors),
    group_size: q?.group_size ?? groupSizeOf(ckpt.tensors),
    method: q?.method ?? (anyQuantized ? "rtn" : "none"),
    weight_format: format,
  };
}

function groupSizeOf(tensors: Map<string, CheckpointTensor>): number {
  for (const t of tensors.values()) if (t.kind === "quant") return t.groupSize;
  return 0;
}

function groupingOf(tensors: Map<string, CheckpointTensor>): Granularity {
  return groupSizeOf(tensors) > 0 ? "group" : "module";
}
