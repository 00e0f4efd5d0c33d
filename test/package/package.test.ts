// lowbit as a user gets it: `npm pack` of this checkout, installed into a fresh project in a temp folder,
// then used the ways the README shows: from Node (`import { loadModel } from "lowbit"`), through its CLI
// (`npx lowbit generate`), bundled for the browser by esbuild and by Vite with no kernel options and no
// bundler flags (the kernels ride inside the JavaScript: src/runtime/kernels.ts, embeddedKernels), and from
// TypeScript against the published declarations. Every path must give the token ids that this checkout's
// own loadModel gives, exactly (same .wasm, same V8: test/browser/browser.test.ts says why that holds).
//
// What it packs: the checkout as built. `npm pack` would run `prepare`, the whole build (asc three times,
// then tsc: about a minute here), so the test packs with --ignore-scripts after checking that what the
// build wrote is current: dist/ newer than every source and holding nothing from a deleted one, the
// embedded kernels the same bytes as build/*.wasm, build/*.wasm newer than assembly/. When it is not, the
// test fails naming the file and `npm run build`: a publish from that state would ship stale code.
//
// The installed package's build/ folder is deleted before anything runs, so every path below shows that
// the kernels come from the package's JavaScript, not from a .wasm file beside it.
//
// Needs the npm registry (the scratch project installs lowbit's dependencies; --prefer-offline reads npm's
// cache first), /usr/bin/chromium (scripts/setup.sh) and vite in this checkout's node_modules; fails, not
// skips, without them. Removes its temp folder and stops its server and browser.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative, resolve, sep } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { build as esbuild } from "esbuild";
import { chromium, type Browser } from "playwright-core";
import { closeServer, contentType } from "../../src/demo/server.js";
import { loadGpt2Model } from "../../src/runtime/index.js";
import { EMBEDDED_KERNEL_MODULES, kernelFileName, type KernelVariant } from "../../src/runtime/kernels.js";
import { CHROMIUM, CHROMIUM_ARGS, ISOLATION_HEADERS, kernelPath } from "../helpers/browser.js";
import { removeTempDir, ROOT, tempDir } from "../helpers/fixtures.js";

const run = promisify(execFile);

const MODEL = "models/quantgpt-228.onnx";
const INSTALLED_MODEL = `node_modules/lowbit/${MODEL}`;
const PROMPT = "The President said that";
/** Greedy tokens per run; the end-of-text token does not stop them, so every run gives exactly this many. */
const NEW_TOKENS = 16;

const rel = (path: string) => relative(ROOT, path);

// ---------------------------------------------------------------------------------------------------------
// Is the build current?

function filesUnder(dir: string, suffix: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name), suffix) : e.name.endsWith(suffix) ? [join(dir, e.name)] : []));
}

const BUILD_FIX = "run `npm run build`";

