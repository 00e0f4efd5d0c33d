// The BART reference forward (src/reference/bart.ts) against transformers (scripts/make_fixtures.py,
// test/fixtures/bart/<case>/expected.json): encoder states, teacher-forced logits, and every generate()
// run (src/runtime/generation.ts's searches on the reference), then the int8 paths and the exported files.
//
// The fixtures are fp32/f16/bf16 with fp32 activations: against transformers this pins the forward's
// structure (embed_scale, position offset 2, post-LayerNorm, cross-attention, exact and tanh GELU,
// final_logits_bias). The int8 arithmetic that common.ts shares with GPT-2's reference is checked below
// for reading codes along the right axes, and the lowbit files of exportBart against the checkpoint.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readBartCheckpoint, type BartCheckpoint, type CheckpointTensor } from "../../src/export/checkpoint.js";
import { exportBart } from "../../src/export/export.js";
import { quantizeMatrix, type WeightQuantSpec } from "../../src/export/quantize.js";
import { bartQuantizedWeightAxes } from "../../src/format/bart_config.js";
import { parseModelFile } from "../../src/format/lowbit_onnx.js";
import { QUANTIZED_CHECKPOINT_FORMAT, QUANTIZED_CHECKPOINT_VERSION } from "../../src/format/quantization.js";
import { bartDecoderCache, bartDecoderStep, bartEncode, bartGreedy, bartStepper, loadBartReference, loadBartReferenceFrom, type BartReference } from "../../src/reference/bart.js";
import { checkpointWeights, type WeightSource } from "../../src/reference/common.js";
import { optionsFromHfSettings, resolveGeneration, runGeneration } from "../../src/runtime/generation.js";
import { BART_FIXTURES, bartExpected, bartFixtureDir } from "../helpers/bart_fixtures.js";

const TOLERANCE = 1e-4;

/** Every linear weight (input axis 0) and shared.weight (input axis 1) quantized by the exporter's quantizer. */
function quantized(ckpt: BartCheckpoint, weight: WeightQuantSpec, embedding: WeightQuantSpec): Map<string, CheckpointTensor> {
  const axes = bartQuantizedWeightAxes(ckpt.config);
  const tensors = new Map<string, CheckpointTensor>();
  for (const [name, t] of ckpt.tensors) {
    const axis = axes.get(name);
    if (t.kind === "float" && axis !== undefined) {
      tensors.set(name, { kind: "quant", ...quantizeMatrix(t.data, t.shape as [number, number], axis, axis === 0 ? weight : embedding) });
    } else {
      tensors.set(name, t);
    }
  }
  return tensors;
}

/** A quantized BartCheckpoint, as the exporter takes one (W4 E4 A8, groups of 32: d = 48 leaves a partial group). */
function quantizedCheckpoint(ckpt: BartCheckpoint): BartCheckpoint {
  const spec: WeightQuantSpec = { bits: 4, granularity: "group", groupSize: 32, clip: "maxabs" };
  return {
    ...ckpt, tensors: quantized(ckpt, spec, spec),
    quantization: {
      format: QUANTIZED_CHECKPOINT_FORMAT, format_version: QUANTIZED_CHECKPOINT_VERSION, weight_bits: 4, embedding_bits: 4, activation_bits: 8,
      granularity: "group", group_size: 32, method: "rtn-maxabs",
    },
  };
}

function maxAbsDiff(got: Float32Array[], want: number[][]): number {
  assert.equal(got.length, want.length, "rows");
  let max = 0;
  got.forEach((row, r) => {
    assert.equal(row.length, want[r].length, `row ${r} length`);
    for (let i = 0; i < row.length; i++) max = Math.max(max, Math.abs(row[i] - want[r][i]));
  });
  return max;
}

