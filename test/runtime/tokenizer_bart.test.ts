// The byte-level BPE tokenizer on BART's vocabulary layout, against ids that Hugging Face tokenizers produced
// with BART's tokenizer.json pipeline (test/fixtures/bart_tokenizer_cases.json, scripts/make_fixtures.py
// make_bart_tokenizer_cases): specials <s> <pad> </s> <unk> <mask> split out first, <mask> with lstrip,
// byte-level BPE without a prefix space, then <s> ... </s>. Also how vocab.json decides the layout, and the
// validation of BART-layout files.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseBpeFiles } from "../../src/format/bpe_files.js";
import { BpeTokenizer, TextStreamDecoder } from "../../src/runtime/tokenizer.js";
import { bartVocabFromGpt2, gpt2BpeFiles } from "../../scripts/bart_vocab.js";
import { FIXTURES } from "../helpers/fixtures.js";

const files = bartVocabFromGpt2();
const bart = BpeTokenizer.fromFiles(files.vocabJson, files.mergesTxt);
const gpt2Files = gpt2BpeFiles();
const gpt2 = BpeTokenizer.fromFiles(gpt2Files.vocabJson, gpt2Files.mergesTxt);

const golden = JSON.parse(readFileSync(join(FIXTURES, "bart_tokenizer_cases.json"), "utf8")) as {
  tokenizer: string;
  vocab_size: number;
  cases: Array<{ text: string; ids: number[] }>;
};

/** The text that decode() without skipping gives back: <mask> has eaten the whitespace before it. */
const BART_SPECIAL_TEXT = /<s>|<\/s>|<pad>|<unk>|<mask>/g;
const lstripped = (text: string): string => text.replace(/\p{White_Space}+(?=<mask>)/gu, "");

