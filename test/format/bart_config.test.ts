// BART's config (src/format/bart_config.ts), the generation settings (generation_config.ts) and the weight
// manifest check for BART's two ONNX files (lowbit_onnx.ts), on values built by hand: each refusal is one
// LowbitError line naming the file and the key.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { LowbitError } from "../../src/errors.js";
import {
  BART_LIMITS, bartExpectedShapes, bartQuantizedWeightAxes, isBartEmbeddingWeight, modelExpectedShapes, parseHfBartConfig, parseStoredBartConfig,
  type BartConfig, type BartPart,
} from "../../src/format/bart_config.js";
import { checkGenerationTokens, parseGenerationConfig } from "../../src/format/generation_config.js";
import { CHECKSUM_PLACEHOLDER, checkManifest, LOWBIT_ONNX_FORMAT, META, parseModelFile, type StoredInitializer, type WeightEntry } from "../../src/format/lowbit_onnx.js";
import { DataType, encodeModel } from "../../src/format/onnx_proto.js";
import type { FileQuantization } from "../../src/format/quantization.js";
import { packedBytes, QUANT_FORMATS } from "../../src/format/quant_formats.js";
import { FIXTURES } from "../helpers/fixtures.js";

const BART = join(FIXTURES, "bart");
const hfConfig = (name: string) => JSON.parse(readFileSync(join(BART, name, "config.json"), "utf8")) as Record<string, unknown>;

/** A small config.json with only the keys BART has no default for. */
const MINIMAL = {
  model_type: "bart", vocab_size: 100, d_model: 16, encoder_layers: 2, decoder_layers: 1, encoder_attention_heads: 4,
  decoder_attention_heads: 2, encoder_ffn_dim: 32, decoder_ffn_dim: 24, max_position_embeddings: 20,
};

function refuses(f: () => unknown, pattern: RegExp): void {
  assert.throws(f, (e: Error) => {
    assert.ok(e instanceof LowbitError, `expected a LowbitError, got ${e.name}: ${e.message}`);
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, pattern);
    return true;
  });
}

