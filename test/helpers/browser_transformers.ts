// transformers.js in the BrowserRuntime page (test/helpers/browser.ts): serves @huggingface/transformers'
// self-contained browser build (dist/transformers.min.js, the file its package names for jsdelivr/unpkg,
// onnxruntime-web inlined) and the onnxruntime-web WebAssembly files that build loads at run time, all from
// the test's local server, plus a page-side driver that configures transformers.js for local models only.
//
// The ORT files must be those of the exact onnxruntime-web version transformers.js was built with (its own
// nested dependency, not the project's onnxruntime-web devDependency, which may be another version): the
// .mjs factory and the .wasm must match the JS glue inlined in transformers.min.js.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { BrowserRuntime } from "./browser.js";
import { ROOT } from "./fixtures.js";

const TJS_DIR = join(ROOT, "node_modules", "@huggingface", "transformers");

/** Where transformers.js is served, and the prefix its env.backends.onnx.wasm.wasmPaths gets. */
export const TJS_MODULE = "/tjs/transformers.min.js";
export const ORT_PREFIX = "/ort/";
export const TJS_DRIVER = "/tjs-driver.js";

/**
 * The files transformers.min.js 4.x asks onnxruntime-web for on the WASM backend: the asyncify build (the one
 * it uses in browsers; see `wasmPathSuffix` in its src/backends/onnx.js), factory and binary.
 */
const ORT_FILES = ["ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm"];

interface PackageJson {
  version: string;
  dependencies?: Record<string, string>;
}

const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8")) as PackageJson;

/** onnxruntime-web's dist/ for the version transformers.js depends on (nested, else hoisted). */
function ortDistDir(): { dir: string; version: string } {
  const tjs = readJson(join(TJS_DIR, "package.json"));
  const wanted = tjs.dependencies?.["onnxruntime-web"];
  assert.ok(wanted !== undefined, `${TJS_DIR}/package.json names no onnxruntime-web dependency`);
  const candidates = [join(TJS_DIR, "node_modules", "onnxruntime-web"), join(ROOT, "node_modules", "onnxruntime-web")];
  const found = candidates.filter((d) => existsSync(join(d, "package.json"))).map((d) => ({ dir: join(d, "dist"), version: readJson(join(d, "package.json")).version }));
  const match = found.find((f) => f.version === wanted);
  assert.ok(match !== undefined, `transformers.js ${tjs.version} needs onnxruntime-web ${wanted}; found ${found.map((f) => `${f.version} in ${f.dir}`).join(", ") || "none"}: run \`npm ci\``);
  return match;
}

/** Serves transformers.min.js, ORT's .mjs/.wasm and the page driver on the runtime's server. */
export function serveTransformersJs(rt: BrowserRuntime): { version: string; ortVersion: string } {
  const tjsFile = join(TJS_DIR, "dist", "transformers.min.js");
  assert.ok(existsSync(tjsFile), `${tjsFile} is missing: the browser tests need the devDependency @huggingface/transformers; run \`npm ci\``);
  const ort = ortDistDir();
  rt.serve(TJS_MODULE, readFileSync(tjsFile));
  for (const f of ORT_FILES) rt.serve(`${ORT_PREFIX}${f}`, readFileSync(join(ort.dir, f)));
  rt.serve(TJS_DRIVER, DRIVER_JS);
  return { version: readJson(join(TJS_DIR, "package.json")).version, ortVersion: ort.version };
}

// Page side. Plain JS served as a module, as in browser.ts: tsx-compiled functions may not survive a trip
// through page.evaluate.
const DRIVER_JS = `
import * as T from "${TJS_MODULE}";

const { env } = T;
// Local files only: a model id "x" is fetched from /models/x/<file> on this server, never from the Hub.
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = "/models/";
// No Cache Storage: every run reads what the server serves now.
env.useBrowserCache = false;
env.useWasmCache = false;
// ORT's WebAssembly from this server, one thread (the page is not cross-origin isolated anyway).
env.backends.onnx.wasm.wasmPaths = new URL("${ORT_PREFIX}", location.href).href;
env.backends.onnx.wasm.numThreads = 1;

const ids64 = (ids) => new T.Tensor("int64", BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
const firstRow = (t) => t.tolist()[0].map(Number);

export function info() {
  return {
    version: env.version,
    ortWeb: env.backends.onnx.versions?.web ?? null,
    isNode: typeof process !== "undefined",
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
  };
}

// AutoModelForCausalLM.generate on prompt ids; returns the whole sequence (prompt first).
export async function causalGenerate({ model, prompt, options }) {
  const m = await T.AutoModelForCausalLM.from_pretrained(model);
  try {
    return firstRow(await m.generate({ input_ids: ids64(prompt), attention_mask: ids64(prompt.map(() => 1)), ...options }));
  } finally {
    await m.dispose();
  }
}

// The text-generation pipeline on a text prompt; returns its text and the prompt's ids.
export async function textGeneration({ model, text, options }) {
  const generator = await T.pipeline("text-generation", model);
  try {
    const [result] = await generator(text, options);
    return { text: result.generated_text, promptIds: generator.tokenizer.encode(text) };
  } finally {
    await generator.dispose();
  }
}

// AutoModelForSeq2SeqLM.generate on input ids, once per settings object (generate() keyword arguments layered
// over the folder's generation_config.json); returns each whole sequence (decoder_start_token_id first).
export async function seq2seqGenerate({ model, input, runs }) {
  const m = await T.AutoModelForSeq2SeqLM.from_pretrained(model);
  try {
    const out = [];
    for (const settings of runs) out.push(firstRow(await m.generate({ input_ids: ids64(input), attention_mask: ids64(input.map(() => 1)), ...settings })));
    return out;
  } finally {
    await m.dispose();
  }
}

// The summarization pipeline on a text; returns its summary and the text's ids.
export async function summarization({ model, text, options }) {
  const summarizer = await T.pipeline("summarization", model);
  try {
    const [result] = await summarizer(text, options);
    return { text: result.summary_text, inputIds: summarizer.tokenizer.encode(text) };
  } finally {
    await summarizer.dispose();
  }
}
`;
