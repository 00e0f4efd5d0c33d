// Drives an exported BART folder (onnx/encoder_model*.onnx + onnx/decoder_model_merged*.onnx) through
// onnxruntime-node with Optimum's names, as transformers.js does: the independent oracle for our graphs,
// our reference forward and our runtime. The merged decoder runs both ways: the first step with
// use_cache_branch false and empty past (it projects the encoder states into cross-attention K/V), later
// steps with use_cache_branch true and the previous step's present.* fed back as past_key_values.*.
//
// Batched (B rows) so a beam search can drive it: reorderCache() picks the cache rows of the kept beams.
// ortGreedy() takes logits processors as plain functions (ids so far, logits row → modified in place);
// hfGreedyProcessors() mirrors the few of transformers' processors that the fixtures' greedy runs use, so
// a test can compare with transformers without our generation code (src/runtime/generation.ts).
//
// Letters: B batch, S encoder tokens, T new decoder tokens, NH heads, HS head size, V vocab.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { onnxFiles, parseFolderConfig, type Dtype } from "../../src/format/hf_layout.js";

export interface OrtBart {
  encoder: ort.InferenceSession;
  decoder: ort.InferenceSession;
  layers: number; // decoder layers
  heads: number; // NH (decoder)
  headSize: number; // HS
  vocab: number; // V
}

/** Opens a folder's encoder and merged decoder; the dtype by default is the one config.json names. */
export async function openOrtBart(folder: string, opts: { dtype?: Dtype; optimize?: boolean } = {}): Promise<OrtBart> {
  const text = readFileSync(join(folder, "config.json"), "utf8");
  const { dtype: configDtype } = parseFolderConfig(text, join(folder, "config.json"));
  const c = JSON.parse(text) as { d_model: number; decoder_attention_heads: number; decoder_layers: number; vocab_size: number };
  const files = onnxFiles("bart", opts.dtype ?? configDtype ?? "fp32");
  const options: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: opts.optimize ? "all" : "disabled", intraOpNumThreads: 1 };
  return {
    encoder: await ort.InferenceSession.create(join(folder, files.encoder!), options),
    decoder: await ort.InferenceSession.create(join(folder, files.decoder!), options),
    layers: c.decoder_layers,
    heads: c.decoder_attention_heads,
    headSize: c.d_model / c.decoder_attention_heads,
    vocab: c.vocab_size,
  };
}

const i64 = (rows: number[][]) => new ort.Tensor("int64", BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);

export interface EncoderOutput {
  states: ort.Tensor; // (B, S, d) last_hidden_state
  mask: ort.Tensor; // (B, S) int64 attention mask, also the decoder's encoder_attention_mask
}

/** Runs the encoder on B rows of ids (mask: all ones unless given). */
export async function ortEncode(m: OrtBart, inputIds: number[][], attentionMask?: number[][]): Promise<EncoderOutput> {
  const mask = i64(attentionMask ?? inputIds.map((row) => row.map(() => 1)));
  const out = await m.encoder.run({ input_ids: i64(inputIds), attention_mask: mask });
  return { states: out.last_hidden_state, mask };
}

/** past_key_values.{i}.decoder|encoder.key|value of the next step, by input name. */
export type OrtCache = Map<string, ort.Tensor>;

/**
 * One merged-decoder step: B rows of T new tokens after `cache` (none: the first step). Returns each row's
 * T logits rows and the cache for the next step (every present.* output, renamed to its past input).
 */
export async function ortDecode(m: OrtBart, enc: EncoderOutput, tokens: number[][], cache?: OrtCache): Promise<{ logits: Float32Array[][]; cache: OrtCache }> {
  const B = tokens.length;
  const T = tokens[0].length;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: i64(tokens),
    encoder_attention_mask: enc.mask,
    encoder_hidden_states: enc.states,
    use_cache_branch: new ort.Tensor("bool", [cache !== undefined], [1]),
  };
  const empty = new ort.Tensor("float32", new Float32Array(0), [B, m.heads, 0, m.headSize]);
  for (let l = 0; l < m.layers; l++) {
    for (const part of ["decoder", "encoder"]) {
      for (const kv of ["key", "value"]) {
        const name = `past_key_values.${l}.${part}.${kv}`;
        feeds[name] = cache?.get(name) ?? empty;
      }
    }
  }
  const out = await m.decoder.run(feeds);
  const data = out.logits.data as Float32Array; // (B, T, V)
  const V = m.vocab;
  const logits = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => data.slice((b * T + t) * V, (b * T + t + 1) * V)));
  const next: OrtCache = new Map();
  for (const [name, tensor] of Object.entries(out)) {
    if (name.startsWith("present.")) next.set(name.replace(/^present\./, "past_key_values."), tensor);
  }
  return { logits, cache: next };
}

/** The cache rows of `rows` (beam indices, with repeats), in that order: a beam search's reorder. */
export function reorderCache(cache: OrtCache, rows: number[]): OrtCache {
  const out: OrtCache = new Map();
  for (const [name, t] of cache) {
    const [, ...rest] = t.dims as number[];
    const size = rest.reduce((a, b) => a * b, 1);
    const src = t.data as Float32Array;
    const dst = new Float32Array(rows.length * size);
    rows.forEach((r, i) => dst.set(src.subarray(r * size, (r + 1) * size), i * size));
    out.set(name, new ort.Tensor("float32", dst, [rows.length, ...rest]));
  }
  return out;
}

