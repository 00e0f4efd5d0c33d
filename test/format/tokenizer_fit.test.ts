// Which tokenizers fit a model's embedding: every id must, except BART's <mask> one past it, as the
// summarization checkpoints (facebook/bart-large-cnn: vocab_size 50264, <mask> = 50264) ship.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseBpeFiles, tokenizerFitsModel } from "../../src/format/bpe_files.js";
import { bartFixtureDir } from "../helpers/bart_fixtures.js";
import { fixtureDir } from "../helpers/fixtures.js";

function bpeOf(dir: string) {
  return parseBpeFiles(readFileSync(join(dir, "vocab.json"), "utf8"), readFileSync(join(dir, "merges.txt"), "utf8"), { vocab: "vocab.json", merges: "merges.txt" });
}

describe("tokenizerFitsModel", () => {
  it("BART: a model one row short of <mask> fits, two rows short does not", () => {
    const bpe = bpeOf(bartFixtureDir("bart-f32")); // 281 ids, <mask> = 280
    assert.equal(bpe.maskTokenId, 280);
    assert.equal(tokenizerFitsModel(bpe, 281), true);
    assert.equal(tokenizerFitsModel(bpe, 400), true);
    assert.equal(tokenizerFitsModel(bpe, 280), true);
    assert.equal(tokenizerFitsModel(bpe, 279), false);
  });

  it("GPT-2: every id must fit, the last one too", () => {
    const bpe = bpeOf(fixtureDir("tiny-f32"));
    assert.equal(tokenizerFitsModel(bpe, bpe.vocabSize), true);
    assert.equal(tokenizerFitsModel(bpe, bpe.vocabSize - 1), false);
  });
});
