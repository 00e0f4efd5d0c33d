// lowbit's runtime, the public API: load a model (a GPT-2 .onnx file, or a Hugging Face folder of either
// family: path, URL, or bytes) onto the WASM kernels and generate text as an async stream of tokens; BART
// models also summarize (src/runtime/seq2seq.ts). An ES module with no Node built-ins at the top level: the
// same file runs in Node and in browsers, bundled or not (Node-only reads import Node's modules at run time:
// node_builtins.ts), and carries its WASM kernels inside (kernels.ts, embeddedKernels).

import { LowbitError } from "../errors.js";
import type { Gpt2Config } from "../format/gpt2_config.js";
import type { LowbitModelFile } from "../format/lowbit_onnx.js";
import type { FileQuantization } from "../format/quantization.js";
import { Gpt2Executor } from "./gpt2.js";
import { checkContextLength } from "./perplexity.js";
import { compileKernels, embeddedKernels, instantiateKernels, preferredVariant, type KernelVariant, type Kernels } from "./kernels.js";
import { applyRepetitionPenalty, sampleFrom } from "./logits_processors.js";
import { argmax, isSampling, Prng, validateSampling, warpersOf, type SamplingOptions } from "./sampling.js";
import { Gpt2Tokenizer, TextStreamDecoder } from "./tokenizer.js";
import { readModelFiles, readSource, sourceName, type ModelFiles, type ModelSource } from "./sources.js";
import { bartModel, type BartModel } from "./seq2seq.js";
import { chooseThreads, disposeKernels, instantiateThreadedKernels } from "./threads.js";

export { BpeTokenizer, Gpt2Tokenizer, TextStreamDecoder, type DecodeOptions, type EncodeOptions } from "./tokenizer.js";
export type { SamplingOptions } from "./sampling.js";
export { LowbitError } from "../errors.js";
export type { BartModel, Seq2SeqOptions, Seq2SeqStats, Summary } from "./seq2seq.js";

export type { ModelSource, FolderFiles } from "./sources.js";

export interface LoadOptions {
  /**
   * The kernels' .wasm (bytes, compiled module, path or URL); by default the package's own copy of
   * build/lowbit.{simd|scalar}.wasm, built into its JavaScript (nothing to serve or copy, bundled or not).
   */
  kernels?: BufferSource | WebAssembly.Module | string | URL;
  /** Which build to use; by default SIMD128 where the engine has it. */
  variant?: KernelVariant;
  /** KV-cache rows to allocate up front (prompt + generated tokens); by default sized by each generate(). */
  contextLength?: number;
  /** Most bytes of WASM memory the model may use (default 4 GiB, all wasm32 can address). */
  memoryLimitBytes?: number;
  /**
   * Check the file's content against its `lowbit.checksum` before running it (default true), so that a
   * flipped bit or a cut download is refused rather than run. Costs one SHA-256 pass over the file.
   */
  verifyChecksum?: boolean;
  /** Which precision of a folder to load (fp32|q8|q4|q2); by default its config.json's transformers.js_config.dtype. */
  dtype?: string;
  /** BART: decoder rows (beams) to size the scratch for up front. */
  maxBeams?: number;
  /**
   * Repack weights at load for the faster kernels (default true in the SIMD build): 2-bit (ternary) weights
   * for the lookup-table kernel, 4- and 8-bit ones for the pairs kernel. false keeps the file's layout and
   * the unpacking kernels, for comparison.
   */
  lookupTables?: boolean;
  /**
   * Threads for the matrix products (1..64): by default the core count, at most 8. More than 1 needs memory
   * that threads can share: in a browser, a cross-origin isolated page (served with COOP: same-origin and
   * COEP: require-corp); elsewhere the model runs on one thread (its `threads` says so). 1: no workers.
   */
  threads?: number;
  /**
   * The threads build's .wasm (bytes, compiled module, path or URL); by default the package's own copy of
   * build/lowbit.simd-threads.wasm when `kernels` is not given. With `kernels` given and this not, the model runs on one thread.
   */
  threadKernels?: BufferSource | WebAssembly.Module | string | URL;
}

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens?: number;
  /** Stop when one of these non-empty strings appears in the generated text (it is not emitted). */
  stop?: string[];
  /** Stop at the end-of-text token (default true). */
  stopAtEos?: boolean;
  /** The end-of-text token; by default the tokenizer's <|endoftext|> or the config's eos_token_id. */
  eosTokenId?: number;
  /** A prompt too long for the context: "error" (default) or "left" (keep its last tokens). */
  truncate?: "error" | "left";
  /** The context to fit prompt + new tokens into: 2..n_positions (more is an error), by default n_positions. */
  contextLength?: number;
  signal?: AbortSignal;
}

export interface GeneratedToken {
  id: number;
  /** Text completed by this token (may be empty while a multi-byte character is unfinished). A last item
   * with id -1 carries text held back until the end (a possible stop-string prefix), and no token. */
  text: string;
}

