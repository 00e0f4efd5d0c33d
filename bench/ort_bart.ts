// Drives an exported BART folder (onnx/encoder_model*.onnx + onnx/decoder_model_merged*.onnx) through
// onnxruntime with Optimum's names, as transformers.js does. Works with onnxruntime-node and onnxruntime-web
// alike (both export onnxruntime-common's API), so the module is a parameter. One driver for the BART
// benchmark (bench/bart.ts) and the tests (test/helpers/ort_bart.ts binds it to onnxruntime-node), where it
// is the independent oracle for our graphs, our reference forward and our runtime.
//
// The merged decoder runs both ways: the first step with use_cache_branch false and empty past (it projects
// the encoder states into cross-attention K/V), later steps with use_cache_branch true and the previous
// step's present.* fed back as past_key_values.*. Decoding itself is src/runtime/generation.ts's (greedy,
// sampling, beam search with transformers' processors) over ortStepper(), a DecoderStepper: the same search
// code drives onnxruntime and lowbit's executor.
//
// Two shortcuts, both exact, that keep the timed loop to what a decoder step needs:
//   - After the first step, only logits and present.*.decoder.* are fetched: present.*.encoder.* are
//     past_key_values.*.encoder.* passed through (the graph's second If), so the first step's are kept.
//   - A stepper serves one input, so every row's cross-attention K/V are the same: reorder() gathers the
//     decoder self-attention caches only, unless the number of rows changes.
//
// Letters: B batch (rows, beams), S encoder tokens, T new decoder tokens, P cached decoder tokens, NH heads,
// HS head size, d d_model, V vocab, L decoder layers.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import type * as OrtApi from "onnxruntime-web";
import { onnxFiles, parseFolderConfig, type Dtype } from "../src/format/hf_layout.js";
import { runGeneration, type DecoderStepper, type GenerationResult, type ResolvedGeneration } from "../src/runtime/generation.js";

/** What we use of either package (the two share onnxruntime-common's types). */
export type OrtModule = Pick<typeof OrtApi, "InferenceSession" | "Tensor">;
type Tensor = OrtApi.Tensor;
type Session = OrtApi.InferenceSession;
export type SessionOptions = OrtApi.InferenceSession.SessionOptions;

/** The decoder's dimensions that the feeds need. */
export interface BartDims {
  layers: number; // L (decoder)
  heads: number; // NH (decoder)
  headSize: number; // HS = d / NH
  dModel: number; // d
  vocab: number; // V
}

export interface OrtBart {
  ort: OrtModule;
  encoder: Session;
  decoder: Session;
  dims: BartDims;
  /** The two files, relative to the folder. */
  files: { encoder: string; decoder: string };
}

export interface OpenOptions {
  /** Which precision of the folder; by default the one its config.json names. */
  dtype?: Dtype;
  /** Options of both sessions, unless encoderOptions / decoderOptions are given. */
  options?: SessionOptions;
  encoderOptions?: SessionOptions;
  decoderOptions?: SessionOptions;
}

/** Opens a folder's encoder and merged decoder. */
export async function openOrtBart(ort: OrtModule, folder: string, o: OpenOptions = {}): Promise<OrtBart> {
  const configPath = join(folder, "config.json");
  const text = readFileSync(configPath, "utf8");
  const { dtype: configDtype } = parseFolderConfig(text, configPath);
  const c = JSON.parse(text) as { d_model: number; decoder_attention_heads: number; decoder_layers: number; vocab_size: number };
  const names = onnxFiles("bart", o.dtype ?? configDtype ?? "fp32");
  const files = { encoder: names.encoder!, decoder: names.decoder! };
  const encoder = await ort.InferenceSession.create(join(folder, files.encoder), o.encoderOptions ?? o.options ?? {});
  const decoder = await ort.InferenceSession.create(join(folder, files.decoder), o.decoderOptions ?? o.options ?? {});
  const missing = ["input_ids", "encoder_hidden_states", "use_cache_branch", "past_key_values.0.decoder.key"].filter((n) => !decoder.inputNames.includes(n));
  if (missing.length > 0) throw new Error(`${join(folder, files.decoder)}: expected Optimum's merged-decoder inputs, missing ${missing.join(", ")}`);
  return {
    ort, encoder, decoder, files,
    dims: { layers: c.decoder_layers, heads: c.decoder_attention_heads, headSize: c.d_model / c.decoder_attention_heads, dModel: c.d_model, vocab: c.vocab_size },
  };
}

