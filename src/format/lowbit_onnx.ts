// The lowbit ONNX file (docs/FORMAT.md §3, §4): its metadata schema and version, the weight manifest, the
// content checksum, and the reader that validates all of it against the config before anything is used.
// One reader for both families: a GPT-2 file holds the whole model; a BART export is two files, the
// encoder and the merged decoder (`lowbit.component`), each with the manifest of its own part.
// Shared by the exporter (which writes what this describes), `lowbit inspect`, the reference forward and
// the runtime, so it uses no Node built-ins (readModelFile, for Node, lives in node_io.ts).
//
// Everything is checked before a byte is copied anywhere: metadata types and ranges (gpt2_config.ts,
// bart_config.ts, generation_config.ts, quantization.ts), that the manifest lists exactly the tensors the config implies with the shapes it
// implies, and that each stored initializer has the data type, dims and byte length its entry says.

import { LowbitError } from "../errors.js";
import { parseBpeFiles, tokenizerFitsModel, type BpeFiles } from "./bpe_files.js";
import {
  checkBartTokenizer, isModelEmbeddingWeight, modelExpectedShapes, modelQuantizedWeightAxes, parseStoredBartConfig, type BartPart, type ModelConfig,
} from "./bart_config.js";
import { checkGenerationTokens, parseGenerationConfig, type GenerationDefaults } from "./generation_config.js";
import { parseStoredGpt2Config, type Gpt2Config } from "./gpt2_config.js";
import { decodeModel, DataType, readModelParts, type MetadataEntry, type ModelProto } from "./onnx_proto.js";
import { parseFileQuantization, type FileQuantization } from "./quantization.js";
import { dequantizeMatrix, scaleShapeOf } from "./quantizer.js";
import { packedBytes, QUANT_FORMATS, unpackCodes, type WeightBits } from "./quant_formats.js";
import { checkFinite } from "./safetensors.js";
import { intIn, oneOf, parseJson, parseOrThrow, str, v } from "./schema.js";

export const LOWBIT_ONNX_FORMAT = "lowbit-onnx";
/**
 * 2 added `lowbit.checksum`. Version 1 files still parse (scripts/upgrade_model.ts seals them), but
 * verifyChecksum refuses them, so they load only with the check explicitly skipped.
 */
export const LOWBIT_ONNX_VERSION = 2;
const READABLE_VERSIONS = ["1", "2"];

/** Metadata keys (metadata_props) of a lowbit ONNX file. */
export const META = {
  format: "lowbit.format",
  formatVersion: "lowbit.format_version",
  modelType: "lowbit.model_type",
  config: "lowbit.config",
  quantization: "lowbit.quantization",
  weights: "lowbit.weights",
  vocab: "lowbit.tokenizer.vocab",
  merges: "lowbit.tokenizer.merges",
  checksum: "lowbit.checksum",
  /** BART only: "encoder" or "decoder", the part of the model the file holds. */
  component: "lowbit.component",
  /** BART decoder only (optional): the generation defaults, generation_config.json's keys. */
  generation: "lowbit.generation",
} as const;

const MODEL_TYPES = ["gpt2", "bart"] as const;
const COMPONENTS = ["encoder", "decoder"] as const;

// ─── weight manifest ────────────────────────────────────────────────────────────────────────────

/** How one weight is stored in the file: the runtime and the reference read this, never the graph. */
export interface WeightEntry {
  /** Checkpoint name, e.g. `h.0.attn.c_attn.weight`, `decoder.layers.0.fc1.weight`. */
  name: string;
  /** Logical shape, input-major: (K, N) for linear weights (GPT-2's Conv1D layout; BART's nn.Linear transposed), (V, C) for embeddings. */
  shape: number[];
  /**
   * float: fp32 initializer `initializer`.
   * dq:    codes `initializer` (INT2/INT4/INT8, same shape) and `scale` for DequantizeLinear.
   * nbits: MatMulNBits layout: uint8 (N, K / block_size, block_size · bits / 8) of codes + 2^(bits−1),
   *        LSB-first, and one fp32 scale per (n, block) in `scale`; only for (K, N) weights.
   */
  layout: "float" | "dq" | "nbits";
  initializer: string;
  scale?: string;
  bits?: WeightBits;
  input_axis?: 0 | 1;
  /** Input features per scale; 0 for one scale per module. */
  group_size?: number;
  scale_shape?: number[];
  block_size?: number;
}

