// lowbit's BART runtime on fp32 exports of the tiny transformers checkpoints: the encoder's output and the
// teacher-forced logits within 1e-4 of transformers', and identical ids from summarize() for every generate()
// setting the fixtures recorded (greedy and beam search, penalties, forced tokens, length limits). Also the
// folder on disk, loading errors, and abort.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readCheckpoint, type BartCheckpoint } from "../../src/export/checkpoint.js";
import { buildFolderExport, writeFolder } from "../../src/export/hf_folder.js";
import { optionsFromHfSettings } from "../../src/runtime/generation.js";
import { loadBartModel, loadGpt2Model, loadModel, type BartModel } from "../../src/runtime/index.js";
import { BART_FIXTURES, bartExpected, bartFixtureDir, folderFiles, maxAbsDiff } from "../helpers/bart_fixtures.js";
import { fixtureDir, tempDir } from "../helpers/fixtures.js";

const TOLERANCE = 1e-4;

for (const name of BART_FIXTURES) {
  describe(`BART runtime, ${name} (fp32 export) against transformers`, async () => {
    const want = bartExpected(name);
    const ckpt = readCheckpoint(bartFixtureDir(name)) as BartCheckpoint;
    const model: BartModel = await loadBartModel(folderFiles(ckpt));

    it(`encoder output within ${TOLERANCE}`, () => {
      model.executor.encode(want.input_ids);
      const d = model.config.d_model;
      const out = model.executor.encoderOutput();
      const rows = want.encoder_hidden_states.map((_, s) => out.subarray(s * d, (s + 1) * d));
      const err = maxAbsDiff(rows, want.encoder_hidden_states);
      assert.ok(err <= TOLERANCE, `max |Δ| ${err}`);
    });

    it(`teacher-forced logits within ${TOLERANCE}, one decoder step at a time`, () => {
      model.executor.encode(want.input_ids);
      model.executor.startDecoder(1, want.decoder_input_ids.length);
      const rows = want.decoder_input_ids.map((id) => model.executor.step([id])[0]);
      const err = maxAbsDiff(rows, want.logits);
      assert.ok(err <= TOLERANCE, `max |Δ| ${err}`);
    });

    for (const run of want.generate) {
      it(`generate ${JSON.stringify(run.settings)}: the same ids`, async () => {
        const summary = await model.summarize(want.input_ids, optionsFromHfSettings(run.settings));
        assert.deepEqual(summary.ids, run.sequences.slice(1));
        if (run.sequences_scores !== undefined) assert.ok(Math.abs(summary.stats.score! - run.sequences_scores) <= TOLERANCE, `score ${summary.stats.score} vs ${run.sequences_scores}`);
      });
    }

    it("streams under greedy decoding what summarize() returns", async () => {
      const ids: number[] = [];
      for await (const t of model.generate(want.input_ids, { numBeams: 1 })) if (t.id >= 0) ids.push(t.id);
      assert.deepEqual(ids, (await model.summarize(want.input_ids, { numBeams: 1 })).ids);
    });
  });
}

describe("BART runtime: loading and refusing", () => {
  it("loads the folder from disk, and generate refuses it as GPT-2 (and the reverse)", async () => {
    const dir = tempDir();
    const ckpt = readCheckpoint(bartFixtureDir("bart-f32"));
    writeFolder(`${dir}/bart/`, buildFolderExport(ckpt, { format: "dq", activationBits: 32, source: "test" }).files);
    const m = await loadModel(`${dir}/bart/`);
    assert.equal(m.modelType, "bart");
    await assert.rejects(loadGpt2Model(`${dir}/bart`), /this is a BART \(sequence-to-sequence\) model, not a GPT-2 one/);
    writeFolder(`${dir}/gpt2/`, buildFolderExport(readCheckpoint(fixtureDir("tiny-f32")), { format: "dq", activationBits: 32, source: "test" }).files);
    assert.equal((await loadGpt2Model(`${dir}/gpt2/`)).modelType, "gpt2");
    await assert.rejects(loadBartModel(`${dir}/gpt2`), /this is a GPT-2 \(decoder-only\) model, not a BART one/);
  });

  it("refuses a folder whose encoder and decoder come from two exports", async () => {
    const a = folderFiles(readCheckpoint(bartFixtureDir("bart-f32")));
    const b = folderFiles(readCheckpoint(bartFixtureDir("bart-bf16")));
    const mixed = { files: { ...a.files, "onnx/decoder_model_merged.onnx": b.files["onnx/decoder_model_merged.onnx"] } };
    await assert.rejects(loadModel(mixed), /the encoder and decoder files differ in lowbit\.config \(files from two exports\?\)/);
  });

  it("refuses a folder without its decoder file, naming it", async () => {
    const a = folderFiles(readCheckpoint(bartFixtureDir("bart-f32")));
    delete a.files["onnx/decoder_model_merged.onnx"];
    await assert.rejects(loadModel(a), /model folder\/onnx\/decoder_model_merged\.onnx: model folder lacks a file/);
  });

  it("refuses a too-long input, and cuts it with truncate: right", async () => {
    const m = await loadBartModel(folderFiles(readCheckpoint(bartFixtureDir("bart-f32"))));
    const long = [0, ...Array.from({ length: 80 }, (_, i) => 4 + (i % 200)), 2];
    await assert.rejects(m.summarize(long, { numBeams: 1, maxNewTokens: 3 }), /input too long for the encoder; expected at most 64 tokens/);
    const s = await m.summarize(long, { numBeams: 1, maxNewTokens: 3, truncate: "right" });
    assert.equal(s.stats.inputTokens, 64);
  });

  it("stops on an AbortSignal between steps", async () => {
    const m = await loadBartModel(folderFiles(readCheckpoint(bartFixtureDir("bart-f32"))));
    const controller = new AbortController();
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (const t of m.generate(bartExpected("bart-f32").input_ids, { numBeams: 1, maxNewTokens: 50, minLength: 40, signal: controller.signal })) {
        seen.push(t.id);
        if (seen.length === 3) controller.abort(new Error("stop here"));
      }
    }, /stop here/);
    assert.ok(seen.length <= 4, `${seen.length} tokens after the abort`);
  });
});
