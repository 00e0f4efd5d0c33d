// The browser demo end to end (`lowbit serve`, src/demo/): the server's headers, listing and path checks; then the
// page in Debian's headless Chromium, driven as a user would (pick a model, type, click), whose streamed token ids
// must equal Node's loadModel(...).generate / summarize ids with the same options; Stop; local files through the
// file and folder inputs. It saves a screenshot of a finished greedy GPT-2 run to docs/demo.png.
//
// The page is built from the current sources into a temp folder (scripts/build_demo.ts's buildDemo), so a stale
// dist/ cannot hide a change; only the `lowbit serve` command test uses dist/demo/page/ (`npm run build`).
//
// Needs build/*.wasm (`npm run build`), src/runtime/embedded_kernels/ (the same build) and /usr/bin/chromium
// (`scripts/setup.sh`); fails, not skips, without them.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { request, type IncomingHttpHeaders } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { buildDemo } from "../../scripts/build_demo.js";
import { DEFAULT_PAGE_DIR, startDemoServer, type DemoServer } from "../../src/demo/server.js";
import { LowbitError } from "../../src/errors.js";
import { writeFileAtomic } from "../../src/export/atomic_write.js";
import { readBartCheckpoint, readGpt2Checkpoint } from "../../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint, type QuantizeSettings } from "../../src/export/export.js";
import { buildFolderExport, writeFolder } from "../../src/export/hf_folder.js";
import { loadModel, type GenerateOptions, type ModelSource, type Seq2SeqOptions } from "../../src/runtime/index.js";
import { bartFixtureDir } from "../helpers/bart_fixtures.js";
import { CHROMIUM, CHROMIUM_ARGS } from "../helpers/browser.js";
import { cliArgv } from "../helpers/cli.js";
import { fixtureDir, removeTempDir, ROOT, tempDir } from "../helpers/fixtures.js";

const W2: QuantizeSettings = { weightBits: 2, embeddingBits: 2, activationBits: 8, granularity: "module", groupSize: 0, clip: "mse" };

const BUNDLED_GPT2 = join(ROOT, "models", "quantgpt-228.onnx");
const BUNDLED_BART = join(ROOT, "models", "quantbart-228");
const PROMPT = "The President said that";
const ARTICLE = "The Congress has before it a bill to improve the rivers and harbors of the country. The farmers of the West have " +
  "long asked for cheaper means of carrying their grain to the markets of the East. Our canals are old and our roads are " +
  "few. I recommend that the bill be passed at this session, and that the work begin in the spring.";
const SCREENSHOT = join(ROOT, "docs", "demo.png");

/** Long enough for a model load or a BART beam search on a busy 2-core machine; a bound on hangs, not a timing check. */
const WAIT_MS = 300_000;

// ---------------------------------------------------------------------------------------------------------
// Node's side

interface Run {
  ids: number[];
  text: string;
}

/** What the page must show: Node's runtime, one thread, on the same model and options. */
async function nodeRun(source: ModelSource, input: string, options: GenerateOptions | Seq2SeqOptions): Promise<Run> {
  const m = await loadModel(source, { threads: 1 });
  try {
    const ids: number[] = [];
    let text = "";
    const stream = m.modelType === "gpt2" ? m.generate(input, options as GenerateOptions) : m.generate(input, options as Seq2SeqOptions);
    for await (const token of stream) {
      if (token.id >= 0) ids.push(token.id);
      text += token.text;
    }
    return { ids, text };
  } finally {
    m.dispose();
  }
}

/** Guards against a vacuous equality: a broken model emitting one token everywhere would match itself. */
function assertVaried(ids: number[], what: string): void {
  assert.ok(new Set(ids).size > 3, `${what}: ${new Set(ids).size} distinct ids in ${ids.join(",")}; expected a varied output`);
}

