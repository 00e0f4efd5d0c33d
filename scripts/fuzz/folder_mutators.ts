// Mutators for Hugging Face folder exports (GPT-2's onnx/model{suffix}.onnx, BART's
// onnx/encoder_model{suffix}.onnx + onnx/decoder_model_merged{suffix}.onnx, beside config.json,
// generation_config.json, tokenizer.json, tokenizer_config.json), for the fuzz harness (scripts/fuzz.ts).
// They edit a case's private copy of a folder seed in place. Three input kinds:
//
//   onnx-bytes      one ONNX file of the folder, as bytes (onnx_mutators.ts: mutateOnnxBytes);
//   onnx-structure  one ONNX file, decoded and edited (mutateOnnxStructure); in a BART folder an edit of
//                   lowbit.config or lowbit.quantization is copied to the other file too (60%), so that a
//                   consistent pair reaches the runtime, or else the pair is marked as disagreeing;
//   hf-folder       the folder as a whole: config.json and generation_config.json key by key (types, ranges,
//                   removal, huge numbers) and as whole files; tokenizer.json and tokenizer_config.json
//                   (any nested value; lowbit reads neither: the ONNX files carry the tokenizer); a file
//                   swapped for the same file of another export; a file deleted or replaced by a directory.
//
// Verdicts: what the folder loader (src/runtime/sources.ts) and the format (docs/FORMAT.md, CONTRACT.md
// "Files") say a folder is: config.json names the family and the precision (transformers.js_config.dtype)
// and describes the model its files hold; the files of the dtype exist, hold that family and part, and a
// BART pair comes from one export; generation_config.json follows transformers' GenerationConfig.

import onnxProto from "onnx-proto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applyValueEdit, describeValue, drawValueEdit, sameJson, type Kind, type Mutation, type Rand, type Validity, type ValueEdit } from "./common.js";
import { generationKeyEdit, generationVerdict, isFile, jsonFileWhole, jsonObject, nestedValueEdit, writeJson, writeText } from "./json_mutators.js";
import { hfDefault } from "./checkpoint_mutators.js";
import { mutateOnnxBytes, mutateOnnxStructure } from "./onnx_mutators.js";
import { SEEDS, seedPath, type SeedSpec } from "./seeds.js";

const onnx = onnxProto.onnx;

export interface FolderContext {
  seedsDir: string;
  seed: SeedSpec;
}

type Mutator = (dir: string, rng: Rand, ctx: FolderContext) => Mutation;

const DTYPES = ["fp32", "q8", "q4", "q2"];
/** config.json keys that describe the model the files hold (the rest is bookkeeping for other runtimes). */
const DESCRIBED = {
  gpt2: ["vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner", "activation_function", "layer_norm_epsilon", "tie_word_embeddings", "bos_token_id", "eos_token_id"],
  bart: [
    "vocab_size", "d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads", "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim",
    "max_position_embeddings", "activation_function", "scale_embedding", "pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id",
    "forced_bos_token_id", "forced_eos_token_id", "tie_word_embeddings",
  ],
};

/** The unmutated folder's config.json and generation_config.json, read before the first edit. */
let seedConfig: Record<string, unknown> = {};
let seedGeneration: Record<string, unknown> | undefined;
const family = (ctx: FolderContext) => ctx.seed.family ?? "gpt2";
const seedDtype = () => ((seedConfig["transformers.js_config"] as { dtype?: string } | undefined)?.dtype ?? "fp32");
const vocab = () => (typeof seedConfig.vocab_size === "number" ? seedConfig.vocab_size : 281);

/** The ONNX files of a folder, relative to it, sorted (what the mutators may edit, delete or swap). */
function onnxFilesIn(dir: string): string[] {
  try {
    return readdirSync(join(dir, "onnx")).filter((n) => n.endsWith(".onnx") && isFile(join(dir, "onnx", n))).sort().map((n) => `onnx/${n}`);
  } catch {
    return [];
  }
}

/** The part of the model a file name says it holds: encoder, decoder or model (GPT-2). */
function roleOf(rel: string): "encoder" | "decoder" | "model" | undefined {
  const base = rel.replace(/^onnx\//, "");
  return base.startsWith("encoder_model") ? "encoder" : base.startsWith("decoder_model_merged") ? "decoder" : base.startsWith("model") ? "model" : undefined;
}

/** A file's metadata_props, or undefined where the bytes do not decode. */
function metaOf(bytes: Uint8Array): Map<string, string> | undefined {
  try {
    return new Map((onnx.ModelProto.decode(bytes).metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""]));
  } catch {
    return undefined;
  }
}

// ─── the ONNX files ─────────────────────────────────────────────────────────────────────────────

const PAIRED = ["lowbit.config", "lowbit.quantization"];

