// One fuzz case, start to end: make the mutated input in a private directory, run the `lowbit` CLI's
// main() on it in this process with stdout/stderr captured, and reduce what it did to a comparable result.
// Used in-process by `scripts/fuzz.ts --replay` and the seed builder, and as the body of the long-lived
// worker processes (`node --import tsx scripts/fuzz/worker.ts`, driven over IPC by pool.ts), which run
// thousands of cases each so that no case pays for Node's start-up. Not in here: timeouts and memory caps
// (the parent enforces them by killing the worker) and judging results (report.ts).

import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { mutateCheckpoint } from "./checkpoint_mutators.js";
import { mutateFolder } from "./folder_mutators.js";
import { combineValidity, parseCaseId, supersede, type Entry, type Kind, type Mutation, type Validity } from "./common.js";
import { mutateOnnxBytes, mutateOnnxStructure } from "./onnx_mutators.js";
import { ROOT, entryArgv, planCase, seedPath, seedSpec, type MainFn } from "./seeds.js";

// ─── running main() in-process ──────────────────────────────────────────────────────────────────

export interface Captured {
  rc: number;
  stdout: string;
  stderr: string;
  /** An exception that escaped main() itself (main() is meant to catch everything). */
  thrown?: string;
}

/** Runs main() with process.stdout/stderr writes collected instead of printed (console.* included). */
export async function captureMain(main: MainFn, argv: string[]): Promise<Captured> {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (into: string[]) => ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    into.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
    cb?.();
    return true;
  }) as typeof process.stdout.write;
  const [w1, w2] = [process.stdout.write, process.stderr.write];
  process.stdout.write = sink(out);
  process.stderr.write = sink(err);
  try {
    const rc = await main(["node", "lowbit", ...argv]);
    return { rc, stdout: out.join(""), stderr: err.join("") };
  } catch (e) {
    return { rc: -1, stdout: out.join(""), stderr: err.join(""), thrown: (e as Error)?.stack ?? String(e) };
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
  }
}

/** main() of `<treeRoot>/src/cli.ts`: the live tree by default, or a snapshot of it (snapshotTree). */
export async function importMain(treeRoot = ROOT): Promise<MainFn> {
  const mod = (await import(pathToFileURL(join(treeRoot, "src", "cli.ts")).href)) as { main: MainFn };
  return mod.main;
}

/**
 * Copies what the CLI runs from (src/, the built kernels in build/, package.json, tsconfig.json; node_modules
 * linked) to `dest`, so that a whole run tests one state of a working tree that others keep editing: a
 * worker replaced mid-run loads the same code as the first.
 */
export function snapshotTree(dest: string): string {
  mkdirSync(dest, { recursive: true });
  for (const part of ["src", "build", "package.json", "tsconfig.json"]) {
    if (existsSync(join(ROOT, part))) cpSync(join(ROOT, part), join(dest, part), { recursive: true });
  }
  symlinkSync(join(ROOT, "node_modules"), join(dest, "node_modules"), "dir");
  return dest;
}

// ─── a case ─────────────────────────────────────────────────────────────────────────────────────

export interface Job {
  /** A case id "<seed>-<index>", or an oracle run of an unmutated seed: "oracle:<seed name>:<entry>". */
  id: string;
}

export interface JobResult {
  id: string;
  kind?: Kind;
  seed: string;
  entry: Entry;
  mutations: Mutation[];
  validity: Validity;
  rc: number;
  stderr: string;
  thrown?: string;
  /** For a run that exited 0: what it produced (stdout for inspect; file hashes; ids + text; perplexity). */
  result?: { digest: string; summary: string };
  ms: number;
  /** The case's inputs could not be made (a harness bug, reported apart from the loaders'). */
  harnessError?: string;
}

export function parseJob(id: string): { oracle: true; seed: string; entry: Entry } | { oracle: false; seed: number; index: number } {
  if (id.startsWith("oracle:")) {
    const [, seed, entry] = id.split(":");
    return { oracle: true, seed, entry: entry as Entry };
  }
  return { oracle: false, ...parseCaseId(id) };
}