const dim = intIn(0, 2 ** 31 - 1);
const WeightEntrySchema = v.strictObject(
  {
    name: str(),
    shape: v.array(dim, "a list of dims"),
    layout: oneOf(["float", "dq", "nbits"] as const),
    initializer: str(),
    scale: v.optional(str()),
    bits: v.optional(oneOf([2, 4, 8] as const)),
    input_axis: v.optional(oneOf([0, 1] as const)),
    group_size: v.optional(intIn(0, 2 ** 16)),
    scale_shape: v.optional(v.array(dim, "a list of dims")),
    block_size: v.optional(oneOf([16, 32, 64, 128, 256] as const)),
  },
  "a weight entry with only the keys lowbit writes",
);
const ManifestSchema = v.array(WeightEntrySchema, "a list of weight entries");

// ─── the file in memory ─────────────────────────────────────────────────────────────────────────

export interface StoredInitializer {
  name: string;
  dataType: number;
  dims: number[];
  raw: Uint8Array;
}

/** A parsed file; `C` narrows the config where a caller has checked the family (isGpt2File). */
export interface LowbitModelFile<C extends ModelConfig = ModelConfig> {
  file: string;
  /** The file's bytes, as read (initializer data are views into them). */
  bytes: Uint8Array;
  formatVersion: number;
  /** Discriminate on `config.model_type`. */
  config: C;
  /** BART only: which of the two files this is. */
  component?: BartPart;
  /** BART decoder only, when the file carries `lowbit.generation`. */
  generation?: GenerationDefaults;
  quantization: FileQuantization;
  weights: WeightEntry[];
  /** The tokenizer files, parsed and validated (their text is in `metadata`). */
  bpe: BpeFiles;
  initializers: Map<string, StoredInitializer>;
  /** The metadata, key by key (each key once). */
  metadata: Map<string, string>;
  /** The whole ModelProto, graph included: decoded (protobufjs) on first use, since loading never needs it. */
  readonly model: ModelProto;
}

export function isGpt2File(f: LowbitModelFile): f is LowbitModelFile<Gpt2Config> {
  return f.config.model_type === "gpt2";
}