/** Fails, naming the first stale file, unless dist/, the embedded kernels and build/*.wasm are what the sources build. */
function assertBuildCurrent(): void {
  const wasmFiles = EMBEDDED_KERNEL_MODULES.map(({ variant, threaded }) => join(ROOT, "build", kernelFileName(variant, threaded)));
  const newestAssembly = Math.max(...filesUnder(join(ROOT, "assembly"), ".ts").map((f) => statSync(f).mtimeMs));
  for (const wasm of wasmFiles) {
    assert.ok(existsSync(wasm), `${rel(wasm)} is missing: ${BUILD_FIX}`);
    assert.ok(statSync(wasm).mtimeMs >= newestAssembly, `${rel(wasm)} is older than assembly/: ${BUILD_FIX}`);
  }
  for (const [i, { module }] of EMBEDDED_KERNEL_MODULES.entries()) {
    const sha256 = createHash("sha256").update(readFileSync(wasmFiles[i])).digest("hex");
    for (const generated of [join(ROOT, "src", "runtime", "embedded_kernels", `${module}.ts`), join(ROOT, "dist", "runtime", "embedded_kernels", `${module}.js`)]) {
      assert.ok(existsSync(generated), `${rel(generated)} is missing: ${BUILD_FIX}`);
      const held = /WASM_SHA256(?::\s*string)?\s*=\s*"([0-9a-f]{64})"/.exec(readFileSync(generated, "utf8"))?.[1];
      assert.equal(held, sha256, `${rel(generated)} does not hold ${rel(wasmFiles[i])}'s bytes: ${BUILD_FIX}`);
    }
  }
  const srcDir = join(ROOT, "src");
  const distDir = join(ROOT, "dist");
  for (const source of filesUnder(srcDir, ".ts").filter((f) => !f.endsWith(".d.ts"))) {
    const compiled = join(distDir, relative(srcDir, source)).replace(/\.ts$/, ".js");
    assert.ok(existsSync(compiled), `${rel(compiled)} is missing (the build of ${rel(source)}): ${BUILD_FIX}`);
    assert.ok(statSync(compiled).mtimeMs >= statSync(source).mtimeMs, `${rel(source)} is newer than ${rel(compiled)}: ${BUILD_FIX}`);
  }
  // What tsc wrote (a .js beside its .d.ts; other build steps' outputs, such as the demo's page bundle, have none).
  for (const compiled of filesUnder(distDir, ".js").filter((f) => existsSync(f.replace(/\.js$/, ".d.ts")))) {
    const source = join(srcDir, relative(distDir, compiled)).replace(/\.js$/, ".ts");
    assert.ok(existsSync(source), `${rel(compiled)} has no source (left from a deleted file; it would be published): ${BUILD_FIX}, which empties dist/ first`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The scratch project

/** The environment without npm's per-run variables (npm_config_*, npm_package_*), which `npm test` would pass on from this checkout. */
function userEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
}

/** Runs a command to completion; a failure names the command and its stderr. */
async function exec(file: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(file, args, { cwd, env: userEnv(), maxBuffer: 64 << 20, timeout: 120_000 });
    return stdout;
  } catch (err) {
    // tsc reports on stdout, npm and node on stderr.
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`\`${[file, ...args].join(" ")}\` in ${cwd} failed: ${[e.stderr?.trim(), e.stdout?.trim()].filter(Boolean).join("\n") || e.message}`);
  }
}

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string }[];
}

/** The page's script: loads the served model with no kernel options and returns the greedy ids. */
const PAGE_ENTRY = `// The README's browser usage: import the package, load a model by URL, no kernel options.
import { loadModel } from "lowbit";

globalThis.lowbitRun = async (promptIds, maxNewTokens) => {
  const model = await loadModel(new URL("/model.onnx", location.href));
  try {
    const ids = [];
    for await (const token of model.generate(promptIds, { maxNewTokens, stopAtEos: false })) if (token.id >= 0) ids.push(token.id);
    return { ids, kernelVariant: model.kernelVariant, threads: model.threads, crossOriginIsolated: globalThis.crossOriginIsolated === true };
  } finally {
    model.dispose();
  }
};
`;

const PAGE_HTML = `<!doctype html><meta charset="utf-8"><title>lowbit package test</title><script type="module" src="./main.js"></script>\n`;

/** The README's Node usage, run from the scratch project: the default (SIMD, threads by default) and the scalar build. */
const NODE_SCRIPT = `// import { loadModel } from "lowbit" in a project that installed the package.
import { loadModel } from "lowbit";

const [promptIds, maxNewTokens] = JSON.parse(process.argv[2]);
const result = { resolved: import.meta.resolve("lowbit") };
for (const variant of ["simd", "scalar"]) {
  const model = await loadModel(${JSON.stringify(INSTALLED_MODEL)}, { variant });
  try {
    const ids = [];
    for await (const token of model.generate(promptIds, { maxNewTokens, stopAtEos: false })) if (token.id >= 0) ids.push(token.id);
    result[variant] = { ids, kernelVariant: model.kernelVariant, threads: model.threads };
  } finally {
    model.dispose();
  }
}
console.log(JSON.stringify(result));
`;