const onnxCache = new Map<string, Uint8Array>();
function seedBytes(seedsDir: string, name: string): Uint8Array {
  let b = onnxCache.get(name);
  if (b === undefined) {
    b = new Uint8Array(readFileSync(seedPath(seedsDir, seedSpec(name))));
    onnxCache.set(name, b);
  }
  return b;
}

/**
 * Makes a case's input under `caseDir` (emptied first): `input.onnx` or the directory `input/`, with the
 * mutations the case id draws. Returns what was done, and the entry point's argv.
 */
export function prepareCase(id: string, seedsDir: string, caseDir: string) {
  rmSync(caseDir, { recursive: true, force: true });
  mkdirSync(caseDir, { recursive: true });
  const job = parseJob(id);
  const s = job.oracle ? seedSpec(job.seed) : planCase(job.seed, job.index).seed;
  const plan = job.oracle ? undefined : planCase(job.seed, job.index);
  const entry = job.oracle ? job.entry : plan!.entry;
  let mutations: Mutation[] = [];
  if (s.type === "onnx") {
    let bytes = seedBytes(seedsDir, s.name);
    if (plan !== undefined) {
      const r = plan.kind === "onnx-bytes" ? mutateOnnxBytes(bytes, plan.rng, plan.count) : mutateOnnxStructure(bytes, plan.rng, plan.count);
      bytes = r.bytes;
      mutations = r.mutations;
    }
    writeFileSync(join(caseDir, "input.onnx"), bytes);
  } else if (s.type === "folder") {
    cpSync(seedPath(seedsDir, s), join(caseDir, "input"), { recursive: true });
    if (plan !== undefined) mutations = mutateFolder(join(caseDir, "input"), plan.kind, plan.rng, plan.count, { seedsDir, seed: s });
  } else {
    cpSync(seedPath(seedsDir, s), join(caseDir, "input"), { recursive: true });
    if (plan !== undefined) mutations = mutateCheckpoint(join(caseDir, "input"), plan.kind, plan.rng, plan.count);
  }
  mutations = supersede(mutations);
  const info = { id, kind: plan?.kind, seed: s.name, entry, mutations, validity: combineValidity(mutations.map((m) => m.validity)) };
  return { ...info, argv: entryArgv(entry, s, seedsDir) };
}

function sha(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex").slice(0, 16);
}

/** Every file under a directory, by relative path in sorted order, hashed with its name. */
function treeDigest(dir: string): { digest: string; files: string[] } {
  const h = createHash("sha256");
  const files: string[] = [];
  const visit = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel === "" ? name : `${rel}/${name}`;
      if (statSync(join(dir, r)).isDirectory()) visit(r);
      else {
        files.push(r);
        h.update(r).update("\0").update(readFileSync(join(dir, r)));
      }
    }
  };
  visit("");
  return { digest: h.digest("hex").slice(0, 16), files };
}

/** What a successful run produced, without timings: the thing compared with the unmutated seed's. */
export function resultOf(entry: Entry, stdout: string, caseDir: string): { digest: string; summary: string } {
  const json = (keys: string[]) => {
    try {
      const o = JSON.parse(stdout.trim().split("\n").pop() ?? "") as Record<string, unknown>;
      const kept = Object.fromEntries(keys.map((k) => [k, o[k]]));
      return JSON.stringify(kept);
    } catch {
      return `unparseable stdout: ${stdout.slice(0, 200)}`;
    }
  };
  switch (entry) {
    case "inspect": {
      // The file's own size (first line) is left out: an edit that changes nothing else is "unaffected".
      const [first, ...rest] = stdout.split("\n");
      return { digest: sha([first.replace(/[\d,]+ bytes/, "<size> bytes"), ...rest].join("\n")), summary: stdout.slice(0, 64_000) };
    }
    case "generate": { const s = json(["ids", "text", "prompt_tokens", "stop_reason"]); return { digest: sha(s), summary: s }; }
    case "summarize": { const s = json(["ids", "text", "input_tokens", "num_beams", "stop_reason"]); return { digest: sha(s), summary: s }; }
    case "perplexity": { const s = json(["perplexity", "nll", "scored_tokens", "windows", "context", "stride"]); return { digest: sha(s), summary: s }; }
    case "export": {
      const f = join(caseDir, "out.onnx");
      const folder = join(caseDir, "out-folder");
      if (!existsSync(f) && existsSync(folder) && statSync(folder).isDirectory()) {
        const t = treeDigest(folder);
        return { digest: t.digest, summary: `out-folder/: ${t.files.join(", ")}; sha256 ${t.digest}` };
      }
      if (!existsSync(f)) return { digest: "no output", summary: "out.onnx was not written" };
      const b = readFileSync(f);
      return { digest: sha(b), summary: `out.onnx: ${b.length} bytes, sha256 ${sha(b)}` };
    }
    case "quantize": {
      const d = join(caseDir, "out");
      if (!existsSync(d) || !statSync(d).isDirectory()) return { digest: "no output", summary: "out/ was not written" };
      const h = createHash("sha256");
      const files = readdirSync(d).sort();
      for (const f of files) h.update(f).update("\0").update(readFileSync(join(d, f)));
      const digest = h.digest("hex").slice(0, 16);
      return { digest, summary: `out/: ${files.join(", ")}; sha256 ${digest}` };
    }
  }
}