export function parseModelFile(bytes: Uint8Array, file: string): LowbitModelFile {
  // Only metadata_props and the initializers are read here; the whole ModelProto (graph included) is
  // decoded by protobufjs on first use of `model` (inspect, scripts), which the runtime never asks for.
  const parts = readModelParts(bytes, file);
  const meta = new Map<string, string>();
  const metaBytes = new Map<string, MetadataEntry>();
  for (const p of parts.metadata) {
    const key = p.key;
    if (meta.has(key)) throw new LowbitError("metadata key given twice", { file, expected: "each metadata_props key once", found: `${JSON.stringify(key)} twice` });
    meta.set(key, p.value);
    metaBytes.set(key, p);
  }
  if (meta.get(META.format) !== LOWBIT_ONNX_FORMAT) {
    throw new LowbitError("not a lowbit model: metadata_props has no lowbit.format", { file, hint: "export it with `lowbit export`" });
  }
  const version = meta.get(META.formatVersion);
  if (version === undefined || !READABLE_VERSIONS.includes(version)) {
    throw new LowbitError("unsupported lowbit file version", { file, expected: READABLE_VERSIONS.join(" or "), found: String(version), hint: "re-export it with this lowbit version" });
  }
  const text = (key: string): string => {
    const value = meta.get(key);
    if (value === undefined) throw new LowbitError(`missing metadata ${key}`, { file, hint: "a cut or hand-edited file? re-export it" });
    return value;
  };
  const modelType = parseOrThrow(oneOf(MODEL_TYPES), text(META.modelType), { file, field: META.modelType });
  if (version !== "1" && !CHECKSUM_PATTERN.test(text(META.checksum))) {
    throw new LowbitError(`malformed ${META.checksum}`, { file, expected: "sha256:<64 hex digits>", found: JSON.stringify(text(META.checksum).slice(0, 80)) });
  }
  const rawConfig = parseJson(text(META.config), file, `metadata ${META.config}`);
  const config: ModelConfig = modelType === "bart" ? parseStoredBartConfig(rawConfig, file) : parseStoredGpt2Config(rawConfig, file);
  // GPT-2 files have neither key (and are byte for byte what they were before BART); BART's need the part.
  let component: BartPart | undefined;
  let generation: GenerationDefaults | undefined;
  if (modelType === "gpt2") {
    for (const key of [META.component, META.generation]) {
      if (meta.has(key)) throw new LowbitError(`metadata ${key} in a GPT-2 file`, { file, expected: "no such key (BART files only)", found: JSON.stringify(meta.get(key)!.slice(0, 40)) });
    }
  } else {
    component = parseOrThrow(oneOf(COMPONENTS), text(META.component), { file, field: META.component });
    const generationText = meta.get(META.generation);
    if (generationText !== undefined) {
      if (component !== "decoder") throw new LowbitError(`metadata ${META.generation} in the encoder file`, { file, expected: "it in the decoder file only", found: "it here" });
      generation = parseGenerationConfig(parseJson(generationText, file, `metadata ${META.generation}`), file, META.generation);
      checkGenerationTokens(generation, config.vocab_size, file, META.generation);
    }
  }
  const quantization = parseFileQuantization(parseJson(text(META.quantization), file, `metadata ${META.quantization}`), file);
  const weights = parseOrThrow(ManifestSchema, parseJson(text(META.weights), file, `metadata ${META.weights}`), { file, field: META.weights }) as WeightEntry[];

  const initializers = new Map<string, StoredInitializer>();
  for (const t of parts.initializers) {
    const name = t.name;
    if (initializers.has(name)) throw new LowbitError("initializer given twice", { file, tensor: name, expected: "one initializer per name", found: "two" });
    if (t.dataLocation === 1) throw new LowbitError("initializer stored outside the file", { file, tensor: name, expected: "raw_data inside the .onnx", found: "external data" });
    initializers.set(name, { name, dataType: t.dataType, dims: t.dims, raw: t.rawData });
  }
  checkManifest(weights, config, component, quantization, initializers, file);

  const vocab = metaBytes.get(META.vocab);
  const merges = metaBytes.get(META.merges);
  const utf8 = vocab?.valueUtf8 && merges?.valueUtf8 ? { vocab: vocab.valueBytes, merges: merges.valueBytes } : undefined;
  const bpe = parseBpeFiles(text(META.vocab), text(META.merges), { vocab: `${file}: ${META.vocab}`, merges: `${file}: ${META.merges}` }, utf8);
  if (!tokenizerFitsModel(bpe, config.vocab_size)) {
    throw new LowbitError("tokenizer is larger than the model's vocabulary", { file, expected: `ids below vocab_size ${config.vocab_size}`, found: `ids up to ${bpe.vocabSize - 1}` });
  }
  if (config.model_type === "bart") checkBartTokenizer(bpe, config, `${file}: ${META.vocab}`);
  let model: ModelProto | undefined;
  return {
    file, bytes, formatVersion: Number(version), initializers, metadata: meta, weights, config,
    ...(component !== undefined ? { component } : {}), ...(generation !== undefined ? { generation } : {}), quantization, bpe,
    get model(): ModelProto {
      return (model ??= decodeModel(bytes, file));
    },
  };
}

/**
 * The manifest lists exactly the tensors the config implies (for BART, those of the file's `part`), each
 * with the implied shape, a layout that the quantization settings allow, and stored initializers whose
 * type, dims and byte length match. One code path for both families: only the tables differ.
 */