/** Rows of a (1, n, d) tensor. */
export function rowsOf(t: ort.Tensor): Float32Array[] {
  const [, n, d] = t.dims as number[];
  const data = t.data as Float32Array;
  return Array.from({ length: n }, (_, i) => data.slice(i * d, (i + 1) * d));
}

/** Encoder states and teacher-forced logits of one sequence pair, all decoder tokens in one first step. */
export async function ortTeacherForced(m: OrtBart, inputIds: number[], decoderIds: number[]): Promise<{ encoderStates: Float32Array[]; logits: Float32Array[] }> {
  const enc = await ortEncode(m, [inputIds]);
  const { logits } = await ortDecode(m, enc, [decoderIds]);
  return { encoderStates: rowsOf(enc.states), logits: logits[0] };
}

/** The same logits one decoder token at a time: a first step, then cached steps. */
export async function ortStepByStep(m: OrtBart, inputIds: number[], decoderIds: number[]): Promise<Float32Array[]> {
  const enc = await ortEncode(m, [inputIds]);
  const rows: Float32Array[] = [];
  let cache: OrtCache | undefined;
  for (const id of decoderIds) {
    const step = await ortDecode(m, enc, [[id]], cache);
    rows.push(step.logits[0][0]);
    cache = step.cache;
  }
  return rows;
}

/** Changes one row of logits in place, given the decoder ids so far (decoder start included). */
export type LogitsProcessor = (ids: number[], logits: Float32Array) => void;

export interface GreedyOptions {
  decoderStartTokenId: number;
  eosTokenId: number;
  /** Length of the whole decoder sequence, decoder start included (HF's max_length). */
  maxLength: number;
  processors?: LogitsProcessor[];
}

/** Greedy decoding as HF's generate() with num_beams 1: the sequence, decoder start and final </s> included. */
export async function ortGreedy(m: OrtBart, inputIds: number[], o: GreedyOptions): Promise<number[]> {
  const enc = await ortEncode(m, [inputIds]);
  const ids = [o.decoderStartTokenId];
  let cache: OrtCache | undefined;
  let next = o.decoderStartTokenId;
  while (ids.length < o.maxLength) {
    const step = await ortDecode(m, enc, [[next]], cache);
    cache = step.cache;
    const logits = step.logits[0][0];
    for (const p of o.processors ?? []) p(ids, logits);
    next = argmax(logits);
    ids.push(next);
    if (next === o.eosTokenId) break;
  }
  return ids;
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

// ─── transformers' greedy processors (the ones the fixtures use) ───────────────────────────────

/** generate() settings as the fixtures and generation_config.json spell them. */
export interface HfGreedySettings {
  max_length?: number;
  max_new_tokens?: number;
  min_length?: number;
  no_repeat_ngram_size?: number;
  repetition_penalty?: number;
  forced_bos_token_id?: number | null;
  forced_eos_token_id?: number | null;
  eos_token_id?: number;
  decoder_start_token_id?: number;
}

/**
 * HF's processors in generate()'s order: RepetitionPenalty, NoRepeatNGram, MinLength, ForcedBOS, ForcedEOS,
 * and the max_length they imply (max_new_tokens wins: 1 decoder start + max_new_tokens).
 */
export function hfGreedyProcessors(s: HfGreedySettings): { maxLength: number; processors: LogitsProcessor[] } {
  const eos = s.eos_token_id ?? 2;
  const maxLength = s.max_new_tokens !== undefined ? 1 + s.max_new_tokens : s.max_length ?? 20;
  const only = (logits: Float32Array, id: number) => {
    logits.fill(-Infinity);
    logits[id] = 0;
  };
  const processors: LogitsProcessor[] = [];
  const penalty = s.repetition_penalty;
  if (penalty !== undefined && penalty !== 1) {
    processors.push((ids, logits) => {
      for (const id of new Set(ids)) logits[id] = logits[id] < 0 ? logits[id] * penalty : logits[id] / penalty;
    });
  }
  const n = s.no_repeat_ngram_size ?? 0;
  if (n > 0) {
    processors.push((ids, logits) => {
      if (ids.length + 1 < n) return;
      const prefix = ids.slice(ids.length - n + 1).join(",");
      for (let i = 0; i + n <= ids.length; i++) {
        if (ids.slice(i, i + n - 1).join(",") === prefix) logits[ids[i + n - 1]] = -Infinity;
      }
    });
  }
  const minLength = s.min_length ?? 0;
  if (minLength > 0) processors.push((ids, logits) => { if (ids.length < minLength) logits[eos] = -Infinity; });
  const bos = s.forced_bos_token_id;
  if (bos !== undefined && bos !== null) processors.push((ids, logits) => { if (ids.length === 1) only(logits, bos); });
  const forcedEos = s.forced_eos_token_id;
  if (forcedEos !== undefined && forcedEos !== null) processors.push((ids, logits) => { if (ids.length === maxLength - 1) only(logits, forcedEos); });
  return { maxLength, processors };
}
