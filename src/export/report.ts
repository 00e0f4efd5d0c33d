// Compression report: bytes per component, bits per weight, and the two ratios to fp32.
//
//   weights ratio = 4 bytes × parameter count ÷ bytes of the exported parameters (codes, scales, fp32 tensors)
//                   (the paper's measure: tied embedding counted once, buffers such as causal masks not counted)
//   file ratio    = 4 bytes × parameter count ÷ bytes of the whole .onnx file (graph and tokenizer included)
//
// A BART export is two files (encoder, decoder) that both hold shared.weight and the tokenizer: the weights
// ratio counts shared.weight once; the file numbers are the two files' total on disk, copies included.

import type { FileQuantization } from "../format/quantization.js";
import { numel } from "../format/safetensors.js";
import type { CheckpointTensor } from "./checkpoint.js";

export interface ComponentRow {
  component: string;
  params: number;
  bytes: number;
  bits_per_weight: number;
  ratio_to_fp32: number;
}

export interface CompressionReport {
  source: string;
  quantization: FileQuantization;
  components: ComponentRow[];
  param_count: number;
  fp32_bytes: number;
  param_bytes: number;
  weights_ratio: number;
  tokenizer_bytes: number;
  /** Parameters stored a second time (BART's shared.weight, in both files): on disk, not in param_bytes. */
  duplicated_param_bytes?: number;
  /** Graph, value infos, config and weight manifest: the file(s) minus parameters and tokenizer. */
  graph_and_metadata_bytes: number;
  /** The whole export on disk: for several files, their total. */
  file_bytes: number;
  file_ratio: number;
  /** Each file of a multi-file export (BART: encoder and decoder). */
  files?: Array<{ file: string; bytes: number }>;
}

function componentOf(name: string): string {
  if (name === "shared.weight") return "token embedding + LM head (shared)";
  if (/^(en|de)coder\.embed_positions\.weight$/.test(name)) return "position embeddings";
  if (/\.(self_attn|encoder_attn)\.(q|k|v|out)_proj\.weight$/.test(name)) return "attention weights";
  if (/\.fc[12]\.weight$/.test(name)) return "FFN weights";
  if (name === "wte.weight") return "token embedding (wte)";
  if (name === "wpe.weight") return "position embedding (wpe)";
  if (name === "lm_head.weight") return "lm_head (untied)";
  if (/\.attn\.c_(attn|proj)\.weight$/.test(name)) return "attention weights";
  if (/\.mlp\.c_(fc|proj)\.weight$/.test(name)) return "MLP weights";
  return "biases + LayerNorm";
}

export function compressionReport(
  ckpt: { tensors: Map<string, CheckpointTensor> }, storedBytes: Map<string, number>, fileBytes: number,
  info: { source: string; quantization: FileQuantization; tokenizerBytes: number; duplicatedParamBytes?: number; files?: Array<{ file: string; bytes: number }> },
): CompressionReport {
  const rows = new Map<string, { params: number; bytes: number }>();
  for (const [name, t] of ckpt.tensors) {
    const row = rows.get(componentOf(name)) ?? { params: 0, bytes: 0 };
    row.params += numel(t.shape);
    row.bytes += storedBytes.get(name) ?? 0;
    rows.set(componentOf(name), row);
  }
  const components = [...rows].map(([component, r]) => ({
    component, params: r.params, bytes: r.bytes, bits_per_weight: (8 * r.bytes) / r.params, ratio_to_fp32: (4 * r.params) / r.bytes,
  }));
  const paramCount = components.reduce((a, r) => a + r.params, 0);
  const paramBytes = components.reduce((a, r) => a + r.bytes, 0);
  const duplicated = info.duplicatedParamBytes ?? 0;
  return {
    source: info.source,
    quantization: info.quantization,
    components,
    param_count: paramCount,
    fp32_bytes: 4 * paramCount,
    param_bytes: paramBytes,
    weights_ratio: (4 * paramCount) / paramBytes,
    tokenizer_bytes: info.tokenizerBytes,
    ...(info.files !== undefined ? { duplicated_param_bytes: duplicated } : {}),
    graph_and_metadata_bytes: fileBytes - paramBytes - duplicated - info.tokenizerBytes,
    file_bytes: fileBytes,
    file_ratio: (4 * paramCount) / fileBytes,
    ...(info.files !== undefined ? { files: info.files } : {}),
  };
}

export function formatReport(r: CompressionReport): string {
  const q = r.quantization;
  const mib = humanBytes;
  const header = ["component", "params", "bytes", "bits/weight", "× vs fp32"];
  const body = r.components.map((c) => [c.component, c.params.toLocaleString("en-US"), mib(c.bytes), c.bits_per_weight.toFixed(3), `${c.ratio_to_fp32.toFixed(2)}×`]);
  body.push(["all parameters", r.param_count.toLocaleString("en-US"), mib(r.param_bytes), ((8 * r.param_bytes) / r.param_count).toFixed(3), `${r.weights_ratio.toFixed(2)}×`]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [
    q.method === "none"
      ? "fp32, unquantized"
      : `W-E-A ${q.weight_bits}-${q.embedding_bits}-${q.activation_bits}, ${q.granularity}${q.group_size ? ` G=${q.group_size}` : ""}, ${q.method}, weights as ${q.weight_format}`,
    line(header),
    widths.map((w) => "─".repeat(w)).join("  "),
    ...body.map(line),
    "",
    `weights ratio (4 B × ${r.param_count.toLocaleString("en-US")} params ÷ ${mib(r.param_bytes)}): ${r.weights_ratio.toFixed(2)}×`,
    r.files === undefined
      ? `whole file: ${mib(r.file_bytes)} (tokenizer ${mib(r.tokenizer_bytes)}, graph + metadata ${mib(r.graph_and_metadata_bytes)}), ratio ${r.file_ratio.toFixed(2)}×`
      : `${r.files.length} files: ${r.files.map((f) => `${f.file} ${mib(f.bytes)}`).join(", ")}; together ${mib(r.file_bytes)} ` +
        `(tokenizer ×${r.files.length} ${mib(r.tokenizer_bytes)}, repeated parameters ${mib(r.duplicated_param_bytes ?? 0)}, graph + metadata ${mib(r.graph_and_metadata_bytes)}), ratio ${r.file_ratio.toFixed(2)}×`,
  ].join("\n");
}

export function humanBytes(b: number): string {
  if (b >= 2 ** 20) return `${(b / 2 ** 20).toFixed(2)} MiB`;
  if (b >= 2 ** 10) return `${(b / 2 ** 10).toFixed(1)} KiB`;
  return `${b} B`;
}
