// Folder exports the fuzz harness (scripts/fuzz.ts, hf-folder and the folder seeds) found running although
// they contradict themselves, each now refused by the folder loader (src/runtime/sources.ts) with one
// LowbitError, and by `lowbit inspect`, which checks a folder as loading it does. Replay any of them with
// `npx tsx scripts/fuzz.ts --replay <id>` (seed 1 of the 10000-case run, before the fix):
//   1-2566  a GPT-2 folder's model_q4.onnx replaced by an 8-bit export of the same checkpoint: ran its weights
//   1-2216  a BART folder's config.json max_position_embeddings = null: ran (config.json was not read)
//   1-729   generation_config.json decoder_start_token_id = vocab_size: inspect ran (ids were not checked)
//   1-78    an encoder swapped for another export's: inspect described both files instead of refusing

import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { readCheckpoint } from "../../src/export/checkpoint.js";
import { quantizeCheckpoint } from "../../src/export/export.js";
import { loadModel, type FolderFiles } from "../../src/runtime/index.js";
import { bartFixtureDir, folderFiles } from "../helpers/bart_fixtures.js";
import { runCli } from "../helpers/cli.js";
import { fixtureDir, tempDir } from "../helpers/fixtures.js";

const utf8 = new TextEncoder();
const json = (files: FolderFiles, path: string) => JSON.parse(new TextDecoder().decode(files.files[path])) as Record<string, unknown>;
const withJson = (files: FolderFiles, path: string, edit: (o: Record<string, unknown>) => void): FolderFiles => {
  const o = json(files, path);
  edit(o);
  return { files: { ...files.files, [path]: utf8.encode(JSON.stringify(o)) } };
};
const module4 = { weightBits: 4, embeddingBits: 4, activationBits: 8, granularity: "module", groupSize: 0, clip: "maxabs" } as const;

describe("folder exports the fuzzer found running although invalid", () => {
  const gpt2 = readCheckpoint(fixtureDir("tiny-f32"));
  const gpt2Q4 = folderFiles(quantizeCheckpoint(gpt2, module4), 8);
  const bart = folderFiles(readCheckpoint(bartFixtureDir("bart-f32")));

  it("the unedited folders load (the checks below refuse the edit, not the export)", async () => {
    assert.equal((await loadModel(gpt2Q4)).modelType, "gpt2");
    assert.equal((await loadModel(bart)).modelType, "bart");
  });

  it("a model file of another precision under the dtype's name is refused (1-2566)", async () => {
    const w8 = folderFiles(quantizeCheckpoint(gpt2, { ...module4, weightBits: 8, embeddingBits: 8 }), 32);
    const swapped = { files: { ...gpt2Q4.files, "onnx/model_q4.onnx": w8.files["onnx/model_quantized.onnx"] } };
    await assert.rejects(loadModel(swapped), /model folder\/onnx\/model_q4\.onnx: model file's weight precision differs from the folder's dtype; expected q4 weights, found 8-bit weights \(q8\)/);
  });

  it("config.json that contradicts the files' lowbit.config is refused, naming the key (1-2216)", async () => {
    await assert.rejects(loadModel(withJson(bart, "config.json", (c) => { c.max_position_embeddings = null; })), /config\.json: bad value for max_position_embeddings/);
    await assert.rejects(loadModel(withJson(bart, "config.json", (c) => { c.d_model = 32; })), /config\.json: config\.json disagrees with the model file \(files from another export\?\); expected d_model 64, as .*encoder_model\.onnx says, found 32/);
    // Left out: transformers' default is what config.json says, here none (null) where the files force <s>.
    await assert.rejects(loadModel(withJson(bart, "config.json", (c) => { delete c.forced_bos_token_id; })), /expected forced_bos_token_id 0, .* found null/);
    await assert.rejects(loadModel(withJson(gpt2Q4, "config.json", (c) => { c.n_head = 2; })), /expected n_head 4, .* found 2/);
  });

  it("config.json keys that are left out at their Hugging Face default still load", async () => {
    // GPT-2's eos_token_id defaults to vocab_size − 1 (the file's 276); BART's activation_function to gelu.
    assert.equal((await loadModel(withJson(gpt2Q4, "config.json", (c) => { delete c.eos_token_id; delete c.bos_token_id; }))).modelType, "gpt2");
    assert.equal((await loadModel(withJson(bart, "config.json", (c) => { delete c.activation_function; delete c.use_cache; }))).modelType, "bart");
  });

  it("generation_config.json's token ids must lie in the vocabulary, as everywhere else (1-729)", async () => {
    const bad = withJson(bart, "generation_config.json", (g) => { g.decoder_start_token_id = 281; });
    await assert.rejects(loadModel(bad), /model folder\/generation_config\.json: decoder_start_token_id is outside the vocabulary; expected an id below vocab_size 281, found 281/);
  });

  it("lowbit inspect refuses a folder whose encoder comes from another export (1-78), with one error line", () => {
    const dir = join(tempDir(), "folder");
    const other = folderFiles(readCheckpoint(bartFixtureDir("bart-bf16")));
    for (const [path, data] of Object.entries({ ...bart.files, "onnx/encoder_model.onnx": other.files["onnx/encoder_model.onnx"] })) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), data);
    }
    const r = runCli(["inspect", dir]);
    assert.equal(r.status, 1, r.stdout);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^lowbit: error: .*decoder_model_merged\.onnx: the encoder and decoder files differ in lowbit\.config \(files from two exports\?\)/);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1);
  });
});
