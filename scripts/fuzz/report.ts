// Judging and summing up fuzz cases: each job result becomes one outcome (common.ts: clean, unaffected,
// ran-legit, ran-invalid, crash, hang, oom, messy, seed-error) by its exit code and stderr and, when it ran,
// by comparing its result with the unmutated seed's ("the oracle"). Results are grouped into classes (a
// crash by its error and the first frame in src/; a run or hang by the mutation that caused it) and written
// as bench/results/fuzz.json and a short Markdown table. Not in here: running anything.

import { writeFileSync } from "node:fs";
import { FAILING, KINDS, OUTCOMES, ENTRIES, type Entry, type Kind, type Mutation, type Outcome, type Validity } from "./common.js";
import type { PoolResult } from "./pool.js";

export interface OracleRecord {
  ok: boolean;
  digest?: string;
  summary?: string;
  error?: string;
  ms: number;
}

export const oracleKey = (seed: string, entry: Entry) => `${seed}:${entry}`;

export interface Classified {
  id: string;
  kind: Kind;
  seed: string;
  entry: Entry;
  outcome: Outcome | "harness-error";
  validity: Validity;
  mutations: Mutation[];
  /** The error line, the differing result, or what killed it. */
  message: string;
  /** What groups it with other cases into a class. */
  signature: string;
  ms: number;
}

/** An error's first line and the first stack frame in the project's src/, digits folded: a class of crash. */
function errorSignature(text: string): { message: string; signature: string } {
  const lines = text.trim().split("\n");
  const head = lines.find((l) => l.trim() !== "") ?? "";
  const frame = lines.find((l) => /\/src\/.*\.ts:\d+/.test(l) && !/\/node_modules\//.test(l));
  // "at parseTensors (/abs/path/src/export/safetensors.ts:123:5)" → "parseTensors (src/export/safetensors.ts)": lines move as code is edited.
  const where = frame === undefined ? "" : ` @ ${frame.trim().replace(/^at /, "").replace(/(file:\/\/)?[^\s(]*\/src\//, "src/").replace(/(:\d+)+\)?$/, "").replace(/\($/, "")}${/\(/.test(frame) ? ")" : ""}`;
  const fold = (s: string) => s.replace(/\d+(\.\d+)?(e[+-]?\d+)?/g, "N").replace(/"[^"]{20,}"/g, '"…"').slice(0, 240);
  return { message: text.trim().slice(0, 1500), signature: `${fold(head.replace(/^lowbit: (internal )?error: /, ""))}${where}` };
}

/** The mutations that make a case invalid (the rest said they keep it valid): its class when it ran or hung. */
function mutationSignature(ms: Mutation[]): string {
  const bad = ms.filter((m) => m.validity !== "may-differ");
  return (bad.length > 0 ? bad : ms).map((m) => m.cls).join(" + ") || "(no mutation)";
}

/** The first line where two texts differ, for a short "ran although invalid" message. */
function firstDifference(a: string, b: string): string {
  const la = a.split("\n");
  const lb = b.split("\n");
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) return `line ${i + 1}: seed ${JSON.stringify((la[i] ?? "").slice(0, 160))} → case ${JSON.stringify((lb[i] ?? "").slice(0, 160))}`;
  }
  return "same text";
}

