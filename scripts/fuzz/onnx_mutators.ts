// Mutators for lowbit .onnx files, for the fuzz harness (scripts/fuzz.ts). Two input kinds:
//
//   onnx-bytes      the file as bytes: bit/byte flips, truncation (anywhere, inside the last metadata entry,
//                   inside the tokenizer, at a field boundary), protobuf length and varint edits (found by
//                   walking the wire format, so they hit real fields; 64-bit values included), inserted,
//                   deleted, zeroed and appended bytes;
//   onnx-structure  the decoded model (onnx-proto, as src/onnx_proto.ts reads it), edited and re-encoded:
//                   initializers (dims, data type, raw data length, name, dropped, duplicated, moved to
//                   float_data or external data) and metadata (every key found in the file at run time:
//                   deleted, emptied, duplicated; each key inside lowbit.config, lowbit.quantization and the
//                   lowbit.weights entries; the tokenizer's vocab and merges; checksum-like and unknown keys;
//                   BART files' lowbit.component and the decoder's lowbit.generation).
//
// Each mutation says whether the file it makes must be refused, may run with another result, or is
// unknown (common.ts). Flips inside tensor data are judged element by element: a new finite weight is a
// valid file when the file has no checksum, a packed code outside [−k, k] or a set padding bit is not.
// This file knows the format only as far as docs/FORMAT.md §3 describes it; it imports nothing from src/
// but the package onnx-proto, so the loaders can move freely.

import onnxProto from "onnx-proto";
import {
  CHECKSUM_KEY, applyValueEdit, describeValue, drawValueEdit, isFiniteNumber, isPositiveInt, sameJson,
  type Mutation, type Rand, type Validity, type ValueEdit,
} from "./common.js";
import { GENERATION_KEYS, generationVerdict } from "./json_mutators.js";

const onnx = onnxProto.onnx;
type Model = onnxProto.onnx.ModelProto;
type Tensor = onnxProto.onnx.ITensorProto;

const KNOWN_META = new Set([
  "lowbit.format", "lowbit.format_version", "lowbit.model_type", "lowbit.config", "lowbit.quantization", "lowbit.weights",
  "lowbit.tokenizer.vocab", "lowbit.tokenizer.merges", "lowbit.component", "lowbit.generation",
]);
const TANH_GELUS = ["gelu_new", "gelu_pytorch_tanh"];
/** TensorProto data types worth swapping in: FLOAT, UINT8, INT8, INT64, FLOAT16, INT4, INT2, undefined, bogus. */
const DATA_TYPES = [1, 2, 3, 7, 10, 22, 26, 0, 999];

export interface Mutated {
  bytes: Uint8Array;
  mutations: Mutation[];
}

// ─── protobuf wire format ───────────────────────────────────────────────────────────────────────

/** Field names and sub-message types of the parts of onnx.proto that lowbit files use. */
const FIELDS: Record<string, Record<number, [string, string?]>> = {
  Model: { 1: ["ir_version"], 2: ["producer_name"], 3: ["producer_version"], 4: ["domain"], 5: ["model_version"], 6: ["doc_string"], 7: ["graph", "Graph"], 8: ["opset_import", "OpsetId"], 14: ["metadata_props", "Entry"] },
  Graph: { 1: ["node", "Node"], 2: ["name"], 5: ["initializer", "Tensor"], 10: ["doc_string"], 11: ["input", "ValueInfo"], 12: ["output", "ValueInfo"], 13: ["value_info", "ValueInfo"] },
  Node: { 1: ["input"], 2: ["output"], 3: ["name"], 4: ["op_type"], 5: ["attribute", "Attribute"], 7: ["domain"] },
  Attribute: { 1: ["name"], 2: ["f"], 3: ["i"], 4: ["s"], 5: ["t", "Tensor"], 7: ["floats"], 8: ["ints", "packed"], 20: ["type"] },
  Tensor: { 1: ["dims", "packed"], 2: ["data_type"], 4: ["float_data"], 8: ["name"], 9: ["raw_data"], 13: ["external_data", "Entry"], 14: ["data_location"] },
  ValueInfo: { 1: ["name"], 2: ["type", "Type"] },
  Type: { 1: ["tensor_type", "TensorType"] },
  TensorType: { 1: ["elem_type"], 2: ["shape", "Shape"] },
  Shape: { 1: ["dim", "Dim"] },
  Dim: { 1: ["dim_value"], 2: ["dim_param"] },
  OpsetId: { 1: ["domain"], 2: ["version"] },
  Entry: { 1: ["key"], 2: ["value"] },
};

/** A length prefix or a varint value in the file: where it is, its encoded size, its value, its field path. */
export interface Site {
  kind: "length" | "varint";
  at: number;
  size: number;
  value: bigint;
  path: string; // "graph.initializer.dims", without indices: the class of the edit
  tensor?: number; // index into WireMap.tensors when inside a graph initializer
}

export interface WireMap {
  sites: Site[];
  /** Graph initializers: name, data type, where raw_data lies. */
  tensors: { name: string; dataType: number; rawStart: number; rawEnd: number }[];
  /** metadata_props entries: the key, where the value and the whole field (tag included) lie. */
  meta: { key: string; valueStart: number; valueEnd: number; fieldStart: number; fieldEnd: number }[];
  /** Top-level fields of ModelProto: [start, end) including tag. */
  top: { field: number; start: number; end: number }[];
}

function readVarint(b: Uint8Array, pos: number): [bigint, number] {
  let v = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos + i >= b.length) throw new Error("varint runs past the end");
    const byte = b[pos + i];
    v |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if ((byte & 0x80) === 0) return [v, pos + i + 1];
  }
  throw new Error("varint longer than 10 bytes");
}

/** Encodes v (taken mod 2^64) in exactly `size` bytes when it fits (an over-long varint is still valid protobuf), else minimally. */
export function encodeVarint(v: bigint, size?: number): Uint8Array {
  v = BigInt.asUintN(64, v);
  const minimal: number[] = [];
  let x = v;
  do {
    minimal.push(Number(x & 0x7fn));
    x >>= 7n;
  } while (x > 0n);
  const n = size !== undefined && size >= minimal.length && size <= 10 ? size : minimal.length;
  while (minimal.length < n) minimal.push(0);
  return Uint8Array.from(minimal.map((g, i) => (i < n - 1 ? g | 0x80 : g)));
}

interface Scalars {
  strings: Map<number, [number, number]>;
  varints: Map<number, bigint>;
}

