// Seq2seq decoding with Hugging Face `generate()` semantics (transformers v5, which made the fixtures):
// settings resolved from generation_config.json + user options, greedy decoding and sampling here, beam search
// in beam_search.ts, the logits processors in logits_processors.ts. The model is behind `DecoderStepper`, so
// one search drives lowbit's WASM executor, the TS reference forward and onnxruntime alike.
// Pure TypeScript, no Node built-ins: it runs in browsers.
//
// Facts from transformers (generation/utils.py, configuration_utils.py, stopping_criteria.py):
// - Precedence: options passed to generate() > the model's generation_config.json > the library defaults
//   (max_length 20, min_length 0, num_beams 1, length_penalty 1, early_stopping false, no_repeat_ngram_size 0,
//   repetition_penalty 1, do_sample false, temperature 1, top_k 50, top_p 1, forced BOS/EOS none).
//   An option passed as null (Python None) switches a forced token off even when the config sets it.
// - Lengths count the decoder's ids *including* decoder_start_token_id (the "prompt" of length 1):
//   max_new_tokens, when set anywhere (it wins over max_length, even a max_length passed by the caller,
//   with only a warning), gives max_length = max_new_tokens + 1; min_new_tokens likewise gives min_length.
//   When neither the caller nor generation_config.json sets max_length or max_new_tokens, v5 uses
//   20 + 1 = 21, capped at max_position_embeddings. max_length must exceed 1 (the start token alone).
// - Stopping (MaxLengthCriteria, EosTokenCriteria): a sequence ends when its length reaches max_length or
//   its last id is eos_token_id. The final id is never fed to the model.
// - Greedy: argmax over the processed logits, the first index among equal maxima (torch.argmax).
// - decoder_start_token_id falls back to bos_token_id; pad_token_id falls back to eos_token_id.

import { LowbitError } from "../errors.js";
import { beamSearch } from "./beam_search.js";
import { applyProcessors, sampleFrom } from "./logits_processors.js";
import { argmax, Prng } from "./sampling.js";

export { beamSearch, type BeamSearchResult } from "./beam_search.js";

/** generation_config.json as transformers writes it (HF key names; every key optional). Only the keys that
 * lowbit acts on; src/format/generation_config.ts validates the file itself. */
export interface GenerationDefaults {
  max_length?: number | null;
  max_new_tokens?: number | null;
  min_length?: number | null;
  min_new_tokens?: number | null;
  num_beams?: number | null;
  length_penalty?: number | null;
  early_stopping?: boolean | "never" | null;
  no_repeat_ngram_size?: number | null;
  repetition_penalty?: number | null;
  do_sample?: boolean | null;
  temperature?: number | null;
  top_k?: number | null;
  top_p?: number | null;
  bos_token_id?: number | null;
  eos_token_id?: number | number[] | null;
  pad_token_id?: number | null;
  decoder_start_token_id?: number | null;
  forced_bos_token_id?: number | null;
  forced_eos_token_id?: number | number[] | null;
}

/** A caller's overrides (camelCase). `null` for a forced token switches it off. */
export interface GenerationOptions {
  maxLength?: number;
  maxNewTokens?: number;
  minLength?: number;
  minNewTokens?: number;
  numBeams?: number;
  lengthPenalty?: number;
  earlyStopping?: boolean | "never";
  noRepeatNgramSize?: number;
  repetitionPenalty?: number;
  /** Sample instead of greedy/beam arg-max. Unset: true when temperature, topK, topP or seed is given (as for
   * GPT-2 in lowbit), else generation_config.json's do_sample. Temperature 0 always means no sampling. */
  doSample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  decoderStartTokenId?: number;
  eosTokenId?: number;
  padTokenId?: number;
  forcedBosTokenId?: number | null;
  forcedEosTokenId?: number | null;
}

/** What the model contributes to resolving: only for transformers' default length (20 new ids, capped) and
 * the position check. */
export interface GenerationModelLimits {
  /** Decoder positions the model has; decoding feeds positions 0 … maxLength − 2. */
  maxPositionEmbeddings?: number;
}

