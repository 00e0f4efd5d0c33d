// Runs lowbit's runtime in headless Chromium for tests: bundles src/runtime/index.ts for the browser with
// esbuild, serves the bundle, the built .wasm kernels and model bytes from a local HTTP server, and drives
// a page through playwright-core (at "/", or at "/isolated/", served with COOP/COEP so that it is cross-origin
// isolated and the runtime may run threads). Not a general browser harness: one page, one origin; lowbit's GPT-2
// generation and BART summarization, and any other served files a test adds (transformers.js:
// test/helpers/browser_transformers.ts).
//
// Nothing here reaches the network: the server binds 127.0.0.1 on an ephemeral port and Chromium is
// started with its background services (updates, sync, QUIC probes) off, as the test machines have no
// other network.

import assert from "node:assert/strict";
import { after, before } from "node:test";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { bundleForBrowser } from "../../scripts/build_demo.js";
import { closeServer, contentType } from "../../src/demo/server.js";
import type { FolderFiles, GenerateOptions, Seq2SeqOptions } from "../../src/runtime/index.js";
import { kernelFileName, type KernelVariant } from "../../src/runtime/kernels.js";
import { ROOT } from "./fixtures.js";

/** Debian's chromium package; playwright-core ships no browser of its own. */
export const CHROMIUM = "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--no-sandbox", // the test runs as root in a container, where Chromium's sandbox cannot start
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const VARIANTS: KernelVariant[] = ["simd", "scalar"];

/** Path of a built kernel file (`threaded`: the threads build); fails with the fix when `npm run build` has not run. */
export function kernelPath(variant: KernelVariant, threaded = false): string {
  const path = join(ROOT, "build", kernelFileName(variant, threaded));
  assert.ok(existsSync(path), `${path} is missing: run \`npm run build\``);
  return path;
}

// ---------------------------------------------------------------------------------------------------------
// Bundle

/**
 * Bundles the runtime's public API into one ES module for browsers and returns its text (scripts/build_demo.ts's
 * bundleForBrowser, as the demo is bundled). index.ts reaches Node's fs only through a dynamic import in a branch
 * a browser never takes; a *static* import of a Node built-in would break the module at load in a browser, so it
 * is an error. The bundle stays in memory: nothing to clean up on disk.
 */
export async function bundleRuntime(): Promise<string> {
  const result = await bundleForBrowser(join(ROOT, "src", "runtime", "index.ts"), "lowbit.js");
  const warnings = result.warnings.map((w) => `${w.location?.file ?? "?"}:${w.location?.line ?? "?"}: ${w.text}`);
  assert.deepEqual(warnings, [], "esbuild warned while bundling src/runtime/index.ts for the browser");
  assert.deepEqual(
    result.staticNodeImports.map((i) => `${i.path} (${i.kind})`),
    [],
    "the browser bundle of src/runtime/index.ts imports Node built-ins statically; the runtime may reach them only through `await import()` in its Node branch",
  );
  assert.equal(result.outputFiles.length, 1, "esbuild wrote one bundle");
  return result.outputFiles[0].text;
}

// ---------------------------------------------------------------------------------------------------------
// Page-side code
//
// Served as a module rather than passed to page.evaluate as a function: tsx compiles this file, and the
// helpers it may insert into a function's source (such as __name) do not exist in the page.

const INDEX_HTML = `<!doctype html><meta charset="utf-8"><title>lowbit browser test</title>`;

const DRIVER_JS = `
import { loadModel } from "/lowbit.js";

const kernels = (variant) => new URL("/kernels/lowbit." + variant + ".wasm", location.href);
const isNode = () => typeof process !== "undefined";
// The threads build rides along; the runtime fetches it only where it runs threads (a cross-origin isolated page).
const load = (source, variant, threads) => loadModel(source, { kernels: kernels(variant), threadKernels: kernels("simd-threads"), variant, threads });
const host = (m) => ({ kernelVariant: m.kernelVariant, threads: m.threads, crossOriginIsolated: globalThis.crossOriginIsolated === true, isNode: isNode() });

async function streamIds(m, prompt, options) {
  const ids = [];
  for await (const tok of m.generate(prompt, options)) if (tok.id >= 0) ids.push(tok.id);
  return ids;
}

// Loads a model onto the served kernels, checks its family where one is named, runs f on it and disposes of it;
// returns f's ids and where the model ran.
async function withModel(source, { model, variant, threads }, family, f) {
  const m = await load(source, variant, threads);
  try {
    if (family !== undefined && m.modelType !== family) throw new Error("/models/" + model + "/ loaded as " + m.modelType);
    return { ids: await f(m), ...host(m) };
  } finally {
    m.dispose();
  }
}

const folder = (model) => new URL("/models/" + model + "/", location.href);

// Loads a served single-file model (fetched here, passed as bytes) onto the served kernels and returns the
// ids that generate() streams.
export async function generateIds(a) {
  const response = await fetch("/models/" + a.model);
  if (!response.ok) throw new Error("GET /models/" + a.model + ": HTTP " + response.status);
  const bytes = new Uint8Array(await response.arrayBuffer());
  return withModel(bytes, a, undefined, (m) => streamIds(m, a.prompt, a.options));
}

// The same from a served folder, which loadModel reads itself by URL (config.json, then onnx/...).
export async function generateFolderIds(a) {
  return withModel(folder(a.model), a, "gpt2", (m) => streamIds(m, a.prompt, a.options));
}

// Loads a served BART folder by URL and returns summarize()'s ids for each set of options, in order.
export async function summarizeIds(a) {
  return withModel(folder(a.model), a, "bart", async (m) => {
    const ids = [];
    for (const options of a.runs) ids.push((await m.summarize(a.input, options)).ids);
    return ids;
  });
}
`;

