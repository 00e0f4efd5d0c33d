// Damaging copies of checkpoint files for bad-input tests: safetensors header edits that keep the data
// block, and JSON file edits.

import { readFileSync, writeFileSync } from "node:fs";

/** Rewrites a safetensors header in place through `edit`, keeping the data block; `lengthOverride` forges the length field. */
export function editSafetensorsHeader(file: string, edit: (h: Record<string, any>) => void, lengthOverride?: bigint): void {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
  edit(header);
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(json.length));
  writeFileSync(file, Buffer.concat([len, json, buf.subarray(8 + n)]));
}

/** Rewrites a JSON file through `edit`, which changes the value in place. */
export function editJsonFile(file: string, edit: (value: any) => void): void {
  const value = JSON.parse(readFileSync(file, "utf8"));
  edit(value);
  writeFileSync(file, JSON.stringify(value));
}
