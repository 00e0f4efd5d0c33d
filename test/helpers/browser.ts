// Runs lowbit's runtime in headless Chromium for tests: bundles src/runtime/index.ts for the browser with
// esbuild, serves the bundle, the built .wasm kernels and model bytes from a local HTTP server, and drives
// a page through playwright-core. Not a general browser harness: one page, one origin, GPT-2 generation.
//
// Nothing here reaches the network: the server binds 127.0.0.1 on an ephemeral port and Chromium is
// started with its background services (updates, sync, QUIC probes) off, as the test machines have no
// other network.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { build } from "esbuild";
import { chromium, type Browser, type Page } from "playwright-core";
import type { GenerateOptions } from "../../src/runtime/index.js";
import { kernelFileName, type KernelVariant } from "../../src/runtime/kernels.js";
import { ROOT } from "./fixtures.js";

/** Debian's chromium package; playwright-core ships no browser of its own. */
export const CHROMIUM = "/usr/bin/chromium";

const CHROMIUM_ARGS = [
  "--no-sandbox", // the test runs as root in a container, where Chromium's sandbox cannot start
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const VARIANTS: KernelVariant[] = ["simd", "scalar"];

/** Path of a built kernel file; fails with the fix when `npm run build` has not run. */
export function kernelPath(variant: KernelVariant): string {
  const path = join(ROOT, "build", kernelFileName(variant));
  assert.ok(existsSync(path), `${path} is missing: run \`npm run build\``);
  return path;
}

// ---------------------------------------------------------------------------------------------------------
// Bundle

/**
 * Bundles the runtime's public API into one ES module for browsers and returns its text. `node:*` stays
 * external because index.ts reaches Node's fs only through a dynamic import in a branch a browser never
 * takes; a *static* import of a Node built-in would break the module at load in a browser, so it is an error.
 * The bundle stays in memory (`write: false`): nothing to clean up on disk.
 */
export async function bundleRuntime(): Promise<string> {
  const result = await build({
    entryPoints: [join(ROOT, "src", "runtime", "index.ts")],
    outfile: "lowbit.js", // names the output only; nothing is written
    write: false,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    external: ["node:*"],
    metafile: true,
    logLevel: "silent",
  });
  const warnings = result.warnings.map((w) => `${w.location?.file ?? "?"}:${w.location?.line ?? "?"}: ${w.text}`);
  assert.deepEqual(warnings, [], "esbuild warned while bundling src/runtime/index.ts for the browser");
  const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports);
  const staticNode = imports.filter((i) => i.path.startsWith("node:") && i.kind !== "dynamic-import");
  assert.deepEqual(
    staticNode.map((i) => `${i.path} (${i.kind})`),
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

// Loads a served model onto the served kernels and returns the ids that generate() streams.
export async function generateIds({ model, variant, prompt, options }) {
  const response = await fetch("/models/" + model);
  if (!response.ok) throw new Error("GET /models/" + model + ": HTTP " + response.status);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const m = await loadModel(bytes, { kernels: new URL("/kernels/lowbit." + variant + ".wasm", location.href), variant });
  const ids = [];
  for await (const tok of m.generate(prompt, options)) if (tok.id >= 0) ids.push(tok.id);
  return { ids, kernelVariant: m.kernelVariant, isNode: typeof process !== "undefined" };
}
`;

// ---------------------------------------------------------------------------------------------------------
// Server and browser

export interface PageGeneration {
  ids: number[];
  kernelVariant: KernelVariant;
  /** Whether the page saw a Node `process` global (it must not: the runtime would take its Node paths). */
  isNode: boolean;
}

/** One HTTP server and one Chromium page for a whole test file; `close()` in an after hook. */
export class BrowserRuntime {
  private readonly models = new Map<string, Uint8Array>();
  private readonly pageErrors: string[] = [];

  private constructor(
    private readonly server: Server,
    private readonly browser: Browser,
    private readonly page: Page,
    readonly origin: string,
  ) {}

  /** Bundles the runtime, starts the server on 127.0.0.1:<ephemeral> and opens a page on it in Chromium. */
  static async start(): Promise<BrowserRuntime> {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: the browser tests need Debian's chromium package; run \`scripts/setup.sh\``);
    const kernels = new Map(VARIANTS.map((v) => [v, readFileSync(kernelPath(v))]));
    const bundle = await bundleRuntime();

    let self: BrowserRuntime | undefined;
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
      const send = (type: string, body: string | Uint8Array) => {
        res.writeHead(200, { "content-type": type, "cache-control": "no-store" });
        res.end(body);
      };
      const kernel = /^\/kernels\/lowbit\.(simd|scalar)\.wasm$/.exec(path);
      const model = path.startsWith("/models/") ? self?.models.get(path.slice("/models/".length)) : undefined;
      if (path === "/") send("text/html; charset=utf-8", INDEX_HTML);
      else if (path === "/lowbit.js") send("text/javascript; charset=utf-8", bundle);
      else if (path === "/driver.js") send("text/javascript; charset=utf-8", DRIVER_JS);
      else if (kernel) send("application/wasm", kernels.get(kernel[1] as KernelVariant)!);
      else if (model) send("application/octet-stream", model);
      else {
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
      self = new BrowserRuntime(server, browser, page, origin);
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

  /** Makes model bytes available to the page under /models/<name>. */
  serveModel(name: string, bytes: Uint8Array): void {
    this.models.set(name, bytes);
  }

  /** Runs loadModel + generate in the page and returns the token ids (the trailing text-only item dropped). */
  async generate(model: string, variant: KernelVariant, prompt: number[], options: GenerateOptions): Promise<PageGeneration> {
    assert.ok(this.models.has(model), `model "${model}" is not served: call serveModel first`);
    const args = JSON.stringify({ model, variant, prompt, options });
    try {
      return await this.page.evaluate<PageGeneration>(`import("/driver.js").then((d) => d.generateIds(${args}))`);
    } catch (err) {
      const seen = this.pageErrors.length > 0 ? `\npage errors:\n  ${this.pageErrors.join("\n  ")}` : "";
      throw new Error(`generation in Chromium failed (${model}, ${variant}): ${(err as Error).message}${seen}`);
    }
  }

  async close(): Promise<void> {
    await this.browser.close();
    await closeServer(this.server);
  }
}

/** Closes the server, dropping Chromium's idle keep-alive connections, which would otherwise hold it open. */
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}
