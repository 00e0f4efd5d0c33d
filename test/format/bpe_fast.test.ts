// The tokenizer files' two checkers (src/format/bpe_files.ts): parseBpeFilesFast must give exactly what
// parseBpeFilesReference gives (the vocab Map in Object.keys order, merge ids, layout, special tokens, token
// ids) or stand aside (undefined), so that every error stays the reference's; parseBpeFiles must equal the
// reference on every input, valid or not: real files, edge cases written by hand, and seeded mutations.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseBpeFiles, parseBpeFilesFast, parseBpeFilesReference, type BpeFiles } from "../../src/format/bpe_files.js";
import { META, parseModelFile } from "../../src/format/lowbit_onnx.js";
import { readModelParts } from "../../src/format/onnx_proto.js";
import { seededRandom } from "../../src/runtime/sampling.js";
import { bartVocabFromGpt2, gpt2BpeFiles } from "../../scripts/bart_vocab.js";
import { FIXTURES, fixtureDir } from "../helpers/fixtures.js";

const WHERE = { vocab: "vocab.json", merges: "merges.txt" };
const ROOT = join(import.meta.dirname, "..", "..");

function summary(b: BpeFiles) {
  return {
    vocab: [...b.vocab], mergeIds: [...b.mergeIds], vocabSize: b.vocabSize, layout: b.layout, specialTokens: [...b.specialTokens],
    ids: [b.bosTokenId, b.eosTokenId, b.padTokenId, b.unkTokenId, b.maskTokenId],
  };
}

type Outcome = { ok: ReturnType<typeof summary> } | { error: string };