export function checkManifest(
  weights: WeightEntry[], c: ModelConfig, part: BartPart | undefined, q: FileQuantization, initializers: Map<string, StoredInitializer>, file: string,
): void {
  const shapes = modelExpectedShapes(c, part);
  const axes = modelQuantizedWeightAxes(c, part);
  const isEmbeddingWeight = (name: string) => isModelEmbeddingWeight(c, name);
  const family = c.model_type === "bart" ? `BART ${part ?? ""}`.trimEnd() : "GPT-2";
  const seen = new Set<string>();
  const usedInitializers = new Set<string>();
  for (const w of weights) {
    const fail = (problem: string, expected: string, found: string) => new LowbitError(problem, { file, tensor: w.name, expected, found });
    const shape = shapes.get(w.name);
    if (shape === undefined) throw fail("weight manifest names a tensor the config does not have", `one of the ${shapes.size} ${family} tensors`, JSON.stringify(w.name));
    if (seen.has(w.name)) throw fail("weight listed twice in the manifest", "each weight once", "twice");
    seen.add(w.name);
    if (!sameDims(w.shape, shape)) throw fail("weight shape does not match the config", `[${shape.join(", ")}]`, `[${w.shape.join(", ")}]`);
    const numel = shape.reduce((a, b) => a * b, 1);
    const stored = (name: string | undefined, what: string): StoredInitializer => {
      const init = name === undefined ? undefined : initializers.get(name);
      if (init === undefined) throw fail(`weight manifest names a missing ${what} initializer`, "an initializer of that name", JSON.stringify(name ?? null));
      if (usedInitializers.has(init.name)) throw fail("initializer used by two weights", "one weight per initializer", JSON.stringify(init.name));
      usedInitializers.add(init.name);
      return init;
    };
    const expectInit = (init: StoredInitializer, dataType: number, dims: number[], bytes: number) => {
      const where = { file, tensor: init.name };
      if (init.dataType !== dataType) throw new LowbitError("initializer has the wrong data type", { ...where, expected: `ONNX type ${dataType}`, found: String(init.dataType) });
      if (!sameDims(init.dims, dims)) throw new LowbitError("initializer has the wrong dims", { ...where, expected: `[${dims.join(", ")}]`, found: `[${init.dims.join(", ")}]` });
      if (init.raw.byteLength !== bytes) {
        throw new LowbitError("stored tensor has the wrong size (corrupted or truncated file?)", { ...where, expected: `${bytes} bytes`, found: `${init.raw.byteLength} bytes` });
      }
    };

    if ((w.layout === "nbits") !== (q.weight_format === "nbits" && w.layout !== "float" && axes.get(w.name) === 0)) {
      throw fail("weight layout does not match lowbit.quantization.weight_format", q.weight_format === "nbits" && axes.get(w.name) === 0 ? "nbits" : "dq or float", w.layout);
    }
    const axis = axes.get(w.name);
    const bitsAllowed = axis === undefined ? 32 : isEmbeddingWeight(w.name) ? q.embedding_bits : q.weight_bits;
    if (w.layout === "float") {
      if (bitsAllowed !== 32) throw fail("weight stored in fp32 where the file's quantization says otherwise", `${bitsAllowed}-bit codes`, "fp32");
      if (w.scale !== undefined || w.bits !== undefined) throw fail("fp32 weight entry carries quantization fields", "no scale or bits", "them");
      const init = stored(w.initializer, "weight");
      expectInit(init, DataType.FLOAT, shape, 4 * numel);
      checkFiniteStored(init, file);
      continue;
    }
    // dq and nbits: a quantized matrix.
    if (w.bits === undefined || w.bits !== bitsAllowed) throw fail("weight's bit width does not match the file's quantization", String(bitsAllowed), String(w.bits ?? "none"));
    if (w.input_axis !== axis) throw fail("weight's input axis is wrong", String(axis), String(w.input_axis));
    if (w.group_size !== q.group_size) throw fail("weight's group size does not match the file's quantization", String(q.group_size), String(w.group_size));
    const bits = w.bits;
    const [rows, cols] = shape;
    const G = q.group_size;
    if (w.layout === "dq") {
      const scaleShape = scaleShapeOf(shape, axis!, G);
      if (w.scale_shape === undefined || !sameDims(w.scale_shape, scaleShape)) throw fail("weight's scale shape is wrong", `[${scaleShape.join(", ")}]`, `[${(w.scale_shape ?? []).join(", ")}]`);
      if (w.block_size !== undefined) throw fail("dq weight entry carries a block_size", "none", String(w.block_size));
      const codes = stored(w.initializer, "codes");
      expectInit(codes, QUANT_FORMATS[bits].onnxDataType, shape, packedBytes(numel, bits));
      checkCodes(codes, bits, "dq", file);
      const steps = stored(w.scale, "scale");
      expectInit(steps, DataType.FLOAT, scaleShape, 4 * scaleShape.reduce((a, b) => a * b, 1));
      checkSteps(steps, file);
    } else {
      if (axis !== 0) throw fail("MatMulNBits layout for a weight that is not a linear layer", "dq or float", "nbits");
      const bs = w.block_size;
      if (bs === undefined || (G > 0 && bs !== G)) throw fail("weight's block_size is wrong", G > 0 ? String(G) : "16|32|64|128|256", String(bs));
      const blocks = Math.ceil(rows / bs);
      if (w.scale_shape === undefined || !sameDims(w.scale_shape, [cols * blocks])) throw fail("weight's scale shape is wrong", `[${cols * blocks}]`, `[${(w.scale_shape ?? []).join(", ")}]`);
      const codes = stored(w.initializer, "codes");
      expectInit(codes, DataType.UINT8, [cols, blocks, (bs * bits) / 8], cols * blocks * ((bs * bits) / 8));
      checkCodes(codes, bits, "nbits", file);
      const steps = stored(w.scale, "scale");
      expectInit(steps, DataType.FLOAT, [cols * blocks], 4 * cols * blocks);
      checkSteps(steps, file);
    }
  }
  for (const name of shapes.keys()) {
    if (!seen.has(name)) throw new LowbitError("weight manifest lacks a tensor the config implies", { file, tensor: name, expected: "an entry for it", found: "none" });
  }
}