function walk(b: Uint8Array, start: number, end: number, type: string, path: string, map: WireMap, tensor?: number): Scalars {
  const out: Scalars = { strings: new Map(), varints: new Map() };
  let pos = start;
  while (pos < end) {
    const fieldStart = pos;
    const [tag, p1] = readVarint(b, pos);
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    const [name, child] = FIELDS[type]?.[field] ?? [`#${field}`];
    const fpath = path === "" ? name : `${path}.${name}`;
    if (wire === 0) {
      const [v, p2] = readVarint(b, p1);
      map.sites.push({ kind: "varint", at: p1, size: p2 - p1, value: v, path: fpath, tensor });
      out.varints.set(field, v);
      pos = p2;
    } else if (wire === 1 || wire === 5) {
      pos = p1 + (wire === 1 ? 8 : 4);
    } else if (wire === 2) {
      const [len, p2] = readVarint(b, p1);
      const s = p2;
      const e = p2 + Number(len);
      if (e > end) throw new Error(`field ${fpath} runs past its message`);
      map.sites.push({ kind: "length", at: p1, size: p2 - p1, value: len, path: fpath, tensor });
      out.strings.set(field, [s, e]);
      if (child === "packed") {
        for (let q = s; q < e;) {
          const [v, q2] = readVarint(b, q);
          map.sites.push({ kind: "varint", at: q, size: q2 - q, value: v, path: fpath, tensor });
          q = q2;
        }
      } else if (child !== undefined) {
        const isInit = type === "Graph" && field === 5 && path === "graph";
        const index = isInit ? map.tensors.length : tensor;
        if (isInit) map.tensors.push({ name: "", dataType: 0, rawStart: 0, rawEnd: 0 });
        const sub = walk(b, s, e, child, fpath, map, index);
        if (isInit) {
          const t = map.tensors[index!];
          const nm = sub.strings.get(8);
          t.name = nm === undefined ? "" : new TextDecoder().decode(b.subarray(nm[0], nm[1]));
          t.dataType = Number(sub.varints.get(2) ?? 0n);
          [t.rawStart, t.rawEnd] = sub.strings.get(9) ?? [s, s];
        }
        if (type === "Model" && field === 14) {
          const k = sub.strings.get(1);
          const val = sub.strings.get(2) ?? [e, e];
          map.meta.push({ key: k === undefined ? "" : new TextDecoder().decode(b.subarray(k[0], k[1])), valueStart: val[0], valueEnd: val[1], fieldStart, fieldEnd: e });
        }
      }
      pos = e;
    } else {
      throw new Error(`wire type ${wire} at ${pos}`);
    }
    if (type === "Model") map.top.push({ field, start: fieldStart, end: pos });
  }
  return out;
}

/** The wire map of a whole file, or undefined when it does not parse (a previous mutation broke it). */
export function wireMap(b: Uint8Array): WireMap | undefined {
  const map: WireMap = { sites: [], tensors: [], meta: [], top: [] };
  try {
    walk(b, 0, b.length, "Model", "", map);
    return map;
  } catch {
    return undefined;
  }
}

// ─── what the file says about its tensors ───────────────────────────────────────────────────────

interface Role {
  role: "data" | "scale";
  layout: string;
  bits?: number;
  numel: number;
}

/** Initializer name → its role in the weight manifest; and whether the file carries a checksum. */
function layoutOf(b: Uint8Array, map: WireMap): { roles: Map<string, Role>; checksummed: boolean } {
  const roles = new Map<string, Role>();
  let checksummed = false;
  for (const m of map.meta) {
    if (CHECKSUM_KEY.test(m.key)) checksummed = true;
    if (m.key !== "lowbit.weights") continue;
    try {
      const entries = JSON.parse(new TextDecoder().decode(b.subarray(m.valueStart, m.valueEnd))) as Record<string, unknown>[];
      for (const e of entries) {
        if (Object.keys(e).some((k) => CHECKSUM_KEY.test(k))) checksummed = true;
        const shape = e.shape as number[];
        const numel = shape.reduce((a, d) => a * d, 1);
        roles.set(e.initializer as string, { role: "data", layout: e.layout as string, bits: e.bits as number | undefined, numel });
        if (typeof e.scale === "string") roles.set(e.scale, { role: "scale", layout: e.layout as string, numel: 0 });
      }
    } catch {
      // a manifest that does not parse: no roles, every data edit is "unknown"
    }
  }
  return { roles, checksummed };
}

/**
 * The verdict on changed bytes [from, to) of a file, judged on the file after the change: inside one
 * manifest tensor's data and leaving valid values there, it is a valid file with new weights unless the
 * file has a checksum; a code outside [−k, k], a set padding bit, or bytes elsewhere are not (or unknown).
 */
function dataVerdict(after: Uint8Array, map: WireMap | undefined, from: number, to: number): { validity: Validity; where: string } {
  if (map === undefined) return { validity: "unknown", where: "unparsed file" };
  const { roles, checksummed } = layoutOf(after, map);
  const t = map.tensors.find((x) => x.rawStart <= from && to <= x.rawEnd);
  if (t === undefined) {
    const m = map.meta.find((x) => x.valueStart <= from && to <= x.valueEnd);
    const where = m !== undefined ? `metadata ${m.key}` : "protobuf framing / graph";
    // The checksum covers every byte of a sealed file. A file without one runs only with the check skipped
    // on request (--no-verify-checksum): its graph, which our runtime never reads, is then taken as given.
    if (checksummed) return { validity: "must-refuse", where: `${where}, under the file's checksum` };
    return { validity: m === undefined ? "may-differ" : "unknown", where };
  }
  const role = roles.get(t.name);
  if (role === undefined) return { validity: "unknown", where: `initializer ${t.name} (not in the manifest)` };
  const where = `${role.role === "scale" ? "scales" : "data"} of ${t.name}`;
  if (checksummed) return { validity: "must-refuse", where: `${where}, under the file's checksum` };
  if (role.role === "scale" || role.layout === "float") {
    const view = new DataView(after.buffer, after.byteOffset);
    for (let p = t.rawStart + Math.floor((from - t.rawStart) / 4) * 4; p < to && p + 4 <= t.rawEnd; p += 4) {
      const x = view.getFloat32(p, true);
      if (!Number.isFinite(x) || (role.role === "scale" && x < 0)) return { validity: "unknown", where: `${where}: new value ${x}` };
    }
    return { validity: "may-differ", where };
  }
  if (role.layout === "dq" && role.bits !== undefined && [2, 4, 8].includes(role.bits)) {
    const bits = role.bits;
    const per = 8 / bits;
    for (let p = from; p < to; p++) {
      for (let j = 0; j < per; j++) {
        const i = (p - t.rawStart) * per + j;
        const field = (after[p] >> (j * bits)) & ((1 << bits) - 1);
        if (i >= role.numel && field !== 0) return { validity: "must-refuse", where: `${where}: padding bits set past element ${role.numel}` };
        if (i < role.numel && field === 1 << (bits - 1)) return { validity: "must-refuse", where: `${where}: code ${-(1 << (bits - 1))} outside ±${(1 << (bits - 1)) - 1} at element ${i}` };
      }
    }
    return { validity: "may-differ", where };
  }
  return { validity: "unknown", where };
}

// ─── onnx-bytes ─────────────────────────────────────────────────────────────────────────────────

type ByteMutator = (b: Uint8Array, rng: Rand) => Mutated1;
interface Mutated1 {
  bytes: Uint8Array;
  mutation: Mutation;
}

function splice(b: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length - remove + insert.length);
  out.set(b.subarray(0, at));
  out.set(insert, at);
  out.set(b.subarray(at + remove), at + insert.length);
  return out;
}

/** An offset to damage: anywhere, inside a tensor's data, inside a metadata value, or in a field's framing. */
function pickOffset(b: Uint8Array, map: WireMap | undefined, rng: Rand): number {
  const r = rng.float();
  if (map !== undefined && r < 0.35) {
    const ts = map.tensors.filter((t) => t.rawEnd > t.rawStart);
    if (ts.length > 0) {
      const t = rng.pick(ts);
      return rng.range(t.rawStart, t.rawEnd - 1);
    }
  }
  if (map !== undefined && r < 0.55) {
    const ms = map.meta.filter((m) => m.valueEnd > m.valueStart);
    if (ms.length > 0) {
      const m = rng.pick(ms);
      return rng.range(m.valueStart, m.valueEnd - 1);
    }
  }
  if (map !== undefined && r < 0.7 && map.sites.length > 0) {
    const s = rng.pick(map.sites);
    return rng.range(Math.max(0, s.at - 2), s.at + s.size - 1);
  }
  return rng.int(b.length);
}

