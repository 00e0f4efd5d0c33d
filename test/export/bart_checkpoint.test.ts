// Reading Hugging Face BART checkpoints (src/export/checkpoint.ts) and BART's quantized checkpoint
// (quantized_checkpoint.ts): the three fixtures (F32 with `model.`, F16 sharded without it and with tied
// embed_tokens copies, BF16), transposition of nn.Linear weights, damaged copies refused with one line, and
// quantize → write → read giving back the same codes and scales.

import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readBartCheckpoint, readCheckpoint, readGpt2Checkpoint, type BartCheckpoint } from "../../src/export/checkpoint.js";
import { quantizeCheckpoint, type QuantizeSettings } from "../../src/export/export.js";
import { writeQuantizedCheckpoint } from "../../src/export/quantized_checkpoint.js";
import { readSafetensors, writeSafetensors } from "../../src/export/safetensors.js";
import { bartExpectedShapes, bartQuantizedWeightAxes } from "../../src/format/bart_config.js";
import { toFloat32 } from "../../src/format/safetensors.js";
import { BART_FIXTURES, bartFixtureDir, type BartFixture } from "../helpers/bart_fixtures.js";
import { assertRefused, copyCheckpoint, editJsonFile, editSafetensorsHeader } from "../helpers/checkpoint_edits.js";
import { runCli } from "../helpers/cli.js";
import { fixtureDir, tempDir } from "../helpers/fixtures.js";


const copy = (name: BartFixture): string => copyCheckpoint(bartFixtureDir(name), name);
const refused = (dir: string, pattern: RegExp): void => assertRefused(dir, pattern, { oneLine: true });

/** Every tensor of a checkpoint's weight files by the name the file gives it, as fp32. */
function storedFloats(dir: string): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  const files = dir.endsWith("bart-f16") ? ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] : ["model.safetensors"];
  for (const f of files) {
    for (const [name, t] of readSafetensors(join(dir, f)).tensors) out.set(name, { shape: t.shape, data: t.dtype === "I8" ? new Float32Array(0) : toFloat32(t, f) });
  }
  return out;
}

describe("reading HF BART checkpoints", () => {
  for (const name of BART_FIXTURES) {
    it(`${name}: canonical names, the contract's shapes, nn.Linear weights transposed`, () => {
      const ckpt = readCheckpoint(bartFixtureDir(name));
      assert.equal(ckpt.config.model_type, "bart");
      const bart = ckpt as BartCheckpoint;
      const shapes = bartExpectedShapes(bart.config);
      assert.deepEqual([...bart.tensors.keys()].sort(), [...shapes.keys()].sort());
      for (const [n, t] of bart.tensors) {
        assert.equal(t.kind, "float");
        assert.deepEqual(t.shape, shapes.get(n), n);
      }
      assert.equal(bart.generation?.num_beams, 4);
      assert.equal(bart.config.forced_bos_token_id, 0); // from generation_config.json: transformers 5 drops it from config.json
      assert.equal(bart.tokenizer.vocabSize, 281);

      // HF holds fc1 as (F, d): lowbit's (d, F) element [i][j] is HF's [j][i]; a square q_proj too.
      const prefix = name === "bart-f16" ? "" : "model.";
      const raw = storedFloats(bartFixtureDir(name));
      const d = bart.config.d_model;
      const F = bart.config.encoder_ffn_dim;
      const check = (tensor: string, K: number, N: number) => {
        const hf = raw.get(prefix + tensor)!;
        assert.deepEqual(hf.shape, [N, K]);
        const ours = bart.tensors.get(tensor)!;
        assert.ok(ours.kind === "float");
        for (const [i, j] of [[0, 1], [1, 0], [K - 1, N - 2], [3, N - 1]]) assert.equal(ours.data[i * N + j], hf.data[j * K + i], `${tensor}[${i}][${j}]`);
      };
      check("encoder.layers.0.fc1.weight", d, F);
      check("encoder.layers.0.fc2.weight", F, d);
      check(`decoder.layers.${bart.config.decoder_layers - 1}.encoder_attn.q_proj.weight`, d, d);
      // Embeddings, positions and final_logits_bias keep their layout.
      const shared = bart.tensors.get("shared.weight")!;
      assert.ok(shared.kind === "float");
      assert.deepEqual(shared.data, raw.get(`${prefix}shared.weight`)!.data);
      assert.deepEqual((bart.tensors.get("final_logits_bias") as { data: Float32Array }).data, raw.get("final_logits_bias")!.data);
    });
  }

  it("bart-f16's tied embed_tokens copies are checked and dropped; its vocab_size may exceed the tokenizer", () => {
    const names = [...storedFloats(bartFixtureDir("bart-f16")).keys()];
    assert.ok(names.includes("encoder.embed_tokens.weight") && names.includes("decoder.embed_tokens.weight"));
    const ckpt = readBartCheckpoint(bartFixtureDir("bart-f16"));
    assert.ok(!ckpt.tensors.has("encoder.embed_tokens.weight") && !ckpt.tensors.has("decoder.embed_tokens.weight"));
    assert.equal(ckpt.config.vocab_size, 288);
  });

  it("reads the family from model_type; each family's reader refuses the other", () => {
    assert.equal(readCheckpoint(fixtureDir("tiny-f32")).config.model_type, "gpt2");
    assert.throws(() => readGpt2Checkpoint(bartFixtureDir("bart-f32")), /config\.json: a BART checkpoint where a GPT-2 one is needed; expected model_type gpt2, found bart/);
    assert.throws(() => readBartCheckpoint(fixtureDir("tiny-f32")), /a GPT-2 checkpoint where a BART one is needed/);
  });
});

