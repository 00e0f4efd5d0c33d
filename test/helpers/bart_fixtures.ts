// The tiny BART checkpoints under test/fixtures/bart/ and what transformers 5.17 computed on them
// (scripts/make_fixtures.py): encoder states, teacher-forced logits, and generate() runs.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildFolderExport } from "../../src/export/hf_folder.js";
import type { FolderFiles } from "../../src/runtime/index.js";
import { FIXTURES } from "./fixtures.js";

export const BART_FIXTURES = ["bart-f32", "bart-f16", "bart-bf16"] as const;
export type BartFixture = (typeof BART_FIXTURES)[number];

export interface BartGenerateRun {
  /** generate() keyword arguments layered over the fixture's generation_config.json (null = None). */
  settings: Record<string, unknown>;
  /** The output, decoder_start_token_id first. */
  sequences: number[];
  sequences_scores?: number;
}

export interface BartExpected {
  input_ids: number[];
  decoder_input_ids: number[];
  encoder_hidden_states: number[][]; // (S, d)
  logits: number[][]; // (T, V), teacher-forced on decoder_input_ids
  generation_defaults: Record<string, unknown>;
  generate: BartGenerateRun[];
}

export function bartFixtureDir(name: BartFixture): string {
  return join(FIXTURES, "bart", name);
}

export function bartExpected(name: BartFixture): BartExpected {
  return JSON.parse(readFileSync(join(bartFixtureDir(name), "expected.json"), "utf8")) as BartExpected;
}

/** Largest |a − b| over two equally long lists of rows. */
export function maxAbsDiff(got: ArrayLike<number>[], want: number[][]): number {
  let worst = 0;
  for (let r = 0; r < want.length; r++) for (let i = 0; i < want[r].length; i++) worst = Math.max(worst, Math.abs(got[r][i] - want[r][i]));
  return worst;
}

/** A folder export in memory, as loadModel() takes a folder's files. */
export function folderFiles(ckpt: Parameters<typeof buildFolderExport>[0], activationBits: 8 | 32 = 32): FolderFiles {
  const files: Record<string, Uint8Array> = {};
  for (const f of buildFolderExport(ckpt, { format: "dq", activationBits, source: "test" }).files) {
    files[f.path] = typeof f.data === "string" ? new TextEncoder().encode(f.data) : f.data;
  }
  return { files };
}
