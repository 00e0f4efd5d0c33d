// Writer for the quantized checkpoint (docs/FORMAT.md), the hand-off between the training stage and the
// exporter. The reader is readCheckpoint() in checkpoint.ts, which takes plain and quantized directories.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { LowbitError } from "../errors.js";
import { writeFileAtomic } from "./atomic_write.js";
import type { Gpt2Checkpoint } from "./checkpoint.js";
import { writeSafetensors, type TensorToWrite } from "./safetensors.js";

export function writeQuantizedCheckpoint(dir: string, ckpt: Gpt2Checkpoint): void {
  if (ckpt.quantization === undefined) throw new LowbitError("checkpoint is not quantized: nothing to write as a quantized checkpoint");
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new LowbitError("cannot create output directory", { file: dir, found: (err as NodeJS.ErrnoException).code });
  }
  const tensors: TensorToWrite[] = [];
  for (const [name, t] of ckpt.tensors) {
    if (t.kind === "float") {
      tensors.push({ name, dtype: "F32", shape: t.shape, data: t.data });
    } else {
      tensors.push({ name: `${name}.qweight`, dtype: "I8", shape: t.shape, data: t.codes });
      tensors.push({ name: `${name}.scale`, dtype: "F32", shape: t.scaleShape, data: t.scale });
    }
  }
  writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt", producer: "lowbit" });
  const config = { ...ckpt.config, architectures: ["GPT2LMHeadModel"], quantization_config: ckpt.quantization };
  writeFileAtomic(join(dir, "vocab.json"), ckpt.tokenizer.vocab);
  writeFileAtomic(join(dir, "merges.txt"), ckpt.tokenizer.merges);
  // config.json last: a directory with a config but half its weights never looks complete.
  writeFileAtomic(join(dir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
}

