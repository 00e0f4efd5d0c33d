// The byte-level BPE tokenizer of both model families, GPT-2 and BART, read from vocab.json + merges.txt,
// giving the same ids as Hugging Face's `tokenizers` (the Rust library behind GPT2TokenizerFast and
// BartTokenizerFast) with each family's tokenizer.json. No Node built-ins: the same code runs in browsers.
// It is not a general tokenizer.json reader: it knows exactly these two pipelines, and which one applies
// follows from vocab.json (src/format/bpe_files.ts decides the special tokens; see its header).
//
// Why hand-written rather than the npm package @huggingface/tokenizers 0.2.0 (pure JS; evaluated in a
// scratch folder, not a dependency), measured on this 2-core AMD EPYC with Node 20:
//   - speed: encoding 1 MB takes it 0.67-0.79 s on simple English-like text and a 1.11-1.20 s median on
//     bench/tokenizer.ts's text, against a 65-107 ms median (cold first call 136-190 ms) for this file:
//     not "well under a second" (bench/results/tokenizer.md);
//   - input: it cannot read vocab.json + merges.txt; we had to synthesise a tokenizer.json in memory;
//   - exactness: with that, 80/80 fixture cases and identical ids on the bench's 1 MB, but its GPT-2
//     pre-tokenizer uses JS `\s`, so " \u0085y" and " \uFEFFy" split differently from the Rust library
//     (see point 2 below); and its decode() throws on an empty id list.
//
// What "the same ids as Hugging Face" takes, and where each piece comes from:
//   1. special tokens (GPT-2: vocab entries spelled <|...|>; BART: <s> <pad> </s> <unk> <mask>) are cut out
//      of the raw text first, leftmost-longest, and emitted as their one id (HF's AddedVocabulary, which
//      both tokenizer.json files fill). BART's <mask> has lstrip: it also takes the White_Space before it
//      (Rust's char::is_whitespace), back to the end of the previous special token at most;
//   2. each remaining span is split by GPT-2's regex; `\s` is written \p{White_Space} because the Rust
//      library compiles the pattern with Oniguruma, whose Unicode `\s` is White_Space (it has U+0085 and
//      lacks U+FEFF, where JS `\s` is the other way round). Derived from Oniguruma's definition of `\s`;
//      no HF-made fixture pins these two characters yet;
//   3. each piece's UTF-8 bytes start as one symbol per byte (the vocab's bytes_to_unicode spelling);
//   4. merges apply lowest rank first, ties to the leftmost pair, one pair at a time (HF's BPE::merge_word
//      heap). With a merge list that a BPE trainer wrote this equals the original "merge every occurrence
//      of the best bigram" loop in OpenAI's encoder.py;
//   5. BART only: the ids are wrapped as <s> ... </s> (RoBERTa's post-processor; GPT-2's adds nothing),
//      unless encode() is told addSpecialTokens: false, as transformers' is.
// Neither family adds a prefix space. decode() keeps special tokens unless told skipSpecialTokens (as
// transformers' decode does; BART's summaries are decoded with skip_special_tokens=True), and can apply
// transformers' clean_up_tokenization (off by default, as in transformers 5 unless tokenizer_config.json
// asks for it).
//
// Checked against HF-made ids: test/fixtures/tokenizer_cases.json (GPT-2) and bart_tokenizer_cases.json
// (BART's pipeline on a BART-layout vocab built from GPT-2's BPE), in test/runtime/tokenizer*.test.ts.

import { LowbitError } from "../errors.js";
import { BART_SPECIAL_TOKENS, BYTE_CHARS, parseBpeFiles, type BpeFiles } from "../format/bpe_files.js";

// ---------------------------------------------------------------------------------------------------------
// Byte <-> unicode spelling of GPT-2's vocab (bytes_to_unicode, in src/format/bpe_files.ts)
// ---------------------------------------------------------------------------------------------------------

/** (0x144) byte that each char code of the spelling stands for; undefined outside it. */
const CHAR_TO_BYTE: (number | undefined)[] = [];
BYTE_CHARS.forEach((c, b) => (CHAR_TO_BYTE[c.charCodeAt(0)] = b));

// ---------------------------------------------------------------------------------------------------------
// Pre-tokenization
// ---------------------------------------------------------------------------------------------------------

/** GPT-2's split pattern with Oniguruma's `\s` (= \p{White_Space}); see point 2 in the file header. */
const GPT2_SPLIT =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;

