// lowbit's runtime in headless Chromium against the same runtime in Node: the same model bytes, kernels
// and options must give the same token ids. This is what shows that src/runtime/index.ts really is one
// module for both hosts (bundled by esbuild, kernels fetched as application/wasm, no Node built-ins).
//
// Exact equality, no tolerance: both hosts run the same .wasm on V8, whose WebAssembly float arithmetic is
// deterministic (IEEE-754, no fast-math), and the JS around it (sampling, PRNG) is the same code. A
// difference means the browser took another path, not rounding.
//
// Needs build/*.wasm (`npm run build`) and /usr/bin/chromium (`scripts/setup.sh`); fails, not skips,
// without them.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { readGpt2Checkpoint, type Gpt2Checkpoint } from "../../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint, type QuantizeSettings } from "../../src/export/export.js";
import { loadGpt2Model, type GenerateOptions } from "../../src/runtime/index.js";
import type { KernelVariant } from "../../src/runtime/kernels.js";
import { folderFiles } from "../helpers/bart_fixtures.js";
import { browserForFile, kernelPath } from "../helpers/browser.js";
import { expected, fixtureDir } from "../helpers/fixtures.js";

const GREEDY: GenerateOptions = { maxNewTokens: 32, stopAtEos: false };
const SAMPLED: GenerateOptions = { ...GREEDY, temperature: 0.8, topK: 40, topP: 0.95, seed: 1234 };

const W2: QuantizeSettings = { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "mse" };
const W4_G32: QuantizeSettings = { weightBits: 4, embeddingBits: 4, activationBits: 8, granularity: "group", groupSize: 32, clip: "mse" };

/** A lowbit .onnx in memory; fp32 when no quantization settings are given. */
function exportBytes(ckpt: Gpt2Checkpoint, s?: QuantizeSettings): Uint8Array {
  return exportGpt2(s ? quantizeCheckpoint(ckpt, s) : ckpt, { format: "dq", activationBits: s?.activationBits ?? 32, source: "x" }).bytes;
}

/** The Node side of every comparison: the same loadGpt2Model + generate the page runs (driver in helpers/browser.ts). */
async function nodeIds(bytes: Uint8Array, variant: KernelVariant, prompt: number[], options: GenerateOptions): Promise<number[]> {
  const m = await loadGpt2Model(bytes, { kernels: readFileSync(kernelPath(variant)), variant });
  assert.equal(m.kernelVariant, variant);
  const ids: number[] = [];
  for await (const tok of m.generate(prompt, options)) if (tok.id >= 0) ids.push(tok.id);
  return ids;
}

/** Guards against a vacuous equality: a broken model that emits one token everywhere would match itself. */
function assertVaried(ids: number[], what: string): void {
  assert.equal(ids.length, 32, `${what}: expected 32 tokens`);
  assert.ok(new Set(ids).size > 3, `${what}: ${new Set(ids).size} distinct ids in ${ids.join(",")}; the tiny model is expected to vary`);
}

describe("runtime in headless Chromium gives Node's tokens (tiny-f32)", () => {
  const prompt = expected("tiny-f32").prompt_ids; // 8 ids; the context is 64, so 32 new tokens fit
  const models = new Map<string, Uint8Array>();

  // One Chromium for the file (a setup error fails every test: browserForFile).
  const browser = browserForFile(async (b) => {
    const ckpt = readGpt2Checkpoint(fixtureDir("tiny-f32"));
    models.set("w2.onnx", exportBytes(ckpt, W2));
    models.set("w4-g32.onnx", exportBytes(ckpt, W4_G32));
    models.set("fp32.onnx", exportBytes(ckpt));
    for (const [name, bytes] of models) b.serveModel(name, bytes);
    // The same models as Hugging Face folders (onnx/model.onnx, onnx/model_q2.onnx beside config.json).
    b.serveFolder("gpt2-fp32", folderFiles(ckpt));
    b.serveFolder("gpt2-w2", folderFiles(quantizeCheckpoint(ckpt, W2), 8));
  });

  it("greedy, SIMD build, 2-bit model: same ids, and the page ran SIMD", async (t) => {
    t.diagnostic(`Chromium ${browser().version()}`);
    const page = await browser().generate("w2.onnx", "simd", prompt, GREEDY);
    assert.equal(page.isNode, false, "the page must not look like Node to the runtime");
    assert.equal(page.kernelVariant, "simd");
    const node = await nodeIds(models.get("w2.onnx")!, "simd", prompt, GREEDY);
    assertVaried(node, "Node W2 greedy");
    assert.deepEqual(page.ids, node);
  });

  it("greedy, scalar build, 2-bit model: same ids as Node", async () => {
    const page = await browser().generate("w2.onnx", "scalar", prompt, GREEDY);
    assert.equal(page.kernelVariant, "scalar");
    assert.deepEqual(page.ids, await nodeIds(models.get("w2.onnx")!, "scalar", prompt, GREEDY));
  });

  it("seeded sampling (T 0.8, top-k 40, top-p 0.95, seed 1234): same ids as Node", async () => {
    const page = await browser().generate("w2.onnx", "simd", prompt, SAMPLED);
    const node = await nodeIds(models.get("w2.onnx")!, "simd", prompt, SAMPLED);
    assertVaried(node, "Node W2 sampled");
    assert.notDeepEqual(node, await nodeIds(models.get("w2.onnx")!, "simd", prompt, GREEDY), "sampling should differ from greedy here");
    assert.deepEqual(page.ids, node);
  });

  it("greedy, 4-bit group-32 model: same ids as Node", async () => {
    const page = await browser().generate("w4-g32.onnx", "simd", prompt, GREEDY);
    const node = await nodeIds(models.get("w4-g32.onnx")!, "simd", prompt, GREEDY);
    assertVaried(node, "Node W4 G32 greedy");
    assert.deepEqual(page.ids, node);
  });

  it("greedy, fp32 model: same ids as Node, and as transformers", async () => {
    const page = await browser().generate("fp32.onnx", "simd", prompt, GREEDY);
    const node = await nodeIds(models.get("fp32.onnx")!, "simd", prompt, GREEDY);
    assertVaried(node, "Node fp32 greedy");
    assert.deepEqual(page.ids, node);
    // fp32 reproduces the fixture's transformers output (test/runtime/gpt2.test.ts checks the same in Node).
    assert.deepEqual(page.ids, expected("tiny-f32").greedy_ids);
  });

  it("folders loaded by URL (onnx/model.onnx, onnx/model_q2.onnx): the single files' ids", async () => {
    const seen = browser().requests().length;
    const fp32 = await browser().generateFolder("gpt2-fp32", "simd", prompt, GREEDY);
    const w2 = await browser().generateFolder("gpt2-w2", "scalar", prompt, GREEDY);
    assert.equal(w2.kernelVariant, "scalar");
    assert.deepEqual(fp32.ids, expected("tiny-f32").greedy_ids);
    assert.deepEqual(w2.ids, await nodeIds(models.get("w2.onnx")!, "scalar", prompt, GREEDY));
    const fetched = browser().requests().slice(seen).filter((r) => r.startsWith("GET /models/"));
    assert.deepEqual(fetched, [
      "GET /models/gpt2-fp32/config.json 200", "GET /models/gpt2-fp32/onnx/model.onnx 200",
      "GET /models/gpt2-w2/config.json 200", "GET /models/gpt2-w2/onnx/model_q2.onnx 200",
    ]);
  });
});
