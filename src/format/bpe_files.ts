// The byte-level BPE tokenizer files (vocab.json + merges.txt, as GPT-2 and BART ship them), as checkpoints
// hold them and the lowbit ONNX file embeds them: their validator, shared by the exporter (before it embeds
// them) and the runtime's tokenizer (src/runtime/tokenizer.ts, before it builds its tables).
//
// Beyond syntax, the files must be one consistent BPE: every merge's two parts and its result are vocab
// entries, and every multi-symbol entry except the special tokens is the result of some merge. (A byte
// symbol may be missing: HF's BPE drops such bytes without an unk token, and so does our tokenizer.) The
// last rule is what catches a merges.txt cut short at a line boundary, which would otherwise load as a
// smaller, silently different tokenizer.
//
// The files also decide which special tokens there are, since vocab.json has no flag for them. Two layouts:
//   - GPT-2's: every entry spelled <|...|> (only <|endoftext|> in GPT-2 itself) is special;
//   - BART's (RoBERTa's and fairseq's): vocab.json has <s>, <pad>, </s> and <unk> (ids 0..3 in BART) and
//     usually <mask> (the last id). Those five are special, as the added_tokens of BART's tokenizer.json
//     list them; nothing else is. BART's real vocab.json also keeps GPT-2's <|endoftext|> and fairseq's
//     filler entries madeupword0000..0002 (padding the dictionary to a multiple of 8): no merge makes them,
//     so they are exempt from the merge rule, but they are ordinary tokens, not special ones.

import { LowbitError } from "../errors.js";

/** Ids are below this (2^24): far above any real vocabulary, and small enough to index arrays by. */
export const MAX_TOKEN_ID = 2 ** 24 - 1;

/** Vocab entries that HF's GPT-2 tokenizer treats as special (added) tokens: <|...|>. */
export const SPECIAL_TOKEN = /^<\|.*\|>$/s;

/** BART's special tokens. The first four (all of them) make a vocab BART-style; <mask> is optional. */
export const BART_SPECIAL_TOKENS = { bos: "<s>", pad: "<pad>", eos: "</s>", unk: "<unk>", mask: "<mask>" } as const;

/** fairseq's Dictionary.pad_to_multiple_ fills with these: in BART's vocab.json, not reachable by merges. */
const FAIRSEQ_FILLER = /^madeupword\d{4}$/;

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

/**
 * Which layout of special tokens vocab.json follows (see the file header). It decides the tokenizer's
 * pipeline around the BPE: "bart" wraps ids as <s> ... </s> (RoBERTa's post-processor) and lets <mask>
 * absorb the whitespace before it; "gpt2" adds nothing.
 */
export type SpecialTokenLayout = "gpt2" | "bart";

export interface BpeFiles {
  vocab: Map<string, number>;
  /** (merges, 3) ids of each merge's left part, right part and result, in rank order. */
  mergeIds: Int32Array;
  /** One past the largest id. */
  vocabSize: number;
  layout: SpecialTokenLayout;
  /** The special tokens and their ids: what HF's tokenizer.json lists as special added tokens. */
  specialTokens: Map<string, number>;
  /**
   * transformers' bos/eos/pad/unk/mask token ids, undefined where the vocab lacks the token. GPT-2's
   * tokenizer names <|endoftext|> as bos, eos and unk alike and has no pad or mask; BART's are <s>, </s>,
   * <pad>, <unk>, <mask>. (unk is a name only: the BPE drops a byte it has no token for, in HF too.)
   */
  bosTokenId: number | undefined;
  eosTokenId: number | undefined;
  padTokenId: number | undefined;
  unkTokenId: number | undefined;
  maskTokenId: number | undefined;
  /**
   * Where the parser has them without building `vocab` (parseBpeFilesFast): a token's id, and each id's
   * token as the UTF-8 of its vocab.json spelling, bytes [start[id], end[id]) of `bytes` (start −1: no
   * token). The tokenizer builds its tables from these (src/runtime/tokenizer.ts), so that `vocab`, a
   * 50k-entry Map of strings, is made only for those who ask for it (the exporter, `inspect`).
   */
  idOf?: (token: string) => number | undefined;
  spellings?: { bytes: Uint8Array; start: Int32Array; end: Int32Array };
}

