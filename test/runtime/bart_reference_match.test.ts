// lowbit's BART runtime against the TS reference forward (src/reference/bart.ts) on quantized exports of the
// tiny checkpoints: 2/4/8-bit weights, module and group scales, int8 and fp32 activations, exact and tanh
// GELU, SIMD and scalar kernels. With int8 activations both sides compute every f32 the same way
// (src/reference/common.ts's header says why that matters), so the encoder's output and the decoder's logits
// must be equal bit for bit. With fp32 activations nothing reaches a quantizer and the reference sums in f64
// (the kernels in f32): within A32_TOLERANCE. Beam search must pick the same ids either way.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readBartCheckpoint } from "../../src/export/checkpoint.js";
import { quantizeCheckpoint, type QuantizeSettings } from "../../src/export/export.js";
import { parseModelFile } from "../../src/format/lowbit_onnx.js";
import { bartDecoderCache, bartDecoderStep, bartEncode, bartStepper, loadBartReference } from "../../src/reference/bart.js";
import { resolveGeneration, runGeneration } from "../../src/runtime/generation.js";
import { loadBartModel } from "../../src/runtime/index.js";
import type { KernelVariant } from "../../src/runtime/kernels.js";
import { bartExpected, bartFixtureDir, folderFiles, type BartFixture } from "../helpers/bart_fixtures.js";

const CASES: { fixture: BartFixture; settings: QuantizeSettings }[] = [
  { fixture: "bart-f32", settings: { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "maxabs" } },
  { fixture: "bart-f32", settings: { weightBits: 4, embeddingBits: 4, activationBits: 8, granularity: "group", groupSize: 32, clip: "mse" } },
  { fixture: "bart-f16", settings: { weightBits: 8, embeddingBits: 8, activationBits: 8, granularity: "module", groupSize: 0, clip: "maxabs" } },
  { fixture: "bart-bf16", settings: { weightBits: 2, embeddingBits: 4, activationBits: 8, granularity: "group", groupSize: 32, clip: "maxabs" } },
  { fixture: "bart-bf16", settings: { weightBits: 4, embeddingBits: 4, activationBits: 32, granularity: "module", groupSize: 0, clip: "maxabs" } },
];
const VARIANTS: KernelVariant[] = ["simd", "scalar"];
const STEPS = 12;
/** fp32 activations: f32 sums against f64 sums over at most 128 products (measured: 4.8e-7). */
const A32_TOLERANCE = 1e-5;

/** Max |a − b| and how many elements differ at all. */
function compare(a: Float32Array, b: Float32Array): { max: number; differing: number } {
  let max = 0;
  let differing = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d === 0)) differing++;
    max = Math.max(max, d);
  }
  return { max, differing };
}

for (const { fixture, settings } of CASES) {
  const label = `${fixture} W${settings.weightBits}-E${settings.embeddingBits}-A${settings.activationBits} ${settings.granularity === "group" ? `G${settings.groupSize}` : "module"}`;
  describe(`BART runtime = reference, ${label}`, () => {
    const want = bartExpected(fixture);
    const ckpt = quantizeCheckpoint(readBartCheckpoint(bartFixtureDir(fixture)), settings);
    const folder = folderFiles(ckpt, settings.activationBits);
    const [encName, decName] = Object.keys(folder.files).filter((p) => p.startsWith("onnx/")).sort((x, y) => (x.includes("encoder") ? -1 : y.includes("encoder") ? 1 : 0));
    const ref = loadBartReference({ encoder: parseModelFile(folder.files[encName], encName), decoder: parseModelFile(folder.files[decName], decName) });
    const refStates = bartEncode(ref, want.input_ids);
    const refCache = bartDecoderCache(ref, refStates);
    // Greedy on the reference: the ids both sides are fed, and the logits of each step.
    const refIds = [ref.config.decoder_start_token_id];
    const refLogits: Float32Array[] = [];
    for (let i = 0; i < STEPS; i++) {
      const [row] = bartDecoderStep(ref, refCache, [refIds[refIds.length - 1]]);
      refLogits.push(row);
      let best = 0;
      for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
      refIds.push(best);
    }

    const exact = settings.activationBits === 8;
    const check = (c: { max: number; differing: number }, what: string, n: number) => {
      if (exact) assert.equal(c.differing, 0, `${what}: ${c.differing} of ${n} values differ, max |Δ| ${c.max}`);
      else assert.ok(c.max <= A32_TOLERANCE, `${what}: max |Δ| ${c.max} > ${A32_TOLERANCE}`);
    };
    for (const variant of VARIANTS) {
      it(`${variant}: encoder output and ${STEPS} decoder steps' logits ${exact ? "equal bit for bit" : `within ${A32_TOLERANCE}`}`, async () => {
        const m = await loadBartModel(folder, { variant });
        m.executor.encode(want.input_ids);
        const states = m.executor.encoderOutput();
        const d = m.config.d_model;
        const enc = compare(states, Float32Array.from(refStates.flatMap((r) => [...r])));
        check(enc, "encoder", states.length);
        m.executor.startDecoder(1, STEPS);
        for (let i = 0; i < STEPS; i++) {
          const [row] = m.executor.step([refIds[i]]);
          const c = compare(row, refLogits[i]);
          check(c, `step ${i}`, row.length);
        }
        assert.equal(states.length, want.input_ids.length * d);
      });
    }

    it("beam search (4 beams, generation_config.json's settings) picks the same ids on both", async () => {
      const m = await loadBartModel(folder);
      const g = resolveGeneration(m.generation, { numBeams: 4, maxLength: 16 }, { maxPositionEmbeddings: m.config.max_position_embeddings });
      const reference = await runGeneration(bartStepper(ref, refStates), g);
      const runtime = await m.summarize(want.input_ids, { numBeams: 4, maxLength: 16 });
      assert.deepEqual(runtime.ids, reference.sequences[0].slice(1));
    });
  });
}
