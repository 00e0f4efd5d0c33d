// Writes docs/SAMPLES.md: the same prompts and sampling settings through two shipped models side by side, so
// "does the new model write better text" can be judged by reading, next to the perplexities in docs/RESULTS.md.
//
//   npx tsx scripts/samples.ts [--models models/quantgpt-228.onnx,models/quantgpt124m-228.onnx] [--seeds 1,2]
//
// Settings are `npm start`'s (temperature 0.8, top-k 40, repetition penalty 1.2, 48 new tokens); each row is
// reproducible with `npx lowbit generate --model M --prompt P --seed S` and those flags.

import { readFileSync } from "node:fs";
import { Command } from "commander";
import { writeFileAtomic } from "../src/export/atomic_write.js";
import { loadGpt2Model } from "../src/runtime/index.js";

const PROMPTS = [
  "The President said that",
  "Call me Ishmael. Some years ago",
  "In the morning the children",
  "And the Lord said unto Moses,",
  "The history of the city",
];
const SETTINGS = { maxNewTokens: 48, temperature: 0.8, topK: 40, repetitionPenalty: 1.2 };

const o = new Command()
  .option("--models <files>", "comma-separated .onnx files", "models/quantgpt-228.onnx,models/quantgpt124m-228.onnx")
  .option("--seeds <list>", "comma-separated sampling seeds", "1,2")
  .option("--out <file>", "markdown file to write", "docs/SAMPLES.md")
  .parse()
  .opts<{ models: string; seeds: string; out: string }>();
const files = o.models.split(",");
const seeds = o.seeds.split(",").map(Number);

const texts: string[][] = []; // [model][prompt × seed]
for (const file of files) {
  const model = await loadGpt2Model(new Uint8Array(readFileSync(file)));
  const out: string[] = [];
  for (const prompt of PROMPTS) {
    for (const seed of seeds) {
      let text = "";
      for await (const token of model.generate(prompt, { ...SETTINGS, seed })) text += token.text;
      out.push(text);
    }
  }
  texts.push(out);
  console.error(`${file}: ${out.length} samples`);
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\s*\n\s*/g, " ⏎ ").trim();
const lines = [
  "# Samples side by side",
  "",
  `Made by \`npx tsx scripts/samples.ts --models ${o.models} --seeds ${o.seeds}\`: \`npm start\`'s sampling settings (temperature 0.8, top-k 40, repetition penalty 1.2, 48 new tokens), the same prompt and seed in each row; ⏎ marks a line break. Perplexities are in docs/RESULTS.md.`,
  "",
  `| prompt | seed | ${files.join(" | ")} |`,
  `| --- | ---: | ${files.map(() => "---").join(" | ")} |`,
  ...PROMPTS.flatMap((prompt, p) => seeds.map((seed, s) =>
    `| ${cell(prompt)} | ${seed} | ${texts.map((t) => cell(t[p * seeds.length + s])).join(" | ")} |`)),
  "",
];
writeFileAtomic(o.out, lines.join("\n"));
console.error(`wrote ${o.out}`);