/**
 * Whether a model with `vocabSize` embedding rows can take every id of this tokenizer. One exception: BART
 * checkpoints fine-tuned for summarization (facebook/bart-large-cnn, bart-large-xsum, distilbart-cnn) have
 * vocab_size 50264 while their vocab.json ends with <mask> = 50264, one past the embedding (transformers
 * issues #3108, #4568: the mask row was dropped in fine-tuning). Such a tokenizer is accepted; an input that
 * contains <mask> is then refused by the runtime's id check, as transformers fails on it.
 */
export function tokenizerFitsModel(bpe: BpeFiles, vocabSize: number): boolean {
  return bpe.vocabSize <= vocabSize || (bpe.layout === "bart" && bpe.vocabSize === vocabSize + 1 && bpe.maskTokenId === vocabSize);
}

/**
 * Parses and checks vocab.json and merges.txt; `where` names them in errors (a directory or a model file).
 * `utf8`, where the caller has it, is the two texts' UTF-8 exactly (the bytes they were decoded from without
 * a replacement); otherwise they are encoded here.
 *
 * Two implementations that must agree: parseBpeFilesFast (bytes and hash tables; on GPT-2's files ~17 ms
 * against ~85 ms once V8 has compiled both, and ~55 against ~85 ms on first use, as a model load runs it)
 * takes the files that are well-formed, and parseBpeFilesReference (JSON.parse and Maps, the plain
 * definition) everything else, including every file that is refused, so that its errors are the only ones.
 * test/format/bpe_fast.test.ts checks that they agree.
 */
export function parseBpeFiles(vocabJson: string, mergesTxt: string, where: { vocab: string; merges: string }, utf8?: { vocab: Uint8Array; merges: Uint8Array }): BpeFiles {
  // The same files again (BART's decoder file after its encoder file, a model loaded twice): the same
  // result, since it is a function of the two texts. Only files that were accepted are kept, and one pair.
  if (lastParsed !== undefined && lastParsed.vocabJson === vocabJson && lastParsed.mergesTxt === mergesTxt) return lastParsed.files;
  const files = parseBpeFilesFast(vocabJson, mergesTxt, utf8) ?? parseBpeFilesReference(vocabJson, mergesTxt, where);
  lastParsed = { vocabJson, mergesTxt, files };
  return files;
}

let lastParsed: { vocabJson: string; mergesTxt: string; files: BpeFiles } | undefined;

/** The plain definition of parseBpeFiles: every check, with its error. */
export function parseBpeFilesReference(vocabJson: string, mergesTxt: string, where: { vocab: string; merges: string }): BpeFiles {
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
  const specials = specialTokensOf(vocab);
  for (let id = 0; id < vocabSize; id++) {
    const token = tokenOfId[id];
    if (token !== undefined && token.length > 1 && reached[id] === 0 && !specials.tokens.has(token) && !unreachableByDesign(token, specials.layout)) {
      throw new LowbitError("vocabulary entry that no merge produces (merges.txt cut short?)", {
        file: where.merges, expected: `a merge that makes ${JSON.stringify(token)}`, found: `${ids.length / 3} merges without one`,
        hint: "vocab.json and merges.txt must come from the same tokenizer",
      });
    }
  }
  return { vocab, mergeIds: Int32Array.from(ids), vocabSize, layout: specials.layout, specialTokens: specials.tokens, ...specials.ids };
}