/** Rust's char::is_whitespace, which HF's lstrip uses. Every White_Space character is in the BMP. */
const WHITE_SPACE_CHAR = /^\p{White_Space}$/u;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// ---------------------------------------------------------------------------------------------------------
// Merge table: (left id, right id) -> merge rank
// ---------------------------------------------------------------------------------------------------------

/**
 * A Map keyed by left * vocabSize + right. (An open-addressing table over typed arrays was tried: no faster
 * on 1 MB of text, 55 vs 56 ms, so the plain Map stays.)
 */
class MergeTable {
  private readonly ranks = new Map<number, number>();

  constructor(private readonly vocabSize: number) {}

  /** A pair listed twice keeps its later rank, as the HashMap that HF collects the merges into does. */
  set(left: number, right: number, rank: number): void {
    this.ranks.set(left * this.vocabSize + right, rank);
  }

  /** The pair's merge rank, or -1 if the pair never merges. */
  rank(left: number, right: number): number {
    return this.ranks.get(left * this.vocabSize + right) ?? -1;
  }
}

// ---------------------------------------------------------------------------------------------------------
// BPE on one pre-token. Two versions that must agree: a linear scan for the short words that make up
// nearly all text, and a heap (HF's algorithm) for long ones, where the scan's O(n^2) would bite
// (a 1 MB run of letters is one pre-token). Both pick the lowest rank, ties to the leftmost pair.
// ---------------------------------------------------------------------------------------------------------

/** Words up to this many bytes use the scan. Measured on random words: the heap wins only beyond ~64 bytes. */
const SCAN_MAX_SYMBOLS = 64;

function mergeByScan(symbols: number[], merges: MergeTable, mergedId: Int32Array): number[] {
  const n = symbols.length;
  if (n < 2) return symbols;
  // pairRank[i] is the rank of (symbols[i], symbols[i + 1]); -1 = no merge. Kept in step with symbols.
  const pairRank: number[] = new Array(n - 1);
  for (let i = 0; i < n - 1; i++) pairRank[i] = merges.rank(symbols[i], symbols[i + 1]);
  for (;;) {
    let best = -1;
    let bestRank = 0x7fffffff;
    for (let i = 0; i < pairRank.length; i++) {
      const r = pairRank[i];
      if (r !== -1 && r < bestRank) {
        bestRank = r;
        best = i;
      }
    }
    if (best === -1) return symbols;
    symbols[best] = mergedId[bestRank];
    symbols.splice(best + 1, 1);
    pairRank.splice(best, 1);
    if (best > 0) pairRank[best - 1] = merges.rank(symbols[best - 1], symbols[best]);
    if (best < pairRank.length) pairRank[best] = merges.rank(symbols[best], symbols[best + 1]);
  }
}

function mergeByHeap(symbols: number[], merges: MergeTable, mergedId: Int32Array): number[] {
  const n = symbols.length;
  const id = Int32Array.from(symbols); // (n) symbol id at each original position; -1 once merged away
  const next = new Int32Array(n); // (n) position of the next live symbol, n past the end
  const prev = new Int32Array(n); // (n) position of the previous live symbol, -1 before the start
  for (let i = 0; i < n; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  // Min-heap of candidate merges, each keyed rank * n + left position: orders by rank, then leftmost.
  // Entries go stale when a neighbour merges; a popped entry is checked against the live pair.
  const heap: number[] = [];
  const push = (key: number): void => {
    let i = heap.length;
    heap.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent] <= key) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = key;
  };
  const pop = (): number => {
    const top = heap[0];
    const last = heap.pop() as number;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= heap.length) break;
        const c = l + 1 < heap.length && heap[l + 1] < heap[l] ? l + 1 : l;
        if (heap[c] >= last) break;
        heap[i] = heap[c];
        i = c;
      }
      heap[i] = last;
    }
    return top;
  };
  const consider = (left: number): void => {
    if (left < 0) return;
    const right = next[left];
    if (right >= n) return;
    const r = merges.rank(id[left], id[right]);
    if (r !== -1) push(r * n + left);
  };

  for (let i = 0; i + 1 < n; i++) consider(i);
  while (heap.length > 0) {
    const key = pop();
    const left = key % n;
    const rank = (key - left) / n;
    const right = next[left];
    if (id[left] === -1 || right >= n || merges.rank(id[left], id[right]) !== rank) continue; // stale
    id[left] = mergedId[rank];
    id[right] = -1;
    next[left] = next[right];
    if (next[right] < n) prev[next[right]] = left;
    consider(prev[left]);
    consider(left);
  }
  const out: number[] = [];
  for (let i = 0; i < n; i = next[i]) out.push(id[i]);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The tokenizer