const flip: ByteMutator = (b, rng) => {
  const map = wireMap(b);
  const at = pickOffset(b, map, rng);
  const out = b.slice();
  const how = rng.weighted([{ weight: 5, value: "bit" }, { weight: 3, value: "byte" }, { weight: 2, value: "extreme" }]);
  if (how === "bit") out[at] ^= 1 << rng.int(8);
  else if (how === "byte") out[at] = (out[at] + 1 + rng.int(255)) & 0xff;
  else out[at] = out[at] === 0xff ? 0x00 : 0xff;
  const v = dataVerdict(out, map, at, at + 1);
  return { bytes: out, mutation: { cls: `${how} flip in ${v.where.replace(/ of \S+| \(.*\)|: .*| at .*/g, "")}`, label: `${how} flip at byte ${at} (${b[at]} → ${out[at]}), ${v.where}`, validity: v.validity } };
};

const truncate: ByteMutator = (b, rng) => {
  const map = wireMap(b);
  const tok = map?.meta.filter((m) => m.key.includes("tokenizer") && m.valueEnd > m.valueStart) ?? [];
  const last = map?.meta[map.meta.length - 1];
  const options: { weight: number; value: () => [number, string] }[] = [
    { weight: 4, value: () => [rng.range(0, b.length - 1), "anywhere"] },
    { weight: 1, value: () => [b.length - 1, "last byte"] },
  ];
  if (last !== undefined && last.valueEnd > last.valueStart) options.push({ weight: 3, value: () => [rng.range(last.valueStart, last.valueEnd - 1), `inside the last metadata entry (${last.key})`] });
  if (tok.length > 0) options.push({ weight: 3, value: () => { const m = rng.pick(tok); return [rng.range(m.valueStart, m.valueEnd - 1), `inside ${m.key}`]; } });
  if (map !== undefined && map.top.length > 1) options.push({ weight: 2, value: () => { const f = rng.pick(map.top.slice(0, -1)); return [f.end, `at the end of a top-level field (#${f.field})`]; } });
  const [at, where] = rng.weighted(options)();
  return { bytes: b.slice(0, at), mutation: { cls: `truncated ${where.replace(/ \(.*\)/, "")}`, label: `truncated to ${at} of ${b.length} bytes, ${where}`, validity: "must-refuse" } };
};

const LENGTH_EDITS: [string, (v: bigint, n: number) => bigint][] = [
  ["+1", (v) => v + 1n], ["−1", (v) => v - 1n], ["+8", (v) => v + 8n], ["−8", (v) => v - 8n], ["zero", () => 0n],
  ["2^31−1", () => 2n ** 31n - 1n], ["2^32", () => 2n ** 32n], ["2^32+v", (v) => 2n ** 32n + v], ["2^53", () => 2n ** 53n],
  ["2^63", () => 2n ** 63n], ["2^64−1", () => 2n ** 64n - 1n], ["file length", (_v, n) => BigInt(n)], ["double", (v) => v * 2n],
];

function pickSite(map: WireMap, rng: Rand, kind: Site["kind"]): Site | undefined {
  const sites = map.sites.filter((s) => s.kind === kind);
  if (sites.length === 0) return undefined;
  const r = rng.float();
  const focus = kind === "length"
    ? sites.filter((s) => (r < 0.3 ? s.path === "graph.initializer.raw_data" : r < 0.5 ? s.path.startsWith("metadata_props") : r < 0.6 ? !s.path.includes(".") : true))
    : sites.filter((s) => (r < 0.5 ? s.tensor !== undefined && /initializer\.(dims|data_type)$/.test(s.path) : true));
  return rng.pick(focus.length > 0 ? focus : sites);
}

const lengthEdit: ByteMutator = (b, rng) => {
  const map = wireMap(b);
  const site = map && pickSite(map, rng, "length");
  if (map === undefined || site === undefined) return truncate(b, rng);
  const [name, f] = rng.pick(LENGTH_EDITS);
  let nv = BigInt.asUintN(64, f(site.value, b.length));
  if (nv === site.value) nv += 1n;
  const enc = encodeVarint(nv, site.size);
  const who = site.tensor !== undefined ? ` of ${map.tensors[site.tensor].name}` : "";
  return {
    bytes: splice(b, site.at, site.size, enc),
    mutation: { cls: `protobuf length of ${site.path}: ${name}`, label: `protobuf length of ${site.path}${who} at byte ${site.at}: ${site.value} → ${nv} (${enc.length}-byte varint)`, validity: "must-refuse" },
  };
};

const VARINT_EDITS: [string, (v: bigint) => bigint][] = [
  ["+1", (v) => v + 1n], ["−1", (v) => v - 1n], ["zero", () => 0n], ["2^31", () => 2n ** 31n], ["2^32", () => 2n ** 32n],
  ["2^63", () => 2n ** 63n], ["−1 as int64", () => 2n ** 64n - 1n], ["double", (v) => v * 2n],
];

const varintEdit: ByteMutator = (b, rng) => {
  const map = wireMap(b);
  const site = map && pickSite(map, rng, "varint");
  if (map === undefined || site === undefined) return flip(b, rng);
  const [name, f] = rng.pick(VARINT_EDITS);
  let nv = BigInt.asUintN(64, f(site.value));
  if (nv === site.value) nv += 1n;
  const enc = encodeVarint(nv, site.size);
  const t = site.tensor !== undefined ? map.tensors[site.tensor] : undefined;
  const { roles, checksummed } = layoutOf(b, map);
  const inManifest = t !== undefined && roles.has(t.name) && /initializer\.(dims|data_type|data_location)$/.test(site.path);
  // A varint that grew breaks the framing of every enclosing message: the file is corrupt either way; a
  // sealed file's checksum covers every varint; an unsealed one runs only with the check skipped on request,
  // and then a graph field our runtime never reads is taken as given.
  const validity: Validity = enc.length !== site.size || inManifest || checksummed ? "must-refuse" : "may-differ";
  return {
    bytes: splice(b, site.at, site.size, enc),
    mutation: { cls: `protobuf varint ${site.path}: ${name}`, label: `varint ${site.path}${t ? ` of ${t.name}` : ""} at byte ${site.at}: ${site.value} → ${nv}`, validity },
  };
};

const insertDelete: ByteMutator = (b, rng) => {
  const map = wireMap(b);
  const at = pickOffset(b, map, rng);
  const n = rng.range(1, 16);
  if (rng.chance(0.5)) {
    const ins = Uint8Array.from({ length: n }, () => rng.int(256));
    return { bytes: splice(b, at, 0, ins), mutation: { cls: "bytes inserted", label: `${n} random bytes inserted at ${at}`, validity: "must-refuse" } };
  }
  const m = Math.min(n, b.length - at);
  return { bytes: splice(b, at, m, new Uint8Array(0)), mutation: { cls: "bytes deleted", label: `${m} bytes deleted at ${at}`, validity: "must-refuse" } };
};

const append: ByteMutator = (b, rng) => {
  if (rng.chance(0.5)) {
    // Field 1000, wire type 0: an unknown field, which protobuf readers skip: still a valid ONNX file.
    const field = Uint8Array.from([...encodeVarint(1000n << 3n), ...encodeVarint(BigInt(rng.int(1 << 20)))]);
    return { bytes: splice(b, b.length, 0, field), mutation: { cls: "unknown protobuf field appended", label: `unknown varint field 1000 appended (${field.length} bytes)`, validity: "may-differ" } };
  }
  const n = rng.range(1, 64);
  const junk = Uint8Array.from({ length: n }, () => rng.int(256));
  return { bytes: splice(b, b.length, 0, junk), mutation: { cls: "random bytes appended", label: `${n} random bytes appended`, validity: "unknown" } };
};

const zeroRange: ByteMutator = (b, rng) => {
  const map = wireMap(b);
  const at = pickOffset(b, map, rng);
  const n = Math.min(rng.range(16, 512), b.length - at);
  const out = b.slice();
  out.fill(0, at, at + n);
  const v = dataVerdict(out, map, at, at + n);
  return { bytes: out, mutation: { cls: `bytes zeroed in ${v.where.replace(/ of \S+| \(.*\)|: .*/g, "")}`, label: `${n} bytes zeroed at ${at}, ${v.where}`, validity: v.validity } };
};

