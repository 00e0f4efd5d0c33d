// lowbit's fuzz harness: seeded, reproducible mutations of every input lowbit reads, GPT-2 and BART (lowbit
// .onnx files as bytes and as decoded structure; Hugging Face config.json, generation_config.json,
// safetensors files, shard indexes and .part-NN sets; quantized checkpoints; Hugging Face folder exports:
// their ONNX files, JSON files, swapped and deleted files), run through every entry point of the `lowbit`
// CLI (inspect, export, quantize, generate, perplexity, summarize), in a pool of long-lived worker
// processes with a per-case timeout and an RSS cap. Each case ends clean (one `lowbit: error:` line), unaffected, ran-legit, or as a finding:
// ran although invalid, crash, hang, oom, messy error. Everything goes through main() of src/cli.ts, so
// the loaders behind it can move.
//
//   npx tsx scripts/fuzz.ts --cases 10000 --seed 1 --jobs 2          # writes bench/results/fuzz.{json,md}
//   npx tsx scripts/fuzz.ts --cases 300 --kinds onnx-structure --entry generate --out /tmp/f.json
//   npx tsx scripts/fuzz.ts --replay 1-4711 [--keep]                 # one case in-process, full output
//
// Exit status: 0 no findings, 1 findings, 2 the harness could not run. Parts: scripts/fuzz/ (common.ts:
// ids and verdicts, seeds.ts, onnx_mutators.ts, checkpoint_mutators.ts, folder_mutators.ts,
// json_mutators.ts, worker.ts, pool.ts, report.ts).

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Command } from "commander";
import { ENTRIES, FAILING, KINDS, caseId, parseCaseId, type Entry, type Kind } from "./fuzz/common.js";
import { Pool, type PoolResult } from "./fuzz/pool.js";
import { classify, failures, oracleKey, summarize, writeResults, type Classified, type OracleRecord, type Summary } from "./fuzz/report.js";
import { ROOT, SEEDS, buildSeeds, entryArgv, planCase, seedSpec, type MainFn } from "./fuzz/seeds.js";
import { captureMain, importMain, runJob, snapshotTree } from "./fuzz/worker.js";

export interface FuzzOptions {
  cases: number;
  seed: number;
  jobs: number;
  kinds: Kind[];
  entries: Entry[];
  /** Leave out the shipped 5-35 MB models (the CI test does). */
  smallOnly: boolean;
  timeoutMs: number;
  largeTimeoutMs: number;
  rssCapMb: number;
  maxOldSpaceMb: number;
  /** Where to write the JSON summary (the Markdown goes beside it); nothing is written when undefined. */
  out?: string;
  command: string;
  quiet?: boolean;
}

export interface FuzzRun {
  summary: Summary;
  cases: Classified[];
  seeds: Record<string, { built: string; oracle: Record<string, string> }>;
  oracleDrift: string[];
}

const log = (quiet: boolean | undefined, line: string) => { if (!quiet) process.stderr.write(`[fuzz] ${line}\n`); };

// Temp directories of this process, removed on exit, Ctrl-C or kill, whatever happens in between.
const TEMP_DIRS = new Set<string>();
let cleanupInstalled = false;
function tempRoot(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "lowbit-fuzz-"));
  TEMP_DIRS.add(dir);
  if (!cleanupInstalled) {
    cleanupInstalled = true;
    const removeAll = () => { for (const d of TEMP_DIRS) rmSync(d, { recursive: true, force: true }); };
    process.on("exit", removeAll);
    for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => { removeAll(); process.kill(process.pid, sig); });
  }
  return { dir, remove: () => { rmSync(dir, { recursive: true, force: true }); TEMP_DIRS.delete(dir); } };
}

async function loadMain(treeRoot?: string): Promise<MainFn> {
  try {
    return await importMain(treeRoot);
  } catch (e) {
    throw new Error(`cannot load src/cli.ts (is the tree mid-edit?):\n${(e as Error).stack}`);
  }
}

