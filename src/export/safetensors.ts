// safetensors reader and writer: the file format of Hugging Face checkpoints and of our quantized checkpoints.
//
// Layout (https://huggingface.co/docs/safetensors): u64 little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {...}}, then the data block that
// the offsets index. Written by hand: the format is 30 lines of byte arithmetic and the npm packages for
// it either only read or pull in a tensor library; every check below names the file and tensor.
//
// A file may also be stored split at byte level into `X.safetensors.part-00`, `.part-01`, … (docs/FORMAT.md,
// for hosts that cap file sizes): reading X.safetensors when it is absent reads the parts' concatenation.

import { existsSync } from "node:fs";
import { LowbitError } from "../errors.js";
import { readBytes } from "../node_io.js";
import { writeFileAtomic } from "./atomic_write.js";

export type SafetensorsDtype = "F32" | "F16" | "BF16" | "I8" | "U8" | "BOOL" | "I32" | "I64";

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, I8: 1, U8: 1, BOOL: 1, I32: 4, I64: 8 };

export interface StoredTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** The tensor's bytes: a view into the file's buffer, no copy. */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  path: string;
  tensors: Map<string, StoredTensor>;
  metadata: Record<string, string>;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Parses a safetensors file, whole or split into parts, checking the header, every dtype, shape and offset
 * against the file's size.
 */
export function readSafetensors(path: string): SafetensorsFile {
  const parts = partFiles(path);
  if (parts.length === 0) return parseSafetensors(path, readBytes(path));
  const file = Buffer.concat(parts.map((p) => readBytes(p)));
  const { header, headerLength } = parseHeader(path, file);
  // Checked before the tensors, so that a missing or cut part is reported as that, not as a short tensor.
  const expected = 8 + headerLength + dataEnd(header);
  if (file.byteLength !== expected) {
    throw new LowbitError(`its parts ${parts[0]} … ${parts[parts.length - 1]} do not add up to the size the safetensors header gives`, {
      file: path, expected: `${expected} bytes`, found: `${file.byteLength} bytes`, hint: "a part missing or cut short?",
    });
  }
  return parseTensors(path, file, header, headerLength);
}

// ─── split files ────────────────────────────────────────────────────────────────────────────────

/** The i-th part of a split file: `model.safetensors.part-00`, `.part-01`, … */
export function partPath(path: string, i: number): string {
  return `${path}.part-${String(i).padStart(2, "0")}`;
}

/** The parts that stand for `path` when it is absent: part-00, part-01, … up to the first missing number. */
export function partFiles(path: string): string[] {
  const parts: string[] = [];
  if (existsSync(path)) return parts;
  while (existsSync(partPath(path, parts.length))) parts.push(partPath(path, parts.length));
  return parts;
}

/** Whether `path` is there, whole or split into parts. */
export function safetensorsExists(path: string): boolean {
  return existsSync(path) || existsSync(partPath(path, 0));
}

/** The size of the data block a header indexes: the largest end offset among well-formed entries. */
function dataEnd(header: Record<string, unknown>): number {
  let end = 0;
  for (const [name, entry] of Object.entries(header)) {
    const offsets = name === "__metadata__" ? undefined : (entry as { data_offsets?: unknown } | null)?.data_offsets;
    if (Array.isArray(offsets) && offsets.length === 2 && Number.isInteger(offsets[1])) end = Math.max(end, offsets[1] as number);
  }
  return end;
}

// ─── parsing ────────────────────────────────────────────────────────────────────────────────────

export function parseSafetensors(path: string, file: Uint8Array): SafetensorsFile {
  const { header, headerLength } = parseHeader(path, file);
  return parseTensors(path, file, header, headerLength);
}

function parseHeader(path: string, file: Uint8Array): { header: Record<string, unknown>; headerLength: number } {
  if (file.byteLength < 8) {
    throw new LowbitError("truncated safetensors file: no header length", { file: path, expected: "at least 8 bytes", found: `${file.byteLength} bytes` });
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > file.byteLength) {
    throw new LowbitError("safetensors header length runs past the end of the file", {
      file: path, expected: `header of at most ${file.byteLength - 8} bytes`, found: `${headerLength} bytes`,
    });
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + headerLength))) as Record<string, unknown>;
  } catch (err) {
    throw new LowbitError("safetensors header is not valid JSON", { file: path, found: (err as Error).message });
  }
  return { header, headerLength };
}

