// The embedded default model (`npm start`): it loads, generates greedily, and says it is untrained.

import assert from "node:assert/strict";
import { join } from "node:path";
import { it } from "node:test";
import { runCli } from "../helpers/cli.js";
import { ROOT } from "../helpers/fixtures.js";

it("models/gpt2-random-228.onnx generates 16 tokens and is flagged untrained", () => {
  const model = join(ROOT, "models", "gpt2-random-228.onnx");
  const r = runCli(["generate", "--model", model, "--prompt", "The quick brown fox", "--max-new-tokens", "16"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /note: .*gpt2-random-228\.onnx is untrained \(random weights\)/);
  assert.match(r.stderr, /prefill: 4 tokens, [\d.]+ tok\/s; decode: 15 tokens, [\d.]+ tok\/s; load \d+ ms; peak RSS [\d.]+ MiB; WASM memory [\d.]+ MiB \(simd\)/);
  const json = JSON.parse(runCli(["generate", "--model", model, "--prompt", "The quick brown fox", "--max-new-tokens", "16", "--json"]).stdout);
  assert.equal(json.ids.length, 16);
  assert.equal(json.untrained, true);
  assert.ok(r.stdout.startsWith(json.text), "streamed text equals the JSON text");
});