/**
 * Every b-bit field must be a code in [−k, k]: for dq, two's complement, so the one pattern out of range is
 * the most negative (2-bit 0b10 = −2, 4-bit 0b1000 = −8, 8-bit 0x80 = −128); for nbits, code + 2^(b−1)
 * unsigned, so the one pattern out of range is 0. `badFields(word)` is nonzero where a 32-bit word of
 * packed fields holds such a pattern, by carry-free bit tricks per field (a 5 MB file's codes take ~2 ms
 * this way, against ~20 ms byte by byte through a lookup table):
 *   hi = the top bit of each field, lo = the others; (lo + lo-mask) sets the top bit iff lo ≠ 0, and never
 *   carries into the next field (at most 2·(2^(b−1) − 1) < 2^b).
 */
export function fieldChecker(bits: WeightBits, layout: "dq" | "nbits"): (word: number) => number {
  const top = bits === 2 ? 0xaaaaaaaa : bits === 4 ? 0x88888888 : 0x80808080; // top bit of each field
  const low = ~top >>> 0; // the other bits
  // Top bit set where the field's lower bits are not all zero.
  const lowNonzero = (w: number) => ((w & low) + low) & top;
  return layout === "dq"
    ? (w) => w & top & ~lowNonzero(w) // top bit set, the rest zero: the most negative code
    : (w) => ~(w | lowNonzero(w)) & top; // nothing set at all: unsigned 0
}

/** Words per block of the code check: a block's fields are OR-ed together, and only a bad block is searched. */
const CODE_BLOCK_WORDS = 4096;

/**
 * fieldChecker's tricks written out inline and OR-ed over words [from, to): nonzero in a field's top bit
 * where some word has a bad field there. Calling `bad` per word costs 4-5x more (46 vs 11 ms on the 31 MB
 * of codes in GPT-2-124M at 2 bits); and a block per call, rather than one loop over a tensor, is compiled
 * by V8 after a few calls instead of running ~3x slower until on-stack replacement (a load runs it cold).
 */