function parseTensors(path: string, file: Uint8Array, header: Record<string, unknown>, headerLength: number): SafetensorsFile {
  const data = file.subarray(8 + headerLength);
  const tensors = new Map<string, StoredTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (!(dtype in DTYPE_BYTES)) {
      throw new LowbitError("unsupported dtype", { file: path, tensor: name, expected: Object.keys(DTYPE_BYTES).join("|"), found: String(dtype) });
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new LowbitError("bad shape", { file: path, tensor: name, expected: "a list of non-negative integers", found: JSON.stringify(shape) });
    }
    if (!Array.isArray(offsets) || offsets.length !== 2) {
      throw new LowbitError("bad data_offsets", { file: path, tensor: name, expected: "[begin, end]", found: JSON.stringify(offsets) });
    }
    const [begin, end] = offsets;
    if (!(Number.isInteger(begin) && Number.isInteger(end) && 0 <= begin && begin <= end)) {
      throw new LowbitError("tensor data offsets out of range", { file: path, tensor: name, expected: "integers 0 <= begin <= end", found: `[${begin}, ${end}]` });
    }
    if (end > data.byteLength) {
      throw new LowbitError("tensor data runs past the end of the file (truncated?)", {
        file: path, tensor: name, expected: `end <= ${data.byteLength}, the data block's size`, found: `[${begin}, ${end}]`,
      });
    }
    const expectedBytes = numel(shape) * DTYPE_BYTES[dtype as SafetensorsDtype];
    if (end - begin !== expectedBytes) {
      throw new LowbitError("tensor byte size does not match its shape", {
        file: path, tensor: name, expected: `${expectedBytes} bytes for ${dtype}[${shape.join(", ")}]`, found: `${end - begin} bytes`,
      });
    }
    tensors.set(name, { name, dtype: dtype as SafetensorsDtype, shape, bytes: data.subarray(begin, end) });
  }
  return { path, tensors, metadata };
}

// ─── dtype conversion ───────────────────────────────────────────────────────────────────────────

/** The tensor as fp32. F32 data is viewed in place when aligned; F16/BF16 are widened exactly. */
export function toFloat32(t: StoredTensor, file: string): Float32Array {
  const n = numel(t.shape);
  const b = t.bytes;
  switch (t.dtype) {
    case "F32":
      if (b.byteOffset % 4 === 0) return new Float32Array(b.buffer, b.byteOffset, n);
      return new Float32Array(b.slice().buffer);
    case "BF16": {
      const out = new Float32Array(n);
      const outBits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) outBits[i] = (b[2 * i] | (b[2 * i + 1] << 8)) << 16;
      return out;
    }
    case "F16": {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(b[2 * i] | (b[2 * i + 1] << 8));
      return out;
    }
    default:
      throw new LowbitError("expected a floating-point tensor", { file, tensor: t.name, expected: "F32|F16|BF16", found: t.dtype });
  }
}

export function toInt8(t: StoredTensor, file: string): Int8Array {
  if (t.dtype !== "I8") throw new LowbitError("expected int8 codes", { file, tensor: t.name, expected: "I8", found: t.dtype });
  return new Int8Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

// ─── writer ─────────────────────────────────────────────────────────────────────────────────────

export interface TensorToWrite {
  name: string;
  dtype: "F32" | "I8";
  shape: number[];
  data: Float32Array | Int8Array;
}

/**
 * Writes a safetensors file atomically. Tensors are laid out contiguously (the safetensors library
 * rejects gaps), 4-byte tensors first, so with the data block 8-byte aligned every fp32 tensor can be
 * viewed in place.
 */
export function writeSafetensors(path: string, tensors: TensorToWrite[], metadata: Record<string, string> = {}): void {
  const ordered = [...tensors].sort((a, b) => b.data.BYTES_PER_ELEMENT - a.data.BYTES_PER_ELEMENT);
  const header: Record<string, unknown> = { __metadata__: metadata };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of ordered) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  // Pad the JSON with spaces so the data block starts 8-byte aligned.
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const lengthField = new Uint8Array(8);
  new DataView(lengthField.buffer).setBigUint64(0, BigInt(Buffer.byteLength(json)), true);
  writeFileAtomic(path, [lengthField, json, ...chunks]);
}