export interface GenerationStats {
  promptTokens: number;
  generatedTokens: number;
  prefillMs: number;
  decodeMs: number;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
  stopReason: "max_new_tokens" | "eos" | "stop_string";
}

export interface Gpt2Model {
  readonly modelType: "gpt2";
  readonly config: Gpt2Config;
  readonly quantization: FileQuantization;
  readonly tokenizer: Gpt2Tokenizer;
  readonly executor: Gpt2Executor;
  readonly kernelVariant: KernelVariant;
  /** Threads the matrix products run on (LoadOptions.threads; 1 where memory cannot be shared). */
  readonly threads: number;
  readonly loadMs: number;
  /** Bytes of WASM memory in use: weights as stored, KV cache and scratch. */
  wasmMemoryBytes(): number;
  /** Stops the model's worker threads; the model cannot run afterwards. */
  dispose(): void;
  /** Streams new tokens for a prompt (text or token ids). Statistics land in `lastStats` when it ends. */
  generate(prompt: string | number[], options?: GenerateOptions): AsyncGenerator<GeneratedToken, GenerationStats>;
  lastStats?: GenerationStats;
}

export type LowbitModel = Gpt2Model | BartModel;

const now = () => (typeof performance !== "undefined" ? performance.now() : Date.now());

export async function loadKernels(options: LoadOptions = {}): Promise<Kernels> {
  const variant = options.variant ?? preferredVariant();
  const threads = await chooseThreads(options, variant);
  // Without the option, the package's own copy of the build (embeddedKernels: inlined, so that bundles keep
  // it); a path or URL is read as any model file is.
  let wasm = (threads > 1 ? options.threadKernels : options.kernels) ?? await embeddedKernels(variant, threads > 1);
  if (typeof wasm === "string" || wasm instanceof URL) wasm = await readSource(wasm, "WASM kernels");
  // Compiled once per process (by content); each model gets its own instance and memory.
  if (!(wasm instanceof WebAssembly.Module)) wasm = await compileKernels(wasm);
  const kernels = threads > 1
    ? await instantiateThreadedKernels(wasm, variant, threads, options.memoryLimitBytes)
    : await instantiateKernels(wasm, variant, options.memoryLimitBytes);
  if (options.lookupTables === false) kernels.lookupTables = false;
  return kernels;
}

/** Loads a model of either family: a GPT-2 .onnx file, or a folder (path, URL ending in "/", or its files). */
export async function loadModel(source: ModelSource, options: LoadOptions = {}): Promise<LowbitModel> {
  const t0 = now();
  return buildModel(await readModelFiles(source, options), options, t0);
}

/** Loads a GPT-2 model; a BART model is refused, before its weights are mapped, naming what to use instead. */
export async function loadGpt2Model(source: ModelSource, options: LoadOptions = {}): Promise<Gpt2Model> {
  const t0 = now();
  const files = await readModelFiles(source, options);
  if (files.modelType !== "gpt2") {
    throw new LowbitError("this is a BART (sequence-to-sequence) model, not a GPT-2 one", { file: sourceName(source), hint: "use `lowbit summarize`, or model.generate() on the model loadModel() returns" });
  }
  return (await buildModel(files, options, t0)) as Gpt2Model;
}

/** Loads a BART model; a GPT-2 model is refused, before its weights are mapped, naming what to use instead. */
export async function loadBartModel(source: ModelSource, options: LoadOptions = {}): Promise<BartModel> {
  const t0 = now();
  const files = await readModelFiles(source, options);
  if (files.modelType !== "bart") {
    throw new LowbitError("this is a GPT-2 (decoder-only) model, not a BART one", { file: sourceName(source), hint: "use `lowbit generate` for GPT-2 models" });
  }
  return (await buildModel(files, options, t0)) as BartModel;
}

/** Kernels, executor and tokenizer over files already read and checked; `t0` is when loading began. */
async function buildModel(files: ModelFiles, options: LoadOptions, t0: number): Promise<LowbitModel> {
  const kernels = await loadKernels(options);
  try {
    return files.modelType === "bart" ? bartModel(kernels, files, options, t0) : gpt2Model(kernels, files.model, options, t0);
  } catch (err) {
    disposeKernels(kernels); // a model that fails to build keeps no worker threads
    throw err;
  }
}

function gpt2Model(kernels: Kernels, file: LowbitModelFile, options: LoadOptions, t0: number): Gpt2Model {
  const executor = new Gpt2Executor(kernels, file, { contextLength: options.contextLength });
  const tokenizer = Gpt2Tokenizer.fromBpe(file.bpe);
  const model: Gpt2Model = {
    modelType: "gpt2",
    config: file.config as Gpt2Config,
    quantization: file.quantization,
    tokenizer,
    executor,
    kernelVariant: kernels.variant,
    threads: kernels.runner.threads,
    loadMs: now() - t0,
    wasmMemoryBytes: () => kernels.memory.buffer.byteLength,
    dispose: () => disposeKernels(kernels),
    generate: (prompt, opts = {}) => generate(model, prompt, opts),
  };
  return model;
}