describe("BART config.json", () => {
  it("reads the fixtures' configs with HF's values", () => {
    const c = parseHfBartConfig(hfConfig("bart-f16"), "config.json");
    assert.deepEqual(c, {
      model_type: "bart", vocab_size: 288, d_model: 48, encoder_layers: 3, decoder_layers: 1, encoder_attention_heads: 3,
      decoder_attention_heads: 3, encoder_ffn_dim: 96, decoder_ffn_dim: 96, max_position_embeddings: 48, activation_function: "gelu",
      scale_embedding: true, layer_norm_epsilon: 1e-5, pad_token_id: 1, bos_token_id: 0, eos_token_id: 2, decoder_start_token_id: 2,
      forced_bos_token_id: null, forced_eos_token_id: 2, tie_word_embeddings: true,
    });
    assert.equal(parseHfBartConfig(hfConfig("bart-bf16"), "config.json").activation_function, "gelu_new");
  });

  it("fills in BART's defaults, and takes token ids config.json lacks from generation_config.json", () => {
    const c = parseHfBartConfig(MINIMAL, "config.json");
    assert.equal(c.activation_function, "gelu");
    assert.equal(c.scale_embedding, false);
    assert.deepEqual(
      [c.pad_token_id, c.bos_token_id, c.eos_token_id, c.decoder_start_token_id, c.forced_bos_token_id, c.forced_eos_token_id],
      [1, 0, 2, 2, null, 2],
    );
    const g = parseHfBartConfig(MINIMAL, "config.json", { forced_bos_token_id: 0, forced_eos_token_id: null, decoder_start_token_id: 0 });
    assert.deepEqual([g.forced_bos_token_id, g.forced_eos_token_id, g.decoder_start_token_id], [0, null, 0]);
    // config.json's own value wins, null included.
    assert.equal(parseHfBartConfig({ ...MINIMAL, forced_bos_token_id: null }, "config.json", { forced_bos_token_id: 0 }).forced_bos_token_id, null);
    assert.equal(parseHfBartConfig({ ...MINIMAL, lowbit_untrained: true }, "config.json").untrained, true);
  });

  it("refuses what the forward does not implement, one line each", () => {
    const bad = (edit: Record<string, unknown>, pattern: RegExp) => refuses(() => parseHfBartConfig({ ...MINIMAL, ...edit }, "x/config.json"), pattern);
    bad({ tie_word_embeddings: false }, /x\/config\.json: bad value for tie_word_embeddings; expected true \(lowbit ties the LM head to shared\.weight; untied BART is not supported\), found false/);
    bad({ model_type: "mbart" }, /bad value for model_type; expected bart .*, found "mbart"/);
    bad({ normalize_before: true }, /bad value for normalize_before; expected false \(lowbit runs plain BART only\), found true/);
    bad({ add_final_layer_norm: true }, /bad value for add_final_layer_norm; expected false/);
    bad({ add_bias_logits: true }, /bad value for add_bias_logits; expected false/);
    bad({ activation_function: "relu" }, /bad value for activation_function; expected gelu\|gelu_new, found "relu"/);
    bad({ scale_embedding: "yes" }, /bad value for scale_embedding; expected true or false/);
    // Old configs carry these keys at plain BART's values: accepted.
    assert.ok(parseHfBartConfig({ ...MINIMAL, normalize_before: false, add_final_layer_norm: false, add_bias_logits: false, normalize_embedding: true, static_position_embeddings: false, extra_pos_embeddings: 2 }, "c"));
  });

  it("holds sizes to hard limits before anything loops or allocates", () => {
    const t0 = performance.now();
    refuses(() => parseHfBartConfig({ ...MINIMAL, encoder_layers: 1e9 }, "config.json"), /bad value for encoder_layers; expected an integer in 1\.\.256, found 1000000000/);
    refuses(() => parseHfBartConfig({ ...MINIMAL, vocab_size: BART_LIMITS.vocab_size + 1 }, "config.json"), /bad value for vocab_size/);
    refuses(() => parseHfBartConfig({ ...MINIMAL, d_model: 2.5 }, "config.json"), /bad value for d_model; expected an integer/);
    refuses(() => parseHfBartConfig({ ...MINIMAL, decoder_ffn_dim: undefined }, "config.json"), /missing key decoder_ffn_dim; expected an integer in 1\.\.65536/);
    assert.ok(performance.now() - t0 < 1000);
  });

  it("checks keys against each other: head sizes, token ids inside the vocabulary", () => {
    refuses(() => parseHfBartConfig({ ...MINIMAL, encoder_attention_heads: 3 }, "config.json"),
      /config\.json: d_model is not a multiple of encoder_attention_heads; expected d_model % encoder_attention_heads == 0, found 16 % 3 = 1/);
    refuses(() => parseHfBartConfig({ ...MINIMAL, decoder_attention_heads: 5 }, "config.json"), /d_model is not a multiple of decoder_attention_heads/);
    refuses(() => parseHfBartConfig({ ...MINIMAL, decoder_start_token_id: 100 }, "config.json"), /decoder_start_token_id is outside the vocabulary; expected an id below vocab_size 100, found 100/);
    refuses(() => parseHfBartConfig(MINIMAL, "config.json", { forced_bos_token_id: 150 }), /forced_bos_token_id is outside the vocabulary/);
  });

  it("stores exactly its keys in lowbit.config", () => {
    const c = parseHfBartConfig(hfConfig("bart-f32"), "config.json");
    assert.deepEqual(parseStoredBartConfig(JSON.parse(JSON.stringify(c)), "m.onnx"), c);
    refuses(() => parseStoredBartConfig({ ...c, dropout: 0.1 }, "m.onnx"), /m\.onnx: bad value for lowbit\.config\.dropout; expected an object with only the keys lowbit writes/);
    const { forced_bos_token_id: _, ...lacking } = c;
    refuses(() => parseStoredBartConfig(lacking, "m.onnx"), /missing key lowbit\.config\.forced_bos_token_id/);
    refuses(() => parseStoredBartConfig({ ...c, tie_word_embeddings: false }, "m.onnx"), /bad value for lowbit\.config\.tie_word_embeddings; expected true/);
    refuses(() => parseStoredBartConfig({ ...c, untrained: false }, "m.onnx"), /lowbit\.config\.untrained; expected true or absent/);
  });
});