// ---------------------------------------------------------------------------------------------------------
// Server and browser

/** What the page's model reported about where it ran. */
export interface PageHost {
  kernelVariant: KernelVariant;
  /** The model's `threads`: more than 1 only on a cross-origin isolated page. */
  threads: number;
  /** The page's crossOriginIsolated (served with COOP: same-origin and COEP: require-corp: the /isolated/ page). */
  crossOriginIsolated: boolean;
  /** Whether the page saw a Node `process` global (it must not: the runtime would take its Node paths). */
  isNode: boolean;
}

export interface PageSummaries extends PageHost {
  /** summarize()'s ids (after decoder_start_token_id) for each options object, in order. */
  ids: number[][];
}

/** A response body and its content type. */
interface Served {
  type: string;
  body: string | Uint8Array;
  headers?: Record<string, string>;
}

/** What makes a page cross-origin isolated, so that it may share memory with workers (threads). */
export const ISOLATION_HEADERS = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };

export interface PageGeneration extends PageHost {
  ids: number[];
}

/** One HTTP server and one Chromium page for a whole test file; `close()` in an after hook. */
export class BrowserRuntime {
  private readonly pageErrors: string[] = [];
  /** Every path the page asked for, in order, with its status ("GET /models/x/config.json 200"). */
  private readonly requestLog: string[];

  private constructor(
    private readonly server: Server,
    private readonly browser: Browser,
    private readonly page: Page,
    readonly origin: string,
    /** Everything the server answers, by URL path (shared with the request handler); anything else is a 404. */
    private readonly routes: Map<string, Served>,
    requestLog: string[],
  ) {
    this.requestLog = requestLog;
  }

  /** Bundles the runtime, starts the server on 127.0.0.1:<ephemeral> and opens a page on it in Chromium. */
  static async start(): Promise<BrowserRuntime> {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: the browser tests need Debian's chromium package; run \`scripts/setup.sh\``);
    const kernels = new Map(VARIANTS.map((v) => [v, readFileSync(kernelPath(v))]));
    const bundle = await bundleRuntime();

    const page = (headers?: Record<string, string>): Served => ({ type: contentType("index.html"), body: INDEX_HTML, headers });
    const file = (path: string, body: string | Uint8Array): [string, Served] => [path, { type: contentType(path), body }];
    const routes = new Map<string, Served>([
      ["/", page()],
      // The same page, cross-origin isolated: everything else it loads is same-origin, so needs no CORP header.
      ["/isolated/", page(ISOLATION_HEADERS)],
      file(`/kernels/${kernelFileName("simd", true)}`, readFileSync(kernelPath("simd", true))),
      file("/lowbit.js", bundle),
      file("/driver.js", DRIVER_JS),
      ...[...kernels].map(([v, bytes]) => file(`/kernels/lowbit.${v}.wasm`, bytes)),
    ]);
    const requestLog: string[] = [];
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
      const found = routes.get(path);
      requestLog.push(`${req.method} ${path} ${found === undefined ? 404 : 200}`);
      if (found !== undefined) {
        res.writeHead(200, { "content-type": found.type, "cache-control": "no-store", ...found.headers });
        res.end(req.method === "HEAD" ? undefined : found.body);
      } else {
        res.writeHead(404, { "content-type": "text/plain" });
        res.end(`not found: ${path}`);
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
      const page = await browser.newPage();
      const self = new BrowserRuntime(server, browser, page, origin, routes, requestLog);
      const errors = self.pageErrors;
      page.on("pageerror", (err) => errors.push(err.message));
      page.on("console", (msg) => msg.type() === "error" && errors.push(msg.text()));
      await page.goto(`${origin}/`);
      return self;
    } catch (err) {
      await browser?.close();
      await closeServer(server);
      throw err;
    }
  }

