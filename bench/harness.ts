// What the generation benchmarks share: medians, and running one engine × file in a fresh child process
// (the benchmark file re-invoked with --child), whose last stdout line is its JSON result.

import { execFileSync } from "node:child_process";

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