describe("BART tensors the config implies", () => {
  const c = parseHfBartConfig(MINIMAL, "config.json"); // d 16, L_e 2, L_d 1, F_e 32, F_d 24, V 100, P 20

  it("lists every tensor with lowbit's input-major shapes, by part", () => {
    const all = bartExpectedShapes(c);
    const enc = bartExpectedShapes(c, "encoder");
    const dec = bartExpectedShapes(c, "decoder");
    // shared + bias + 2 × (positions + 2 LN) + encoder layers 16 each + decoder layers 26 each
    assert.equal(all.size, 2 + 2 * 3 + 2 * 16 + 26);
    assert.equal(enc.size, 1 + 3 + 2 * 16);
    assert.equal(dec.size, 2 + 3 + 26);
    assert.deepEqual(new Set([...all.keys()]), new Set([...enc.keys(), ...dec.keys()]));
    assert.ok(!enc.has("final_logits_bias") && dec.has("final_logits_bias"));
    assert.ok([...enc.keys()].every((n) => n === "shared.weight" || n.startsWith("encoder.")));
    assert.ok([...dec.keys()].every((n) => n === "shared.weight" || n === "final_logits_bias" || n.startsWith("decoder.")));
    assert.deepEqual(all.get("shared.weight"), [100, 16]);
    assert.deepEqual(all.get("final_logits_bias"), [1, 100]);
    assert.deepEqual(all.get("encoder.embed_positions.weight"), [22, 16]);
    assert.deepEqual(all.get("encoder.layers.1.fc1.weight"), [16, 32]);
    assert.deepEqual(all.get("encoder.layers.1.fc2.weight"), [32, 16]);
    assert.deepEqual(all.get("decoder.layers.0.fc1.weight"), [16, 24]);
    assert.deepEqual(all.get("decoder.layers.0.encoder_attn.k_proj.weight"), [16, 16]);
    assert.deepEqual(all.get("decoder.layers.0.encoder_attn_layer_norm.bias"), [16]);
    assert.ok(!enc.has("encoder.layers.0.encoder_attn.q_proj.weight"));
    assert.deepEqual(modelExpectedShapes(c, "decoder"), dec);
  });

  it("quantizes the shared embedding along its input axis 1 and every linear weight along 0", () => {
    const axes = bartQuantizedWeightAxes(c);
    assert.equal(axes.size, 1 + 2 * 6 + 10);
    assert.equal(axes.get("shared.weight"), 1);
    assert.equal(axes.get("decoder.layers.0.encoder_attn.out_proj.weight"), 0);
    assert.equal(axes.get("encoder.layers.0.fc2.weight"), 0);
    assert.ok(!axes.has("final_logits_bias") && !axes.has("encoder.embed_positions.weight") && !axes.has("encoder.layers.0.fc1.bias"));
    assert.equal(bartQuantizedWeightAxes(c, "encoder").size, 1 + 2 * 6);
    assert.ok(isBartEmbeddingWeight("shared.weight") && !isBartEmbeddingWeight("encoder.layers.0.fc1.weight"));
  });
});

describe("generation_config.json", () => {
  it("keeps the settings lowbit implements, with HF's names", () => {
    const raw = JSON.parse(readFileSync(join(BART, "bart-f32", "generation_config.json"), "utf8"));
    const g = parseGenerationConfig({ ...raw, transformers_version: "5.17.0", _from_model_config: false }, "generation_config.json");
    assert.deepEqual(g, {
      num_beams: 4, length_penalty: 2, early_stopping: true, no_repeat_ngram_size: 3, min_length: 0, max_length: 20,
      decoder_start_token_id: 2, bos_token_id: 0, eos_token_id: 2, pad_token_id: 1, forced_bos_token_id: 0, forced_eos_token_id: 2,
    });
    assert.deepEqual(parseGenerationConfig({ early_stopping: "never", eos_token_id: [2], max_new_tokens: null, forced_bos_token_id: null, num_beam_groups: 1 }, "g"),
      { early_stopping: "never", eos_token_id: 2, forced_bos_token_id: null });
  });

  it("refuses bad values and settings lowbit does not implement, one line each", () => {
    const bad = (raw: unknown, pattern: RegExp, field?: string) => refuses(() => parseGenerationConfig(raw, "d/generation_config.json", field), pattern);
    bad({ num_beams: 0 }, /d\/generation_config\.json: bad value for num_beams; expected an integer in 1\.\.256, found 0/);
    bad({ early_stopping: "sometimes" }, /bad value for early_stopping; expected true, false or "never"/);
    bad({ top_p: 1.5 }, /bad value for top_p; expected a number in \[0, 1\]/);
    bad({ repetition_penalty: 0 }, /bad value for repetition_penalty; expected a number in \(0, 1000\]/);
    bad({ max_new_tokens: 0 }, /bad value for max_new_tokens/);
    bad({ eos_token_id: [2, 3] }, /eos_token_id lists several tokens; expected one token id \(lowbit stops on one end token\), found \[2,3\]/);
    bad({ eos_token_id: [] }, /eos_token_id lists no tokens/);
    bad({ num_beam_groups: 2, diversity_penalty: 0.5 }, /num_beam_groups is not supported; expected 1 \(or absent\), found 2/);
    bad({ bad_words_ids: [[5]] }, /bad_words_ids is not supported; expected absent or null/);
    bad([], /bad value; expected a JSON object, found \[\]/);
    bad({ num_beams: "4" }, /m\.onnx|bad value for lowbit\.generation\.num_beams/, META.generation);
    refuses(() => checkGenerationTokens({ forced_eos_token_id: 300 }, 281, "g.json"), /g\.json: forced_eos_token_id is outside the vocabulary; expected an id below vocab_size 281, found 300/);
  });
});

