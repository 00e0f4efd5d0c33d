// The plain TypeScript reference forward for GPT-2: the oracle that onnxruntime and our WASM runtime are
// checked against. Readable on purpose, no tricks: one token at a time, weights read from the file as
// stored, and the same per-token int8 activation quantization as the graph and runtime.
//
// Why it computes every value that can reach an int8 quantizer with the same f32 operations, in the same
// order, as the WASM kernels (assembly/), and how: common.ts, header. This file holds only GPT-2's
// structure: pre-LayerNorm blocks, fused c_attn, learned positions, the final LayerNorm, the tied head.
//
// Letters: T new tokens, S cached + new tokens, C n_embd, NH heads, HS = C / NH, F n_inner, V vocab.

import type { Gpt2Config } from "../format/gpt2_config.js";
import type { LowbitModelFile } from "../format/lowbit_onnx.js";
import { add, applyHead, applyLinear, argmax, attention, fileWeights, geluTanh, layerNorm, loadHead, loadLinear, loadNorm, type Head, type Linear, type Norm } from "./common.js";

export { argmax };

interface Block {
  ln1: Norm; // (C), (C)
  attn: Linear; // (C, 3C)
  proj: Linear; // (C, C)
  ln2: Norm;
  fc: Linear; // (C, F)
  fcProj: Linear; // (F, C)
}

export interface ReferenceModel {
  config: Gpt2Config;
  wte: Float32Array; // (V, C)
  wpe: Float32Array; // (P, C)
  blocks: Block[];
  lnf: Norm;
  head: Head; // (V, C): wte when tied
}

/** Key/value cache of one sequence: per layer, (S, C) rows of keys and of values, heads side by side. */
export interface KvCache {
  keys: Float32Array[][];
  values: Float32Array[][];
}

export function loadReferenceModel(f: LowbitModelFile): ReferenceModel {
  const c = f.config;
  if (c.model_type !== "gpt2") throw new Error(`${f.file}: a ${c.model_type} model, not GPT-2 (src/reference/bart.ts reads BART)`);
  const src = fileWeights(f);
  const blocks: Block[] = [];
  for (let l = 0; l < c.n_layer; l++) {
    const p = `h.${l}`;
    blocks.push({
      ln1: loadNorm(src, `${p}.ln_1`), attn: loadLinear(src, `${p}.attn.c_attn`), proj: loadLinear(src, `${p}.attn.c_proj`),
      ln2: loadNorm(src, `${p}.ln_2`), fc: loadLinear(src, `${p}.mlp.c_fc`), fcProj: loadLinear(src, `${p}.mlp.c_proj`),
    });
  }
  return {
    config: c, wte: src.weight("wte.weight").values(), wpe: src.weight("wpe.weight").values(), blocks, lnf: loadNorm(src, "ln_f"),
    head: loadHead(src, c.tie_word_embeddings ? "wte.weight" : "lm_head.weight"),
  };
}

export function emptyCache(m: ReferenceModel): KvCache {
  return { keys: m.blocks.map(() => []), values: m.blocks.map(() => []) };
}

/**
 * Runs `tokens` (positions cache length, cache length + 1, …) through the model, appending to the cache.
 * Returns the logits of every new token: T rows of V.
 */
export function referenceForward(m: ReferenceModel, tokens: number[], cache: KvCache): Float32Array[] {
  const c = m.config;
  const C = c.n_embd;
  const eps = c.layer_norm_epsilon;
  const logits: Float32Array[] = [];
  for (const token of tokens) {
    const pos = cache.keys[0].length;
    let x: Float32Array = new Float32Array(C); // (C) residual stream of this token
    for (let i = 0; i < C; i++) x[i] = m.wte[token * C + i] + m.wpe[pos * C + i];
    m.blocks.forEach((b, l) => {
      const qkv = applyLinear(layerNorm(x, b.ln1, eps), b.attn); // (3C)
      cache.keys[l].push(qkv.slice(C, 2 * C));
      cache.values[l].push(qkv.slice(2 * C, 3 * C));
      const context = attention(qkv.subarray(0, C), cache.keys[l], cache.values[l], c.n_head); // causal: the cache so far
      x = add(x, applyLinear(context, b.proj));
      const hidden = applyLinear(layerNorm(x, b.ln2, eps), b.fc).map(geluTanh); // (F)
      x = add(x, applyLinear(hidden, b.fcProj));
    });
    logits.push(applyHead(m.head, layerNorm(x, m.lnf, eps)));
  }
  return logits;
}

/** Greedy decoding: the prompt's logits, then `steps` argmax tokens, one forward each. */
export function referenceGreedy(m: ReferenceModel, prompt: number[], steps: number): { ids: number[]; promptLogits: Float32Array[] } {
  const cache = emptyCache(m);
  const promptLogits = referenceForward(m, prompt, cache);
  const ids: number[] = [];
  let next = argmax(promptLogits[promptLogits.length - 1]);
  for (let i = 0; i < steps; i++) {
    ids.push(next);
    if (i + 1 < steps) next = argmax(referenceForward(m, [next], cache)[0]);
  }
  return { ids, promptLogits };
}
