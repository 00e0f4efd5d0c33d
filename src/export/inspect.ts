// `lowbit inspect`: what a checkpoint directory or a lowbit .onnx file holds, tensor by tensor (GPT-2 and BART).

import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { LowbitError } from "../errors.js";
import { LOWBIT_ONNX_FORMAT, META, verifyChecksum } from "../format/lowbit_onnx.js";
import { readModelFile } from "../format/node_io.js";
import { toNumber } from "../format/onnx_proto.js";
import { readCheckpoint, weightFiles } from "./checkpoint.js";
import { readSafetensors } from "./safetensors.js";

const ONNX_TYPE_NAMES: Record<number, string> = { 1: "FLOAT", 2: "UINT8", 3: "INT8", 7: "INT64", 9: "BOOL", 22: "INT4", 26: "INT2" };

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")).join("\n");
}

/** Validates the file (checksum included) and describes it. */
export async function inspectModelFile(path: string, { verifyChecksum: verify = true } = {}): Promise<string> {
  const f = readModelFile(path);
  if (verify) await verifyChecksum(f);
  const rows = [["weight", "shape", "layout", "bits", "bytes"]];
  let total = 0;
  for (const w of f.weights) {
    const stored = [w.initializer, w.scale].filter((n): n is string => n !== undefined).map((n) => f.initializers.get(n)!.raw.byteLength);
    const bytes = stored.reduce((a, b) => a + b, 0);
    total += bytes;
    const layout = w.layout === "float" ? "fp32" : `${w.layout}${w.group_size ? ` G=${w.group_size}` : " per-module"}`;
    rows.push([w.name, `[${w.shape.join(", ")}]`, layout, String(w.bits ?? 32), bytes.toLocaleString("en-US")]);
  }
  const opsets = (f.model.opsetImport ?? []).map((o) => `${o.domain || "ai.onnx"} ${toNumber(o.version)}`).join(", ");
  const initTypes = new Map<string, number>();
  for (const init of f.initializers.values()) {
    const t = ONNX_TYPE_NAMES[init.dataType] ?? String(init.dataType);
    initTypes.set(t, (initTypes.get(t) ?? 0) + 1);
  }
  return [
    `${path}: lowbit ONNX (${f.config.model_type}${f.component !== undefined ? ` ${f.component}` : ""}), ${statSync(path).size.toLocaleString("en-US")} bytes, IR ${toNumber(f.model.irVersion)}, opsets ${opsets}`,
    `config: ${JSON.stringify(f.config)}`,
    `quantization: ${JSON.stringify(f.quantization)}`,
    `format: ${LOWBIT_ONNX_FORMAT} version ${f.formatVersion}; ${verify ? `checksum verified (${f.metadata.get(META.checksum)!.slice(0, 23)}…)` : "checksum not checked (--no-verify-checksum)"}`,
    `tokenizer: ${f.bpe.vocab.size} tokens, ${f.bpe.mergeIds.length / 3} merges`,
    `initializers: ${[...initTypes].map(([t, n]) => `${n} ${t}`).join(", ")}; ${(f.model.graph?.node ?? []).length} nodes`,
    "",
    table(rows),
    "",
    `parameters: ${total.toLocaleString("en-US")} bytes`,
  ].join("\n");
}

/** A Hugging Face folder export (onnx/ beside config.json): every ONNX file in it, validated and described. */
export async function inspectFolder(dir: string, options: { verifyChecksum?: boolean } = {}): Promise<string> {
  const names = readdirSync(join(dir, "onnx")).filter((n) => n.endsWith(".onnx")).sort();
  if (names.length === 0) throw new LowbitError("folder's onnx/ holds no .onnx file", { file: join(dir, "onnx") });
  const parts: string[] = [];
  for (const name of names) parts.push(await inspectModelFile(join(dir, "onnx", name), options));
  return parts.join("\n\n");
}

/** Whether a directory is a folder export (it has onnx/) rather than a checkpoint. */
export function isFolderExport(dir: string): boolean {
  return existsSync(join(dir, "onnx")) && statSync(join(dir, "onnx")).isDirectory();
}

export function inspectCheckpoint(dir: string): string {
  const ckpt = readCheckpoint(dir); // validates config and every shape first
  const rows = [["tensor", "dtype", "shape", "bits", "bytes", "file"]];
  for (const file of weightFiles(dir).files) {
    for (const t of readSafetensors(file).tensors.values()) {
      const bits = t.name.endsWith(".qweight") ? String(bitsOfCodes(ckpt, t.name)) : { F32: "32", F16: "16", BF16: "16", I8: "8" }[t.dtype as string] ?? "-";
      rows.push([t.name, t.dtype, `[${t.shape.join(", ")}]`, bits, t.bytes.byteLength.toLocaleString("en-US"), relative(dir, file)]);
    }
  }
  return [
    `${dir}: Hugging Face ${ckpt.config.model_type === "bart" ? "BART" : "GPT-2"} checkpoint${ckpt.quantization ? " (quantized)" : ""}`,
    `config: ${JSON.stringify(ckpt.config)}`,
    ...(ckpt.quantization ? [`quantization_config: ${JSON.stringify(ckpt.quantization)}`] : []),
    `tokenizer: ${ckpt.tokenizer.source}`,
    "",
    table(rows),
  ].join("\n");
}

function bitsOfCodes(ckpt: ReturnType<typeof readCheckpoint>, qweightName: string): number {
  // Stored names carry the family's prefix (GPT-2 `transformer.`, BART `model.`); canonical names do not.
  const name = qweightName.replace(/^(transformer|model)\./, "").replace(/\.qweight$/, "");
  const t = ckpt.tensors.get(name);
  return t?.kind === "quant" ? t.bits : 8;
}
