// bench/ort_bart.ts bound to onnxruntime-node for the tests: an exported BART folder driven with Optimum's
// names (the merged decoder's use_cache_branch, past/present tensors), as transformers.js does. It is the
// independent oracle for our graphs, our reference forward and our runtime; decoding on it is
// src/runtime/generation.ts's runGeneration over bench/ort_bart.ts's DecoderStepper, so that "the same ids
// as transformers" tests our search, processors included, against onnxruntime's logits.

import * as ort from "onnxruntime-node";
import { openOrtBart as openWith, ortGenerate, type OrtBart } from "../../bench/ort_bart.js";
import type { Dtype } from "../../src/format/hf_layout.js";
import { optionsFromHfSettings, resolveGeneration, type GenerationDefaults } from "../../src/runtime/generation.js";

export { ortDecode, ortEncode, ortGenerate, ortStepByStep, ortStepper, ortTeacherForced, reorderCache, rowsOf, type OrtBart } from "../../bench/ort_bart.js";

/** Opens a folder's encoder and merged decoder in onnxruntime-node, one thread, graph optimizations off unless `optimize`. */
export function openOrtBart(folder: string, opts: { dtype?: Dtype; optimize?: boolean } = {}): Promise<OrtBart> {
  return openWith(ort, folder, { dtype: opts.dtype, options: { graphOptimizationLevel: opts.optimize ? "all" : "disabled", intraOpNumThreads: 1 } });
}

/**
 * transformers' generate() on onnxruntime: `settings` (generate()'s keyword arguments, snake_case, null =
 * None) over `defaults` (generation_config.json). Returns the best sequence, decoder_start_token_id first.
 */
export async function ortGenerateHf(m: OrtBart, inputIds: number[], defaults: GenerationDefaults, settings: Record<string, unknown> = {}): Promise<number[]> {
  const g = resolveGeneration(defaults, optionsFromHfSettings(settings));
  return (await ortGenerate(m, inputIds, g)).sequences[0];
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

export function maxAbsDiff(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let t = 0; t < a.length; t++) {
    if (a[t].length !== b[t].length) return Infinity;
    for (let i = 0; i < a[t].length; i++) worst = Math.max(worst, Math.abs(a[t][i] - b[t][i]));
  }
  return worst;
}