export function classify(r: PoolResult, oracles: Map<string, OracleRecord>): Classified {
  const base = { id: r.id, kind: r.kind as Kind, seed: r.seed, entry: r.entry, validity: r.validity, mutations: r.mutations, ms: r.ms };
  const mut = mutationSignature(r.mutations);
  const as = (outcome: Classified["outcome"], message: string, signature: string): Classified => ({ ...base, outcome, message, signature });
  if (r.harnessError !== undefined) return as("harness-error", r.harnessError.slice(0, 1500), errorSignature(r.harnessError).signature);
  if (r.killed === "hang") return as("hang", `no result within the timeout (${r.entry})`, mut);
  if (r.killed === "oom") return as("oom", r.workerLog ?? "over the memory cap", mut);
  if (r.killed === "crash") {
    const e = errorSignature(r.workerLog ?? "worker died");
    return as("crash", e.message, `worker died: ${e.signature}`);
  }
  const oracle = oracles.get(oracleKey(r.seed, r.entry));
  if (oracle === undefined || !oracle.ok) return as("seed-error", `the unmutated seed fails ${r.entry}: ${oracle?.error ?? "not built"}`, `seed ${r.seed} [${r.entry}]`);
  if (r.thrown !== undefined) {
    const e = errorSignature(r.thrown);
    return as("crash", e.message, `escaped main(): ${e.signature}`);
  }
  if (r.rc === 0) {
    if (r.result?.digest === oracle.digest) return as("unaffected", "same result as the seed", mut);
    const diff = r.entry === "inspect" ? firstDifference(oracle.summary ?? "", r.result?.summary ?? "") : `seed ${oracle.summary?.slice(0, 200)} → case ${r.result?.summary.slice(0, 200)}`;
    return as(r.validity === "may-differ" ? "ran-legit" : "ran-invalid", diff, mut);
  }
  const lines = r.stderr.trimEnd().split("\n");
  if (r.rc === 70) {
    const e = errorSignature(r.stderr);
    return as("crash", e.message, e.signature);
  }
  if (r.rc === 1 && lines.length === 1 && lines[0].startsWith("lowbit: error: ")) return as("clean", lines[0], errorSignature(lines[0]).signature);
  const e = errorSignature(r.stderr || `exit ${r.rc} with an empty stderr`);
  return as("messy", `exit ${r.rc}, ${lines.length} stderr lines: ${e.message}`, `exit ${r.rc}: ${e.signature}`);
}

// ─── summary ────────────────────────────────────────────────────────────────────────────────────

type Counts = Record<string, number>;
const ALL_OUTCOMES = [...OUTCOMES, "harness-error"] as const;
const zero = (): Counts => Object.fromEntries([["cases", 0], ...ALL_OUTCOMES.map((o) => [o, 0])]);

export interface ClassRow {
  outcome: string;
  signature: string;
  count: number;
  kinds: string[];
  entries: string[];
  /** The mutations behind the class, most frequent first (for a crash: which inputs lead there). */
  causes: { mutation: string; count: number }[];
  /** Up to ten case ids, to replay more than the example. */
  ids: string[];
  example: { id: string; seed: string; entry: string; mutation: string; message: string };
}

export interface Summary {
  totals: Counts;
  byKind: Record<string, Counts>;
  byEntry: Record<string, Counts>;
  /** By seed, in the seed table's order (seeds.ts). */
  bySeed: Record<string, Counts>;
  /** Cases whose mutations said "must-refuse" and that ran anyway with the seed's result (counted as unaffected). */
  mustRefuseButRan: Counts;
  examples: { kind: string; outcome: string; id: string; entry: string; seed: string; mutation: string; message: string }[];
  classes: ClassRow[];
  /** What was let through, by mutation class, for review: ran with another result from an input said to stay
   * valid (ran-legit); ran with the seed's result from an input said to be invalid (must-refuse, unchanged). */
  letThrough: { outcome: "ran-legit" | "must-refuse, ran unchanged"; mutation: string; count: number; example: string }[];
  timing: { median_ms: number; p99_ms: number; max_ms: number; slowest: string };
}

