// Bad input to the runtime: each case ends in one clear error, no crash and no hang — through the CLI
// where a user meets it, through the API for memory limits.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { readGpt2Checkpoint } from "../../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint } from "../../src/export/export.js";
import { LowbitError, loadGpt2Model } from "../../src/runtime/index.js";
import { runCli } from "../helpers/cli.js";
import { fixtureDir, tempDir } from "../helpers/fixtures.js";

/** Runs `lowbit generate` and expects one error line matching `pattern` and a non-zero exit. */
function expectGenerateError(args: string[], pattern: RegExp): void {
  const r = runCli(["generate", ...args]);
  assert.notEqual(r.status, 0, `exit status must be non-zero; stdout: ${r.stdout}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one error line, got:\n${r.stderr}`);
  assert.match(lines[0], /^lowbit: error: /);
  assert.match(lines[0], pattern);
}

describe("runtime bad input", () => {
  const dir = tempDir();
  const model = join(dir, "tiny-228.onnx");
  before(() => {
    const q = quantizeCheckpoint(readGpt2Checkpoint(fixtureDir("tiny-f32")), { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "mse" });
    writeFileSync(model, exportGpt2(q, { format: "dq", activationBits: 8, source: "tiny" }).bytes);
  });

  it("a prompt longer than the context is an error, or truncated from the left when asked", () => {
    const ids = Array.from({ length: 60 }, (_, i) => i + 1).join(",");
    expectGenerateError(["--model", model, "--prompt-ids", ids, "--max-new-tokens", "8"],
      /prompt too long for the context; expected prompt \+ max new tokens <= 64 \(the context\), found 60 \+ 8 \(shorten the prompt, lower --max-new-tokens, or pass --truncate to keep its last tokens\)$/);
    expectGenerateError(["--model", model, "--prompt-ids", "1", "--max-new-tokens", "64", "--truncate"], /found 1 \+ 64 \(lower --max-new-tokens below 64\)$/);
    const r = runCli(["generate", "--model", model, "--prompt-ids", ids, "--max-new-tokens", "8", "--truncate", "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.prompt_tokens, 56);
    assert.equal(out.ids.length, 8);
  });

  it("invalid sampling parameters", () => {
    expectGenerateError(["--model", model, "--prompt", "hi", "--top-p", "1.5"], /invalid top-p; expected a number in \(0, 1\], found 1\.5/);
    expectGenerateError(["--model", model, "--prompt", "hi", "--temperature", "-1"], /invalid temperature; expected a number >= 0, found -1/);
    expectGenerateError(["--model", model, "--prompt", "hi", "--top-k", "2.5"], /invalid top-k; expected an integer >= 0, found 2\.5/);
    expectGenerateError(["--model", model, "--prompt", "hi", "--seed", "x"], /invalid --seed; expected a number, found "x"/);
    expectGenerateError(["--model", model, "--prompt", "hi", "--max-new-tokens", "0"], /invalid max new tokens; expected an integer >= 1, found 0/);
    expectGenerateError(["--model", model, "--prompt-ids", "1,99999"], /invalid --prompt-ids; expected ids below the vocabulary size 277, found 99999/);
  });

  it("an empty prompt says how to generate from nothing: the model's end-of-text id", () => {
    expectGenerateError(["--model", model, "--prompt", ""], /^lowbit: error: empty prompt; expected at least one token \(for unconditional generation, start from the end-of-text token: --prompt-ids 276\)$/);
    const r = runCli(["generate", "--model", model, "--prompt-ids", "276", "--max-new-tokens", "4", "--json"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).prompt_tokens, 1);
  });

  it("an empty --stop, which would stop before the first token", () => {
    expectGenerateError(["--model", model, "--prompt", "hi", "--stop", ""], /^lowbit: error: invalid --stop; expected a non-empty string, found ""$/);
    expectGenerateError(["--model", model, "--prompt", "hi", "--stop", "a", ""], /^lowbit: error: invalid --stop; expected a non-empty string, found ""$/);
  });

  it("a --context beyond n_positions is the same error for generate and perplexity", () => {
    const refused = /^lowbit: error: invalid context; expected an integer in 2\.\.64 \(n_positions\), found (100000|1000)$/;
    expectGenerateError(["--model", model, "--prompt", "hi", "--context", "100000"], refused);
    const text = join(dir, "text.txt");
    writeFileSync(text, "the cat sat on the mat. ".repeat(20));
    const r = runCli(["perplexity", "--model", model, "--text", text, "--context", "1000"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr.trimEnd(), refused);
    assert.equal(runCli(["generate", "--model", model, "--prompt", "hi", "--context", "64", "--max-new-tokens", "4"]).status, 0);
  });

  it("a truncated model file", () => {
    const bytes = readFileSync(model);
    const truncated = join(dir, "truncated.onnx");
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    expectGenerateError(["--model", truncated, "--prompt", "hi"], /truncated\.onnx: not a readable ONNX file/);
  });

  it("a corrupted model file", () => {
    const bytes = Buffer.from(readFileSync(model));
    const corrupted = join(dir, "corrupted.onnx");
    for (let i = 0; i < 64; i++) bytes[i * 7] = 0xff; // the leading fields become garbage
    writeFileSync(corrupted, bytes);
    expectGenerateError(["--model", corrupted, "--prompt", "hi"], /corrupted\.onnx: (not a readable ONNX file|not a lowbit model)/);
  });

  it("a stored weight of the wrong size", async () => {
    const { parseModelFile } = await import("../../src/format/lowbit_onnx.js");
    const { decodeModel, encodeModel } = await import("../../src/format/onnx_proto.js");
    const m = decodeModel(readFileSync(model), model);
    const init = m.graph!.initializer!.find((t) => t.name === "h.0.mlp.c_fc.weight.qweight")!;
    init.rawData = init.rawData!.subarray(0, 100);
    const bytes = encodeModel(m);
    assert.throws(() => parseModelFile(bytes, "altered.onnx"), (e: Error) =>
      e instanceof LowbitError && /altered\.onnx: tensor h\.0\.mlp\.c_fc\.weight\.qweight: stored tensor has the wrong size \(corrupted or truncated file\?\); expected 4096 bytes, found 100 bytes/.test(e.message));
  });

  it("an ONNX file lowbit did not write", () => {
    const other = join(dir, "other.onnx");
    writeFileSync(other, Buffer.from([0x08, 0x07, 0x12, 0x03, 0x66, 0x6f, 0x6f]));
    expectGenerateError(["--model", other, "--prompt", "hi"], /other\.onnx: not a lowbit model/);
  });

  it("a missing model file", () => {
    expectGenerateError(["--model", join(dir, "nope.onnx"), "--prompt", "hi"], /nope\.onnx: cannot read model file, found ENOENT/);
  });

  it("out of WASM memory, loading and when the KV cache grows", async () => {
    await assert.rejects(loadGpt2Model(model, { memoryLimitBytes: 64 * 1024 }), (e: Error) =>
      e instanceof LowbitError && /out of WASM memory/.test(e.message) && /over the limit of 65536/.test(e.message));
    // Enough for the weights and scratch (what an unlimited load's memory holds), not for a 63-token cache
    // on top: memory grows in 64 KiB pages, so the unused tail of the last page is under 64 KiB, and the
    // cache needs 2 · 2 layers · 63 rows · 64 · 4 bytes = 64.5 KiB.
    const loaded = (await loadGpt2Model(model)).wasmMemoryBytes();
    const m = await loadGpt2Model(model, { memoryLimitBytes: loaded });
    const gen = m.generate([1, 2, 3], { maxNewTokens: 60 });
    await assert.rejects(gen.next(), (e: Error) => e instanceof LowbitError && /out of WASM memory/.test(e.message) && /KV cache of 63 tokens/.test(e.message));
  });

  it("generation can be cancelled with an AbortSignal", async () => {
    const m = await loadGpt2Model(model);
    const controller = new AbortController();
    const ids: number[] = [];
    await assert.rejects(async () => {
      for await (const tok of m.generate([1, 2, 3], { maxNewTokens: 40, stopAtEos: false, signal: controller.signal })) {
        ids.push(tok.id);
        if (ids.length === 5) controller.abort(new Error("stop here"));
      }
    }, /stop here/);
    assert.equal(ids.length, 5);
  });
});
