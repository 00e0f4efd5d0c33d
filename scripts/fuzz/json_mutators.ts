// JSON-file mutators shared by the checkpoint and folder mutators (scripts/fuzz/checkpoint_mutators.ts,
// folder_mutators.ts): generation_config.json (a BART checkpoint's, a folder export's, and the decoder
// file's `lowbit.generation` metadata use the same keys), whole-file edits of a JSON file, and value edits
// at any path inside a nested JSON document (tokenizer.json, tokenizer_config.json).
//
// Verdicts for generation settings follow transformers' GenerationConfig: a value transformers accepts
// (a positive beam count, any length penalty, a token id inside the vocabulary, null for "unset") keeps the
// input valid, and may change what is generated; a wrong type, an id outside the vocabulary, or a setting
// whose non-neutral value changes decoding in a way lowbit does not implement (num_beam_groups > 1, …) does
// not. Not in here: which files a checkpoint or folder has (the callers).

import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import {
  applyValueEdit, describeValue, drawValueEdit, isFiniteNumber, sameJson,
  type Mutation, type Rand, type Validity, type ValueEdit,
} from "./common.js";

/** Whether a path is a plain file (an earlier edit may have deleted it or put a directory there). */
export const isFile = (path: string): boolean => { try { return statSync(path).isFile(); } catch { return false; } };
export const readJson = (path: string): unknown => JSON.parse(readFileSync(path, "utf8"));
/** Writes a file where an earlier edit may have left a directory of that name. */
export function writeText(path: string, text: string): void {
  if (existsSync(path) && !isFile(path)) rmSync(path, { recursive: true, force: true });
  writeFileSync(path, text);
}
export const writeJson = (path: string, v: unknown) => writeText(path, JSON.stringify(v, null, 1));