function outcome(f: () => BpeFiles): Outcome {
  try {
    return { ok: summary(f()) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** Both checkers on one input: the fast one equals the reference or stands aside; parseBpeFiles equals the reference. */
function agree(vocabJson: string, mergesTxt: string, expectFast?: boolean): Outcome {
  const reference = outcome(() => parseBpeFilesReference(vocabJson, mergesTxt, WHERE));
  const fast = parseBpeFilesFast(vocabJson, mergesTxt);
  if (expectFast !== undefined) assert.equal(fast !== undefined, expectFast, `fast path ${expectFast ? "refused" : "took"} ${vocabJson.slice(0, 60)}`);
  if (fast !== undefined) {
    assert.ok("ok" in reference, `the fast path accepted what the reference refuses: ${"error" in reference ? reference.error : ""}`);
    assert.deepEqual(summary(fast), reference.ok);
  }
  assert.deepEqual(outcome(() => parseBpeFiles(vocabJson, mergesTxt, WHERE)), reference);
  return reference;
}

const TINY_VOCAB = readFileSync(join(fixtureDir("tiny-f32"), "vocab.json"), "utf8");
const TINY_MERGES = readFileSync(join(fixtureDir("tiny-f32"), "merges.txt"), "utf8");

describe("parseBpeFilesFast vs parseBpeFilesReference", () => {
  it("GPT-2's own files (half the keys written as \\uXXXX), BART's layout, the test fixtures: fast and equal", () => {
    const gpt2 = gpt2BpeFiles();
    agree(gpt2.vocabJson, gpt2.mergesTxt, true);
    const bart = bartVocabFromGpt2();
    agree(bart.vocabJson, bart.mergesTxt, true);
    for (const dir of [fixtureDir("tiny-f32"), join(FIXTURES, "bart", "bart-f32")]) {
      agree(readFileSync(join(dir, "vocab.json"), "utf8"), readFileSync(join(dir, "merges.txt"), "utf8"), true);
    }
  });

  it("the tokenizers embedded in the shipped models, from their UTF-8 bytes as parseModelFile passes them", () => {
    for (const path of ["models/quantgpt-228.onnx", "models/quantbart-228/onnx/encoder_model_q2.onnx"]) {
      const bytes = new Uint8Array(readFileSync(join(ROOT, path)));
      const meta = new Map(readModelParts(bytes, path).metadata.map((m) => [m.key, m]));
      const vocab = meta.get(META.vocab)!;
      const merges = meta.get(META.merges)!;
      const fast = parseBpeFilesFast(vocab.value, merges.value, { vocab: vocab.valueBytes, merges: merges.valueBytes });
      assert.ok(fast !== undefined, path);
      assert.deepEqual(summary(fast), summary(parseBpeFilesReference(vocab.value, merges.value, WHERE)));
      assert.deepEqual(summary(parseModelFile(bytes, path).bpe), summary(fast));
    }
  });

  it("keys: array indices first in ascending order, escapes as JSON.parse reads them, whitespace anywhere JSON allows it", () => {
    // Every prefix of each number a token, each made by a merge: so the numbers are reachable entries.
    const vocab: Record<string, number> = { a: 0, b: 1, ab: 2 };
    const merges = ["#version: 0.2", "a b"];
    for (const n of ["10", "2", "00", "4294967294", "4294967295", "42949672950"]) {
      for (let i = 1; i <= n.length; i++) {
        if (!(n.slice(0, i) in vocab)) {
          vocab[n.slice(0, i)] = Object.keys(vocab).length;
          if (i > 1) merges.push(`${n.slice(0, i - 1)} ${n[i - 1]}`);
        }
        vocab[n[i - 1]] ??= Object.keys(vocab).length;
      }
    }
    const order = agree(JSON.stringify(vocab), merges.join("\n"), true);
    const keys = "ok" in order ? order.ok.vocab.map(([k]) => k) : [];
    assert.deepEqual(keys.slice(0, 7), ["0", "1", "2", "4", "5", "6", "7"]);
    assert.ok(keys.indexOf("4294967294") < keys.indexOf("a") && keys.indexOf("4294967295") > keys.indexOf("a"), keys.join(" "));
    agree('{"\\u0061": 0, "b": 1, "a\\u0062": 2, "\\"": 3, "\\\\": 4, "\\/": 5, "\\n": 6, "\\ud83d\\ude00": 7, "\\u00e9": 8, "\\b\\f\\r\\t": 9}', "a b\n");
    agree(' \n{ "a" :0 ,\t"b"\r\n: 1,"ab":\n2 }\n ', "a b", true);
    agree('{"a":0,"b":1,"ab":2,"<|endoftext|>":3,"<|x|>":4,"<|>":5}', "a b\r\n\r\n", undefined);
    agree('{"\\u0041": 0, "A": 1}', "");
  });

  it("anything else goes to the reference, with its errors", () => {
    const merges = "a b\n";
    const v = (rest: string) => `{"a": 0, "b": 1, "ab": 2${rest}}`;
    for (const vocab of [
      "{}", "[]", '"x"', "null", v(', "c": 3.0'), v(', "c": 3e0'), v(', "c": -1'), v(', "c": 03'), v(', "c": 16777216'), v(', "c": "3"'),
      v(', "c": null'), v(', "a": 3'), v(', "c": 2'), v(', "c": 99999'), v(", "), `${v("")} x`, `\uFEFF${v("")}`, v(', "\\ud800": 3'),
      v(', "\\x": 3'), v(', "\\u12": 3'), v(', "c\u0001": 3'), '{"a": 0', '{"a": 0,}', '{"a" 0}', '{"a": 0 "b": 1}',
    ]) {
      const r = agree(vocab, merges);
      if (vocab.includes("3.0") || vocab.includes("3e0")) assert.ok("ok" in r, vocab);
    }
    const vocab = v("");
    for (const m of ["ab", " a b", "a  b", "a b ", "a b c", "a c", "c b", "#version 1\na b", "a b\n#version 1", "a b\nb a"]) agree(vocab, m);
    // merges.txt cut short: an entry that no merge makes.
    agree(v(', "abb": 3'), merges);
    // BART's layout: fairseq's fillers and <|endoftext|> are exempt, other unreached entries are not.
    const bart = (extra: string) => `{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "a": 4, "b": 5, "ab": 6${extra}}`;
    agree(bart(', "madeupword0000": 7, "<|endoftext|>": 8, "<mask>": 9'), merges, true);
    agree(bart(', "madeupword000": 7'), merges, undefined);
    agree(bart(""), merges, true);
  });

  it("seeded mutations of the tiny fixture's files: parseBpeFiles always answers as the reference does", () => {
    const rand = seededRandom(5);
    const pick = (s: string) => s[Math.floor(rand() * s.length)];
    const alphabet = '{}[]":, \n\r\t\\u0123456789abĠe.-"';
    const mutate = (text: string): string => {
      const at = Math.floor(rand() * text.length);
      const r = rand();
      if (r < 0.3) return text.slice(0, at) + text.slice(at + 1);
      if (r < 0.6) return text.slice(0, at) + pick(alphabet) + text.slice(at);
      if (r < 0.9) return text.slice(0, at) + pick(alphabet) + text.slice(at + 1);
      const line = text.split("\n");
      line.splice(Math.floor(rand() * line.length), 1);
      return line.join("\n");
    };
    let accepted = 0;
    for (let i = 0; i < 1500; i++) {
      let vocab = TINY_VOCAB;
      let merges = TINY_MERGES;
      for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) {
        if (rand() < 0.6) vocab = mutate(vocab);
        else merges = mutate(merges);
      }
      if ("ok" in agree(vocab, merges)) accepted++;
    }
    assert.ok(accepted > 50, `only ${accepted} mutated inputs were valid: the test should exercise both outcomes`);
    // GPT-2's real files: one edit each, often inside a \uXXXX escape or an id.
    const gpt2 = gpt2BpeFiles();
    for (let i = 0; i < 30; i++) {
      if (rand() < 0.7) agree(mutate(gpt2.vocabJson), gpt2.mergesTxt);
      else agree(gpt2.vocabJson, mutate(gpt2.mergesTxt));
    }
  });
});
