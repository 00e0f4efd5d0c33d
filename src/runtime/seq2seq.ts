// BART models in the public API: encode the input once, then decode with Hugging Face generate() semantics
// (src/runtime/generation.ts) on the WASM executor (src/runtime/bart.ts). Defaults come from the model's
// generation_config.json; options override them.
//
// Streaming: under greedy decoding and sampling, generate() yields each token as it is decoded. Under beam
// search no token is final until the search ends (a later step can drop every beam that holds it), so the
// best sequence is yielded, token by token, once the search is done; summarize() returns it whole either way.

import { LowbitError } from "../errors.js";
import type { BartConfig } from "../format/bart_config.js";
import type { GenerationDefaults } from "../format/generation_config.js";
import type { FileQuantization } from "../format/quantization.js";
import type { GeneratedToken } from "./index.js";
import { BartExecutor } from "./bart.js";
import { beamSearch, checkAbort, decodeGreedyOrSample, resolveGeneration, type DecoderStepper, type GenerationOptions, type ResolvedGeneration } from "./generation.js";
import type { KernelVariant, Kernels } from "./kernels.js";
import type { ModelFiles } from "./sources.js";
import { disposeKernels } from "./threads.js";
import { BpeTokenizer, TextStreamDecoder } from "./tokenizer.js";

export interface Seq2SeqOptions extends GenerationOptions {
  /** An input longer than max_position_embeddings: "error" (default) or "right" (keep its first tokens, then </s>). */
  truncate?: "error" | "right";
  signal?: AbortSignal;
}

export interface Seq2SeqStats {
  inputTokens: number;
  /** Tokens after decoder_start_token_id in the returned sequence (its final </s> included). */
  generatedTokens: number;
  numBeams: number;
  encoderMs: number;
  decodeMs: number;
  /** Decoder steps per second: each step runs every beam one token further. */
  decodeStepsPerS: number;
  /** Generated tokens of the returned sequence per second of decoding. */
  decodeTokensPerS: number;
  stopReason: "eos" | "max_length";
  /** Beam search: the returned sequence's score (sum of log-probabilities / length ** length_penalty). */
  score?: number;
}

export interface Summary {
  /** The generated ids after decoder_start_token_id, as transformers' generate() returns them (special tokens kept). */
  ids: number[];
  /** Their text, special tokens skipped. */
  text: string;
  stats: Seq2SeqStats;
}

export interface BartModel {
  readonly modelType: "bart";
  readonly config: BartConfig;
  readonly quantization: FileQuantization;
  readonly tokenizer: BpeTokenizer;
  readonly executor: BartExecutor;
  /** The generation defaults: the folder's generation_config.json, else the decoder file's own copy. */
  readonly generation: GenerationDefaults;
  readonly kernelVariant: KernelVariant;
  /** Threads the matrix products run on (LoadOptions.threads; 1 where memory cannot be shared). */
  readonly threads: number;
  readonly loadMs: number;
  /** Bytes of WASM memory in use: weights as stored, caches and scratch. */
  wasmMemoryBytes(): number;
  /** Stops the model's worker threads; the model cannot run afterwards. */
  dispose(): void;
  /** Streams the output for an input (text, wrapped in <s> … </s>, or token ids as given). */
  generate(input: string | number[], options?: Seq2SeqOptions): AsyncGenerator<GeneratedToken, Seq2SeqStats>;
  /** The whole output for an input. */
  summarize(input: string | number[], options?: Seq2SeqOptions): Promise<Summary>;
  lastStats?: Seq2SeqStats;
}

const now = () => (typeof performance !== "undefined" ? performance.now() : Date.now());

