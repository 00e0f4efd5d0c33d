// The BART fixtures' generate() runs (scripts/make_fixtures.py, test/fixtures/bart/<case>/expected.json) as
// src/runtime/generation.ts resolves them: every run's settings, layered over the fixture's
// generation_config.json, give the values transformers used. The ids themselves (every run, greedy and beam,
// with sequences_scores within 1e-4) are checked where a forward exists: test/reference/bart.test.ts drives
// runGeneration with the reference forward's DecoderStepper (bartStepper).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { optionsFromHfSettings, resolveGeneration, type GenerationDefaults } from "../../src/runtime/generation.js";
import { BART_FIXTURES, bartExpected, bartFixtureDir } from "../helpers/bart_fixtures.js";

const json = (path: string) => JSON.parse(readFileSync(path, "utf8"));

describe("generation settings of the BART fixtures", () => {
  for (const name of BART_FIXTURES) {
    it(`${name}: every run's settings resolve over generation_config.json as transformers layers them`, () => {
      const dir = bartFixtureDir(name);
      const defaults = json(join(dir, "generation_config.json")) as GenerationDefaults;
      const config = json(join(dir, "config.json"));
      for (const run of bartExpected(name).generate) {
        const s = run.settings;
        const g = resolveGeneration(defaults, optionsFromHfSettings(s), { maxPositionEmbeddings: config.max_position_embeddings });
        const label = JSON.stringify(s);
        const pick = <T>(key: string, fallback: T): T => (key in s ? (s[key] as T) : ((defaults as Record<string, unknown>)[key] as T) ?? fallback);
        assert.equal(g.maxLength, s.max_new_tokens !== undefined ? (s.max_new_tokens as number) + 1 : pick("max_length", 20), label);
        assert.equal(g.minLength, pick("min_length", 0), label);
        assert.equal(g.numBeams, pick("num_beams", 1), label);
        assert.equal(g.lengthPenalty, pick("length_penalty", 1), label);
        assert.equal(g.earlyStopping, pick("early_stopping", false), label);
        assert.equal(g.noRepeatNgramSize, pick("no_repeat_ngram_size", 0), label);
        assert.equal(g.repetitionPenalty, pick("repetition_penalty", 1), label);
        assert.equal(g.forcedBosTokenId, pick("forced_bos_token_id", null), label);
        assert.equal(g.forcedEosTokenId, pick("forced_eos_token_id", null), label);
        assert.equal(g.decoderStartTokenId, defaults.decoder_start_token_id);
        assert.equal(g.eosTokenId, defaults.eos_token_id);
        assert.equal(g.doSample, false, label);
        // transformers' output starts with the start token and never exceeds max_length.
        assert.equal(run.sequences[0], g.decoderStartTokenId, label);
        assert.ok(run.sequences.length <= g.maxLength, label);
      }
    });
  }
});