/** The layout and special tokens of a vocab (see the file header). */
function specialTokensOf(vocab: Map<string, number>): {
  layout: SpecialTokenLayout; tokens: Map<string, number>;
  ids: Pick<BpeFiles, "bosTokenId" | "eosTokenId" | "padTokenId" | "unkTokenId" | "maskTokenId">;
} {
  const { bos, pad, eos, unk, mask } = BART_SPECIAL_TOKENS;
  if (vocab.has(bos) && vocab.has(pad) && vocab.has(eos) && vocab.has(unk)) {
    const tokens = new Map<string, number>();
    for (const token of [bos, pad, eos, unk, mask]) {
      const id = vocab.get(token);
      if (id !== undefined) tokens.set(token, id);
    }
    return {
      layout: "bart", tokens,
      ids: { bosTokenId: vocab.get(bos), eosTokenId: vocab.get(eos), padTokenId: vocab.get(pad), unkTokenId: vocab.get(unk), maskTokenId: vocab.get(mask) },
    };
  }
  const tokens = new Map<string, number>();
  for (const [token, id] of vocab) if (SPECIAL_TOKEN.test(token)) tokens.set(token, id);
  const endOfText = vocab.get("<|endoftext|>");
  return { layout: "gpt2", tokens, ids: { bosTokenId: endOfText, eosTokenId: endOfText, padTokenId: undefined, unkTokenId: endOfText, maskTokenId: undefined } };
}

/** Entries that a real vocab.json holds although no merge makes them, and that are not special tokens. */
function unreachableByDesign(token: string, layout: SpecialTokenLayout): boolean {
  return layout === "bart" && (SPECIAL_TOKEN.test(token) || FAIRSEQ_FILLER.test(token));
}

// ─── the fast path ──────────────────────────────────────────────────────────────────────────────
//
// parseBpeFilesReference spends its time in JSON.parse building a 50k-key dictionary object, in copying it
// into a Map, and in 150k Map lookups of freshly sliced strings for the merges (a cons string per merged
// pair). The fast path works on the UTF-8 bytes instead: one scan of vocab.json records each key's byte
// range and id in typed arrays and enters it in an open-addressing table (FNV-1a over the bytes); each
// merge line is looked up by byte range, its concatenation by continuing the left part's hash over the
// right part, so no string is made. The vocab Map is built only when something asks for it (the exporter,
// `inspect`; the tokenizer builds its tables from `idOf` and `spellings`), in the order JSON.parse +
// Object.keys would give: array-index keys first, in ascending order, then the others in the order written.
//
// It accepts only what it can read exactly as the reference does, and returns undefined for anything else
// (a key given twice, an id that is not a plain integer, a merge line that is not "a b", any part that is
// not in the vocab, any entry that no merge makes, a sparse id range, text with lone surrogates), so the
// reference decides those, with its errors.

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

// Written for a cold start, since a model loads once per process, and V8 runs a loop interpreted until it
// has compiled it on stack replacement: on first use most of the time goes there (~55 ms against ~17 warm).
// So: a few flat loops over typed arrays, with no closures or objects inside them and no branch first taken
// late (the arrays are sized up front for the most entries the text can hold), so that V8 compiles each
// loop once and never has to throw the code away.

function wellFormed(text: string): boolean {
  const f = (text as { isWellFormed?: () => boolean }).isWellFormed;
  return f !== undefined ? f.call(text) : !/\p{Cs}/u.test(text);
}

