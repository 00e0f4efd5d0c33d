// Writer for the quantized checkpoint (docs/FORMAT.md §2), the hand-off between the training stage and the
// exporter, for both families. The reader is readCheckpoint() in checkpoint.ts, which takes plain and
// quantized directories.
//
// Files keep Hugging Face's layout: GPT-2's tensors under their canonical names, BART's with the `model.`
// prefix (final_logits_bias without, as HF writes it) and its nn.Linear weights (out, in), so lowbit's
// input-major (in, out) matrices, codes and group scales are transposed back here and again on read.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { LowbitError } from "../errors.js";
import { writeFileAtomic } from "./atomic_write.js";
import { transpose, transposedOnDisk, type Checkpoint } from "./checkpoint.js";
import { writeSafetensors, type TensorToWrite } from "./safetensors.js";

const ARCHITECTURES = { gpt2: "GPT2LMHeadModel", bart: "BartForConditionalGeneration" } as const;

/** A tensor's name in the file: BART's carry HF's `model.` prefix (final_logits_bias sits outside `model`). */
function fileName(ckpt: Checkpoint, name: string): string {
  return ckpt.config.model_type === "bart" && name !== "final_logits_bias" ? `model.${name}` : name;
}

export function writeQuantizedCheckpoint(dir: string, ckpt: Checkpoint): void {
  if (ckpt.quantization === undefined) throw new LowbitError("checkpoint is not quantized: nothing to write as a quantized checkpoint");
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new LowbitError("cannot create output directory", { file: dir, found: (err as NodeJS.ErrnoException).code });
  }
  const tensors: TensorToWrite[] = [];
  const isTransposed = transposedOnDisk(ckpt.config);
  for (const [name, t] of ckpt.tensors) {
    const file = fileName(ckpt, name);
    // (K, N) in memory → (N, K) on disk; a group scale (⌈K / G⌉, N) → (N, ⌈K / G⌉); a module scale stays [].
    const flip = isTransposed(name);
    const [K, N] = t.shape;
    if (t.kind === "float") {
      tensors.push(flip ? { name: file, dtype: "F32", shape: [N, K], data: transpose(t.data, K, N) } : { name: file, dtype: "F32", shape: t.shape, data: t.data });
    } else if (flip) {
      tensors.push({ name: `${file}.qweight`, dtype: "I8", shape: [N, K], data: transpose(t.codes, K, N) });
      const [S, M] = t.scaleShape;
      tensors.push(t.scaleShape.length === 2
        ? { name: `${file}.scale`, dtype: "F32", shape: [M, S], data: transpose(t.scale, S, M) }
        : { name: `${file}.scale`, dtype: "F32", shape: t.scaleShape, data: t.scale });
    } else {
      tensors.push({ name: `${file}.qweight`, dtype: "I8", shape: t.shape, data: t.codes });
      tensors.push({ name: `${file}.scale`, dtype: "F32", shape: t.scaleShape, data: t.scale });
    }
  }
  writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt", producer: "lowbit" });
  // The config under HF's keys; lowbit's `untrained` flag is spelled as config.json spells it for the reader.
  const { untrained, ...config } = ckpt.config;
  const configJson = {
    ...config, ...(untrained === true ? { lowbit_untrained: true } : {}),
    architectures: [ARCHITECTURES[ckpt.config.model_type]], quantization_config: ckpt.quantization,
  };
  writeFileAtomic(join(dir, "vocab.json"), ckpt.tokenizer.vocab);
  writeFileAtomic(join(dir, "merges.txt"), ckpt.tokenizer.merges);
  if ("generation" in ckpt && ckpt.generation !== undefined) {
    writeFileAtomic(join(dir, "generation_config.json"), `${JSON.stringify(ckpt.generation, null, 2)}\n`);
  }
  // config.json last: a directory with a config but half its weights never looks complete.
  writeFileAtomic(join(dir, "config.json"), `${JSON.stringify(configJson, null, 2)}\n`);
}