/** Case ids in index order whose plan passes the filters: filters skip ids, never renumber them. */
export function selectCases(o: Pick<FuzzOptions, "cases" | "seed" | "kinds" | "entries" | "smallOnly">): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < o.cases && i < o.cases * 200; i++) {
    const p = planCase(o.seed, i);
    if (o.kinds.includes(p.kind) && o.entries.includes(p.entry) && !(o.smallOnly && p.seed.large)) ids.push(caseId(o.seed, i));
  }
  return ids;
}

function treeState(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain"], { cwd: ROOT, encoding: "utf8" }).split("\n").filter(Boolean).length;
    return `tree ${head}${dirty > 0 ? ` + ${dirty} changed files` : ""}`;
  } catch {
    return "tree unknown";
  }
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzRun> {
  const t0 = performance.now();
  const tmp = tempRoot();
  try {
    const tree = treeState();
    const treeRoot = snapshotTree(join(tmp.dir, "tree"));
    const main = await loadMain(treeRoot);
    const seedsDir = join(tmp.dir, "seeds");
    log(o.quiet, `building seeds in ${seedsDir} (code: a snapshot of the working tree, ${tree})`);
    const built = await buildSeeds(seedsDir, (argv) => captureMain(main, argv), { large: !o.smallOnly, treeRoot });
    for (const [name, why] of built) if (why !== undefined && !why.startsWith("not built (small")) log(o.quiet, `seed ${name} not built: ${why}`);

    const pool = new Pool({
      jobs: o.jobs, seedsDir, workRoot: join(tmp.dir, "work"), treeRoot, rssCapBytes: o.rssCapMb * 2 ** 20, maxOldSpaceMb: o.maxOldSpaceMb, recycleAfter: 500,
      timeoutMs: (id) => (id.startsWith("oracle:") ? Math.max(60_000, o.largeTimeoutMs) : planCase(parseCaseId(id).seed, parseCaseId(id).index).seed.large ? o.largeTimeoutMs : o.timeoutMs),
    });
    try {
      // Oracles: every entry point on every unmutated seed, once.
      const oracleIds = SEEDS.filter((s) => built.get(s.name) === undefined).flatMap((s) => s.entries.map((e) => `oracle:${s.name}:${e}`));
      const oracles = new Map<string, OracleRecord>();
      const asOracle = (r: PoolResult): OracleRecord =>
        r.rc === 0 && r.result !== undefined ? { ok: true, digest: r.result.digest, summary: r.result.summary, ms: r.ms }
          : { ok: false, error: (r.thrown ?? r.workerLog ?? r.stderr ?? `exit ${r.rc}`).trim().split("\n").slice(0, 3).join(" | ").slice(0, 400) || `exit ${r.rc}`, ms: r.ms };
      await pool.run(oracleIds, (r) => oracles.set(oracleKey(r.seed, r.entry), asOracle(r)));
      for (const [k, v] of oracles) if (!v.ok) log(o.quiet, `oracle ${k} fails: ${v.error}`);

      const ids = selectCases(o);
      log(o.quiet, `${ids.length} cases on ${o.jobs} workers (seed ${o.seed})`);
      const results: Classified[] = [];
      const counts: Record<string, number> = {};
      let last = performance.now();
      const tc = performance.now();
      await pool.run(ids, (r) => {
        const c = classify(r, oracles);
        results.push(c);
        counts[c.outcome] = (counts[c.outcome] ?? 0) + 1;
        if (performance.now() - last > 10_000) {
          last = performance.now();
          const rate = results.length / ((last - tc) / 1e3);
          log(o.quiet, `${results.length}/${ids.length} (${rate.toFixed(0)}/s) ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(", ")}`);
        }
      });

      // Control: the oracles again, on workers that have run thousands of cases: any drift means state leaks.
      const drift: string[] = [];
      await pool.run(oracleIds, (r) => {
        const before = oracles.get(oracleKey(r.seed, r.entry));
        const now = asOracle(r);
        if (before?.ok !== now.ok || before?.digest !== now.digest) drift.push(`${r.seed}:${r.entry}: ${before?.summary?.slice(0, 120) ?? before?.error} → ${now.summary?.slice(0, 120) ?? now.error}`);
      });
      log(o.quiet, `workers started: ${pool.workersStarted}`);

      const summary = summarize(results, SEEDS.map((s) => s.name));
      const seeds = Object.fromEntries(SEEDS.map((s) => [s.name, {
        built: built.get(s.name) ?? "yes",
        oracle: Object.fromEntries(s.entries.map((e) => {
          const r = oracles.get(oracleKey(s.name, e));
          return [e, r === undefined ? "not run" : r.ok ? `ok (${Math.round(r.ms)} ms)` : `fails: ${r.error}`];
        })),
      }]));
      if (o.out !== undefined) {
        const run = {
          command: o.command, seed: o.seed, cases: results.length, jobs: o.jobs, node: process.version, tree: `${tree} (snapshot taken at the start)`,
          started: new Date(Date.now() - (performance.now() - t0)).toISOString(), duration_s: Math.round((performance.now() - t0) / 100) / 10,
          kinds: o.kinds, entries: o.entries, small_only: o.smallOnly, timeout_ms: o.timeoutMs, large_timeout_ms: o.largeTimeoutMs, rss_cap_mb: o.rssCapMb,
          seeds, oracle_drift: drift,
        };
        mkdirSync(dirname(o.out), { recursive: true });
        writeResults(o.out, o.out.replace(/\.json$/, "") + ".md", run, summary);
        log(o.quiet, `wrote ${o.out} and ${o.out.replace(/\.json$/, "")}.md`);
      }
      return { summary, cases: results, seeds, oracleDrift: drift };
    } finally {
      pool.close();
    }
  } finally {
    tmp.remove();
  }
}

