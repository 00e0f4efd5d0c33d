// `lowbit summarize` through the real CLI on a BART folder exported by `lowbit export … -o dir/`: flags left
// out come from generation_config.json as in transformers, flags given override them, --json reports one
// object per document, and each family's command refuses the other family's model with a clear message.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { bartExpected, bartFixtureDir } from "../helpers/bart_fixtures.js";
import { runCli } from "../helpers/cli.js";
import { fixtureDir, tempDir } from "../helpers/fixtures.js";

describe("lowbit summarize", () => {
  const want = bartExpected("bart-f32");
  let dir: string;
  let bart: string;

  before(() => {
    dir = tempDir();
    bart = join(dir, "bart");
    const r = runCli(["export", bartFixtureDir("bart-f32"), "-o", `${bart}/`, "--bits", "32"]);
    assert.equal(r.status, 0, r.stderr);
  });

  const summarize = (flags: string[]) => {
    const r = runCli(["summarize", "--model", bart, "--json", ...flags]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim().split("\n").map((line) => JSON.parse(line) as { ids: number[]; text: string; encoder_ms: number; decode_tokens_per_s: number });
  };

  it("takes what it is not told from generation_config.json (num_beams 4, length_penalty 2, no-repeat 3, early stopping)", () => {
    const run = want.generate.find((g) => JSON.stringify(g.settings) === JSON.stringify({ num_beams: 4, max_length: 24, no_repeat_ngram_size: 3, length_penalty: 2.0 }))!;
    const [doc] = summarize(["--input-ids", want.input_ids.join(","), "--max-length", "24"]);
    assert.deepEqual(doc.ids, run.sequences.slice(1));
    assert.ok(doc.encoder_ms > 0 && doc.decode_tokens_per_s > 0);
  });

  it("overrides them with flags: every fixture setting expressible as flags gives transformers' ids", () => {
    const flagOf: Record<string, string> = {
      num_beams: "--num-beams", max_length: "--max-length", max_new_tokens: "--max-new-tokens", length_penalty: "--length-penalty",
      no_repeat_ngram_size: "--no-repeat-ngram-size", min_length: "--min-length", repetition_penalty: "--repetition-penalty",
    };
    let checked = 0;
    for (const run of want.generate) {
      const flags: string[] = [];
      let expressible = true;
      for (const [key, value] of Object.entries(run.settings)) {
        if (key === "early_stopping") flags.push(value === true ? "--early-stopping" : value === false ? "--no-early-stopping" : "");
        else if (flagOf[key] !== undefined) flags.push(flagOf[key], String(value));
        else expressible = false;
        if (key === "early_stopping" && value === "never") expressible = false;
      }
      if (!expressible) continue;
      const [doc] = summarize(["--input-ids", want.input_ids.join(","), ...flags.filter((f) => f !== "")]);
      assert.deepEqual(doc.ids, run.sequences.slice(1), JSON.stringify(run.settings));
      checked++;
    }
    assert.ok(checked >= 10, `only ${checked} settings checked`);
  });

  it("reads one document per line from --input-file, and --text", () => {
    const file = join(dir, "docs.txt");
    writeFileSync(file, "the cat sat on the mat\n\nan other one\n");
    const docs = summarize(["--input-file", file, "--num-beams", "1", "--max-new-tokens", "5"]);
    assert.equal(docs.length, 2);
    const [one] = summarize(["--text", "the cat sat on the mat", "--num-beams", "1", "--max-new-tokens", "5"]);
    assert.deepEqual(one.ids, docs[0].ids);
  });

  it("refuses a GPT-2 model, and generate refuses a BART one, each naming the other command", () => {
    const gpt2 = join(dir, "gpt2.onnx");
    assert.equal(runCli(["export", fixtureDir("tiny-f32"), "-o", gpt2, "--bits", "32"]).status, 0);
    const r = runCli(["summarize", "--model", gpt2, "--text", "hello"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^lowbit: error: .*gpt2\.onnx: this is a GPT-2 \(decoder-only\) model, not a BART one \(use `lowbit generate` for GPT-2 models\)\n$/);
    const g = runCli(["generate", "--model", bart, "--prompt", "hello"]);
    assert.equal(g.status, 1);
    assert.match(g.stderr, /^lowbit: error: .*bart: this is a BART \(sequence-to-sequence\) model, not a GPT-2 one \(use `lowbit summarize`/);
  });

  it("refuses bad flags with one line", () => {
    const r = runCli(["summarize", "--model", bart, "--input-ids", "0,99999,2"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^lowbit: error: invalid --input-ids; expected comma-separated integers in 0\.\.280, found "99999"\n$/);
    const n = runCli(["summarize", "--model", bart, "--text", "x", "--num-beams", "0"]);
    assert.equal(n.status, 1);
    assert.match(n.stderr, /^lowbit: error: invalid num beams; expected an integer >= 1, found 0\n$/);
  });
});
