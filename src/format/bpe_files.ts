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
  merges: [string, string][];
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
  const merges: [string, string][] = [];
  const produced = new Set<string>();
  const lines = mergesTxt.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === "" || (i === 0 && line.startsWith("#version"))) continue;
    const parts = line.split(" ");
    if (parts.length !== 2 || parts[0] === "" || parts[1] === "") {
      throw new LowbitError(`line ${i + 1} is not a merge`, { file: where.merges, expected: "two tokens separated by one space", found: JSON.stringify(line.slice(0, 80)) });
    }
    const [a, b] = parts;
    const missing = !vocab.has(a) ? a : !vocab.has(b) ? b : !vocab.has(a + b) ? a + b : undefined;
    // HF refuses such a file too ("Merge token `...` out of vocabulary").
    if (missing !== undefined) {
      throw new LowbitError(`merge ${merges.length + 1} "${a} ${b}" uses a token that the vocabulary lacks`, {
        file: where.merges, expected: "every merge's two parts and their concatenation in vocab.json",
        found: `no entry for ${JSON.stringify(missing)}`, hint: "vocab.json and merges.txt must come from the same tokenizer",
      });
    }
    merges.push([a, b]);
    produced.add(a + b);
  }
  for (const token of vocab.keys()) {
    if (token.length > 1 && !produced.has(token) && !SPECIAL_TOKEN.test(token)) {
      throw new LowbitError("vocabulary entry that no merge produces (merges.txt cut short?)", {
        file: where.merges, expected: `a merge that makes ${JSON.stringify(token)}`, found: `${merges.length} merges without one`,
        hint: "vocab.json and merges.txt must come from the same tokenizer",
      });
    }
  }
  return { vocab, merges, vocabSize };
}
