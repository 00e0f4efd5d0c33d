// Paths and loaders for the committed oracle fixtures (scripts/make_fixtures.py) and temp directories.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const FIXTURES = join(ROOT, "test", "fixtures");
export const GPT2_FIXTURES = ["tiny-f32", "tiny-f16", "tiny-bf16"] as const;

export interface Gpt2Expected {
  prompt_ids: number[];
  logits: number[][]; // (T, V) from transformers
  greedy_ids: number[]; // 32 greedy tokens from transformers
}

export function fixtureDir(name: string): string {
  return join(FIXTURES, "gpt2", name);
}

export function expected(name: string): Gpt2Expected {
  return JSON.parse(readFileSync(join(fixtureDir(name), "expected.json"), "utf8")) as Gpt2Expected;
}

// ---------------------------------------------------------------------------------------------------------
// Temp directories
//
// Every folder tempDir() makes is removed when the process exits: `node --test` runs each test file in a
// process of its own, so a file's folders outlive its tests (before/after hooks, helpers that spawn the
// CLI) but not the file. Without this one `npm test` left 44 folders, 581 MB, in /tmp. A test that writes
// big files can free them sooner with removeTempDir(). LOWBIT_KEEP_TEMP=1 keeps them, to look at a failure.

const madeDirs = new Set<string>();

export function tempDir(prefix = "lowbit-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (madeDirs.size === 0) watchExit();
  madeDirs.add(dir);
  return dir;
}

/** Removes a tempDir() folder now rather than at exit. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  madeDirs.delete(dir);
}

function removeTempDirs(): void {
  if (process.env.LOWBIT_KEEP_TEMP === "1") return;
  for (const dir of madeDirs) removeTempDir(dir);
}

/** 'exit' covers normal ends, process.exit() and uncaught errors; Ctrl-C and kill need their signals
 * caught, then re-raised with Node's handler gone so the process still dies of the signal. */
function watchExit(): void {
  process.once("exit", removeTempDirs);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      removeTempDirs();
      process.kill(process.pid, signal);
    });
  }
}
