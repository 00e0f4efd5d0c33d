// Schema building blocks over valibot, and the one place where a schema failure becomes lowbit's one-line
// error: `<file>: bad value for <field path>; expected <what the schema wanted>, found <the value>`.
//
// Every on-disk format in src/format/ is described once as a valibot schema and parsed at the edge; each
// piece carries its own "expected" text (used as the issue message), so errors read as plain English
// instead of valibot's internal type names. abortEarly: the first problem is the one reported.

import * as v from "valibot";
import { LowbitError } from "../errors.js";

export { v };

/** An integer in [min, max]: the hard upper bound keeps a hostile value from allocating or looping unboundedly. */
export function intIn(min: number, max: number) {
  const expected = `an integer in ${min}..${max}`;
  return v.pipe(v.number(expected), v.integer(expected), v.minValue(min, expected), v.maxValue(max, expected));
}

/** A finite number in the open or closed interval given. */
export function numberIn(min: number, max: number, { openMin = false } = {}) {
  const expected = `a number in ${openMin ? "(" : "["}${min}, ${max}]`;
  return v.pipe(
    v.number(expected),
    v.check((x) => Number.isFinite(x) && (openMin ? x > min : x >= min) && x <= max, expected),
  );
}

/** One of the listed literal values (numbers or strings), named in the error as `a|b|c`. */
export function oneOf<const T extends readonly (string | number)[]>(values: T) {
  return v.picklist(values, values.join("|"));
}

export function bool() {
  return v.boolean("true or false");
}

export function str() {
  return v.string("a string");
}

/** A value as the error line shows it: JSON where it can be, kept short. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  let text: string;
  try {
    text = typeof value === "bigint" ? `${value}n` : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * The schema at a path of keys, walking objects, arrays, records and tuples; wrappers (optional, pipe) are
 * looked through. Used to word a missing key's error with what that key's own schema expects.
 */
function schemaAt(schema: unknown, keys: readonly unknown[]): unknown {
  let s = schema as Record<string, unknown> | undefined;
  for (const key of keys) {
    while (s !== undefined && "wrapped" in s) s = s.wrapped as Record<string, unknown>;
    if (s === undefined) return undefined;
    if ("entries" in s) s = (s.entries as Record<string, Record<string, unknown>>)[String(key)];
    else if ("items" in s && Array.isArray(s.items)) s = s.items[Number(key)] as Record<string, unknown>;
    else if ("item" in s) s = s.item as Record<string, unknown>;
    else if ("value" in s && typeof s.value === "object") s = s.value as Record<string, unknown>;
    else return undefined;
  }
  return s;
}

function issuePath(issue: v.BaseIssue<unknown>, prefix: string): string {
  const keys = (issue.path ?? []).map((p) => String(p.key));
  return [prefix, ...keys].filter((k) => k !== "").join(".");
}

/**
 * Parses `value` with `schema`, or throws a LowbitError naming the file and the field. `field` prefixes the
 * path (e.g. `quantization_config`), so nested formats name the key as the user sees it in the file.
 */
export function parseOrThrow<S extends v.GenericSchema>(schema: S, value: unknown, where: { file?: string; field?: string }): v.InferOutput<S> {
  const result = v.safeParse(schema, value, { abortEarly: true });
  if (result.success) return result.output;
  const issue = result.issues[0];
  const path = issuePath(issue, where.field ?? "");
  const missing = issue.input === undefined && path !== "";
  let expected = issue.message;
  if (missing) {
    // valibot reports a missing key as the object's issue ("Invalid key: …"); say what the key wants instead.
    const leaf = schemaAt(schema, (issue.path ?? []).map((p) => p.key));
    const own = leaf === undefined ? undefined : v.safeParse(leaf as v.GenericSchema, undefined);
    if (own !== undefined && !own.success) expected = own.issues[0].message;
  }
  const problem = missing ? `missing key ${path}` : path === "" ? "bad value" : `bad value for ${path}`;
  throw new LowbitError(problem, { file: where.file, expected, found: describeValue(issue.input) });
}

/** JSON.parse that reports a syntax error as a LowbitError naming the file (and the metadata key). */
export function parseJson(text: string, file: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new LowbitError(`${what} is not valid JSON`, { file, found: (err as Error).message });
  }
}