// ─── the weight manifest of BART's two files ────────────────────────────────────────────────────

const FP32: FileQuantization = { weight_bits: 32, embedding_bits: 32, activation_bits: 32, granularity: "module", group_size: 0, method: "none", weight_format: "dq" };
const Q4: FileQuantization = { ...FP32, weight_bits: 4, activation_bits: 8, method: "rtn" };

/** A manifest and initializers for one part: fp32 everywhere, or 4-bit module-scaled linear weights. */
function manifestFor(c: BartConfig, part: BartPart, q: FileQuantization): { weights: WeightEntry[]; initializers: Map<string, StoredInitializer> } {
  const weights: WeightEntry[] = [];
  const initializers = new Map<string, StoredInitializer>();
  const add = (name: string, dataType: number, dims: number[], bytes: number) => initializers.set(name, { name, dataType, dims, raw: new Uint8Array(bytes) });
  const axes = bartQuantizedWeightAxes(c, part);
  for (const [name, shape] of bartExpectedShapes(c, part)) {
    const numel = shape.reduce((a, b) => a * b, 1);
    if (q.weight_bits === 4 && axes.get(name) === 0) {
      weights.push({ name, shape, layout: "dq", initializer: `${name}.qweight`, scale: `${name}.scale`, bits: 4, input_axis: 0, group_size: 0, scale_shape: [] });
      add(`${name}.qweight`, QUANT_FORMATS[4].onnxDataType, shape, packedBytes(numel, 4));
      add(`${name}.scale`, DataType.FLOAT, [], 4);
    } else {
      weights.push({ name, shape, layout: "float", initializer: name });
      add(name, DataType.FLOAT, shape, 4 * numel);
    }
  }
  return { weights, initializers };
}