/** Bytes or structure edits of one ONNX file of the folder. */
function mutateOnnxFile(dir: string, kind: "onnx-bytes" | "onnx-structure", rng: Rand, count: number): Mutation[] {
  const files = onnxFilesIn(dir);
  if (files.length === 0) throw new Error(`folder seed without onnx/*.onnx: ${dir}`);
  const rel = rng.pick(files);
  const path = join(dir, rel);
  const r = kind === "onnx-bytes" ? mutateOnnxBytes(new Uint8Array(readFileSync(path)), rng, count) : mutateOnnxStructure(new Uint8Array(readFileSync(path)), rng, count);
  writeFileSync(path, r.bytes);
  const out = r.mutations.map((m) => ({ ...m, label: `${rel}: ${m.label}`, ...(m.target !== undefined ? { target: `${rel} ${m.target}` } : {}) }));
  if (kind !== "onnx-structure" || files.length < 2) return out;
  // A BART pair must agree on lowbit.config and lowbit.quantization (the loader compares them as text).
  const other = files.find((f) => f !== rel)!;
  const a = metaOf(r.bytes);
  const bBytes = new Uint8Array(readFileSync(join(dir, other)));
  const model = onnx.ModelProto.decode(bBytes);
  const b = new Map((model.metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""]));
  const differ = a === undefined ? [] : PAIRED.filter((k) => a.get(k) !== b.get(k));
  if (differ.length === 0) return out;
  if (rng.chance(0.6)) {
    let props = (model.metadataProps ?? []).filter((p) => !differ.includes(p.key ?? "") || a!.has(p.key ?? ""));
    for (const k of differ) {
      const e = props.find((p) => p.key === k);
      if (e !== undefined) e.value = a!.get(k)!;
      else if (a!.has(k)) props = [...props, onnx.StringStringEntryProto.create({ key: k, value: a!.get(k)! })];
    }
    model.metadataProps = props;
    writeFileSync(join(dir, other), onnx.ModelProto.encode(model).finish());
    // The same edit, in the other file: its verdict is the first file's (a note, no verdict of its own).
    return [...out, { cls: "paired metadata copied to the other BART file", label: `${differ.join(", ")} of ${rel} copied to ${other}`, validity: "may-differ" }];
  }
  return [...out, { cls: "BART files disagree on lowbit.config / lowbit.quantization", label: `${differ.join(", ")} of ${rel} no longer that of ${other}`, validity: "must-refuse" }];
}

// ─── config.json ────────────────────────────────────────────────────────────────────────────────

/** A described key's value as transformers reads it: its default where config.json leaves it out (or n_inner is null). */
function described(ctx: FolderContext, key: string, v: unknown): unknown {
  return v === undefined || (v === null && key === "n_inner") ? hfDefault(family(ctx), key, seedConfig) : v;
}

function folderConfigVerdict(key: string, e: ValueEdit, ctx: FolderContext): Validity {
  if (!e.missing && sameJson(seedConfig[key], e.value)) return "may-differ";
  const v = e.missing ? undefined : e.value;
  if (key === "model_type") return "must-refuse";
  if (key === "transformers.js_config") {
    // Absent (or without a dtype): the loader reads fp32. An object with the same dtype is the same folder.
    const dtype = v === undefined ? "fp32" : v !== null && typeof v === "object" && !Array.isArray(v) ? ((v as { dtype?: unknown }).dtype ?? "fp32") : null;
    return dtype === seedDtype() ? "may-differ" : "must-refuse";
  }
  // Keys that describe the model: another value (or transformers' default, where that differs) contradicts the
  // files' own config.
  if (DESCRIBED[family(ctx)].includes(key)) return sameJson(described(ctx, key, v), described(ctx, key, seedConfig[key])) ? "may-differ" : "must-refuse";
  if (key === "lowbit_untrained") return "unknown";
  return "may-differ"; // architectures, use_cache, is_encoder_decoder, n_ctx, …
}

const folderConfigKey: Mutator = (dir, rng, ctx) => {
  const path = join(dir, "config.json");
  const cfg = jsonObject(path);
  if (cfg === undefined) return configWhole(dir, rng, ctx);
  const keys = Object.keys(cfg);
  const key = rng.chance(0.25) ? rng.pick(["model_type", "transformers.js_config"]) : rng.pick(keys.length > 0 ? keys : ["model_type"]);
  let e: ValueEdit;
  if (key === "transformers.js_config" && rng.chance(0.6)) {
    const dtype = rng.pick([...DTYPES.filter((d) => d !== seedDtype()), "q1", "int8", "FP32", ""]);
    e = rng.chance(0.2) ? { name: "dtype removed", value: {} } : { name: DTYPES.includes(dtype) ? "another dtype" : "unknown dtype", value: { dtype } };
  } else if (key === "model_type" && rng.chance(0.5)) {
    e = { name: "another family", value: rng.pick(["gpt2", "bart", "mbart", "t5"].filter((t) => t !== cfg.model_type)) };
  } else {
    e = drawValueEdit(rng, cfg[key]);
  }
  applyValueEdit(cfg, key, e);
  writeJson(path, cfg);
  const validity = !(key in seedConfig) && e.missing ? "may-differ" : folderConfigVerdict(key, e, ctx);
  return { cls: `folder config.json ${key}: ${e.name}`, label: `config.json ${key} ${describeValue(e)}`, validity, target: `config.json ${key}` };
};