describe("BART reference forward vs transformers", () => {
  for (const name of BART_FIXTURES) {
    const dir = bartFixtureDir(name);
    const want = bartExpected(name);
    let model: BartReference | undefined;
    const m = () => (model ??= loadBartReference(readBartCheckpoint(dir)));

    it(`${name}: encoder states and teacher-forced logits within ${TOLERANCE}`, (t) => {
      const states = bartEncode(m(), want.input_ids);
      const encDiff = maxAbsDiff(states, want.encoder_hidden_states);
      const together = bartDecoderStep(m(), bartDecoderCache(m(), states), want.decoder_input_ids);
      const logitsDiff = maxAbsDiff(together, want.logits);
      t.diagnostic(`max |Δ| encoder states ${encDiff.toExponential(2)}, logits ${logitsDiff.toExponential(2)}`);
      assert.ok(encDiff <= TOLERANCE, `max |encoder states − transformers| = ${encDiff}`);
      assert.ok(logitsDiff <= TOLERANCE, `max |logits − transformers| = ${logitsDiff}`);

      // One token at a time through the cache: the same rows, bit for bit.
      const cache = bartDecoderCache(m(), states);
      const stepped = want.decoder_input_ids.map((id) => bartDecoderStep(m(), cache, [id])[0]);
      stepped.forEach((row, r) => assert.deepEqual(row, together[r], `row ${r}`));
      assert.equal(cache.keys[0].length, want.decoder_input_ids.length);
      assert.equal(cache.crossKeys[0].length, want.input_ids.length);
    });

    // Every generate() run of the fixture (greedy and beam search, logits processors and all): the
    // generation module's searches on the reference.
    for (const run of want.generate) {
      it(`${name}: generate ${JSON.stringify(run.settings)} gives transformers' ids`, async (t) => {
        const ckpt = readBartCheckpoint(dir);
        const g = resolveGeneration(ckpt.generation, optionsFromHfSettings(run.settings), { maxPositionEmbeddings: ckpt.config.max_position_embeddings });
        const got = await runGeneration(bartStepper(m(), bartEncode(m(), want.input_ids)), g);
        assert.deepEqual(got.sequences[0], run.sequences);
        if (run.sequences_scores !== undefined) {
          const diff = Math.abs(got.scores![0] - run.sequences_scores);
          t.diagnostic(`|Δ sequence score| ${diff.toExponential(2)}`);
          assert.ok(diff <= TOLERANCE, `sequence score ${got.scores![0]}, transformers ${run.sequences_scores}`);
        }
      });
    }
  }

  it("a plain argmax loop reproduces the run whose processors never act (bart-f32, forced_bos_token_id None)", () => {
    const dir = bartFixtureDir("bart-f32");
    const want = bartExpected("bart-f32");
    const run = want.generate.find((r) => r.settings.num_beams === 1 && r.settings.forced_bos_token_id === null)!;
    assert.deepEqual(bartGreedy(loadBartReference(readBartCheckpoint(dir)), want.input_ids, { maxLength: run.settings.max_length as number }), run.sequences);
  });

  // With int8 activations and stored codes the reference takes the kernels' integer path; hiding the codes
  // makes it sum the same dequantized weights × fake-quantized inputs in f64. The two differ by f32
  // roundings and, rarely, an activation code flipped by them: close, not equal. This checks that codes,
  // steps and groups are read along the right axes (linears (K, N) axis 0, the tied head (V, d) axis 1).
  for (const [label, weight, embedding] of [
    ["W4 E4 A8, groups of 32", { bits: 4, granularity: "group", groupSize: 32, clip: "maxabs" }, { bits: 4, granularity: "group", groupSize: 32, clip: "maxabs" }],
    ["W2 E8 A8, per module", { bits: 2, granularity: "module", groupSize: 0, clip: "maxabs" }, { bits: 8, granularity: "module", groupSize: 0, clip: "maxabs" }],
  ] as Array<[string, WeightQuantSpec, WeightQuantSpec]>) {
    it(`${label}: the integer path agrees with fake-quantized f64 sums`, (t) => {
      for (const name of BART_FIXTURES) {
        const want = bartExpected(name);
        const ckpt = readBartCheckpoint(bartFixtureDir(name));
        const src = checkpointWeights(quantized(ckpt, weight, embedding), 8);
        const noCodes: WeightSource = { ...src, weight: (n) => ({ ...src.weight(n), codes: () => undefined }) };
        const logits = (s: WeightSource) => {
          const m = loadBartReferenceFrom(ckpt.config, { encoder: s, decoder: s });
          assert.equal(m.decoder.head.quantizeInput, true);
          assert.equal(m.decoder.head.q !== undefined, s === src);
          return bartDecoderStep(m, bartDecoderCache(m, bartEncode(m, want.input_ids)), want.decoder_input_ids);
        };
        const diff = maxAbsDiff(logits(src), logits(noCodes).map((r) => Array.from(r)));
        t.diagnostic(`${name}: max |integer − f64| logits ${diff.toExponential(2)}`);
        assert.ok(diff <= TOLERANCE, `${name}: ${diff}`);
      }
    });
  }


  // The two lowbit files of a BART export give the reference exactly what the checkpoint gives it: the
  // same values (fp32), the same codes and steps along the same axes ("dq", A8: the integer path), the
  // same with MatMulNBits blobs (nbits, A8: dequantized, f64 sums over fake-quantized inputs).
  for (const [label, quantize, format] of [
    ["fp32, A32", false, "dq"], ["W4 E4 A8 groups of 32, dq", true, "dq"], ["W4 E4 A8 groups of 32, nbits", true, "nbits"],
  ] as const) {
    it(`exportBart's files, ${label}: the same logits as from the checkpoint, bit for bit`, () => {
      for (const name of BART_FIXTURES) {
        const want = bartExpected(name);
        const base = readBartCheckpoint(bartFixtureDir(name));
        const ckpt = quantize ? quantizedCheckpoint(base) : base;
        const files = exportBart(ckpt, { format, activationBits: quantize ? 8 : 32, source: name });
        const fromFiles = loadBartReference({ encoder: parseModelFile(files.encoder, `${name}/encoder.onnx`), decoder: parseModelFile(files.decoder, `${name}/decoder.onnx`) });
        // nbits stores the linears (input axis 0) as MatMulNBits blobs, which hold no "dq" codes; shared.weight stays "dq".
        const linearAxes = bartQuantizedWeightAxes(ckpt.config);
        const src = checkpointWeights(ckpt.tensors, quantize ? 8 : 32);
        const asFiles: WeightSource = format === "dq" ? src : { ...src, weight: (n) => (linearAxes.get(n) === 0 ? { ...src.weight(n), codes: () => undefined } : src.weight(n)) };
        const fromCheckpoint = loadBartReferenceFrom(ckpt.config, { encoder: asFiles, decoder: asFiles });
        assert.equal(fromFiles.decoder.head.q !== undefined, quantize, "the head's integer path");
        assert.equal(fromFiles.decoder.layers[0].cross.q.q !== undefined, quantize && format === "dq", "a linear's integer path");
        const run = (m: BartReference) => bartDecoderStep(m, bartDecoderCache(m, bartEncode(m, want.input_ids)), want.decoder_input_ids);
        const a = run(fromFiles);
        const b = run(fromCheckpoint);
        a.forEach((row, r) => assert.deepEqual(row, b[r], `${name}: row ${r}`));
        if (!quantize) assert.ok(maxAbsDiff(a, want.logits) <= TOLERANCE, `${name}: against transformers`);
      }
    });
  }
});
