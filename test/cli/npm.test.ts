// The README's npm commands print no npm warnings: .npmrc holds only keys npm knows (an unknown one is
// warned about on every npm command: `npx lowbit`, `npm start`, `npm test`), and package.json's allowScripts
// covers every dependency install script (`npm ci` in scripts/setup.sh warns about any it does not).
// Cheap npm commands stand in for the long ones: they read the same .npmrc and package.json.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { ROOT } from "../helpers/fixtures.js";

function npm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  // --offline: nothing here may reach the registry.
  const r = spawnSync("npm", [...args, "--offline"], { cwd: ROOT, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("npm prints no warnings for this project", () => {
  it("npm exec -- lowbit --help (what `npx lowbit` runs)", () => {
    const r = npm(["exec", "--", "lowbit", "--help"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Usage: lowbit /);
    assert.doesNotMatch(r.stderr, /npm warn/i);
  });

  it("npm config reads .npmrc without an unknown key", () => {
    const r = npm(["config", "get", "engine-strict"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "true");
    assert.doesNotMatch(r.stderr, /npm warn/i);
  });

  it("every installed dependency's install script is approved or denied in allowScripts (else `npm ci` warns)", () => {
    const r = npm(["install-scripts", "ls"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^No packages with unreviewed install scripts\.\n$/);
    assert.doesNotMatch(r.stderr, /npm warn/i);
  });
});