function badFieldsIn(body: Int32Array, from: number, to: number, top: number, dq: boolean): number {
  const low = ~top;
  let any = 0;
  if (dq) {
    for (let i = from; i < to; i++) {
      const w = body[i];
      any |= w & ~((w & low) + low); // top bit set and the rest zero
    }
  } else {
    for (let i = from; i < to; i++) {
      const w = body[i];
      any |= ~(w | ((w & low) + low)); // no bit set
    }
  }
  return any;
}

function checkCodes(init: StoredInitializer, bits: WeightBits, layout: "dq" | "nbits", file: string): void {
  const bad = fieldChecker(bits, layout);
  const raw = init.raw;
  const fail = (offset: number) => {
    const k = QUANT_FORMATS[bits].maxCode;
    return new LowbitError(`code out of range for ${bits}-bit weights`, { file, tensor: init.name, expected: `codes in [${-k}, ${k}]`, found: `byte ${raw[offset]} at offset ${offset}` });
  };
  // Bytes before the first 4-byte boundary and after the last whole word go one by one (a byte as a word's
  // low byte: its fields are checked the same way, the zero upper bytes never look bad for dq, and are
  // masked off for nbits).
  const head = Math.min(raw.length, (4 - (raw.byteOffset % 4)) % 4);
  const words = (raw.length - head) >> 2;
  const byteBad = (i: number) => (bad(raw[i]) & 0xff) !== 0;
  for (let i = 0; i < head; i++) if (byteBad(i)) throw fail(i);
  const body = new Int32Array(raw.buffer, raw.byteOffset + head, words);
  const top = bits === 2 ? 0xaaaaaaaa | 0 : bits === 4 ? 0x88888888 | 0 : 0x80808080 | 0;
  const dq = layout === "dq";
  for (let from = 0; from < words; from += CODE_BLOCK_WORDS) {
    const to = Math.min(words, from + CODE_BLOCK_WORDS);
    if ((badFieldsIn(body, from, to, top, dq) & top) === 0) continue;
    for (let i = from; i < to; i++) {
      if (bad(body[i]) !== 0) {
        for (let j = head + 4 * i; j < head + 4 * i + 4; j++) if (byteBad(j)) throw fail(j);
      }
    }
  }
  for (let i = head + 4 * words; i < raw.length; i++) if (byteBad(i)) throw fail(i);
}

/** Steps (scales) are finite and ≥ 0, as the quantizer makes them (0 only for an all-zero block). */
function checkSteps(init: StoredInitializer, file: string): void {
  const raw = init.raw;
  // Read in place: protobuf puts most tensors at unaligned offsets, where a Float32Array would need a copy.
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < raw.byteLength >> 2; i++) {
    const step = view.getFloat32(4 * i, true);
    if (!(step >= 0 && step < Infinity)) throw new LowbitError("bad scale", { file, tensor: init.name, expected: "finite steps >= 0", found: `${step} at index ${i}` });
  }
}

/**
 * checkFinite on a stored fp32 tensor, in place: a Float32Array view where it is aligned, else its bytes,
 * where a float is ±Infinity or NaN exactly when its exponent bits (byte 3's low 7 and byte 2's top bit,
 * little-endian) are all set. The copy that an unaligned Float32Array needs (GPT-2-124M: 3 MB of wpe and 150
 * small tensors) cost more in the garbage collections it brought on than in the copying.
 */
function checkFiniteStored(init: StoredInitializer, file: string): void {
  const raw = init.raw;
  if (raw.byteOffset % 4 === 0) {
    checkFinite(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength >> 2), file, init.name);
    return;
  }
  for (let i = 3; i < raw.byteLength; i += 4) {
    if ((raw[i] & 0x7f) === 0x7f && (raw[i - 1] & 0x80) !== 0) {
      const at = (i - 3) >> 2;
      const value = new DataView(raw.buffer, raw.byteOffset).getFloat32(4 * at, true);
      throw new LowbitError("tensor holds a non-finite value", { file, tensor: init.name, expected: "finite numbers", found: `${value} at index ${at}` }); // checkFinite's words
    }
  }
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

