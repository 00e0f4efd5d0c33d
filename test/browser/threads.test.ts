// Threads in headless Chromium: on a page served with COOP: same-origin and COEP: require-corp (cross-origin
// isolated, so SharedArrayBuffer and shared WebAssembly memory exist) the runtime starts its workers from a
// Blob URL and reports more than one thread; on the same page without those headers it runs on one thread,
// with no error. Either way the token ids equal Node's single-thread ids exactly (GPT-2 greedy and sampled,
// BART beam search), for the reason browser.test.ts gives: the same .wasm on V8 and the same JS around it,
// and threads only split the outputs.
//
// Needs build/*.wasm, the threads build included (`npm run build`), and /usr/bin/chromium
// (`scripts/setup.sh`); fails, not skips, without them.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readBartCheckpoint, readGpt2Checkpoint } from "../../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint, type QuantizeSettings } from "../../src/export/export.js";
import { loadBartModel, loadGpt2Model, type FolderFiles, type GenerateOptions, type Seq2SeqOptions } from "../../src/runtime/index.js";
import { bartExpected, bartFixtureDir, folderFiles } from "../helpers/bart_fixtures.js";
import { browserForFile } from "../helpers/browser.js";
import { expected, fixtureDir } from "../helpers/fixtures.js";

const W2: QuantizeSettings = { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "mse" };
const W4_G32: QuantizeSettings = { weightBits: 4, embeddingBits: 4, activationBits: 8, granularity: "group", groupSize: 32, clip: "mse" };
const GREEDY: GenerateOptions = { maxNewTokens: 32, stopAtEos: false };
const SAMPLED: GenerateOptions = { ...GREEDY, temperature: 0.8, topK: 40, topP: 0.95, seed: 1234 };

describe("threads in headless Chromium: cross-origin isolated pages run them, others run on one thread, both give Node's ids", () => {
  const prompt = expected("tiny-f32").prompt_ids;
  const gpt2 = new Map<string, Uint8Array>();
  let bart: FolderFiles;
  const bartInput = bartExpected("bart-f32").input_ids;
  const bartRuns: Seq2SeqOptions[] = [{}, { numBeams: 1, maxLength: 20 }]; // generation_config.json's beam search, then greedy

  const browser = browserForFile((b) => {
    const ckpt = readGpt2Checkpoint(fixtureDir("tiny-f32"));
    gpt2.set("w2.onnx", exportGpt2(quantizeCheckpoint(ckpt, W2), { format: "dq", activationBits: 8, source: "x" }).bytes);
    gpt2.set("w4-g32.onnx", exportGpt2(quantizeCheckpoint(ckpt, W4_G32), { format: "dq", activationBits: 8, source: "x" }).bytes);
    for (const [name, bytes] of gpt2) b.serveModel(name, bytes);
    bart = folderFiles(quantizeCheckpoint(readBartCheckpoint(bartFixtureDir("bart-f32")), W2), 8);
    b.serveFolder("bart-w2", bart);
  });

  /** Node, one thread: the ids every page must give. */
  async function nodeIds(model: string, options: GenerateOptions): Promise<number[]> {
    const m = await loadGpt2Model(gpt2.get(model)!, { threads: 1 });
    const ids: number[] = [];
    for await (const t of m.generate(prompt, options)) if (t.id >= 0) ids.push(t.id);
    return ids;
  }

  async function nodeSummaries(): Promise<number[][]> {
    const m = await loadBartModel(bart, { threads: 1 });
    const out = [];
    for (const o of bartRuns) out.push((await m.summarize(bartInput, o)).ids);
    return out;
  }

  it("a cross-origin isolated page (COOP + COEP) runs GPT-2 on 2 and 3 threads, and by default on more than one", async () => {
    await browser().goto("/isolated/");
    for (const model of gpt2.keys()) {
      for (const options of [GREEDY, SAMPLED]) {
        const want = await nodeIds(model, options);
        assert.ok(new Set(want).size > 3, `${model}: ${want.join(",")}; the tiny model is expected to vary`);
        for (const threads of [2, 3]) {
          const page = await browser().generate(model, "simd", prompt, options, threads);
          assert.equal(page.isNode, false);
          assert.equal(page.crossOriginIsolated, true, "the page served with COOP/COEP is cross-origin isolated");
          assert.equal(page.threads, threads);
          assert.deepEqual(page.ids, want, `${model}, ${threads} threads, ${options.temperature ? "sampled" : "greedy"}`);
        }
      }
    }
    const byDefault = await browser().generate("w2.onnx", "simd", prompt, GREEDY);
    assert.ok(byDefault.threads > 1, `the default (navigator.hardwareConcurrency) gave ${byDefault.threads} thread(s)`);
    assert.deepEqual(byDefault.ids, await nodeIds("w2.onnx", GREEDY));
  });

  it("a cross-origin isolated page runs BART's beam search on 2 threads with Node's ids", async () => {
    await browser().goto("/isolated/");
    const page = await browser().summarize("bart-w2", "simd", bartInput, bartRuns, 2);
    assert.equal(page.threads, 2);
    const want = await nodeSummaries();
    assert.ok(want[0].length >= 8, `beam search: ${want[0].join(",")}`);
    assert.deepEqual(page.ids, want);
  });

  it("a page without COOP/COEP runs on one thread, with no error, even when asked for more, and gives the same ids", async () => {
    await browser().goto("/");
    const seen = browser().requests().length;
    for (const threads of [undefined, 2]) {
      const page = await browser().generate("w2.onnx", "simd", prompt, SAMPLED, threads);
      assert.equal(page.crossOriginIsolated, false);
      assert.equal(page.threads, 1);
      assert.deepEqual(page.ids, await nodeIds("w2.onnx", SAMPLED));
    }
    const summaries = await browser().summarize("bart-w2", "simd", bartInput, bartRuns, 2);
    assert.equal(summaries.threads, 1);
    assert.deepEqual(summaries.ids, await nodeSummaries());
    // One thread needs no threads build: the page never asked for it.
    assert.deepEqual(browser().requests().slice(seen).filter((r) => r.includes("simd-threads")), []);
  });
});
