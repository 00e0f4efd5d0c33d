// The architecture's one-way data flow, checked on the import graph: src/format/ is the contract both
// sides read, so it imports neither; the runtime never imports the exporter, the exporter never the runtime.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "../helpers/fixtures.js";

const SRC = join(ROOT, "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

/** Every relative import of a file (static and dynamic), as paths under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*)"(\.{1,2}\/[^"]+)"/g)].map((m) => m[1]);
  return specs.map((s) => relative(SRC, resolve(dirname(file), s)));
}

describe("module boundaries", () => {
  const edges = sourceFiles(SRC).flatMap((file) => importsOf(file).map((to) => ({ from: relative(SRC, file), to })));

  it("finds the imports it checks", () => {
    assert.ok(edges.some((e) => e.from.startsWith("runtime/") && e.to.startsWith("format/")), "the runtime reads the format");
    assert.ok(edges.some((e) => e.from.startsWith("export/") && e.to.startsWith("format/")), "the exporter writes the format");
  });

  it("src/format imports neither the exporter nor the runtime", () => {
    assert.deepEqual(edges.filter((e) => e.from.startsWith("format/") && /^(export|runtime|reference)\//.test(e.to)), []);
  });

  it("src/runtime never imports src/export, and src/export never imports src/runtime", () => {
    assert.deepEqual(edges.filter((e) => (e.from.startsWith("runtime/") && e.to.startsWith("export/")) || (e.from.startsWith("export/") && e.to.startsWith("runtime/"))), []);
  });
});