const BYTE_MUTATORS: { weight: number; value: ByteMutator }[] = [
  { weight: 25, value: flip }, { weight: 20, value: truncate }, { weight: 20, value: lengthEdit }, { weight: 12, value: varintEdit },
  { weight: 8, value: insertDelete }, { weight: 5, value: append }, { weight: 10, value: zeroRange },
];

export function mutateOnnxBytes(seed: Uint8Array, rng: Rand, count: number): Mutated {
  let bytes = seed;
  const mutations: Mutation[] = [];
  for (let i = 0; i < count; i++) {
    if (bytes.length === 0) break;
    const r = rng.weighted(BYTE_MUTATORS)(bytes, rng);
    bytes = r.bytes;
    mutations.push(r.mutation);
  }
  return { bytes, mutations };
}

// ─── onnx-structure ─────────────────────────────────────────────────────────────────────────────

type StructMutator = (m: Model, rng: Rand) => Mutation;

const num = (v: unknown): number => (typeof v === "number" ? v : v !== null && typeof v === "object" && "toNumber" in v ? (v as { toNumber(): number }).toNumber() : Number(v));

function metaEntries(m: Model): onnxProto.onnx.IStringStringEntryProto[] {
  m.metadataProps ??= [];
  return m.metadataProps;
}
function getMeta(m: Model, key: string): string | undefined {
  return metaEntries(m).find((p) => p.key === key)?.value ?? undefined;
}
function setMeta(m: Model, key: string, value: string): void {
  const e = metaEntries(m).find((p) => p.key === key);
  if (e !== undefined) e.value = value;
  else metaEntries(m).push(onnx.StringStringEntryProto.create({ key, value }));
}
function manifestOf(m: Model): Record<string, unknown>[] | undefined {
  try {
    const w = JSON.parse(getMeta(m, "lowbit.weights") ?? "") as unknown;
    return Array.isArray(w) ? (w as Record<string, unknown>[]) : undefined;
  } catch {
    return undefined;
  }
}
function inits(m: Model): Tensor[] {
  return m.graph?.initializer ?? [];
}

/** An initializer to edit: one the manifest names (90%), else any (graph constants). */
function pickInit(m: Model, rng: Rand): { t: Tensor; listed: boolean } | undefined {
  const all = inits(m);
  if (all.length === 0) return undefined;
  const named = new Set((manifestOf(m) ?? []).filter((e) => e !== null && typeof e === "object").flatMap((e) => [e.initializer, e.scale]).filter((x) => typeof x === "string"));
  const listed = all.filter((t) => named.has(t.name ?? ""));
  if (listed.length > 0 && rng.chance(0.9)) return { t: rng.pick(listed), listed: true };
  const t = rng.pick(all);
  return { t, listed: named.has(t.name ?? "") };
}

const initVerdict = (listed: boolean): Validity => (listed ? "must-refuse" : "unknown");

const initDims: StructMutator = (m, rng) => {
  const p = pickInit(m, rng);
  if (p === undefined) return dropGraph(m, rng);
  const dims = (p.t.dims ?? []).map(num);
  const old = [...dims];
  const i = rng.int(Math.max(1, dims.length));
  const edit = rng.pick(["+1", "−1", "zero", "double", "2^31", "2^40", "negative", "drop a dim", "add a dim of 1", "reversed"]);
  if (edit === "drop a dim") dims.splice(i, 1);
  else if (edit === "add a dim of 1") dims.push(1);
  else if (edit === "reversed") dims.reverse();
  else if (dims.length === 0) dims.push(edit === "zero" ? 0 : 2);
  else dims[i] = { "+1": dims[i] + 1, "−1": dims[i] - 1, zero: 0, double: dims[i] * 2, "2^31": 2 ** 31, "2^40": 2 ** 40, negative: -1 }[edit]!;
  p.t.dims = dims;
  const same = sameJson(old, dims);
  return { cls: `initializer dims: ${edit}`, label: `initializer ${p.t.name} dims [${old}] → [${dims}]`, validity: same ? "may-differ" : initVerdict(p.listed) };
};

const initDataType: StructMutator = (m, rng) => {
  const p = pickInit(m, rng);
  if (p === undefined) return dropGraph(m, rng);
  const old = p.t.dataType ?? 0;
  const nt = rng.pick(DATA_TYPES.filter((d) => d !== old));
  p.t.dataType = nt;
  return { cls: "initializer data_type changed", label: `initializer ${p.t.name} data_type ${old} → ${nt}`, validity: initVerdict(p.listed) };
};

const initRawLength: StructMutator = (m, rng) => {
  const p = pickInit(m, rng);
  if (p === undefined) return dropGraph(m, rng);
  const raw = p.t.rawData ?? new Uint8Array(0);
  const edit = rng.pick(["cut", "extended", "emptied"]);
  const k = rng.range(1, Math.max(1, Math.min(64, raw.length)));
  p.t.rawData = edit === "cut" ? raw.slice(0, Math.max(0, raw.length - k)) : edit === "extended" ? Uint8Array.from([...raw, ...new Uint8Array(k)]) : new Uint8Array(0);
  const same = p.t.rawData.length === raw.length;
  return { cls: `initializer raw_data ${edit}`, label: `initializer ${p.t.name} raw_data ${raw.length} → ${p.t.rawData.length} bytes`, validity: same ? "may-differ" : initVerdict(p.listed) };
};

const initRename: StructMutator = (m, rng) => {
  const p = pickInit(m, rng);
  if (p === undefined) return dropGraph(m, rng);
  const old = p.t.name ?? "";
  const others = inits(m).filter((t) => t !== p.t);
  const toOther = others.length > 0 && rng.chance(0.4);
  p.t.name = toOther ? rng.pick(others).name : rng.pick([`${old}_renamed`, "", old.toUpperCase(), `transformer.${old}`]);
  if (p.t.name === old) p.t.name = `${old}_x`;
  return { cls: toOther ? "initializer renamed to another's name" : "initializer renamed", label: `initializer ${old} renamed ${JSON.stringify(p.t.name)}`, validity: toOther ? "must-refuse" : initVerdict(p.listed) };
};

const initDrop: StructMutator = (m, rng) => {
  const p = pickInit(m, rng);
  if (p === undefined) return dropGraph(m, rng);
  m.graph!.initializer = inits(m).filter((t) => t !== p.t);
  return { cls: "initializer dropped", label: `initializer ${p.t.name} dropped`, validity: initVerdict(p.listed) };
};

const initDuplicate: StructMutator = (m, rng) => {
  const p = pickInit(m, rng);
  if (p === undefined) return dropGraph(m, rng);
  const copy = onnx.TensorProto.create({ name: p.t.name, dataType: p.t.dataType, dims: p.t.dims, rawData: new Uint8Array((p.t.rawData ?? new Uint8Array(0)).length) });
  const list = inits(m);
  list.splice(rng.chance(0.5) ? 0 : list.length, 0, copy);
  return { cls: "initializer given twice", label: `a second initializer ${p.t.name} (zeros) added`, validity: "must-refuse" };
};

const initFloatData: StructMutator = (m, rng) => {
  const floats = inits(m).filter((t) => t.dataType === 1 && (t.rawData?.length ?? 0) > 0);
  if (floats.length === 0) return initDims(m, rng);
  const t = rng.pick(floats);
  const raw = t.rawData!;
  t.floatData = Array.from(new Float32Array(raw.slice().buffer));
  t.rawData = new Uint8Array(0);
  // The same values in TensorProto.float_data: a valid ONNX tensor; refusing it is fine, running must give the same.
  return { cls: "FLOAT initializer moved to float_data", label: `initializer ${t.name}: ${raw.length} bytes of raw_data moved to float_data`, validity: "may-differ" };
};

