// GPT-2-124M-shaped checkpoint (random weights, scripts/make_random_gpt2.ts) through the real CLI:
// at W-E-A 2-2-8 the weights ratio must reach 14× (the paper reports 14.4×), and onnxruntime must run the
// file and agree with the reference forward.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { readModelFile } from "../../src/format/node_io.js";
import { loadReferenceModel, referenceForward, emptyCache } from "../../src/reference/gpt2.js";
import { GPT2_124M, makeRandomGpt2 } from "../../scripts/make_random_gpt2.js";
import { runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/fixtures.js";
import { maxAbsDiff, openOrt, ortStep } from "../helpers/ort_gpt2.js";

describe("GPT-2 124M shape at W-E-A 2-2-8", () => {
  const dir = tempDir();
  const ckpt = join(dir, "gpt2-124m-random");
  const model = join(dir, "gpt2-124m-228.onnx");
  const reportPath = join(dir, "report.json");
  let stdout = "";

  before(() => {
    makeRandomGpt2(ckpt, GPT2_124M);
    const r = runCli(["export", ckpt, "-o", model, "--bits", "2", "--embedding-bits", "2", "--activation-bits", "8", "--report", reportPath]);
    assert.equal(r.status, 0, r.stderr);
    stdout = r.stdout;
  });

  it("reports a weights ratio of at least 14×, in the table and in the JSON report", () => {
    const report = JSON.parse(readFileSync(reportPath, "utf8"));
    assert.equal(report.param_count, 124_439_808); // GPT-2 124M with the tied embedding counted once
    assert.ok(report.weights_ratio >= 14, `weights ratio ${report.weights_ratio}`);
    assert.ok(report.file_ratio > 13 && report.file_ratio < report.weights_ratio);
    assert.equal(report.file_bytes, readFileSync(model).byteLength);
    assert.match(stdout, new RegExp(`weights ratio .*: ${report.weights_ratio.toFixed(2)}×`));
  });

  it("onnxruntime runs it and matches the reference forward", async () => {
    const prompt = [464, 2068, 7586];
    const ort = await openOrt(model);
    const got = await ortStep(ort, prompt, undefined);
    const reference = loadReferenceModel(readModelFile(model));
    const ref = referenceForward(reference, prompt, emptyCache(reference));
    const diff = maxAbsDiff(got.logits, ref);
    assert.ok(diff <= 1e-4, `max |onnxruntime − reference| = ${diff}`);
  });
});