/** Whether bytes [s, e) spell an array index (a canonical integer below 2^32 − 1): Object.keys lists those first. */
function isArrayIndex(k: Uint8Array, s: number, e: number): boolean {
  const n = e - s;
  if (n === 0 || n > 10 || (n > 1 && k[s] === 0x30)) return false;
  let value = 0;
  for (let i = s; i < e; i++) {
    const c = k[i];
    if (c < 0x30 || c > 0x39) return false;
    value = value * 10 + (c - 0x30);
  }
  return value <= 2 ** 32 - 2;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** vocab.json's entries in the order written; key bytes are [keyStart, keyEnd) of `keys` (see scanVocab). */
interface VocabScan {
  count: number;
  keys: Uint8Array;
  keyStart: Int32Array;
  keyEnd: Int32Array;
  /** Where each key is written in vocab.json's bytes, between its quotes (for buildVocab's UTF-16 offsets). */
  rawStart: Int32Array;
  rawEnd: Int32Array;
  /** 1 where the key is written with escapes. */
  escaped: Uint8Array;
  ids: Int32Array;
  maxId: number;
}

/** Writes code point c as UTF-8 at out[at]; returns the end. */
function putCodePoint(out: Uint8Array, at: number, c: number): number {
  if (c < 0x80) {
    out[at] = c;
    return at + 1;
  }
  if (c < 0x800) {
    out[at] = 0xc0 | (c >> 6);
    out[at + 1] = 0x80 | (c & 0x3f);
    return at + 2;
  }
  if (c < 0x10000) {
    out[at] = 0xe0 | (c >> 12);
    out[at + 1] = 0x80 | ((c >> 6) & 0x3f);
    out[at + 2] = 0x80 | (c & 0x3f);
    return at + 3;
  }
  out[at] = 0xf0 | (c >> 18);
  out[at + 1] = 0x80 | ((c >> 12) & 0x3f);
  out[at + 2] = 0x80 | ((c >> 6) & 0x3f);
  out[at + 3] = 0x80 | (c & 0x3f);
  return at + 4;
}

function hexDigit(c: number): number {
  return c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
}

/** Four hex digits at V[i, i + 4) before `end`, or -1. */
function hex4(V: Uint8Array, i: number, end: number): number {
  if (i + 4 > end) return -1;
  const a = hexDigit(V[i]);
  const b = hexDigit(V[i + 1]);
  const c = hexDigit(V[i + 2]);
  const d = hexDigit(V[i + 3]);
  return a < 0 || b < 0 || c < 0 || d < 0 ? -1 : (a << 12) | (b << 8) | (c << 4) | d;
}

/** The byte each one-letter JSON escape stands for, by the letter; 0 where it is not one. */
const SIMPLE_ESCAPES = new Uint8Array(128);
for (const [letter, byte] of [["\"", 0x22], ["\\", 0x5c], ["/", 0x2f], ["b", 0x08], ["f", 0x0c], ["n", 0x0a], ["r", 0x0d], ["t", 0x09]] as const) {
  SIMPLE_ESCAPES[letter.charCodeAt(0)] = byte;
}

/**
 * Writes the UTF-8 of the JSON string body V[start, end) (escapes decoded, as JSON.parse decodes them) at
 * out[at] and returns its end; −1 for a bad escape or a lone surrogate (a key that is not well-formed: the
 * reference's case). Never longer than the body: an escape takes more bytes than what it stands for.
 */
function unescapeInto(V: Uint8Array, start: number, end: number, out: Uint8Array, at: number): number {
  for (let i = start; i < end; i++) {
    const c = V[i];
    if (c !== 0x5c) {
      out[at++] = c;
      continue;
    }
    const letter = V[++i];
    if (letter !== 0x75) {
      const simple = letter < 128 ? SIMPLE_ESCAPES[letter] : 0;
      if (simple === 0) return -1;
      out[at++] = simple;
      continue;
    }
    let unit = hex4(V, i + 1, end); // \uXXXX
    i += 4;
    if (unit < 0 || (unit >= 0xdc00 && unit <= 0xdfff)) return -1;
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const low = V[i + 1] === 0x5c && V[i + 2] === 0x75 ? hex4(V, i + 3, end) : -1;
      if (low < 0xdc00 || low > 0xdfff) return -1;
      i += 6;
      unit = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
    }
    at = putCodePoint(out, at, unit);
  }
  return at;
}

/**
 * {"key": id, ...} with plain non-negative integer ids of at most 8 digits; undefined for anything else
 * (1.0, 1e2, -1, 01 and the like go to the reference). `keys` is V, followed by the UTF-8 of the keys
 * written with escapes (GPT-2's encoder.json writes every non-ASCII character as \uXXXX: half its keys).
 * The arrays are sized up front for the most entries the text can hold: no branch first taken late.
 */
