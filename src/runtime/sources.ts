// Where a model's bytes come from, for loadModel(): one lowbit .onnx file (a path, a URL or bytes; GPT-2), or a
// Hugging Face folder (src/format/hf_layout.ts; a directory path, a URL ending in "/", or its files as bytes),
// which holds GPT-2's onnx/model*.onnx or BART's encoder and merged decoder. Every file is parsed and checked by
// src/format/ before use; the two BART files must come from one export. No Node built-ins at the top level:
// the same code runs in browsers (Node-only reads import Node's modules at run time: node_builtins.ts).

import { LowbitError } from "../errors.js";
import { parseHfBartConfig } from "../format/bart_config.js";
import { checkGenerationTokens, parseGenerationConfig, type GenerationDefaults } from "../format/generation_config.js";
import { parseHfGpt2Config } from "../format/gpt2_config.js";
import { checkDtype, dtypeForBits, onnxFiles, parseFolderConfig, type Dtype } from "../format/hf_layout.js";
import { META, parseModelFile, verifyChecksum, type ChecksumPrefix, type LowbitModelFile, type Sha256 } from "../format/lowbit_onnx.js";
import { parseJson } from "../format/schema.js";
import { importNode, isNode } from "./node_builtins.js";

/** A folder's files as bytes, by path relative to the folder ("config.json", "onnx/encoder_model_q2.onnx", …). */
export interface FolderFiles {
  files: Record<string, Uint8Array>;
}

export type ModelSource = string | URL | ArrayBuffer | Uint8Array | FolderFiles;

export interface SourceOptions {
  /** Which precision of a folder to load (fp32|q8|q4|q2); by default its config.json's transformers.js_config.dtype, else fp32. */
  dtype?: string;
  /** Check each file's lowbit.checksum (default true). */
  verifyChecksum?: boolean;
}

export type ModelFiles =
  | { modelType: "gpt2"; model: LowbitModelFile }
  | { modelType: "bart"; encoder: LowbitModelFile; decoder: LowbitModelFile; generation?: GenerationDefaults };

/** A folder (or single file) to read from: returns a file's bytes, or undefined where it does not exist. */
type Reader = (relative: string) => Promise<Uint8Array | undefined>;

/** Node's incremental SHA-256, where there is Node: it hashes a buffer where it lies (see ChecksumOptions). */
async function nodeSha256(): Promise<(() => Sha256) | undefined> {
  if (!isNode) return undefined;
  const { createHash } = await importNode("crypto");
  return () => createHash("sha256");
}

/** The hash of the first bytes of a model file, made while it was read (readPath), by the file's bytes. */
const checksumPrefixes = new WeakMap<Uint8Array, ChecksumPrefix>();

/** The running hash readSource made of these bytes (once: finishing it consumes it), for verifyChecksum. */
export function takeChecksumPrefix(bytes: Uint8Array): ChecksumPrefix | undefined {
  const prefix = checksumPrefixes.get(bytes);
  checksumPrefixes.delete(bytes);
  return prefix;
}

/** Bytes per read: the hash of one chunk runs while the next one is read. */
const READ_CHUNK = 4 << 20;
/** The end of a file left out of the hash made while reading: the checksum's value lies there (its last metadata entry). */
const UNHASHED_TAIL = 64 << 10;

/**
 * A file's bytes, read into one buffer (fs.readFile's Buffer, copied into a Uint8Array, cost a second 34 MB
 * copy). With `sha256`, the file's bytes up to its last 64 KiB are hashed while they are read, a chunk behind
 * the read, so that verifying the checksum costs little more than the read (checksumPrefixes).
 */