const configWhole: Mutator = (dir, rng) => jsonFileWhole(join(dir, "config.json"), rng, { what: "folder config.json", missingValidity: "must-refuse", emptyValidity: "must-refuse" });

// ─── generation_config.json, tokenizer files ────────────────────────────────────────────────────

/**
 * BART folders read generation_config.json (over the decoder file's lowbit.generation); GPT-2 folders do not
 * (lowbit's GPT-2 generation takes its settings from the command line only), so there any edit leaves lowbit's
 * run as it was.
 */
const generationEdit: Mutator = (dir, rng, ctx) => {
  const path = join(dir, "generation_config.json");
  const read = family(ctx) === "bart";
  const m = !isFile(path) || rng.chance(0.15)
    ? jsonFileWhole(path, rng, { what: "folder generation_config.json", missingValidity: "may-differ", emptyValidity: "may-differ", readByLowbit: read })
    : generationKeyEdit(path, rng, vocab(), seedGeneration, "folder generation_config.json");
  return read ? m : { ...m, cls: `${m.cls} (GPT-2: not read)`, validity: "may-differ" };
};

/** tokenizer.json and tokenizer_config.json are for other runtimes (lowbit's tokenizer is in the ONNX files). */
const tokenizerEdit: Mutator = (dir, rng) => {
  const name = rng.chance(0.7) ? "tokenizer.json" : "tokenizer_config.json";
  const path = join(dir, name);
  if (!isFile(path) || rng.chance(0.2)) return jsonFileWhole(path, rng, { what: name, missingValidity: "may-differ", emptyValidity: "may-differ", readByLowbit: false });
  return nestedValueEdit(path, rng, name, "may-differ");
};

// ─── swaps, deletions ───────────────────────────────────────────────────────────────────────────

/** Other exports to take a file from: the other folder seeds, and (for a GPT-2 model file) the single-file GPT-2 exports. */
function donors(ctx: FolderContext): SeedSpec[] {
  return SEEDS.filter((s) => s.name !== ctx.seed.name && !s.large && !s.unverified && (s.type === "folder" || s.type === "onnx") && existsSync(seedPath(ctx.seedsDir, s)));
}

function onnxSwapVerdict(before: Uint8Array, after: Uint8Array): Validity {
  if (Buffer.compare(before, after) === 0) return "may-differ";
  const a = metaOf(before);
  const b = metaOf(after);
  if (a === undefined || b === undefined) return "must-refuse";
  const bits = (m: Map<string, string>) => { try { return (JSON.parse(m.get("lowbit.quantization") ?? "") as { weight_bits?: number }).weight_bits; } catch { return undefined; } };
  const same = (k: string) => a.get(k) === b.get(k);
  // The same model (config) and part, at the precision the file name says; a BART file must also match the
  // other file's quantization. Then it is a valid folder holding another export's weights.
  const fits = same("lowbit.model_type") && same("lowbit.component") && same("lowbit.config") && bits(a) === bits(b) && bits(a) !== undefined
    && (a.get("lowbit.model_type") !== "bart" || same("lowbit.quantization"));
  return fits ? "may-differ" : "must-refuse";
}

function jsonSwapVerdict(name: string, before: unknown, after: unknown, ctx: FolderContext): Validity {
  if (sameJson(before, after)) return "may-differ";
  if (name === "tokenizer.json" || name === "tokenizer_config.json") return "may-differ"; // not read by lowbit
  if (name === "generation_config.json") {
    if (family(ctx) !== "bart") return "may-differ"; // not read for GPT-2
    if (after === null || typeof after !== "object" || Array.isArray(after)) return "must-refuse";
    return Object.entries(after).every(([k, v]) => generationVerdict(k, { name: "swap", value: v }, {}, vocab()) === "may-differ") ? "may-differ" : "must-refuse";
  }
  // config.json
  if (after === null || typeof after !== "object" || Array.isArray(after)) return "must-refuse";
  const o = after as Record<string, unknown>;
  const tjs = (c: Record<string, unknown>) => (c["transformers.js_config"] as { dtype?: string } | undefined)?.dtype ?? "fp32";
  if (o.model_type !== seedConfig.model_type || tjs(o) !== seedDtype()) return "must-refuse";
  return DESCRIBED[family(ctx)].every((k) => sameJson(described(ctx, k, o[k]), described(ctx, k, seedConfig[k]))) ? "may-differ" : "must-refuse";
}

