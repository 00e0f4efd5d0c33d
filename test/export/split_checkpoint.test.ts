// Checkpoints whose weight files are split at byte level into .part-NN files (docs/FORMAT.md): the reader
// sees the same tensors as in the whole file, refuses parts that do not add up, and reads models/teacher.

import assert from "node:assert/strict";
import { cpSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readGpt2Checkpoint, weightFiles, type Gpt2Checkpoint } from "../../src/export/checkpoint.js";
import { partPath } from "../../src/export/safetensors.js";
import { fixtureDir, ROOT, tempDir } from "../helpers/fixtures.js";

const FILE_LIMIT = 48 * 2 ** 20; // the repository's limit on a model file in models/ (16 MiB before the 124M student)

/** Cuts `file` into parts of at most maxBytes (the last may be shorter), then removes it; returns the parts. */
function splitFile(file: string, maxBytes: number): string[] {
  const bytes = readFileSync(file);
  const parts: string[] = [];
  for (let begin = 0; begin < bytes.byteLength; begin += maxBytes) {
    parts.push(partPath(file, parts.length));
    writeFileSync(parts[parts.length - 1], bytes.subarray(begin, begin + maxBytes));
  }
  rmSync(file);
  return parts;
}

/** A copy of a fixture with its weight files split into parts of at most maxBytes. */
function splitCopy(name: string, maxBytes: number): { dir: string; parts: string[] } {
  const dir = join(tempDir(), name);
  cpSync(fixtureDir(name), dir, { recursive: true });
  return { dir, parts: weightFiles(dir).files.flatMap((file) => splitFile(file, maxBytes)) };
}

function assertSameCheckpoint(got: Gpt2Checkpoint, want: Gpt2Checkpoint): void {
  assert.deepEqual(got.config, want.config);
  assert.deepEqual([...got.tensors.keys()], [...want.tensors.keys()]);
  for (const [name, t] of want.tensors) assert.deepEqual(got.tensors.get(name), t, name);
}

describe("split checkpoints", () => {
  it("a model.safetensors split into parts reads as the whole file", () => {
    const { dir, parts } = splitCopy("tiny-f32", 100_000);
    assert.equal(parts.length, 5); // 490,312 bytes
    assertSameCheckpoint(readGpt2Checkpoint(dir), readGpt2Checkpoint(fixtureDir("tiny-f32")));
  });

  it("each shard of a sharded checkpoint may be split", () => {
    const { dir, parts } = splitCopy("tiny-f16", 30_000);
    assert.ok(parts.some((p) => p.endsWith("model-00002-of-00002.safetensors.part-04")));
    assertSameCheckpoint(readGpt2Checkpoint(dir), readGpt2Checkpoint(fixtureDir("tiny-f16")));
  });

  it("parts that do not add up to the header's size are refused, naming the file and both sizes", () => {
    const { dir, parts } = splitCopy("tiny-f32", 100_000);
    const file = join(dir, "model.safetensors");
    truncateSync(parts[4], 1000); // 4 × 100,000 + 1,000 bytes left
    assert.throws(() => readGpt2Checkpoint(dir), {
      name: "LowbitError",
      message: `${file}: its parts ${parts[0]} … ${parts[4]} do not add up to the size the safetensors header gives; expected 490312 bytes, found 401000 bytes (a part missing or cut short?)`,
    });
    rmSync(parts[2]); // the reader stops at the first missing number
    assert.throws(() => readGpt2Checkpoint(dir), { message: /part-01 do not add up .*; expected 490312 bytes, found 200000 bytes/ });
  });
});

describe("models/teacher", () => {
  const dir = join(ROOT, "models", "teacher");

  it("loads through the checkpoint reader with the teacher's config", () => {
    const ckpt = readGpt2Checkpoint(dir);
    assert.equal(ckpt.quantization, undefined);
    assert.deepEqual(
      [ckpt.config.n_layer, ckpt.config.n_head, ckpt.config.n_embd, ckpt.config.vocab_size, ckpt.config.n_positions],
      [6, 8, 256, 50257, 512],
    );
    assert.deepEqual(ckpt.tensors.get("wte.weight")?.shape, [50257, 256]);
  });

  it("every file in models/ is under 48 MiB", () => {
    const files = readdirSync(join(ROOT, "models"), { recursive: true, encoding: "utf8" })
      .map((f) => join(ROOT, "models", f))
      .filter((f) => statSync(f).isFile());
    assert.ok(files.includes(partPath(join(dir, "model.safetensors"), 0)));
    for (const f of files) assert.ok(statSync(f).size < FILE_LIMIT, `${f}: ${statSync(f).size} bytes`);
  });
});