// ---------------------------------------------------------------------------------------------------------
// HTTP as sent: node:http keeps "/../" in the path, where fetch() would resolve it away.

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function rawRequest(port: number, path: string, method = "GET"): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------------------
// The page

/** The page's own record of its state (data attributes, src/demo/app.ts's header). */
interface PageRun extends Run {
  state: string;
  options: Record<string, unknown>;
  error: string;
}

class DemoPage {
  readonly errors: string[] = [];

  constructor(readonly page: Page) {
    page.on("pageerror", (err) => this.errors.push(err.message));
    page.on("console", (msg) => msg.type() === "error" && this.errors.push(msg.text()));
  }

  private context(): string {
    return this.errors.length > 0 ? `; page errors: ${this.errors.join(" | ")}` : "";
  }

  /** Waits until the model named `name` is loaded (or its load failed: then fails naming the page's error line). */
  async waitForModel(name: string): Promise<{ family: string; threads: number }> {
    await this.page.waitForFunction((n) => {
      const s = document.getElementById("model-status")!;
      return s.dataset.name === n && (s.dataset.state === "ready" || s.dataset.state === "error");
    }, name, { timeout: WAIT_MS });
    const status = await this.page.evaluate(() => {
      const s = document.getElementById("model-status")!.dataset;
      return { state: s.state, family: s.family, threads: s.threads, error: document.getElementById("error")!.textContent };
    });
    assert.equal(status.state, "ready", `loading ${name} in the page failed: ${status.error}${this.context()}`);
    return { family: status.family!, threads: Number(status.threads) };
  }

  async pickServed(name: string): Promise<void> {
    await this.page.selectOption("#model-select", name);
    await this.waitForModel(name);
  }

  /** Fills the given form fields (by element id; booleans set checkboxes), clicks Run and waits for the run to end. */
  async run(input: string, fields: Record<string, string | boolean>, whileRunning?: () => Promise<void>): Promise<PageRun> {
    await this.page.fill("#prompt", input);
    for (const [id, value] of Object.entries(fields)) {
      if (typeof value === "boolean") await this.page.setChecked(`#${id}`, value);
      else await this.page.fill(`#${id}`, value);
    }
    await whileRunning?.();
    await this.page.click("#run");
    await this.page.waitForFunction(() => document.getElementById("output")!.dataset.state !== "running", undefined, { timeout: WAIT_MS });
    const r = await this.page.evaluate(() => {
      const output = document.getElementById("output")!;
      const prompt = output.querySelector(".prompt")?.textContent ?? "";
      return {
        state: output.dataset.state!, ids: output.dataset.ids!, options: output.dataset.options!,
        text: output.textContent!.slice(prompt.length), error: document.getElementById("error")!.textContent ?? "",
      };
    });
    return { state: r.state, ids: r.ids === "" ? [] : r.ids.split(",").map(Number), options: JSON.parse(r.options) as Record<string, unknown>, text: r.text, error: r.error };
  }

