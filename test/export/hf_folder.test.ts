// The Hugging Face folder export (src/export/hf_folder.ts): GPT-2's onnx/model{suffix}.onnx is the
// single-file export byte for byte and runs in onnxruntime as it does; the JSON files beside it; the CLI's
// `-o <dir>/`; and writing that never leaves a folder that looks complete after a failure.

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { readGpt2Checkpoint } from "../../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint, type QuantizeSettings } from "../../src/export/export.js";
import { buildFolderExport, writeFolder } from "../../src/export/hf_folder.js";
import { readModelFile } from "../../src/format/node_io.js";
import { loadReferenceModel, referenceGreedy } from "../../src/reference/gpt2.js";
import { runCli } from "../helpers/cli.js";
import { FIXTURES, expected, fixtureDir, tempDir } from "../helpers/fixtures.js";
import { maxAbsDiff, openOrt, ortGreedy } from "../helpers/ort_gpt2.js";

const TOLERANCE = 1e-4;
const FOLDER_FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"];

const filesOf = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => relative(dir, join(d.parentPath, d.name))).sort();

describe("GPT-2 folder export", () => {
  it("tiny-f32: `lowbit export -o dir/` writes onnx/model.onnx (the single file, byte for byte) that onnxruntime runs as transformers does", async () => {
    const dir = join(tempDir(), "tiny/");
    const r = runCli(["export", fixtureDir("tiny-f32"), "-o", dir, "--bits", "32"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(filesOf(dir), [...FOLDER_FILES, join("onnx", "model.onnx")].sort());
    const single = exportGpt2(readGpt2Checkpoint(fixtureDir("tiny-f32")), { format: "dq", activationBits: 32, source: "x" }).bytes;
    assert.ok(Buffer.from(single).equals(readFileSync(join(dir, "onnx", "model.onnx"))), "onnx/model.onnx differs from the single-file export");

    const want = expected("tiny-f32");
    const got = await ortGreedy(await openOrt(join(dir, "onnx", "model.onnx")), want.prompt_ids, want.greedy_ids.length);
    const error = maxAbsDiff(got.promptLogits, want.logits);
    assert.ok(error <= TOLERANCE, `max |logits − transformers| = ${error}`);
    assert.deepEqual(got.ids, want.greedy_ids);

    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    assert.equal(config.model_type, "gpt2");
    assert.deepEqual(config["transformers.js_config"], { dtype: "fp32" });
    assert.deepEqual(config.architectures, ["GPT2LMHeadModel"]);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, "generation_config.json"), "utf8")), { bos_token_id: 276, eos_token_id: 276 });
    const tok = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
    assert.equal(tok.tokenizer_class, "GPT2Tokenizer");
    assert.equal(tok.eos_token, "<|endoftext|>");
    assert.equal(tok.model_max_length, 64);
    const tj = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
    assert.deepEqual(tj.added_tokens.map((t: { id: number; content: string }) => [t.id, t.content]), [[276, "<|endoftext|>"]]);
  });

  const QUANTIZED: Array<{ bits: 2 | 4 | 8; file: string; dtype: string; s: QuantizeSettings }> = [
    { bits: 8, file: "model_quantized.onnx", dtype: "q8", s: { weightBits: 8, embeddingBits: 8, activationBits: 8, granularity: "module", groupSize: 0, clip: "maxabs" } },
    { bits: 4, file: "model_q4.onnx", dtype: "q4", s: { weightBits: 4, embeddingBits: 4, activationBits: 8, granularity: "group", groupSize: 32, clip: "mse" } },
    { bits: 2, file: "model_q2.onnx", dtype: "q2", s: { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "mse" } },
  ];

  it("2/4/8-bit folders (dq and nbits) are named by dtype and run in onnxruntime as the reference forward does", async () => {
    const ckpt = readGpt2Checkpoint(fixtureDir("tiny-bf16"));
    const prompt = expected("tiny-bf16").prompt_ids;
    for (const { file, dtype, s } of QUANTIZED) {
      for (const format of ["dq", "nbits"] as const) {
        const dir = join(tempDir(), `${dtype}-${format}`);
        writeFolder(dir, buildFolderExport(quantizeCheckpoint(ckpt, s), { format, activationBits: 8, source: "x" }).files);
        assert.deepEqual(filesOf(dir), [...FOLDER_FILES, join("onnx", file)].sort());
        assert.deepEqual(JSON.parse(readFileSync(join(dir, "config.json"), "utf8"))["transformers.js_config"], { dtype });
        const path = join(dir, "onnx", file);
        const ref = referenceGreedy(loadReferenceModel(readModelFile(path)), prompt, 16);
        const got = await ortGreedy(await openOrt(path), prompt, 16);
        const error = maxAbsDiff(got.promptLogits, ref.promptLogits);
        assert.ok(error <= TOLERANCE, `${dtype} ${format}: max |onnxruntime − reference| = ${error}`);
        assert.deepEqual(got.ids, ref.ids, `${dtype} ${format}`);
      }
    }
  });

  it("an existing directory is a folder output too, and another precision joins the files already there", () => {
    const dir = tempDir();
    assert.equal(runCli(["export", fixtureDir("tiny-f32"), "-o", dir, "--bits", "32"]).status, 0);
    const r = runCli(["export", fixtureDir("tiny-f32"), "-o", dir, "--bits", "4"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /wrote .*onnx\/model_q4\.onnx/);
    assert.deepEqual(filesOf(dir), [...FOLDER_FILES, join("onnx", "model.onnx"), join("onnx", "model_q4.onnx")].sort());
    assert.deepEqual(JSON.parse(readFileSync(join(dir, "config.json"), "utf8"))["transformers.js_config"], { dtype: "q4" });
  });

  it("a path without a trailing / that does not exist stays the single .onnx file", () => {
    const path = join(tempDir(), "m.onnx");
    assert.equal(runCli(["export", fixtureDir("tiny-f32"), "-o", path, "--bits", "2"]).status, 0);
    assert.ok(readFileSync(path).byteLength > 0);
  });
});

