// The plain TypeScript reference forward for BART (BartForConditionalGeneration, Hugging Face's
// modeling_bart.py): the oracle that onnxruntime and our WASM runtime (src/runtime/bart.ts) are checked
// against. Readable on purpose: one token at a time, weights read as stored, the same per-token int8
// activation quantization of every quantized linear's input row and of the head's input as the graph and
// runtime, and the kernels' f32 arithmetic wherever a value can reach such a quantizer (common.ts, header,
// says why and how; erf.ts is the exact GELU's mirror of the kernel).
//
// The forward (.carry/CONTRACT.md, "BART forward"), post-LayerNorm, no final LayerNorm:
//   embed    x = LN_emb(f32(shared[id] · embed_scale) + pos[p + 2]), embed_scale = f32(√d) or 1;
//   encoder  x = LN_sa(x + out(attn(q(x), k(X), v(X)))), attention over the whole input (no mask: one
//            sequence, no padding), then x = LN_final(x + fc2(act(fc1(x))));
//   decoder  the same self-attention over the tokens so far (a cache), then cross-attention
//            x = LN_ea(x + out(attn(q(x), k(enc), v(enc)))), then the FFN;
//   logits   f32(x · sharedᵀ + final_logits_bias), the bias added after the head's sum.
// act: "gelu" is the exact (erf) GELU, "gelu_new" the tanh form.
//
// Weights come by canonical name (no `model.` prefix) from a WeightSource (common.ts): the two lowbit
// files of a BART export (encoder: shared.weight + encoder.*; decoder: shared.weight, final_logits_bias +
// decoder.*), or a checkpoint in memory (src/export/checkpoint.ts), whose tensors serve both parts.
// Linears are (K, N) input-major; shared.weight is (V, d) with its input axis 1.
//
// Letters: S source tokens, d d_model, NH heads, V vocab, P max_position_embeddings.

import type { BartCheckpoint } from "../export/checkpoint.js";
import type { BartConfig } from "../format/bart_config.js";
import type { LowbitModelFile } from "../format/lowbit_onnx.js";
import type { QuantizationConfig } from "../format/quantization.js";
import type { DecoderStepper } from "../runtime/generation.js";
import {
  add, applyHead, applyLinear, argmax, attention, checkpointWeights, f32, fileWeights, geluTanh, layerNorm, loadHead, loadLinear, loadNorm,
  type Head, type Linear, type Norm, type WeightSource,
} from "./common.js";
import { geluErf } from "./erf.js";


/** The two files of a BART export, parsed (src/format/lowbit_onnx.ts). */
export interface BartFiles {
  encoder: LowbitModelFile;
  decoder: LowbitModelFile;
}

/** What the forward needs of a BartCheckpoint (src/export/checkpoint.ts): config, tensors, A8 or not. */
export type BartCheckpointLike = Pick<BartCheckpoint, "config" | "tensors"> & { quantization?: Pick<QuantizationConfig, "activation_bits"> };

interface Attention {
  q: Linear; // (d, d)
  k: Linear;
  v: Linear;
  out: Linear;
  norm: Norm; // the LayerNorm after the residual add
  NH: number;
}

interface Ffn {
  fc1: Linear; // (d, F)
  fc2: Linear; // (F, d)
  norm: Norm;
}

interface Embedding {
  tokens: Float32Array; // (V, d): shared.weight as this part's file stores it
  positions: Float32Array; // (P + 2, d)
  norm: Norm; // layernorm_embedding
}

export interface BartReference {
  config: BartConfig;
  embedScale: number; // f32(√d), or 1
  act: (v: number) => number;
  encoder: { embed: Embedding; layers: Array<{ self: Attention; ffn: Ffn }> };
  decoder: {
    embed: Embedding;
    layers: Array<{ self: Attention; cross: Attention; ffn: Ffn }>;
    head: Head; // shared.weight (V, d)
    finalLogitsBias: Float32Array; // (V)
  };
}

/**
 * Per decoder layer: the cross-attention keys and values of the encoder's states (computed once), and the
 * self-attention keys and values of the decoder tokens so far (S rows of d, heads side by side).
 */
export interface BartDecoderCache {
  crossKeys: Float32Array[][];
  crossValues: Float32Array[][];
  keys: Float32Array[][];
  values: Float32Array[][];
}

