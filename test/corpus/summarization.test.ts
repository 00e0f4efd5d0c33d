// The lead summarization builder (scripts/build_summarization.ts) on small synthetic documents: the sentence
// rule, the heading rule, example construction and its filters, the caps, the uint16/uint32 files, the
// split (no document in two splits, no valid/test document in pretrain), the ids against what the BART
// runtime's summarize() feeds its encoder (a random 1-layer BART with the real BART-layout vocabulary), and
// the CLI's one-line error that leaves nothing behind. Needs no built data and no GPU: a few seconds.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  buildSummarization, capExamples, distribution, documentSentenceSpans, documentUnits, encodeDocument, isHeading, leadExamples, loadBartTokenizer,
  newFilterCounts, packUint16, paragraphSpans, SEPARATOR_ID, splitSentences, unpackUint16, type BuildOptions, type PretrainMeta,
} from "../../scripts/build_summarization.js";
import type { CorpusDocument } from "../../scripts/corpus_sources.js";
import { makeRandomBart } from "../../scripts/make_random_bart.js";
import { LowbitError } from "../../src/errors.js";
import { readCheckpoint } from "../../src/export/checkpoint.js";
import { loadBartModel } from "../../src/runtime/index.js";
import { folderFiles } from "../helpers/bart_fixtures.js";
import { removeTempDir, ROOT, tempDir } from "../helpers/fixtures.js";

const SCRIPT = join(ROOT, "scripts", "build_summarization.ts");
const DIR = tempDir("lowbit-summarization-");
after(() => removeTempDir(DIR));
const { tokenizer } = loadBartTokenizer();
const plain = (s: string): number[] => tokenizer.encode(s, { addSpecialTokens: false });
const countTokens = (s: string): number => plain(s).length;

// ---------------------------------------------------------------------------------------------------------
// Synthetic documents
// ---------------------------------------------------------------------------------------------------------

const WORDS = ["river", "lantern", "harbour", "meadow", "copper", "window", "orchard", "thunder", "pebble", "violet", "canyon", "saddle"];

/** A sentence of n words that names its document and position, so every sentence is unique. */
function sentence(tag: string, k: number, n = 12): string {
  const words = [`${tag[0].toUpperCase()}${tag.slice(1)}`, `s${k}`];
  for (let i = 0; words.length < n; i++) words.push(WORDS[(k * 7 + i) % WORDS.length]);
  return `${words.join(" ")}.`;
}

/** A document of `paragraphs` paragraphs of `perParagraph` sentences, with some of the corpus's whitespace habits. */
function makeDoc(source: string, name: string, paragraphs: number, perParagraph: number): CorpusDocument {
  const tag = name.replace(/[^a-z0-9]/g, "");
  const paras: string[] = [];
  let k = 0;
  for (let p = 0; p < paragraphs; p++) {
    const sents: string[] = [];
    for (let s = 0; s < perParagraph; s++) sents.push(sentence(tag, k++));
    paras.push(sents.join(p % 3 === 1 ? "\n" : " ")); // a line break inside a paragraph is ordinary whitespace
  }
  return { id: `${source}/${name}`, source, text: paras.join("\n\n") };
}

/** Writes split lists for docs into a new folder: doc i goes to splits[i % splits.length]. */
function writeLists(dir: string, assign: Record<string, "train" | "valid" | "test">): string {
  mkdirSync(dir, { recursive: true });
  for (const split of ["train", "valid", "test"]) {
    const ids = Object.entries(assign).filter(([, s]) => s === split).map(([id]) => id).sort();
    writeFileSync(join(dir, `${split}.txt`), ids.map((id) => `${id}\n`).join(""));
  }
  return dir;
}

function options(name: string, documents: CorpusDocument[], splits: string, extra: Partial<BuildOptions> = {}): BuildOptions {
  return { out: join(DIR, name, "lead"), splits, documents, testCap: 600, validCap: 500, maxSourceTokens: 400, minSourceTokens: 60, log: () => {}, ...extra };
}

function lines(path: string): string[] {
  const text = readFileSync(path, "utf8");
  assert.ok(text === "" || text.endsWith("\n"), `${path}: no final newline`);
  return text === "" ? [] : text.slice(0, -1).split("\n");
}

// ---------------------------------------------------------------------------------------------------------
// Sentence and heading rules
// ---------------------------------------------------------------------------------------------------------