// ---------------------------------------------------------------------------------------------------------

/** (vocabSize) the bytes of each id: bytes[start[id], end[id]); start −1 for an id no token has. */
interface DecodeTables {
  bytes: Uint8Array;
  start: Int32Array;
  end: Int32Array;
}

interface EncodeTables {
  byteId: Int32Array; // (256) id of the single-byte token; -1 if the vocab lacks it
  merges: MergeTable;
  mergedId: Int32Array; // (merges) id that merge number `rank` produces
}

/** Per-word cache bound: GPT-2 text reuses few distinct words; when full it is emptied and refilled. */
const CACHE_MAX_ENTRIES = 100_000;
/** Longer pre-tokens (runs of spaces, long numbers, pasted blobs) are rarely repeated: not cached. */
const CACHE_MAX_WORD_CHARS = 64;

export interface EncodeOptions {
  /** Wrap the ids in the family's special tokens (BART: <s> ... </s>; GPT-2: none). Default true, as in transformers. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out the special tokens (transformers' skip_special_tokens). Default false. */
  skipSpecialTokens?: boolean;
  /**
   * transformers' clean_up_tokenization: " ." -> ".", " n't" -> "n't" and the like. Default false, as in
   * transformers 5 unless the checkpoint's tokenizer_config.json sets clean_up_tokenization_spaces.
   */
  cleanUpTokenizationSpaces?: boolean;
}

export class BpeTokenizer {
  /** One past the largest id in vocab.json (50257 for GPT-2, 50265 for BART). */
  readonly vocabSize: number;
  /** Which family's special tokens and pipeline the vocab follows (src/format/bpe_files.ts). */
  readonly layout: BpeFiles["layout"];
  /** Special tokens and their ids: GPT-2's <|...|> entries ("<|endoftext|>" -> 50256), or BART's five. */
  readonly specialTokens: Map<string, number>;
  /** transformers' special token ids, where the vocab has them (GPT-2: bos = eos = unk = <|endoftext|>). */
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  readonly padTokenId: number | undefined;
  readonly unkTokenId: number | undefined;
  readonly maskTokenId: number | undefined;

  private readonly bpe: BpeFiles;
  private readonly specialIds: Set<number>;
  private readonly specialSplit: RegExp | undefined;
  private readonly lstripTokens: Set<string>; // special tokens that absorb the whitespace before them
  private readonly wrap: [number, number] | undefined; // ids put before and after a text by encode()
  private readonly cache = new Map<string, number[]>();
  // The tables are built on first use, each half when it is first needed: they take ~30 ms for GPT-2's
  // 50k tokens and merges, which a model load would otherwise pay before its first token (and a caller that
  // only decodes, or only encodes, needs one half).
  private encodeTables?: EncodeTables;
  private decodeTables?: DecodeTables;

  private constructor(bpe: BpeFiles) {
    this.bpe = bpe;
    this.vocabSize = bpe.vocabSize;
    this.layout = bpe.layout;
    this.specialTokens = bpe.specialTokens;
    this.specialIds = new Set(bpe.specialTokens.values());
    this.bosTokenId = bpe.bosTokenId;
    this.eosTokenId = bpe.eosTokenId;
    this.padTokenId = bpe.padTokenId;
    this.unkTokenId = bpe.unkTokenId;
    this.maskTokenId = bpe.maskTokenId;

    if (this.specialTokens.size > 0) {
      // Longest first, so that the regex's leftmost alternative is also the longest (HF matches leftmost-longest).
      const alternatives = [...this.specialTokens.keys()].sort((x, y) => y.length - x.length).map(escapeRegExp);
      this.specialSplit = new RegExp(alternatives.join("|"), "g");
    }
    // BART's tokenizer.json: <mask> is an AddedToken with lstrip=true, and RobertaProcessing wraps with <s>, </s>.
    this.lstripTokens = new Set(bpe.layout === "bart" ? [BART_SPECIAL_TOKENS.mask] : []);
    this.wrap = bpe.layout === "bart" ? [bpe.bosTokenId as number, bpe.eosTokenId as number] : undefined;
  }