const swapFile: Mutator = (dir, rng, ctx) => {
  const files = [...onnxFilesIn(dir), ...["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"]].filter((f) => isFile(join(dir, f)));
  if (files.length === 0) return configWhole(dir, rng, ctx);
  const rel = rng.pick(files);
  const path = join(dir, rel);
  const role = roleOf(rel);
  const others = donors(ctx);
  // Candidate replacements: the same file of another export (an ONNX file of the same part, whatever its
  // precision), a single-file GPT-2 export for a GPT-2 model file, and this folder's other part.
  const candidates: { from: string; what: string }[] = [];
  for (const s of others) {
    const p = seedPath(ctx.seedsDir, s);
    if (s.type === "onnx") {
      if (role === "model" || rng.chance(0.1)) candidates.push({ from: p, what: `${s.name}.onnx` });
      continue;
    }
    if (role === undefined) {
      if (isFile(join(p, rel))) candidates.push({ from: join(p, rel), what: `${s.name}/${rel}` });
      continue;
    }
    for (const f of onnxFilesIn(p)) {
      if (roleOf(f) === role || rng.chance(0.05)) candidates.push({ from: join(p, f), what: `${s.name}/${f}` });
    }
  }
  if (role !== undefined) for (const f of onnxFilesIn(dir)) if (f !== rel) candidates.push({ from: join(dir, f), what: `this folder's ${f}` });
  if (candidates.length === 0) return deleteFile(dir, rng, ctx);
  const c = rng.pick(candidates);
  const before = new Uint8Array(readFileSync(path));
  const after = new Uint8Array(readFileSync(c.from));
  writeText(path, ""); // (a directory left there by an earlier edit goes)
  writeFileSync(path, after);
  let validity: Validity;
  if (role !== undefined) validity = onnxSwapVerdict(before, after);
  else {
    const parse = (b: Uint8Array) => { try { return JSON.parse(Buffer.from(b).toString("utf8")) as unknown; } catch { return undefined; } };
    validity = jsonSwapVerdict(rel, parse(before), parse(after), ctx);
  }
  return { cls: `${role !== undefined ? `ONNX ${role} file` : rel} swapped for another export's`, label: `${rel} replaced by ${c.what}`, validity, target: `${rel} (file)` };
};

const deleteFile: Mutator = (dir, rng, ctx) => {
  const files = [...onnxFilesIn(dir), "onnx", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"].filter((f) => existsSync(join(dir, f)));
  if (files.length === 0) return { cls: "nothing left to delete", label: "nothing left to delete", validity: "must-refuse" };
  const rel = rng.pick(files);
  const asDirectory = rng.chance(0.25);
  rmSync(join(dir, rel), { recursive: true, force: true });
  if (asDirectory) mkdirSync(join(dir, rel), { recursive: true });
  const validity: Validity = rel === "generation_config.json" || rel.startsWith("tokenizer") ? "may-differ" : "must-refuse";
  const how = asDirectory ? "replaced by an empty directory" : "deleted";
  return {
    cls: `${roleOf(rel) !== undefined ? "an ONNX file" : rel} ${how}`, label: `${rel} ${how}`,
    // An empty directory where a BART folder's generation_config.json was: not a file of settings, so not "absent"
    // either (a GPT-2 folder's is not read).
    validity: asDirectory && rel === "generation_config.json" && family(ctx) === "bart" ? "must-refuse" : validity, target: `${rel} (file)`,
  };
};

// ─── choosing ───────────────────────────────────────────────────────────────────────────────────

const FOLDER_MUTATORS: { weight: number; value: Mutator }[] = [
  { weight: 28, value: folderConfigKey }, { weight: 5, value: configWhole }, { weight: 24, value: generationEdit }, { weight: 11, value: tokenizerEdit },
  { weight: 20, value: swapFile }, { weight: 12, value: deleteFile },
];

export function mutateFolder(dir: string, kind: Kind, rng: Rand, count: number, ctx: FolderContext): Mutation[] {
  seedConfig = jsonObject(join(dir, "config.json")) ?? {};
  seedGeneration = jsonObject(join(dir, "generation_config.json"));
  if (kind === "onnx-bytes" || kind === "onnx-structure") return mutateOnnxFile(dir, kind, rng, count);
  if (kind !== "hf-folder") throw new Error(`not a folder kind: ${kind}`);
  return Array.from({ length: count }, () => rng.weighted(FOLDER_MUTATORS)(dir, rng, ctx));
}