// ─── checksum ───────────────────────────────────────────────────────────────────────────────────
//
// lowbit.checksum = "sha256:" + hex(SHA-256(SHA-256(before) ‖ SHA-256(after))), where `before` and `after`
// are the file's bytes before and after the checksum's own 71-character value (its last occurrence in the
// file; the exporter writes the entry last). So it covers every byte of the file but itself: weights,
// metadata, tokenizer, and the graph that other runtimes run, and a flipped bit or a cut file anywhere is
// refused instead of run. Hashing the two halves where they lie needs no copy of the file, and works with
// one-shot hashes (SubtleCrypto has no incremental API).
//
// The exporter encodes the file with CHECKSUM_PLACEHOLDER as the value, then seals it: hashes the halves
// around the placeholder and writes the digest over it (same length, so no protobuf length changes).

export const CHECKSUM_PLACEHOLDER = `sha256:${"0".repeat(64)}`;
const CHECKSUM_PATTERN = /^sha256:[0-9a-f]{64}$/;

/** Offset of the last occurrence of `value` (ASCII) in `bytes`, or −1. */
function lastIndexOfAscii(bytes: Uint8Array, value: string): number {
  const n = value.length;
  const first = value.charCodeAt(0);
  outer: for (let i = bytes.byteLength - n; i >= 0; i--) {
    if (bytes[i] !== first) continue;
    for (let j = 1; j < n; j++) if (bytes[i + j] !== value.charCodeAt(j)) continue outer;
    return i;
  }
  return -1;
}

/** The two halves of the file around the checksum's value. */
function checksumHalves(bytes: Uint8Array, value: string): [Uint8Array, Uint8Array] | undefined {
  const at = lastIndexOfAscii(bytes, value);
  return at < 0 ? undefined : [bytes.subarray(0, at), bytes.subarray(at + value.length)];
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function combine(d1: Uint8Array, d2: Uint8Array): Uint8Array<ArrayBuffer> {
  const both = new Uint8Array(64);
  both.set(d1, 0);
  both.set(d2, 32);
  return both;
}

/**
 * Writes the checksum over the placeholder in an encoded file, in place, with a synchronous SHA-256 (the
 * exporter's, Node's crypto). Returns the value written.
 */
export function sealChecksum(bytes: Uint8Array, sha256: (data: Uint8Array) => Uint8Array): string {
  const halves = checksumHalves(bytes, CHECKSUM_PLACEHOLDER);
  if (halves === undefined) throw new Error("internal: the encoded file has no checksum placeholder");
  const value = `sha256:${hex(sha256(combine(sha256(halves[0]), sha256(halves[1]))))}`;
  const at = halves[0].byteLength;
  for (let i = 0; i < value.length; i++) bytes[at + i] = value.charCodeAt(i);
  return value;
}

/** SHA-256 through the Web Crypto API (browsers in secure contexts, Node ≥ 19 as globalThis.crypto). */
async function subtleSha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}

/** An incremental SHA-256, as Node's crypto.createHash("sha256") is one. */
export interface Sha256 {
  update(data: Uint8Array): Sha256;
  digest(): Uint8Array;
}

/** A running SHA-256 of the file's first `length` bytes, fed while the file was read (src/runtime/sources.ts). */
export interface ChecksumPrefix {
  hash: Sha256;
  length: number;
}

export interface ChecksumOptions {
  /**
   * A fresh incremental SHA-256 (Node's crypto), hashing the file where it lies. Without it, SubtleCrypto,
   * whose digest() copies its input first: on a 34 MB file 52 ms against 27 ms (Node 20, SHA-NI).
   */
  sha256?: () => Sha256;
  /** The first bytes already hashed (with `sha256`'s hash) while the file was read; used once. */
  prefix?: ChecksumPrefix;
}

