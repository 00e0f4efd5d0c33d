// Mutators for Hugging Face checkpoint directories (plain, sharded, split into .part-NN files, quantized),
// for the fuzz harness (scripts/fuzz.ts). They edit a case's private copy of a seed directory in place.
//
//   hf-config             config.json, every key found in it (missing, null, wrong type, zero, negative,
//                         huge, non-integer, a string, legal alternatives), the whole file, and the
//                         tokenizer files (vocab.json, merges.txt: truncated, deleted, malformed);
//   hf-safetensors        a weight file's header (dtype, shape, data_offsets, header length, null entries,
//                         __metadata__, dropped / renamed / extra entries) and bytes (flips, truncation, tail);
//   hf-shards             model.safetensors.index.json (weight_map null or wrong, a shard missing, a tensor
//                         mapped to the wrong shard, "../" paths) and .part-NN sets (a part missing, cut,
//                         swapped, extra), plus safetensors edits of one shard;
//   quantized-checkpoint  quantization_config, codes outside [−k, k], scales, plus all of the above.
//
// Both families: a BART checkpoint (config.json model_type "bart") gets BART's keys in config.json, its
// generation_config.json, `model.`-prefix toggles, edits of the tied copies of shared.weight
// (encoder/decoder.embed_tokens.weight, lm_head.weight) and nn.Linear weights stored transposed.
//
// Verdicts (common.ts) follow docs/FORMAT.md §2 and the safetensors spec ("the byte buffer needs to be
// entirely indexed, and cannot contain holes"); config.json keys follow transformers' GPT2Config and
// BartConfig defaults. Not in here: running anything (worker.ts).

import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  applyValueEdit, describeValue, drawValueEdit, isFiniteNumber, isPositiveInt, sameJson,
  type Kind, type Mutation, type Rand, type Validity, type ValueEdit,
} from "./common.js";
import { generationKeyEdit, jsonFileWhole, jsonObject } from "./json_mutators.js";
import { specialConfigEdits } from "./onnx_mutators.js";

type Mutator = (dir: string, rng: Rand) => Mutation;

// ─── files ──────────────────────────────────────────────────────────────────────────────────────

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, "utf8"));
const writeJson = (path: string, v: unknown) => writeFileSync(path, JSON.stringify(v, null, 1));

/** A weight file as the readers see it: a whole file, or the .part-NN files that concatenate to it. */
interface WeightFile {
  name: string; // relative to the checkpoint directory
  path: string;
  parts: string[]; // empty for a whole file
}

function partsOf(path: string): string[] {
  const parts: string[] = [];
  if (existsSync(path)) return parts;
  while (existsSync(`${path}.part-${String(parts.length).padStart(2, "0")}`)) parts.push(`${path}.part-${String(parts.length).padStart(2, "0")}`);
  return parts;
}

function weightFiles(dir: string): WeightFile[] {
  let names = ["model.safetensors"];
  const index = join(dir, "model.safetensors.index.json");
  if (existsSync(index)) {
    try {
      names = [...new Set(Object.values((readJson(index) as { weight_map: Record<string, string> }).weight_map))].sort();
    } catch {
      names = readdirSync(dir).filter((f) => f.endsWith(".safetensors")).sort();
    }
  }
  return names
    .filter((name) => typeof name === "string" && !name.includes("..") && !name.startsWith("/"))
    .map((name) => ({ name, path: join(dir, name), parts: partsOf(join(dir, name)) }))
    .filter((f) => existsSync(f.path) || f.parts.length > 0);
}

function readWeightFile(f: WeightFile): Uint8Array {
  if (f.parts.length === 0) return new Uint8Array(readFileSync(f.path));
  return new Uint8Array(Buffer.concat(f.parts.map((p) => readFileSync(p))));
}

/** Writes back a (mutated) weight file; a split one keeps its cut points, the last part taking the difference. */
function writeWeightFile(f: WeightFile, bytes: Uint8Array): void {
  if (f.parts.length === 0) return writeFileSync(f.path, bytes);
  let at = 0;
  f.parts.forEach((p, i) => {
    const size = i === f.parts.length - 1 ? bytes.length - at : readFileSync(p).length;
    writeFileSync(p, bytes.subarray(Math.min(at, bytes.length), Math.min(at + Math.max(0, size), bytes.length)));
    at += Math.max(0, size);
  });
}

interface Parsed {
  headerLength: number;
  header: Record<string, any>;
  data: Uint8Array; // the data block
}

function parseSt(b: Uint8Array): Parsed | undefined {
  try {
    const n = Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(b.subarray(8, 8 + n))) as Record<string, any>;
    if (header === null || typeof header !== "object" || 8 + n > b.length) return undefined;
    return { headerLength: n, header, data: b.subarray(8 + n) };
  } catch {
    return undefined;
  }
}

/**
 * Header text (JSON or raw), an 8-byte length (the text's own unless given), and a data block. A header
 * given as an object is padded with spaces so the data block stays 8-byte aligned, as writers do: an
 * edit then reaches the check it is aimed at, not the (separately tested) handling of unaligned data.
 */
