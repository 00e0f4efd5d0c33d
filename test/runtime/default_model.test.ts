// The shipped models: the embedded default (`npm start`, the QuantGPT W-E-A 2-2-8 export of the trained student), its
// 4-4-8 sibling and the 124M-shaped 2-2-8 student each load, generate, stream the same text they report in JSON,
// and are not flagged untrained.

import assert from "node:assert/strict";
import { join } from "node:path";
import { it } from "node:test";
import { runCli } from "../helpers/cli.js";
import { ROOT } from "../helpers/fixtures.js";

for (const name of ["quantgpt-228", "quantgpt-448", "quantgpt124m-228"]) {
  it(`models/${name}.onnx generates 16 tokens`, () => {
    const model = join(ROOT, "models", `${name}.onnx`);
    const args = ["generate", "--model", model, "--prompt", "The President said that", "--max-new-tokens", "16"];
    const r = runCli(args);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /untrained/);
    assert.match(r.stderr, /prefill: 4 tokens, [\d.]+ tok\/s; decode: 15 tokens, [\d.]+ tok\/s; load \d+ ms; peak RSS [\d.]+ MiB; WASM memory [\d.]+ MiB \(simd\)/);
    const json = JSON.parse(runCli([...args, "--json"]).stdout);
    assert.equal(json.ids.length, 16);
    assert.equal(json.untrained, false);
    assert.ok(r.stdout.startsWith(json.text), "streamed text equals the JSON text");
  });
}
