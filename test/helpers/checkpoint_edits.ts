// Damaging copies of checkpoint files for bad-input tests: a fresh copy of a fixture, safetensors header
// edits that keep the data block, JSON file edits, and the check that readCheckpoint refuses the result.

import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readCheckpoint } from "../../src/export/checkpoint.js";
import { LowbitError } from "../../src/errors.js";
import { tempDir } from "./fixtures.js";

/** A copy of the checkpoint folder `src` in a new temporary directory, named `name`. */
export function copyCheckpoint(src: string, name: string): string {
  const dir = join(tempDir(), name);
  cpSync(src, dir, { recursive: true });
  return dir;
}

/** readCheckpoint(dir) throws a LowbitError matching `pattern` (on one line if `oneLine`), and quickly. */
export function assertRefused(dir: string, pattern: RegExp, { oneLine = false } = {}): void {
  const t0 = performance.now();
  assert.throws(() => readCheckpoint(dir), (e: Error) => {
    assert.ok(e instanceof LowbitError, `expected a LowbitError, got ${e.name}: ${e.message}`);
    if (oneLine) assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, pattern);
    return true;
  });
  // Not a timing goal: a refusal that took seconds would mean the limits did not stop a loop.
  assert.ok(performance.now() - t0 < 5000, "refused without looping over a hostile size");
}

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