export async function releaseOrtBart(m: OrtBart): Promise<void> {
  await m.encoder.release();
  await m.decoder.release();
}

function i64(ort: OrtModule, rows: number[][]): Tensor {
  const data = new BigInt64Array(rows.length * rows[0].length);
  rows.forEach((row, b) => row.forEach((id, t) => { data[b * row.length + t] = BigInt(id); }));
  return new ort.Tensor("int64", data, [rows.length, rows[0].length]);
}

// ─── encoder ────────────────────────────────────────────────────────────────────────────────────

export interface EncoderOutput {
  states: Tensor; // (B, S, d) last_hidden_state
  mask: Tensor; // (B, S) int64 attention mask, also the decoder's encoder_attention_mask
}

/** Runs the encoder on B rows of ids (mask: all ones unless given). */
export async function ortEncode(m: OrtBart, inputIds: number[][], attentionMask?: number[][]): Promise<EncoderOutput> {
  const mask = i64(m.ort, attentionMask ?? inputIds.map((row) => row.map(() => 1)));
  const out = await m.encoder.run({ input_ids: i64(m.ort, inputIds), attention_mask: mask });
  return { states: out.last_hidden_state, mask };
}

/** Rows `rows` (with repeats) of a tensor along its first axis, in that order. */
export function gatherRows(ort: OrtModule, t: Tensor, rows: number[]): Tensor {
  const [, ...rest] = t.dims as number[];
  const size = rest.reduce((a, b) => a * b, 1);
  const src = t.data as Float32Array | BigInt64Array;
  const dst = src instanceof BigInt64Array ? new BigInt64Array(rows.length * size) : new Float32Array(rows.length * size);
  rows.forEach((r, i) => (dst as Float32Array).set((src as Float32Array).subarray(r * size, (r + 1) * size), i * size));
  return new ort.Tensor(t.type as "float32", dst as Float32Array, [rows.length, ...rest]);
}

/** The encoder output of one input repeated for B rows (beams). */
export function repeatEncoderOutput(m: OrtBart, enc: EncoderOutput, B: number): EncoderOutput {
  if ((enc.states.dims[0] as number) === B) return enc;
  const rows = new Array<number>(B).fill(0);
  return { states: gatherRows(m.ort, enc.states, rows), mask: gatherRows(m.ort, enc.mask, rows) };
}

// ─── merged decoder ─────────────────────────────────────────────────────────────────────────────

/** past_key_values.{i}.decoder|encoder.key|value of the next step, by input name. */
export type OrtCache = Map<string, Tensor>;

const isEncoderCache = (name: string) => name.includes(".encoder.");

/**
 * One merged-decoder step: B rows of T new tokens after `cache` (none: the first step, use_cache_branch
 * false). Returns each row's T logits rows (views of the output) and the cache for the next step (every
 * present.* output renamed to its past input; after the first step the encoder entries are carried over).
 */
export async function ortDecode(m: OrtBart, enc: EncoderOutput, tokens: number[][], cache?: OrtCache): Promise<{ logits: Float32Array[][]; cache: OrtCache }> {
  const { ort, dims } = m;
  const B = tokens.length;
  const T = tokens[0].length;
  const feeds: Record<string, Tensor> = {
    input_ids: i64(ort, tokens),
    encoder_attention_mask: enc.mask,
    encoder_hidden_states: enc.states,
    use_cache_branch: new ort.Tensor("bool", [cache !== undefined], [1]),
  };
  const empty = new ort.Tensor("float32", new Float32Array(0), [B, dims.heads, 0, dims.headSize]);
  const fetches = ["logits"];
  for (let l = 0; l < dims.layers; l++) {
    for (const part of ["decoder", "encoder"]) {
      for (const kv of ["key", "value"]) {
        const name = `past_key_values.${l}.${part}.${kv}`;
        feeds[name] = cache?.get(name) ?? empty;
        if (cache === undefined || part === "decoder") fetches.push(`present.${l}.${part}.${kv}`);
      }
    }
  }
  const out = await m.decoder.run(feeds, fetches);
  const data = out.logits.data as Float32Array; // (B, T, V)
  const V = dims.vocab;
  const logits = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => data.subarray((b * T + t) * V, (b * T + t + 1) * V)));
  const next: OrtCache = new Map();
  for (const [name, tensor] of Object.entries(out)) {
    if (name.startsWith("present.")) next.set(name.replace(/^present\./, "past_key_values."), tensor);
  }
  if (cache !== undefined) for (const [name, tensor] of cache) if (isEncoderCache(name)) next.set(name, tensor);
  return { logits, cache: next };
}