/** A JSON file's object, or undefined where it is missing, unreadable or not an object. */
export function jsonObject(path: string): Record<string, unknown> | undefined {
  try {
    const v = readJson(path);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

// ─── generation settings ────────────────────────────────────────────────────────────────────────

/** The keys lowbit reads, and a few of transformers' bookkeeping keys that it drops. */
export const GENERATION_KEYS = [
  "num_beams", "length_penalty", "early_stopping", "no_repeat_ngram_size", "min_length", "max_length", "max_new_tokens",
  "repetition_penalty", "do_sample", "temperature", "top_k", "top_p", "decoder_start_token_id", "bos_token_id",
  "eos_token_id", "pad_token_id", "forced_bos_token_id", "forced_eos_token_id",
];
/** Settings lowbit does not implement, with transformers' neutral value (the only one it accepts). */
const NEUTRAL_SETTINGS: Record<string, unknown> = { num_beam_groups: 1, diversity_penalty: 0, encoder_repetition_penalty: 1, typical_p: 1, bad_words_ids: null, renormalize_logits: false };

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

/** Whether a generation setting (after the edit) is one transformers accepts; `vocab` bounds token ids. */
export function generationVerdict(key: string, e: ValueEdit, orig: Record<string, unknown>, vocab: number): Validity {
  if (e.missing) return "may-differ"; // every key is optional: its default then
  const v = e.value;
  if (sameJson(orig[key], v)) return "may-differ";
  if (v === null) return "may-differ"; // transformers' "unset": the default (for a neutral-only setting, its neutral value)
  const id = (x: unknown) => isInt(x) && x >= 0 && x < vocab;
  const ok = (b: boolean): Validity => (b ? "may-differ" : "must-refuse");
  switch (key) {
    case "num_beams": return ok(isInt(v) && v >= 1);
    case "length_penalty": return ok(isFiniteNumber(v));
    case "early_stopping": return ok(typeof v === "boolean" || v === "never");
    case "no_repeat_ngram_size": case "min_length": case "max_length": case "top_k": return ok(isInt(v) && v >= 0);
    case "max_new_tokens": return isInt(v) && v >= 1 ? "may-differ" : v === 0 ? "unknown" : "must-refuse";
    case "repetition_penalty": return ok(isFiniteNumber(v) && v > 0);
    case "do_sample": return ok(typeof v === "boolean");
    case "temperature": return isFiniteNumber(v) && v > 0 ? "may-differ" : v === 0 ? "unknown" : "must-refuse";
    case "top_p": return ok(isFiniteNumber(v) && v >= 0 && v <= 1);
    case "decoder_start_token_id": case "bos_token_id": case "pad_token_id": case "forced_bos_token_id": return ok(id(v));
    // transformers allows a list; lowbit takes a list of one, and refuses a longer one (it stops on one token).
    case "eos_token_id": case "forced_eos_token_id": return ok(id(v) || (Array.isArray(v) && v.length === 1 && id(v[0])));
    default:
      if (key in NEUTRAL_SETTINGS) return sameJson(v, NEUTRAL_SETTINGS[key]) ? "may-differ" : "must-refuse";
      return "may-differ"; // transformers_version, _from_model_config, …: bookkeeping
  }
}

function generationSpecial(key: string, g: Record<string, unknown>, vocab: number): ValueEdit[] {
  switch (key) {
    case "num_beams": return [{ name: "another beam count", value: 1 }, { name: "another beam count", value: 3 }, { name: "over lowbit's limit", value: 257 }];
    case "length_penalty": return [{ name: "another penalty", value: 1.0 }, { name: "another penalty", value: -0.5 }];
    case "early_stopping": return [{ name: "never", value: "never" }, { name: "flipped", value: g.early_stopping !== true }];
    case "no_repeat_ngram_size": return [{ name: "another size", value: 2 }, { name: "another size", value: 0 }];
    case "min_length": return [{ name: "another length", value: 3 }, { name: "past max_length", value: 1000 }];
    case "max_length": return [{ name: "another length", value: 5 }, { name: "past the positions", value: 1 << 20 }];
    case "eos_token_id": case "forced_eos_token_id": return [{ name: "a list of one", value: [2] }, { name: "a list of two", value: [2, 3] }, { name: "another valid id", value: 5 }, { name: "= vocab_size", value: vocab }];
    case "decoder_start_token_id": case "bos_token_id": case "pad_token_id": case "forced_bos_token_id":
      return [{ name: "another valid id", value: 5 }, { name: "= vocab_size", value: vocab }, { name: "the last id", value: vocab - 1 }, { name: "null", value: null }];
    case "do_sample": return [{ name: "sampling", value: true }];
    default: return [];
  }
}

/** One key of a generation_config.json file edited (the seed's value judged against `orig`). */
export function generationKeyEdit(path: string, rng: Rand, vocab: number, orig: Record<string, unknown> | undefined, what = "generation_config.json"): Mutation {
  const g = jsonObject(path);
  if (g === undefined) return jsonFileWhole(path, rng, { what, missingValidity: "may-differ", emptyValidity: "may-differ" });
  const keys = Object.keys(g);
  const extra = Object.keys(NEUTRAL_SETTINGS);
  const key = rng.chance(0.08) ? rng.pick(extra) : rng.chance(0.2) || keys.length === 0 ? rng.pick(GENERATION_KEYS) : rng.pick(keys);
  const special = key in NEUTRAL_SETTINGS ? [{ name: "a non-neutral value", value: key === "bad_words_ids" ? [[5]] : key === "renormalize_logits" ? true : 2 }] : generationSpecial(key, g, vocab);
  const e = special.length > 0 && rng.chance(0.35) ? rng.pick(special) : drawValueEdit(rng, g[key]);
  applyValueEdit(g, key, e);
  writeJson(path, g);
  const o = orig ?? {};
  return { cls: `${what} ${key}: ${e.name}`, label: `${what} ${key} ${describeValue(e)}`, validity: generationVerdict(key, e, o, vocab), target: `${basename(path)} ${key}` };
}

// ─── whole JSON files ───────────────────────────────────────────────────────────────────────────

/**
 * The file as a whole: cut, emptied, replaced by another JSON value, a BOM, deleted. `missingValidity`
 * says what deleting it means (an optional file falls back to a default), `emptyValidity` what `{}` means.
 */
export function jsonFileWhole(path: string, rng: Rand, o: { what: string; missingValidity: Validity; emptyValidity: Validity; readByLowbit?: boolean }): Mutation {
  const old = isFile(path) ? readFileSync(path, "utf8") : "";
  const edit = rng.pick(["truncated", "empty text", "null", "an array", "a number", "a string", "empty object", "deleted", "BOM prefixed", "trailing garbage"]);
  let validity: Validity = "must-refuse";
  if (edit === "deleted") {
    rmSync(path, { force: true });
    validity = o.missingValidity;
  } else {
    const text = {
      truncated: old.slice(0, rng.int(Math.max(1, old.length))), "empty text": "", null: "null", "an array": "[]", "a number": "42", "a string": '"x"',
      "empty object": "{}", "BOM prefixed": `\ufeff${old}`, "trailing garbage": `${old}}`,
    }[edit]!;
    if (edit === "empty object") validity = o.emptyValidity;
    if (edit === "BOM prefixed") validity = "unknown"; // JSON readers differ (Python's json refuses it)
    // A cut that leaves the same JSON (only the final newline gone) is the same file.
    if (isFile(path) && (text === old || (edit === "truncated" && sameParse(text, old)))) validity = "may-differ";
    writeText(path, text);
  }
  // A file lowbit never reads (tokenizer.json, …) is the business of other runtimes: lowbit runs as before.
  if (o.readByLowbit === false) validity = "may-differ";
  // Edits that replace the whole content supersede earlier edits of the file (common.ts: supersede).
  const replaces = !["truncated", "BOM prefixed", "trailing garbage"].includes(edit);
  return { cls: `${o.what} ${edit}`, label: `${o.what} ${edit}`, validity, ...(replaces ? { target: `${basename(path)} (file)` } : {}) };
}

function sameParse(a: string, b: string): boolean {
  try {
    return sameJson(JSON.parse(a), JSON.parse(b));
  } catch {
    return false;
  }
}

// ─── nested documents ───────────────────────────────────────────────────────────────────────────

/** Every path to a value in a JSON document (objects and arrays walked), at most `limit` of them. */
function paths(doc: unknown, limit = 4000): (string | number)[][] {
  const out: (string | number)[][] = [];
  const walk = (v: unknown, p: (string | number)[]) => {
    if (out.length >= limit) return;
    if (p.length > 0) out.push(p);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
    else if (v !== null && typeof v === "object") for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k], [...p, k]);
  };
  walk(doc, []);
  return out;
}