describe("damaged BART checkpoints", () => {
  const model = (dir: string) => join(dir, "model.safetensors");

  it("refuses an untied embed_tokens copy", () => {
    const dir = copy("bart-f16");
    const shard = join(dir, "model-00001-of-00002.safetensors");
    const buf = readFileSync(shard);
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
    const [begin] = header["decoder.embed_tokens.weight"].data_offsets;
    buf.writeUInt16LE(0x3c00, 8 + n + begin + 2 * 5); // element 5 = 1.0
    writeFileSync(shard, buf);
    refused(dir, /model-00001-of-00002\.safetensors: tensor decoder\.embed_tokens\.weight: decoder\.embed_tokens\.weight differs from the tied embedding; expected a copy of shared\.weight/);
  });

  it("refuses tie_word_embeddings false, heads that do not divide d_model, a hostile layer count, another model_type", () => {
    let dir = copy("bart-f32");
    editJsonFile(join(dir, "config.json"), (c) => (c.tie_word_embeddings = false));
    refused(dir, /config\.json: bad value for tie_word_embeddings; expected true \(lowbit ties the LM head to shared\.weight; untied BART is not supported\), found false/);
    dir = copy("bart-f32");
    editJsonFile(join(dir, "config.json"), (c) => (c.decoder_attention_heads = 5));
    refused(dir, /config\.json: d_model is not a multiple of decoder_attention_heads; expected d_model % decoder_attention_heads == 0, found 64 % 5 = 4/);
    dir = copy("bart-f32");
    editJsonFile(join(dir, "config.json"), (c) => (c.encoder_layers = 1e12));
    refused(dir, /config\.json: bad value for encoder_layers; expected an integer in 1\.\.256, found 1000000000000/);
    dir = copy("bart-f32");
    editJsonFile(join(dir, "config.json"), (c) => (c.model_type = "mbart"));
    refused(dir, /config\.json: unsupported model_type; expected gpt2 or bart .*, found "mbart"/);
    dir = copy("bart-f32");
    editJsonFile(join(dir, "config.json"), (c) => (c.normalize_before = true));
    refused(dir, /bad value for normalize_before; expected false \(lowbit runs plain BART only\), found true/);
  });

  it("refuses a wrong shape, a stray tensor and a missing tensor", () => {
    let dir = copy("bart-f32");
    editSafetensorsHeader(model(dir), (h) => (h["model.encoder.layers.1.fc1.weight"].shape = [64, 128]));
    refused(dir, /model\.safetensors: tensor model\.encoder\.layers\.1\.fc1\.weight: shape mismatch with config\.json; expected \[128, 64\] \(out, in\), found \[64, 128\]/);
    dir = copy("bart-f32");
    editSafetensorsHeader(model(dir), (h) => {
      h["model.decoder.layers.2.fc1.bias"] = h["model.decoder.layers.1.fc1.bias"];
      delete h["model.decoder.layers.1.fc1.bias"];
    });
    refused(dir, /tensor model\.decoder\.layers\.2\.fc1\.bias: checkpoint holds a tensor that config\.json does not describe; expected only the tensors of the config .*\(config\.json and the weights disagree \(encoder_layers\? decoder_layers\?\)\)/);
    // A tensor left out: rewrite the file without it (the data block must still tile).
    dir = copy("bart-f32");
    const tensors = [...readSafetensors(model(dir)).tensors.values()].filter((t) => t.name !== "final_logits_bias")
      .map((t) => ({ name: t.name, dtype: "F32" as const, shape: t.shape, data: toFloat32(t, "x").slice() }));
    writeSafetensors(model(dir), tensors);
    refused(dir, /bart-f32: tensor final_logits_bias: missing tensor; expected shape \[1, 281\], found nothing/);
  });

  it("refuses the same tensor under both spellings", () => {
    const dir = copy("bart-f32");
    const tensors = [...readSafetensors(model(dir)).tensors.values()].map((t) => ({ name: t.name, dtype: "F32" as const, shape: t.shape, data: toFloat32(t, "x").slice() }));
    const ln = tensors.find((t) => t.name === "model.encoder.layernorm_embedding.bias")!;
    writeSafetensors(model(dir), [...tensors, { ...ln, name: "encoder.layernorm_embedding.bias" }]);
    refused(dir, /tensor stored twice; expected one copy, found another as/);
  });

  it("refuses a bad generation_config.json, with the file and key named", () => {
    let dir = copy("bart-f32");
    editJsonFile(join(dir, "generation_config.json"), (g) => (g.num_beams = 0));
    refused(dir, /generation_config\.json: bad value for num_beams; expected an integer in 1\.\.256, found 0/);
    dir = copy("bart-f32");
    editJsonFile(join(dir, "generation_config.json"), (g) => (g.eos_token_id = [2, 5]));
    refused(dir, /generation_config\.json: eos_token_id lists several tokens; expected one token id/);
    dir = copy("bart-f32");
    editJsonFile(join(dir, "generation_config.json"), (g) => (g.forced_bos_token_id = 281));
    refused(dir, /generation_config\.json: forced_bos_token_id is outside the vocabulary; expected an id below vocab_size 281, found 281/);
    dir = copy("bart-f32");
    writeFileSync(join(dir, "generation_config.json"), "[1]");
    refused(dir, /generation_config\.json: generation_config\.json is not a JSON object/);
  });

  it("without generation_config.json, takes config.json's generation keys, as transformers does", () => {
    const dir = copy("bart-f32");
    rmSync(join(dir, "generation_config.json"));
    editJsonFile(join(dir, "config.json"), (c) => Object.assign(c, { num_beams: 3, forced_bos_token_id: 0 }));
    const ckpt = readBartCheckpoint(dir);
    assert.equal(ckpt.generation?.num_beams, 3);
    assert.equal(ckpt.config.forced_bos_token_id, 0);
  });

  it("requires BART's own tokenizer, no larger than vocab_size", () => {
    let dir = copy("bart-f32");
    rmSync(join(dir, "vocab.json"));
    rmSync(join(dir, "merges.txt"));
    refused(dir, /bart-f32: the tokenizer is missing; expected vocab\.json and merges\.txt/);
    dir = copy("bart-f32");
    editJsonFile(join(dir, "vocab.json"), (v) => (v["<|extra|>"] = 300));
    refused(dir, /tokenizer is larger than the model's vocabulary; expected ids below vocab_size = 281, found ids up to 300/);
    dir = copy("bart-f32");
    editJsonFile(join(dir, "config.json"), (c) => (c.pad_token_id = 3));
    refused(dir, /vocab\.json: <pad> in the vocabulary is not the config's pad_token_id; expected id 3, found id 1/);
  });
});

// ─── quantized BART checkpoints ─────────────────────────────────────────────────────────────────

const SETTINGS: QuantizeSettings[] = [
  { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "maxabs" },
  { weightBits: 4, embeddingBits: 8, activationBits: 8, granularity: "group", groupSize: 32, clip: "mse" },
  { weightBits: 8, embeddingBits: 32, activationBits: 32, granularity: "group", groupSize: 32, clip: "maxabs" },
  { weightBits: 8, embeddingBits: 4, activationBits: 8, granularity: "module", groupSize: 0, clip: "mse" },
];

function assertSameCheckpoint(got: BartCheckpoint, want: BartCheckpoint): void {
  assert.deepEqual(got.config, want.config);
  assert.deepEqual(got.generation, want.generation);
  assert.deepEqual(got.quantization, want.quantization);
  assert.equal(got.tokenizer.vocab, want.tokenizer.vocab);
  assert.equal(got.tokenizer.merges, want.tokenizer.merges);
  assert.deepEqual([...got.tensors.keys()].sort(), [...want.tensors.keys()].sort());
  for (const [name, w] of want.tensors) {
    const g = got.tensors.get(name)!;
    assert.equal(g.kind, w.kind, name);
    assert.deepEqual(g.shape, w.shape, name);
    if (w.kind === "float" && g.kind === "float") assert.deepEqual(g.data, w.data, name);
    if (w.kind === "quant" && g.kind === "quant") {
      assert.deepEqual([g.bits, g.inputAxis, g.groupSize, g.scaleShape], [w.bits, w.inputAxis, w.groupSize, w.scaleShape], name);
      assert.deepEqual(g.codes, w.codes, name);
      assert.deepEqual(g.scale, w.scale, name);
    }
  }
}

describe("quantized BART checkpoints", () => {
  for (const name of ["bart-f32", "bart-f16"] as const) {
    for (const s of SETTINGS) {
      const label = `W${s.weightBits} E${s.embeddingBits} ${s.granularity}${s.granularity === "group" ? s.groupSize : ""} ${s.clip}`;
      it(`${name} ${label}: quantize → write → read gives the same codes and scales`, () => {
        const q = quantizeCheckpoint(readBartCheckpoint(bartFixtureDir(name)), s);
        const axes = bartQuantizedWeightAxes(q.config);
        for (const [n, t] of q.tensors) {
          const bits = n === "shared.weight" ? s.embeddingBits : axes.has(n) ? s.weightBits : 32;
          assert.equal(t.kind === "quant" ? t.bits : 32, bits, n);
        }
        const dir = join(tempDir(), "q");
        writeQuantizedCheckpoint(dir, q);
        assertSameCheckpoint(readBartCheckpoint(dir), q);

        // On disk in HF's layout: `model.` names, (out, in) codes, group scales (out, ⌈in / G⌉).
        const file = readSafetensors(join(dir, "model.safetensors")).tensors;
        const fc1 = q.tensors.get("decoder.layers.0.fc1.weight")!;
        assert.ok(fc1.kind === "quant");
        const [K, N] = fc1.shape;
        const codes = file.get("model.decoder.layers.0.fc1.weight.qweight")!;
        assert.deepEqual(codes.shape, [N, K]);
        const disk = new Int8Array(codes.bytes.buffer, codes.bytes.byteOffset, codes.bytes.byteLength);
        for (const [i, j] of [[0, 1], [K - 1, 0], [5, N - 1]]) assert.equal(disk[j * K + i], fc1.codes[i * N + j]);
        assert.deepEqual(file.get("model.decoder.layers.0.fc1.weight.scale")!.shape, s.granularity === "group" ? [N, Math.ceil(K / s.groupSize)] : []);
        assert.ok(file.has("final_logits_bias") && file.has("model.encoder.layers.0.fc1.bias"));
        const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
        assert.deepEqual(config.architectures, ["BartForConditionalGeneration"]);
        assert.equal(config.quantization_config.weight_bits, s.weightBits);
        assert.deepEqual(JSON.parse(readFileSync(join(dir, "generation_config.json"), "utf8")), q.generation);
      });
    }
  }

  it("`lowbit quantize <bart checkpoint> -o <dir>` writes what quantizeCheckpoint makes", () => {
    const dir = join(tempDir(), "q");
    const r = runCli(["quantize", bartFixtureDir("bart-bf16"), "-o", dir, "--bits", "4", "--embedding-bits", "8", "--granularity", "group", "--group-size", "32"]);
    assert.equal(r.status, 0, r.stderr);
    const s: QuantizeSettings = { weightBits: 4, embeddingBits: 8, activationBits: 8, granularity: "group", groupSize: 32, clip: "maxabs" };
    assertSameCheckpoint(readBartCheckpoint(dir), quantizeCheckpoint(readBartCheckpoint(bartFixtureDir("bart-bf16")), s));
  });

  it("refuses damaged codes and scales in their on-disk layout", () => {
    const dir = join(tempDir(), "q");
    writeQuantizedCheckpoint(dir, quantizeCheckpoint(readBartCheckpoint(bartFixtureDir("bart-f32")), SETTINGS[1]));
    editSafetensorsHeader(join(dir, "model.safetensors"), (h) => {
      const e = h["model.encoder.layers.0.fc2.weight.scale"];
      e.shape = [e.shape[1], e.shape[0]]; // (⌈K / G⌉, N): lowbit's layout, not HF's
    });
    refused(dir, /tensor model\.encoder\.layers\.0\.fc2\.weight\.scale: shape mismatch with config\.json; expected \[64, 4\] \(out, in\), found \[4, 64\]/);
  });
});
