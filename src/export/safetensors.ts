// safetensors files on disk: reading a checkpoint's weight file (whole, or split into parts) and writing
// one atomically. What the bytes must look like, and the checks, are src/format/safetensors.ts.
//
// A file may be stored split at byte level into `X.safetensors.part-00`, `.part-01`, … (docs/FORMAT.md,
// for hosts that cap file sizes): reading X.safetensors when it is absent reads the parts' concatenation.
// The writer is by hand: the format is 30 lines of byte arithmetic and the npm packages for it either
// only read or pull in a tensor library.

import { existsSync } from "node:fs";
import { LowbitError } from "../errors.js";
import { readBytes } from "../format/node_io.js";
import { parseSafetensors, parseSafetensorsHeader, type SafetensorsFile } from "../format/safetensors.js";
import { writeFileAtomic } from "./atomic_write.js";

/**
 * Parses a safetensors file, whole or split into parts, checking the header, every dtype, shape and offset
 * against the file's size.
 */
export function readSafetensors(path: string): SafetensorsFile {
  const parts = partFiles(path);
  if (parts.length === 0) return parseSafetensors(path, readBytes(path));
  const file = Buffer.concat(parts.map((p) => readBytes(p)));
  const header = parseSafetensorsHeader(path, file);
  // Checked before the tensors, so that a missing or cut part is reported as that, not as a short tensor.
  const expected = 8 + header.headerLength + header.dataBytes;
  if (file.byteLength !== expected) {
    throw new LowbitError(`its parts ${parts[0]} … ${parts[parts.length - 1]} do not add up to the size the safetensors header gives`, {
      file: path, expected: `${expected} bytes`, found: `${file.byteLength} bytes`, hint: "a part missing or cut short?",
    });
  }
  return parseSafetensors(path, file, header);
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