/** Prepares and runs one job with `caseDir` as cwd. */
export type StartedInfo = Omit<JobResult, "rc" | "stderr" | "ms">;

export async function runJob(main: MainFn, id: string, seedsDir: string, caseDir: string, onStarted?: (r: StartedInfo) => Promise<void>): Promise<JobResult> {
  const t0 = performance.now();
  let prepared: ReturnType<typeof prepareCase>;
  try {
    prepared = prepareCase(id, seedsDir, caseDir);
  } catch (e) {
    const job = parseJob(id);
    const plan = job.oracle ? undefined : planCase(job.seed, job.index);
    return {
      id, kind: plan?.kind, seed: job.oracle ? job.seed : plan!.seed.name, entry: job.oracle ? job.entry : plan!.entry, mutations: [], validity: "unknown",
      rc: -1, stderr: "", ms: performance.now() - t0, harnessError: (e as Error).stack ?? String(e),
    };
  }
  const { argv, ...info } = prepared;
  await onStarted?.(info);
  const cwd = process.cwd();
  process.chdir(caseDir);
  let c: Captured;
  try {
    c = await captureMain(main, argv);
  } finally {
    process.chdir(cwd);
  }
  const result = c.rc === 0 ? resultOf(info.entry, c.stdout, caseDir) : undefined;
  return { ...info, rc: c.rc, stderr: c.stderr.slice(0, 8000), thrown: c.thrown, result, ms: performance.now() - t0 };
}

// ─── the worker process ─────────────────────────────────────────────────────────────────────────

interface WorkerConfig {
  seedsDir: string;
  workDir: string;
  treeRoot: string;
}

async function workerLoop(): Promise<void> {
  const cfg = JSON.parse(process.env.LOWBIT_FUZZ_WORKER ?? "{}") as WorkerConfig;
  const send = (msg: unknown) => new Promise<void>((resolve) => process.send!(msg, () => resolve()));
  let current: string | undefined;
  const fatal = (what: string) => (e: unknown) => {
    process.send!({ type: "fatal", id: current, error: `${what}: ${(e as Error)?.stack ?? String(e)}` }, () => process.exit(71));
  };
  process.on("uncaughtException", fatal("uncaught exception"));
  process.on("unhandledRejection", fatal("unhandled rejection"));
  let main: MainFn;
  try {
    main = await importMain(cfg.treeRoot);
  } catch (e) {
    await send({ type: "init-failed", error: (e as Error)?.stack ?? String(e) });
    process.exit(1);
  }
  mkdirSync(cfg.workDir, { recursive: true });
  process.chdir(cfg.workDir);
  const caseDir = join(cfg.workDir, "case");
  let queue = Promise.resolve();
  process.on("message", (msg: { type: string; id: string }) => {
    if (msg.type !== "job") return;
    queue = queue.then(async () => {
      current = msg.id;
      // The parent hears what the case is before main() runs: a case that hangs or dies is still described.
      const r = await runJob(main, msg.id, cfg.seedsDir, caseDir, (info) => send({ type: "started", info }));
      current = undefined;
      await send({ type: "done", result: r });
    });
  });
  process.on("disconnect", () => process.exit(0));
  await send({ type: "ready" });
}

if (process.send !== undefined && process.env.LOWBIT_FUZZ_WORKER !== undefined) await workerLoop();