export function summarize(cases: Classified[], seedOrder: string[] = []): Summary {
  const totals = zero();
  const byKind: Record<string, Counts> = Object.fromEntries(KINDS.map((k) => [k, zero()]));
  const byEntry: Record<string, Counts> = Object.fromEntries(ENTRIES.map((e) => [e, zero()]));
  const bySeed: Record<string, Counts> = Object.fromEntries(seedOrder.map((n) => [n, zero()]));
  const mustRefuseButRan: Counts = Object.fromEntries(KINDS.map((k) => [k, 0]));
  const classes = new Map<string, ClassRow & { kindSet: Set<string>; entrySet: Set<string>; causeCounts: Map<string, number> }>();
  const examples = new Map<string, Summary["examples"][number]>();
  const through = new Map<string, Summary["letThrough"][number]>();
  for (const c of [...cases].sort((a, b) => compareIds(a.id, b.id))) {
    bySeed[c.seed] ??= zero();
    for (const t of [totals, byKind[c.kind], byEntry[c.entry], bySeed[c.seed]]) {
      t.cases++;
      t[c.outcome]++;
    }
    if (c.outcome === "unaffected" && c.validity === "must-refuse") mustRefuseButRan[c.kind]++;
    if (c.outcome === "ran-legit" || (c.outcome === "unaffected" && c.validity === "must-refuse")) {
      const outcome = c.outcome === "ran-legit" ? "ran-legit" : "must-refuse, ran unchanged";
      const mutation = mutationSignature(c.mutations);
      const row = through.get(`${outcome}\u0000${mutation}`) ?? { outcome, mutation, count: 0, example: c.id };
      row.count++;
      through.set(`${outcome}\u0000${mutation}`, row);
    }
    if (c.outcome === "clean" || c.outcome === "unaffected" || c.outcome === "ran-legit") continue;
    const mutation = c.mutations.map((m) => `${m.label} [${m.validity}]`).join(" + ");
    const ex = { kind: c.kind, outcome: c.outcome, id: c.id, entry: c.entry, seed: c.seed, mutation, message: c.message };
    if (!examples.has(`${c.kind}/${c.outcome}`)) examples.set(`${c.kind}/${c.outcome}`, ex);
    const key = `${c.outcome}\u0000${c.signature}`;
    let row = classes.get(key);
    if (row === undefined) {
      row = {
        outcome: c.outcome, signature: c.signature, count: 0, kinds: [], entries: [], causes: [], ids: [],
        example: { id: c.id, seed: c.seed, entry: c.entry, mutation, message: c.message }, kindSet: new Set(), entrySet: new Set(), causeCounts: new Map(),
      };
      classes.set(key, row);
    }
    row.count++;
    if (row.ids.length < 10) row.ids.push(c.id);
    const cause = mutationSignature(c.mutations);
    row.causeCounts.set(cause, (row.causeCounts.get(cause) ?? 0) + 1);
    row.kindSet.add(c.kind);
    row.entrySet.add(c.entry);
  }
  const ms = cases.map((c) => c.ms).sort((a, b) => a - b);
  const slowest = cases.reduce((a, b) => (b.ms > (a?.ms ?? -1) ? b : a), cases[0]);
  return {
    totals, byKind, byEntry, bySeed, mustRefuseButRan,
    letThrough: [...through.values()].sort((a, b) => a.outcome.localeCompare(b.outcome) || b.count - a.count),
    examples: [...examples.values()],
    classes: [...classes.values()]
      .map(({ kindSet, entrySet, causeCounts, ...row }) => ({
        ...row, kinds: [...kindSet].sort(), entries: [...entrySet].sort(),
        causes: [...causeCounts].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([mutation, count]) => ({ mutation, count })),
      }))
      .sort((a, b) => ALL_OUTCOMES.indexOf(a.outcome as never) - ALL_OUTCOMES.indexOf(b.outcome as never) || b.count - a.count),
    timing: { median_ms: round(ms[Math.floor(ms.length / 2)] ?? 0), p99_ms: round(ms[Math.floor(ms.length * 0.99)] ?? 0), max_ms: round(ms[ms.length - 1] ?? 0), slowest: slowest?.id ?? "" },
  };
}

const round = (x: number) => Math.round(x * 10) / 10;

export function compareIds(a: string, b: string): number {
  const [sa, ia] = a.split("-").map(Number);
  const [sb, ib] = b.split("-").map(Number);
  return sa - sb || ia - ib;
}

/** Failing outcomes in a summary: what the CI test asserts to be zero. */
export function failures(s: Summary): Counts {
  return Object.fromEntries(FAILING.map((o) => [o, s.totals[o]]));
}

// ─── files ──────────────────────────────────────────────────────────────────────────────────────

