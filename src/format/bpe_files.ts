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