describe("BART-layout tokenizer vs Hugging Face tokenizers", () => {
  it("reads the layout and the five special tokens from vocab.json", () => {
    assert.equal(bart.layout, "bart");
    assert.equal(bart.vocabSize, golden.vocab_size);
    assert.deepEqual([...bart.specialTokens], [["<s>", 0], ["<pad>", 1], ["</s>", 2], ["<unk>", 3], ["<mask>", 50260]]);
    assert.deepEqual(
      [bart.bosTokenId, bart.padTokenId, bart.eosTokenId, bart.unkTokenId, bart.maskTokenId],
      [0, 1, 2, 3, 50260],
    );
    for (const id of [0, 1, 2, 3, 50260]) assert.ok(bart.isSpecial(id));
    assert.ok(!bart.isSpecial(4));
  });

  it("covers the 58 fixture texts", () => {
    assert.equal(golden.cases.length, 58);
  });

  for (const [i, { text, ids }] of golden.cases.entries()) {
    it(`case ${i}: ${JSON.stringify(text.slice(0, 40))} encodes to HF's ids and decodes back`, () => {
      assert.deepEqual(bart.encode(text), ids);
      assert.deepEqual(bart.encode(text, { addSpecialTokens: false }), ids.slice(1, -1));
      assert.equal(bart.decode(ids), `<s>${lstripped(text)}</s>`);
      assert.equal(bart.decode(ids, { skipSpecialTokens: true }), lstripped(text).replace(BART_SPECIAL_TEXT, ""));
    });
  }

  it("gives <mask> the whitespace before it, never past the previous special token", () => {
    const world = bart.encode(" world", { addSpecialTokens: false });
    assert.deepEqual(bart.encode(" <mask>"), [0, 50260, 2]);
    assert.deepEqual(bart.encode("  <mask>"), [0, 50260, 2]);
    assert.deepEqual(bart.encode("Hello \t\n <mask> world"), [0, 15500, 50260, ...world, 2]);
    assert.deepEqual(bart.encode("</s> <mask>"), [0, 2, 50260, 2]);
    // Only <mask> has lstrip: the space before the other specials stays text.
    assert.deepEqual(bart.encode("Hello </s>"), [0, 15500, ...bart.encode(" ", { addSpecialTokens: false }), 2, 2]);
    // Whitespace after <mask> stays (no rstrip).
    assert.deepEqual(bart.encode("<mask> world"), [0, 50260, ...world, 2]);
    // Derived from Rust's char::is_whitespace (= White_Space), not from an HF run: NBSP is absorbed,
    // the zero-width space (not White_Space) is not.
    assert.deepEqual(bart.encode("a\u00a0<mask>"), bart.encode("a<mask>"));
    assert.notDeepEqual(bart.encode("a\u200b<mask>"), bart.encode("a<mask>"));
  });

  it("cuts specials out leftmost-longest and leaves incomplete ones to BPE", () => {
    assert.deepEqual(bart.encode("<s><s></s>", { addSpecialTokens: false }), [0, 0, 2]);
    assert.ok(!bart.encode("<mask", { addSpecialTokens: false }).includes(50260));
    assert.ok(!bart.encode("<MASK>", { addSpecialTokens: false }).includes(50260));
  });

  it("encodes the empty text as <s></s>, or as nothing without special tokens", () => {
    assert.deepEqual(bart.encode(""), [0, 2]);
    assert.deepEqual(bart.encode("", { addSpecialTokens: false }), []);
  });

  it("encodes ordinary text as GPT-2 does, shifted to BART-layout ids", () => {
    const shift = (id: number): number => id + 4; // bart_vocab_from_gpt2 puts GPT-2's id k (< 50256) at k + 4
    for (const { text } of golden.cases) {
      if (text.match(BART_SPECIAL_TEXT) !== null || text.includes("<|endoftext|>")) continue;
      assert.deepEqual(bart.encode(text, { addSpecialTokens: false }), gpt2.encode(text).map(shift), JSON.stringify(text));
    }
  });

  it("cleans up tokenization spaces only when asked, as transformers' clean_up_tokenization does", () => {
    const ids = bart.encode("Hello , world . I do n't know 's ' x");
    assert.equal(bart.decode(ids, { skipSpecialTokens: true }), "Hello , world . I do n't know 's ' x");
    assert.equal(bart.decode(ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: true }), "Hello, world. I don't know's'x");
  });

  it("streams decoded text with or without the special tokens", () => {
    const text = "Résumé <mask> 😀👍🏽 你好";
    const ids = bart.encode(text);
    const skip = new TextStreamDecoder(bart, { skipSpecialTokens: true });
    assert.equal(ids.map((id) => skip.push(id)).join("") + skip.flush(), lstripped(text).replace(BART_SPECIAL_TEXT, ""));
    const keep = new TextStreamDecoder(bart);
    assert.equal(ids.map((id) => keep.push(id)).join("") + keep.flush(), `<s>${lstripped(text)}</s>`);
  });

  it("throws on ids outside the vocabulary even when skipping special tokens", () => {
    assert.throws(() => bart.decode([0, 50261, 2], { skipSpecialTokens: true }), /token id 50261 .*vocab size 50261/);
  });
});

describe("GPT-2 layout through the same class", () => {
  it("keeps <|endoftext|> as its one special token: bos = eos = unk, no pad or mask, nothing added", () => {
    assert.equal(gpt2.layout, "gpt2");
    assert.deepEqual([gpt2.bosTokenId, gpt2.eosTokenId, gpt2.unkTokenId, gpt2.padTokenId, gpt2.maskTokenId], [50256, 50256, 50256, undefined, undefined]);
    assert.deepEqual(gpt2.encode("Hello world"), gpt2.encode("Hello world", { addSpecialTokens: false }));
    assert.deepEqual(gpt2.encode("<s>a</s><mask>"), gpt2.encode("<s>a</s><mask>", { addSpecialTokens: false }));
    assert.ok(!gpt2.isSpecial(gpt2.encode("<s>")[0]));
    const ids = gpt2.encode("a<|endoftext|> b");
    assert.equal(gpt2.decode(ids), "a<|endoftext|> b");
    assert.equal(gpt2.decode(ids, { skipSpecialTokens: true }), "a b");
  });
});

