// What the generation benchmarks share: medians, running one engine × file in a fresh child process (the
// benchmark file re-invoked with --child, whose last stdout line is its JSON result) and the child's side of
// that, the --models selection, the machine description, this process's CPU time (for the CPU shares of
// bench/generate.ts and bench/kernels.ts) and number formatting for the tables.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Runs `script` (a benchmark's own file) in a new Node with `args`; stderr passes through. */
export function runChild<T>(script: string, args: string[]): T {
  const stdout = execFileSync(process.execPath, ["--import", "tsx", script, ...args], { encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(stdout.trim().split("\n").pop()!) as T;
}

/** The child's side of runChild: runs the handler `--child` names and prints its result as one JSON line. */
export async function childMain(child: string, handlers: Record<string, () => Promise<unknown>>): Promise<void> {
  const handler = Object.hasOwn(handlers, child) ? handlers[child] : undefined;
  if (handler === undefined) throw new Error(`--child: expected ${Object.keys(handlers).join(" | ")}, found ${child}`);
  console.log(JSON.stringify(await handler()));
}

/** The models `--models` (comma-separated keys) picks, all of them without it; none is an error. */
export function selectModels<T extends { key: string }>(all: T[], keys: string | undefined): T[] {
  const models = keys === undefined ? all : all.filter((m) => keys.split(",").includes(m.key));
  if (models.length === 0) throw new Error(`--models: expected some of ${all.map((m) => m.key).join(",")}, found ${keys}`);
  return models;
}

/** The machine, with the load average at the start of the run (`loadavgStart`) and now. */
export function machineInfo(loadavgStart: number[]) {
  return { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, memory_bytes: totalmem(), node: process.version, loadavg_start: loadavgStart, loadavg_end: loadavg() };
}

/** What every engine's child process reports beside its timings (bench/generate.ts, bench/bart.ts). */
export interface EngineRun {
  engine: "lowbit" | "ort-web" | "ort-node";
  threads: string;
  load_ms: number;
  peak_rss_bytes: number;
  versions: Record<string, string>;
  ort_web_wasm?: string;
}

/** CPU milliseconds this process has used (every thread: workers and native intra-op threads included); for CPU shares. */
export const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
};

export const fmt = (x: number | undefined, digits = 1): string => (x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(digits));

export const engineName = (engine: "lowbit" | "ort-web" | "ort-node"): string =>
  engine === "lowbit" ? "lowbit (WASM SIMD)" : engine === "ort-web" ? "onnxruntime-web (WASM)" : "onnxruntime-node (CPU)";

/**
 * This process's peak resident memory. Linux: VmHWM, the high-water mark of this executable's own memory.
 * Not getrusage's maxRSS, which a child started by fork + exec inherits from its parent (the parent holds the
 * whole checkpoint while it exports, so every child would report at least that).
 */
export function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (m !== null) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}
