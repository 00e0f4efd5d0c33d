// What `lowbit` does when its stdout fails: a reader that goes away (`lowbit generate … | head`: EPIPE) ends
// generation at once and quietly with status 0, as `yes | head` does; a full disk (`> /dev/full`: ENOSPC)
// ends it at once with one error line naming stdout. Both are about the process's own stdout, so these run
// the real CLI in a child process. A preloaded module counts the child's writes to stdout, which for
// streamed generation are one per token: "at once" is a token count, not a wall-clock time.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { cliArgv } from "../helpers/cli.js";
import { ROOT, tempDir } from "../helpers/fixtures.js";

const MODEL = join(ROOT, "models", "quantgpt-228.onnx"); // trained, so no "untrained" note on stderr
const MAX_NEW = 400; // what a run that ignores a failed stdout goes on to write (n_positions is 512)
const GENERATE = ["generate", "--model", MODEL, "--prompt", "The President said that", "--no-eos"];
const ENOSPC_LINE = "lowbit: error: stdout: cannot write the output, found ENOSPC (no space left on device)\n";

/** Preloaded into the child: counts its non-empty writes to stdout into $LOWBIT_TEST_WRITES at exit. */
const COUNT_WRITES = pathToFileURL(join(ROOT, "test", "helpers", "count_stdout_writes.js")).href;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Non-empty writes the CLI made to stdout, failed ones included. */
  writes: number;
}

/**
 * Runs the CLI with stdout on a pipe or on an open file descriptor. With a pipe, `closeReader` says when the
 * reading end goes away: "at-once" right after the spawn (before the model has loaded, so the first write
 * fails), "after-first-bytes" as soon as some output has arrived (mid-stream, as `head -c` does), "never"
 * (all output is read).
 */
function run(args: string[], stdout: { fd: number } | { closeReader: "at-once" | "after-first-bytes" | "never" }): Promise<Run> {
  const countFile = join(tempDir(), "writes");
  const child = spawn(process.execPath, cliArgv(args, ["--import", COUNT_WRITES]), {
    cwd: ROOT,
    env: { ...process.env, LOWBIT_TEST_WRITES: countFile },
    stdio: ["ignore", "fd" in stdout ? stdout.fd : "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr!.on("data", (chunk: Buffer) => { err += chunk; });
  if (!("fd" in stdout)) {
    const pipe = child.stdout as Readable;
    if (stdout.closeReader === "at-once") pipe.destroy();
    else if (stdout.closeReader === "after-first-bytes") pipe.once("data", (chunk: Buffer) => { out += chunk; pipe.destroy(); });
    else pipe.on("data", (chunk: Buffer) => { out += chunk; });
  }
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (status) => resolve({ status, stdout: out, stderr: err, writes: Number(readFileSync(countFile, "utf8")) }));
  });
}

describe("lowbit generate when stdout fails", () => {
  it("the counter counts tokens: a run to a working pipe writes each token, then a newline", async () => {
    const r = await run([...GENERATE, "--max-new-tokens", "16"], { closeReader: "never" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.writes, 16 + 1);
    assert.match(r.stderr, /^prefill: \d+ tokens, .* stop: max_new_tokens\n$/);
  });

  it("a reader gone before the first token: status 0, nothing on stderr, one token written", async () => {
    const r = await run([...GENERATE, "--max-new-tokens", String(MAX_NEW)], { closeReader: "at-once" });
    assert.equal(r.stderr, "");
    assert.equal(r.status, 0);
    assert.equal(r.writes, 1);
  });

  it("a reader gone mid-stream (`| head -c`): status 0, nothing on stderr, generation stops within a few tokens", async () => {
    const r = await run([...GENERATE, "--max-new-tokens", String(MAX_NEW)], { closeReader: "after-first-bytes" });
    assert.ok(r.stdout.length > 0);
    // The tokens written before the reader's close landed in the pipe; one more failed. A generous margin
    // for a slow reader, far below the MAX_NEW + 1 writes of a run that carries on.
    assert.ok(r.writes < MAX_NEW / 4, `${r.writes} writes to stdout of at most ${MAX_NEW + 1}`);
    assert.equal(r.stderr, "");
    assert.equal(r.status, 0);
  });

  it("a full disk (`> /dev/full`): one error line naming stdout and ENOSPC, status 1, one token written", async () => {
    const fd = openSync("/dev/full", "w");
    try {
      const r = await run([...GENERATE, "--max-new-tokens", String(MAX_NEW)], { fd });
      assert.equal(r.stderr, ENOSPC_LINE);
      assert.equal(r.status, 1);
      assert.equal(r.writes, 1);
    } finally {
      closeSync(fd);
    }
  });

  it("--json: a gone reader is quiet with status 0; a full disk is the same one error line", async () => {
    const json = [...GENERATE, "--max-new-tokens", "8", "--json"];
    const gone = await run(json, { closeReader: "at-once" });
    assert.deepEqual([gone.status, gone.stderr, gone.writes], [0, "", 1]);
    const fd = openSync("/dev/full", "w");
    try {
      const full = await run(json, { fd });
      assert.deepEqual([full.status, full.stderr, full.writes], [1, ENOSPC_LINE, 1]);
    } finally {
      closeSync(fd);
    }
  });

  it("other commands too: `inspect` to a gone reader or a full disk", async () => {
    const gone = await run(["inspect", MODEL], { closeReader: "at-once" });
    assert.deepEqual([gone.status, gone.stderr], [0, ""]);
    const fd = openSync("/dev/full", "w");
    try {
      const full = await run(["inspect", MODEL], { fd });
      assert.deepEqual([full.status, full.stderr], [1, ENOSPC_LINE]);
    } finally {
      closeSync(fd);
    }
  });
});