export interface ResolvedGeneration {
  /** Longest decoder sequence, decoder_start_token_id included. */
  maxLength: number;
  /** EOS is banned while the sequence (start token included) is shorter than this. */
  minLength: number;
  numBeams: number;
  lengthPenalty: number;
  earlyStopping: boolean | "never";
  noRepeatNgramSize: number;
  repetitionPenalty: number;
  decoderStartTokenId: number;
  eosTokenId: number;
  padTokenId: number;
  forcedBosTokenId: number | null;
  forcedEosTokenId: number | null;
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
}

/** The model side of seq2seq decoding: a batch of rows (beams), each with its own decoder KV cache, all
 * reading the same encoder output. */
export interface DecoderStepper {
  readonly vocabSize: number;
  /**
   * Appends tokens[i] to row i and returns each row's next-token logits (vocabSize floats; buffers may be
   * reused by the next call: the search copies what it keeps). The first call creates tokens.length rows at
   * decoder position 0; later calls pass exactly the current row count. May return a promise
   * (onnxruntime's run is async).
   */
  step(tokens: number[]): Float32Array[] | Promise<Float32Array[]>;
  /** Beam reordering, a gather of the KV caches: new row i continues old row from[i]; from.length rows remain. */
  reorder(from: number[]): void | Promise<void>;
}

// -------------------------------------------------------------------------------------------- resolving

const bad = (name: string, expected: string, value: unknown) =>
  new LowbitError(`invalid ${name}`, { expected, found: typeof value === "string" ? JSON.stringify(value) : String(value) });

function checkInt(name: string, v: number, min: number): number {
  if (!(Number.isInteger(v) && v >= min)) throw bad(name, `an integer >= ${min}`, v);
  return v;
}

function checkTokenId(name: string, v: unknown): number {
  if (!(typeof v === "number" && Number.isInteger(v) && v >= 0)) throw bad(name, "a token id (an integer >= 0)", v);
  return v;
}

/** eos_token_id / forced_eos_token_id may be lists in transformers; lowbit takes one id (BART has one). */
function singleId(name: string, v: number | number[]): number {
  if (Array.isArray(v)) {
    if (v.length !== 1) throw bad(name, "one token id (lists of several EOS ids are not supported)", JSON.stringify(v));
    return checkTokenId(name, v[0]);
  }
  return checkTokenId(name, v);
}

const orUndef = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v);

/**
 * Layers `options` over `defaults` (generation_config.json) over transformers' library defaults and checks
 * every value, throwing a one-line LowbitError for the first bad one.
 */
