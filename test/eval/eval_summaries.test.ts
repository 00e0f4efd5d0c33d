// scripts/eval_summaries.ts's parts: the task's separator-terminated id files and the mapping of
// transformers' generate() settings to the runtime's options (the end-to-end run is in docs/RESULTS.md).

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { readExamples, runtimeOptions } from "../../scripts/eval_summaries.js";
import { tempDir } from "../helpers/fixtures.js";

it("reads one id list per example and refuses a truncated or odd-sized file", () => {
  const dir = tempDir();
  const path = join(dir, "x.source.bin");
  writeFileSync(path, Buffer.from(Uint16Array.from([10, 11, 2, 50259, 2]).buffer));
  assert.deepEqual(readExamples(path), [[10, 11], [50259]]);
  writeFileSync(path, Buffer.from(Uint16Array.from([10, 11]).buffer));
  assert.throws(() => readExamples(path), /does not end with the separator 2/);
  writeFileSync(path, Buffer.from([1, 2, 3]));
  assert.throws(() => readExamples(path), /not whole uint16 values/);
});

it("maps generate()'s keys to the runtime's options and leaves out the unset ones", () => {
  assert.deepEqual(runtimeOptions({ num_beams: 4, length_penalty: 2, no_repeat_ngram_size: 3, min_length: 15, max_length: 48, early_stopping: true,
    forced_bos_token_id: 0, forced_eos_token_id: 2, decoder_start_token_id: 2, eos_token_id: 2, pad_token_id: 1, bos_token_id: 0 }), {
    numBeams: 4, lengthPenalty: 2, noRepeatNgramSize: 3, minLength: 15, maxLength: 48, earlyStopping: true, decoderStartTokenId: 2,
    eosTokenId: 2, padTokenId: 1, forcedBosTokenId: 0, forcedEosTokenId: 2,
  });
  assert.deepEqual(runtimeOptions({ num_beams: 1 }), { numBeams: 1 });
});