/** A TypeScript user's file: compiles only if the declarations are there and say what the API takes. */
const TYPES_FILE = `import { loadModel, LowbitError, type GenerateOptions, type LoadOptions, type LowbitModel } from "lowbit";

const options: LoadOptions = { threads: 1, variant: "simd" };
const model: LowbitModel = await loadModel(new URL("https://example.com/model.onnx"), options);
const generate: GenerateOptions = { maxNewTokens: 4, temperature: 0.8, topK: 40, seed: 1 };
if (model.modelType === "gpt2") {
  for await (const token of model.generate("Hello", generate)) {
    const id: number = token.id;
    const text: string = token.text;
    void [id, text];
  }
} else {
  const summary = await model.summarize("A long article.", { numBeams: 4 });
  const ids: number[] = summary.ids;
  void ids;
}
model.dispose();
const error: Error = new LowbitError("x", { file: "y" });
void error;
// @ts-expect-error: a misspelt option is a type error, so the declarations are not \`any\`
const misspelt: LoadOptions = { kernel: "lowbit.simd.wasm" };
void misspelt;
`;

const TYPES_TSCONFIG = {
  // A browser project's lib; the declarations themselves are checked too (skipLibCheck off). No `types: []`:
  // onnx-proto's declarations, which the runtime's reach, use the global `Long` of @types/long, which
  // protobufjs 6 installs and tsc includes by default (as it does @types/node, which protobufjs installs too).
  compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2022", "DOM"], strict: true, noEmit: true, skipLibCheck: false },
  files: ["types_check.ts"],
};

// ---------------------------------------------------------------------------------------------------------
// Serving the bundles

/**
 * Serves the scratch project's bundles: /esbuild/ (cross-origin isolated, so that the page runs the threads
 * build) and the Vite build at / (not isolated: the single-thread SIMD build), and the installed model at
 * /model.onnx. Logs every request, so a test can show that no .wasm was fetched.
 */
function serveScratch(scratch: string, log: string[]): Promise<Server> {
  const esbuildDir = join(scratch, "out-esbuild");
  const viteDir = join(scratch, "out-vite");
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://127.0.0.1").pathname);
    const isolated = path.startsWith("/esbuild/");
    const dir = isolated ? esbuildDir : viteDir;
    const file = path === "/model.onnx" ? join(scratch, INSTALLED_MODEL) : resolve(dir, `.${(isolated ? path.slice("/esbuild".length) : path).replace(/\/$/, "/index.html")}`);
    const inside = file === join(scratch, INSTALLED_MODEL) || file.startsWith(dir + sep);
    const found = inside && existsSync(file) && statSync(file).isFile();
    log.push(`${req.method} ${path} ${found ? 200 : 404}`);
    if (!found) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, { "content-type": contentType(file), "cache-control": "no-store", ...(isolated ? ISOLATION_HEADERS : {}) });
    res.end(readFileSync(file));
  });
  return new Promise((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolveListen(server));
  });
}

