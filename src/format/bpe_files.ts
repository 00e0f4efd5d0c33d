// The byte-level BPE tokenizer files (GPT-2's vocab.json + merges.txt), as checkpoints hold them and the
// lowbit ONNX file embeds them: their validator, shared by the exporter (before it embeds them) and the
// runtime's tokenizer (src/runtime/tokenizer.ts, before it builds its tables).
//
// Beyond syntax, the files must be one consistent BPE: every merge's two parts and its result are vocab
// entries, and every multi-symbol entry except the special tokens is the result of some merge. (A byte
// symbol may be missing: HF's BPE drops such bytes without an unk token, and so does our tokenizer.) The last rule is what catches a merges.txt cut short at a line boundary, which
// would otherwise load as a smaller, silently different tokenizer.

import { LowbitError } from "../errors.js";

/** Ids are below this (2^24): far above any real vocabulary, and small enough to index arrays by. */
export const MAX_TOKEN_ID = 2 ** 24 - 1;

/** Vocab entries that HF's GPT-2 tokenizer treats as special (added) tokens: <|...|>. */
export const SPECIAL_TOKEN = /^<\|.*\|>$/s;

/** Printable bytes spell themselves; the other 68 are shifted to U+0100.. so no token has a control char. */
function bytesToUnicode(): string[] {
  const chars: string[] = new Array(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCharCode(printable ? b : 256 + shifted++);
  }
  return chars;
}

/** The vocab's spelling of each byte (OpenAI encoder.py's bytes_to_unicode). */
export const BYTE_CHARS: readonly string[] = bytesToUnicode();

export interface BpeFiles {
  vocab: Map<string, number>;
  /** (merges, 3) ids of each merge's left part, right part and result, in rank order. */
  mergeIds: Int32Array;
  /** One past the largest id. */
  vocabSize: number;
}

/** Parses and checks vocab.json and merges.txt; `where` names them in errors (a directory or a model file). */
export function parseBpeFiles(vocabJson: string, mergesTxt: string, where: { vocab: string; merges: string }): BpeFiles {
  let parsed: unknown;
  try {
    parsed = JSON.parse(vocabJson);
  } catch (e) {
    throw new LowbitError(`not valid JSON: ${(e as Error).message}`, { file: where.vocab });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new LowbitError("not a vocabulary", { file: where.vocab, expected: "an object {token: id}", found: Array.isArray(parsed) ? "an array" : parsed === null ? "null" : typeof parsed });
  }
  const vocab = new Map<string, number>();
  const tokenOfId: string[] = []; // (vocabSize) to catch an id given twice
  let vocabSize = 0;
  const entries = parsed as Record<string, unknown>;
  for (const token of Object.keys(entries)) {
    const id = entries[token];
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > MAX_TOKEN_ID) {
      throw new LowbitError(`token ${JSON.stringify(token)} has a bad id`, { file: where.vocab, expected: `an integer in 0..${MAX_TOKEN_ID}`, found: JSON.stringify(id) });
    }
    const other = tokenOfId[id];
    if (other !== undefined) {
      throw new LowbitError(`id ${id} is given to two tokens`, { file: where.vocab, expected: "one token per id", found: `${JSON.stringify(other)} and ${JSON.stringify(token)}` });
    }
    tokenOfId[id] = token;
    vocab.set(token, id);
    vocabSize = Math.max(vocabSize, id + 1);
  }
  if (vocab.size === 0) throw new LowbitError("empty vocabulary", { file: where.vocab });
  const ids: number[] = []; // (merges, 3) left, right, result
  const reached = new Uint8Array(vocabSize); // (vocabSize) 1 where some merge produces the id
  // Split by hand: a regex split and a split(" ") per line cost more than the rest of the validation.
  let start = 0;
  for (let line = 1; start <= mergesTxt.length; line++) {
    let end = mergesTxt.indexOf("\n", start);
    if (end < 0) end = mergesTxt.length;
    const text = mergesTxt.charCodeAt(end - 1) === 13 ? mergesTxt.slice(start, end - 1) : mergesTxt.slice(start, end);
    start = end + 1;
    if (text === "" || (line === 1 && text.startsWith("#version"))) continue;
    const space = text.indexOf(" ");
    if (space <= 0 || space === text.length - 1 || text.indexOf(" ", space + 1) >= 0) {
      throw new LowbitError(`line ${line} is not a merge`, { file: where.merges, expected: "two tokens separated by one space", found: JSON.stringify(text.slice(0, 80)) });
    }
    const a = text.slice(0, space);
    const b = text.slice(space + 1);
    const left = vocab.get(a);
    const right = vocab.get(b);
    const merged = vocab.get(a + b);
    // HF refuses such a file too ("Merge token `...` out of vocabulary").
    if (left === undefined || right === undefined || merged === undefined) {
      const missing = left === undefined ? a : right === undefined ? b : a + b;
      throw new LowbitError(`merge ${ids.length / 3 + 1} "${a} ${b}" uses a token that the vocabulary lacks`, {
        file: where.merges, expected: "every merge's two parts and their concatenation in vocab.json",
        found: `no entry for ${JSON.stringify(missing)}`, hint: "vocab.json and merges.txt must come from the same tokenizer",
      });
    }
    ids.push(left, right, merged);
    reached[merged] = 1;
  }
  for (let id = 0; id < vocabSize; id++) {
    const token = tokenOfId[id];
    if (token !== undefined && token.length > 1 && reached[id] === 0 && !SPECIAL_TOKEN.test(token)) {
      throw new LowbitError("vocabulary entry that no merge produces (merges.txt cut short?)", {
        file: where.merges, expected: `a merge that makes ${JSON.stringify(token)}`, found: `${ids.length / 3} merges without one`,
        hint: "vocab.json and merges.txt must come from the same tokenizer",
      });
    }
  }
  return { vocab, mergeIds: Int32Array.from(ids), vocabSize };

}