  /** What encode() needs: each byte's token and the merge table. */
  private get encoding(): EncodeTables {
    if (this.encodeTables !== undefined) return this.encodeTables;
    const { mergeIds } = this.bpe;
    const idOf = this.bpe.idOf ?? ((token: string) => this.bpe.vocab.get(token));
    const byteId = new Int32Array(256).fill(-1);
    for (let b = 0; b < 256; b++) byteId[b] = idOf(BYTE_CHARS[b]) ?? -1;
    const merges = new MergeTable(this.vocabSize);
    // parseBpeFiles resolved each merge to ids: (merges, 3) of left, right, result.
    const count = mergeIds.length / 3;
    const mergedId = new Int32Array(count);
    for (let rank = 0; rank < count; rank++) {
      merges.set(mergeIds[3 * rank], mergeIds[3 * rank + 1], rank);
      mergedId[rank] = mergeIds[3 * rank + 2];
    }
    return (this.encodeTables = { byteId, merges, mergedId });
  }

  /** What decode() needs: the bytes of each id. */
  private get decoding(): DecodeTables {
    if (this.decodeTables !== undefined) return this.decodeTables;
    const { spellings } = this.bpe;
    return (this.decodeTables = spellings !== undefined ? decodeTablesOf(spellings, this.specialIds) : decodeTablesFromVocab(this.bpe.vocab, this.vocabSize, this.specialIds));
  }

  /** Reads the text of vocab.json ({token: id}) and merges.txt (one "left right" pair a line, an optional #version line first). */
  static fromFiles(vocabJson: string, mergesTxt: string, where = { vocab: "vocab.json", merges: "merges.txt" }): BpeTokenizer {
    return BpeTokenizer.fromBpe(parseBpeFiles(vocabJson, mergesTxt, where));
  }

  /** From tokenizer files already parsed and validated (a lowbit ONNX file's, by parseModelFile). */
  static fromBpe(bpe: BpeFiles): BpeTokenizer {
    return new BpeTokenizer(bpe);
  }

  /** Whether id is one of the special tokens (what decode's skipSpecialTokens leaves out). */
  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  encode(text: string, options?: EncodeOptions): number[] {
    const ids: number[] = [];
    const wrap = options?.addSpecialTokens === false ? undefined : this.wrap;
    if (wrap !== undefined) ids.push(wrap[0]);
    if (this.specialSplit === undefined) {
      this.encodeOrdinary(text, ids);
    } else {
      this.encodeWithSpecials(text, this.specialSplit, ids);
    }
    if (wrap !== undefined) ids.push(wrap[1]);
    return ids;
  }

  /** Cuts the special tokens out first (leftmost-longest), then BPE on the spans between them. */
  private encodeWithSpecials(text: string, split: RegExp, ids: number[]): void {
    split.lastIndex = 0;
    let start = 0; // end of the previous special token: an lstrip never reaches back past it, as in HF
    for (let m = split.exec(text); m !== null; m = split.exec(text)) {
      let end = m.index;
      if (this.lstripTokens.has(m[0])) {
        while (end > start && WHITE_SPACE_CHAR.test(text[end - 1])) end--;
      }
      if (end > start) this.encodeOrdinary(text.slice(start, end), ids);
      ids.push(this.specialTokens.get(m[0]) as number);
      start = m.index + m[0].length;
    }
    if (start < text.length) this.encodeOrdinary(start === 0 ? text : text.slice(start), ids);
  }

