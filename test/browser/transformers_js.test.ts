// transformers.js (@huggingface/transformers, its browser build with onnxruntime-web's WebAssembly backend) in
// headless Chromium runs lowbit's fp32 Hugging Face folders, served by a local web server as they are on
// disk, and decodes what lowbit's runtime decodes in Node with the same settings:
//   - GPT-2 tiny-f32 (onnx/model.onnx): greedy generate() on the fixture's prompt gives the fixture's 32
//     greedy ids, as lowbit does; the text-generation pipeline continues a text prompt as lowbit does;
//   - BART bart-f32 (onnx/encoder_model.onnx + onnx/decoder_model_merged.onnx): greedy generate() (one beam,
//     generation_config.json's processors as transformers.js applies them) gives lowbit's ids for every
//     greedy run of the fixture; the summarization pipeline (num_beams 1) summarizes as lowbit does.
// transformers.js 4.3 has no beam search, so only greedy runs are compared (see test/export/transformers_js.test.ts).
//
// Exact id equality across two runtimes: the tiny models' greedy choices have margins far above the
// rounding differences of two float implementations (the fixtures' ids are transformers' own, in PyTorch).
//
// Needs build/*.wasm, /usr/bin/chromium and the devDependency @huggingface/transformers; fails, not skips,
// without them.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { readBartCheckpoint, readGpt2Checkpoint } from "../../src/export/checkpoint.js";
import { optionsFromHfSettings } from "../../src/runtime/generation.js";
import { loadBartModel, loadGpt2Model, type BartModel, type Gpt2Model } from "../../src/runtime/index.js";
import { bartExpected, bartFixtureDir, folderFiles } from "../helpers/bart_fixtures.js";
import { browserForFile, kernelPath } from "../helpers/browser.js";
import { serveTransformersJs, TJS_DRIVER } from "../helpers/browser_transformers.js";
import { expected, fixtureDir } from "../helpers/fixtures.js";

const GPT2 = "gpt2-tiny-f32";
const BART = "bart-f32";
const bartWant = bartExpected("bart-f32");
const bartDefaults = JSON.parse(readFileSync(`${bartFixtureDir("bart-f32")}/generation_config.json`, "utf8")) as { num_beams: number };
/** The fixture's greedy runs; the first is `{"num_beams":1,"max_length":20}`. */
const GREEDY_RUNS = bartWant.generate.filter((r) => (r.settings.num_beams ?? bartDefaults.num_beams) === 1);