export function resolveGeneration(defaults: GenerationDefaults = {}, options: GenerationOptions = {}, model: GenerationModelLimits = {}): ResolvedGeneration {
  const d = defaults;
  const o = options;

  // Lengths (start token included). max_new_tokens wins wherever it comes from, as in _prepare_generated_length.
  const maxNewTokens = o.maxNewTokens ?? orUndef(d.max_new_tokens);
  let maxLength: number;
  if (maxNewTokens !== undefined) maxLength = checkInt("max new tokens", maxNewTokens, 1) + 1;
  else if (o.maxLength !== undefined) maxLength = o.maxLength;
  else if (orUndef(d.max_length) !== undefined) maxLength = d.max_length as number;
  else maxLength = Math.min(20 + 1, model.maxPositionEmbeddings ?? Infinity);
  checkInt("max length", maxLength, 2);
  if (model.maxPositionEmbeddings !== undefined && maxLength - 1 > model.maxPositionEmbeddings) {
    throw new LowbitError("max length too long for the model", {
      expected: `max length <= ${model.maxPositionEmbeddings + 1} (max_position_embeddings + the start token)`, found: String(maxLength),
    });
  }
  const minNewTokens = o.minNewTokens ?? orUndef(d.min_new_tokens);
  const minLength = minNewTokens !== undefined ? checkInt("min new tokens", minNewTokens, 0) + 1 : checkInt("min length", o.minLength ?? orUndef(d.min_length) ?? 0, 0);

  const numBeams = checkInt("num beams", o.numBeams ?? orUndef(d.num_beams) ?? 1, 1);
  const lengthPenalty = o.lengthPenalty ?? orUndef(d.length_penalty) ?? 1;
  if (!Number.isFinite(lengthPenalty)) throw bad("length penalty", "a finite number", lengthPenalty);
  const earlyStopping = o.earlyStopping ?? orUndef(d.early_stopping) ?? false;
  if (earlyStopping !== true && earlyStopping !== false && earlyStopping !== "never") throw bad("early stopping", 'true, false or "never"', earlyStopping);
  const noRepeatNgramSize = checkInt("no repeat ngram size", o.noRepeatNgramSize ?? orUndef(d.no_repeat_ngram_size) ?? 0, 0);
  const repetitionPenalty = o.repetitionPenalty ?? orUndef(d.repetition_penalty) ?? 1;
  if (!(Number.isFinite(repetitionPenalty) && repetitionPenalty > 0)) throw bad("repetition penalty", "a number > 0", repetitionPenalty);

  // Special tokens.
  const eosRaw = o.eosTokenId ?? orUndef(d.eos_token_id);
  if (eosRaw === undefined) throw new LowbitError("missing eos_token_id", { expected: "eos_token_id in generation_config.json or an eosTokenId option" });
  const eosTokenId = singleId("eos token id", eosRaw);
  const startRaw = o.decoderStartTokenId ?? orUndef(d.decoder_start_token_id) ?? orUndef(d.bos_token_id);
  if (startRaw === undefined) {
    throw new LowbitError("missing decoder_start_token_id", { expected: "decoder_start_token_id or bos_token_id in generation_config.json, or a decoderStartTokenId option" });
  }
  const decoderStartTokenId = checkTokenId("decoder start token id", startRaw);
  const padTokenId = checkTokenId("pad token id", o.padTokenId ?? orUndef(d.pad_token_id) ?? eosTokenId);
  const forcedBos = o.forcedBosTokenId !== undefined ? o.forcedBosTokenId : orUndef(d.forced_bos_token_id) ?? null;
  const forcedEos = o.forcedEosTokenId !== undefined ? o.forcedEosTokenId : orUndef(d.forced_eos_token_id) ?? null;
  const forcedBosTokenId = forcedBos === null ? null : checkTokenId("forced bos token id", forcedBos);
  const forcedEosTokenId = forcedEos === null ? null : singleId("forced eos token id", forcedEos);

  // Sampling.
  const temperature = o.temperature ?? orUndef(d.temperature) ?? 1;
  if (!(Number.isFinite(temperature) && temperature >= 0)) throw bad("temperature", "a number >= 0", temperature);
  const topK = checkInt("top-k", o.topK ?? orUndef(d.top_k) ?? 50, 0);
  const topP = o.topP ?? orUndef(d.top_p) ?? 1;
  if (!(Number.isFinite(topP) && topP > 0 && topP <= 1)) throw bad("top-p", "a number in (0, 1]", topP);
  const seed = o.seed ?? 0;
  if (!(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32)) throw bad("seed", "an integer in [0, 2^32)", seed);
  const asksSampling = o.temperature !== undefined || o.topK !== undefined || o.topP !== undefined || o.seed !== undefined;
  const doSample = temperature !== 0 && (o.doSample ?? (asksSampling ? true : undefined) ?? orUndef(d.do_sample) ?? false);

  return {
    maxLength, minLength, numBeams, lengthPenalty, earlyStopping, noRepeatNgramSize, repetitionPenalty,
    decoderStartTokenId, eosTokenId, padTokenId, forcedBosTokenId, forcedEosTokenId,
    doSample, temperature, topK, topP, seed,
  };
}

const HF_SETTING_NAMES: Record<string, keyof GenerationOptions> = {
  max_length: "maxLength", max_new_tokens: "maxNewTokens", min_length: "minLength", min_new_tokens: "minNewTokens",
  num_beams: "numBeams", length_penalty: "lengthPenalty", early_stopping: "earlyStopping",
  no_repeat_ngram_size: "noRepeatNgramSize", repetition_penalty: "repetitionPenalty", do_sample: "doSample",
  temperature: "temperature", top_k: "topK", top_p: "topP", decoder_start_token_id: "decoderStartTokenId",
  eos_token_id: "eosTokenId", pad_token_id: "padTokenId", forced_bos_token_id: "forcedBosTokenId",
  forced_eos_token_id: "forcedEosTokenId",
};

