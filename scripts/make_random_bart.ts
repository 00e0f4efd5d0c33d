// Writes a BART checkpoint with random weights in Hugging Face layout: config.json, generation_config.json,
// model.safetensors (names with the `model.` prefix, nn.Linear weights (out, in) as HF stores them) and a
// BART-style vocab.json/merges.txt built from GPT-2's BPE files (scripts/bart_vocab.ts: <s> <pad> </s>
// <unk> = 0..3, GPT-2's tokens from 4, <mask> = 50260; ids 50261..V-1 exist only as embedding rows).
// Default shape is bart-base (6 + 6 layers, d 768, 12 heads, FFN 3072, V 50265, 1024 positions, exact GELU),
// used by the BART benchmark (bench/bart.ts). config.json says `lowbit_untrained: true`. Seeded.
//
// Weights ~ N(0, std²) with std 0.02 (BART's init_std) unless --std says otherwise: the LM head is tied to
// shared.weight, so its std sets how far apart the logits are (std × √d ≈ 0.55 at 0.02; 0.05 gives ≈ 1.4,
// so that greedy choices are not near-ties broken by rounding). LayerNorm gains 1 + N(0, 0.1²), biases
// N(0, 0.01²), final_logits_bias zeros (a buffer in HF).
//
//   npx tsx scripts/make_random_bart.ts --out /tmp/bart-base-random [--layers 6 --d-model 768 --heads 12 --ffn 3072 --vocab 50265 --positions 1024 --std 0.02 --seed 1]

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { bartExpectedShapes, bartQuantizedWeightAxes, parseHfBartConfig } from "../src/format/bart_config.js";
import { numel } from "../src/format/safetensors.js";
import { writeSafetensors, type TensorToWrite } from "../src/export/safetensors.js";
import { bartVocabFromGpt2 } from "./bart_vocab.js";
import { randomFiller } from "./random_weights.js";

export interface RandomBartOptions {
  /** Encoder layers and decoder layers (each). */
  layers: number;
  dModel: number;
  heads: number;
  ffn: number;
  vocab: number;
  positions: number;
  seed: number;
  /** Standard deviation of shared.weight, the positions and every linear weight. */
  std: number;
}

export const BART_BASE: RandomBartOptions = { layers: 6, dModel: 768, heads: 12, ffn: 3072, vocab: 50265, positions: 1024, seed: 1, std: 0.02 };

/** generation_config.json as bart-large-cnn ships it (summarization defaults). */
export const BART_GENERATION = {
  bos_token_id: 0, decoder_start_token_id: 2, early_stopping: true, eos_token_id: 2, forced_bos_token_id: 0, forced_eos_token_id: 2,
  length_penalty: 2.0, max_length: 142, min_length: 56, no_repeat_ngram_size: 3, num_beams: 4, pad_token_id: 1,
};

export function makeRandomBart(dir: string, o: RandomBartOptions): void {
  const rawConfig = {
    model_type: "bart", architectures: ["BartForConditionalGeneration"], is_encoder_decoder: true,
    vocab_size: o.vocab, d_model: o.dModel, encoder_layers: o.layers, decoder_layers: o.layers,
    encoder_attention_heads: o.heads, decoder_attention_heads: o.heads, encoder_ffn_dim: o.ffn, decoder_ffn_dim: o.ffn,
    max_position_embeddings: o.positions, activation_function: "gelu", scale_embedding: false,
    pad_token_id: 1, bos_token_id: 0, eos_token_id: 2, decoder_start_token_id: 2, forced_bos_token_id: 0, forced_eos_token_id: 2,
    tie_word_embeddings: true, init_std: o.std, lowbit_untrained: true,
  };
  const config = parseHfBartConfig(rawConfig, "generated config");
  const linears = new Set([...bartQuantizedWeightAxes(config)].filter(([, axis]) => axis === 0).map(([name]) => name));
  const fill = randomFiller(o.seed);
  const tensors: TensorToWrite[] = [];
  for (const [name, shape] of bartExpectedShapes(config)) {
    const data = new Float32Array(numel(shape));
    if (name !== "final_logits_bias") fill(data, /(layer_norm|layernorm_embedding)\.weight$/.test(name) ? "layerNormGain" : name.endsWith(".bias") ? "bias" : "weight", o.std);
    // lowbit's shapes are input-major (K, N); HF's nn.Linear stores (N, K). The data is random either way.
    const hfShape = linears.has(name) ? [shape[1], shape[0]] : shape;
    tensors.push({ name: name === "final_logits_bias" ? name : `model.${name}`, dtype: "F32", shape: hfShape, data });
  }
  mkdirSync(dir, { recursive: true });
  const { vocabJson, mergesTxt } = bartVocabFromGpt2();
  writeFileSync(join(dir, "vocab.json"), vocabJson);
  writeFileSync(join(dir, "merges.txt"), mergesTxt);
  writeFileSync(join(dir, "generation_config.json"), JSON.stringify(BART_GENERATION, null, 2));
  writeFileSync(join(dir, "config.json"), JSON.stringify(rawConfig, null, 2));
  writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt" });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const opts = new Command()
    .requiredOption("--out <dir>", "output checkpoint directory")
    .option("--layers <n>", "encoder_layers = decoder_layers", Number, BART_BASE.layers)
    .option("--d-model <n>", "d_model", Number, BART_BASE.dModel)
    .option("--heads <n>", "attention heads", Number, BART_BASE.heads)
    .option("--ffn <n>", "encoder_ffn_dim = decoder_ffn_dim", Number, BART_BASE.ffn)
    .option("--vocab <n>", "vocab_size (at least 50261, the BART-style vocabulary's size)", Number, BART_BASE.vocab)
    .option("--positions <n>", "max_position_embeddings", Number, BART_BASE.positions)
    .option("--seed <n>", "PRNG seed", Number, BART_BASE.seed)
    .option("--std <x>", "standard deviation of shared.weight, positions and linear weights", Number, BART_BASE.std)
    .parse()
    .opts();
  makeRandomBart(opts.out, opts as RandomBartOptions & { out: string });
  console.log(`wrote ${opts.out}`);
}