function buildSt(header: Record<string, unknown> | string, data: Uint8Array, length?: bigint): Uint8Array {
  let json = typeof header === "string" ? header : JSON.stringify(header);
  if (typeof header !== "string") json += " ".repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const text = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

/** Well-formed tensor entries only (dtype, shape, two integer offsets): earlier mutations may have broken others. */
const tensorNames = (h: Record<string, any>) => Object.keys(h).filter((k) => {
  const e = h[k];
  return k !== "__metadata__" && e !== null && typeof e === "object" && typeof e.dtype === "string" && Array.isArray(e.shape)
    && Array.isArray(e.data_offsets) && e.data_offsets.length === 2 && e.data_offsets.every((x: unknown) => Number.isInteger(x));
});
const IGNORED_BUFFER = /\.attn\.(masked_)?bias$/;
/** The family of the checkpoint being mutated (from its unmutated config.json): names and keys differ. */
let family: "gpt2" | "bart" = "gpt2";
const PREFIX = () => (family === "bart" ? "model." : "transformer.");
/** BART's nn.Linear weights (quantized: their codes and scales): (out, in) on disk. */
const BART_LINEAR = /\.(q_proj|k_proj|v_proj|out_proj|fc1|fc2)\.weight(\.qweight|\.scale)?$/;
const BART_TIED = ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"];
const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** The quantization_config of the checkpoint, for judging codes; undefined for a plain one. */
function quantConfig(dir: string): Record<string, unknown> | undefined {
  try {
    const q = (readJson(join(dir, "config.json")) as Record<string, unknown>).quantization_config;
    return q !== null && typeof q === "object" ? (q as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function bitsOf(name: string, q: Record<string, unknown> | undefined): number | undefined {
  if (q === undefined) return undefined;
  const bare = name.replace(/^(transformer|model)\./, "").replace(/\.qweight$/, "");
  const embedding = family === "bart" ? bare === "shared.weight" : bare === "wte.weight" || bare === "lm_head.weight";
  return (embedding ? q.embedding_bits : q.weight_bits) as number;
}

// ─── safetensors ────────────────────────────────────────────────────────────────────────────────

/** Picks a weight file of the checkpoint and hands its parsed form to an edit; writes the result back. */
function stMutator(edit: (p: Parsed, rng: Rand, ctx: { file: string; q?: Record<string, unknown>; raw: Uint8Array; dir: string }) => { bytes: Uint8Array; m: Mutation }): Mutator {
  return (dir, rng) => {
    const files = weightFiles(dir);
    if (files.length === 0) return configKey(dir, rng);
    const f = rng.pick(files);
    const raw = readWeightFile(f);
    const p = parseSt(raw);
    if (p === undefined || tensorNames(p.header).length === 0) return byteFlip(raw, f, rng, quantConfig(dir));
    const r = edit(p, rng, { file: f.name, q: quantConfig(dir), raw, dir });
    writeWeightFile(f, r.bytes);
    return { ...r.m, label: `${f.name}: ${r.m.label}` };
  };
}

function pickTensor(h: Record<string, any>, rng: Rand): string | undefined {
  const names = tensorNames(h);
  return names.length === 0 ? undefined : rng.pick(names);
}

/** The verdict on a file whose bytes [from, to) changed: in a tensor's data, by the values left there. */
function dataVerdict(after: Uint8Array, p: Parsed, from: number, to: number, q: Record<string, unknown> | undefined): { validity: Validity; region: string; where: string } {
  const base = 8 + p.headerLength;
  if (from < 8) return { validity: "must-refuse", region: "the header length", where: "the header length" };
  if (from < base) return { validity: "unknown", region: "the header", where: "the header" };
  for (const name of tensorNames(p.header)) {
    const { dtype, data_offsets: [b, e] } = p.header[name] as { dtype: string; data_offsets: [number, number] };
    if (!(base + b <= from && to <= base + e)) continue;
    const view = new DataView(after.buffer, after.byteOffset);
    const w = DTYPE_BYTES[dtype] ?? 1;
    for (let at = base + b + Math.floor((from - base - b) / w) * w; at < to; at += w) {
      let ok = true;
      if (dtype === "F32") ok = Number.isFinite(view.getFloat32(at, true)) && !(name.endsWith(".scale") && view.getFloat32(at, true) < 0);
      else if (dtype === "F16") ok = ((view.getUint16(at, true) >> 10) & 0x1f) !== 0x1f;
      else if (dtype === "BF16") ok = ((view.getUint16(at, true) >> 7) & 0xff) !== 0xff;
      else if (dtype === "I8" && name.endsWith(".qweight")) {
        const bits = bitsOf(name, q);
        const k = bits === undefined ? 127 : (1 << (bits - 1)) - 1;
        if (Math.abs(view.getInt8(at)) > k) return { validity: "must-refuse", region: "codes (out of range)", where: `${name}: code ${view.getInt8(at)} outside ±${k}` };
      } else return { validity: "unknown", region: `${dtype} tensor data`, where: `${name} (${dtype})` };
      if (!ok) return { validity: "unknown", region: "tensor data (non-finite or negative scale)", where: `${name}: non-finite or negative value` };
    }
    return { validity: "may-differ", region: name.endsWith(".qweight") ? "codes" : "tensor data", where: `data of ${name}` };
  }
  return { validity: "must-refuse", region: "bytes no tensor indexes", where: "bytes no tensor indexes" };
}

/** A whole file rewritten in place: the same header over other data bytes is new weights, if their values are valid. */
function contentVerdict(before: Uint8Array, after: Uint8Array, q: Record<string, unknown> | undefined): Validity {
  const a = parseSt(before);
  const b = parseSt(after);
  if (a === undefined || b === undefined || before.length !== after.length || !sameJson(a.header, b.header)) return "must-refuse";
  const base = 8 + b.headerLength;
  for (const n of tensorNames(b.header)) {
    const [s, e] = b.header[n].data_offsets as [number, number];
    const v = e > s ? dataVerdict(after, b, base + s, base + e, q).validity : "may-differ";
    if (v !== "may-differ") return v;
  }
  return "may-differ";
}

function byteFlip(raw: Uint8Array, f: WeightFile, rng: Rand, q: Record<string, unknown> | undefined): Mutation {
  const p = parseSt(raw);
  const at = p !== undefined && rng.chance(0.7) ? rng.range(8 + p.headerLength, raw.length - 1) : rng.int(raw.length);
  const out = raw.slice();
  out[at] ^= 1 << rng.int(8);
  const v = p === undefined ? { validity: "unknown" as Validity, region: "an unparsed file", where: "an unparsed file" } : dataVerdict(out, p, at, at + 1, q);
  if (v.region === "the header") {
    // Judge a header flip by what the header now says: unreadable, the same JSON, or something else.
    const after = parseSt(out);
    v.validity = after === undefined ? "must-refuse" : sameJson(after.header, p!.header) ? "may-differ" : "unknown";
    v.region = after === undefined ? "the header (unreadable)" : "the header (still JSON)";
  }
  writeWeightFile(f, out);
  return { cls: `bit flip in ${v.region}`, label: `${f.name}: bit flip at byte ${at}, ${v.where}`, validity: v.validity };
}

const flipData: Mutator = (dir, rng) => {
  const files = weightFiles(dir);
  if (files.length === 0) return configKey(dir, rng);
  const f = rng.pick(files);
  return byteFlip(readWeightFile(f), f, rng, quantConfig(dir));
};

const DTYPES = ["F32", "F16", "BF16", "I8", "U8", "I32", "I64", "BOOL", "F64", "F8_E4M3", "x", null, 1];
const dtypeEdit = stMutator((p, rng) => {
  const name = pickTensor(p.header, rng)!;
  const e = p.header[name];
  const old = e.dtype;
  e.dtype = rng.pick(DTYPES.filter((d) => d !== old));
  const sameSize = DTYPE_BYTES[old] === DTYPE_BYTES[e.dtype as string];
  const floats = ["F16", "BF16"];
  // F16 ↔ BF16 keeps the sizes: a valid file with other weights, unless some come out infinite or NaN.
  let validity: Validity = "must-refuse";
  if (sameSize && floats.includes(old) && floats.includes(e.dtype)) {
    const [b, end] = e.data_offsets as [number, number];
    const view = new DataView(p.data.buffer, p.data.byteOffset + b, end - b);
    let finite = true;
    for (let i = 0; i + 2 <= end - b && finite; i += 2) {
      const h = view.getUint16(i, true);
      finite = e.dtype === "F16" ? ((h >> 10) & 0x1f) !== 0x1f : ((h >> 7) & 0xff) !== 0xff;
    }
    validity = finite ? "may-differ" : "unknown";
  }
  return { bytes: buildSt(p.header, p.data), m: { cls: `safetensors dtype ${sameSize ? "(same size)" : "changed"}`, label: `${name} dtype ${old} → ${JSON.stringify(e.dtype)}`, validity } };
});

const shapeEdit = stMutator((p, rng) => {
  const name = pickTensor(p.header, rng)!;
  const e = p.header[name];
  const old = structuredClone(e.shape) as number[];
  const edit = rng.pick(["reversed", "a dim +1", "a dim zero", "a dim dropped", "a dim of 1 added", "a dim 2^53", "a dim negative", "a dim 1.5", "null", "a string"]);
  const s = [...old];
  const i = rng.int(Math.max(1, s.length));
  e.shape = {
    reversed: [...s].reverse(), "a dim +1": s.map((d, j) => (j === i ? d + 1 : d)), "a dim zero": s.map((d, j) => (j === i ? 0 : d)),
    "a dim dropped": s.filter((_, j) => j !== i), "a dim of 1 added": [...s, 1], "a dim 2^53": s.map((d, j) => (j === i ? 2 ** 53 : d)),
    "a dim negative": s.map((d, j) => (j === i ? -d : d)), "a dim 1.5": s.map((d, j) => (j === i ? 1.5 : d)), null: null, "a string": "64",
  }[edit];
  const numel = (x: unknown) => (Array.isArray(x) ? (x as number[]).reduce((a, b) => a * b, 1) : NaN);
  // A module scale may be stored as [] or [1] (docs/FORMAT.md §2).
  const moduleScale = name.endsWith(".scale") && numel(old) === 1 && numel(e.shape) === 1 && Array.isArray(e.shape) && e.shape.every((d: number) => d === 1);
  const validity: Validity = sameJson(old, e.shape) || moduleScale ? "may-differ" : "must-refuse";
  return { bytes: buildSt(p.header, p.data), m: { cls: `safetensors shape: ${edit}`, label: `${name} shape [${old}] → ${JSON.stringify(e.shape)}`, validity } };
});

const offsetsEdit = stMutator((p, rng) => {
  const names = tensorNames(p.header);
  const name = rng.pick(names);
  const e = p.header[name];
  const [b, end] = e.data_offsets as [number, number];
  const size = end - b;
  const twins = names.filter((n) => n !== name && p.header[n].dtype === e.dtype && p.header[n].data_offsets[1] - p.header[n].data_offsets[0] === size);
  const edit = rng.pick(["shifted", "overlapping", "gap", "swapped with a same-size tensor", "past the end", "begin > end", "negative", "non-integer", "null", "one number", "three numbers", "strings", "huge"]);
  let validity: Validity = "must-refuse";
  const dataLen = p.data.length;
  switch (edit) {
    case "shifted": { const d = rng.range(1, 8) * (rng.chance(0.5) ? 1 : -1); e.data_offsets = [b + d, end + d]; break; }
    case "overlapping": { const o = p.header[rng.pick(names)]; e.data_offsets = [o.data_offsets[0], o.data_offsets[0] + size]; if (o === e) validity = "may-differ"; break; }
    case "gap": {
      // Bytes inserted before the last tensor, whose offsets move with its data: every tensor reads right, a hole stays.
      const last = names.reduce((a, n) => (p.header[n].data_offsets[0] > p.header[a].data_offsets[0] ? n : a), names[0]);
      const at = p.header[last].data_offsets[0] as number;
      const d = rng.range(1, 8) * 4;
      if (at > p.data.length) break; // an earlier edit cut the data short: leave it at that
      const data = new Uint8Array(p.data.length + d);
      data.set(p.data.subarray(0, at));
      data.set(p.data.subarray(at), at + d);
      p.header[last].data_offsets = [at + d, p.header[last].data_offsets[1] + d];
      return { bytes: buildSt(p.header, data), m: { cls: "safetensors data_offsets gap", label: `${d}-byte hole before ${last}`, validity: "must-refuse" } };
    }
    case "swapped with a same-size tensor":
      if (twins.length > 0) {
        const o = p.header[rng.pick(twins)];
        [e.data_offsets, o.data_offsets] = [o.data_offsets, e.data_offsets];
        validity = "may-differ"; // still contiguous, every byte indexed once: a valid file with those two tensors' data swapped
      } else e.data_offsets = [b, dataLen + 4];
      break;
    case "past the end": e.data_offsets = [b, dataLen + rng.range(1, 64)]; break;
    case "begin > end": e.data_offsets = [end, b]; break;
    case "negative": e.data_offsets = [-size, 0]; break;
    case "non-integer": e.data_offsets = [b + 0.5, end + 0.5]; break;
    case "null": e.data_offsets = null; break;
    case "one number": e.data_offsets = [b]; break;
    case "three numbers": e.data_offsets = [b, end, end]; break;
    case "strings": e.data_offsets = [String(b), String(end)]; break;
    case "huge": e.data_offsets = [2 ** 53, 2 ** 53 + size]; break;
  }
  if (sameJson(e.data_offsets, [b, end])) validity = "may-differ";
  return { bytes: buildSt(p.header, p.data), m: { cls: `safetensors data_offsets ${edit}`, label: `${name} data_offsets [${b}, ${end}] → ${JSON.stringify(e.data_offsets)}`, validity } };
});

const headerLengthEdit = stMutator((p, rng) => {
  const n = BigInt(p.headerLength);
  const edits: [string, bigint][] = [["+1", n + 1n], ["−1", n - 1n], ["+8", n + 8n], ["−8", n - 8n], ["zero", 0n], ["2^32", 2n ** 32n], ["2^63", 2n ** 63n], ["2^64−1", 2n ** 64n - 1n], ["file size", BigInt(8 + p.headerLength + p.data.length)]];
  const [name, v] = rng.pick(edits);
  const text = new TextDecoder().decode(new TextEncoder().encode(JSON.stringify(p.header)));
  const bytes = buildSt(text, p.data, BigInt.asUintN(64, v + BigInt(new TextEncoder().encode(text).length) - n));
  return { bytes, m: { cls: `safetensors header length ${name}`, label: `header length ${p.headerLength} → ${BigInt.asUintN(64, v)} (${name})`, validity: "must-refuse" } };
});

const entryEdit = stMutator((p, rng, ctx) => {
  const name = pickTensor(p.header, rng)!;
  const edit = rng.pick(["null entry", "dtype missing", "shape missing", "data_offsets missing", "extra field", "entry is a string", "dropped", "renamed", "prefix toggled", "extra tensor"]);
  let validity: Validity = "must-refuse";
  let target = name;
  switch (edit) {
    case "null entry": p.header[name] = null; break;
    case "dtype missing": delete p.header[name].dtype; break;
    case "shape missing": delete p.header[name].shape; break;
    case "data_offsets missing": delete p.header[name].data_offsets; break;
    case "extra field": p.header[name].sha256 = "0"; validity = "unknown"; break;
    case "entry is a string": p.header[name] = "F32"; break;
    case "dropped": delete p.header[name]; break; // its bytes stay: a hole in the data block
    case "renamed":
      target = `${name}_renamed`;
      p.header[target] = p.header[name];
      delete p.header[name];
      if (family === "gpt2" && IGNORED_BUFFER.test(name)) validity = "unknown";
      break;
    case "prefix toggled": {
      // GPT-2's `transformer.`, BART's `model.` (which final_logits_bias and lm_head.weight lack in HF's files).
      const prefix = PREFIX();
      target = name.startsWith(prefix) ? name.slice(prefix.length) : `${prefix}${name}`;
      if (target in p.header) break;
      p.header[target] = p.header[name];
      delete p.header[name];
      validity = "may-differ"; // names are read with or without the prefix
      // A sharded checkpoint's index lists the tensor under its new spelling too (as a tool that renamed it would).
      const indexPath = join(ctx.dir, "model.safetensors.index.json");
      const index = existsSync(indexPath) ? (jsonObject(indexPath) as { weight_map?: Record<string, unknown> } | undefined) : undefined;
      if (index?.weight_map !== null && typeof index?.weight_map === "object" && name in index.weight_map) {
        index.weight_map[target] = index.weight_map[name];
        delete index.weight_map[name];
        writeJson(indexPath, index);
      }
      break;
    }
    case "extra tensor": {
      target = family === "bart" ? rng.pick(["model.encoder.layers.99.fc1.bias", "model.decoder.layers.0.cross_attn.k_proj.bias", "model.encoder.layer_norm.weight"]) : "h.99.ln_1.weight";
      const first = p.header[name];
      p.header[target] = { dtype: first.dtype, shape: first.shape, data_offsets: first.data_offsets }; // overlaps `name`
      break;
    }
  }
  return { bytes: buildSt(p.header, p.data), m: { cls: `safetensors entry ${edit}`, label: `${name} ${edit}${target !== name ? ` → ${target}` : ""}`, validity } };
});

const metadataEdit = stMutator((p, rng, ctx) => {
  const edit = rng.pick(["null", "deleted", "a number", "an array", "a non-string value", "a nested object", "a string key added", "a 100 kB value"]);
  const old = p.header.__metadata__;
  const value = {
    null: null, deleted: undefined, "a number": 1, "an array": [], "a non-string value": { format: 1 }, "a nested object": { format: { pt: true } },
    "a string key added": { ...(old ?? {}), note: "fuzz" }, "a 100 kB value": { ...(old ?? {}), big: "x".repeat(100_000) },
  }[edit];
  if (value === undefined) delete p.header.__metadata__;
  else p.header.__metadata__ = value;
  // __metadata__ is optional, a map of strings to strings (the Rust reader refuses anything else).
  const validity: Validity = ["deleted", "a string key added", "a 100 kB value", "null"].includes(edit) ? (edit === "null" ? "unknown" : "may-differ") : "must-refuse";
  return { bytes: buildSt(p.header, p.data), m: { cls: `safetensors __metadata__ ${edit}`, label: `__metadata__ ${edit}`, validity, target: `${ctx.file} __metadata__` } };
});

const headerTextEdit = stMutator((p, rng) => {
  const text = JSON.stringify(p.header);
  const edit = rng.pick(["truncated JSON", "trailing garbage", "a JSON array", "invalid UTF-8", "duplicate key", "padded with spaces", "JSON null"]);
  let header: string | Record<string, unknown> = text;
  let validity: Validity = "must-refuse";
  switch (edit) {
    case "truncated JSON": header = text.slice(0, rng.int(text.length)); break;
    case "trailing garbage": header = `${text}}x`; break;
    case "a JSON array": header = `[${text}]`; break;
    case "invalid UTF-8": header = `${text.slice(0, -1)},"ZZ":1}`; break;
    case "duplicate key": {
      const n = pickTensor(p.header, rng)!;
      header = `{${JSON.stringify(n)}:${JSON.stringify({ ...p.header[n], shape: [1] })},${text.slice(1)}`;
      header += " ".repeat((8 - ((8 + new TextEncoder().encode(header).length) % 8)) % 8);
      validity = "unknown";
      break;
    }
    case "padded with spaces": header = text + " ".repeat(rng.range(1, 16)); validity = "may-differ"; break; // the data block may end up unaligned: still valid
    case "JSON null": header = "null"; break;
  }
  let bytes = buildSt(header, p.data);
  if (edit === "invalid UTF-8") {
    // The "ZZ" key written above ends the header as ,"ZZ":1} : its two letters become bytes that are not UTF-8.
    bytes.set([0xff, 0xfe], 8 + new TextEncoder().encode(header as string).length - 6);
  }
  return { bytes, m: { cls: `safetensors header ${edit}`, label: `header ${edit}`, validity } };
});

const truncateFile = stMutator((p, rng, ctx) => {
  const raw = ctx.raw;
  const where = rng.pick(["anywhere", "inside the header", "inside the data", "last byte", "to 5 bytes"]);
  const at = {
    anywhere: rng.int(raw.length), "inside the header": rng.range(8, 8 + p.headerLength - 1), "inside the data": rng.range(8 + p.headerLength, raw.length - 1),
    "last byte": raw.length - 1, "to 5 bytes": 5,
  }[where]!;
  return { bytes: raw.slice(0, at), m: { cls: `safetensors truncated ${where}`, label: `truncated to ${at} of ${raw.length} bytes`, validity: "must-refuse" } };
});

const appendTail = stMutator((_p, rng, ctx) => {
  const n = rng.range(1, 64);
  const tail = Uint8Array.from({ length: n }, () => rng.int(256));
  return { bytes: Uint8Array.from([...ctx.raw, ...tail]), m: { cls: "safetensors bytes appended after the data", label: `${n} bytes appended (not indexed by any tensor)`, validity: "must-refuse" } };
});

// ── BART's names and layout ──

/**
 * A BART nn.Linear weight (or its codes) stored input-major, as lowbit holds it in memory, instead of HF's
 * (out, in): data and shape both transposed. A square one (d × d: the attention projections) cannot be
 * told apart from other weights, so it is a valid file; fc1/fc2 (d × F) get a shape that contradicts the config.
 */
const linearTransposed = stMutator((p, rng, ctx) => {
  const names = tensorNames(p.header).filter((n) => BART_LINEAR.test(n) && !n.endsWith(".scale") && p.header[n].shape.length === 2 && DTYPE_BYTES[p.header[n].dtype] !== undefined);
  if (names.length === 0) return { bytes: ctx.raw, m: { cls: "no linear weight to transpose", label: "no nn.Linear weight in this file", validity: "may-differ" } };
  const name = rng.pick(names);
  const e = p.header[name];
  const [rows, cols] = e.shape as [number, number];
  const w = DTYPE_BYTES[e.dtype];
  const [b] = e.data_offsets as [number, number];
  const data = p.data.slice();
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) data.set(p.data.subarray(b + (r * cols + c) * w, b + (r * cols + c + 1) * w), b + (c * rows + r) * w);
  }
  e.shape = [cols, rows];
  const square = rows === cols;
  return {
    bytes: buildSt(p.header, data),
    m: { cls: `nn.Linear weight stored input-major (${square ? "square" : "not square"})`, label: `${name} [${rows}, ${cols}] stored transposed as [${cols}, ${rows}]`, validity: square ? "may-differ" : "must-refuse" },
  };
});

/** The file that holds shared.weight (either spelling) as a float tensor, parsed; undefined in a quantized checkpoint. */
function sharedFile(dir: string): { f: WeightFile; p: Parsed; name: string } | undefined {
  for (const f of weightFiles(dir)) {
    const p = parseSt(readWeightFile(f));
    const name = ["model.shared.weight", "shared.weight"].find((n) => p !== undefined && tensorNames(p.header).includes(n));
    if (p !== undefined && name !== undefined) return { f, p, name };
  }
  return undefined;
}

/**
 * BART's tied copies of shared.weight: one added beside it (equal: still valid; with one value changed: the
 * config's tie is contradicted), an existing copy changed, or shared.weight dropped while a copy stays.
 */
const tiedCopyEdit: Mutator = (dir, rng) => {
  const edit = rng.pick(["an equal copy added", "a differing copy added", "a stored copy changed", "shared.weight dropped, copies kept"]);
  const found = sharedFile(dir);
  if (found === undefined) return safetensorsEdit(dir, rng);
  const { f, p, name } = found;
  const prefix = name.startsWith("model.") ? "model." : "";
  const stored = new Set(weightFiles(dir).flatMap((x) => { const q = parseSt(readWeightFile(x)); return q === undefined ? [] : tensorNames(q.header).map((n) => n.replace(/^model\./, "")); }));
  const indexPath = join(dir, "model.safetensors.index.json");
  const index = existsSync(indexPath) ? (jsonObject(indexPath) as { weight_map?: Record<string, string> } | undefined) : undefined;
  const listInIndex = (n: string) => { if (index?.weight_map !== undefined && typeof index.weight_map === "object") { index.weight_map[n] = f.name; writeJson(indexPath, index); } };
  if (edit === "an equal copy added" || edit === "a differing copy added") {
    const absent = BART_TIED.filter((c) => !stored.has(c));
    if (absent.length === 0) return safetensorsEdit(dir, rng);
    const copy = rng.pick(absent);
    const target = copy === "lm_head.weight" ? copy : `${prefix}${copy}`; // HF writes lm_head.weight without the prefix
    const e = p.header[name];
    const [b, end] = e.data_offsets as [number, number];
    const extra = p.data.slice(b, end);
    const at = rng.int(Math.max(1, extra.length / (DTYPE_BYTES[e.dtype] ?? 4))) * (DTYPE_BYTES[e.dtype] ?? 4);
    if (edit === "a differing copy added") extra[at] ^= 0x01; // the lowest bit of one value: still finite, but not the embedding
    const data = new Uint8Array(p.data.length + extra.length);
    data.set(p.data);
    data.set(extra, p.data.length);
    p.header[target] = { dtype: e.dtype, shape: e.shape, data_offsets: [p.data.length, p.data.length + extra.length] };
    writeWeightFile(f, buildSt(p.header, data));
    listInIndex(target);
    return { cls: `tied copy: ${edit}`, label: `${f.name}: ${target} added as a ${edit === "an equal copy added" ? "copy" : "changed copy"} of ${name}`, validity: edit === "an equal copy added" ? "may-differ" : "must-refuse" };
  }
  if (edit === "a stored copy changed") {
    for (const x of weightFiles(dir)) {
      const q = parseSt(readWeightFile(x));
      const copy = q === undefined ? undefined : tensorNames(q.header).find((n) => BART_TIED.includes(n.replace(/^model\./, "")));
      if (q === undefined || copy === undefined) continue;
      const [b, end] = q.header[copy].data_offsets as [number, number];
      const data = q.data.slice();
      const w = DTYPE_BYTES[q.header[copy].dtype] ?? 4;
      data[b + rng.int(Math.max(1, (end - b) / w)) * w] ^= 0x01;
      writeWeightFile(x, buildSt(q.header, data));
      return { cls: "tied copy: a stored copy changed", label: `${x.name}: one value of ${copy} changed (no longer shared.weight)`, validity: "must-refuse" };
    }
    return safetensorsEdit(dir, rng);
  }
  // shared.weight dropped: transformers would tie it back from a copy; lowbit needs shared.weight itself.
  if (!BART_TIED.some((c) => stored.has(c))) return safetensorsEdit(dir, rng);
  delete p.header[name];
  writeWeightFile(f, buildSt(p.header, p.data)); // its bytes stay: a hole
  return { cls: "tied copy: shared.weight dropped, copies kept", label: `${f.name}: ${name} dropped (a copy stays; its bytes left as a hole)`, validity: "must-refuse" };
};

const ST_MUTATORS: { weight: number; value: Mutator }[] = [
  { weight: 8, value: dtypeEdit }, { weight: 8, value: shapeEdit }, { weight: 9, value: offsetsEdit }, { weight: 6, value: headerLengthEdit },
  { weight: 10, value: entryEdit }, { weight: 4, value: metadataEdit }, { weight: 5, value: headerTextEdit }, { weight: 14, value: flipData },
  { weight: 6, value: truncateFile }, { weight: 3, value: appendTail },
];
/** BART checkpoints draw from these too: the layout and the names that only BART has. */
const BART_ST_MUTATORS: { weight: number; value: Mutator }[] = [...ST_MUTATORS, { weight: 8, value: linearTransposed }, { weight: 8, value: tiedCopyEdit }];
const safetensorsEdit: Mutator = (dir, rng) => rng.weighted(family === "bart" ? BART_ST_MUTATORS : ST_MUTATORS)(dir, rng);

// ─── config.json ────────────────────────────────────────────────────────────────────────────────

/** transformers' GPT2Config defaults: what a missing key means. */
const HF_DEFAULTS: Record<string, unknown> = {
  vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12, n_inner: null, activation_function: "gelu_new",
  layer_norm_epsilon: 1e-5, tie_word_embeddings: true, scale_attn_weights: true, scale_attn_by_inverse_layer_idx: false, reorder_and_upcast_attn: false,
};

function hfConfigVerdict(key: string, e: ValueEdit, cfg: Record<string, unknown>): Validity {
  if (!e.missing && sameJson(cfg[key], e.value)) return "may-differ";
  const v = e.missing ? HF_DEFAULTS[key] : e.value;
  const C = cfg.n_embd as number;
  switch (key) {
    case "vocab_size": case "n_positions": case "n_embd": case "n_layer": return sameJson(v, cfg[key]) ? "may-differ" : "must-refuse";
    case "n_head": return isPositiveInt(v) && C % v === 0 ? "may-differ" : "must-refuse";
    case "n_inner": {
      const resolved = (x: unknown) => (x === null || x === undefined ? 4 * C : isPositiveInt(x) ? x : NaN);
      return resolved(v) === resolved(cfg.n_inner) ? "may-differ" : "must-refuse";
    }
    case "layer_norm_epsilon": return v === 0 ? "unknown" : isFiniteNumber(v) && v > 0 ? "may-differ" : "must-refuse";
    case "activation_function": return ["gelu_new", "gelu_pytorch_tanh"].includes(v as string) ? "may-differ" : "must-refuse";
    case "tie_word_embeddings": return v === (cfg.tie_word_embeddings ?? true) ? "may-differ" : "must-refuse";
    case "scale_attn_weights": return v === true ? "may-differ" : "must-refuse";
    case "scale_attn_by_inverse_layer_idx": case "reorder_and_upcast_attn": return v === false ? "may-differ" : "must-refuse";
    case "bos_token_id": case "eos_token_id":
      // Absent: the default (vocab_size − 1, GPT-2's own 50256), a valid config; null: refused (HF would read "no token").
      return e.missing ? "may-differ" : v === null ? "must-refuse" : Number.isInteger(v) && (v as number) >= 0 && (v as number) < (cfg.vocab_size as number) ? "may-differ" : "must-refuse";
    case "model_type": return e.missing ? "may-differ" : "must-refuse"; // GPT2Config's own model_type is "gpt2"
    case "lowbit_untrained": return e.missing || typeof v === "boolean" ? "may-differ" : "unknown";
    case "quantization_config": return "must-refuse";
    default: return "may-differ"; // keys neither lowbit nor GPT-2 inference reads (dropout, id2label, architectures, …)
  }
}

/** transformers' BartConfig defaults: what a missing key means. */
const HF_BART_DEFAULTS: Record<string, unknown> = {
  vocab_size: 50265, max_position_embeddings: 1024, d_model: 1024, encoder_layers: 12, decoder_layers: 12, encoder_attention_heads: 16,
  decoder_attention_heads: 16, encoder_ffn_dim: 4096, decoder_ffn_dim: 4096, activation_function: "gelu", scale_embedding: false,
  tie_word_embeddings: true, pad_token_id: 1, bos_token_id: 0, eos_token_id: 2, decoder_start_token_id: 2, forced_bos_token_id: null, forced_eos_token_id: 2,
};

/**
 * What a config.json key means when the file leaves it out, or (n_inner) sets it to null: transformers'
 * default, resolved against the rest of the config as lowbit's readers resolve it.
 */
export function hfDefault(fam: "gpt2" | "bart", key: string, cfg: Record<string, unknown>): unknown {
  if (fam === "bart") return HF_BART_DEFAULTS[key];
  const V = cfg.vocab_size as number;
  if (key === "eos_token_id") return V - 1;
  if (key === "bos_token_id") return cfg.eos_token_id ?? V - 1;
  if (key === "n_inner") return 4 * (cfg.n_embd as number);
  return HF_DEFAULTS[key];
}
/** Keys of pre-4.0 (fairseq-style) BART configs, valid only at plain BART's value. */
const BART_VARIANT_KEYS: Record<string, unknown> = {
  normalize_before: false, add_final_layer_norm: false, add_bias_logits: false, normalize_embedding: true, static_position_embeddings: false, extra_pos_embeddings: 2,
};
const BART_READ_KEYS = [
  "vocab_size", "d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads", "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim",
  "max_position_embeddings", "activation_function", "scale_embedding", "tie_word_embeddings", "pad_token_id", "bos_token_id", "eos_token_id",
  "decoder_start_token_id", "forced_bos_token_id", "forced_eos_token_id", "model_type", "normalize_before", "add_final_layer_norm", "extra_pos_embeddings",
];

/** A BART config.json key after an edit, judged against the seed's config `cfg` (and generation_config.json `g`). */
function hfBartConfigVerdict(key: string, e: ValueEdit, cfg: Record<string, unknown>, g: Record<string, unknown>): Validity {
  if (!e.missing && sameJson(cfg[key], e.value)) return "may-differ";
  // A missing key: transformers' default, except token ids that generation_config.json then gives (as lowbit reads them).
  const v = e.missing ? (key in g && key.endsWith("_token_id") ? g[key] : HF_BART_DEFAULTS[key]) : e.value;
  const d = cfg.d_model as number;
  const V = cfg.vocab_size as number;
  const id = (x: unknown) => Number.isInteger(x) && (x as number) >= 0 && (x as number) < V;
  switch (key) {
    case "vocab_size": case "d_model": case "encoder_layers": case "decoder_layers": case "encoder_ffn_dim": case "decoder_ffn_dim": case "max_position_embeddings":
      return sameJson(v, cfg[key]) ? "may-differ" : "must-refuse";
    case "encoder_attention_heads": case "decoder_attention_heads": return isPositiveInt(v) && d % v === 0 ? "may-differ" : "must-refuse";
    // transformers has more (relu, silu, …): lowbit implements these two and must refuse the rest.
    case "activation_function": return v === "gelu" || v === "gelu_new" ? "may-differ" : "must-refuse";
    case "scale_embedding": return typeof v === "boolean" ? "may-differ" : "must-refuse";
    case "tie_word_embeddings": return v === true ? "may-differ" : "must-refuse";
    // The tokenizer's <s>, <pad>, </s> have these ids: another id contradicts vocab.json.
    case "pad_token_id": case "bos_token_id": case "eos_token_id": return sameJson(v, cfg[key] ?? HF_BART_DEFAULTS[key]) ? "may-differ" : "must-refuse";
    case "decoder_start_token_id": return id(v) ? "may-differ" : "must-refuse";
    case "forced_bos_token_id": case "forced_eos_token_id": return v === null || v === undefined || id(v) ? "may-differ" : "must-refuse";
    case "model_type": return "must-refuse"; // absent: read as GPT-2
    case "lowbit_untrained": return e.missing || typeof v === "boolean" ? "may-differ" : "unknown";
    case "quantization_config": return "must-refuse";
    default:
      if (key in BART_VARIANT_KEYS) return e.missing || sameJson(v, BART_VARIANT_KEYS[key]) ? "may-differ" : "must-refuse";
      return "may-differ"; // dropout, id2label, init_std, …: not read for inference
  }
}

/** config.json as an object, or undefined where an earlier edit left it unreadable or not an object. */
function configObject(path: string): Record<string, unknown> | undefined {
  try {
    const cfg = readJson(path);
    return cfg !== null && typeof cfg === "object" && !Array.isArray(cfg) ? (cfg as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const configKey: Mutator = (dir, rng) => {
  const path = join(dir, "config.json");
  const cfg = configObject(path);
  if (cfg === undefined) return configWhole(dir, rng);
  // Keys lowbit reads come up more often than the rest; every key of the file can come up.
  const read = family === "bart" ? BART_READ_KEYS
    : ["vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner", "layer_norm_epsilon", "activation_function", "tie_word_embeddings", "bos_token_id", "eos_token_id", "model_type", "scale_attn_weights", "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"];
  const keys = Object.keys(cfg).filter((k) => k !== "quantization_config");
  const key = rng.chance(0.7) ? rng.pick(read) : rng.pick(keys.length > 0 ? keys : read);
  const before = structuredClone(cfg);
  const special = specialConfigEdits(key, cfg, family);
  const e = special.length > 0 && rng.chance(0.3) ? rng.pick(special) : drawValueEdit(rng, cfg[key]);
  applyValueEdit(cfg, key, e);
  writeJson(path, cfg);
  const orig = seedConfig ?? before;
  const validity = !(key in orig) && e.missing ? "may-differ" : family === "bart" ? hfBartConfigVerdict(key, e, orig, seedGeneration ?? {}) : hfConfigVerdict(key, e, orig);
  return { cls: `config.json ${key}: ${e.name}`, label: `config.json ${key} ${describeValue(e)}`, validity, target: `config.json ${key}` };
};

const configWhole: Mutator = (dir, rng) => {
  const path = join(dir, "config.json");
  const old = existsSync(path) ? readFileSync(path, "utf8") : "";
  const edit = rng.pick(["truncated", "empty", "null", "an array", "a number", "deleted", "BOM prefixed", "duplicate key"]);
  let validity: Validity = "must-refuse";
  if (edit === "deleted") rmSync(path, { force: true });
  else {
    const text = {
      truncated: old.slice(0, rng.int(Math.max(1, old.length))), empty: "", null: "null", "an array": "[]", "a number": "42", deleted: "",
      "BOM prefixed": `\ufeff${old}`, "duplicate key": old.replace("{", '{"n_layer": 100000000,'),
    }[edit];
    // A BOM: JSON readers differ (Python's json refuses it). A duplicate key (put first): RFC 8259 leaves it open,
    // but Python's json and JSON.parse both keep the last, the file's own value.
    if (edit === "BOM prefixed") validity = "unknown";
    if (edit === "duplicate key") validity = "may-differ";
    writeFileSync(path, text ?? "");
  }
  return { cls: `config.json ${edit}`, label: `config.json ${edit}`, validity };
};

const addQuantConfig: Mutator = (dir, rng) => {
  const path = join(dir, "config.json");
  const cfg = configObject(path);
  if (cfg === undefined) return configWhole(dir, rng);
  // Plain means no quantized tensors in the files (the config may have lost its block to an earlier edit).
  const plain = !weightFiles(dir).some((f) => { const p = parseSt(readWeightFile(f)); return p !== undefined && Object.keys(p.header).some((n) => n.endsWith(".qweight")); });
  cfg.quantization_config = { format: "lowbit-quantized-checkpoint", format_version: 1, weight_bits: rng.pick([2, 4, 8]), embedding_bits: 8, activation_bits: 8, granularity: "module", group_size: 0, method: "rtn-maxabs" };
  writeJson(path, cfg);
  return {
    cls: plain ? "quantization_config added to a plain checkpoint" : "quantization_config replaced", label: `config.json quantization_config = ${JSON.stringify(cfg.quantization_config)}`,
    // Relabelled bit widths of a quantized checkpoint: a valid checkpoint exactly when every code fits the new
    // widths (the reader checks each code's range), so a run with another result is a legitimate one.
    validity: plain ? "must-refuse" : "may-differ", target: "config.json quantization_config",
  };
};

// ─── tokenizer files ────────────────────────────────────────────────────────────────────────────

const tokenizerEdit: Mutator = (dir, rng) => {
  const vocabPath = join(dir, "vocab.json");
  const mergesPath = join(dir, "merges.txt");
  const has = existsSync(vocabPath) && existsSync(mergesPath);
  const bartEdits = family === "bart" ? ["vocab.json <s> and </s> swapped", "vocab.json <pad> removed", "vocab.json <mask> removed"] : [];
  const edit = has
    ? rng.pick(["vocab.json truncated", "merges.txt truncated mid-line", "merges.txt truncated at a line end", "vocab.json deleted", "merges.txt deleted", "both deleted", "vocab.json bad JSON", "vocab.json empty object", "vocab.json id edited", "merges.txt malformed line", "merges.txt unknown token", "vocab.json tokens past vocab_size", "merges.txt emptied", "merges.txt CRLF", ...bartEdits])
    : "vocab.json only";
  let validity: Validity = "must-refuse";
  const vocab = has ? readFileSync(vocabPath, "utf8") : "";
  const merges = has ? readFileSync(mergesPath, "utf8") : "";
  const parsedVocab = (): Record<string, unknown> | undefined => {
    try {
      const v = JSON.parse(vocab) as unknown;
      return v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length > 0 ? (v as Record<string, unknown>) : undefined;
    } catch {
      return undefined; // broken by an earlier edit
    }
  };
  const lines = merges.split("\n");
  switch (edit) {
    case "vocab.json truncated": writeFileSync(vocabPath, vocab.slice(0, rng.int(vocab.length))); break;
    case "merges.txt truncated mid-line": case "merges.txt truncated at a line end": {
      const i = rng.range(1, Math.max(1, lines.length - 2));
      const at = lines.slice(0, i).join("\n").length + 1;
      writeFileSync(mergesPath, edit.endsWith("mid-line") ? merges.slice(0, at + 1) : merges.slice(0, at));
      if (edit.endsWith("line end")) validity = "unknown";
      break;
    }
    case "vocab.json deleted": rmSync(vocabPath); break;
    case "merges.txt deleted": rmSync(mergesPath); break;
    case "both deleted": {
      // Documented: GPT-2's own BPE then. Valid only where its 50257 tokens fit the model's vocabulary.
      rmSync(vocabPath);
      rmSync(mergesPath);
      let V = NaN;
      try { V = (readJson(join(dir, "config.json")) as { vocab_size: number }).vocab_size; } catch { /* unreadable config: refused anyway */ }
      validity = V >= 50257 ? "may-differ" : "must-refuse";
      break;
    }
    case "vocab.json bad JSON": writeFileSync(vocabPath, vocab.replace(":", "")); break;
    case "vocab.json empty object": writeFileSync(vocabPath, "{}"); break;
    case "vocab.json id edited": {
      const v = parsedVocab();
      if (v === undefined) { writeFileSync(vocabPath, vocab.slice(0, -1)); break; }
      const t = rng.pick(Object.keys(v));
      v[t] = rng.pick([-1, 1.5, "x", null, 2 ** 31]);
      writeFileSync(vocabPath, JSON.stringify(v));
      break;
    }
    case "merges.txt malformed line": lines.splice(rng.range(1, lines.length), 0, "abc"); writeFileSync(mergesPath, lines.join("\n")); break;
    case "merges.txt unknown token": lines.splice(rng.range(1, lines.length), 0, "zzqq xxjj"); writeFileSync(mergesPath, lines.join("\n")); break;
    case "vocab.json tokens past vocab_size": {
      const v = parsedVocab();
      if (v === undefined) { writeFileSync(vocabPath, vocab.slice(0, -1)); break; }
      for (let i = 0; i < 400; i++) v[`<extra_${i}>`] = 1000 + i;
      writeFileSync(vocabPath, JSON.stringify(v));
      break;
    }
    case "merges.txt emptied": writeFileSync(mergesPath, ""); validity = "unknown"; break;
    case "merges.txt CRLF": writeFileSync(mergesPath, merges.replace(/\n/g, "\r\n")); validity = "may-differ"; break;
    // BART's special tokens: <s>, <pad>, </s>, <unk> make a vocabulary BART's, with the ids config.json gives
    // them; <mask> is optional (nothing in a summary needs it).
    case "vocab.json <s> and </s> swapped": case "vocab.json <pad> removed": case "vocab.json <mask> removed": {
      const v = parsedVocab();
      if (v === undefined) { writeFileSync(vocabPath, vocab.slice(0, -1)); break; }
      if (edit.includes("swapped")) [v["<s>"], v["</s>"]] = [v["</s>"], v["<s>"]];
      else delete v[edit.includes("<pad>") ? "<pad>" : "<mask>"];
      writeFileSync(vocabPath, JSON.stringify(v));
      if (edit.includes("<mask>")) validity = "may-differ";
      break;
    }
    case "vocab.json only": writeFileSync(vocabPath, '{"a": 0}'); break; // no merges.txt beside it
  }
  return { cls: `tokenizer ${edit}`, label: `tokenizer ${edit}`, validity };
};

// ─── shard index and .part-NN files ─────────────────────────────────────────────────────────────

const indexEdit: Mutator = (dir, rng) => {
  const path = join(dir, "model.safetensors.index.json");
  if (!existsSync(path)) return weightFiles(dir).some((f) => f.parts.length > 0) ? partsEdit(dir, rng) : safetensorsEdit(dir, rng);
  let index: { metadata?: Record<string, unknown>; weight_map: Record<string, unknown> };
  try {
    index = readJson(path) as typeof index;
  } catch {
    writeFileSync(path, "{");
    return { cls: "shard index bad JSON", label: "shard index bad JSON", validity: "must-refuse" };
  }
  const map = index.weight_map ?? {};
  const names = Object.keys(map);
  const shards = [...new Set(Object.values(map))].filter((s): s is string => typeof s === "string" && existsSync(join(dir, s))).sort();
  if (shards.length === 0) {
    writeFileSync(path, "{");
    return { cls: "shard index bad JSON", label: "shard index bad JSON (no shard left to edit)", validity: "must-refuse" };
  }
  const edit = rng.pick(["weight_map null", "weight_map missing", "weight_map an array", "weight_map empty", "a shard file missing", "a tensor mapped to the wrong shard",
    "path traversal ../", "absolute path", "a non-string shard name", "a tensor dropped from weight_map", "an entry for no tensor", "metadata.total_size changed",
    "metadata deleted", "bad JSON", "index truncated", "an unlisted shard file added", "model.safetensors beside the index"]);
  let validity: Validity = "must-refuse";
  let detail = "";
  const t = names.length > 0 ? rng.pick(names) : "wte.weight";
  switch (edit) {
    case "weight_map null": index.weight_map = null as never; break;
    case "weight_map missing": delete (index as Partial<typeof index>).weight_map; break;
    case "weight_map an array": index.weight_map = Object.values(map) as never; break;
    case "weight_map empty": index.weight_map = {}; break;
    case "a shard file missing": { const s = rng.pick(shards); rmSync(join(dir, s)); detail = ` (${s})`; break; }
    case "a tensor mapped to the wrong shard": { const other = shards.filter((s) => s !== map[t]); if (other.length > 0) map[t] = rng.pick(other); detail = ` (${t})`; break; }
    case "path traversal ../": {
      // The shard really is there, outside the checkpoint: a reader that follows "../" runs.
      const s = rng.pick(shards);
      renameSync(join(dir, s), join(dirname(dir), s));
      for (const n of names) if (map[n] === s) map[n] = `../${s}`;
      detail = ` (../${s})`;
      break;
    }
    case "absolute path": { const s = rng.pick(shards); for (const n of names) if (map[n] === s) map[n] = join(dir, s); break; }
    case "a non-string shard name": map[t] = rng.pick([1, null, [], {}]); detail = ` (${t} → ${JSON.stringify(map[t])})`; break;
    case "a tensor dropped from weight_map": delete map[t]; detail = ` (${t})`; break;
    case "an entry for no tensor": map[family === "bart" ? "decoder.layers.99.fc2.bias" : "h.99.ln_1.weight"] = shards[0]; break;
    case "metadata.total_size changed": {
      // Informational for transformers (progress bars), so any count is accepted; not a count is refused.
      const v = rng.pick([0, -1, 1e15, "x"]);
      index.metadata = { ...(index.metadata ?? {}), total_size: v };
      validity = typeof v === "number" && v >= 0 ? "may-differ" : "must-refuse";
      break;
    }
    case "metadata deleted": delete index.metadata; validity = "may-differ"; break;
    case "bad JSON": writeFileSync(path, JSON.stringify(index).replace(":", "")); return { cls: `shard index ${edit}`, label: `shard index ${edit}`, validity };
    case "index truncated": { const text = JSON.stringify(index); writeFileSync(path, text.slice(0, rng.int(text.length))); return { cls: `shard index ${edit}`, label: `shard index ${edit}`, validity }; }
    case "an unlisted shard file added": writeFileSync(join(dir, "model-extra.safetensors"), readFileSync(join(dir, shards[0]))); validity = "may-differ"; break;
    case "model.safetensors beside the index": writeFileSync(join(dir, "model.safetensors"), readFileSync(join(dir, shards[0]))); validity = "unknown"; break;
  }
  writeJson(path, index);
  return { cls: `shard index ${edit}`, label: `shard index ${edit}${detail}`, validity };
};

const partsEdit: Mutator = (dir, rng) => {
  const f = weightFiles(dir).find((x) => x.parts.length > 0);
  if (f === undefined) return existsSync(join(dir, "model.safetensors.index.json")) ? indexEdit(dir, rng) : safetensorsEdit(dir, rng);
  const parts = f.parts;
  const k = rng.int(parts.length);
  const edit = rng.pick(["a part deleted", "a part cut short", "bytes appended to a part", "an extra part", "two parts swapped", "a part renamed to one digit", "cut points moved", "the whole file beside its parts", "a cut whole file beside its parts"]);
  let validity: Validity = "must-refuse";
  const whole = readWeightFile(f);
  switch (edit) {
    case "a part deleted": rmSync(parts[k]); break;
    case "a part cut short": { const b = readFileSync(parts[k]); writeFileSync(parts[k], b.subarray(0, rng.int(b.length))); break; }
    case "bytes appended to a part": writeFileSync(parts[k], Buffer.concat([readFileSync(parts[k]), Buffer.alloc(rng.range(1, 64), 7)])); break;
    case "an extra part": writeFileSync(`${f.path}.part-${String(parts.length).padStart(2, "0")}`, Buffer.alloc(rng.range(1, 64), 1)); break;
    case "two parts swapped": {
      if (parts.length < 2) break;
      const j = (k + 1) % parts.length;
      const [a, b] = [readFileSync(parts[k]), readFileSync(parts[j])];
      writeFileSync(parts[k], b);
      writeFileSync(parts[j], a);
      // The concatenation may still be a well-formed file (same header, data moved): then it is new weights.
      validity = contentVerdict(whole, readWeightFile(f), quantConfig(dir));
      break;
    }
    case "a part renamed to one digit": renameSync(parts[Math.max(1, k) % parts.length], `${f.path}.part-${Math.max(1, k) % parts.length}`); break;
    case "cut points moved": {
      const sizes = parts.map(() => 0);
      let left = whole.length;
      for (let i = 0; i < parts.length - 1; i++) { sizes[i] = rng.range(0, left); left -= sizes[i]; }
      sizes[parts.length - 1] = left;
      let at = 0;
      parts.forEach((p, i) => { writeFileSync(p, whole.subarray(at, at + sizes[i])); at += sizes[i]; });
      validity = "may-differ"; // the same concatenation
      break;
    }
    case "the whole file beside its parts": writeFileSync(f.path, whole); validity = "may-differ"; break;
    case "a cut whole file beside its parts": writeFileSync(f.path, whole.subarray(0, rng.int(whole.length))); break;
  }
  return { cls: `parts ${edit}`, label: `${f.name} parts: ${edit} (part ${k} of ${parts.length})`, validity };
};

// ─── quantized checkpoints ──────────────────────────────────────────────────────────────────────

function qcVerdict(key: string, e: ValueEdit, q: Record<string, unknown>): Validity {
  if (!e.missing && sameJson(q[key], e.value)) return "may-differ";
  const v = e.value;
  switch (key) {
    case "format": case "format_version": case "granularity": return "must-refuse";
    // Wider codes hold the same values: 2 → 4 → 8 is a valid checkpoint (exported at the wider width).
    case "weight_bits": return [2, 4, 8].includes(v as number) && (v as number) > (q.weight_bits as number) ? "may-differ" : "must-refuse";
    case "embedding_bits": return q.embedding_bits !== 32 && [2, 4, 8].includes(v as number) && (v as number) > (q.embedding_bits as number) ? "may-differ" : "must-refuse";
    case "activation_bits": return v === 8 || v === 32 ? "may-differ" : "must-refuse";
    // Module scales have group size 0, which is also what an absent key means; any other value contradicts them.
    case "group_size": return q.granularity === "module" && (e.missing || v === 0) ? "may-differ" : "must-refuse";
    case "method": return e.missing || typeof v === "string" ? "may-differ" : "unknown"; // informational; the reader says "unknown"
    default: return "unknown";
  }
}

const qcKey: Mutator = (dir, rng) => {
  const path = join(dir, "config.json");
  let cfg: Record<string, unknown>;
  try {
    cfg = readJson(path) as Record<string, unknown>;
  } catch {
    return configWhole(dir, rng);
  }
  const q = cfg.quantization_config as Record<string, unknown> | undefined;
  if (q === null || typeof q !== "object") return addQuantConfig(dir, rng);
  const key = rng.chance(0.05) || Object.keys(q).length === 0 ? rng.pick(["clip", "weight_bits", "format"]) : rng.pick(Object.keys(q));
  const before = structuredClone(q);
  const sq = seedConfig?.quantization_config;
  const origQ = sq !== null && typeof sq === "object" ? (sq as Record<string, unknown>) : before;
  const special: Record<string, ValueEdit[]> = {
    weight_bits: [2, 4, 8, 3, 32].map((b) => ({ name: "other bits", value: b })), embedding_bits: [2, 4, 8, 32].map((b) => ({ name: "other bits", value: b })),
    activation_bits: [{ name: "8 ↔ 32", value: q.activation_bits === 8 ? 32 : 8 }, { name: "16", value: 16 }],
    granularity: [{ name: "module ↔ group", value: q.granularity === "module" ? "group" : "module" }],
    group_size: [32, 64, 128, 256, 48].map((g) => ({ name: "another group size", value: g })), method: [{ name: "another method", value: "lsq" }],
    format_version: [{ name: "2", value: 2 }, { name: "\"1\"", value: "1" }], format: [{ name: "another format", value: "gptq" }],
  };
  const e = special[key] !== undefined && rng.chance(0.4) ? rng.pick(special[key]) : drawValueEdit(rng, q[key]);
  applyValueEdit(q, key, e);
  writeJson(path, cfg);
  return {
    cls: `quantization_config ${key}: ${e.name}`, label: `quantization_config ${key} ${describeValue(e)}`,
    validity: !(key in origQ) && e.missing ? "may-differ" : qcVerdict(key, e, origQ), target: `quantization_config ${key}`,
  };
};

const qcWhole: Mutator = (dir, rng) => {
  const path = join(dir, "config.json");
  const cfg = configObject(path);
  if (cfg === undefined) return configWhole(dir, rng);
  const edit = rng.pick(["null", "deleted", "a string", "an array", "empty object"]);
  cfg.quantization_config = { null: null, deleted: undefined, "a string": "lowbit", "an array": [], "empty object": {} }[edit];
  writeJson(path, cfg);
  return { cls: `quantization_config ${edit}`, label: `quantization_config ${edit}`, validity: "must-refuse", target: "config.json quantization_config" };
};

/** One code set just outside [−k, k] (or to ±127/−128), keeping every size: only the range check catches it. */
const codeOutOfRange = stMutator((p, rng, ctx) => {
  const qn = tensorNames(p.header).filter((n) => n.endsWith(".qweight") && p.header[n].dtype === "I8");
  if (qn.length === 0) return { bytes: ctx.raw, m: { cls: "no codes to edit", label: "no qweight in this file", validity: "may-differ" } };
  const name = rng.pick(qn);
  const [b, e] = p.header[name].data_offsets as [number, number];
  const bits = bitsOf(name, ctx.q) ?? 8;
  const k = (1 << (bits - 1)) - 1;
  const i = rng.range(b, e - 1);
  const value = rng.pick(bits === 8 ? [-128] : [k + 1, -k - 1, 127, -128]);
  const data = p.data.slice();
  data[i] = value & 0xff;
  return { bytes: buildSt(p.header, data), m: { cls: "code outside [−k, k]", label: `${name}[${i - b}] = ${value} (${bits}-bit: k = ${k})`, validity: "must-refuse" } };
});

const scaleValue = stMutator((p, rng, ctx) => {
  const sn = tensorNames(p.header).filter((n) => n.endsWith(".scale") && p.header[n].dtype === "F32");
  if (sn.length === 0) return { bytes: ctx.raw, m: { cls: "no scales to edit", label: "no scale in this file", validity: "may-differ" } };
  const name = rng.pick(sn);
  const [b, e] = p.header[name].data_offsets as [number, number];
  const i = b + 4 * rng.int((e - b) / 4);
  const [what, value] = rng.pick([["NaN", NaN], ["+Inf", Infinity], ["negative", -0.5], ["zero", 0], ["doubled", 0], ["huge", 3e38]] as [string, number][]);
  const data = p.data.slice();
  const view = new DataView(data.buffer, data.byteOffset);
  view.setFloat32(i, what === "doubled" ? 2 * view.getFloat32(i, true) : value, true);
  // New finite positive steps are valid weights; zero with non-zero codes, negative or non-finite steps are doubtful.
  const validity: Validity = what === "doubled" || what === "huge" ? "may-differ" : "unknown";
  return { bytes: buildSt(p.header, data), m: { cls: `scale set to ${what}`, label: `${name}[${(i - b) / 4}] set to ${what}`, validity } };
});

// ─── choosing ───────────────────────────────────────────────────────────────────────────────────

/** A BART checkpoint's generation_config.json: a key, or the whole file (absent: config.json's generation keys are used). */
const generationEdit: Mutator = (dir, rng) => {
  const path = join(dir, "generation_config.json");
  const V = typeof seedConfig?.vocab_size === "number" ? seedConfig.vocab_size : 281;
  if (!existsSync(path) || rng.chance(0.15)) return jsonFileWhole(path, rng, { what: "generation_config.json", missingValidity: "may-differ", emptyValidity: "may-differ" });
  return generationKeyEdit(path, rng, V, seedGeneration);
};

const BY_KIND: Record<Exclude<Kind, "onnx-bytes" | "onnx-structure" | "hf-folder">, { weight: number; value: Mutator }[]> = {
  "hf-config": [{ weight: 60, value: configKey }, { weight: 10, value: configWhole }, { weight: 3, value: addQuantConfig }, { weight: 27, value: tokenizerEdit }],
  "hf-safetensors": [{ weight: 1, value: safetensorsEdit }],
  "hf-shards": [{ weight: 65, value: (d, r) => (existsSync(join(d, "model.safetensors.index.json")) ? indexEdit(d, r) : partsEdit(d, r)) }, { weight: 35, value: safetensorsEdit }],
  "quantized-checkpoint": [
    { weight: 30, value: qcKey }, { weight: 5, value: qcWhole }, { weight: 12, value: configKey }, { weight: 8, value: codeOutOfRange },
    { weight: 6, value: scaleValue }, { weight: 35, value: safetensorsEdit }, { weight: 4, value: tokenizerEdit },
  ],
};

/** BART's hf-config cases also edit generation_config.json (GPT-2 checkpoints have none that lowbit reads). */
const BART_HF_CONFIG: { weight: number; value: Mutator }[] = [...BY_KIND["hf-config"], { weight: 30, value: generationEdit }];

/** Edits of config.json run before edits of the weights, whose verdicts read it (the bits that bound codes). */
const CONFIG_LEVEL = new Set<Mutator>([configKey, configWhole, addQuantConfig, qcKey, qcWhole]);

/** The unmutated seed's config.json: edits are judged against it, so that a later edit restoring a value is valid. */
let seedConfig: Record<string, unknown> | undefined;
/** The unmutated seed's generation_config.json (BART), likewise. */
let seedGeneration: Record<string, unknown> | undefined;

export function mutateCheckpoint(dir: string, kind: Kind, rng: Rand, count: number): Mutation[] {
  const table = kind === "hf-config" && jsonObject(join(dir, "config.json"))?.model_type === "bart" ? BART_HF_CONFIG : BY_KIND[kind as keyof typeof BY_KIND];
  if (table === undefined) throw new Error(`not a checkpoint kind: ${kind}`);
  try {
    seedConfig = readJson(join(dir, "config.json")) as Record<string, unknown>;
  } catch {
    seedConfig = undefined;
  }
  family = seedConfig?.model_type === "bart" ? "bart" : "gpt2";
  seedGeneration = jsonObject(join(dir, "generation_config.json"));
  const chosen = Array.from({ length: count }, () => rng.weighted(table));
  chosen.sort((a, b) => Number(CONFIG_LEVEL.has(b)) - Number(CONFIG_LEVEL.has(a)));
  return chosen.map((m) => m(dir, rng));
}