  assertDone(r: PageRun, what: string): void {
    assert.equal(r.state, "done", `${what}: the page's run ended "${r.state}": ${r.error}${this.context()}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Tests

describe("the browser demo: `lowbit serve` and its page in headless Chromium", () => {
  let tmp: string;
  let server: DemoServer;
  let browser: Browser | undefined;
  let demo: DemoPage;
  let setupError: unknown;
  let tinyGpt2: string;
  let tinyBart: string;
  let pageDir: string;

  before(async () => {
    try {
      assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: the browser tests need Debian's chromium package; run \`scripts/setup.sh\``);
      tmp = tempDir("lowbit-demo-");
      pageDir = join(tmp, "page");
      await buildDemo(pageDir);
      // Two tiny local models, opened through the page's file and folder inputs (and served with --model).
      tinyGpt2 = join(tmp, "tiny-w2.onnx");
      writeFileAtomic(tinyGpt2, exportGpt2(quantizeCheckpoint(readGpt2Checkpoint(fixtureDir("tiny-f32")), W2), { format: "dq", activationBits: 8, source: "test" }).bytes);
      tinyBart = join(tmp, "tiny-bart");
      writeFolder(tinyBart, buildFolderExport(quantizeCheckpoint(readBartCheckpoint(bartFixtureDir("bart-f32")), W2), { format: "dq", activationBits: 8, source: "test" }).files);
      server = await startDemoServer({ port: 0, pageDir, models: [tinyGpt2, tinyBart] });
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
      const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
      demo = new DemoPage(page);
      await page.goto(server.url);
      await demo.waitForModel("quantgpt-228.onnx"); // the page loads the first listed model by itself
    } catch (err) {
      setupError = err;
    }
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (tmp !== undefined) removeTempDir(tmp);
  });

  /** A failing before hook would only mark the tests "cancelled"; rethrowing its error in each makes them fail. */
  const ready = () => {
    if (setupError !== undefined) throw setupError;
  };

  it("serves /models.json: the bundled models first, then each --model, with family, URL and bytes", async () => {
    ready();
    const r = await rawRequest(server.port, "/models.json");
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /^application\/json/);
    const size = (p: string) => statSync(p).size;
    const bartBytes = (dir: string, suffix: string) => size(join(dir, "onnx", `encoder_model${suffix}.onnx`)) + size(join(dir, "onnx", `decoder_model_merged${suffix}.onnx`));
    assert.deepEqual(JSON.parse(r.body.toString("utf8")), {
      models: [
        { name: "quantgpt-228.onnx", family: "gpt2", url: "/models/quantgpt-228.onnx", bytes: size(BUNDLED_GPT2), bundled: true },
        { name: "quantbart-228", family: "bart", url: "/models/quantbart-228/", bytes: bartBytes(BUNDLED_BART, "_q2"), bundled: true },
        { name: "tiny-w2.onnx", family: "gpt2", url: "/models/tiny-w2.onnx", bytes: size(tinyGpt2), bundled: false },
        { name: "tiny-bart", family: "bart", url: "/models/tiny-bart/", bytes: bartBytes(tinyBart, "_q2"), bundled: false },
      ],
    });
  });

  it("sends COOP, COEP and CORP and the right content type with everything it serves", async () => {
    ready();
    const expectTypes: [string, RegExp][] = [
      ["/", /^text\/html/], ["/app.js", /^text\/javascript/], ["/app.css", /^text\/css/],
      ["/kernels/lowbit.simd.wasm", /^application\/wasm$/], ["/kernels/lowbit.scalar.wasm", /^application\/wasm$/],
      ["/kernels/lowbit.simd-threads.wasm", /^application\/wasm$/], ["/models.json", /^application\/json/],
      ["/models/quantgpt-228.onnx", /^application\/octet-stream$/], ["/models/quantbart-228/config.json", /^application\/json/],
      ["/models/quantbart-228/onnx/encoder_model_q2.onnx", /^application\/octet-stream$/], ["/models/tiny-bart/generation_config.json", /^application\/json/],
    ];
    for (const [path, type] of expectTypes) {
      const r = await rawRequest(server.port, path, "HEAD");
      assert.equal(r.status, 200, `HEAD ${path}`);
      assert.match(String(r.headers["content-type"]), type, `${path}: content type`);
      assert.equal(r.headers["cross-origin-opener-policy"], "same-origin", `${path}: COOP`);
      assert.equal(r.headers["cross-origin-embedder-policy"], "require-corp", `${path}: COEP`);
      assert.equal(r.headers["cross-origin-resource-policy"], "same-origin", `${path}: CORP`);
      assert.equal(r.body.length, 0, `HEAD ${path} sends no body`);
    }
    const page = await rawRequest(server.port, "/");
    assert.match(page.body.toString("utf8"), /<script type="module" src="app.js"><\/script>/);
    const notFound = await rawRequest(server.port, "/nope.js");
    assert.equal(notFound.status, 404);
    assert.equal(notFound.headers["cross-origin-embedder-policy"], "require-corp", "a 404 is isolated too");
    assert.equal((await rawRequest(server.port, "/", "POST")).status, 405);
  });

  it("refuses every path outside what it serves (.., encoded .., folders, unknown kernels)", async () => {
    ready();
    const escapes = [
      "/../package.json", "/%2e%2e/package.json", "/..%2fpackage.json", "/app.js/../../package.json",
      "/models/quantbart-228/../../package.json", "/models/quantbart-228/%2e%2e/%2e%2e/package.json",
      "/models/quantbart-228/onnx/..%2f..%2f..%2fpackage.json", "/models/tiny-bart/..%5c..%5cpage%5capp.js",
      "/models/quantgpt-228.onnx/../../package.json", "/models/quantgpt-228.onnx/x", "/models/quantbart-228/",
      "/models/quantbart-228", "/models/", "/models/%", "/kernels/../package.json", "/kernels/lowbit.simd.wat",
      "/models/quantbart-228//etc/passwd", `/models/tiny-bart/${encodeURIComponent(join(tmp, "tiny-w2.onnx"))}`,
    ];
    for (const path of escapes) {
      const r = await rawRequest(server.port, path);
      assert.ok(r.status === 404 || r.status === 400, `GET ${path}: HTTP ${r.status}, expected 404 or 400`);
      assert.doesNotMatch(r.body.toString("utf8"), /"name": "lowbit"/, `GET ${path} leaked package.json`);
    }
  });

  it("refuses a bad --model or a taken port with one line naming it", async () => {
    ready();
    const missing = join(tmp, "missing.onnx");
    await assert.rejects(startDemoServer({ port: 0, pageDir, bundled: false, models: [missing] }), (err: Error) =>
      err instanceof LowbitError && err.message.startsWith(`${missing}: no such model file or folder`) && !err.message.includes("\n"));
    const notModel = join(pageDir, "app.css");
    await assert.rejects(startDemoServer({ port: 0, pageDir, bundled: false, models: [notModel] }), (err: Error) =>
      err instanceof LowbitError && err.message.includes(notModel));
    await assert.rejects(startDemoServer({ port: server.port, pageDir, bundled: false }), (err: Error) =>
      err instanceof LowbitError && err.message.includes("EADDRINUSE") && err.message.includes("--port 0"));
    await assert.rejects(startDemoServer({ port: 0, pageDir: join(tmp, "no-page") }), (err: Error) =>
      err instanceof LowbitError && err.message.includes("the demo page is not built") && err.message.includes("npm run build"));
  });

  it("the page is cross-origin isolated and runs the bundled GPT-2 on more than one thread", async () => {
    ready();
    assert.equal(await demo.page.evaluate(() => globalThis.crossOriginIsolated), true);
    const { family, threads } = await demo.waitForModel("quantgpt-228.onnx");
    assert.equal(family, "gpt2");
    assert.ok(threads > 1, `the page runs ${threads} thread(s); a cross-origin isolated page on a multi-core machine runs more than one`);
    assert.match(await demo.page.textContent("#isolated") ?? "", /^yes/);
  });

  it("bundled GPT-2, greedy, 32 tokens: the page streams Node's ids and text (screenshot: docs/demo.png)", async () => {
    ready();
    await demo.pickServed("quantgpt-228.onnx");
    const page = await demo.run(PROMPT, { "max-new-tokens": "32", temperature: "0", "stop-at-eos": true });
    demo.assertDone(page, "GPT-2 greedy");
    // The form's other fields keep their defaults (top-k, penalty, seed): temperature 0 is greedy whatever they say.
    const options: GenerateOptions = { maxNewTokens: 32, temperature: 0, topK: 40, repetitionPenalty: 1.2, seed: 1, stopAtEos: true };
    assert.deepEqual(page.options, options, "the options the page passed to generate()");
    const node = await nodeRun(BUNDLED_GPT2, PROMPT, options);
    assertVaried(node.ids, "Node, quantgpt-228 greedy");
    assert.deepEqual(page.ids, node.ids);
    assert.equal(page.text, node.text);
    assert.match(await demo.page.textContent("#speed") ?? "", /^prefill \d+ tokens at [\d.]+ tok\/s; decode \d+ tokens at [\d.]+ tok\/s/);
    assert.match(await demo.page.textContent("#memory") ?? "", /^WASM [\d.]+ MiB/);
    assert.equal(await demo.page.isHidden("#bart-options"), true, "a GPT-2 model shows GPT-2's options only");
    assert.equal(await demo.page.textContent("#run"), "Generate");
    writeFileAtomic(SCREENSHOT, await demo.page.screenshot({ fullPage: true }));
  });

  it("bundled BART summarizes with its generation_config.json's defaults: Node's ids and text", async () => {
    ready();
    await demo.pickServed("quantbart-228");
    const page = await demo.run(ARTICLE, { "num-beams": "", "bart-max-new-tokens": "" });
    demo.assertDone(page, "BART summary");
    assert.deepEqual(page.options, {}, "blank fields leave every option to generation_config.json");
    const node = await nodeRun(BUNDLED_BART, ARTICLE, {});
    assertVaried(node.ids, "Node, quantbart-228 beam search");
    assert.deepEqual(page.ids, node.ids);
    assert.equal(page.text, node.text);
    assert.equal(await demo.page.isHidden("#gpt2-options"), true, "a BART model shows BART's options only");
    assert.equal(await demo.page.textContent("#run"), "Summarize");
    assert.match(await demo.page.textContent("#speed") ?? "", /^encoder \d+ tokens in \d+ ms; decode \d+ tokens at [\d.]+ tok\/s \(4 beams/);
  });

  it("Stop halts a long generation early and leaves the page ready for the next run", async () => {
    ready();
    await demo.pickServed("quantgpt-228.onnx");
    // Clicks Stop from inside the page as the third token arrives, so where it stops does not depend on timing:
    // generate() checks the signal before it computes each next token.
    const clickStopAtThirdToken = () => demo.page.evaluate(() => {
      const output = document.getElementById("output")!;
      const observer = new MutationObserver(() => {
        if (output.dataset.state === "running" && output.dataset.ids!.split(",").length >= 3) {
          observer.disconnect();
          document.getElementById("stop")!.click();
        }
      });
      observer.observe(output, { attributes: true, attributeFilter: ["data-ids"] });
    });
    const page = await demo.run(PROMPT, { "max-new-tokens": "400", temperature: "0", "stop-at-eos": false }, clickStopAtThirdToken);
    assert.equal(page.state, "stopped", `the run ended "${page.state}": ${page.error}`);
    assert.equal(page.ids.length, 3, `stopped after ${page.ids.length} of 400 tokens`);
    const node = await nodeRun(BUNDLED_GPT2, PROMPT, { ...(page.options as GenerateOptions), maxNewTokens: 3 });
    assert.deepEqual(page.ids, node.ids, "the tokens before the stop are Node's");
    assert.equal(await demo.page.isDisabled("#stop"), true);
    assert.equal(await demo.page.isEnabled("#run"), true);
    assert.equal(await demo.page.textContent("#error"), "", "a stop is not an error");
  });

  it("opens a local .onnx through the file input and streams Node's ids", async () => {
    ready();
    await demo.page.setInputFiles("#file-input", tinyGpt2);
    const { family } = await demo.waitForModel("tiny-w2.onnx");
    assert.equal(family, "gpt2");
    const page = await demo.run("hello world", { "max-new-tokens": "16", temperature: "0", "stop-at-eos": false });
    demo.assertDone(page, "local .onnx");
    const node = await nodeRun(tinyGpt2, "hello world", page.options as GenerateOptions);
    assert.equal(node.ids.length, 16);
    assertVaried(node.ids, "Node, tiny W2");
    assert.deepEqual(page.ids, node.ids);
  });

  it("opens a local BART folder through the folder input and summarizes as Node does", async () => {
    ready();
    await demo.page.setInputFiles("#folder-input", tinyBart);
    const { family } = await demo.waitForModel("tiny-bart/");
    assert.equal(family, "bart");
    const input = "the rivers and harbors of the country";
    const page = await demo.run(input, { "num-beams": "", "bart-max-new-tokens": "" });
    demo.assertDone(page, "local BART folder");
    const node = await nodeRun(tinyBart, input, {});
    assert.ok(node.ids.length >= 4, `Node's summary: ${node.ids.join(",")}`);
    assert.deepEqual(page.ids, node.ids);
  });

  it("a bad local file gets the runtime's one error line in the page", async () => {
    ready();
    await demo.page.setInputFiles("#file-input", { name: "not-a-model.onnx", mimeType: "application/octet-stream", buffer: Buffer.from("not an onnx file") });
    await demo.page.waitForFunction(() => {
      const s = document.getElementById("model-status")!;
      return s.dataset.name === "not-a-model.onnx" && s.dataset.state === "error";
    }, undefined, { timeout: WAIT_MS });
    const error = await demo.page.textContent("#error") ?? "";
    assert.match(error, /^not-a-model\.onnx: \S/, error);
    assert.ok(!error.includes("\n"), "one line");
    assert.equal(await demo.page.isDisabled("#run"), true, "nothing to run without a model");
  });

  it("`lowbit serve` prints its URL, serves /models.json and stops cleanly on Ctrl-C (SIGINT)", async () => {
    ready();
    assert.ok(existsSync(join(DEFAULT_PAGE_DIR, "index.html")), `${DEFAULT_PAGE_DIR}/index.html is missing: run \`npm run build\` (it runs scripts/build_demo.ts)`);
    const child = spawn(process.execPath, cliArgv(["serve", "--port", "0", "--model", tinyGpt2]), { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => { stderr += c.toString("utf8"); });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on("data", (c: Buffer) => {
          stdout += c.toString("utf8");
          const found = /lowbit demo at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
          if (found !== null && stdout.includes("Ctrl-C")) resolve(found[1]);
        });
        void exited.then(({ code }) => reject(new Error(`lowbit serve exited (${code}) before printing its URL: ${stderr}`)));
      });
      const listed = await (await fetch(`${url}models.json`)).json() as { models: { name: string }[] };
      assert.deepEqual(listed.models.map((m) => m.name), ["quantgpt-228.onnx", "quantbart-228", "tiny-w2.onnx"]);
      assert.match(stdout, /tiny-w2\.onnx +gpt2/);
      child.kill("SIGINT");
      const { code, signal } = await exited;
      assert.equal(signal, null, `killed by ${signal}: ${stderr}`);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /stopped\n$/);
      assert.equal(stderr, "");
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });

  it("`lowbit serve` refuses a bad --port or --model with one error line", () => {
    ready();
    assert.ok(existsSync(join(DEFAULT_PAGE_DIR, "index.html")), `${DEFAULT_PAGE_DIR}/index.html is missing: run \`npm run build\` (it runs scripts/build_demo.ts)`);
    const run = (args: string[]) => spawnSync(process.execPath, cliArgv(["serve", ...args]), { cwd: ROOT, encoding: "utf8" });
    const port = run(["--port", "http"]);
    assert.equal(port.status, 1);
    assert.equal(port.stderr, 'lowbit: error: invalid --port; expected an integer in 0..65535 (0: any free port), found "http"\n');
    const missing = join(tmp, "nothing-here");
    const model = run(["--port", "0", "--model", missing]);
    assert.equal(model.status, 1);
    assert.match(model.stderr, new RegExp(`^lowbit: error: ${missing.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: no such model file or folder[^\n]*\n$`));
  });
});