describe("BART weight manifests", () => {
  const c = parseHfBartConfig(MINIMAL, "config.json");

  it("accepts exactly each part's tensors, fp32 or quantized", () => {
    for (const part of ["encoder", "decoder"] as const) {
      for (const q of [FP32, Q4]) {
        const { weights, initializers } = manifestFor(c, part, q);
        checkManifest(weights, c, part, q, initializers, "m.onnx");
      }
    }
  });

  it("refuses another part's tensor, a missing one, HF's (out, in) shape and the wrong input axis", () => {
    const enc = manifestFor(c, "encoder", FP32);
    const dec = manifestFor(c, "decoder", FP32);
    const bias = dec.weights.find((w) => w.name === "final_logits_bias")!;
    refuses(() => checkManifest([...enc.weights, bias], c, "encoder", FP32, new Map([...enc.initializers, ...dec.initializers]), "e.onnx"),
      /e\.onnx: tensor final_logits_bias: weight manifest names a tensor the config does not have; expected one of the 36 BART encoder tensors/);
    refuses(() => checkManifest(dec.weights.filter((w) => w !== bias), c, "decoder", FP32, dec.initializers, "d.onnx"),
      /d\.onnx: tensor final_logits_bias: weight manifest lacks a tensor the config implies/);
    const flipped = enc.weights.map((w) => (w.name === "encoder.layers.0.fc1.weight" ? { ...w, shape: [32, 16] } : w));
    refuses(() => checkManifest(flipped, c, "encoder", FP32, enc.initializers, "e.onnx"),
      /tensor encoder\.layers\.0\.fc1\.weight: weight shape does not match the config; expected \[16, 32\], found \[32, 16\]/);
    const q = manifestFor(c, "decoder", Q4);
    const axis = q.weights.map((w) => (w.name === "decoder.layers.0.fc2.weight" ? { ...w, input_axis: 1 as const } : w));
    refuses(() => checkManifest(axis, c, "decoder", Q4, q.initializers, "d.onnx"), /tensor decoder\.layers\.0\.fc2\.weight: weight's input axis is wrong; expected 0, found 1/);
    refuses(() => checkManifest(q.weights, c, "decoder", FP32, q.initializers, "d.onnx"), /weight's bit width does not match the file's quantization; expected 32, found 4/);
  });
});

describe("BART files' metadata (parseModelFile)", () => {
  // A hand-built file: the exporter's graph is not needed to check what the reader makes of the metadata.
  const c = parseHfBartConfig(JSON.parse(readFileSync(join(BART, "bart-f32", "config.json"), "utf8")), "config.json");
  const vocab = readFileSync(join(BART, "bart-f32", "vocab.json"), "utf8");
  const merges = readFileSync(join(BART, "bart-f32", "merges.txt"), "utf8");

  function file(part: BartPart, edit: (meta: Record<string, string>) => void = () => {}): Uint8Array {
    const { weights, initializers } = manifestFor(c, part, FP32);
    const meta: Record<string, string> = {
      [META.format]: LOWBIT_ONNX_FORMAT, [META.formatVersion]: "2", [META.modelType]: "bart", [META.component]: part,
      [META.config]: JSON.stringify(c), [META.quantization]: JSON.stringify(FP32), [META.weights]: JSON.stringify(weights),
      ...(part === "decoder" ? { [META.generation]: JSON.stringify({ num_beams: 4, forced_bos_token_id: 0 }) } : {}),
      [META.vocab]: vocab, [META.merges]: merges, [META.checksum]: CHECKSUM_PLACEHOLDER,
    };
    edit(meta);
    return encodeModel({
      irVersion: 8, opsetImport: [{ domain: "", version: 18 }],
      graph: { name: "g", initializer: [...initializers.values()].map((t) => ({ name: t.name, dataType: t.dataType, dims: t.dims, rawData: t.raw })) },
      metadataProps: Object.entries(meta).map(([key, value]) => ({ key, value })),
    });
  }

  it("reads the component, the config and the decoder's generation defaults", () => {
    const enc = parseModelFile(file("encoder"), "encoder_model.onnx");
    assert.equal(enc.component, "encoder");
    assert.equal(enc.generation, undefined);
    assert.deepEqual(enc.config, c);
    const dec = parseModelFile(file("decoder"), "decoder_model_merged.onnx");
    assert.equal(dec.component, "decoder");
    assert.deepEqual(dec.generation, { num_beams: 4, forced_bos_token_id: 0 });
    assert.equal(dec.weights.length, bartExpectedShapes(c, "decoder").size);
  });

  it("refuses a missing or wrong component, generation on the encoder, and bad generation values", () => {
    refuses(() => parseModelFile(file("encoder", (m) => delete m[META.component]), "e.onnx"), /e\.onnx: missing metadata lowbit\.component/);
    refuses(() => parseModelFile(file("encoder", (m) => (m[META.component] = "both")), "e.onnx"), /bad value for lowbit\.component; expected encoder\|decoder, found "both"/);
    // The encoder's manifest in a file that says "decoder".
    refuses(() => parseModelFile(file("encoder", (m) => (m[META.component] = "decoder")), "e.onnx"),
      /tensor encoder\.embed_positions\.weight: weight manifest names a tensor the config does not have; expected one of the 57 BART decoder tensors/);
    refuses(() => parseModelFile(file("encoder", (m) => (m[META.generation] = "{}")), "e.onnx"), /metadata lowbit\.generation in the encoder file/);
    refuses(() => parseModelFile(file("decoder", (m) => (m[META.generation] = JSON.stringify({ num_beams: -1 }))), "d.onnx"),
      /d\.onnx: bad value for lowbit\.generation\.num_beams; expected an integer in 1\.\.256, found -1/);
    refuses(() => parseModelFile(file("decoder", (m) => (m[META.generation] = JSON.stringify({ eos_token_id: 281 }))), "d.onnx"),
      /lowbit\.generation\.eos_token_id is outside the vocabulary/);
    refuses(() => parseModelFile(file("decoder", (m) => (m[META.modelType] = "t5")), "d.onnx"), /bad value for lowbit\.model_type; expected gpt2\|bart, found "t5"/);
    // GPT-2's tokenizer in a BART file: its ids are not BART's.
    const gpt2Vocab = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(vocab) as Record<string, number>).filter(([t]) => !/^<\/?(s|pad|unk|mask)>$/.test(t))));
    refuses(() => parseModelFile(file("encoder", (m) => (m[META.vocab] = gpt2Vocab)), "e.onnx"), /e\.onnx: lowbit\.tokenizer\.vocab: not a BART vocabulary; expected <s>, <pad>, <\/s>, <unk> entries \(BART's tokenizer\), found no <s>, <pad>, <\/s>, <unk>/);
    // BART files carry no GPT-2 metadata, and GPT-2 files no BART metadata (checked in lowbit_onnx.test.ts's terms here).
    refuses(() => parseModelFile(file("encoder", (m) => (m[META.modelType] = "gpt2")), "e.onnx"), /bad value for lowbit\.config\.model_type; expected gpt2/);
  });
});
