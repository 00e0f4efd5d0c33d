// resolveGeneration: generation_config.json + options + transformers' library defaults → one checked set of
// settings, with transformers' precedence rules (generation/utils.py `_prepare_generation_config`,
// `_prepare_generated_length`, `_prepare_special_tokens`).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LowbitError } from "../../src/errors.js";
import { optionsFromHfSettings, resolveGeneration, type GenerationDefaults } from "../../src/runtime/generation.js";

// facebook/bart-large-cnn's generation_config.json.
const BART_CNN: GenerationDefaults = {
  bos_token_id: 0, decoder_start_token_id: 2, early_stopping: true, eos_token_id: 2, forced_bos_token_id: 0, forced_eos_token_id: 2,
  length_penalty: 2.0, max_length: 142, min_length: 56, no_repeat_ngram_size: 3, num_beams: 4, pad_token_id: 1,
};

describe("resolveGeneration", () => {
  it("takes generation_config.json's values, transformers' defaults for the rest", () => {
    assert.deepEqual(resolveGeneration(BART_CNN), {
      maxLength: 142, minLength: 56, numBeams: 4, lengthPenalty: 2, earlyStopping: true, noRepeatNgramSize: 3, repetitionPenalty: 1,
      decoderStartTokenId: 2, eosTokenId: 2, padTokenId: 1, forcedBosTokenId: 0, forcedEosTokenId: 2,
      doSample: false, temperature: 1, topK: 50, topP: 1, seed: 0,
    });
  });

  it("options override the file; null switches a forced token off", () => {
    const g = resolveGeneration(BART_CNN, { numBeams: 2, lengthPenalty: 0.5, earlyStopping: "never", forcedBosTokenId: null, minLength: 0 });
    assert.equal(g.numBeams, 2);
    assert.equal(g.lengthPenalty, 0.5);
    assert.equal(g.earlyStopping, "never");
    assert.equal(g.forcedBosTokenId, null);
    assert.equal(g.forcedEosTokenId, 2);
    assert.equal(g.minLength, 0);
  });

  it("max_new_tokens counts after the start token and wins over max_length, wherever either comes from", () => {
    assert.equal(resolveGeneration(BART_CNN, { maxNewTokens: 10 }).maxLength, 11);
    assert.equal(resolveGeneration(BART_CNN, { maxLength: 30 }).maxLength, 30);
    assert.equal(resolveGeneration({ ...BART_CNN, max_new_tokens: 50 }, { maxLength: 30 }).maxLength, 51);
    assert.equal(resolveGeneration(BART_CNN, { minNewTokens: 5 }).minLength, 6);
  });

  it("with no max_length anywhere: 20 new tokens, capped at max_position_embeddings", () => {
    const { max_length: _, ...noMax } = BART_CNN;
    assert.equal(resolveGeneration(noMax).maxLength, 21);
    assert.equal(resolveGeneration(noMax, {}, { maxPositionEmbeddings: 16 }).maxLength, 16);
  });

  it("falls back as transformers does: start token ← bos_token_id, pad ← eos; a list of one EOS id is one id", () => {
    const g = resolveGeneration({ bos_token_id: 5, eos_token_id: [7] });
    assert.equal(g.decoderStartTokenId, 5);
    assert.equal(g.padTokenId, 7);
    assert.equal(g.eosTokenId, 7);
  });

  it("samples when asked: do_sample, or a temperature/top-k/top-p/seed option; temperature 0 never", () => {
    assert.equal(resolveGeneration(BART_CNN).doSample, false);
    assert.equal(resolveGeneration({ ...BART_CNN, do_sample: true }).doSample, true);
    assert.equal(resolveGeneration(BART_CNN, { topP: 0.9 }).doSample, true);
    assert.equal(resolveGeneration(BART_CNN, { seed: 1 }).doSample, true);
    assert.equal(resolveGeneration(BART_CNN, { seed: 1, doSample: false }).doSample, false);
    assert.equal(resolveGeneration({ ...BART_CNN, do_sample: true }, { temperature: 0 }).doSample, false);
  });

  it("refuses bad values with one line naming the setting", () => {
    const cases: Array<[GenerationDefaults, object, RegExp]> = [
      [BART_CNN, { maxLength: 1 }, /invalid max length; expected an integer >= 2, found 1/],
      [BART_CNN, { maxNewTokens: 0 }, /invalid max new tokens/],
      [BART_CNN, { numBeams: 0 }, /invalid num beams/],
      [BART_CNN, { lengthPenalty: NaN }, /invalid length penalty/],
      [BART_CNN, { earlyStopping: "sometimes" }, /invalid early stopping; expected true, false or "never", found "sometimes"/],
      [BART_CNN, { noRepeatNgramSize: 1.5 }, /invalid no repeat ngram size/],
      [BART_CNN, { repetitionPenalty: 0 }, /invalid repetition penalty/],
      [BART_CNN, { topP: 0 }, /invalid top-p/],
      [BART_CNN, { topK: -1 }, /invalid top-k/],
      [BART_CNN, { temperature: -1 }, /invalid temperature/],
      [BART_CNN, { seed: 2 ** 32 }, /invalid seed/],
      [BART_CNN, { forcedBosTokenId: -3 }, /invalid forced bos token id/],
      [{ ...BART_CNN, eos_token_id: [2, 3] }, {}, /invalid eos token id; expected one token id/],
      [{ decoder_start_token_id: 2 }, {}, /missing eos_token_id/],
      [{ eos_token_id: 2 }, {}, /missing decoder_start_token_id/],
    ];
    for (const [defaults, options, message] of cases) {
      assert.throws(() => resolveGeneration(defaults, options), (e: unknown) => e instanceof LowbitError && message.test(e.message) && !e.message.includes("\n"), JSON.stringify(options));
    }
    assert.throws(() => resolveGeneration(BART_CNN, { maxLength: 200 }, { maxPositionEmbeddings: 128 }), /max length too long for the model/);
  });
});

describe("optionsFromHfSettings", () => {
  it("maps generate() keyword arguments to options, keeping None for forced tokens only", () => {
    assert.deepEqual(optionsFromHfSettings({ num_beams: 4, max_new_tokens: 10, forced_bos_token_id: null, early_stopping: "never", min_length: null }), {
      numBeams: 4, maxNewTokens: 10, forcedBosTokenId: null, earlyStopping: "never",
    });
  });

  it("refuses a setting it does not know, so a parity test cannot pass by ignoring it", () => {
    assert.throws(() => optionsFromHfSettings({ num_beam_groups: 2 }), /unsupported generate\(\) setting.*found num_beam_groups/);
  });
});