interface PageResult {
  ids: number[];
  kernelVariant: KernelVariant;
  threads: number;
  crossOriginIsolated: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// The tests

describe("the npm package, installed into a fresh project", () => {
  let scratch: string | undefined;
  let setupError: unknown;
  let pack: PackResult;
  let promptIds: number[];
  /** This checkout's loadModel from src/, on its build/*.wasm given explicitly, on one thread. */
  const reference = new Map<KernelVariant, number[]>();
  let server: Server | undefined;
  let browser: Browser | undefined;
  const requests: string[] = [];

  before(async () => {
    try {
      assertBuildCurrent();
      for (const variant of ["simd", "scalar"] as const) {
        const model = await loadGpt2Model(join(ROOT, MODEL), { kernels: readFileSync(kernelPath(variant)), variant, threads: 1 });
        promptIds ??= model.tokenizer.encode(PROMPT);
        const ids: number[] = [];
        for await (const token of model.generate(promptIds, { maxNewTokens: NEW_TOKENS, stopAtEos: false })) if (token.id >= 0) ids.push(token.id);
        reference.set(variant, ids);
      }

      scratch = tempDir("lowbit-package-");
      [pack] = JSON.parse(await exec("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", scratch], ROOT)) as PackResult[];
      writeFileSync(join(scratch, "package.json"), `${JSON.stringify({ name: "lowbit-scratch", private: true, type: "module" }, null, 2)}\n`);
      await exec("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(scratch, pack.filename)], scratch);
      // Nothing may read the kernels from a file: they are in the package's JavaScript.
      rmSync(join(scratch, "node_modules", "lowbit", "build"), { recursive: true, force: true });

      const web = join(scratch, "web");
      mkdirSync(web);
      writeFileSync(join(web, "main.js"), PAGE_ENTRY);
      writeFileSync(join(web, "index.html"), PAGE_HTML);
      writeFileSync(join(scratch, "node_run.mjs"), NODE_SCRIPT);
      writeFileSync(join(scratch, "types_check.ts"), TYPES_FILE);
      writeFileSync(join(scratch, "tsconfig.json"), `${JSON.stringify(TYPES_TSCONFIG, null, 2)}\n`);
    } catch (err) {
      setupError = err;
    }
  });

  after(async () => {
    await browser?.close();
    if (server !== undefined) await closeServer(server);
    if (scratch !== undefined) removeTempDir(scratch);
  });

  /** The set-up's error, in every test: a failing before hook alone would only mark them cancelled. */
  const ready = (): string => {
    if (setupError !== undefined) throw setupError;
    return scratch!;
  };

  /** Opens a page of the served scratch project, waits for its script, and runs the model there. */
  async function runPage(path: string): Promise<PageResult> {
    const dir = ready();
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: this test needs Debian's chromium package; run \`scripts/setup.sh\``);
    server ??= await serveScratch(dir, requests);
    browser ??= await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    page.on("console", (msg) => msg.type() === "error" && errors.push(msg.text()));
    try {
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`);
      await page.waitForFunction("typeof globalThis.lowbitRun === 'function'", undefined, { timeout: 20_000 });
      return await page.evaluate<PageResult>(`lowbitRun(${JSON.stringify(promptIds)}, ${NEW_TOKENS})`);
    } catch (err) {
      throw new Error(`${path} in Chromium failed: ${(err as Error).message}${errors.length > 0 ? `\npage errors:\n  ${errors.join("\n  ")}` : ""}`);
    } finally {
      await page.close();
    }
  }

  it("packs dist/, bin, the kernels, docs and the two default models, and no sources or other models", (t) => {
    ready();
    const files = new Set(pack.files.map((f) => f.path));
    t.diagnostic(`${pack.filename}: ${(pack.size / 2 ** 20).toFixed(1)} MiB packed, ${(pack.unpackedSize / 2 ** 20).toFixed(1)} MiB unpacked, ${files.size} files`);
    const wanted = [
      "package.json", "README.md", "bin/lowbit.js", "dist/cli.js", "dist/runtime/index.js", "dist/runtime/index.d.ts",
      ...EMBEDDED_KERNEL_MODULES.map(({ module }) => `dist/runtime/embedded_kernels/${module}.js`),
      ...EMBEDDED_KERNEL_MODULES.map(({ variant, threaded }) => `build/${kernelFileName(variant, threaded)}`),
      MODEL, "models/quantbart-228/config.json", "models/quantbart-228/generation_config.json", "models/quantbart-228/tokenizer.json",
      "models/quantbart-228/tokenizer_config.json", "models/quantbart-228/onnx/encoder_model_q2.onnx", "models/quantbart-228/onnx/decoder_model_merged_q2.onnx",
    ];
    assert.deepEqual(wanted.filter((f) => !files.has(f)), [], "files missing from the package");
    const unwanted = [...files].filter((f) => /^(src|test|assembly|bench|train|scripts|corpus|data|runs|models\/(teacher|quantgpt-448|quantgpt124m))(\/|\.|-)/.test(f));
    assert.deepEqual(unwanted, [], "files that do not belong in the package");
  });

  it("Node: `import { loadModel } from \"lowbit\"` gives this checkout's ids (SIMD by default, and scalar)", async (t) => {
    const dir = ready();
    const out = JSON.parse(await exec(process.execPath, [join(dir, "node_run.mjs"), JSON.stringify([promptIds, NEW_TOKENS])], dir)) as
      { resolved: string } & Record<KernelVariant, { ids: number[]; kernelVariant: KernelVariant; threads: number }>;
    assert.ok(out.resolved.startsWith(`file://${join(dir, "node_modules", "lowbit")}/`), `"lowbit" resolved to ${out.resolved}, not the installed package`);
    t.diagnostic(`default load: ${out.simd.kernelVariant} kernels on ${out.simd.threads} thread(s)`);
    assert.equal(out.simd.kernelVariant, "simd");
    assert.equal(out.scalar.kernelVariant, "scalar");
    assert.equal(reference.get("simd")!.length, NEW_TOKENS);
    assert.deepEqual(out.simd.ids, reference.get("simd"));
    assert.deepEqual(out.scalar.ids, reference.get("scalar"));
  });

  it("CLI: `npx lowbit generate --json` from the project gives the same ids", async () => {
    const dir = ready();
    const args = ["--no", "lowbit", "generate", "--model", INSTALLED_MODEL, "--prompt-ids", promptIds.join(","), "--max-new-tokens", String(NEW_TOKENS), "--no-eos", "--threads", "1", "--json"];
    const out = JSON.parse(await exec("npx", args, dir)) as { ids: number[]; kernels: string; threads: number };
    assert.equal(out.kernels, "simd");
    assert.equal(out.threads, 1);
    assert.deepEqual(out.ids, reference.get("simd"));
  });

  it("esbuild bundles the package for the browser with no flags; in Chromium it gives the same ids (threads build, no .wasm fetched)", async (t) => {
    const dir = ready();
    const outdir = join(dir, "out-esbuild");
    const result = await esbuild({
      entryPoints: [join(dir, "web", "main.js")], absWorkingDir: dir, outdir,
      bundle: true, format: "esm", platform: "browser", logLevel: "silent",
    });
    assert.deepEqual(result.warnings.map((w) => `${w.location?.file ?? "?"}: ${w.text}`), [], "esbuild warned");
    cpSync(join(dir, "web", "index.html"), join(outdir, "index.html"));
    t.diagnostic(`bundle: ${(statSync(join(outdir, "main.js")).size / 1024).toFixed(0)} KiB`);
    const page = await runPage("/esbuild/");
    t.diagnostic(`page: ${page.kernelVariant} kernels on ${page.threads} thread(s), crossOriginIsolated ${page.crossOriginIsolated}`);
    assert.equal(page.crossOriginIsolated, true);
    assert.equal(page.kernelVariant, "simd");
    assert.deepEqual(page.ids, reference.get("simd"));
    assert.deepEqual(requests.filter((r) => r.startsWith("GET /esbuild/") && !/\/(index\.html|main\.js)? 200$/.test(r)), [], "the page fetched something besides its page and script");
    assert.deepEqual(requests.filter((r) => /\.wasm /.test(r)), []);
  });

  it("Vite builds the same page with no config; in Chromium it gives the same ids (single-thread SIMD build)", async (t) => {
    const dir = ready();
    let vite: typeof import("vite");
    try {
      vite = await import("vite");
    } catch (err) {
      assert.fail(`vite is missing from this checkout's node_modules (${(err as Error).message}): install it (npm install)`);
    }
    const warnings: string[] = [];
    const logger = vite.createLogger("warn");
    logger.warn = (msg) => void warnings.push(msg);
    logger.warnOnce = (msg) => void warnings.push(msg);
    await vite.build({
      root: join(dir, "web"), configFile: false, logLevel: "warn", customLogger: logger,
      build: { outDir: join(dir, "out-vite"), emptyOutDir: true },
    });
    for (const w of warnings) t.diagnostic(`vite warned: ${w}`);
    // Warnings about lowbit's own files (a Node module it could not resolve, an import it could not analyse);
    // a dependency's (protobufjs's eval) are only reported.
    assert.deepEqual(warnings.filter((w) => /node_modules\/lowbit\/|node:|externalized|dynamic import/i.test(w)), [], "Vite warned about the package");
    const page = await runPage("/");
    t.diagnostic(`page: ${page.kernelVariant} kernels on ${page.threads} thread(s), crossOriginIsolated ${page.crossOriginIsolated}`);
    assert.equal(page.kernelVariant, "simd");
    assert.equal(page.threads, 1, "a page that is not cross-origin isolated runs one thread");
    assert.deepEqual(page.ids, reference.get("simd"));
    assert.deepEqual(requests.filter((r) => /\.wasm /.test(r)), []);
  });

  it("TypeScript compiles a user's file against the package's declarations (and checks them)", async () => {
    const dir = ready();
    await exec(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(dir, "tsconfig.json")], dir);
  });
});