function scanVocab(V: Uint8Array): VocabScan | undefined {
  const n = V.length;
  const most = (n >> 2) + 1; // an entry takes at least 4 bytes: "":0
  const keyStart = new Int32Array(most);
  const keyEnd = new Int32Array(most);
  const rawStart = new Int32Array(most);
  const rawEnd = new Int32Array(most);
  const escaped = new Uint8Array(most);
  const ids = new Int32Array(most);
  const escapes = new Uint8Array(n); // the keys written with escapes, decoded: never longer than V
  let escapedBytes = 0; // bytes of `escapes` in use
  let count = 0;
  let maxId = -1;
  let i = 0;
  let c = 0;
  while (i < n && ((c = V[i]) === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) i++;
  if (V[i] !== 0x7b) return undefined; // {
  i++;
  for (;;) {
    while (i < n && ((c = V[i]) === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) i++;
    if (V[i] !== 0x22) return undefined; // " (also an empty object: the reference reports it)
    const start = ++i;
    let withEscapes = false;
    while (i < n && (c = V[i]) !== 0x22) {
      if (c === 0x5c) {
        withEscapes = true;
        i += 2;
      } else if (c < 0x20) return undefined;
      else i++;
    }
    if (i >= n) return undefined;
    const end = i++;
    rawStart[count] = start;
    rawEnd[count] = end;
    if (withEscapes) {
      const after = unescapeInto(V, start, end, escapes, escapedBytes);
      if (after < 0) return undefined;
      keyStart[count] = n + escapedBytes;
      keyEnd[count] = n + after;
      escapedBytes = after;
      escaped[count] = 1;
    } else {
      keyStart[count] = start;
      keyEnd[count] = end;
    }
    while (i < n && ((c = V[i]) === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) i++;
    if (V[i] !== 0x3a) return undefined; // :
    i++;
    while (i < n && ((c = V[i]) === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) i++;
    const digits = i;
    let id = 0;
    if (V[i] === 0x30) i++;
    else {
      while (i < n && (c = V[i]) >= 0x30 && c <= 0x39) {
        id = id * 10 + (c - 0x30);
        i++;
      }
    }
    c = i < n ? V[i] : 0;
    if (i === digits || i - digits > 8 || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || id > MAX_TOKEN_ID) return undefined;
    ids[count++] = id;
    if (id > maxId) maxId = id;
    while (i < n && ((c = V[i]) === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) i++;
    c = V[i++];
    if (c === 0x2c) continue; // ,
    if (c === 0x7d) break; // }
    return undefined;
  }
  while (i < n && ((c = V[i]) === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) i++;
  if (i !== n) return undefined;
  let keys = V;
  if (escapedBytes > 0) {
    keys = new Uint8Array(n + escapedBytes);
    keys.set(V);
    keys.set(escapes.subarray(0, escapedBytes), n);
  }
  // Trimmed to the entries found: the tables live as long as the tokenizer.
  return {
    count, keys, maxId, keyStart: keyStart.slice(0, count), keyEnd: keyEnd.slice(0, count), rawStart: rawStart.slice(0, count), rawEnd: rawEnd.slice(0, count),
    escaped: escaped.slice(0, count), ids: ids.slice(0, count),
  };
}

/** Open addressing over the vocab's keys by their bytes: slots hold entry + 1 (0 = empty); FNV-1a hashes. */
interface KeyTable {
  slots: Int32Array;
  mask: number;
}

/** The table, or undefined where a key is given twice (JSON.parse keeps the last; the reference decides). */
function buildTable(v: VocabScan): KeyTable | undefined {
  const { keys, keyStart, keyEnd, count } = v;
  let size = 1;
  while (size < 2 * count) size *= 2;
  const slots = new Int32Array(size);
  const mask = size - 1;
  for (let e = 0; e < count; e++) {
    const s = keyStart[e];
    const length = keyEnd[e] - s;
    let h = FNV_OFFSET;
    for (let j = s; j < s + length; j++) h = Math.imul(h ^ keys[j], FNV_PRIME);
    let slot = h & mask;
    for (let other = slots[slot] - 1; other >= 0; other = slots[slot] - 1) {
      const o = keyStart[other];
      if (keyEnd[other] - o === length) {
        let j = 0;
        while (j < length && keys[o + j] === keys[s + j]) j++;
        if (j === length) return undefined;
      }
      slot = (slot + 1) & mask;
    }
    slots[slot] = e + 1;
  }
  return { slots, mask };
}

/** Entry whose key is bytes [s1, e1) of A followed by [s2, e2) of A, h their FNV-1a; -1 if none. */
function probe(slots: Int32Array, mask: number, keys: Uint8Array, keyStart: Int32Array, keyEnd: Int32Array, h: number, A: Uint8Array, s1: number, e1: number, s2: number, e2: number): number {
  const length = e1 - s1 + (e2 - s2);
  for (let slot = h & mask; ; slot = (slot + 1) & mask) {
    const e = slots[slot] - 1;
    if (e < 0) return -1;
    let k = keyStart[e];
    if (keyEnd[e] - k !== length) continue;
    let j = s1;
    while (j < e1 && keys[k] === A[j]) {
      j++;
      k++;
    }
    if (j < e1) continue;
    j = s2;
    while (j < e2 && keys[k] === A[j]) {
      j++;
      k++;
    }
    if (j === e2) return e;
  }
}

/** The id of a token given as a string, or undefined. */
function idOf(v: VocabScan, t: KeyTable, token: string): number | undefined {
  const bytes = utf8Encoder.encode(token);
  let h = FNV_OFFSET;
  for (let j = 0; j < bytes.length; j++) h = Math.imul(h ^ bytes[j], FNV_PRIME);
  const e = probe(t.slots, t.mask, v.keys, v.keyStart, v.keyEnd, h, bytes, 0, bytes.length, 0, 0);
  return e < 0 ? undefined : v.ids[e];
}

/** Each id's entry, or undefined where an id is given twice (the reference names both tokens). */
function entriesById(v: VocabScan): Int32Array | undefined {
  const entryOfId = new Int32Array(v.maxId + 1).fill(-1);
  for (let e = 0; e < v.count; e++) {
    const id = v.ids[e];
    if (entryOfId[id] !== -1) return undefined;
    entryOfId[id] = e;
  }
  return entryOfId;
}

const VERSION_LINE = utf8Encoder.encode("#version");

/** Whether M[from, stop) starts with "#version". */
function isVersionLine(M: Uint8Array, from: number, stop: number): boolean {
  if (stop - from < VERSION_LINE.length) return false;
  for (let j = 0; j < VERSION_LINE.length; j++) if (M[from + j] !== VERSION_LINE[j]) return false;
  return true;
}

/** merges.txt as (merges, 3) ids, and which ids some merge makes; undefined for a line the reference would refuse. */
function scanMerges(M: Uint8Array, v: VocabScan, t: KeyTable, vocabSize: number): { mergeIds: Int32Array; reached: Uint8Array } | undefined {
  const { keys, keyStart, keyEnd, ids } = v;
  const { slots, mask } = t;
  const n = M.length;
  const mergeIds = new Int32Array(3 * ((n >> 2) + 1)); // a merge line takes at least 4 bytes: "a b\n"
  let merges = 0;
  const reached = new Uint8Array(vocabSize);
  let start = 0;
  let c = 0;
  for (let line = 1; start <= n; line++) {
    let end = start;
    while (end < n && M[end] !== 0x0a) end++;
    const stop = end > start && M[end - 1] === 0x0d ? end - 1 : end;
    const from = start;
    start = end + 1;
    if (stop === from || (line === 1 && isVersionLine(M, from, stop))) continue;
    let space = from;
    let hLeft = FNV_OFFSET;
    while (space < stop && (c = M[space]) !== 0x20) {
      hLeft = Math.imul(hLeft ^ c, FNV_PRIME);
      space++;
    }
    if (space === from || space >= stop - 1) return undefined;
    let hRight = FNV_OFFSET;
    let hBoth = hLeft;
    for (let j = space + 1; j < stop; j++) {
      c = M[j];
      if (c === 0x20) return undefined; // a second space
      hRight = Math.imul(hRight ^ c, FNV_PRIME);
      hBoth = Math.imul(hBoth ^ c, FNV_PRIME);
    }
    const left = probe(slots, mask, keys, keyStart, keyEnd, hLeft, M, from, space, 0, 0);
    const right = probe(slots, mask, keys, keyStart, keyEnd, hRight, M, space + 1, stop, 0, 0);
    const both = probe(slots, mask, keys, keyStart, keyEnd, hBoth, M, from, space, space + 1, stop);
    if (left < 0 || right < 0 || both < 0) return undefined;
    mergeIds[3 * merges] = ids[left];
    mergeIds[3 * merges + 1] = ids[right];
    mergeIds[3 * merges + 2] = ids[both];
    merges++;
    reached[ids[both]] = 1;
  }
  return { mergeIds: mergeIds.slice(0, 3 * merges), reached };
}

/** Whether every entry that no merge makes is one symbol, a special token, or unreachable by design (the reference's rule). */
function everyEntryReached(v: VocabScan, entryOfId: Int32Array, reached: Uint8Array, specialTokens: Map<string, number>, layout: SpecialTokenLayout): boolean {
  const { keys, keyStart, keyEnd } = v;
  for (let id = 0; id < entryOfId.length; id++) {
    const e = entryOfId[id];
    if (e < 0 || reached[id] === 1) continue;
    const s = keyStart[e];
    const length = keyEnd[e] - s;
    const lead = keys[s];
    // One UTF-16 unit (the reference's token.length === 1): one byte, or one 2- or 3-byte sequence.
    if (length === 1 || (length === 2 && lead >= 0xc0 && lead < 0xe0) || (length === 3 && lead >= 0xe0 && lead < 0xf0)) continue;
    const token = keyText(v, e);
    if (!specialTokens.has(token) && !unreachableByDesign(token, layout)) return false;
  }
  return true;
}

function keyText(v: VocabScan, e: number): string {
  return utf8Decoder.decode(v.keys.subarray(v.keyStart[e], v.keyEnd[e]));
}

/** The vocab Map as the reference builds it: keys sliced from vocabJson at UTF-16 offsets found by walking its bytes V. */
function buildVocab(v: VocabScan, V: Uint8Array, vocabJson: string): Map<string, number> {
  const { count, keyStart, keyEnd, rawStart, rawEnd, escaped, ids } = v;
  const keys: string[] = new Array(count);
  let unit = 0; // UTF-16 offset of byte b
  let b = 0;
  for (let e = 0; e < count; e++) {
    for (; b < rawStart[e]; b++) if ((V[b] & 0xc0) !== 0x80) unit += V[b] >= 0xf0 ? 2 : 1;
    const from = unit;
    for (; b < rawEnd[e]; b++) if ((V[b] & 0xc0) !== 0x80) unit += V[b] >= 0xf0 ? 2 : 1;
    // A key written with escapes is read back as JSON.parse reads it (the scan decoded it the same way).
    keys[e] = escaped[e] === 1 ? (JSON.parse(vocabJson.slice(from - 1, unit + 1)) as string) : vocabJson.slice(from, unit);
  }
  const isIndex = new Uint8Array(count);
  const indexEntries: number[] = [];
  for (let e = 0; e < count; e++) {
    if (isArrayIndex(v.keys, keyStart[e], keyEnd[e])) {
      isIndex[e] = 1;
      indexEntries.push(e);
    }
  }
  indexEntries.sort((x, y) => Number(keys[x]) - Number(keys[y]));
  const vocab = new Map<string, number>();
  for (const e of indexEntries) vocab.set(keys[e], ids[e]);
  for (let e = 0; e < count; e++) if (isIndex[e] === 0) vocab.set(keys[e], ids[e]);
  return vocab;
}

/** parseBpeFiles for files it can read exactly as the reference does; undefined otherwise (see above). */
export function parseBpeFilesFast(vocabJson: string, mergesTxt: string, utf8?: { vocab: Uint8Array; merges: Uint8Array }): BpeFiles | undefined {
  if (utf8 === undefined && !(wellFormed(vocabJson) && wellFormed(mergesTxt))) return undefined;
  const V = utf8?.vocab ?? utf8Encoder.encode(vocabJson);
  const M = utf8?.merges ?? utf8Encoder.encode(mergesTxt);
  const v = scanVocab(V);
  // A few ids spread over a huge range would make the tables below large: the reference handles those.
  if (v === undefined || v.maxId > 4 * v.count + 1024) return undefined;
  const table = buildTable(v);
  const entryOfId = table && entriesById(v);
  if (table === undefined || entryOfId === undefined) return undefined;
  const vocabSize = v.maxId + 1;
  const merged = scanMerges(M, v, table, vocabSize);
  if (merged === undefined) return undefined;

  // The special tokens, as specialTokensOf finds them.
  const { bos, pad, eos, unk, mask } = BART_SPECIAL_TOKENS;
  const bart = [bos, pad, eos, unk].every((token) => idOf(v, table, token) !== undefined);
  const layout: SpecialTokenLayout = bart ? "bart" : "gpt2";
  const specialTokens = new Map<string, number>();
  if (bart) {
    for (const token of [bos, pad, eos, unk, mask]) {
      const id = idOf(v, table, token);
      if (id !== undefined) specialTokens.set(token, id);
    }
  } else {
    // <|...|> in Object.keys order: array-index keys come first there, but none of them looks like this.
    for (let e = 0; e < v.count; e++) {
      const s = v.keyStart[e];
      const t = v.keyEnd[e];
      const k = v.keys;
      if (t - s >= 4 && k[s] === 0x3c && k[s + 1] === 0x7c && k[t - 2] === 0x7c && k[t - 1] === 0x3e) specialTokens.set(keyText(v, e), v.ids[e]);
    }
  }
  if (!everyEntryReached(v, entryOfId, merged.reached, specialTokens, layout)) return undefined;
  const endOfText = idOf(v, table, "<|endoftext|>");
  const tokenIds: Pick<BpeFiles, "bosTokenId" | "eosTokenId" | "padTokenId" | "unkTokenId" | "maskTokenId"> = bart
    ? { bosTokenId: idOf(v, table, bos), eosTokenId: idOf(v, table, eos), padTokenId: idOf(v, table, pad), unkTokenId: idOf(v, table, unk), maskTokenId: idOf(v, table, mask) }
    : { bosTokenId: endOfText, eosTokenId: endOfText, padTokenId: undefined, unkTokenId: endOfText, maskTokenId: undefined };
  let vocab: Map<string, number> | undefined;
  return {
    get vocab() {
      return (vocab ??= buildVocab(v, V, vocabJson));
    },
    mergeIds: merged.mergeIds,
    vocabSize,
    layout,
    specialTokens,
    ...tokenIds,
    idOf: (token) => idOf(v, table, token),
    spellings: spellingsById(v, entryOfId),
  };
}

/** Each id's key bytes in v.keys: (vocabSize) start and end; start −1 where no entry has the id. */
function spellingsById(v: VocabScan, entryOfId: Int32Array): { bytes: Uint8Array; start: Int32Array; end: Int32Array } {
  const start = new Int32Array(entryOfId.length);
  const end = new Int32Array(entryOfId.length);
  for (let id = 0; id < entryOfId.length; id++) {
    const e = entryOfId[id];
    start[id] = e < 0 ? -1 : v.keyStart[e];
    end[id] = e < 0 ? -1 : v.keyEnd[e];
  }
  return { bytes: v.keys, start, end };
}
