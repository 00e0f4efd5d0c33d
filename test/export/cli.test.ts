// The CLI's happy paths: quantize → quantized checkpoint → export (with its own settings), inspect of
// both kinds of input, and the report's JSON fields.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readGpt2Checkpoint } from "../../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint } from "../../src/export/export.js";
import { runCli } from "../helpers/cli.js";
import { expected, fixtureDir, tempDir } from "../helpers/fixtures.js";
import { openOrt, ortGreedy } from "../helpers/ort_gpt2.js";

describe("lowbit CLI", () => {
  it("a quantized checkpoint round-trips: quantize, then export with its own settings, equals exporting directly", async () => {
    const dir = tempDir();
    const qdir = join(dir, "q");
    const q = runCli(["quantize", fixtureDir("tiny-bf16"), "-o", qdir, "--bits", "2", "--embedding-bits", "4", "--granularity", "group", "--group-size", "32", "--clip", "mse"]);
    assert.equal(q.status, 0, q.stderr);
    const qconfig = JSON.parse(readFileSync(join(qdir, "config.json"), "utf8")).quantization_config;
    assert.deepEqual(qconfig, {
      format: "lowbit-quantized-checkpoint", format_version: 1, weight_bits: 2, embedding_bits: 4, activation_bits: 8,
      granularity: "group", group_size: 32, method: "rtn-mse",
    });

    const viaCheckpoint = join(dir, "via-checkpoint.onnx");
    const e = runCli(["export", qdir, "-o", viaCheckpoint, "--report", join(dir, "r.json")]);
    assert.equal(e.status, 0, e.stderr);
    assert.match(e.stdout, /W-E-A 2-4-8, group G=32, rtn-mse/);

    const direct = join(dir, "direct.onnx");
    const settings = { weightBits: 2, embeddingBits: 4, activationBits: 8, granularity: "group", groupSize: 32, clip: "mse" } as const;
    writeFileSync(direct, exportGpt2(quantizeCheckpoint(readGpt2Checkpoint(fixtureDir("tiny-bf16")), settings), { format: "dq", activationBits: 8, source: "x" }).bytes);
    const prompt = expected("tiny-bf16").prompt_ids;
    const a = await ortGreedy(await openOrt(viaCheckpoint), prompt, 16);
    const b = await ortGreedy(await openOrt(direct), prompt, 16);
    assert.deepEqual(a.ids, b.ids);
    assert.deepEqual(a.promptLogits, b.promptLogits);
  });

  it("refuses quantization options for an already quantized checkpoint", () => {
    const qdir = join(tempDir(), "q");
    assert.equal(runCli(["quantize", fixtureDir("tiny-f32"), "-o", qdir, "--bits", "4"]).status, 0);
    const r = runCli(["export", qdir, "-o", join(tempDir(), "m.onnx"), "--bits", "2"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /^lowbit: error: .*already quantized and exports with its own settings; expected no quantization options, found --bits \(it is W-E-A 4-4-8, rtn-maxabs\)\n$/);
  });

  it("writes the JSON report with the fields scripts rely on", () => {
    const dir = tempDir();
    const r = runCli(["export", fixtureDir("tiny-f16"), "-o", join(dir, "m.onnx"), "--bits", "8", "--format", "nbits", "--report", join(dir, "r.json")]);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(readFileSync(join(dir, "r.json"), "utf8"));
    for (const key of ["weights_ratio", "file_ratio", "file_bytes", "param_count", "param_bytes", "components"]) assert.ok(key in report, key);
    assert.equal(report.file_bytes, readFileSync(join(dir, "m.onnx")).byteLength);
    assert.equal(report.quantization.weight_format, "nbits");
  });

  it("inspects an exported file and a checkpoint directory", () => {
    const dir = tempDir();
    const model = join(dir, "m.onnx");
    assert.equal(runCli(["export", fixtureDir("tiny-f32"), "-o", model, "--bits", "2"]).status, 0);
    const f = runCli(["inspect", model]);
    assert.equal(f.status, 0, f.stderr);
    assert.match(f.stdout, /lowbit ONNX \(gpt2\), .* IR 12, opsets ai\.onnx 25/);
    assert.match(f.stdout, /h\.1\.mlp\.c_fc\.weight\s+\[64, 256\]\s+dq per-module\s+2\s+4,100/); // 64·256/4 codes + 4-byte scale
    const c = runCli(["inspect", fixtureDir("tiny-f16")]);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout, /wte\.weight\s+F16\s+\[320, 48\]\s+16\s+30,720\s+model-0000[12]-of-00002\.safetensors/);
  });

  it("quantize offers and takes --bits 2|4|8 only; export also 32 (an fp32 file)", () => {
    const help = runCli(["quantize", "--help"]);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /--bits <n>\s+weight bits: 2\|4\|8 \(default: "4"\)\n/);
    const r = runCli(["quantize", fixtureDir("tiny-f32"), "-o", join(tempDir(), "q"), "--bits", "32"]);
    assert.notEqual(r.status, 0);
    assert.equal(r.stderr, "lowbit: error: unsupported bit width for --bits; expected 2|4|8, found 32\n");
    assert.match(runCli(["export", "--help"]).stdout.replace(/\s+/g, " "), /--bits <n> weight bits: 2\|4\|8, or 32 for an unquantized fp32 export/);
  });

  it("a checkpoint path that does not exist or is a file says so, not that config.json is missing", () => {
    const dir = tempDir();
    const missing = join(dir, "nonexistent");
    const file = join(dir, "a-file");
    writeFileSync(file, "not a checkpoint");
    const expectedDir = "expected a checkpoint directory (config.json + model.safetensors)";
    for (const command of ["export", "quantize"]) {
      const gone = runCli([command, missing, "-o", join(dir, "out")]);
      assert.notEqual(gone.status, 0);
      assert.equal(gone.stderr, `lowbit: error: ${missing}: no such directory, and not a Hugging Face Hub id; ${expectedDir} or a Hub id such as gpt2 or facebook/bart-base[@revision]\n`, command);
      const notDir = runCli([command, file, "-o", join(dir, "out")]);
      assert.notEqual(notDir.status, 0);
      assert.equal(notDir.stderr, `lowbit: error: ${file}: not a directory; ${expectedDir}, found a file\n`, command);
    }
    // inspect takes a file or a directory: a missing path is neither.
    assert.equal(runCli(["inspect", missing]).stderr, `lowbit: error: ${missing}: no such file or directory\n`);
  });

  it("rejects an ONNX file that lowbit did not write", () => {
    const path = join(tempDir(), "other.onnx");
    writeFileSync(path, Buffer.from([0x08, 0x07, 0x12, 0x03, 0x66, 0x6f, 0x6f])); // ir_version 7, producer "foo"
    const r = runCli(["inspect", path]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /other\.onnx: not a lowbit model: metadata_props has no lowbit\.format \(export it with `lowbit export`\)/);
  });
});