/** Macrotask yield, so an AbortSignal fired by a timer or an event is seen between tokens. */
const yieldToEvents = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

async function* generate(model: Gpt2Model, prompt: string | number[], o: GenerateOptions): AsyncGenerator<GeneratedToken, GenerationStats> {
  validateSampling(o);
  const maxNew = o.maxNewTokens ?? 32;
  if (!(Number.isInteger(maxNew) && maxNew >= 1)) throw new LowbitError("invalid max new tokens", { expected: "an integer >= 1", found: String(maxNew) });
  const { executor, tokenizer } = model;
  const stops = o.stop ?? [];
  // An empty stop string is found at once: it would end every generation before its first token.
  if (stops.some((s) => s === "")) throw new LowbitError("invalid stop string", { expected: "a non-empty string", found: '""' });
  const eos = o.eosTokenId ?? tokenizer.eosTokenId ?? model.config.eos_token_id;
  let ids = typeof prompt === "string" ? tokenizer.encode(prompt) : [...prompt];
  if (ids.length === 0) {
    throw new LowbitError("empty prompt", {
      expected: "at least one token", hint: eos === undefined ? undefined : `for unconditional generation, start from the end-of-text token: prompt [${eos}]`,
    });
  }
  const context = o.contextLength ?? model.config.n_positions;
  checkContextLength(context, model.config.n_positions);
  const room = context - maxNew;
  if (ids.length > room) {
    if (o.truncate !== "left" || room < 1) {
      throw new LowbitError("prompt too long for the context", {
        expected: `prompt + max new tokens <= ${context} (the context)`, found: `${ids.length} + ${maxNew}`,
        hint: room < 1 ? `lower maxNewTokens below ${context}` : 'shorten the prompt, lower maxNewTokens, or pass truncate: "left" to keep its last tokens',
      });
    }
    ids = ids.slice(ids.length - room);
  }
  executor.reserve(ids.length + maxNew);
  const sampling = isSampling(o);
  const rng = new Prng(o.seed ?? 0);
  const penalty = o.repetitionPenalty ?? 1;
  const stopAt = o.stopAtEos === false ? undefined : eos;
  const holdBack = stops.length > 0 ? Math.max(...stops.map((s) => s.length)) - 1 : 0;
  const decoder = new TextStreamDecoder(tokenizer);

  const checkAbort = async () => {
    if (o.signal === undefined) return;
    await yieldToEvents();
    if (o.signal.aborted) throw o.signal.reason ?? new Error("aborted");
  };

  await checkAbort();
  executor.reset();
  const seen = [...ids];
  const t0 = now();
  let logits = executor.forward(ids);
  const prefillMs = now() - t0;
  let decodeMs = 0;
  let generated = 0;
  let text = "";
  let emitted = 0;
  let stopReason: GenerationStats["stopReason"] = "max_new_tokens";

  while (true) {
    applyRepetitionPenalty(logits, seen, penalty);
    const id = sampling ? sampleFrom(logits, warpersOf(o), rng) : argmax(logits);
    generated++;
    seen.push(id);
    if (id === stopAt) {
      stopReason = "eos";
      break;
    }
    // Models may pad their vocabulary past the tokenizer's (as tiny-f16 does): such ids have no text.
    text += id < tokenizer.vocabSize ? decoder.push(id) : "";
    const hit = stops.map((s) => text.indexOf(s, Math.max(0, emitted - s.length))).filter((i) => i >= 0);
    if (hit.length > 0) {
      const cut = Math.min(...hit);
      if (cut > emitted) yield { id, text: text.slice(emitted, cut) };
      emitted = text.length;
      stopReason = "stop_string";
      break;
    }
    const safe = Math.max(emitted, text.length - holdBack);
    yield { id, text: text.slice(emitted, safe) };
    emitted = safe;
    if (generated >= maxNew) break;
    await checkAbort();
    const t1 = now();
    logits = executor.forward([id]);
    decodeMs += now() - t1;
  }
  if (stopReason !== "stop_string") {
    text += decoder.flush();
    if (text.length > emitted) yield { id: -1, text: text.slice(emitted) };
  }
  // Tokens after the first are decode steps; the first came from the prefill's logits.
  const stats: GenerationStats = {
    promptTokens: ids.length,
    generatedTokens: generated,
    prefillMs,
    decodeMs,
    prefillTokensPerS: ids.length / (prefillMs / 1e3),
    decodeTokensPerS: generated > 1 ? (generated - 1) / (decodeMs / 1e3) : 0,
    stopReason,
  };
  model.lastStats = stats;
  return stats;
}