async function readPath(path: string | URL, what: string, optional: boolean, sha256?: () => Sha256): Promise<Uint8Array | undefined> {
  const fs = await importNode("fs/promises");
  let handle: Awaited<ReturnType<typeof fs.open>> | undefined;
  try {
    handle = await fs.open(path, "r");
    const stat = await handle.stat();
    // Not a regular file (a pipe, /dev/stdin): its size is not known up front.
    if (!stat.isFile()) return new Uint8Array(await handle.readFile());
    const size = stat.size;
    const bytes = new Uint8Array(size);
    const hash = sha256?.();
    const hashEnd = Math.max(0, size - UNHASHED_TAIL);
    const readAt = (at: number) => handle!.read(bytes, at, Math.min(READ_CHUNK, size - at), at);
    let done = 0;
    let hashed = 0;
    let pending = size > 0 ? readAt(0) : undefined;
    while (pending !== undefined) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break; // the file shrank while it was read
      done += bytesRead;
      pending = done < size ? readAt(done) : undefined;
      const upTo = Math.min(done, hashEnd);
      if (hash !== undefined && upTo > hashed) {
        hash.update(bytes.subarray(hashed, upTo));
        hashed = upTo;
      }
    }
    const read = done === size ? bytes : bytes.subarray(0, done);
    if (hash !== undefined) checksumPrefixes.set(read, { hash, length: hashed });
    return read;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (optional && code === "ENOENT") return undefined;
    throw new LowbitError(`cannot read ${what}`, { file: String(path), found: code ?? String(err) });
  } finally {
    await handle?.close();
  }
}

async function fetchBytes(url: URL, what: string, optional: boolean): Promise<Uint8Array | undefined> {
  const response = await fetch(url);
  if (optional && response.status === 404) return undefined;
  if (!response.ok) throw new LowbitError(`cannot fetch ${what}`, { file: String(url), found: `HTTP ${response.status}` });
  return new Uint8Array(await response.arrayBuffer());
}

/** Reads one file from a path or URL; `sha256`: hash it while it is read, for verifyChecksum (readPath). */
export async function readSource(src: string | URL, what: string, sha256?: () => Sha256): Promise<Uint8Array> {
  const url = src instanceof URL ? src : /^[a-z][a-z0-9+.-]*:\/\//i.test(src) ? new URL(src) : undefined;
  if (isNode && (url === undefined || url.protocol === "file:")) return (await readPath(url ?? (src as string), what, false, sha256))!;
  return (await fetchBytes(url ?? new URL(src as string, globalThis.location?.href), what, false))!;
}

async function isDirectory(path: string | URL): Promise<boolean> {
  if (!isNode) return false;
  const fs = await importNode("fs/promises");
  try {
    return (await fs.stat(path)).isDirectory();
  } catch {
    return false; // a missing path is reported by the read that follows
  }
}

/** A reader over the folder a source names, or undefined when the source is one file; `sha256` as readSource's, for its .onnx files. */
async function folderReader(source: ModelSource, sha256?: () => Sha256): Promise<{ reader: Reader; name: string } | undefined> {
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) return undefined;
  if (typeof source === "object" && !(source instanceof URL)) {
    const files = source.files;
    return { reader: async (rel) => files[rel], name: "model folder" };
  }
  const text = String(source);
  const url = source instanceof URL ? source : /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? new URL(text) : undefined;
  if (isNode && (url === undefined || url.protocol === "file:")) {
    if (!(await isDirectory(url ?? text))) return undefined;
    const { join } = await importNode("path");
    const { fileURLToPath } = await importNode("url");
    const dir = url === undefined ? text : fileURLToPath(url);
    return { reader: (rel) => readPath(join(dir, rel), rel, true, rel.endsWith(".onnx") ? sha256 : undefined), name: dir };
  }
  if (!text.endsWith("/")) return undefined;
  const base = url ?? new URL(text, globalThis.location?.href);
  return { reader: (rel) => fetchBytes(new URL(rel, base), rel, true), name: String(base) };
}

const utf8 = new TextDecoder();

/** How errors name a source: its path or URL, or "model bytes". */
export function sourceName(source: ModelSource): string {
  return typeof source === "string" || source instanceof URL ? String(source) : "model bytes";
}

/**
 * A folder's config.json describes the files beside it, as transformers.js reads it to build the model:
 * its hyperparameters and token ids (Hugging Face's defaults where it leaves one out) are the model file's
 * own `lowbit.config`, and the file holds the weight precision its name and `transformers.js_config.dtype`
 * say. A file swapped in from another export, or an edited config.json, is refused rather than run as
 * something it is not.
 */
