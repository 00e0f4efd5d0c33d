// Builds the browser demo into dist/demo/page/ (what `lowbit serve` serves): src/demo/app.ts bundled with the runtime
// by esbuild (one ES module for browsers, app.js), and src/demo/index.html and app.css copied beside it. Each file is
// written to a temp name and renamed into place. `npm run build` runs it after tsc. Its esbuild step
// (bundleForBrowser) is also how test/helpers/browser.ts bundles the runtime for the browser tests.
//
//   npx tsx scripts/build_demo.ts [--out dist/demo/page]

import { mkdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { build, type BuildOptions } from "esbuild";
import { LowbitError } from "../src/errors.js";
import { writeFileAtomic } from "../src/export/atomic_write.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DEMO_SRC = join(ROOT, "src", "demo");
export const DEFAULT_OUT = join(ROOT, "dist", "demo", "page");

/** Files copied as they are, beside the bundle. */
const STATIC_FILES = ["index.html", "app.css"];

/**
 * esbuild's browser bundle of `entry`: one ES module, kept in memory (`write: false`; `outfile` only names it), with
 * esbuild's warnings and the Node built-ins it imports statically. `node:*` stays external: the runtime reaches Node's
 * modules only through dynamic imports in branches a browser never takes, so a static import of one would break the
 * module at load in a browser. Its callers (buildDemo, test/helpers/browser.ts's bundleRuntime) fail on either.
 */
export async function bundleForBrowser(entry: string, outfile: string, options: Pick<BuildOptions, "legalComments"> = {}) {
  const result = await build({
    entryPoints: [entry],
    outfile,
    write: false,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    external: ["node:*"],
    metafile: true,
    logLevel: "silent",
    ...options,
  });
  const staticNodeImports = Object.values(result.metafile.outputs).flatMap((o) => o.imports).filter((i) => i.path.startsWith("node:") && i.kind !== "dynamic-import");
  return { outputFiles: result.outputFiles, warnings: result.warnings, staticNodeImports };
}

/** Bundles src/demo/app.ts for browsers and writes the page to `outDir`; returns the paths written. A static import of a Node built-in, or any esbuild warning, fails the build. */
export async function buildDemo(outDir = DEFAULT_OUT): Promise<string[]> {
  // outfile names the output only: the file is written atomically below.
  const result = await bundleForBrowser(join(DEMO_SRC, "app.ts"), join(outDir, "app.js"), { legalComments: "none" })
    .catch((err: { errors?: { text: string; location?: { file: string; line: number } | null }[] }) => {
      const first = err.errors?.[0];
      throw new LowbitError("esbuild could not bundle the demo", { file: first?.location ? `${first.location.file}:${first.location.line}` : join(DEMO_SRC, "app.ts"), found: first?.text ?? String(err) });
    });
  const warning = result.warnings[0];
  if (warning !== undefined) {
    throw new LowbitError("esbuild warned while bundling the demo", { file: `${warning.location?.file ?? "?"}:${warning.location?.line ?? "?"}`, found: warning.text });
  }
  if (result.staticNodeImports.length > 0) {
    throw new LowbitError("the demo bundle imports a Node built-in statically; the page would fail to load", { file: join(DEMO_SRC, "app.ts"), found: result.staticNodeImports.map((i) => i.path).join(", ") });
  }
  mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  for (const file of result.outputFiles) {
    writeFileAtomic(file.path, file.contents);
    written.push(file.path);
  }
  for (const name of STATIC_FILES) {
    const target = join(outDir, name);
    writeFileAtomic(target, readFileSync(join(DEMO_SRC, name)));
    written.push(target);
  }
  return written;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const o = new Command("build_demo").option("--out <dir>", "where to write the page", DEFAULT_OUT).parse().opts<{ out: string }>();
  try {
    const written = await buildDemo(resolve(o.out));
    process.stdout.write(`demo page: ${written.map((p) => relative(process.cwd(), p)).join(", ")}\n`);
  } catch (err) {
    process.stderr.write(`build_demo: error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