describe("BART folder export from the CLI", () => {
  it("writes the encoder, the merged decoder and the JSON files; the report counts shared.weight once", () => {
    const dir = join(tempDir(), "bart");
    const reportPath = join(tempDir(), "r.json");
    const r = runCli(["export", join(FIXTURES, "bart", "bart-f16"), "-o", dir, "--bits", "4", "--granularity", "group", "--group-size", "32", "--report", reportPath]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(filesOf(dir), [...FOLDER_FILES, join("onnx", "decoder_model_merged_q4.onnx"), join("onnx", "encoder_model_q4.onnx")].sort());
    const report = JSON.parse(readFileSync(reportPath, "utf8"));
    const sizes = ["encoder_model_q4.onnx", "decoder_model_merged_q4.onnx"].map((f) => readFileSync(join(dir, "onnx", f)).byteLength);
    assert.deepEqual(report.files.map((f: { bytes: number }) => f.bytes), sizes);
    assert.equal(report.file_bytes, sizes[0] + sizes[1]);
    const shared = report.components.find((c: { component: string }) => c.component.includes("shared"));
    assert.equal(report.duplicated_param_bytes, shared.bytes, "the decoder's copy of shared.weight is reported as a repeat");
    assert.equal(report.param_bytes, report.components.reduce((a: number, c: { bytes: number }) => a + c.bytes, 0));
    assert.equal(report.graph_and_metadata_bytes, report.file_bytes - report.param_bytes - report.duplicated_param_bytes - report.tokenizer_bytes);
    assert.ok(report.graph_and_metadata_bytes > 0);
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    assert.equal(config.model_type, "bart");
    assert.equal(config.is_encoder_decoder, true);
    assert.deepEqual(config["transformers.js_config"], { dtype: "q4" });
    const generation = JSON.parse(readFileSync(join(dir, "generation_config.json"), "utf8"));
    assert.deepEqual(generation, JSON.parse(readFileSync(join(FIXTURES, "bart", "bart-f16", "generation_config.json"), "utf8")));
    const tok = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
    assert.equal(tok.tokenizer_class, "BartTokenizer");
    const tj = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
    assert.equal(tj.post_processor.type, "RobertaProcessing");
    assert.deepEqual(tj.added_tokens.filter((t: { lstrip: boolean }) => t.lstrip).map((t: { content: string }) => t.content), ["<mask>"]);
  });

  it("refuses a single .onnx output for BART, and a checkpoint directory as the output folder", () => {
    const onnx = runCli(["export", join(FIXTURES, "bart", "bart-f32"), "-o", join(tempDir(), "m.onnx"), "--bits", "8"]);
    assert.notEqual(onnx.status, 0);
    assert.match(onnx.stderr, /a BART export is a folder, not one \.onnx file/);
    const ckpt = tempDir();
    for (const f of ["config.json", "model.safetensors"]) writeFileSync(join(ckpt, f), readFileSync(join(FIXTURES, "bart", "bart-f32", f)));
    const into = runCli(["export", join(FIXTURES, "bart", "bart-f32"), "-o", ckpt, "--bits", "8"]);
    assert.notEqual(into.status, 0);
    assert.match(into.stderr, /output folder holds a checkpoint/);
    assert.deepEqual(readdirSync(ckpt).sort(), ["config.json", "model.safetensors"]);
  });
});

describe("writeFolder: no interrupted export looks complete", () => {
  // The second file cannot be written: "onnx" already is a file when "onnx/model.onnx" is due.
  const failing = [
    { path: "onnx", data: "a file where a folder must go" },
    { path: "onnx/model.onnx", data: new Uint8Array(8) },
    { path: "config.json", data: "{}" },
  ];

  it("a new folder appears whole or not at all: nothing is left after a failure, not even the staging folder", () => {
    const parent = tempDir();
    assert.throws(() => writeFolder(join(parent, "out"), failing), /cannot write (the )?output/);
    assert.deepEqual(readdirSync(parent), []);
    writeFolder(join(parent, "out"), failing.slice(1));
    assert.deepEqual(readdirSync(parent), ["out"]);
    assert.deepEqual(filesOf(join(parent, "out")), ["config.json", join("onnx", "model.onnx")]);
  });

  it("an existing folder loses its config.json first and gets it back last", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "onnx"));
    writeFileSync(join(dir, "onnx", "model_q4.onnx"), "another precision");
    writeFileSync(join(dir, "config.json"), "{}");
    assert.throws(() => writeFolder(dir, [failing[1], { path: "onnx/model.onnx/x", data: "" }, failing[2]]), /cannot write output/);
    assert.ok(!existsSync(join(dir, "config.json")), "a half-written folder must not keep a config.json");
    assert.ok(existsSync(join(dir, "onnx", "model_q4.onnx")));
    assert.deepEqual(readdirSync(join(dir, "onnx")).filter((f) => f.includes(".tmp-")), []);
  });
});