/**
 * The cache rows of `rows` (beam indices, with repeats), in that order: a beam search's reorder. With
 * `sameEncoderRows` (one input: every row's cross-attention K/V are equal) and an unchanged row count, the
 * encoder entries are kept as they are.
 */
export function reorderCache(m: OrtBart, cache: OrtCache, rows: number[], sameEncoderRows = false): OrtCache {
  const out: OrtCache = new Map();
  for (const [name, t] of cache) {
    const keep = sameEncoderRows && isEncoderCache(name) && (t.dims[0] as number) === rows.length;
    out.set(name, keep ? t : gatherRows(m.ort, t, rows));
  }
  return out;
}

/**
 * The merged decoder as a DecoderStepper for one input's encoder output: the first step() starts
 * tokens.length rows (the encoder output repeated for each), later steps feed the previous presents back.
 */
export function ortStepper(m: OrtBart, enc: EncoderOutput): DecoderStepper {
  let cache: OrtCache | undefined;
  let rows = enc;
  return {
    vocabSize: m.dims.vocab,
    async step(tokens) {
      if (cache === undefined) rows = repeatEncoderOutput(m, enc, tokens.length);
      const out = await ortDecode(m, rows, tokens.map((id) => [id]), cache);
      cache = out.cache;
      return out.logits.map((r) => r[0]);
    },
    reorder(from) {
      if (cache === undefined) throw new Error("ortStepper.reorder before the first step");
      if (from.length !== (rows.states.dims[0] as number)) rows = repeatEncoderOutput(m, enc, from.length);
      cache = reorderCache(m, cache, from, true);
    },
  };
}

/** generate() on one input: the encoder once, then runGeneration (greedy, sampling or beam search) on the decoder. */
export async function ortGenerate(m: OrtBart, inputIds: number[], g: ResolvedGeneration, signal?: AbortSignal): Promise<GenerationResult> {
  return runGeneration(ortStepper(m, await ortEncode(m, [inputIds])), g, signal);
}

// ─── teacher forcing ────────────────────────────────────────────────────────────────────────────

/** Rows of a (1, n, d) tensor, copies. */
export function rowsOf(t: Tensor): Float32Array[] {
  const [, n, d] = t.dims as number[];
  const data = t.data as Float32Array;
  return Array.from({ length: n }, (_, i) => data.slice(i * d, (i + 1) * d));
}

/** Encoder states and teacher-forced logits of one sequence pair, all decoder tokens in one first step. */
export async function ortTeacherForced(m: OrtBart, inputIds: number[], decoderIds: number[]): Promise<{ encoderStates: Float32Array[]; logits: Float32Array[] }> {
  const enc = await ortEncode(m, [inputIds]);
  const { logits } = await ortDecode(m, enc, [decoderIds]);
  return { encoderStates: rowsOf(enc.states), logits: logits[0].map((row) => row.slice()) };
}

/** The same logits one decoder token at a time: a first step, then cached steps. */
export async function ortStepByStep(m: OrtBart, inputIds: number[], decoderIds: number[]): Promise<Float32Array[]> {
  const enc = await ortEncode(m, [inputIds]);
  const rows: Float32Array[] = [];
  let cache: OrtCache | undefined;
  for (const id of decoderIds) {
    const step = await ortDecode(m, enc, [[id]], cache);
    rows.push(step.logits[0][0].slice());
    cache = step.cache;
  }
  return rows;
}
