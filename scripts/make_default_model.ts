// Makes the embedded default model that `npm start` runs until the training stage ships a trained one:
// a small GPT-2 (4 layers, 128 wide, GPT-2's tokenizer) with random weights, quantized W-E-A 2-2-8
// (module scales, MSE clip) and exported. Its config carries `lowbit_untrained`, so `lowbit generate`
// says its text is noise.
//
//   npx tsx scripts/make_default_model.ts [--out models/gpt2-random-228.onnx]

import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { readCheckpoint } from "../src/export/checkpoint.js";
import { writeFileAtomic } from "../src/export/atomic_write.js";
import { exportGpt2, quantizeCheckpoint } from "../src/export/export.js";
import { formatReport } from "../src/export/report.js";
import { makeRandomGpt2 } from "./make_random_gpt2.js";

const o = new Command().option("--out <file>", "output .onnx", "models/gpt2-random-228.onnx").parse().opts<{ out: string }>();
const dir = join(tmpdir(), `lowbit-default-model-${process.pid}`);
makeRandomGpt2(dir, { layers: 4, embd: 128, heads: 4, vocab: 50257, positions: 512, seed: 20221, std: 0.05 });
const ckpt = quantizeCheckpoint(readCheckpoint(dir), { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "mse" });
const { bytes, report } = exportGpt2(ckpt, { format: "dq", activationBits: 8, source: "scripts/make_default_model.ts (random weights)" });
writeFileAtomic(o.out, bytes);
rmSync(dir, { recursive: true, force: true });
console.log(formatReport(report));
console.log(`wrote ${o.out}`);