/**
 * A value somewhere inside a JSON file (a vocabulary entry, an added token's id, a post-processor's
 * special token, …) edited: the generic edits (missing, wrong type, zero, negative, huge, …). `validity`
 * is the caller's: lowbit does not read tokenizer.json or tokenizer_config.json (the ONNX files carry the
 * tokenizer), so for lowbit their edits keep the folder as it was ("may-differ": it must run as before,
 * unless another edit of the case changes what it does).
 */
export function nestedValueEdit(path: string, rng: Rand, what: string, validity: Validity): Mutation {
  let doc: unknown;
  try {
    doc = readJson(path);
  } catch {
    return jsonFileWhole(path, rng, { what, missingValidity: validity, emptyValidity: validity, readByLowbit: validity !== "may-differ" });
  }
  const all = paths(doc);
  if (all.length === 0) return jsonFileWhole(path, rng, { what, missingValidity: validity, emptyValidity: validity, readByLowbit: validity !== "may-differ" });
  const p = rng.pick(all);
  let parent = doc as Record<string | number, unknown>;
  for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = p[p.length - 1];
  const e = drawValueEdit(rng, parent[last]);
  if (Array.isArray(parent) && e.missing) (parent as unknown[]).splice(last as number, 1);
  else applyValueEdit(parent as Record<string, unknown>, String(last), e);
  writeJson(path, doc);
  const where = p.map((k) => (typeof k === "number" ? `[${k}]` : `.${k}`)).join("").slice(0, 80);
  return { cls: `${what} ${typeof last === "number" ? "an array item" : "a value"}: ${e.name}`, label: `${what} ${where} ${describeValue(e)}`, validity };
}
