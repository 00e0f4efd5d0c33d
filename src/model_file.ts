// Reading a lowbit .onnx file: its metadata (config, quantization, weight manifest, tokenizer) and its
// weights by name, exactly as stored. Shared by `lowbit inspect`, the reference forward and the runtime,
// so it uses no Node built-ins (readModelFile, for Node, lives in node_io.ts).

import { LowbitError } from "./errors.js";
import type { Gpt2Config } from "./export/checkpoint.js";
import type { FileQuantization } from "./export/export.js";
import type { WeightEntry } from "./export/gpt2_onnx.js";
import { dequantizeMatrix } from "./export/quantize.js";
import { decodeModel, metadataMap, toNumber, type ModelProto } from "./onnx_proto.js";
import { unpackCodes, type WeightBits } from "./quant_formats.js";

export const LOWBIT_ONNX_FORMAT = "lowbit-onnx";
export const LOWBIT_ONNX_VERSION = 1;

export interface StoredInitializer {
  name: string;
  dataType: number;
  dims: number[];
  raw: Uint8Array;
}

export interface LowbitModelFile {
  file: string;
  config: Gpt2Config;
  quantization: FileQuantization;
  weights: WeightEntry[];
  tokenizer: { vocab: string; merges: string };
  initializers: Map<string, StoredInitializer>;
  model: ModelProto;
}

export function parseModelFile(bytes: Uint8Array, file: string): LowbitModelFile {
  const model = decodeModel(bytes, file);
  const meta = metadataMap(model);
  if (meta.get("lowbit.format") !== LOWBIT_ONNX_FORMAT) {
    throw new LowbitError("not a lowbit model: metadata_props has no lowbit.format", { file, hint: "export it with `lowbit export`" });
  }
  if (meta.get("lowbit.format_version") !== String(LOWBIT_ONNX_VERSION)) {
    throw new LowbitError("unsupported lowbit file version", { file, expected: String(LOWBIT_ONNX_VERSION), found: String(meta.get("lowbit.format_version")), hint: "re-export it with this lowbit version" });
  }
  const json = <T>(key: string): T => {
    const v = meta.get(key);
    if (v === undefined) throw new LowbitError(`missing metadata ${key}`, { file });
    try {
      return JSON.parse(v) as T;
    } catch (err) {
      throw new LowbitError(`metadata ${key} is not valid JSON`, { file, found: (err as Error).message });
    }
  };
  const initializers = new Map<string, StoredInitializer>();
  for (const t of model.graph?.initializer ?? []) {
    const name = t.name ?? "";
    initializers.set(name, { name, dataType: t.dataType ?? 0, dims: (t.dims ?? []).map(toNumber), raw: t.rawData ?? new Uint8Array(0) });
  }
  const weights = json<WeightEntry[]>("lowbit.weights");
  for (const w of weights) checkStoredSize(w, initializers, file);
  return {
    file, model, initializers, weights,
    config: json<Gpt2Config>("lowbit.config"),
    quantization: json<FileQuantization>("lowbit.quantization"),
    tokenizer: { vocab: meta.get("lowbit.tokenizer.vocab") ?? "", merges: meta.get("lowbit.tokenizer.merges") ?? "" },
  };
}

/** Each weight's stored bytes must be what its manifest entry says: catches truncated or altered files. */
function checkStoredSize(w: WeightEntry, initializers: Map<string, StoredInitializer>, file: string): void {
  const numel = w.shape.reduce((a, b) => a * b, 1);
  const expect = (name: string | undefined, bytes: number) => {
    const init = name === undefined ? undefined : initializers.get(name);
    if (init === undefined) throw new LowbitError("weight manifest names a missing initializer", { file, tensor: name ?? `${w.name} scale` });
    if (init.raw.byteLength !== bytes) {
      throw new LowbitError("stored tensor has the wrong size (corrupted or truncated file?)", { file, tensor: name, expected: `${bytes} bytes`, found: `${init.raw.byteLength} bytes` });
    }
  };
  if (w.layout === "float") return expect(w.initializer, 4 * numel);
  const scales = (w.scale_shape ?? []).reduce((a, b) => a * b, 1);
  if (w.layout === "dq") expect(w.initializer, Math.ceil((numel * w.bits!) / 8));
  else expect(w.initializer, w.shape[1] * Math.ceil(w.shape[0] / w.block_size!) * ((w.block_size! * w.bits!) / 8));
  expect(w.scale, 4 * scales);
}

function floatsOf(init: StoredInitializer): Float32Array {
  const raw = init.raw;
  return raw.byteOffset % 4 === 0 ? new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4) : new Float32Array(raw.slice().buffer);
}

/** A weight as fp32 in its Hugging Face layout: dequantized (code · step) where it is stored quantized. */
export function dequantizeWeight(f: LowbitModelFile, w: WeightEntry): Float32Array {
  const data = f.initializers.get(w.initializer)!;
  if (w.layout === "float") return floatsOf(data);
  const scale = floatsOf(f.initializers.get(w.scale!)!);
  const bits = w.bits as WeightBits;
  const [rows, cols] = w.shape;
  if (w.layout === "dq") {
    const codes = unpackCodes(data.raw, bits, rows * cols);
    return dequantizeMatrix({ bits, shape: [rows, cols], inputAxis: w.input_axis!, groupSize: w.group_size!, codes, scaleShape: w.scale_shape!, scale });
  }
  // nbits: (N, blocks, blob) of unsigned codes with zero point 2^(bits−1), for a (K, N) weight.
  const [K, N] = [rows, cols];
  const bs = w.block_size!;
  const blocks = Math.ceil(K / bs);
  const perByte = 8 / bits;
  const zeroPoint = 1 << (bits - 1);
  const out = new Float32Array(K * N);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / bs);
      const j = k % bs;
      const byte = data.raw[(n * blocks + b) * ((bs * bits) / 8) + Math.floor(j / perByte)];
      const code = ((byte >> ((j % perByte) * bits)) & ((1 << bits) - 1)) - zeroPoint;
      out[k * N + n] = Math.fround(code * scale[n * blocks + b]);
    }
  }
  return out;
}
