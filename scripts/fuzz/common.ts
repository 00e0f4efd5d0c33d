// Shared vocabulary of the fuzz harness (scripts/fuzz.ts): input kinds, entry points, outcomes, the
// verdict a mutation gives about itself, case ids, the seeded random draws, and the generic JSON value
// edits that the ONNX-metadata and config.json mutators both use.
//
// A case id is "<seed>-<index>" (e.g. "1-4711"). Everything about a case (which input kind, which seed
// file, which entry point, which mutations with which values) is drawn from seededRandom(caseSeed(seed,
// index)) in a fixed order, so an id replays exactly, whatever --kinds/--entry/--cases a run used: filters
// only skip ids, they never renumber them. Not in here: file formats (onnx_mutators.ts,
// checkpoint_mutators.ts), processes (pool.ts, worker.ts), reporting (report.ts).

import { fmix32 } from "../build_corpus.js";
import { seededRandom } from "../../src/runtime/sampling.js";

// ─── vocabulary ─────────────────────────────────────────────────────────────────────────────────

/** Appended at the end only: a case's kind is drawn from this list, so its order is part of every case id. */
export const KINDS = ["onnx-bytes", "onnx-structure", "hf-config", "hf-safetensors", "hf-shards", "quantized-checkpoint", "hf-folder"] as const;
export type Kind = (typeof KINDS)[number];

export const ENTRIES = ["inspect", "export", "quantize", "generate", "perplexity", "summarize"] as const;
export type Entry = (typeof ENTRIES)[number];

/**
 * What a mutation says about the input it makes:
 *  - must-refuse: the input is invalid (corrupt, self-contradictory, outside the format): every entry
 *    point must end in a clean `lowbit: error:`;
 *  - may-differ: the input is still valid (e.g. new weights in a file without checksum, a legal config
 *    value): running with a different result is fine;
 *  - unknown: not sure; a run whose result differs from the seed's is counted as "ran although invalid".
 */
export type Validity = "must-refuse" | "may-differ" | "unknown";

/** Combined verdict of several mutations: one invalid edit makes the input invalid. */
export function combineValidity(vs: Validity[]): Validity {
  if (vs.includes("must-refuse")) return "must-refuse";
  if (vs.includes("unknown")) return "unknown";
  return "may-differ";
}

export interface Mutation {
  /** Short template that groups cases into classes, without random values: "lowbit.config n_head: zero". */
  cls: string;
  /** The exact edit, with its values: "lowbit.config n_head = 0". */
  label: string;
  validity: Validity;
  /**
   * The one value it sets ("config.json bos_token_id"), when it sets one: a later edit of it supersedes this
   * one. "<file> (file)": the whole file replaced or deleted, which supersedes every earlier edit of that file.
   */
  target?: string;
}

/** Whether an edit of `later` overwrites what an edit of `earlier` did. */
function overwrites(later: string, earlier: string): boolean {
  if (later === earlier) return true;
  return later.endsWith(" (file)") && earlier.startsWith(`${later.slice(0, -" (file)".length)} `);
}

/** An edit whose value a later edit of the same case overwrote no longer says anything about the input. */
export function supersede(ms: Mutation[]): Mutation[] {
  return ms.map((m, i) => (m.target !== undefined && ms.slice(i + 1).some((later) => later.target !== undefined && overwrites(later.target, m.target!))
    ? { ...m, label: `${m.label} (superseded)`, validity: "may-differ" as Validity }
    : m));
}

export const OUTCOMES = ["clean", "unaffected", "ran-legit", "ran-invalid", "crash", "hang", "oom", "messy", "seed-error"] as const;
/**
 * clean: exit 1 with one `lowbit: error:` line. unaffected: ran, same result as the unmutated seed.
 * ran-legit: ran with a different result, and every mutation said the input stays valid.
 * ran-invalid: ran with a different result from an input that is (or may be) invalid.
 * crash: exit 70 / an escaping exception / the worker died. hang: past the per-case timeout.
 * oom: past the RSS cap or V8's heap limit. messy: failed, but not with exactly one error line.
 * seed-error: the unmutated seed itself did not run this entry point (nothing to compare with).
 */
