// Sliding-window perplexity from the runtime against the same windows scored by the TS reference forward,
// and the window arithmetic: every token after the first is scored exactly once.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readGpt2Checkpoint } from "../../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint } from "../../src/export/export.js";
import { readModelFile } from "../../src/format/node_io.js";
import { emptyCache, loadReferenceModel, referenceForward } from "../../src/reference/gpt2.js";
import { loadGpt2Model } from "../../src/runtime/index.js";
import { negativeLogLikelihood, perplexity } from "../../src/runtime/perplexity.js";
import { runCli } from "../helpers/cli.js";
import { fixtureDir, tempDir } from "../helpers/fixtures.js";

describe("perplexity", () => {
  const dir = tempDir();
  const tokens = Array.from({ length: 150 }, (_, i) => (i * 37 + 11) % 277);

  for (const bits of [32, 2] as const) {
    it(`${bits === 32 ? "fp32" : "2-2-8"}: runtime equals the reference forward on the same windows (context 64, stride 24)`, async () => {
      const ckpt = readGpt2Checkpoint(fixtureDir("tiny-f32"));
      const q = bits === 32 ? ckpt : quantizeCheckpoint(ckpt, { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "mse" });
      const path = join(dir, `m${bits}.onnx`);
      writeFileSync(path, exportGpt2(q, { format: "dq", activationBits: bits === 32 ? 32 : 8, source: "tiny" }).bytes);
      const m = await loadGpt2Model(path);
      const got = perplexity(m.executor, tokens, { context: 64, stride: 24 });
      assert.equal(got.scoredTokens, tokens.length - 1);

      const ref = loadReferenceModel(readModelFile(path));
      let total = 0;
      let prevEnd = 0;
      for (let begin = 0; ; begin += 24) {
        const end = Math.min(begin + 64, tokens.length);
        const logits = referenceForward(ref, tokens.slice(begin, end), emptyCache(ref));
        for (let j = Math.max(prevEnd, begin + 1); j < end; j++) total += negativeLogLikelihood(logits[j - 1 - begin], tokens[j]);
        prevEnd = end;
        if (end === tokens.length) break;
      }
      const want = Math.exp(total / (tokens.length - 1));
      assert.ok(Math.abs(got.perplexity / want - 1) < 1e-5, `runtime ${got.perplexity} vs reference ${want}`);
    });
  }

  it("the CLI reads text or uint16 token files, and rejects bad windows", () => {
    const path = join(dir, "m32.onnx");
    const tokenFile = join(dir, "tokens.bin");
    writeFileSync(tokenFile, Buffer.from(Uint16Array.from(tokens).buffer));
    const r = runCli(["perplexity", "--model", path, "--tokens", tokenFile, "--context", "64", "--stride", "24", "--json"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).scored_tokens, tokens.length - 1);
    const bad = runCli(["perplexity", "--model", path, "--tokens", tokenFile, "--context", "100"]);
    assert.match(bad.stderr, /^lowbit: error: invalid context; expected an integer in 2\.\.64 \(n_positions\), found 100\n$/);
  });
});
