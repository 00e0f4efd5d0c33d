// Node-only file reading for the CLI, tests and benchmarks; the library core stays free of Node built-ins.

import { readFileSync } from "node:fs";
import { LowbitError } from "../errors.js";
import { parseModelFile, type LowbitModelFile } from "./lowbit_onnx.js";
import { parseShardIndex } from "./safetensors.js";
import { parseJson } from "./schema.js";

/** A file's bytes, or a LowbitError naming the file and the reason. */
export function readBytes(path: string, what = "file"): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (err) {
    throw new LowbitError(`cannot read ${what}`, { file: path, found: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
}

export function readModelFile(path: string): LowbitModelFile {
  return parseModelFile(readBytes(path, "model file"), path);
}

/** A model.safetensors.index.json read and checked: tensor name → shard file name (parseShardIndex). */
export function readShardIndex(indexPath: string): Map<string, string> {
  const text = new TextDecoder().decode(readBytes(indexPath, "the shard index"));
  return parseShardIndex(parseJson(text, indexPath, "shard index"), indexPath);
}