/** The reference model from the two files of a BART export, or from a checkpoint in memory. */
export function loadBartReference(input: BartFiles | BartCheckpointLike): BartReference {
  if ("tensors" in input) {
    const src = checkpointWeights(input.tensors, input.quantization?.activation_bits ?? 32);
    return loadBartReferenceFrom(input.config, { encoder: src, decoder: src });
  }
  const { encoder, decoder } = input;
  for (const [f, part] of [[encoder, "encoder"], [decoder, "decoder"]] as const) {
    if (f.component !== part) throw new Error(`${f.file}: lowbit.component is ${JSON.stringify(f.component ?? null)}, expected ${JSON.stringify(part)}`);
  }
  const config = encoder.config;
  if (config.model_type !== "bart") throw new Error(`${encoder.file}: a ${config.model_type} model, not BART`);
  if (JSON.stringify(encoder.config) !== JSON.stringify(decoder.config)) throw new Error(`${encoder.file} and ${decoder.file}: the two files' configs differ (not one export)`);
  return loadBartReferenceFrom(config, { encoder: fileWeights(encoder), decoder: fileWeights(decoder) });
}

/** The reference model from any weight sources by canonical name (see common.ts, WeightSource). */
export function loadBartReferenceFrom(config: BartConfig, sources: { encoder: WeightSource; decoder: WeightSource }): BartReference {
  const c = config;
  const attn = (src: WeightSource, m: string, norm: string, NH: number): Attention => ({
    q: loadLinear(src, `${m}.q_proj`), k: loadLinear(src, `${m}.k_proj`), v: loadLinear(src, `${m}.v_proj`), out: loadLinear(src, `${m}.out_proj`),
    norm: loadNorm(src, norm), NH,
  });
  const ffn = (src: WeightSource, p: string): Ffn => ({ fc1: loadLinear(src, `${p}.fc1`), fc2: loadLinear(src, `${p}.fc2`), norm: loadNorm(src, `${p}.final_layer_norm`) });
  const embedding = (src: WeightSource, part: string): Embedding => ({
    tokens: src.weight("shared.weight").values(), positions: src.weight(`${part}.embed_positions.weight`).values(), norm: loadNorm(src, `${part}.layernorm_embedding`),
  });
  const enc = sources.encoder;
  const dec = sources.decoder;
  const encoderLayers = [];
  for (let l = 0; l < c.encoder_layers; l++) {
    const p = `encoder.layers.${l}`;
    encoderLayers.push({ self: attn(enc, `${p}.self_attn`, `${p}.self_attn_layer_norm`, c.encoder_attention_heads), ffn: ffn(enc, p) });
  }
  const decoderLayers = [];
  for (let l = 0; l < c.decoder_layers; l++) {
    const p = `decoder.layers.${l}`;
    decoderLayers.push({
      self: attn(dec, `${p}.self_attn`, `${p}.self_attn_layer_norm`, c.decoder_attention_heads),
      cross: attn(dec, `${p}.encoder_attn`, `${p}.encoder_attn_layer_norm`, c.decoder_attention_heads),
      ffn: ffn(dec, p),
    });
  }
  if (c.activation_function !== "gelu" && c.activation_function !== "gelu_new") throw new Error(`activation_function ${JSON.stringify(c.activation_function)}: the reference knows "gelu" and "gelu_new"`);
  return {
    config: c,
    embedScale: c.scale_embedding ? f32(Math.sqrt(c.d_model)) : 1,
    act: c.activation_function === "gelu" ? geluErf : geluTanh,
    encoder: { embed: embedding(enc, "encoder"), layers: encoderLayers },
    decoder: {
      embed: embedding(dec, "decoder"), layers: decoderLayers,
      head: loadHead(dec, "shared.weight"), finalLogitsBias: dec.weight("final_logits_bias").values(),
    },
  };
}

/** LN_emb(f32(tokens[id] · embed_scale) + positions[p + 2]) (d). */
function embed(m: BartReference, e: Embedding, id: number, p: number): Float32Array {
  const d = m.config.d_model;
  if (!(Number.isInteger(id) && id >= 0 && id < m.config.vocab_size)) throw new Error(`token id ${id} is outside the vocabulary (0..${m.config.vocab_size - 1})`);
  if (p >= m.config.max_position_embeddings) throw new Error(`position ${p} is past max_position_embeddings ${m.config.max_position_embeddings}`);
  const row = new Float32Array(d);
  for (let i = 0; i < d; i++) row[i] = f32(e.tokens[id * d + i] * m.embedScale) + e.positions[(p + 2) * d + i];
  return layerNorm(row, e.norm, m.config.layer_norm_epsilon);
}

/** LN(x + out(attn(q(x), keys, values))): self- or cross-attention of one row, post-LayerNorm. */
function attentionBlock(m: BartReference, a: Attention, x: Float32Array, keys: Float32Array[], values: Float32Array[]): Float32Array {
  const context = attention(applyLinear(x, a.q), keys, values, a.NH);
  return layerNorm(add(x, applyLinear(context, a.out)), a.norm, m.config.layer_norm_epsilon);
}

/** LN(x + fc2(act(fc1(x)))) of one row. */
function ffnBlock(m: BartReference, f: Ffn, x: Float32Array): Float32Array {
  const hidden = applyLinear(x, f.fc1).map(m.act); // (F)
  return layerNorm(add(x, applyLinear(hidden, f.fc2)), f.norm, m.config.layer_norm_epsilon);
}