/** Re-runs one case in this process and prints all of it: what was mutated, argv, stdout, stderr, stack. */
async function replay(id: string, keep: boolean): Promise<number> {
  const tmp = tempRoot();
  const main = await loadMain();
  const { seed, index } = parseCaseId(id);
  const plan = planCase(seed, index);
  const seedsDir = join(tmp.dir, "seeds");
  await buildSeeds(seedsDir, (argv) => captureMain(main, argv), { large: plan.seed.large });
  const oracleRun = await runJob(main, `oracle:${plan.seed.name}:${plan.entry}`, seedsDir, join(tmp.dir, "oracle"));
  const oracle: OracleRecord = oracleRun.rc === 0 && oracleRun.result ? { ok: true, digest: oracleRun.result.digest, summary: oracleRun.result.summary, ms: oracleRun.ms } : { ok: false, error: oracleRun.stderr, ms: 0 };
  const caseDir = join(tmp.dir, "case");
  const print = (s: string) => process.stdout.write(`${s}\n`);
  print(`case ${id}: kind ${plan.kind}, seed ${plan.seed.name}, entry ${plan.entry}`);
  const r = await runJob(main, id, seedsDir, caseDir, async (info) => {
    for (const m of info.mutations) print(`  mutation [${m.validity}] ${m.label}`);
    print(`argv: lowbit ${entryArgv(plan.entry, seedSpec(plan.seed.name), seedsDir).join(" ")}   (cwd: ${caseDir})`);
    print("running (in this process: if the case hung in the fuzz run, it hangs here too; Ctrl-C ends it)");
  });
  const c = classify(r, new Map([[oracleKey(plan.seed.name, plan.entry), oracle]]));
  print(`exit ${r.rc} in ${r.ms.toFixed(0)} ms → ${c.outcome}`);
  if (r.harnessError) print(`harness error:\n${r.harnessError}`);
  if (r.thrown) print(`exception escaping main():\n${r.thrown}`);
  if (r.stderr) print(`stderr:\n${r.stderr}`);
  if (r.result) print(`result: ${r.result.summary.slice(0, 4000)}`);
  if (c.outcome === "ran-invalid" || c.outcome === "ran-legit") print(`compared with the seed: ${c.message}`);
  if (keep) {
    const kept = mkdtempSync(join(tmpdir(), `lowbit-fuzz-case-${id}-`));
    execFileSync("cp", ["-r", caseDir, kept]);
    print(`case directory kept: ${join(kept, "case")}`);
  }
  tmp.remove();
  return FAILING.includes(c.outcome as never) ? 1 : 0;
}

