// Writes a GPT-2 checkpoint with random weights in Hugging Face layout (config.json + model.safetensors).
// Default shape is GPT-2 124M (12 layers, 768 wide, 12 heads, 50257 tokens, 1024 positions), used by the
// compression check and the export benchmark. Weights ~ N(0, 0.02²) as GPT-2 initialises them; seeded.
//
//   npx tsx scripts/make_random_gpt2.ts --out /tmp/gpt2-124m-random [--layers 12 --embd 768 --heads 12 --vocab 50257 --positions 1024 --seed 1]

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { expectedShapes, parseHfGpt2Config } from "../src/format/gpt2_config.js";
import { numel } from "../src/format/safetensors.js";
import { writeSafetensors, type TensorToWrite } from "../src/export/safetensors.js";
import { randomFiller } from "./random_weights.js";

export interface RandomGpt2Options {
  layers: number;
  embd: number;
  heads: number;
  vocab: number;
  positions: number;
  seed: number;
  /** Standard deviation of the weight matrices (GPT-2 initialises with 0.02; larger gives decisive logits). */
  std?: number;
}

export const GPT2_124M: RandomGpt2Options = { layers: 12, embd: 768, heads: 12, vocab: 50257, positions: 1024, seed: 1 };

export function makeRandomGpt2(dir: string, o: RandomGpt2Options): void {
  const rawConfig = {
    model_type: "gpt2", architectures: ["GPT2LMHeadModel"], vocab_size: o.vocab, n_positions: o.positions, n_ctx: o.positions,
    n_embd: o.embd, n_layer: o.layers, n_head: o.heads, n_inner: null, activation_function: "gelu_new",
    layer_norm_epsilon: 1e-5, tie_word_embeddings: true, bos_token_id: o.vocab - 1, eos_token_id: o.vocab - 1,
    lowbit_untrained: true,
  };
  const config = parseHfGpt2Config(rawConfig, "generated config");
  const fill = randomFiller(o.seed);
  const tensors: TensorToWrite[] = [];
  for (const [name, shape] of expectedShapes(config)) {
    const data = new Float32Array(numel(shape));
    fill(data, /ln_(1|2|f)\.weight$/.test(name) ? "layerNormGain" : name.endsWith(".bias") ? "bias" : "weight", o.std ?? 0.02);
    tensors.push({ name, dtype: "F32", shape, data });
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify(rawConfig, null, 2));
  writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt" });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const opts = new Command()
    .requiredOption("--out <dir>", "output checkpoint directory")
    .option("--layers <n>", "n_layer", Number, GPT2_124M.layers)
    .option("--embd <n>", "n_embd", Number, GPT2_124M.embd)
    .option("--heads <n>", "n_head", Number, GPT2_124M.heads)
    .option("--vocab <n>", "vocab_size", Number, GPT2_124M.vocab)
    .option("--positions <n>", "n_positions", Number, GPT2_124M.positions)
    .option("--seed <n>", "PRNG seed", Number, GPT2_124M.seed)
    .option("--std <x>", "standard deviation of weight matrices", Number, 0.02)
    .parse()
    .opts();
  makeRandomGpt2(opts.out, opts as RandomGpt2Options & { out: string });
  console.log(`wrote ${opts.out}`);
}