/**
 * Keyword arguments of a transformers `generate()` call (snake_case, JSON null for None), as the fixtures'
 * `settings` record them, turned into GenerationOptions. Unknown keys are an error: a setting we ignored
 * would make a parity test pass for the wrong reason.
 */
export function optionsFromHfSettings(settings: Record<string, unknown>): GenerationOptions {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) {
    const name = HF_SETTING_NAMES[key];
    if (name === undefined) throw new LowbitError("unsupported generate() setting", { expected: Object.keys(HF_SETTING_NAMES).join(", "), found: key });
    if (value === null && name !== "forcedBosTokenId" && name !== "forcedEosTokenId") continue; // None = not passed
    out[name] = value;
  }
  return out as GenerationOptions;
}

// ---------------------------------------------------------------------------------------- greedy / sample

/** Macrotask yield, so that an AbortSignal fired by a timer or an event is seen between steps. */
const yieldToEvents = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export async function checkAbort(signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return;
  await yieldToEvents();
  if (signal.aborted) throw signal.reason ?? new Error("aborted");
}

/** Token ids the search will write must exist in the model's vocabulary. */
export function checkIdsInVocab(g: ResolvedGeneration, vocabSize: number): void {
  const ids: [string, number | null][] = [
    ["decoder start token id", g.decoderStartTokenId], ["eos token id", g.eosTokenId],
    ["forced bos token id", g.forcedBosTokenId], ["forced eos token id", g.forcedEosTokenId],
  ];
  for (const [name, id] of ids) {
    if (id !== null && id >= vocabSize) throw bad(name, `a token id < ${vocabSize} (the model's vocabulary)`, id);
  }
}

/** A stepper must answer one row of at least vocabSize logits per token it was given. */
export function checkLogits(logits: Float32Array[], rows: number, vocabSize: number): void {
  if (logits.length !== rows || logits.some((l) => l.length < vocabSize)) {
    throw new Error(`DecoderStepper.step: expected ${rows} rows of ${vocabSize} logits, got ${logits.length} rows of ${logits.map((l) => l.length).join(", ")}`);
  }
}

/**
 * Greedy decoding (do_sample false) or multinomial sampling with lowbit's seeded generator (do_sample true),
 * on one row, as transformers' `_sample`. Yields each new id (the final EOS too) and returns the whole
 * sequence, decoder_start_token_id first. numBeams is not looked at: callers route numBeams > 1 to beamSearch.
 */
export async function* decodeGreedyOrSample(stepper: DecoderStepper, g: ResolvedGeneration, signal?: AbortSignal): AsyncGenerator<number, number[]> {
  const V = stepper.vocabSize;
  checkIdsInVocab(g, V);
  const rng = new Prng(g.seed);
  const sequence = [g.decoderStartTokenId];
  const scores = new Float32Array(V);
  while (true) {
    await checkAbort(signal);
    const logits = await stepper.step([sequence[sequence.length - 1]]);
    checkLogits(logits, 1, V);
    scores.set(logits[0].subarray(0, V));
    applyProcessors(scores, sequence, g);
    let id: number;
    if (g.doSample) {
      id = sampleFrom(scores, g, rng);
    } else {
      id = argmax(scores);
    }
    sequence.push(id);
    yield id;
    if (id === g.eosTokenId || sequence.length >= g.maxLength) return sequence;
  }
}

export interface GenerationResult {
  /** Best first, each starting with decoder_start_token_id; one sequence for greedy and sampling. */
  sequences: number[][];
  /** Beam search only: each sequence's score (sum of log-probabilities / generated length ** length_penalty). */
  scores?: number[];
}

/** The whole decode as transformers' generate() picks it: beam search when numBeams > 1, else greedy or sampling. */
export async function runGeneration(stepper: DecoderStepper, g: ResolvedGeneration, signal?: AbortSignal): Promise<GenerationResult> {
  if (g.numBeams > 1) return beamSearch(stepper, g, signal);
  const it = decodeGreedyOrSample(stepper, g, signal);
  let r = await it.next();
  while (!r.done) r = await it.next();
  return { sequences: [r.value] };
}
