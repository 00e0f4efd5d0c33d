// `lowbit serve`: the browser demo's static HTTP server. It serves the built page (dist/demo/page/, from
// scripts/build_demo.ts), the WASM kernels (build/*.wasm), the bundled models (models/quantgpt-228.onnx and
// models/quantbart-228/) and every `--model` path given, all with the headers that make the page cross-origin
// isolated (COOP: same-origin, COEP: require-corp, CORP: same-origin), so that the runtime may share memory
// with workers and run threads. GET /models.json lists the models the page can pick.
//
// A hand-written node:http server rather than a library (serve-static, vite's preview): it serves a handful
// of known files and folders, must add the isolation headers to every response, and must refuse any path
// outside what it serves; that is a screenful of code, and none of those packages is a dependency of lowbit.
// Not a general web server: GET and HEAD only, no ranges, no compression, no caching validators.

import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { LowbitError } from "../errors.js";
import { kernelFileName } from "../runtime/kernels.js";
import { readModelFiles } from "../runtime/sources.js";

/** The package root: two levels above this module, both as src/demo/server.ts (tsx) and as dist/demo/server.js (installed). */
export const PACKAGE_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Where scripts/build_demo.ts writes the page (index.html, app.js, app.css). */
export const DEFAULT_PAGE_DIR = join(PACKAGE_ROOT, "dist", "demo", "page");

/** The models that ship with the package, relative to its root: listed first, in this order, when present. */
export const BUNDLED_MODELS = ["models/quantgpt-228.onnx", "models/quantbart-228"];

/** The kernel builds the page may fetch (the runtime picks SIMD or scalar, and the threads build where it runs threads). */
const KERNEL_FILES = [kernelFileName("simd"), kernelFileName("scalar"), kernelFileName("simd", true)];

/** What makes the page cross-origin isolated (COOP + COEP), sent with every response; CORP marks each resource same-origin. */
export const ISOLATION_HEADERS = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cross-origin-resource-policy": "same-origin",
} as const;

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".txt": "text/plain; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
};

/** The content type of a file by its extension; application/octet-stream (.onnx and the rest) otherwise. */
export function contentType(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
}

/** One model the page can load: a single GPT-2 .onnx file or a folder export of either family. */
export interface ServedModel {
  /** Unique among the served models; the last part of its URL. */
  name: string;
  family: "gpt2" | "bart";
  /** Where the page fetches it: /models/<name> for a file, /models/<name>/ (ending in "/") for a folder. */
  url: string;
  /** Bytes of the ONNX files the page loads (a folder: the files of its config.json's dtype). */
  bytes: number;
  /** true for the package's own models, false for a --model path. */
  bundled: boolean;
  /** The file or folder on disk (not sent to the page). */
  path: string;
  kind: "file" | "folder";
}

export interface DemoServerOptions {
  /** Extra models: .onnx files or folder exports (`--model`). */
  models?: string[];
  /** 0 picks any free port (default 8080). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The built page (default dist/demo/page/ at the package root). */
  pageDir?: string;
  /** The kernels (default build/ at the package root). */
  kernelDir?: string;
  /** Serve the package's bundled models too (default true). */
  bundled?: boolean;
}