const COLUMNS = ["cases", "clean", "unaffected", "ran-legit", "ran-invalid", "crash", "hang", "oom", "messy", "seed-error", "harness-error"] as const;

export function markdown(run: Record<string, unknown>, s: Summary): string {
  const cols = COLUMNS.filter((c) => c !== "harness-error" || s.totals[c] > 0);
  const table = (rows: [string, Counts][], extra?: (name: string) => string) => [
    `| | ${cols.join(" | ")}${extra ? " | must-refuse, ran unchanged" : ""} |`,
    `|---|${cols.map(() => "---:").join("|")}${extra ? "|---:" : ""}|`,
    ...rows.filter(([, c]) => c.cases > 0).map(([name, c]) => `| ${name} | ${cols.map((k) => c[k]).join(" | ")}${extra ? ` | ${extra(name)}` : ""} |`),
  ].join("\n");
  const total = Object.values(s.mustRefuseButRan).reduce((a, b) => a + b, 0);
  const esc = (x: string) => x.replace(/\|/g, "\\|").replace(/\n/g, " ⏎ ");
  return [
    "# Fuzz run",
    "",
    `\`${run.command}\` — ${run.cases} cases, seed ${run.seed}, ${run.duration_s} s on ${run.jobs} workers, Node ${run.node}, ${run.tree}.`,
    "Outcomes: clean = one `lowbit: error:` line; unaffected = ran with the unmutated seed's result; ran-legit = ran with",
    "another result from an input that stays valid; ran-invalid = ran with another result from an input that is (or may",
    "be) invalid; crash = exit 70 / escaped exception / dead worker; hang = past the per-case timeout; oom = past the RSS",
    "cap; messy = failed without exactly one error line. Replay a case: `npx tsx scripts/fuzz.ts --replay <id>`.",
    "",
    "## By input kind",
    "",
    table([...Object.entries(s.byKind), ["**all**", s.totals]], (name) => String(name === "**all**" ? total : s.mustRefuseButRan[name] ?? 0)),
    "",
    "## By entry point",
    "",
    table(Object.entries(s.byEntry)),
    "",
    "## By seed",
    "",
    table(Object.entries(s.bySeed)),
    "",
    "## One example per (kind, outcome) that is not clean",
    "",
    "| kind | outcome | case | entry | input | message |",
    "|---|---|---|---|---|---|",
    ...s.examples.map((e) => `| ${e.kind} | ${e.outcome} | \`${e.id}\` | ${e.entry} | ${esc(`${e.seed}: ${e.mutation}`).slice(0, 300)} | ${esc(e.message).slice(0, 300)} |`),
    "",
    "## Classes",
    "",
    "| outcome | cases | class | kinds | entries | example | most frequent inputs |",
    "|---|---:|---|---|---|---|---|",
    ...s.classes.map((c) => `| ${c.outcome} | ${c.count} | ${esc(c.signature).slice(0, 200)} | ${c.kinds.join(", ")} | ${c.entries.join(", ")} | \`${c.example.id}\` | ${esc(c.causes.slice(0, 3).map((x) => `${x.mutation} ×${x.count}`).join("; ")).slice(0, 240)} |`),
    "",
    "## Let through, for review",
    "",
    "Invalid inputs (by the mutation's own verdict) that ran with the seed's very result, so they count as unaffected;",
    "and the most frequent edits counted as legitimately valid (ran-legit). The full lists are in the JSON (`letThrough`).",
    "",
    "| | cases | mutation | example |",
    "|---|---:|---|---|",
    ...["must-refuse, ran unchanged", "ran-legit"].flatMap((o) => s.letThrough.filter((t) => t.outcome === o).slice(0, 15)
      .map((t) => `| ${t.outcome} | ${t.count} | ${esc(t.mutation).slice(0, 200)} | \`${t.example}\` |`)),
    "",
  ].join("\n");
}

export function writeResults(jsonPath: string, mdPath: string, run: Record<string, unknown>, s: Summary): void {
  writeFileSync(jsonPath, `${JSON.stringify({ ...run, ...s }, null, 2)}\n`);
  writeFileSync(mdPath, markdown(run, s));
}