describe("BART-layout vocab.json: which tokens are special, and validation", () => {
  // BART's own tiny fixture files (test/fixtures/bart/*: 4 specials, 256 bytes, 20 merges, <mask> = 280).
  const tinyDir = join(FIXTURES, "bart", "bart-f32");
  const tinyVocab = JSON.parse(readFileSync(join(tinyDir, "vocab.json"), "utf8")) as Record<string, number>;
  const tinyMerges = readFileSync(join(tinyDir, "merges.txt"), "utf8");
  const withEntries = (extra: Record<string, number>): string => JSON.stringify({ ...tinyVocab, ...extra });

  it("reads the tiny BART fixture's files as BART layout", () => {
    const bpe = parseBpeFiles(JSON.stringify(tinyVocab), tinyMerges, { vocab: "vocab.json", merges: "merges.txt" });
    assert.equal(bpe.layout, "bart");
    assert.equal(bpe.vocabSize, 281);
    assert.deepEqual([bpe.bosTokenId, bpe.padTokenId, bpe.eosTokenId, bpe.unkTokenId, bpe.maskTokenId], [0, 1, 2, 3, 280]);
    const tiny = BpeTokenizer.fromBpe(bpe);
    assert.deepEqual(tiny.encode(" the"), [0, tinyVocab["Ġthe"], 2]);
    assert.equal(tiny.decode(tiny.encode("the cat <mask> sat"), { skipSpecialTokens: true }), "the cat sat");
  });

  it("accepts BART's real extras (<|endoftext|>, madeupword0000..) as ordinary tokens that no merge makes", () => {
    // facebook/bart-*'s vocab.json keeps GPT-2's <|endoftext|> and fairseq's filler words; its tokenizer.json
    // does not list them as added tokens, so text spelling them goes through BPE.
    const extras = { "<|endoftext|>": 281, madeupword0000: 282, madeupword0001: 283, "<mask>": 284 };
    const tiny = BpeTokenizer.fromFiles(withEntries(extras), tinyMerges);
    assert.deepEqual([...tiny.specialTokens.values()], [0, 1, 2, 3, 284]);
    assert.ok(!tiny.isSpecial(281));
    const ids = tiny.encode("<|endoftext|>madeupword0000", { addSpecialTokens: false });
    assert.ok(!ids.includes(281) && !ids.includes(282));
    assert.equal(tiny.decode([281, 282]), "<|endoftext|>madeupword0000");
    assert.equal(tiny.decode([0, 281, 2], { skipSpecialTokens: true }), "<|endoftext|>");
  });

  it("works without <mask>", () => {
    const { "<mask>": _, ...noMask } = tinyVocab;
    const tiny = BpeTokenizer.fromFiles(JSON.stringify(noMask), tinyMerges);
    assert.equal(tiny.layout, "bart");
    assert.equal(tiny.maskTokenId, undefined);
    assert.ok(!tiny.encode("<mask>").includes(280));
  });

  it("still refuses an ordinary entry that no merge makes (merges.txt cut short)", () => {
    const cut = tinyMerges.trimEnd().split("\n").slice(0, -1).join("\n");
    assert.throws(() => parseBpeFiles(JSON.stringify(tinyVocab), cut, { vocab: "vocab.json", merges: "merges.txt" }), /merges\.txt: vocabulary entry that no merge produces .*expected a merge that makes "Ġ?\w+"/s);
    assert.throws(() => BpeTokenizer.fromFiles(withEntries({ "made up": 281 }), tinyMerges), /merges\.txt: vocabulary entry that no merge produces/);
  });

  it("is BART layout only with all four of <s>, <pad>, </s>, <unk>; else those are ordinary and must be merged", () => {
    const { "<pad>": _, ...noPad } = tinyVocab;
    assert.throws(() => BpeTokenizer.fromFiles(JSON.stringify(noPad), tinyMerges), /merges\.txt: vocabulary entry that no merge produces .*"<s>"/s);
  });

  it("keeps fairseq's filler words out of GPT-2 layout, where nothing explains them", () => {
    assert.throws(
      () => BpeTokenizer.fromFiles('{"a": 0, "b": 1, "ab": 2, "madeupword0000": 3}', "#version: 0.2\na b\n"),
      /merges\.txt: vocabulary entry that no merge produces .*madeupword0000/s,
    );
  });
});

describe("names", () => {
  it("keeps Gpt2Tokenizer as the old name of BpeTokenizer", async () => {
    const { Gpt2Tokenizer } = await import("../../src/runtime/tokenizer.js");
    assert.equal(Gpt2Tokenizer, BpeTokenizer);
  });
});
