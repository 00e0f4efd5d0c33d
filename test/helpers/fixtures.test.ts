// tempDir() leaves nothing behind: a child process makes folders with it, writes into them, and ends in
// each way a test file can (returning, process.exit, an uncaught error, a signal); the folders must be gone.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { ROOT } from "./fixtures.js";

const FIXTURES_URL = pathToFileURL(join(ROOT, "test", "helpers", "fixtures.ts")).href;

interface Ended {
  dirs: string[];
  status: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Runs a child that makes two tempDir() folders (one with a file in a subfolder), prints their paths on a
 * line, then runs `end` (module code). With `kill`, the child is sent SIGTERM once it has printed. Its stderr
 * is ignored: some ends print a stack trace.
 */
function child(end: string, { env = {}, kill = false }: { env?: Record<string, string>; kill?: boolean } = {}): Promise<Ended> {
  const script = `
    import { mkdirSync, writeFileSync } from "node:fs";
    import { join } from "node:path";
    const { tempDir } = await import(${JSON.stringify(FIXTURES_URL)});
    const dirs = [tempDir(), tempDir("lowbit-other-")];
    mkdirSync(join(dirs[0], "sub"));
    writeFileSync(join(dirs[0], "sub", "big.bin"), new Uint8Array(1 << 20));
    process.stdout.write(JSON.stringify(dirs) + "\\n");
    ${end}
  `;
  const proc = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: ROOT, env: { ...process.env, LOWBIT_KEEP_TEMP: "", ...env }, stdio: ["ignore", "pipe", "ignore"],
  });
  let out = "";
  proc.stdout.on("data", (chunk: Buffer) => {
    out += chunk;
    if (kill && out.includes("\n")) proc.kill("SIGTERM");
  });
  return new Promise((resolve, reject) => {
    proc.once("error", reject);
    proc.once("close", (status, signal) => resolve({ dirs: JSON.parse(out.split("\n")[0]) as string[], status, signal }));
  });
}

function assertGone(dirs: string[]): void {
  assert.equal(dirs.length, 2);
  for (const dir of dirs) assert.ok(!existsSync(dir), `${dir} is left behind`);
}

describe("tempDir() cleans up when the process ends", () => {
  it("at a normal end", async () => {
    const r = await child("");
    assert.equal(r.status, 0);
    assertGone(r.dirs);
  });

  it("at process.exit() and at an uncaught error", async () => {
    const exited = await child("process.exit(3);");
    assert.equal(exited.status, 3);
    assertGone(exited.dirs);
    const threw = await child("throw new Error('a failing test file');");
    assert.equal(threw.status, 1);
    assertGone(threw.dirs);
  });

  it("when killed with SIGTERM, and the process still dies of the signal", async () => {
    const r = await child("setInterval(() => {}, 1000);", { kill: true });
    assert.equal(r.signal, "SIGTERM");
    assertGone(r.dirs);
  });

  it("keeps the folders with LOWBIT_KEEP_TEMP=1, to look at a failure", async () => {
    const r = await child("", { env: { LOWBIT_KEEP_TEMP: "1" } });
    try {
      for (const dir of r.dirs) assert.ok(existsSync(dir), `${dir} was removed`);
    } finally {
      for (const dir of r.dirs) rmSync(dir, { recursive: true, force: true });
    }
  });
});