/** The encoder's last hidden states: S rows of d. */
export function bartEncode(m: BartReference, inputIds: number[]): Float32Array[] {
  let x = inputIds.map((id, p) => embed(m, m.encoder.embed, id, p));
  for (const layer of m.encoder.layers) {
    const keys = x.map((row) => applyLinear(row, layer.self.k)); // every token sees every token
    const values = x.map((row) => applyLinear(row, layer.self.v));
    x = x.map((row) => attentionBlock(m, layer.self, row, keys, values));
    x = x.map((row) => ffnBlock(m, layer.ffn, row));
  }
  return x;
}

/** An empty decoder cache for these encoder states: every layer's cross-attention keys and values, once. */
export function bartDecoderCache(m: BartReference, encoderStates: Float32Array[]): BartDecoderCache {
  const layers = m.decoder.layers;
  return {
    crossKeys: layers.map((l) => encoderStates.map((row) => applyLinear(row, l.cross.k))),
    crossValues: layers.map((l) => encoderStates.map((row) => applyLinear(row, l.cross.v))),
    keys: layers.map(() => []),
    values: layers.map(() => []),
  };
}

/**
 * Runs decoder `tokens` (positions cache length, cache length + 1, …) one at a time, appending to the
 * cache. Returns the logits of every token: rows of V.
 */
export function bartDecoderStep(m: BartReference, cache: BartDecoderCache, tokens: number[]): Float32Array[] {
  const { layers, head, finalLogitsBias } = m.decoder;
  const logits: Float32Array[] = [];
  for (const token of tokens) {
    let x = embed(m, m.decoder.embed, token, cache.keys[0]?.length ?? 0);
    layers.forEach((layer, l) => {
      cache.keys[l].push(applyLinear(x, layer.self.k));
      cache.values[l].push(applyLinear(x, layer.self.v));
      x = attentionBlock(m, layer.self, x, cache.keys[l], cache.values[l]); // causal: the tokens so far
      x = attentionBlock(m, layer.cross, x, cache.crossKeys[l], cache.crossValues[l]);
      x = ffnBlock(m, layer.ffn, x);
    });
    logits.push(applyHead(head, x).map((v, i) => v + finalLogitsBias[i]));
  }
  return logits;
}

/**
 * The reference as src/runtime/generation.ts's DecoderStepper, so that its greedy, sampling and beam searches
 * run on it: rows (beams) with a self-attention cache each, all sharing one encoder output's cross-attention
 * keys and values.
 */
export function bartStepper(m: BartReference, encoderStates: Float32Array[]): DecoderStepper {
  const empty = bartDecoderCache(m, encoderStates);
  let rows: BartDecoderCache[] = [];
  return {
    vocabSize: m.config.vocab_size,
    step(tokens) {
      if (rows.length === 0) rows = tokens.map(() => ({ ...empty, keys: empty.keys.map(() => []), values: empty.values.map(() => []) }));
      if (tokens.length !== rows.length) throw new Error(`step: ${tokens.length} tokens for ${rows.length} rows`);
      return tokens.map((token, i) => bartDecoderStep(m, rows[i], [token])[0]);
    },
    reorder(from) {
      // Cached rows are never written after they are pushed, so copying the lists copies the cache.
      rows = from.map((i) => ({ ...rows[i], keys: rows[i].keys.map((k) => k.slice()), values: rows[i].values.map((v) => v.slice()) }));
    },
  };
}

export interface BartGreedyOptions {
  /** Most ids in the result, the start token included (Hugging Face's max_length). */
  maxLength: number;
  /** Default: the config's decoder_start_token_id. */
  decoderStartTokenId?: number;
  /** Stops after this id; default: the config's eos_token_id; null: never. */
  eosTokenId?: number | null;
}

/**
 * Plain greedy decoding: the decoder start token, then argmax ids until EOS or maxLength ids in all. This is
 * Hugging Face's generate() with num_beams 1 only where no logits processor acts (BART's generation_config
 * forces BOS and EOS and bans repeated n-grams); for generate()'s semantics run src/runtime/generation.ts's
 * searches on bartStepper.
 */
export function bartGreedy(m: BartReference, inputIds: number[], opts: BartGreedyOptions): number[] {
  const eos = opts.eosTokenId === undefined ? m.config.eos_token_id : opts.eosTokenId;
  const cache = bartDecoderCache(m, bartEncode(m, inputIds));
  const ids = [opts.decoderStartTokenId ?? m.config.decoder_start_token_id];
  while (ids.length < opts.maxLength) {
    const [logits] = bartDecoderStep(m, cache, [ids[ids.length - 1]]);
    const next = argmax(logits);
    ids.push(next);
    if (next === eos) break;
  }
  return ids;
}