export type Outcome = (typeof OUTCOMES)[number];
export const FAILING: readonly Outcome[] = ["ran-invalid", "crash", "hang", "oom", "messy"];

// ─── case ids and random draws ──────────────────────────────────────────────────────────────────

/** murmur3's 32-bit finalizer over (seed, index): neighbouring ids get unrelated streams. */
export function caseSeed(seed: number, index: number): number {
  return fmix32((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index >>> 0, 0x85ebca77)) >>> 0);
}

export function caseId(seed: number, index: number): string {
  return `${seed}-${index}`;
}

export function parseCaseId(id: string): { seed: number; index: number } {
  const m = /^(\d+)-(\d+)$/.exec(id.trim());
  if (m === null) throw new Error(`bad case id ${JSON.stringify(id)}: expected <seed>-<index>, e.g. 1-4711`);
  return { seed: Number(m[1]), index: Number(m[2]) };
}

/** Draws over seededRandom (src/runtime/sampling.ts: mulberry32), the one PRNG of the project. */
export class Rand {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = seededRandom(seed);
  }
  float(): number {
    return this.next();
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from an empty list");
    return items[this.int(items.length)];
  }
  weighted<T>(items: readonly { weight: number; value: T }[]): T {
    const total = items.reduce((a, b) => a + b.weight, 0);
    let r = this.next() * total;
    for (const it of items) {
      r -= it.weight;
      if (r < 0) return it.value;
    }
    return items[items.length - 1].value;
  }
}

// ─── generic JSON value edits ───────────────────────────────────────────────────────────────────

/** A new value for a JSON key, or `missing` to delete it. */
export interface ValueEdit {
  name: string; // "zero", "huge 2^31", …: part of the mutation class
  missing?: true;
  value?: unknown;
}

/**
 * The edits the brief lists for every key: missing, null, wrong type, zero, negative, huge, non-integer,
 * a string; plus small steps around the current value, which keep the type and so reach the checks that
 * compare a value with the tensors.
 */
export function drawValueEdit(rng: Rand, old: unknown): ValueEdit {
  const n = typeof old === "number" ? old : 1;
  const edits: ValueEdit[] = [
    { name: "missing", missing: true },
    { name: "null", value: null },
    { name: "string", value: "x" },
    { name: "number as string", value: String(old) },
    { name: "boolean", value: true },
    { name: "array", value: [] },
    { name: "object", value: {} },
    { name: "zero", value: 0 },
    { name: "negative", value: -Math.max(1, Math.abs(n)) },
    { name: "huge 1e9", value: 1e9 },
    { name: "huge 2^31", value: 2 ** 31 },
    { name: "huge 2^53+", value: 2 ** 53 + 2 },
    { name: "huge 1e308", value: 1e308 },
    { name: "non-integer", value: typeof old === "number" && Number.isInteger(old) ? old + 0.5 : 1.5 },
    { name: "plus one", value: n + 1 },
    { name: "minus one", value: n - 1 },
    { name: "double", value: n * 2 },
    { name: "half", value: Math.floor(n / 2) },
  ];
  return rng.pick(edits);
}

export function describeValue(e: ValueEdit): string {
  return e.missing ? "deleted" : `= ${JSON.stringify(e.value)}`;
}

export function applyValueEdit(obj: Record<string, unknown>, key: string, e: ValueEdit): void {
  if (e.missing) delete obj[key];
  else obj[key] = e.value;
}

export const isPositiveInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v > 0;
export const isFiniteNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Metadata or tensor keys that look like integrity checks (whatever name the format gives them). */
export const CHECKSUM_KEY = /(^|[._-])(checksum|sha\d*|hash|digest|crc\d*)($|[._-])/i;

/** Whether two JSON values are the same (key order ignored). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
