// Paths and loaders for the committed oracle fixtures (scripts/make_fixtures.py) and temp directories.

import { mkdtempSync, readFileSync } from "node:fs";
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

export function tempDir(prefix = "lowbit-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
