// The safetensors format (https://huggingface.co/docs/safetensors) and the sharded-checkpoint index, as
// lowbit reads them: validators over bytes already in memory, and dtype conversion. Reading files (and
// files split into parts) and writing them is src/export/safetensors.ts.
//
// Layout: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin,
// end]}, "__metadata__"?: {string: string}}, then the data block that the offsets index. As the reference
// implementation requires, the tensors tile the data block exactly: sorted by offset they start at 0, each
// begins where the previous ends, and the last ends at the end of the file, so no byte is read twice or
// left unaccounted for.

import { LowbitError } from "../errors.js";
import { describeValue, intIn, oneOf, parseOrThrow, v } from "./schema.js";

export type SafetensorsDtype = "F32" | "F16" | "BF16" | "I8" | "U8" | "BOOL" | "I32" | "I64";

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, I8: 1, U8: 1, BOOL: 1, I32: 4, I64: 8 };
const DTYPES = Object.keys(DTYPE_BYTES) as SafetensorsDtype[];

/** The reference implementation's limit on the header's size (100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;
/** Largest dimension and offset accepted: 2^53 − 1 keeps byte arithmetic exact in doubles. */
const MAX_INDEX = Number.MAX_SAFE_INTEGER;

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

export interface SafetensorsHeader {
  headerLength: number;
  entries: Array<{ name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }>;
  metadata: Record<string, string>;
  /** Bytes of the data block the entries tile. */
  dataBytes: number;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

const EntrySchema = v.strictObject(
  {
    dtype: oneOf(DTYPES),
    shape: v.array(intIn(0, MAX_INDEX), "a list of non-negative integers"),
    data_offsets: v.strictTuple([intIn(0, MAX_INDEX), intIn(0, MAX_INDEX)], "[begin, end]"),
  },
  "an entry {dtype, shape, data_offsets}",
);
const MetadataSchema = v.record(v.string(), v.string("a string"), "an object of strings");

/** Parses and checks the header: types, sizes against shapes, and offsets that tile the data block. */
export function parseSafetensorsHeader(path: string, file: Uint8Array): SafetensorsHeader {
  if (file.byteLength < 8) {
    throw new LowbitError("truncated safetensors file: no header length", { file: path, expected: "at least 8 bytes", found: `${file.byteLength} bytes` });
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const length = view.getBigUint64(0, true);
  if (length > BigInt(Math.min(MAX_HEADER_BYTES, file.byteLength - 8))) {
    throw new LowbitError("safetensors header length runs past the end of the file", {
      file: path, expected: `header of at most ${Math.min(MAX_HEADER_BYTES, file.byteLength - 8)} bytes`, found: `${length} bytes`,
    });
  }
  const headerLength = Number(length);
  let json: unknown;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(file.subarray(8, 8 + headerLength));
    json = JSON.parse(text);
  } catch (err) {
    throw new LowbitError("safetensors header is not valid JSON", { file: path, found: (err as Error).message });
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new LowbitError("safetensors header is not a JSON object", { file: path, expected: "{name: {dtype, shape, data_offsets}}", found: describeValue(json) });
  }
  const keys = topLevelKeyCount(text);
  if (keys !== Object.keys(json).length) {
    throw new LowbitError("safetensors header names a tensor twice", { file: path, expected: "each name once", found: `${keys} keys for ${Object.keys(json).length} names` });
  }
  let metadata: Record<string, string> = {};
  const entries: SafetensorsHeader["entries"] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      // valibot's record takes an array as an object of index keys; the format wants an object.
      if (Array.isArray(raw)) throw new LowbitError("bad value for __metadata__", { file: path, expected: "an object of strings", found: describeValue(raw) });
      metadata = parseOrThrow(MetadataSchema, raw, { file: path, field: "__metadata__" });
      continue;
    }
    const e = parseOrThrow(EntrySchema, raw, { file: path, field: name });
    const [begin, end] = e.data_offsets;
    if (begin > end) {
      throw new LowbitError("tensor data offsets out of range", { file: path, tensor: name, expected: "integers 0 <= begin <= end", found: `[${begin}, ${end}]` });
    }
    const expectedBytes = numel(e.shape) * DTYPE_BYTES[e.dtype];
    if (end - begin !== expectedBytes) {
      throw new LowbitError("tensor byte size does not match its shape", {
        file: path, tensor: name, expected: `${expectedBytes} bytes for ${e.dtype}[${e.shape.join(", ")}]`, found: `${end - begin} bytes`,
      });
    }
    entries.push({ name, dtype: e.dtype, shape: e.shape, begin, end });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of sorted) {
    if (e.begin !== cursor) {
      throw new LowbitError(e.begin < cursor ? "tensor data overlaps another tensor's" : "gap in the data block before tensor", {
        file: path, tensor: e.name, expected: `data starting at byte ${cursor}`, found: `[${e.begin}, ${e.end}]`,
      });
    }
    cursor = e.end;
  }
  return { headerLength, entries, metadata, dataBytes: cursor };
}