describe("sentence rule", () => {
  const cases: [string, string[]][] = [
    ["It rained. Then it stopped.", ["It rained.", "Then it stopped."]],
    ["Mr. Smith met Dr. Jones at St. Paul's. They talked.", ["Mr. Smith met Dr. Jones at St. Paul's.", "They talked."]],
    ["Mrs. Brown and Gen. Grant, e.g. The Chief, sat.", ["Mrs. Brown and Gen. Grant, e.g. The Chief, sat."]],
    ["The U.S. Army moved. J. F. Kennedy spoke.", ["The U.S. Army moved.", "J. F. Kennedy spoke."]],
    ["\"I have it.\" said I. The end.", ["\"I have it.\" said I.", "The end."]], // a quote then lowercase: no split; the pronoun I ends a sentence
    ['He said, "Go home." Then he left.', ['He said, "Go home."', "Then he left."]],
    ['"Go!" he cried. "Why?" she asked.', ['"Go!" he cried.', '"Why?" she asked.']],
    ["Pi is 3.14 or so. It costs $3. Nobody pays.", ["Pi is 3.14 or so.", "It costs $3.", "Nobody pays."]],
    ["Wait... Then go. Or wait... and stay.", ["Wait...", "Then go.", "Or wait... and stay."]],
    ["Really?! Yes (he thought.) Fine.", ["Really?!", "Yes (he thought.)", "Fine."]],
    ["No. 5 and Vol. 2 stay whole. Aug. 3 too.", ["No. 5 and Vol. 2 stay whole.", "Aug. 3 too."]],
    ["A line\nbroken here. Next one.", ["A line broken here.", "Next one."]],
    ["A heading\n\nBody text here. More.", ["A heading", "Body text here.", "More."]],
    ["one. two. Three", ["one. two.", "Three"]],
    ["", []],
  ];
  for (const [text, want] of cases) {
    it(JSON.stringify(text), () => assert.deepEqual(splitSentences(text), want));
  }

  it("spans are trimmed and lie inside their paragraphs", () => {
    const text = "  First one. Second one.\n \n\nThird\tone!  \n";
    assert.deepEqual(paragraphSpans(text).map((p) => text.slice(p.start, p.end)), ["First one. Second one.", "Third\tone!"]);
    assert.deepEqual(documentSentenceSpans(text).map((s) => text.slice(s.start, s.end)), ["First one.", "Second one.", "Third\tone!"]);
  });
});