const initExternal: StructMutator = (m, rng) => {
  const p = pickInit(m, rng);
  if (p === undefined) return dropGraph(m, rng);
  p.t.dataLocation = 1;
  p.t.externalData = [onnx.StringStringEntryProto.create({ key: "location", value: "weights.bin" })];
  if (rng.chance(0.5)) p.t.rawData = new Uint8Array(0);
  return { cls: "initializer marked as external data", label: `initializer ${p.t.name} data_location EXTERNAL (weights.bin, absent)`, validity: "must-refuse" };
};

// ── metadata, key by key ──

function pickKey(m: Model, rng: Rand): string | undefined {
  const keys = metaEntries(m).map((p) => p.key ?? "");
  return keys.length === 0 ? undefined : rng.pick(keys);
}
const metaVerdict = (key: string): Validity => (key.startsWith("lowbit.") || CHECKSUM_KEY.test(key) ? "must-refuse" : "unknown");

const metaDelete: StructMutator = (m, rng) => {
  const key = pickKey(m, rng);
  if (key === undefined) return dropGraph(m, rng);
  m.metadataProps = metaEntries(m).filter((p) => p.key !== key);
  return { cls: `metadata ${key} deleted`, label: `metadata ${key} deleted`, validity: metaVerdict(key) };
};

const metaEmpty: StructMutator = (m, rng) => {
  const key = pickKey(m, rng);
  if (key === undefined) return dropGraph(m, rng);
  const value = rng.pick(["", "null", " ", "undefined", "{}", "[]", "0"]);
  if (getMeta(m, key) === value) return metaDelete(m, rng);
  setMeta(m, key, value);
  return { cls: `metadata ${key} emptied`, label: `metadata ${key} = ${JSON.stringify(value)}`, validity: metaVerdict(key) };
};

const metaDuplicate: StructMutator = (m, rng) => {
  const key = pickKey(m, rng);
  if (key === undefined) return dropGraph(m, rng);
  const old = getMeta(m, key) ?? "";
  const other = old.length > 1 ? old.slice(0, -1) : `${old}x`;
  metaEntries(m).splice(rng.chance(0.5) ? 0 : metaEntries(m).length, 0, onnx.StringStringEntryProto.create({ key, value: rng.chance(0.3) ? old : other }));
  return { cls: `metadata ${key} given twice`, label: `metadata ${key} given twice`, validity: "must-refuse" };
};

const metaUnknownKey: StructMutator = (m, rng) => {
  const key = rng.pick(["lowbit.extra", "lowbit.config ", "LOWBIT.FORMAT", "author"]);
  setMeta(m, key, rng.pick(["x", "{}", "1"]));
  return { cls: "unknown metadata key added", label: `metadata ${JSON.stringify(key)} added`, validity: "unknown" };
};

const formatVersion: StructMutator = (m, rng) => {
  const key = rng.chance(0.8) ? "lowbit.format_version" : "lowbit.format";
  const old = getMeta(m, key) ?? "";
  const value = key === "lowbit.format" ? rng.pick(["lowbit-onnx2", "LOWBIT-ONNX", "", "lowbit-onnx "]) : rng.pick(["0", "99", "1.0", " 1", "01", "", "-1", "2", "1", "1e0", "NaN"]);
  if (value === old) return metaDelete(m, rng);
  setMeta(m, key, value);
  // Another version number the reader may still accept (today 1 ↔ 2) keeps the file's claims: unknown; but a
  // file that keeps its checksum while claiming an older version (one without checksums) must not load.
  const sealed = metaEntries(m).some((p) => CHECKSUM_KEY.test(p.key ?? ""));
  const validity: Validity = key === "lowbit.format_version" && /^[12]$/.test(value) && !(sealed && value === "1") ? "unknown" : "must-refuse";
  return { cls: `metadata ${key} changed`, label: `metadata ${key} ${JSON.stringify(old)} → ${JSON.stringify(value)}`, validity };
};

const modelType: StructMutator = (m, rng) => {
  const value = rng.pick([getMeta(m, "lowbit.model_type") === "bart" ? "gpt2" : "bart", "GPT2", "", "gpt-2"]);
  setMeta(m, "lowbit.model_type", value);
  return { cls: "metadata lowbit.model_type changed", label: `metadata lowbit.model_type = ${JSON.stringify(value)}`, validity: "must-refuse" };
};

/** A JSON metadata value that no longer parses, or parses to the wrong kind of value. */
function badJson(m: Model, key: string, rng: Rand): Mutation {
  const old = getMeta(m, key) ?? "";
  const edit = rng.pick(["truncated", "trailing garbage", "null", "array", "number", "string", "NaN literal"]);
  const value = {
    truncated: old.slice(0, rng.int(Math.max(1, old.length))), "trailing garbage": `${old}}`, null: "null", array: "[]", number: "42", string: '"x"',
    "NaN literal": old.replace(/\d+(\.\d+)?/, "NaN"),
  }[edit]!;
  setMeta(m, key, value);
  return { cls: `metadata ${key}: ${edit}`, label: `metadata ${key}: ${edit} (${old.length} → ${value.length} chars)`, validity: value === old ? "may-differ" : "must-refuse" };
}

// ── lowbit.config ──

function divisors(n: number): number[] {
  if (!Number.isInteger(n) || n < 1 || n > 1 << 16) return []; // an earlier edit made n_embd absurd
  return Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);
}

/** Key-specific values that are legal, or legal-looking: drawn beside the generic edits (config.json or lowbit.config). */
export function specialConfigEdits(key: string, cfg: Record<string, unknown>, family: "gpt2" | "bart" = cfg.model_type === "bart" ? "bart" : "gpt2"): ValueEdit[] {
  const C = typeof cfg.n_embd === "number" ? cfg.n_embd : 64;
  const V = typeof cfg.vocab_size === "number" ? cfg.vocab_size : 277;
  if (family === "bart") {
    const d = typeof cfg.d_model === "number" ? cfg.d_model : 64;
    switch (key) {
      case "encoder_attention_heads": case "decoder_attention_heads":
        return divisors(d).filter((h) => h !== cfg[key]).map((h) => ({ name: "another divisor of d_model", value: h })).concat([{ name: "not a divisor of d_model", value: d + 1 }]);
      case "activation_function": return [{ name: "the other GELU", value: cfg.activation_function === "gelu" ? "gelu_new" : "gelu" }, { name: "unsupported", value: "relu" }, { name: "unsupported", value: "gelu_pytorch_tanh" }];
      case "scale_embedding": return [{ name: "flipped", value: cfg.scale_embedding !== true }];
      case "layer_norm_epsilon": return [{ name: "another positive value", value: 1e-6 }, { name: "another positive value", value: 1e-3 }];
      case "pad_token_id": case "bos_token_id": case "eos_token_id": case "decoder_start_token_id": case "forced_bos_token_id": case "forced_eos_token_id":
        return [{ name: "another valid id", value: 5 }, { name: "= vocab_size", value: V }, { name: "null", value: null }, { name: "the last id", value: V - 1 }];
      case "tie_word_embeddings": return [{ name: "flipped", value: false }];
      case "model_type": return [{ name: "another model", value: "gpt2" }, { name: "another model", value: "mbart" }];
      case "encoder_ffn_dim": case "decoder_ffn_dim": return [{ name: "the other side's", value: key === "encoder_ffn_dim" ? cfg.decoder_ffn_dim : cfg.encoder_ffn_dim }];
      case "encoder_layers": case "decoder_layers": return [{ name: "the other side's", value: key === "encoder_layers" ? cfg.decoder_layers : cfg.encoder_layers }];
      case "normalize_before": case "add_final_layer_norm": return [{ name: "a variant lowbit does not run", value: true }];
      default: return [];
    }
  }
  switch (key) {
    case "n_head": return divisors(C).filter((d) => d !== cfg.n_head).map((d) => ({ name: "another divisor of n_embd", value: d }));
    case "layer_norm_epsilon": return [{ name: "another positive value", value: 1e-6 }, { name: "another positive value", value: 1e-3 }];
    case "activation_function": return [{ name: "the other tanh GELU", value: cfg.activation_function === "gelu_new" ? "gelu_pytorch_tanh" : "gelu_new" }, { name: "unsupported", value: "relu" }];
    case "bos_token_id": case "eos_token_id": return [{ name: "another valid id", value: 5 }, { name: "= vocab_size", value: V }];
    case "tie_word_embeddings": return [{ name: "flipped", value: cfg.tie_word_embeddings === false }];
    case "n_inner": return [{ name: "4·n_embd", value: 4 * C }, { name: "null", value: null }];
    case "model_type": return [{ name: "another model", value: "bart" }];
    default: return [];
  }
}

