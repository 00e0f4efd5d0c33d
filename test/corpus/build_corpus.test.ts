// The corpus builder (scripts/build_corpus.ts) on three small user text files: token files that decode
// back to the documents, the same bytes on a second run, the split rule and the split lists; and the
// Brown corpus detagger (scripts/corpus_sources.ts). Needs neither the built corpus nor a GPU: a few
// seconds, most of it two child processes running the real CLI.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { buildCorpus, fnv1a32, loadGpt2Tokenizer, splitByRule, SPLITS, type BuildOptions, type CorpusMeta, type Split } from "../../scripts/build_corpus.js";
import { brownToText } from "../../scripts/corpus_sources.js";
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
