// Runs the real `lowbit` CLI in a child process, so tests see its exit code and exact stdout/stderr.

import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./fixtures.js";

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Node's arguments that run the CLI from source with `args`; `nodeArgs` go first (e.g. a preloaded `--import`). */
export function cliArgv(args: string[], nodeArgs: string[] = []): string[] {
  return [...nodeArgs, "--import", "tsx", join(ROOT, "src", "cli.ts"), ...args];
}

export function runCli(args: string[]): CliResult {
  const r = spawnSync(process.execPath, cliArgv(args), { cwd: ROOT, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