/** A BART file's lowbit.config (strict: every key present, no other): what each edit means. */
function storedBartConfigVerdict(key: string, e: ValueEdit, cfg: Record<string, unknown>): Validity {
  if (!e.missing && sameJson(cfg[key], e.value)) return "may-differ";
  const v = e.value;
  const V = cfg.vocab_size as number;
  const id = (x: unknown) => Number.isInteger(x) && (x as number) >= 0 && (x as number) < V;
  if (e.missing) return key === "untrained" ? "may-differ" : key in cfg ? "must-refuse" : "unknown";
  switch (key) {
    case "model_type": case "vocab_size": case "d_model": case "encoder_layers": case "decoder_layers": case "encoder_ffn_dim": case "decoder_ffn_dim":
    case "max_position_embeddings": case "tie_word_embeddings":
      return "must-refuse";
    case "encoder_attention_heads": case "decoder_attention_heads": return isPositiveInt(v) && (cfg.d_model as number) % v === 0 ? "may-differ" : "must-refuse";
    case "activation_function": return v === "gelu" || v === "gelu_new" ? "may-differ" : "must-refuse";
    case "scale_embedding": return typeof v === "boolean" ? "may-differ" : "must-refuse";
    case "layer_norm_epsilon": return isFiniteNumber(v) && v > 0 ? "may-differ" : v === 0 ? "unknown" : "must-refuse";
    // The file's own tokenizer has <s>, <pad>, </s> at these ids.
    case "pad_token_id": case "bos_token_id": case "eos_token_id": return "must-refuse";
    case "decoder_start_token_id": return id(v) ? "may-differ" : "must-refuse";
    case "forced_bos_token_id": case "forced_eos_token_id": return v === null || id(v) ? "may-differ" : "must-refuse";
    case "untrained": return v === true ? "may-differ" : "must-refuse";
    default: return CHECKSUM_KEY.test(key) ? "must-refuse" : "unknown";
  }
}

/** lowbit.config as the exporter writes it (every key resolved): what each edit means. */
function storedConfigVerdict(key: string, e: ValueEdit, cfg: Record<string, unknown>): Validity {
  if (cfg.model_type === "bart") return storedBartConfigVerdict(key, e, cfg);
  if (!e.missing && sameJson(cfg[key], e.value)) return "may-differ";
  const v = e.value;
  switch (key) {
    case "vocab_size": case "n_positions": case "n_embd": case "n_layer": return "must-refuse";
    case "n_inner": return e.missing ? "unknown" : "must-refuse";
    case "n_head": return isPositiveInt(v) && (cfg.n_embd as number) % v === 0 ? "may-differ" : "must-refuse";
    case "layer_norm_epsilon": return e.missing || v === 0 ? "unknown" : isFiniteNumber(v) && v > 0 ? "may-differ" : "must-refuse";
    case "activation_function": return e.missing ? "unknown" : TANH_GELUS.includes(v as string) ? "may-differ" : "must-refuse";
    case "tie_word_embeddings": case "model_type": return e.missing ? "unknown" : "must-refuse";
    case "bos_token_id": case "eos_token_id":
      return e.missing ? "must-refuse" : Number.isInteger(v) && (v as number) >= 0 && (v as number) < (cfg.vocab_size as number) ? "may-differ" : "must-refuse";
    case "untrained": return e.missing || typeof v === "boolean" ? "may-differ" : "unknown";
    default: return CHECKSUM_KEY.test(key) ? "must-refuse" : "unknown";
  }
}

function drawKeyEdit(rng: Rand, key: string, obj: Record<string, unknown>, special: ValueEdit[]): ValueEdit {
  return special.length > 0 && rng.chance(0.3) ? rng.pick(special) : drawValueEdit(rng, obj[key]);
}

/** The unmutated seed's metadata: edits are judged against it, so that a later edit restoring a value is valid. */
let seedMeta = new Map<string, string>();