describe("transformers.js in headless Chromium runs lowbit's fp32 folders as lowbit does in Node", () => {
  let gpt2: Gpt2Model;
  let bart: BartModel;

  // One Chromium for the file (a setup error fails every test: browserForFile).
  const browser = browserForFile(async (b) => {
    const gpt2Folder = folderFiles(readGpt2Checkpoint(fixtureDir("tiny-f32")));
    const bartFolder = folderFiles(readBartCheckpoint(bartFixtureDir("bart-f32")));
    const kernels = readFileSync(kernelPath("simd"));
    gpt2 = await loadGpt2Model(gpt2Folder, { kernels, variant: "simd" });
    bart = await loadBartModel(bartFolder, { kernels, variant: "simd" });
    serveTransformersJs(b);
    b.serveFolder(GPT2, gpt2Folder);
    b.serveFolder(BART, bartFolder);
  });

  /** The ids lowbit's GPT-2 streams in Node. */
  async function lowbitGpt2(prompt: string | number[], maxNewTokens: number): Promise<{ ids: number[]; text: string }> {
    const ids: number[] = [];
    let text = "";
    for await (const t of gpt2.generate(prompt, { maxNewTokens })) {
      if (t.id >= 0) ids.push(t.id);
      text += t.text;
    }
    return { ids, text };
  }

  it("GPT-2 tiny-f32: greedy generate() gives the fixture's 32 greedy ids, as lowbit in Node", async (t) => {
    const info = await browser().call<{ version: string; ortWeb: string | null; isNode: boolean }>(TJS_DRIVER, "info", {});
    t.diagnostic(`Chromium ${browser().version()}, transformers.js ${info.version}, onnxruntime-web ${info.ortWeb}`);
    assert.equal(info.isNode, false, "transformers.js must take its browser paths");
    const want = expected("tiny-f32");
    const ours = await lowbitGpt2(want.prompt_ids, 32);
    assert.deepEqual(ours.ids, want.greedy_ids, "lowbit in Node");
    const seen = browser().requests().length;
    const page = await browser().call<number[]>(TJS_DRIVER, "causalGenerate", { model: GPT2, prompt: want.prompt_ids, options: { max_new_tokens: 32, do_sample: false } }, "transformers.js GPT-2 generate()");
    assert.deepEqual(page.slice(0, want.prompt_ids.length), want.prompt_ids);
    assert.deepEqual(page.slice(want.prompt_ids.length), ours.ids);
    // The fp32 file by the folder's transformers.js_config.dtype, and ORT's WebAssembly from this server.
    const fetched = browser().requests().slice(seen).filter((r) => r.includes(".onnx") || r.includes("/ort/")).sort();
    assert.deepEqual(fetched, [`GET /models/${GPT2}/onnx/model.onnx 200`, "GET /ort/ort-wasm-simd-threaded.asyncify.mjs 200", "GET /ort/ort-wasm-simd-threaded.asyncify.wasm 200"], "what transformers.js fetched");
  });

  it("GPT-2 tiny-f32: the text-generation pipeline (greedy) continues a prompt as lowbit does", async () => {
    const text = "Hello world, the";
    const page = await browser().call<{ text: string; promptIds: number[] }>(TJS_DRIVER, "textGeneration", { model: GPT2, text, options: { max_new_tokens: 12, do_sample: false } }, "transformers.js text-generation");
    assert.deepEqual(page.promptIds, gpt2.tokenizer.encode(text), "the same prompt ids");
    const ours = await lowbitGpt2(text, 12);
    assert.equal(ours.ids.length, 12, "the fixture's end token comes early: pick another prompt");
    assert.equal(page.text, text + ours.text);
  });

  it(`BART bart-f32: greedy generate() gives lowbit's ids for the fixture's ${GREEDY_RUNS.length} greedy runs`, async () => {
    assert.deepEqual(GREEDY_RUNS[0]?.settings, { num_beams: 1, max_length: 20 });
    const page = await browser().call<number[][]>(TJS_DRIVER, "seq2seqGenerate", { model: BART, input: bartWant.input_ids, runs: GREEDY_RUNS.map((r) => r.settings) }, "transformers.js BART generate()");
    for (const [i, run] of GREEDY_RUNS.entries()) {
      const ours = (await bart.summarize(bartWant.input_ids, optionsFromHfSettings(run.settings))).ids;
      assert.deepEqual(ours, run.sequences.slice(1), `lowbit in Node, ${JSON.stringify(run.settings)}`);
      assert.deepEqual(page[i], [bartWant.generation_defaults.decoder_start_token_id ?? 2, ...ours], `transformers.js in Chromium, ${JSON.stringify(run.settings)}`);
    }
  });

  it("BART bart-f32: the summarization pipeline (num_beams 1) summarizes as lowbit does", async () => {
    const text = "The quick brown fox jumps over the lazy dog.";
    const page = await browser().call<{ text: string; inputIds: number[] }>(TJS_DRIVER, "summarization", { model: BART, text, options: { num_beams: 1 } }, "transformers.js summarization");
    assert.deepEqual(page.inputIds, bart.tokenizer.encode(text), "the same input ids (<s> … </s>)");
    const ours = await bart.summarize(text, { numBeams: 1 });
    assert.ok(ours.ids.length >= 8 && ours.text.trim() !== "", `lowbit's summary is too short to compare: ${JSON.stringify(ours.ids)}`);
    assert.equal(page.text, ours.text);
  });
});