export interface DemoServer {
  /** "http://127.0.0.1:8080/" */
  url: string;
  port: number;
  models: ServedModel[];
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Models

/** Reads and checks a model (src/runtime/sources.ts, as the page will), so a bad --model fails at start with one line. */
async function describeModel(path: string, bundled: boolean, taken: Set<string>): Promise<ServedModel> {
  const full = resolve(path);
  let kind: "file" | "folder";
  try {
    kind = statSync(full).isDirectory() ? "folder" : "file";
  } catch (err) {
    throw new LowbitError("no such model file or folder", { file: path, expected: "a lowbit .onnx file or a folder export", found: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
  // The checksum is left to the page, which verifies every file it loads; here only the format is checked.
  const files = await readModelFiles(path, { verifyChecksum: false }); // errors name the path as given
  const bytes = files.modelType === "gpt2" ? files.model.bytes.byteLength : files.encoder.bytes.byteLength + files.decoder.bytes.byteLength;
  const stem = basename(full).replace(/\.onnx$/i, "") || "model";
  let name = kind === "file" ? `${stem}.onnx` : stem;
  for (let n = 2; taken.has(name); n++) name = kind === "file" ? `${stem}-${n}.onnx` : `${stem}-${n}`;
  taken.add(name);
  const url = `/models/${encodeURIComponent(name)}${kind === "folder" ? "/" : ""}`;
  return { name, family: files.modelType, url, bytes, bundled, path: full, kind };
}

async function describeModels(extra: string[], bundled: boolean): Promise<ServedModel[]> {
  const taken = new Set<string>();
  const models: ServedModel[] = [];
  const seen = new Set<string>();
  const bundledPaths = bundled ? BUNDLED_MODELS.map((rel) => join(PACKAGE_ROOT, rel)).filter((p) => existsSync(p)) : [];
  for (const [path, isBundled] of [...bundledPaths.map((p) => [p, true] as const), ...extra.map((p) => [p, false] as const)]) {
    if (seen.has(resolve(path))) continue; // a --model naming a bundled model (or the same path twice) is served once
    seen.add(resolve(path));
    models.push(await describeModel(path, isBundled, taken));
  }
  return models;
}

/** What /models.json says of each model: no paths on disk. */
function publicList(models: ServedModel[]): object[] {
  return models.map(({ name, family, url, bytes, bundled }) => ({ name, family, url, bytes, bundled }));
}

// ---------------------------------------------------------------------------------------------------------
// Paths

/**
 * A URL path's segments after `prefix`, decoded; undefined for any that could leave the folder it is joined
 * to ("..", ".", an empty segment, a backslash or NUL, a segment that fails to decode), so that no request
 * can name a file outside what is served. A path that is exactly the prefix gives no segments.
 */
function safeSegments(path: string, prefix: string): string[] | undefined {
  const rest = path.slice(prefix.length);
  if (rest === "") return [];
  const segments: string[] = [];
  for (const raw of rest.split("/")) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (segment === "" || segment === "." || segment === ".." || /[\\/\0]/.test(segment)) return undefined;
    segments.push(segment);
  }
  return segments;
}

/** `segments` joined under `dir`, when the result is still inside it (a second guard after safeSegments). */
function inside(dir: string, segments: string[]): string | undefined {
  const root = resolve(dir);
  const full = resolve(root, ...segments);
  return full.startsWith(root + sep) ? full : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Server

/** Starts the demo server; rejects with a LowbitError naming what is missing or wrong (page, kernels, a model, the port). */
export async function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const pageDir = resolve(options.pageDir ?? DEFAULT_PAGE_DIR);
  const kernelDir = resolve(options.kernelDir ?? join(PACKAGE_ROOT, "build"));
  const index = join(pageDir, "index.html");
  if (!existsSync(index)) throw new LowbitError("the demo page is not built", { file: index, hint: "run `npm run build` (it runs scripts/build_demo.ts)" });
  for (const name of KERNEL_FILES) {
    const file = join(kernelDir, name);
    if (!existsSync(file)) throw new LowbitError("the WASM kernels are not built", { file, hint: "run `npm run build`" });
  }
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 8080;
  const models = await describeModels(options.models ?? [], options.bundled ?? true);
  const byName = new Map(models.map((m) => [m.name, m]));
  const listing = `${JSON.stringify({ models: publicList(models) }, null, 2)}\n`;

  /** The file a GET path names, or undefined (404). */
  function fileFor(path: string): string | undefined {
    if (path === "/") return index;
    if (path.startsWith("/kernels/")) {
      const name = path.slice("/kernels/".length);
      return KERNEL_FILES.includes(name) ? join(kernelDir, name) : undefined;
    }
    if (path.startsWith("/models/")) {
      const segments = safeSegments(path, "/models/");
      if (segments === undefined || segments.length === 0) return undefined;
      const model = byName.get(segments[0]);
      if (model === undefined) return undefined;
      if (model.kind === "file") return segments.length === 1 ? model.path : undefined;
      return segments.length > 1 ? inside(model.path, segments.slice(1)) : undefined;
    }
    const segments = safeSegments(path, "/");
    return segments === undefined || segments.length === 0 ? undefined : inside(pageDir, segments);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    // Every response, a 404 included, carries the isolation headers.
    const head = (status: number, type: string, length: number, extra: Record<string, string> = {}) =>
      res.writeHead(status, { ...ISOLATION_HEADERS, "content-type": type, "content-length": length, "cache-control": "no-cache", ...extra });
    const send = (status: number, type: string, body: string, extra: Record<string, string> = {}) => {
      head(status, type, Buffer.byteLength(body), extra);
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, CONTENT_TYPES[".txt"], "method not allowed\n", { allow: "GET, HEAD" });
    // Only the path is read; a raw "/../x" stays as sent here (new URL would resolve it), and safeSegments refuses it.
    const path = (req.url ?? "/").split(/[?#]/)[0];
    if (!path.startsWith("/")) return send(400, CONTENT_TYPES[".txt"], "bad request: the path must start with /\n");
    if (path === "/models.json") return send(200, CONTENT_TYPES[".json"], listing);
    const file = fileFor(path);
    let size: number | undefined;
    try {
      if (file !== undefined) {
        const stat = statSync(file);
        if (stat.isFile()) size = stat.size;
      }
    } catch {
      // a missing file is a 404 below
    }
    if (file === undefined || size === undefined) return send(404, CONTENT_TYPES[".txt"], `not found: ${path}\n`);
    head(200, contentType(file), size);
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    createReadStream(file).on("error", () => res.destroy()).pipe(res);
  }

  const server = createServer(handle);
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      const hint = err.code === "EADDRINUSE" ? "pass --port 0 for any free port" : undefined;
      reject(new LowbitError("cannot listen", { file: `${host}:${port}`, found: err.code ?? String(err), hint }));
    });
    server.listen(port, host, resolveListen);
  });
  const actual = (server.address() as AddressInfo).port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return { url: `http://${shownHost}:${actual}/`, port: actual, models, close: () => closeServer(server) };
}

/** Closes the server, dropping the browser's idle keep-alive connections, which would otherwise hold it open (the test servers use it too). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolveClose, reject) => {
    server.close((err) => (err ? reject(err) : resolveClose()));
    server.closeAllConnections();
  });
}

// ---------------------------------------------------------------------------------------------------------
// The command

export interface ServeCliOptions {
  model?: string[];
  port: string;
  host: string;
}

/** --port: an integer in 0..65535 (0: any free port). */
function parsePort(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new LowbitError("invalid --port", { expected: "an integer in 0..65535 (0: any free port)", found: JSON.stringify(value) });
  }
  return n;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** `lowbit serve`: starts the server, prints its URL and models, and runs until Ctrl-C (SIGINT) or SIGTERM, then closes it. */
export async function serveCommand(o: ServeCliOptions, print: (text: string) => void = (t) => void process.stdout.write(t)): Promise<void> {
  const server = await startDemoServer({ models: o.model ?? [], port: parsePort(o.port), host: o.host });
  const lines = server.models.map((m) => `  ${m.name.padEnd(24)} ${m.family.padEnd(4)} ${mib(m.bytes).padStart(9)}${m.bundled ? "  (bundled)" : ""}\n`);
  print(`lowbit demo at ${server.url}\n${lines.length > 0 ? lines.join("") : "  no models: open a .onnx file or a folder in the page\n"}Ctrl-C stops it\n`);
  await new Promise<void>((resolveSignal) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolveSignal();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await server.close();
  print("stopped\n");
}
