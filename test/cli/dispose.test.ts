// The CLI's model commands stop their worker threads when they end. main() run in-process (as the fuzz harness
// runs it, thousands of times in one process) must not leave workers behind: each one's stdout is piped into
// process.stdout, so leftovers showed up as a growing number of 'error' listeners on it (and a
// MaxListenersExceededWarning on stderr after ten).

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { main } from "../../src/cli.js";
import { ROOT } from "../helpers/fixtures.js";

/** main() with stdout/stderr collected instead of printed; returns the exit status and stderr. */
async function runInProcess(args: string[]): Promise<{ status: number; stderr: string }> {
  const [writeOut, writeErr] = [process.stdout.write, process.stderr.write];
  const err: string[] = [];
  const sink = (into?: string[]) => ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    into?.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    (rest.find((r) => typeof r === "function") as (() => void) | undefined)?.();
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = sink();
  process.stderr.write = sink(err);
  try {
    return { status: await main(["node", "lowbit", ...args]), stderr: err.join("") };
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  }
}

const GPT2 = join(ROOT, "models", "quantgpt-228.onnx");
const BART = join(ROOT, "models", "quantbart-228");

describe("CLI model commands in-process", () => {
  it("leave no worker threads behind: process.stdout's 'error' listeners stay as they were, run after run", async () => {
    const runs: string[][] = [
      ...Array.from({ length: 6 }, () => ["generate", "--model", GPT2, "--prompt-ids", "50256", "--max-new-tokens", "2", "--threads", "2", "--json"]),
      ...Array.from({ length: 3 }, () => ["summarize", "--model", BART, "--input-ids", "0,31414,232,2", "--max-new-tokens", "2", "--num-beams", "1", "--threads", "2", "--json"]),
      ...Array.from({ length: 3 }, () => ["perplexity", "--model", GPT2, "--text", join(ROOT, "README.md"), "--max-tokens", "64", "--threads", "2", "--json"]),
      // A command that fails after the model has loaded (a prompt id past the vocabulary) disposes it too.
      ...Array.from({ length: 3 }, () => ["generate", "--model", GPT2, "--prompt-ids", "999999", "--threads", "2"]),
    ];
    const counts: number[] = [];
    for (const args of runs) {
      const r = await runInProcess(args);
      assert.equal(r.status, args.includes("999999") ? 1 : 0, `${args.join(" ")}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /MaxListenersExceeded/);
      counts.push(process.stdout.listenerCount("error"));
    }
    assert.deepEqual(counts, counts.map(() => counts[0]), "process.stdout 'error' listeners after each run");
  });
});