export function bartModel(kernels: Kernels, files: Extract<ModelFiles, { modelType: "bart" }>, options: { maxBeams?: number }, t0: number): BartModel {
  const executor = new BartExecutor(kernels, files, { maxRows: options.maxBeams });
  const tokenizer = BpeTokenizer.fromBpe(files.encoder.bpe);
  const generation = files.generation ?? {};
  const model: BartModel = {
    modelType: "bart",
    config: executor.config,
    quantization: files.encoder.quantization,
    tokenizer,
    executor,
    generation,
    kernelVariant: kernels.variant,
    threads: kernels.runner.threads,
    loadMs: now() - t0,
    wasmMemoryBytes: () => kernels.memory.buffer.byteLength,
    dispose: () => disposeKernels(kernels),
    generate: (input, opts = {}) => generate(model, input, opts),
    summarize: async (input, opts = {}) => {
      const it = generate(model, input, opts);
      const ids: number[] = [];
      let text = "";
      let r = await it.next();
      for (; !r.done; r = await it.next()) {
        if (r.value.id >= 0) ids.push(r.value.id);
        text += r.value.text;
      }
      return { ids, text, stats: r.value };
    },
  };
  return model;
}

/** The input's ids: text through the tokenizer (<s> … </s>), ids checked; cut or refused when too long. */
function inputIds(model: BartModel, input: string | number[], truncate: "error" | "right"): number[] {
  const max = model.config.max_position_embeddings;
  let ids = typeof input === "string" ? model.tokenizer.encode(input) : [...input];
  if (ids.length === 0) throw new LowbitError("empty input", { expected: "at least one token" });
  if (ids.length > max) {
    if (truncate !== "right") {
      throw new LowbitError("input too long for the encoder", { expected: `at most ${max} tokens (max_position_embeddings)`, found: String(ids.length), hint: 'shorten it, or pass truncate: "right" to keep its first tokens' });
    }
    ids = [...ids.slice(0, max - 1), model.config.eos_token_id];
  }
  return ids;
}

/** The executor as generation.ts drives it: the first step starts the rows, sized for the longest sequence. */
function stepper(executor: BartExecutor, g: ResolvedGeneration, timing: { decodeMs: number; steps: number }): DecoderStepper {
  let started = false;
  return {
    vocabSize: executor.config.vocab_size,
    step(tokens) {
      const t = now();
      if (!started) executor.startDecoder(tokens.length, g.maxLength - 1);
      started = true;
      const logits = executor.step(tokens);
      timing.decodeMs += now() - t;
      timing.steps++;
      return logits;
    },
    reorder(from) {
      executor.reorder(from);
    },
  };
}

async function* generate(model: BartModel, input: string | number[], o: Seq2SeqOptions): AsyncGenerator<GeneratedToken, Seq2SeqStats> {
  const { executor, tokenizer } = model;
  const g = resolveGeneration(model.generation, o, { maxPositionEmbeddings: model.config.max_position_embeddings });
  const ids = inputIds(model, input, o.truncate ?? "error");
  await checkAbort(o.signal);
  const t0 = now();
  executor.encode(ids);
  const encoderMs = now() - t0;
  const timing = { decodeMs: 0, steps: 0 };
  const decoder = new TextStreamDecoder(tokenizer, { skipSpecialTokens: true });
  const text = (id: number) => (id < tokenizer.vocabSize ? decoder.push(id) : "");
  let sequence: number[];
  let score: number | undefined;
  if (g.numBeams > 1) {
    const result = await beamSearch(stepper(executor, g, timing), g, o.signal);
    sequence = result.sequences[0];
    score = result.scores[0];
    for (const id of sequence.slice(1)) yield { id, text: text(id) };
  } else {
    const it = decodeGreedyOrSample(stepper(executor, g, timing), g, o.signal);
    let r = await it.next();
    for (; !r.done; r = await it.next()) yield { id: r.value, text: text(r.value) };
    sequence = r.value;
  }
  const rest = decoder.flush();
  if (rest.length > 0) yield { id: -1, text: rest };
  const generated = sequence.length - 1;
  const stats: Seq2SeqStats = {
    inputTokens: ids.length,
    generatedTokens: generated,
    numBeams: g.numBeams,
    encoderMs,
    decodeMs: timing.decodeMs,
    decodeStepsPerS: timing.steps / (timing.decodeMs / 1e3),
    decodeTokensPerS: generated / (timing.decodeMs / 1e3),
    stopReason: sequence[sequence.length - 1] === g.eosTokenId ? "eos" : "max_length",
    ...(score !== undefined ? { score } : {}),
  };
  model.lastStats = stats;
  return stats;
}