function list<T extends string>(value: string, allowed: readonly T[], what: string): T[] {
  const items = value.split(",").map((s) => s.trim()).filter(Boolean);
  for (const i of items) if (!allowed.includes(i as T)) throw new Error(`unknown ${what} ${JSON.stringify(i)}: expected ${allowed.join(", ")}`);
  return items as T[];
}

async function cli(argv: string[]): Promise<number> {
  const program = new Command("fuzz")
    .description("seeded fuzzing of every lowbit loader and entry point")
    .option("--cases <n>", "cases to run", "300")
    .option("--seed <s>", "the run's seed: case ids are <seed>-<index>", "1")
    .option("--jobs <n>", "worker processes", "2")
    .option("--kinds <list>", "input kinds", KINDS.join(","))
    .option("--entry <list>", "entry points", ENTRIES.join(","))
    .option("--small-only", "leave out the shipped 5-35 MB models")
    .option("--timeout-ms <ms>", "per-case timeout (small seeds)", "5000")
    .option("--large-timeout-ms <ms>", "per-case timeout (the shipped models)", "60000")
    .option("--rss-cap-mb <mb>", "kill a worker whose RSS passes this (oom)", "3072")
    .option("--max-old-space-mb <mb>", "V8 heap limit of the workers", "2048")
    .option("--out <file>", "summary JSON (Markdown beside it)", "bench/results/fuzz.json")
    .option("--replay <id>", "re-run one case in-process and print everything")
    .option("--keep", "with --replay: keep the case directory");
  program.parse(argv);
  const o = program.opts();
  if (o.replay !== undefined) return replay(o.replay, Boolean(o.keep));
  const run = await runFuzz({
    cases: Number(o.cases), seed: Number(o.seed), jobs: Number(o.jobs), kinds: list(o.kinds, KINDS, "kind"), entries: list(o.entry, ENTRIES, "entry point"),
    smallOnly: Boolean(o.smallOnly), timeoutMs: Number(o.timeoutMs), largeTimeoutMs: Number(o.largeTimeoutMs), rssCapMb: Number(o.rssCapMb),
    maxOldSpaceMb: Number(o.maxOldSpaceMb), out: resolve(o.out), command: `npx tsx scripts/fuzz.ts ${argv.slice(2).join(" ")}`.trim(),
  });
  const t = run.summary.totals;
  process.stdout.write(`${t.cases} cases: ${Object.entries(t).filter(([k, v]) => k !== "cases" && v > 0).map(([k, v]) => `${k} ${v}`).join(", ")}\n`);
  for (const c of run.summary.classes.filter((x) => FAILING.includes(x.outcome as never))) {
    process.stdout.write(`  ${c.outcome.padEnd(11)} ${String(c.count).padStart(5)}  ${c.signature.slice(0, 150)}  e.g. ${c.example.id}\n`);
  }
  if (run.oracleDrift.length > 0) process.stdout.write(`oracle drift (state leaking between cases?):\n  ${run.oracleDrift.join("\n  ")}\n`);
  return Object.values(failures(run.summary)).some((n) => n > 0) ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  cli(process.argv).then((code) => process.exit(code), (err) => {
    process.stderr.write(`fuzz: ${(err as Error).stack ?? err}\n`);
    process.exit(2);
  });
}