function checkFolderDescribes(configText: string, configFile: string, f: LowbitModelFile, dtype: Dtype): void {
  const raw = parseJson(configText, configFile, "config.json");
  const parsed = f.config.model_type === "bart" ? parseHfBartConfig(raw, configFile) : parseHfGpt2Config(raw, configFile);
  const described = parsed as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(f.config)) {
    if (key === "untrained" || described[key] === value) continue;
    throw new LowbitError("config.json disagrees with the model file (files from another export?)", {
      file: configFile, expected: `${key} ${JSON.stringify(value)}, as ${f.file} says`, found: JSON.stringify(described[key] ?? null),
    });
  }
  if (dtypeForBits(f.quantization.weight_bits) !== dtype) {
    throw new LowbitError("model file's weight precision differs from the folder's dtype", {
      file: f.file, expected: `${dtype} weights`, found: `${f.quantization.weight_bits}-bit weights (${dtypeForBits(f.quantization.weight_bits)})`,
    });
  }
}

/** Reads, parses and checks a model's files: a single GPT-2 file, or a folder of either family. */
export async function readModelFiles(source: ModelSource, options: SourceOptions = {}): Promise<ModelFiles> {
  const checked = options.verifyChecksum !== false;
  const sha256 = checked ? await nodeSha256() : undefined;
  const verify = async (f: LowbitModelFile) => {
    if (checked) await verifyChecksum(f, { sha256, prefix: takeChecksumPrefix(f.bytes) });
    return f;
  };
  const folder = await folderReader(source, sha256);
  if (folder === undefined) {
    const name = sourceName(source);
    const bytes = typeof source === "string" || source instanceof URL ? await readSource(source, "model file", sha256) : source instanceof Uint8Array ? source : new Uint8Array(source as ArrayBuffer);
    const file = parseModelFile(bytes, name);
    if (file.config.model_type !== "gpt2") {
      throw new LowbitError("a BART model is a folder of two files (encoder and decoder), not one file", {
        file: name, found: `the ${file.component ?? "?"} file alone`, hint: "load the export's folder",
      });
    }
    return { modelType: "gpt2", model: await verify(file) };
  }

  const at = (rel: string) => `${folder.name.replace(/\/$/, "")}/${rel}`;
  const need = async (rel: string): Promise<Uint8Array> => {
    const bytes = await folder.reader(rel);
    if (bytes === undefined) throw new LowbitError("model folder lacks a file", { file: at(rel), hint: "export it with `lowbit export <checkpoint> -o <dir>/`" });
    return bytes;
  };
  const configText = utf8.decode(await need("config.json"));
  const config = parseFolderConfig(configText, at("config.json"));
  const dtype: Dtype = options.dtype !== undefined ? checkDtype(options.dtype) : config.dtype ?? "fp32";
  const names = onnxFiles(config.modelType, dtype);
  const parse = async (rel: string): Promise<LowbitModelFile> => {
    const f = parseModelFile(await need(rel), at(rel));
    if (f.config.model_type !== config.modelType) {
      throw new LowbitError("model file's type differs from the folder's config.json", { file: at(rel), expected: config.modelType, found: f.config.model_type });
    }
    return f;
  };
  if (config.modelType === "gpt2") {
    const model = await parse(names.model!);
    checkFolderDescribes(configText, at("config.json"), model, dtype);
    return { modelType: "gpt2", model: await verify(model) };
  }

  const encoder = await parse(names.encoder!);
  const decoder = await parse(names.decoder!);
  for (const [f, part] of [[encoder, "encoder"], [decoder, "decoder"]] as const) {
    if (f.component !== part) throw new LowbitError("model file holds another part of the model", { file: f.file, expected: part, found: String(f.component) });
  }
  for (const key of [META.config, META.quantization]) {
    if (encoder.metadata.get(key) !== decoder.metadata.get(key)) {
      throw new LowbitError(`the encoder and decoder files differ in ${key} (files from two exports?)`, { file: decoder.file, expected: `the ${key} of ${encoder.file}` });
    }
  }
  checkFolderDescribes(configText, at("config.json"), encoder, dtype); // the decoder's config and quantization are the encoder's
  const generationBytes = await folder.reader("generation_config.json");
  let generation = decoder.generation;
  if (generationBytes !== undefined) {
    const file = at("generation_config.json");
    generation = parseGenerationConfig(parseJson(utf8.decode(generationBytes), file, "generation_config.json"), file);
    // As for a checkpoint's generation_config.json and the decoder's lowbit.generation: every token id in the vocabulary.
    checkGenerationTokens(generation, decoder.config.vocab_size, file);
  }
  await verify(encoder);
  await verify(decoder);
  return { modelType: "bart", encoder, decoder, generation };
}