  /** The browser's version string, e.g. "156.0.8078.108". */
  version(): string {
    return this.browser.version();
  }

  /** Serves a body at a URL path ("/tjs/transformers.js"); the content type by default from the extension. */
  serve(path: string, body: string | Uint8Array, type = contentType(path)): void {
    assert.ok(path.startsWith("/") && !path.includes(".."), `bad path ${path}`);
    this.routes.set(path, { type, body });
  }

  /** The requests the server has answered so far, "GET /path 200" each, oldest first. */
  requests(): string[] {
    return [...this.requestLog];
  }

  /** Makes model bytes available to the page under /models/<name>. */
  serveModel(name: string, bytes: Uint8Array): void {
    this.serve(`/models/${name}`, bytes);
  }

  /** Serves every file of a folder export at /models/<name>/<its relative path>. */
  serveFolder(name: string, folder: FolderFiles): void {
    for (const [rel, bytes] of Object.entries(folder.files)) this.serve(`/models/${name}/${rel}`, bytes);
  }

  private requireServed(path: string, what: string): void {
    assert.ok(this.routes.has(path), `${what} is not served (${path}): serve it first`);
  }

  /**
   * Imports a served module in the page and calls one of its exports with a JSON argument; returns what it
   * resolves to (structured-cloned). A failure names the call and every error the page reported.
   */
  async call<T>(module: string, fn: string, arg: unknown, what = `${module} ${fn}`): Promise<T> {
    this.requireServed(module, "module");
    const errorsBefore = this.pageErrors.length;
    try {
      return await this.page.evaluate<T>(`import(${JSON.stringify(module)}).then((m) => m[${JSON.stringify(fn)}](${JSON.stringify(arg)}))`);
    } catch (err) {
      const seen = this.pageErrors.slice(errorsBefore);
      const errors = seen.length > 0 ? `\npage errors:\n  ${seen.join("\n  ")}` : "";
      throw new Error(`${what} in Chromium failed: ${(err as Error).message}${errors}`);
    }
  }

  /**
   * Runs loadModel (bytes) + generate in the page and returns the token ids (the trailing text-only item
   * dropped). `threads`: the load option (by default the page's core count, where the page may share memory).
   */
  async generate(model: string, variant: KernelVariant, prompt: number[], options: GenerateOptions, threads?: number): Promise<PageGeneration> {
    this.requireServed(`/models/${model}`, `model "${model}"`);
    return this.call("/driver.js", "generateIds", { model, variant, prompt, options, threads }, `generation (${model}, ${variant})`);
  }

  /** Runs loadModel(URL of the served folder /models/<model>/) + generate on a GPT-2 folder in the page. */
  async generateFolder(model: string, variant: KernelVariant, prompt: number[], options: GenerateOptions): Promise<PageGeneration> {
    this.requireServed(`/models/${model}/config.json`, `folder "${model}"`);
    return this.call("/driver.js", "generateFolderIds", { model, variant, prompt, options }, `generation (${model}/, ${variant})`);
  }

  /** Loads the served BART folder /models/<model>/ by URL and runs summarize() once per options object. */
  async summarize(model: string, variant: KernelVariant, input: number[], runs: Seq2SeqOptions[], threads?: number): Promise<PageSummaries> {
    this.requireServed(`/models/${model}/config.json`, `folder "${model}"`);
    assert.ok(runs.every((o) => o.signal === undefined), "an AbortSignal cannot cross into the page");
    return this.call("/driver.js", "summarizeIds", { model, variant, input, runs, threads }, `summarize (${model}/, ${variant})`);
  }

  /** Navigates the page to a served path: "/isolated/" (cross-origin isolated) or "/" (not); the driver's calls then run there. */
  async goto(path: string): Promise<void> {
    this.requireServed(path, "page");
    await this.page.goto(`${this.origin}${path}`);
  }

  async close(): Promise<void> {
    await this.browser.close();
    await closeServer(this.server);
  }
}

/**
 * One Chromium for a test file: registers before/after hooks that start it, run `setup` (serve models, load
 * Node's side) and close it, and returns the accessor tests call. A failing before hook would only mark the
 * tests "cancelled"; keeping its error and rethrowing it in every test makes a missing Chromium or build
 * count as failures.
 */
export function browserForFile(setup: (b: BrowserRuntime) => Promise<void> | void): () => BrowserRuntime {
  let started: BrowserRuntime | undefined;
  let setupError: unknown;
  before(async () => {
    try {
      started = await BrowserRuntime.start();
      await setup(started);
    } catch (err) {
      setupError = err;
    }
  });
  after(async () => {
    await started?.close();
  });
  return () => {
    if (setupError !== undefined) throw setupError;
    return started!;
  };
}