/**
 * Recomputes the checksum and refuses a file whose bytes differ from what was exported, or that has none
 * (format version 1). Skip it only where the bytes are known good (`verifyChecksum: false`).
 */
export async function verifyChecksum(f: LowbitModelFile, options: ChecksumOptions = {}): Promise<void> {
  if (f.formatVersion < 2) {
    throw new LowbitError(`format version ${f.formatVersion} has no checksum, so the file cannot be verified`, {
      file: f.file, hint: "re-export it, or add one with `npx tsx scripts/upgrade_model.ts FILE`; or load it unverified with --no-verify-checksum",
    });
  }
  const { sha256, prefix } = options;
  if (sha256 === undefined && globalThis.crypto?.subtle === undefined) {
    throw new LowbitError("cannot verify the file's checksum: this page has no SubtleCrypto (not a secure context)", {
      file: f.file, hint: "serve the page over https or from localhost, or load with verifyChecksum: false",
    });
  }
  const expected = f.metadata.get(META.checksum)!;
  const mismatch = (found: string) => new LowbitError("content does not match the file's checksum (corrupted or altered file?)", {
    file: f.file, expected: expected.slice(0, 23), found, hint: "download or export it again",
  });
  const halves = checksumHalves(f.bytes, expected);
  if (halves === undefined) throw mismatch("bytes without that value"); // changed since they were parsed
  const [before, after] = halves;
  let digest: Uint8Array;
  if (sha256 !== undefined) {
    // The prefix covers the file up to near its end; the checksum's value is the last metadata entry.
    const first = prefix !== undefined && prefix.length <= before.byteLength
      ? prefix.hash.update(f.bytes.subarray(prefix.length, before.byteLength)).digest()
      : sha256().update(before).digest();
    digest = sha256().update(combine(first, sha256().update(after).digest())).digest();
  } else {
    digest = await subtleSha256(combine(await subtleSha256(before), await subtleSha256(after)));
  }
  const found = `sha256:${hex(digest)}`;
  if (found !== expected) throw mismatch(found.slice(0, 23));
}

// ─── reading weights back as fp32 ───────────────────────────────────────────────────────────────

function floatsOf(init: StoredInitializer): Float32Array {
  const raw = init.raw;
  // A copy where unaligned: Uint8Array.prototype.slice, since on a Node Buffer (protobufjs' bytes) .slice() is a view.
  return raw.byteOffset % 4 === 0 ? new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4) : new Float32Array(Uint8Array.prototype.slice.call(raw).buffer);
}

/** A weight as fp32 in its Hugging Face layout: dequantized (code · step) where it is stored quantized. */
export function dequantizeWeight(f: LowbitModelFile, w: WeightEntry): Float32Array {
  const data = f.initializers.get(w.initializer)!;
  if (w.layout === "float") return floatsOf(data);
  const scale = floatsOf(f.initializers.get(w.scale!)!);
  const bits = w.bits as WeightBits;
  const [rows, cols] = w.shape;
  if (w.layout === "dq") {
    const codes = unpackCodes(data.raw, bits, rows * cols);
    return dequantizeMatrix({ bits, shape: [rows, cols], inputAxis: w.input_axis!, groupSize: w.group_size!, codes, scaleShape: w.scale_shape!, scale });
  }
  // nbits: (N, blocks, blob) of unsigned codes with zero point 2^(bits−1), for a (K, N) weight.
  const [K, N] = [rows, cols];
  const bs = w.block_size!;
  const blocks = Math.ceil(K / bs);
  const perByte = 8 / bits;
  const zeroPoint = 1 << (bits - 1);
  const out = new Float32Array(K * N);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / bs);
      const j = k % bs;
      const byte = data.raw[(n * blocks + b) * ((bs * bits) / 8) + Math.floor(j / perByte)];
      const code = ((byte >> ((j % perByte) * bits)) & ((1 << bits) - 1)) - zeroPoint;
      out[k * N + n] = Math.fround(code * scale[n * blocks + b]);
    }
  }
  return out;
}
