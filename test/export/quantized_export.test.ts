// 2/4/8-bit exports: onnxruntime (graph optimizations disabled) must agree with the TS reference forward
// run on the file's dequantized weights with the same per-token int8 activation quantization:
// prompt logits within 1e-4 and identical greedy ids for 32 steps, in both weight formats.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readGpt2Checkpoint } from "../../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint, type QuantizeSettings } from "../../src/export/export.js";
import { readModelFile } from "../../src/format/node_io.js";
import { loadReferenceModel, referenceGreedy } from "../../src/reference/gpt2.js";
import { GPT2_FIXTURES, expected, fixtureDir, tempDir } from "../helpers/fixtures.js";
import { maxAbsDiff, openOrt, ortGreedy } from "../helpers/ort_gpt2.js";

const LOGITS_TOLERANCE = 1e-4;
const STEPS = 32;

const SETTINGS: Array<{ label: string; s: QuantizeSettings }> = [
  { label: "W8 E8 A8 module maxabs", s: { weightBits: 8, embeddingBits: 8, activationBits: 8, granularity: "module", groupSize: 0, clip: "maxabs" } },
  { label: "W4 E4 A8 group32 mse", s: { weightBits: 4, embeddingBits: 4, activationBits: 8, granularity: "group", groupSize: 32, clip: "mse" } },
  { label: "W2 E2 A8 module mse", s: { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "mse" } },
  { label: "W2 E8 A8 group64 maxabs", s: { weightBits: 2, embeddingBits: 8, activationBits: 8, granularity: "group", groupSize: 64, clip: "maxabs" } },
  { label: "W4 E32 A32 module mse", s: { weightBits: 4, embeddingBits: 32, activationBits: 32, granularity: "module", groupSize: 0, clip: "mse" } },
];

describe("quantized exports: onnxruntime vs the reference forward", () => {
  const dir = tempDir();
  for (const name of GPT2_FIXTURES) {
    const ckpt = readGpt2Checkpoint(fixtureDir(name));
    const prompt = expected(name).prompt_ids;
    for (const { label, s } of SETTINGS) {
      for (const format of ["dq", "nbits"] as const) {
        it(`${name} ${label} ${format}`, async () => {
          const q = quantizeCheckpoint(ckpt, s);
          const path = join(dir, `${name}-${label.replace(/ /g, "_")}-${format}.onnx`);
          writeFileSync(path, exportGpt2(q, { format, activationBits: s.activationBits, source: name }).bytes);
          const ref = referenceGreedy(loadReferenceModel(readModelFile(path)), prompt, STEPS);
          const got = await ortGreedy(await openOrt(path), prompt, STEPS);
          const diff = maxAbsDiff(got.promptLogits, ref.promptLogits);
          assert.ok(diff <= LOGITS_TOLERANCE, `max |onnxruntime − reference| = ${diff} > ${LOGITS_TOLERANCE}`);
          assert.deepEqual(got.ids, ref.ids);
        });
      }
    }
  }

  it("quantization changes the model: 2-bit logits differ from fp32 (the comparison is not vacuous)", async () => {
    const name = "tiny-f32";
    const s = SETTINGS[2].s;
    const path = join(dir, "vacuity.onnx");
    writeFileSync(path, exportGpt2(quantizeCheckpoint(readGpt2Checkpoint(fixtureDir(name)), s), { format: "dq", activationBits: 8, source: name }).bytes);
    const got = await ortGreedy(await openOrt(path), expected(name).prompt_ids, 1);
    assert.ok(maxAbsDiff(got.promptLogits, expected(name).logits) > 1e-2);
  });
});