describe("heading rule and verse labels", () => {
  const headings = ["Verses 1-5", "Chapter 3", "Chapter Outline", "EXPOSITION.", "HINTS TO THE VILLAGE PREACHER", "Psalm 23 OVERVIEW", "Psalms 23:1*", "12.", "(B)", "G.R.",
    "The First Book of Moses, called Genesis", "God creates heaven and earth. (1-2)", "CHAPTER 1. Loomings.", "", "Merger proposed"];
  const text = ["And God spake all these words, saying,", "Drug's chemical name:", "The LORD is my shepherd; I shall not want.", "A Psalm of David.", "Aye.",
    `${"word ".repeat(15)}end`]; // 16 words: too long for a heading even without a final mark
  for (const h of headings) it(`heading: ${JSON.stringify(h)}`, () => assert.equal(isHeading(h), true));
  for (const t of text) it(`text: ${JSON.stringify(t)}`, () => assert.equal(isHeading(t), false));

  it("cuts verse labels off MHCC and TDavid paragraphs, and a label alone becomes a heading", () => {
    const doc = { id: "tdavid/ps-001", source: "tdavid", text: "Verse 1. The first sentence is here. A second.\n\nVerse 2.\n\nVerses 3-4 Rest of it.\n\nVer. 5. (first clause). Last one." };
    const counts = { labelsCut: 0 };
    const units = documentUnits(doc, counts);
    assert.deepEqual(units.map((u) => [u.heading, u.sentences.map((s) => s.text)]), [
      [false, ["The first sentence is here.", "A second."]], [true, [""]], [false, ["Rest of it."]], [false, ["Last one."]],
    ]);
    assert.equal(counts.labelsCut, 4);
    // Other sources keep such text.
    assert.equal(documentUnits({ ...doc, id: "brown/x", source: "brown" })[0].sentences[0].text, "Verse 1.");
  });

  it("SOTU has no paragraphs: each sentence is a unit", () => {
    const units = documentUnits({ id: "sotu/x", source: "sotu", text: "One two. Three four. Five six." });
    assert.deepEqual(units.map((u) => u.sentences.map((s) => s.text)), [["One two."], ["Three four."], ["Five six."]]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Examples
// ---------------------------------------------------------------------------------------------------------

describe("example construction", () => {
  // 6 paragraphs of 5 sentences of 12 words (~14 tokens each).
  const doc = makeDoc("essay", "walk", 6, 5);
  const paragraphs = doc.text.split("\n\n").map((p) => splitSentences(p));
  const o = { maxSourceTokens: 100, minSourceTokens: 20 };
  const filtered = newFilterCounts();
  const examples = leadExamples(documentUnits(doc), countTokens, o, filtered);

  it("targets are first sentences of paragraphs; each source is the text that follows, cut at a sentence end", () => {
    assert.ok(examples.length >= 2, `only ${examples.length} examples`);
    const all = paragraphs.flat();
    for (const e of examples) {
      const p = paragraphs.findIndex((sents) => sents[0] === e.target);
      assert.ok(p >= 0, `target ${e.target} is no paragraph's first sentence`);
      const at = all.indexOf(e.target);
      assert.deepEqual(e.sources, all.slice(at + 1, at + 1 + e.sources.length), "source is not the following sentences");
      const line = e.sources.join(" ");
      assert.equal(countTokens(line), e.sourceTokens);
      assert.ok(e.sourceTokens <= o.maxSourceTokens);
      const next = all[at + 1 + e.sources.length];
      if (next !== undefined) assert.ok(countTokens(`${line} ${next}`) > o.maxSourceTokens, "the cut left out a sentence that fits");
    }
  });

  it("examples do not overlap, and the next starts at the paragraph after the source's end", () => {
    const all = paragraphs.flat();
    const paragraphOf = paragraphs.flatMap((sents, p) => sents.map(() => p)); // (sentences) paragraph index
    let previousLast = -1; // index in `all` of the previous source's last sentence
    for (const e of examples) {
      const start = all.indexOf(e.target);
      if (previousLast >= 0) {
        assert.ok(start > previousLast, "overlap");
        assert.equal(paragraphOf[start], paragraphOf[previousLast] + 1);
      }
      previousLast = start + e.sources.length;
    }
  });

  it("the real 400-token cut lands on a sentence end", () => {
    const long = makeDoc("essay", "long", 12, 8);
    const all = long.text.split("\n\n").flatMap((p) => splitSentences(p));
    const got = leadExamples(documentUnits(long), countTokens, { maxSourceTokens: 400, minSourceTokens: 60 }, newFilterCounts());
    assert.ok(got.length >= 2);
    for (const e of got) {
      const line = e.sources.join(" ");
      assert.ok(plain(line).length <= 400 && plain(line).length >= 60);
      const next = all[all.indexOf(e.sources[e.sources.length - 1]) + 1];
      if (next !== undefined) assert.ok(plain(`${line} ${next}`).length > 400);
    }
  });

  it("filters: heading, target words, short source, target in source; a rejected start consumes nothing", () => {
    const text = [
      "Chapter 1", // heading
      "Too short. " + sentence("f", 1), // 2-word target
      `${sentence("f", 2, 51)} ${sentence("f", 3)}`, // 51-word target
      `${sentence("f", 4)} ${sentence("f", 4)} ${sentence("f", 5)}`, // target repeated in its source
      `${sentence("f", 6)} ${Array.from({ length: 40 }, (_, k) => sentence("f", 10 + k)).join(" ")}`, // a good one, cut inside the paragraph
      sentence("f", 60), "Verses 1-2", sentence("f", 61), // at the end: sources too short
    ].join("\n\n");
    const counts = newFilterCounts();
    const got = leadExamples(documentUnits({ id: "essay/f", source: "essay", text }), countTokens, { maxSourceTokens: 400, minSourceTokens: 60 }, counts);
    assert.deepEqual(got.map((e) => e.target), [sentence("f", 6)]);
    assert.deepEqual(counts, { heading: 2, targetWords: 2, sourceShort: 2, targetInSource: 1 });
  });
});

describe("caps and statistics", () => {
  const examples = Array.from({ length: 50 }, (_, i) => ({ docId: `src${i % 5}/doc${Math.floor(i / 5)}`, index: i % 3 }));
  it("keeps cap examples in their order, the same ones every time, from every source", () => {
    const kept = capExamples(examples, 20);
    assert.equal(kept.length, 20);
    assert.deepEqual(kept, capExamples([...examples], 20));
    assert.deepEqual(kept, examples.filter((e) => kept.includes(e)), "order changed");
    assert.equal(new Set(kept.map((e) => e.docId.split("/")[0])).size, 5);
    assert.equal(capExamples(examples, 100), examples);
  });
  it("distribution: mean, median, p10, p90, max as numpy's linear quantiles", () => {
    assert.deepEqual(distribution([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), { mean: 5.5, median: 5.5, p10: 1.9, p90: 9.1, max: 10 });
  });
});

describe("token files", () => {
  it("uint16 files round-trip and split on 2", () => {
    const items = [[4, 5, 65535], [], [50260, 7]];
    const bytes = packUint16(items);
    assert.equal(bytes.length, 2 * (3 + 1 + 0 + 1 + 2 + 1));
    assert.deepEqual([...new Uint16Array(bytes.buffer)].filter((id) => id === SEPARATOR_ID).length, 3);
    assert.deepEqual(unpackUint16(bytes), items);
    assert.throws(() => unpackUint16(bytes.subarray(0, bytes.length - 2)), LowbitError);
  });

  it("a document encoded sentence by sentence gives the whole document's ids", () => {
    const texts = [
      'He said, "Go home."  Then he left!\n\n\nA second  paragraph\twith tabs. And "quotes" too.\nA line. Mr. Smith\u2019s caf\u00e9 \ud83d\udc33. End',
      "  Leading space. Numbers 3.14 and 1,000. Wait... Then.\n \nLast paragraph?\u00a0Yes.  ",
      "No sentence end at all",
    ];
    for (const text of texts) {
      const { ids, sentenceStarts } = encodeDocument(tokenizer, { id: "t/x", source: "t", text });
      assert.deepEqual(ids, plain(text));
      assert.equal(sentenceStarts.length, documentSentenceSpans(text).length);
      assert.equal(sentenceStarts[0], 0);
      assert.ok(sentenceStarts.every((s, i) => i === 0 || s > sentenceStarts[i - 1]));
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Whole builds
// ---------------------------------------------------------------------------------------------------------

describe("build on synthetic documents", () => {
  const docs = [
    ...Array.from({ length: 6 }, (_, i) => makeDoc("essay", `doc${i}`, 8, 6)),
    { id: "sotu/someone", source: "sotu", text: Array.from({ length: 80 }, (_, k) => sentence("someone", k)).join(" ") },
  ];
  const assign: Record<string, "train" | "valid" | "test"> = {
    "essay/doc0": "train", "essay/doc1": "train", "essay/doc2": "valid", "essay/doc3": "test", "essay/doc4": "train", "essay/doc5": "test", "sotu/someone": "train",
  };
  const splits = writeLists(join(DIR, "lists"), assign);
  const o = options("full", docs, splits, { testCap: 3 });
  const { lead, pretrain } = buildSummarization(o);
  const pretrainDir = join(DIR, "full", "pretrain");
  /** The word each sentence of a document starts with (sentence(): its name, capitalized). */
  const tag = (id: string): string => { const t = id.split("/")[1]; return `${t[0].toUpperCase()}${t.slice(1)}`; };

  it("writes every file, aligned, with meta.json", () => {
    for (const split of ["train", "valid", "test"] as const) {
      const src = lines(join(o.out, `${split}.source.txt`));
      const tgt = lines(join(o.out, `${split}.target.txt`));
      const ld = lines(join(o.out, `${split}.lead.txt`));
      const srcIds = unpackUint16(readFileSync(join(o.out, `${split}.source.bin`)));
      const tgtIds = unpackUint16(readFileSync(join(o.out, `${split}.target.bin`)));
      assert.equal(src.length, lead.splits[split].examples);
      for (const n of [tgt.length, ld.length, srcIds.length, tgtIds.length]) assert.equal(n, src.length);
      src.forEach((line, i) => {
        assert.deepEqual(srcIds[i], plain(line));
        assert.deepEqual(tgtIds[i], plain(tgt[i]));
        assert.ok(line.startsWith(ld[i]) && splitSentences(line)[0] === ld[i], "lead is not the source's first sentence");
        assert.ok(srcIds[i].every((id) => id >= 4));
      });
    }
    assert.equal(lead.format, "lowbit-summarization-lead");
    assert.ok(lead.splits.test.beforeCap > 3);
    assert.equal(lead.splits.test.examples, 3);
    assert.ok(lead.splits.train.sources.sotu > 0 && lead.splits.train.sources.essay > 0);
    assert.equal(lead.xsum.sourceWords, 431.07);
    assert.deepEqual(JSON.parse(readFileSync(join(o.out, "meta.json"), "utf8")), JSON.parse(JSON.stringify(lead)));
    assert.equal((JSON.parse(readFileSync(join(pretrainDir, "meta.json"), "utf8")) as PretrainMeta).format, "lowbit-bart-pretrain");
  });

  it("splits never share a document, and pretrain holds train (resp. valid) documents only", () => {
    for (const split of ["train", "valid", "test"] as const) {
      const text = [...lines(join(o.out, `${split}.source.txt`)), ...lines(join(o.out, `${split}.target.txt`))].join(" ");
      for (const [id, s] of Object.entries(assign)) assert.equal(text.includes(`${tag(id)} s`), s === split, `${id} (${s}) in ${split}`);
    }
    for (const split of ["train", "valid"] as const) {
      const docsIds = unpackUint16(readFileSync(join(pretrainDir, `${split}.bin`)));
      const want = docs.filter((d) => assign[d.id] === split).sort((a, b) => (a.id < b.id ? -1 : 1));
      assert.deepEqual(docsIds.map((ids) => tokenizer.decode(ids)), want.map((d) => d.text));
      assert.equal(pretrain.splits[split].documents, want.length);
      const bytes = readFileSync(join(pretrainDir, `${split}.sentences.bin`));
      const starts = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readUInt32LE(i * 4));
      assert.equal(starts.length, want.reduce((n, d) => n + documentSentenceSpans(d.text).length, 0));
      // Each offset's sentence decodes to a sentence of the documents (with the whitespace before it).
      const flat = [...new Uint16Array(new Uint8Array(readFileSync(join(pretrainDir, `${split}.bin`))).buffer)];
      const ends = [...starts.slice(1), flat.length];
      const sentences = starts.map((s, i) => tokenizer.decode(flat.slice(s, ends[i]).filter((id) => id !== SEPARATOR_ID)).trim());
      assert.deepEqual(sentences, want.flatMap((d) => splitSentences(d.text)));
    }
    assert.equal(existsSync(join(pretrainDir, "test.bin")), false);
  });

  it("source ids are exactly what the BART runtime's summarize() feeds its encoder", async () => {
    const ckptDir = join(DIR, "bart");
    makeRandomBart(ckptDir, { layers: 1, dModel: 16, heads: 2, ffn: 32, vocab: 50265, positions: 512, seed: 1, std: 0.05 });
    const model = await loadBartModel(folderFiles(readCheckpoint(ckptDir)));
    const seen: number[][] = [];
    const encode = model.executor.encode.bind(model.executor);
    model.executor.encode = (ids: ArrayLike<number>): void => {
      seen.push(Array.from(ids));
      encode(ids);
    };
    const src = lines(join(o.out, "train.source.txt"));
    const ids = unpackUint16(readFileSync(join(o.out, "train.source.bin")));
    const picks = [0, Math.floor(src.length / 2), src.length - 1];
    for (const i of picks) await model.summarize(src[i], { numBeams: 1, maxNewTokens: 1, minLength: 0, noRepeatNgramSize: 0 });
    assert.deepEqual(seen, picks.map((i) => [0, ...ids[i], 2]));
  });
});

describe("errors leave nothing behind", () => {
  it("a document holding a special token is refused before anything is written", () => {
    const docs = [makeDoc("essay", "bad0", 4, 6), { ...makeDoc("essay", "bad1", 4, 6), text: `${makeDoc("essay", "bad1", 4, 6).text} The </s> tag.` }];
    const splits = writeLists(join(DIR, "lists-bad"), { "essay/bad0": "train", "essay/bad1": "train" });
    const o = options("bad", docs, splits);
    assert.throws(() => buildSummarization(o), /contains BART special token "<\/s>"/);
    assert.equal(existsSync(join(DIR, "bad")), false);
  });

  it("no split lists: an error naming the fix", () => {
    assert.throws(() => buildSummarization(options("nolists", [makeDoc("essay", "x", 2, 2)], join(DIR, "nowhere"))), /no split lists.*build_corpus/);
    assert.equal(existsSync(join(DIR, "nolists")), false);
  });

  it("CLI: --sword-root pointing nowhere gives one error line, exit 1, and no output", () => {
    const out = join(DIR, "cli", "lead");
    const r = spawnSync(process.execPath, ["--import", "tsx", SCRIPT, "--out", out, "--sword-root", join(DIR, "no-sword")], { cwd: ROOT, encoding: "utf8" });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^build_summarization: error: .*no-sword\/mods\.d\/engKJV2006eb\.conf: SWORD module of source kjv not found \(install the Debian package: apt-get install sword-text-kjv.*\)\n$/);
    assert.equal(existsSync(join(DIR, "cli")), false);
  });

  it("CLI: a bad number is refused by name", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", SCRIPT, "--out", join(DIR, "cli2"), "--test-cap", "many"], { cwd: ROOT, encoding: "utf8" });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--test-cap: expected an integer >= 1, found "many"/);
    assert.equal(existsSync(join(DIR, "cli2")), false);
  });
});
