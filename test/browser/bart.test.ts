// lowbit's BART runtime in headless Chromium against the same runtime in Node. The page loads each export
// as the folder it is on a web server, `loadModel(new URL("/models/<name>/", location.href))`, which fetches
// config.json, generation_config.json and the two ONNX files of the folder's dtype by their relative paths,
// then runs summarize(); the ids must equal Node's (loadModel on the same files as bytes) exactly, for greedy
// decoding and for beam search, on the SIMD and the scalar kernels. On the fp32 export they must also equal
// transformers' generate() ids recorded in the fixture, for every run it recorded.
//
// Exact equality for the reason browser.test.ts gives: the same .wasm on V8 and the same JS around it.
//
// Needs build/*.wasm (`npm run build`) and /usr/bin/chromium (`scripts/setup.sh`); fails, not skips,
// without them.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { readBartCheckpoint } from "../../src/export/checkpoint.js";
import { quantizeCheckpoint, type QuantizeSettings } from "../../src/export/export.js";
import { optionsFromHfSettings } from "../../src/runtime/generation.js";
import { loadBartModel, type BartModel, type FolderFiles, type Seq2SeqOptions } from "../../src/runtime/index.js";
import type { KernelVariant } from "../../src/runtime/kernels.js";
import { bartExpected, bartFixtureDir, folderFiles } from "../helpers/bart_fixtures.js";
import { browserForFile, kernelPath } from "../helpers/browser.js";

const W2: QuantizeSettings = { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "mse" };
const W4_G32: QuantizeSettings = { weightBits: 4, embeddingBits: 4, activationBits: 8, granularity: "group", groupSize: 32, clip: "mse" };

const want = bartExpected("bart-f32");
const GREEDY_SETTINGS = { num_beams: 1, max_length: 20 };
/** The fixture's greedy run: one beam, up to 20 ids, the rest from generation_config.json. */
const GREEDY: Seq2SeqOptions = optionsFromHfSettings(GREEDY_SETTINGS);
/** generation_config.json's defaults as they are: 4 beams, length_penalty 2, no_repeat_ngram_size 3, ... */
const BEAM: Seq2SeqOptions = {};

const MODELS = [
  { name: "bart-fp32", what: "fp32" },
  { name: "bart-w2", what: "2-bit (W2-E2-A8, module)" },
  { name: "bart-w4-g32", what: "4-bit group-32" },
] as const;
const VARIANTS: KernelVariant[] = ["simd", "scalar"];

/** Guards against a vacuous equality: a broken model that stops at once, or repeats one id, matches itself. */
function assertVaried(ids: number[], what: string): void {
  assert.ok(ids.length >= 8 && new Set(ids).size >= 4, `${what}: ${ids.join(",")}; the tiny model is expected to vary`);
}

describe("BART runtime in headless Chromium: folders loaded by URL give Node's ids (bart-f32)", () => {
  const folders = new Map<string, FolderFiles>();
  const nodeModels = new Map<string, BartModel>();

  // One Chromium for the file (a setup error fails every test: browserForFile).
  const browser = browserForFile(async (b) => {
    const ckpt = readBartCheckpoint(bartFixtureDir("bart-f32"));
    folders.set("bart-fp32", folderFiles(ckpt));
    folders.set("bart-w2", folderFiles(quantizeCheckpoint(ckpt, W2), 8));
    folders.set("bart-w4-g32", folderFiles(quantizeCheckpoint(ckpt, W4_G32), 8));
    for (const [name, folder] of folders) b.serveFolder(name, folder);
  });

  /** The Node side: loadModel on the same folder's files as bytes, same kernels. */
  async function nodeModel(name: string, variant: KernelVariant): Promise<BartModel> {
    const key = `${name} ${variant}`;
    if (!nodeModels.has(key)) {
      const m = await loadBartModel(folders.get(name)!, { kernels: readFileSync(kernelPath(variant)), variant });
      assert.equal(m.kernelVariant, variant);
      nodeModels.set(key, m);
    }
    return nodeModels.get(key)!;
  }

  async function nodeIds(name: string, variant: KernelVariant, options: Seq2SeqOptions): Promise<number[]> {
    return (await (await nodeModel(name, variant)).summarize(want.input_ids, options)).ids;
  }

  it("the fixture holds the greedy run the tests use", () => {
    assert.ok(want.generate.some((r) => JSON.stringify(r.settings) === JSON.stringify(GREEDY_SETTINGS)), `no run ${JSON.stringify(GREEDY_SETTINGS)} in expected.json`);
    assert.equal(want.generation_defaults.num_beams, 4, "generation_config.json's default is beam search");
  });

  for (const { name, what } of MODELS) {
    for (const variant of VARIANTS) {
      it(`${what}, ${variant} kernels: greedy and beam search (generation_config.json defaults) give Node's ids`, async (t) => {
        if (name === "bart-fp32" && variant === "simd") t.diagnostic(`Chromium ${browser().version()}`);
        const seen = browser().requests().length;
        const page = await browser().summarize(name, variant, want.input_ids, [GREEDY, BEAM]);
        const suffix = { "bart-fp32": "", "bart-w2": "_q2", "bart-w4-g32": "_q4" }[name];
        const fetched = browser().requests().slice(seen).filter((r) => r.startsWith(`GET /models/${name}/`));
        assert.deepEqual(fetched.sort(), [
          `GET /models/${name}/config.json 200`, `GET /models/${name}/generation_config.json 200`,
          `GET /models/${name}/onnx/decoder_model_merged${suffix}.onnx 200`, `GET /models/${name}/onnx/encoder_model${suffix}.onnx 200`,
        ], "the page fetched the folder's files by their relative paths");
        assert.equal(page.isNode, false, "the page must not look like Node to the runtime");
        assert.equal(page.kernelVariant, variant);
        const greedy = await nodeIds(name, variant, GREEDY);
        const beam = await nodeIds(name, variant, BEAM);
        assertVaried(greedy, `Node ${name} ${variant} greedy`);
        assertVaried(beam, `Node ${name} ${variant} beam`);
        assert.notDeepEqual(beam, greedy, "beam search should differ from greedy here");
        assert.deepEqual(page.ids[0], greedy, "greedy");
        assert.deepEqual(page.ids[1], beam, "beam search");
      });
    }
  }

  it("fp32, both kernels: every generate() run of the fixture gives transformers' ids in the page", async () => {
    const runs = want.generate.map((r) => optionsFromHfSettings(r.settings));
    assert.ok(want.generate.filter((r) => (r.settings.num_beams ?? 4) !== 1).length >= 5, "the fixture has beam runs");
    for (const variant of VARIANTS) {
      const page = await browser().summarize("bart-fp32", variant, want.input_ids, runs);
      want.generate.forEach((run, i) => assert.deepEqual(page.ids[i], run.sequences.slice(1), `${variant} ${JSON.stringify(run.settings)}`));
    }
  });
});