  /** Appends the ids of a span that holds no special token. */
  private encodeOrdinary(text: string, out: number[]): void {
    const split = GPT2_SPLIT;
    split.lastIndex = 0;
    for (let m = split.exec(text); m !== null; m = split.exec(text)) {
      const word = m[0];
      const cached = this.cache.get(word);
      if (cached !== undefined) {
        for (let i = 0; i < cached.length; i++) out.push(cached[i]);
        continue;
      }
      const ids = this.bpeIds(word);
      if (word.length <= CACHE_MAX_WORD_CHARS) {
        if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.clear();
        this.cache.set(word, ids);
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]);
    }
  }

  /** BPE ids of one pre-token. */
  private bpeIds(word: string): number[] {
    const { byteId, merges, mergedId } = this.encoding;
    const symbols = utf8Bytes(word, byteId);
    return symbols.length <= SCAN_MAX_SYMBOLS ? mergeByScan(symbols, merges, mergedId) : mergeByHeap(symbols, merges, mergedId);
  }

  /** The UTF-8 bytes that id stands for (a copy). Throws for an id outside the vocabulary. */
  tokenBytes(id: number): Uint8Array {
    return this.bytesOf(id).slice();
  }

  /** Shared, not copied: internal use only. */
  private bytesOf(id: number): Uint8Array {
    const { bytes: all, start, end } = this.decoding;
    const bytes = Number.isInteger(id) && id >= 0 && id < start.length && start[id] >= 0 ? all.subarray(start[id], end[id]) : undefined;
    if (bytes === undefined) {
      throw new LowbitError(`token id ${id} is not in the vocabulary`, {
        expected: `an id in 0..${this.vocabSize - 1} that vocab.json assigns (vocab size ${this.vocabSize})`, found: String(id),
      });
    }
    return bytes;
  }

  /** Text of ids; bytes that are not valid UTF-8 decode to U+FFFD, as HF's from_utf8_lossy does. */
  decode(ids: readonly number[], options?: DecodeOptions): string {
    const skip = options?.skipSpecialTokens === true;
    let length = 0;
    for (const id of ids) {
      const bytes = this.bytesOf(id); // checks every id, skipped or not
      if (!(skip && this.specialIds.has(id))) length += bytes.length;
    }
    const all = new Uint8Array(length);
    let offset = 0;
    for (const id of ids) {
      if (skip && this.specialIds.has(id)) continue;
      const bytes = this.bytesOf(id);
      all.set(bytes, offset);
      offset += bytes.length;
    }
    const text = newUtf8Decoder().decode(all);
    return options?.cleanUpTokenizationSpaces === true ? cleanUpTokenization(text) : text;
  }
}

/** The old name, from when GPT-2 was the only family. */
export { BpeTokenizer as Gpt2Tokenizer };

/** transformers' clean_up_tokenization (tokenization_utils_base.py): the same replacements in the same order. */
function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(" .", ".").replaceAll(" ?", "?").replaceAll(" !", "!").replaceAll(" ,", ",").replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't").replaceAll(" 'm", "'m").replaceAll(" 's", "'s").replaceAll(" 've", "'ve").replaceAll(" 're", "'re");
}

/**
 * Text of a stream of ids, piece by piece: a character whose UTF-8 bytes are split across tokens
 * (emoji, CJK) is held back until its last byte arrives, instead of coming out as U+FFFD.
 */
export class TextStreamDecoder {
  private readonly tokenizer: BpeTokenizer;
  private readonly skipSpecialTokens: boolean;
  private decoder = newUtf8Decoder();

  /** skipSpecialTokens: special tokens give "" (as decode's option); by default they give their text. */
  constructor(tokenizer: BpeTokenizer, options: { skipSpecialTokens?: boolean } = {}) {
    this.tokenizer = tokenizer;
    this.skipSpecialTokens = options.skipSpecialTokens ?? false;
  }

  /** The text that id completes; "" while a character is still incomplete. */
  push(id: number): string {
    if (this.skipSpecialTokens && this.tokenizer.isSpecial(id)) return "";
    return this.decoder.decode(this.tokenizer.tokenBytes(id), { stream: true });
  }

  /** Ends the stream: the held-back bytes of an incomplete character come out as U+FFFD. Ready for reuse. */
  flush(): string {
    const rest = this.decoder.decode();
    this.decoder = newUtf8Decoder();
    return rest;
  }
}

// ---------------------------------------------------------------------------------------------------------
// UTF-8 helpers
// ---------------------------------------------------------------------------------------------------------

/** ignoreBOM: keep a leading U+FEFF, which TextDecoder would otherwise swallow (it is text here, not a mark). */
function newUtf8Decoder(): TextDecoder {
  return new TextDecoder("utf-8", { ignoreBOM: true });
}

/**
 * The single-byte token id of each UTF-8 byte of word. A lone surrogate encodes as U+FFFD, as TextEncoder
 * does. A byte without a token is dropped, as HF's BPE does when there is no unk token.
 */
