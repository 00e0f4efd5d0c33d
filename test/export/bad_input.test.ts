// Bad input gets one clear error line naming file / tensor / expected / found, a non-zero exit, and
// never a half-written output: each case runs the real CLI over a damaged copy of a fixture.

import assert from "node:assert/strict";
import { cpSync, existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fixtureDir, tempDir } from "../helpers/fixtures.js";
import { readSafetensors, writeSafetensors } from "../../src/export/safetensors.js";
import { toFloat32 } from "../../src/format/safetensors.js";
import { editJsonFile, editSafetensorsHeader } from "../helpers/checkpoint_edits.js";
import { runCli } from "../helpers/cli.js";

/** A fresh copy of tiny-f32 to damage. */
function copyFixture(): string {
  const dir = join(tempDir(), "ckpt");
  cpSync(fixtureDir("tiny-f32"), dir, { recursive: true });
  return dir;
}

function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  editJsonFile(join(dir, "config.json"), edit);
}

/** Runs an export that must fail over an existing output, and checks the failure's shape. */
function expectExportError(args: string[], pattern: RegExp): void {
  const out = join(tempDir(), "existing.onnx");
  writeFileSync(out, "previous contents");
  const r = runCli(["export", ...args, "-o", out]);
  assert.notEqual(r.status, 0, "exit status must be non-zero");
  assert.equal(r.stdout, "");
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one error line, got:\n${r.stderr}`);
  assert.match(lines[0], /^lowbit: error: /);
  assert.match(lines[0], pattern);
  assert.equal(readFileSync(out, "utf8"), "previous contents", "the existing output must be untouched");
}

describe("bad input", () => {
  it("truncated file", () => {
    const dir = copyFixture();
    const file = join(dir, "model.safetensors");
    truncateSync(file, 300_000);
    expectExportError([dir], /model\.safetensors: tensor [\w.]+: tensor data runs past the end of the file \(truncated\?\); expected a data block of \d+ bytes, found \d+ bytes/);
  });

  it("file too short to hold a header length", () => {
    const dir = copyFixture();
    truncateSync(join(dir, "model.safetensors"), 5);
    expectExportError([dir], /model\.safetensors: truncated safetensors file: no header length; expected at least 8 bytes, found 5 bytes/);
  });

  it("header length past the end of the file", () => {
    const dir = copyFixture();
    editSafetensorsHeader(join(dir, "model.safetensors"), () => {}, 10n ** 12n);
    expectExportError([dir], /model\.safetensors: safetensors header length runs past the end of the file; expected header of at most \d+ bytes, found 1000000000000 bytes/);
  });

  it("tensor offsets out of range", () => {
    const dir = copyFixture();
    editSafetensorsHeader(join(dir, "model.safetensors"), (h) => (h["transformer.wpe.weight"].data_offsets = [4096, 64]));
    expectExportError([dir], /tensor transformer\.wpe\.weight: tensor data offsets out of range; expected integers 0 <= begin <= end, found \[4096, 64\]/);
  });

  it("tensor byte size that does not match its shape", () => {
    const dir = copyFixture();
    editSafetensorsHeader(join(dir, "model.safetensors"), (h) => (h["transformer.wpe.weight"].shape = [64, 65]));
    expectExportError([dir], /tensor transformer\.wpe\.weight: tensor byte size does not match its shape; expected 16640 bytes for F32\[64, 65\], found 16384 bytes/);
  });

  it("unknown dtype", () => {
    const dir = copyFixture();
    editSafetensorsHeader(join(dir, "model.safetensors"), (h) => (h["transformer.h.0.ln_1.bias"].dtype = "Q7"));
    expectExportError([dir], /model\.safetensors: bad value for transformer\.h\.0\.ln_1\.bias\.dtype; expected F32\|F16\|BF16\|I8\|U8\|BOOL\|I32\|I64, found "Q7"/);
  });

  it("missing config key", () => {
    const dir = copyFixture();
    editConfig(dir, (c) => delete c.n_embd);
    expectExportError([dir], /config\.json: missing key n_embd; expected an integer in 1\.\.16384, found nothing/);
  });

  it("missing tensor", () => {
    const dir = copyFixture();
    const file = join(dir, "model.safetensors");
    const kept = [...readSafetensors(file).tensors.values()].filter((t) => t.name !== "transformer.ln_f.bias");
    writeSafetensors(file, kept.map((t) => ({ name: t.name, dtype: "F32", shape: t.shape, data: toFloat32(t, file) })));
    expectExportError([dir], /tensor ln_f\.bias: missing tensor; expected shape \[64\], found nothing/);
  });

  it("a tensor the config does not describe", () => {
    const dir = copyFixture();
    editSafetensorsHeader(join(dir, "model.safetensors"), (h) => {
      h["transformer.ln_f.bias_renamed"] = h["transformer.ln_f.bias"];
      delete h["transformer.ln_f.bias"];
    });
    expectExportError([dir], /tensor transformer\.ln_f\.bias_renamed: checkpoint holds a tensor that config\.json does not describe/);
    const fewer = copyFixture();
    editConfig(fewer, (c) => (c.n_layer = 1));
    expectExportError([fewer], /tensor transformer\.h\.1\.\S+: checkpoint holds a tensor that config\.json does not describe/);
  });

  it("shape mismatch with the config", () => {
    const dir = copyFixture();
    editConfig(dir, (c) => (c.n_positions = 65));
    expectExportError([dir], /model\.safetensors: tensor transformer\.wpe\.weight: shape mismatch with config\.json; expected \[65, 64\], found \[64, 64\]/);
  });

  it("unsupported bit width", () => {
    expectExportError([fixtureDir("tiny-f32"), "--bits", "3"], /unsupported bit width for --bits; expected 2\|4\|8\|32, found 3/);
    expectExportError([fixtureDir("tiny-f32"), "--embedding-bits", "16"], /unsupported bit width for --embedding-bits; expected 2\|4\|8\|32, found 16/);
    expectExportError([fixtureDir("tiny-f32"), "--activation-bits", "4"], /unsupported bit width for --activation-bits; expected 8\|32, found 4/);
  });

  it("unsupported bit width in a quantized checkpoint", () => {
    const dir = join(tempDir(), "q");
    assert.equal(runCli(["quantize", fixtureDir("tiny-f32"), "-o", dir, "--bits", "4"]).status, 0);
    editConfig(dir, (c) => ((c.quantization_config as Record<string, unknown>).weight_bits = 3));
    expectExportError([dir], /config\.json: bad value for quantization_config\.weight_bits; expected 2\|4\|8, found 3/);
  });

  it("unsupported group size", () => {
    expectExportError([fixtureDir("tiny-f32"), "--granularity", "group", "--group-size", "48"], /unsupported --group-size; expected 32\|64\|128\|256, found 48/);
  });

  it("unwritable output path", () => {
    const blocker = join(tempDir(), "a-file");
    writeFileSync(blocker, "not a directory");
    const out = join(blocker, "model.onnx");
    const r = runCli(["export", fixtureDir("tiny-f32"), "--bits", "4", "-o", out]);
    assert.notEqual(r.status, 0);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^lowbit: error: .*a-file\/model\.onnx: cannot write output, found ENOTDIR/);
  });

  it("a failed write leaves no temporary file behind", () => {
    const dir = tempDir();
    const out = join(dir, "model.onnx");
    writeFileSync(out, "previous contents");
    // The report path is unwritable, so the run fails after the model was written: the model is whole
    // (renamed into place complete) and no temporary file remains.
    const r = runCli(["export", fixtureDir("tiny-f32"), "--bits", "4", "-o", out, "--report", join(dir, "missing-dir", "r.json")]);
    assert.notEqual(r.status, 0);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes(".tmp-")), []);
    assert.ok(existsSync(out));
    assert.notEqual(readFileSync(out, "utf8").slice(0, 17), "previous contents");
  });
});
