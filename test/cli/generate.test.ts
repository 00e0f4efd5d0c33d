// `lowbit generate`'s sampling flags through the real CLI: what the help text promises is what runs.

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runCli } from "../helpers/cli.js";
import { ROOT } from "../helpers/fixtures.js";

const MODEL = join(ROOT, "models", "quantgpt-228.onnx");

/** The ids `lowbit generate --json` reports for a fixed prompt and 16 new tokens, with extra flags. */
function ids(flags: string[]): number[] {
  const r = runCli(["generate", "--model", MODEL, "--prompt", "The President said that", "--max-new-tokens", "16", "--no-eos", "--json", ...flags]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout).ids;
}

describe("lowbit generate sampling flags", () => {
  it("--temperature 0 is greedy whatever --seed, --top-k and --top-p say", () => {
    const greedy = ids([]);
    assert.deepEqual(ids(["--temperature", "0", "--seed", "3", "--top-k", "5"]), greedy);
    assert.deepEqual(ids(["--temperature", "0", "--top-p", "0.9"]), greedy);
    // The same flags at temperature 1 sample, so the equalities above are not vacuous.
    assert.notDeepEqual(ids(["--temperature", "1", "--seed", "3", "--top-k", "5"]), greedy);
  });

  it("the help text says so", () => {
    const r = runCli(["generate", "--help"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.replace(/\s+/g, " "), /--temperature <t> sampling temperature; 0 = greedy, whatever --top-k, --top-p or --seed say/);
  });
});