function originalJson(metaKey: string): Record<string, unknown> | undefined {
  try {
    const o = JSON.parse(seedMeta.get(metaKey) ?? "") as unknown;
    return o !== null && typeof o === "object" && !Array.isArray(o) ? (o as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function jsonKeyMutator(metaKey: string, verdict: (key: string, e: ValueEdit, obj: Record<string, unknown>) => Validity, extraKeys: string[], special: (key: string, obj: Record<string, unknown>) => ValueEdit[]): StructMutator {
  return (m, rng) => {
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(getMeta(m, metaKey) ?? "") as Record<string, unknown>;
      if (obj === null || typeof obj !== "object" || Array.isArray(obj)) throw new Error("not an object");
    } catch {
      return badJson(m, metaKey, rng);
    }
    const keys = Object.keys(obj);
    const key = keys.length === 0 || rng.chance(0.05) ? rng.pick(extraKeys) : rng.pick(keys);
    const original = originalJson(metaKey) ?? structuredClone(obj);
    const e = drawKeyEdit(rng, key, obj, special(key, obj));
    applyValueEdit(obj, key, e);
    setMeta(m, metaKey, JSON.stringify(obj));
    return {
      cls: `${metaKey} ${key}: ${e.name}`, label: `${metaKey} ${key} ${describeValue(e)}`, validity: key in original || !e.missing ? verdict(key, e, original) : "may-differ",
      target: `${metaKey} ${key}`,
    };
  };
}

const configKey: StructMutator = (m, rng) => (getMeta(m, "lowbit.model_type") === "bart" ? bartConfigKey : gpt2ConfigKey)(m, rng);
const gpt2ConfigKey = jsonKeyMutator("lowbit.config", storedConfigVerdict, ["untrained", "n_ctx", "scale_attn_weights"], (k, c) => specialConfigEdits(k, c, "gpt2"));
const bartConfigKey = jsonKeyMutator("lowbit.config", storedConfigVerdict, ["untrained", "normalize_before", "n_head"], (k, c) => specialConfigEdits(k, c, "bart"));

function quantVerdict(key: string, e: ValueEdit, q: Record<string, unknown>): Validity {
  if (!e.missing && sameJson(q[key], e.value)) return "may-differ";
  if (key === "method") return typeof e.value === "string" ? "may-differ" : "unknown";
  if (["weight_bits", "embedding_bits", "activation_bits", "granularity", "group_size", "weight_format"].includes(key)) return "must-refuse";
  return CHECKSUM_KEY.test(key) ? "must-refuse" : "unknown";
}
const quantSpecial = (key: string): ValueEdit[] => ({
  weight_bits: [{ name: "other bits", value: 4 }, { name: "other bits", value: 8 }, { name: "32", value: 32 }],
  embedding_bits: [{ name: "other bits", value: 2 }, { name: "32", value: 32 }],
  activation_bits: [{ name: "8 ↔ 32", value: 32 }, { name: "8 ↔ 32", value: 8 }],
  granularity: [{ name: "module ↔ group", value: "group" }, { name: "module ↔ group", value: "module" }],
  group_size: [{ name: "another group size", value: 64 }],
  method: [{ name: "another method", value: "quantgpt" }],
  weight_format: [{ name: "dq ↔ nbits", value: "nbits" }, { name: "dq ↔ nbits", value: "dq" }],
} as Record<string, ValueEdit[]>)[key] ?? [];
const quantKey = jsonKeyMutator("lowbit.quantization", quantVerdict, ["clip", "format"], quantSpecial);

const configWhole: StructMutator = (m, rng) => badJson(m, rng.pick(["lowbit.config", "lowbit.quantization"]), rng);

// ── BART: lowbit.component and lowbit.generation ──

/** Which part a BART file holds ("encoder" | "decoder"); a GPT-2 file must not say. */
const componentEdit: StructMutator = (m, rng) => {
  const key = "lowbit.component";
  const old = getMeta(m, key);
  if (old !== undefined && rng.chance(0.25)) {
    m.metadataProps = metaEntries(m).filter((p) => p.key !== key);
    return { cls: "metadata lowbit.component deleted", label: "metadata lowbit.component deleted", validity: "must-refuse" };
  }
  const value = rng.pick([old === "encoder" ? "decoder" : "encoder", "", "Encoder", "both", "decoder "]);
  setMeta(m, key, value);
  return { cls: `metadata lowbit.component ${old === undefined ? "added" : "changed"}`, label: `metadata lowbit.component ${JSON.stringify(old ?? null)} → ${JSON.stringify(value)}`, validity: value === old ? "may-differ" : "must-refuse" };
};

/** The vocabulary size of the unmutated file's lowbit.config (token ids in lowbit.generation must lie below it). */
function seedVocab(): number {
  const v = originalJson("lowbit.config")?.vocab_size;
  return typeof v === "number" ? v : 281;
}

/**
 * The decoder file's generation defaults, key by key (transformers' GenerationConfig semantics); in an
 * encoder or GPT-2 file the key itself is refused, so there the edit sets it (badJson).
 */
const generationKey = jsonKeyMutator("lowbit.generation", (key, e, g) => generationVerdict(key, e, g, seedVocab()), GENERATION_KEYS, () => []);

// ── lowbit.weights ──

const weightsDrop: StructMutator = (m, rng) => {
  const w = manifestOf(m);
  if (w === undefined || w.length === 0) return badJson(m, "lowbit.weights", rng);
  const i = rng.int(w.length);
  const [gone] = w.splice(i, 1);
  setMeta(m, "lowbit.weights", JSON.stringify(w));
  return { cls: "lowbit.weights entry dropped", label: `lowbit.weights entry ${JSON.stringify(gone?.name)} dropped`, validity: "must-refuse" };
};

const weightsDuplicate: StructMutator = (m, rng) => {
  const w = manifestOf(m);
  if (w === undefined || w.length === 0) return badJson(m, "lowbit.weights", rng);
  const e = rng.pick(w);
  // Another layer's name: GPT-2's h.99.…, BART's encoder/decoder.layers.99.… (or h.99.<name> for a name without a layer).
  const layered = String(e.name).replace(/(^h|\.layers)\.\d+\./, "$1.99.");
  const extra = rng.chance(0.5) ? { ...e } : { ...e, name: layered !== e.name ? layered : `h.99.${String(e.name)}` };
  w.push(extra);
  setMeta(m, "lowbit.weights", JSON.stringify(w));
  return { cls: extra.name === e.name ? "lowbit.weights entry given twice" : "lowbit.weights extra entry for no weight", label: `lowbit.weights: extra entry ${JSON.stringify(extra.name)}`, validity: "must-refuse" };
};

function entrySpecial(key: string, e: Record<string, unknown>, others: Record<string, unknown>[]): ValueEdit[] {
  const shape = Array.isArray(e.shape) ? (e.shape as number[]) : [];
  switch (key) {
    case "shape": return [
      { name: "dims swapped", value: [...shape].reverse() }, { name: "a dim +1", value: shape.map((d, i) => (i === 0 ? d + 1 : d)) },
      { name: "a dim dropped", value: shape.slice(1) }, { name: "a dim of 1 added", value: [...shape, 1] }, { name: "a dim 2^31", value: shape.map((d, i) => (i === 0 ? 2 ** 31 : d)) },
    ];
    case "layout": return ["float", "dq", "nbits", "int8"].filter((l) => l !== e.layout).map((l) => ({ name: "another layout", value: l }));
    case "initializer": case "scale": return others.slice(0, 3).map((o) => ({ name: "another weight's initializer", value: o.initializer })).concat([{ name: "a missing initializer", value: "nope" }]);
    case "bits": return [2, 4, 8, 32, 3].filter((b) => b !== e.bits).map((b) => ({ name: "other bits", value: b }));
    case "input_axis": return [{ name: "the other axis", value: e.input_axis === 0 ? 1 : 0 }, { name: "axis 2", value: 2 }];
    case "group_size": return [32, 64, 128, 0, 7].filter((g) => g !== e.group_size).map((g) => ({ name: "another group size", value: g }));
    case "scale_shape": return [{ name: "[]", value: [] }, { name: "[1]", value: [1] }, { name: "dims swapped", value: Array.isArray(e.scale_shape) ? [...(e.scale_shape as number[])].reverse() : [2, 2] }];
    default: return [];
  }
}

const weightsField: StructMutator = (m, rng) => {
  const w = manifestOf(m);
  if (w === undefined || w.length === 0) return badJson(m, "lowbit.weights", rng);
  const i = rng.int(w.length);
  const e = w[i];
  if (e === null || typeof e !== "object") return weightsDrop(m, rng);
  const known = ["name", "shape", "layout", "initializer", "scale", "bits", "input_axis", "group_size", "scale_shape", "block_size"];
  const keys = [...new Set([...Object.keys(e), ...(rng.chance(0.1) ? known : [])])];
  const key = rng.pick(keys);
  const before = structuredClone(e);
  const ve = drawKeyEdit(rng, key, e, entrySpecial(key, e, w.filter((o) => o !== e)));
  applyValueEdit(e, key, ve);
  setMeta(m, "lowbit.weights", JSON.stringify(w));
  const noop = sameJson(before, e);
  const unknownKey = !known.includes(key) && !CHECKSUM_KEY.test(key);
  return {
    cls: `lowbit.weights entry ${key}: ${ve.name}`, label: `lowbit.weights[${i}] (${String(before.name)}) ${key} ${describeValue(ve)}`,
    validity: noop ? "may-differ" : unknownKey ? "unknown" : "must-refuse", target: `lowbit.weights[${i}] ${key}`,
  };
};

const weightsWhole: StructMutator = (m, rng) => {
  const w = manifestOf(m);
  if (w !== undefined && rng.chance(0.5)) {
    const edit = rng.pick(["empty list", "a null entry", "an object", "reversed"]);
    const value = edit === "empty list" ? [] : edit === "a null entry" ? [...w.slice(1), null] : edit === "an object" ? Object.fromEntries(w.map((e) => [e.name, e])) : [...w].reverse();
    setMeta(m, "lowbit.weights", JSON.stringify(value));
    // The manifest's order carries no meaning (entries are found by name): reversing it is still valid.
    return { cls: `lowbit.weights: ${edit}`, label: `lowbit.weights replaced by ${edit}`, validity: edit === "reversed" ? "may-differ" : "must-refuse" };
  }
  return badJson(m, "lowbit.weights", rng);
};

// ── tokenizer ──

const vocabEdit: StructMutator = (m, rng) => {
  const key = "lowbit.tokenizer.vocab";
  const old = getMeta(m, key);
  if (old === undefined) return metaUnknownKey(m, rng);
  let vocab: Record<string, unknown>;
  try {
    vocab = JSON.parse(old) as Record<string, unknown>;
  } catch {
    return badJson(m, key, rng);
  }
  const tokens = Object.keys(vocab);
  const edit = rng.pick(["truncated", "truncated", "bad JSON", "empty object", "id edited", "id duplicated", "token removed", "id past vocab_size"]);
  let value: string;
  let validity: Validity = "must-refuse";
  let detail = "";
  if (edit === "truncated") {
    const at = rng.int(old.length);
    value = old.slice(0, at);
    detail = ` at ${at} of ${old.length} chars`;
  } else if (edit === "bad JSON") {
    const at = rng.int(old.length);
    value = `${old.slice(0, at)}"${old.slice(at)}`;
  } else if (edit === "empty object") {
    value = "{}";
  } else {
    const t = rng.pick(tokens);
    if (edit === "id edited") vocab[t] = rng.pick([-1, 1e9, 1.5, "x", null, 2 ** 24]);
    else if (edit === "id duplicated") vocab[t] = vocab[rng.pick(tokens.filter((x) => x !== t))];
    else if (edit === "token removed") { delete vocab[t]; validity = "unknown"; }
    else vocab[t] = 1e6;
    detail = ` (${JSON.stringify(t)} → ${JSON.stringify(vocab[t])})`;
    value = JSON.stringify(vocab);
  }
  setMeta(m, key, value);
  return { cls: `tokenizer vocab ${edit}`, label: `${key} ${edit}${detail}`, validity: value === old ? "may-differ" : validity };
};

const mergesEdit: StructMutator = (m, rng) => {
  const key = "lowbit.tokenizer.merges";
  const old = getMeta(m, key);
  if (old === undefined) return metaUnknownKey(m, rng);
  const lines = old.split("\n");
  const edit = rng.pick(["truncated mid-line", "truncated at a line end", "malformed line", "unknown token", "header removed", "two lines swapped", "CRLF", "emptied"]);
  let value = old;
  let validity: Validity = "must-refuse";
  if (edit === "truncated mid-line" || edit === "truncated at a line end") {
    const body = lines.map((l, i) => ({ l, i })).filter(({ l, i }) => l.includes(" ") && i > 0);
    if (body.length === 0) return vocabEdit(m, rng);
    const { l, i } = rng.pick(body);
    const before = lines.slice(0, i).join("\n").length + (i > 0 ? 1 : 0);
    // A cut inside "a b" that leaves "a" or "a " is malformed; one at a line end leaves a shorter, well-formed list.
    value = edit === "truncated mid-line" ? old.slice(0, before + rng.range(1, Math.max(1, l.indexOf(" ") + 1))) : old.slice(0, before);
    validity = edit === "truncated mid-line" ? "must-refuse" : "unknown";
  } else if (edit === "malformed line") {
    lines.splice(rng.range(1, lines.length), 0, rng.pick(["abc", "a b c", " ", "\u0000 x"]));
    value = lines.join("\n");
  } else if (edit === "unknown token") {
    lines.splice(rng.range(1, lines.length), 0, "zzqq xxjj");
    value = lines.join("\n");
  } else if (edit === "header removed") {
    value = lines.filter((l) => !l.startsWith("#version")).join("\n");
    validity = "may-differ";
  } else if (edit === "two lines swapped") {
    if (lines.length < 4) return vocabEdit(m, rng);
    const i = rng.range(1, lines.length - 2);
    [lines[i], lines[i + 1]] = [lines[i + 1], lines[i]];
    value = lines.join("\n");
    validity = "may-differ";
  } else if (edit === "CRLF") {
    value = old.replace(/\n/g, "\r\n");
    validity = "may-differ";
  } else {
    value = "";
    validity = "unknown";
  }
  setMeta(m, key, value);
  return { cls: `tokenizer merges ${edit}`, label: `${key} ${edit} (${old.length} → ${value.length} chars)`, validity: value === old ? "may-differ" : validity };
};

// ── keys the harness does not know (a checksum the format adds, …): found at run time ──

const otherKey: StructMutator = (m, rng) => {
  const keys = metaEntries(m).map((p) => p.key ?? "").filter((k) => !KNOWN_META.has(k));
  if (keys.length === 0) return metaEmpty(m, rng);
  const key = rng.pick(keys);
  const old = getMeta(m, key) ?? "";
  const edit = rng.pick(["one character changed", "truncated", "upper-cased", "emptied", "deleted"]);
  if (edit === "deleted") m.metadataProps = metaEntries(m).filter((p) => p.key !== key);
  else {
    const at = rng.int(Math.max(1, old.length));
    const ch = old[at] === "0" ? "1" : "0";
    setMeta(m, key, { "one character changed": old.slice(0, at) + ch + old.slice(at + 1), truncated: old.slice(0, at), "upper-cased": old.toUpperCase(), emptied: "" }[edit]!);
  }
  const changed = edit === "deleted" || getMeta(m, key) !== old;
  return { cls: `metadata ${key}: ${edit}`, label: `metadata ${key} ${edit}`, validity: !changed ? "may-differ" : CHECKSUM_KEY.test(key) ? "must-refuse" : "unknown" };
};

const dropGraph: StructMutator = (m) => {
  m.graph = null;
  return { cls: "graph removed", label: "graph removed (no initializers)", validity: "must-refuse" };
};

const STRUCT_MUTATORS: { weight: number; value: StructMutator }[] = [
  { weight: 7, value: initDims }, { weight: 5, value: initDataType }, { weight: 5, value: initRawLength }, { weight: 3, value: initRename },
  { weight: 3, value: initDrop }, { weight: 2, value: initDuplicate }, { weight: 2, value: initFloatData }, { weight: 1, value: initExternal },
  { weight: 5, value: metaDelete }, { weight: 3, value: metaEmpty }, { weight: 3, value: metaDuplicate }, { weight: 1, value: metaUnknownKey },
  { weight: 3, value: formatVersion }, { weight: 1, value: modelType },
  { weight: 16, value: configKey }, { weight: 3, value: configWhole }, { weight: 7, value: quantKey },
  { weight: 4, value: weightsDrop }, { weight: 12, value: weightsField }, { weight: 2, value: weightsDuplicate }, { weight: 2, value: weightsWhole },
  { weight: 6, value: vocabEdit }, { weight: 6, value: mergesEdit }, { weight: 3, value: otherKey }, { weight: 1, value: dropGraph },
  { weight: 2, value: componentEdit }, { weight: 5, value: generationKey },
];

export function mutateOnnxStructure(seed: Uint8Array, rng: Rand, count: number): Mutated {
  const model = onnx.ModelProto.decode(seed);
  seedMeta = new Map(metaEntries(model).map((p) => [p.key ?? "", p.value ?? ""]));
  const mutations: Mutation[] = [];
  for (let i = 0; i < count; i++) mutations.push(rng.weighted(STRUCT_MUTATORS)(model, rng));
  return { bytes: onnx.ModelProto.encode(model).finish(), mutations };
}

/**
 * A seed's "unsealed" twin: checksum-like metadata dropped and lowbit.format_version set to 1, the
 * version that has no checksum, so that mutations reach the validators behind the checksum. Unchanged
 * when the file has no such key.
 */
export function unseal(seed: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(seed);
  const before = metaEntries(model).length;
  model.metadataProps = metaEntries(model).filter((p) => !CHECKSUM_KEY.test(p.key ?? ""));
  if (model.metadataProps.length === before) return seed;
  setMeta(model, "lowbit.format_version", "1");
  return onnx.ModelProto.encode(model).finish();
}
