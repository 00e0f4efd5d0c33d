// fp32 export against the transformers oracle: onnxruntime-node's logits and 32 greedy KV-cache steps
// must equal what transformers computed on the same checkpoints (scripts/make_fixtures.py).

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readGpt2Checkpoint } from "../../src/export/checkpoint.js";
import { exportGpt2 } from "../../src/export/export.js";
import { readModelFile } from "../../src/format/node_io.js";
import { loadReferenceModel, referenceGreedy } from "../../src/reference/gpt2.js";
import { GPT2_FIXTURES, expected, fixtureDir, tempDir } from "../helpers/fixtures.js";
import { maxAbsDiff, openOrt, ortGreedy } from "../helpers/ort_gpt2.js";

const LOGITS_TOLERANCE = 1e-4;

describe("fp32 export vs transformers", () => {
  const dir = tempDir();
  for (const name of GPT2_FIXTURES) {
    it(`${name}: onnxruntime logits and 32 greedy ids equal transformers'`, async () => {
      const want = expected(name);
      const { bytes } = exportGpt2(readGpt2Checkpoint(fixtureDir(name)), { format: "dq", activationBits: 32, source: name });
      const path = join(dir, `${name}.onnx`);
      writeFileSync(path, bytes);
      const got = await ortGreedy(await openOrt(path), want.prompt_ids, want.greedy_ids.length);
      const diff = maxAbsDiff(got.promptLogits, want.logits);
      assert.ok(diff <= LOGITS_TOLERANCE, `max |logits − transformers| = ${diff} > ${LOGITS_TOLERANCE}`);
      assert.deepEqual(got.ids, want.greedy_ids);
    });

    it(`${name}: the TS reference forward equals transformers too`, () => {
      const want = expected(name);
      const path = join(dir, `${name}.ref.onnx`);
      writeFileSync(path, exportGpt2(readGpt2Checkpoint(fixtureDir(name)), { format: "dq", activationBits: 32, source: name }).bytes);
      const got = referenceGreedy(loadReferenceModel(readModelFile(path)), want.prompt_ids, want.greedy_ids.length);
      const diff = maxAbsDiff(got.promptLogits, want.logits);
      assert.ok(diff <= LOGITS_TOLERANCE, `max |logits − transformers| = ${diff} > ${LOGITS_TOLERANCE}`);
      assert.deepEqual(got.ids, want.greedy_ids);
    });
  }
});