function utf8Bytes(word: string, byteId: Int32Array): number[] {
  const out: number[] = [];
  const add = (b: number): void => {
    const id = byteId[b];
    if (id !== -1) out.push(id);
  };
  for (let i = 0; i < word.length; i++) {
    let c = word.charCodeAt(i);
    if (c < 0x80) {
      add(c);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < word.length ? word.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else {
        c = 0xfffd;
      }
    }
    if (c < 0x800) {
      add(0xc0 | (c >> 6));
    } else if (c < 0x10000) {
      add(0xe0 | (c >> 12));
      add(0x80 | ((c >> 6) & 0x3f));
    } else {
      add(0xf0 | (c >> 18));
      add(0x80 | ((c >> 12) & 0x3f));
      add(0x80 | ((c >> 6) & 0x3f));
    }
    add(0x80 | (c & 0x3f));
  }
  return out;
}

/**
 * The decode tables from each id's spelling as UTF-8 (parseBpeFilesFast's), without making a string: a
 * special token stands for its own UTF-8, any other token for the bytes its characters spell in the
 * bytes_to_unicode alphabet, where a character outside it stands for its own UTF-8 (tokenStringBytes).
 */
function decodeTablesOf(spellings: { bytes: Uint8Array; start: Int32Array; end: Int32Array }, specialIds: Set<number>): DecodeTables {
  const { bytes: K, start: from, end: to } = spellings;
  const V = from.length;
  let total = 0;
  for (let id = 0; id < V; id++) if (from[id] >= 0) total += to[id] - from[id];
  const bytes = new Uint8Array(total); // a token's bytes are never more than its spelling's
  const start = new Int32Array(V);
  const end = new Int32Array(V);
  let at = 0;
  for (let id = 0; id < V; id++) {
    start[id] = from[id] < 0 ? -1 : at;
    if (from[id] < 0) continue;
    if (specialIds.has(id)) {
      bytes.set(K.subarray(from[id], to[id]), at);
      at += to[id] - from[id];
    } else {
      at = spelledBytesInto(K, from[id], to[id], bytes, at);
    }
    end[id] = at;
  }
  return { bytes, start, end };
}

/** The bytes that the UTF-8 spelling K[s, e) stands for, written at out[at]; returns the end. */
function spelledBytesInto(K: Uint8Array, s: number, e: number, out: Uint8Array, at: number): number {
  for (let j = s; j < e;) {
    const lead = K[j];
    const length = lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
    const code = length === 1 ? lead : length === 2 ? ((lead & 0x1f) << 6) | (K[j + 1] & 0x3f) : -1;
    const b = code >= 0 ? CHAR_TO_BYTE[code] : undefined;
    if (b !== undefined) out[at++] = b;
    else for (let k = 0; k < length; k++) out[at++] = K[j + k];
    j += length;
  }
  return at;
}

function decodeTablesFromVocab(vocab: Map<string, number>, vocabSize: number, specialIds: Set<number>): DecodeTables {
  const utf8 = new TextEncoder();
  const each: (Uint8Array | undefined)[] = new Array(vocabSize);
  let total = 0;
  for (const [token, id] of vocab) {
    each[id] = specialIds.has(id) ? utf8.encode(token) : tokenStringBytes(token, utf8);
    total += each[id]!.length;
  }
  const bytes = new Uint8Array(total);
  const start = new Int32Array(vocabSize).fill(-1);
  const end = new Int32Array(vocabSize);
  let at = 0;
  for (let id = 0; id < vocabSize; id++) {
    const b = each[id];
    if (b === undefined) continue;
    bytes.set(b, at);
    start[id] = at;
    at += b.length;
    end[id] = at;
  }
  return { bytes, start, end };
}

/**
 * Bytes of a vocab token in the bytes_to_unicode spelling. A character outside that alphabet (none in
 * GPT-2's vocab) stands for its own UTF-8 bytes.
 */
function tokenStringBytes(token: string, utf8: TextEncoder): Uint8Array {
  const bytes = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = CHAR_TO_BYTE[token.charCodeAt(i)];
    if (b === undefined) return slowTokenStringBytes(token, utf8);
    bytes[i] = b;
  }
  return bytes;
}

function slowTokenStringBytes(token: string, utf8: TextEncoder): Uint8Array {
  const bytes: number[] = [];
  for (const ch of token) {
    const b = ch.length === 1 ? CHAR_TO_BYTE[ch.charCodeAt(0)] : undefined;
    if (b !== undefined) bytes.push(b);
    else bytes.push(...utf8.encode(ch));
  }
  return Uint8Array.from(bytes);
}