/**
 * Keys of the outermost object in JSON text that JSON.parse accepted. JSON.parse keeps the last of
 * duplicate keys without a word, which would let a header name one tensor twice and silently use either;
 * counting the keys in the text is the one way to see it (no JSON library here reports duplicates).
 */
function topLevelKeyCount(text: string): number {
  let depth = 0;
  let count = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{" || c === "[") {
      depth++;
      expectKey = c === "{" && depth === 1;
    } else if (c === "}" || c === "]") {
      depth--;
    } else if (c === ",") {
      expectKey = depth === 1;
    } else if (c === '"') {
      if (depth === 1 && expectKey) {
        count++;
        expectKey = false;
      }
      for (i++; text[i] !== '"'; i++) if (text[i] === "\\") i++; // skip the string, escapes included
    }
  }
  return count;
}

/** Parses a whole safetensors file held in memory (its header, if the caller has already parsed it); tensors are views into `file`. */
export function parseSafetensors(path: string, file: Uint8Array, header = parseSafetensorsHeader(path, file)): SafetensorsFile {
  const data = file.subarray(8 + header.headerLength);
  if (data.byteLength !== header.dataBytes) {
    const last = header.entries.find((e) => e.end === header.dataBytes);
    throw new LowbitError(
      data.byteLength < header.dataBytes ? "tensor data runs past the end of the file (truncated?)" : "file holds bytes after the last tensor",
      { file: path, tensor: last?.name, expected: `a data block of ${header.dataBytes} bytes`, found: `${data.byteLength} bytes` },
    );
  }
  const tensors = new Map<string, StoredTensor>();
  for (const e of header.entries) tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, bytes: data.subarray(e.begin, e.end) });
  return { path, tensors, metadata: header.metadata };
}

// ─── shard index (model.safetensors.index.json) ─────────────────────────────────────────────────

/** A shard's file name: a plain name in the checkpoint directory, never a path that leaves it. */
const ShardName = v.pipe(
  v.string("a file name"),
  v.check((s) => /^[\w.-]+\.safetensors$/.test(s) && !s.startsWith("."), "a plain *.safetensors file name in the checkpoint directory"),
);
const ShardIndexSchema = v.looseObject({
  // total_size is informational (transformers shows it in progress bars and checks nothing against it).
  metadata: v.optional(v.looseObject({ total_size: v.optional(intIn(0, Number.MAX_SAFE_INTEGER)) }, "an object")),
  weight_map: v.record(v.string(), ShardName, "an object {tensor name: shard file}"),
}, "an object with a weight_map");

/** The index's tensor → shard map, validated. */
export function parseShardIndex(raw: unknown, file: string): Map<string, string> {
  const index = parseOrThrow(ShardIndexSchema, raw, { file });
  const map = new Map(Object.entries(index.weight_map));
  if (map.size === 0) throw new LowbitError("shard index maps no tensors", { file, expected: "a non-empty weight_map", found: "{}" });
  return map;
}

// ─── dtype conversion ───────────────────────────────────────────────────────────────────────────

/**
 * The tensor as fp32. F32 data is viewed in place when aligned; F16/BF16 are widened exactly. Non-finite
 * values are refused: a NaN or infinite weight (a flipped exponent bit, a diverged run) would otherwise
 * quantize and run as silent garbage.
 */
export function toFloat32(t: StoredTensor, file: string): Float32Array {
  const n = numel(t.shape);
  const b = t.bytes;
  let out: Float32Array;
  switch (t.dtype) {
    case "F32":
      // A copy where unaligned: Uint8Array.prototype.slice, since on a Node Buffer .slice() is a view.
      out = b.byteOffset % 4 === 0 ? new Float32Array(b.buffer, b.byteOffset, n) : new Float32Array(Uint8Array.prototype.slice.call(b).buffer);
      break;
    case "BF16": {
      out = new Float32Array(n);
      const outBits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) outBits[i] = (b[2 * i] | (b[2 * i + 1] << 8)) << 16;
      break;
    }
    case "F16": {
      out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(b[2 * i] | (b[2 * i + 1] << 8));
      break;
    }
    default:
      throw new LowbitError("expected a floating-point tensor", { file, tensor: t.name, expected: "F32|F16|BF16", found: t.dtype });
  }
  checkFinite(out, file, t.name);
  return out;
}

export function checkFinite(data: Float32Array, file: string, tensor: string): void {
  for (let i = 0; i < data.length; i++) {
    // x − x is 0 for every finite x and NaN for ±Infinity and NaN: one branch per element.
    if (data[i] - data[i] !== 0) {
      throw new LowbitError("tensor holds a non-finite value", { file, tensor, expected: "finite numbers", found: `${data[i]} at index ${i}` });
    }
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
