// A bounded run of the fuzz harness (scripts/fuzz.ts) for CI: a few hundred seeded cases over the small
// seeds (the shipped 5-35 MB models are left out), every input kind and entry point, on two workers. Both
// families: about 40% of the cases fall on BART seeds (checkpoints, quantized checkpoints, folder exports
// summarized), and every small seed is drawn at least once.
// Every case must end in one clean `lowbit: error:` line or run with the unmutated seed's result (or, for
// an input that stays valid, another result): no crash, hang, OOM, messy error, and no invalid input that
// runs. On failure the message lists each class with a case id; `npx tsx scripts/fuzz.ts --replay <id>`
// re-runs one in-process with its full stack. The harness removes its temp directories itself.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runFuzz, type FuzzRun } from "../../scripts/fuzz.js";
import { ENTRIES, FAILING, KINDS } from "../../scripts/fuzz/common.js";
import { failures } from "../../scripts/fuzz/report.js";
import { SEEDS } from "../../scripts/fuzz/seeds.js";

const CASES = 600;
const SEED = 7;

function describeFindings(run: FuzzRun): string {
  const lines = run.summary.classes
    .filter((c) => FAILING.includes(c.outcome as never) || c.outcome === "harness-error" || c.outcome === "seed-error")
    .map((c) => `  ${c.outcome} ×${c.count}: ${c.signature.slice(0, 160)}\n      e.g. ${c.example.id} (${c.example.seed}, ${c.example.entry}): ${c.example.mutation.slice(0, 200)}\n      → ${c.example.message.split("\n")[0].slice(0, 200)}`);
  return `${run.summary.totals.cases} cases; findings by class (replay: npx tsx scripts/fuzz.ts --replay <id>):\n${lines.join("\n")}`;
}

describe("fuzz", () => {
  it(`${CASES} seeded cases (seed ${SEED}): no crash, hang, OOM, messy error, or invalid input that runs`, { timeout: 180_000 }, async () => {
    const run = await runFuzz({
      cases: CASES, seed: SEED, jobs: 2, kinds: [...KINDS], entries: [...ENTRIES], smallOnly: true,
      timeoutMs: 5000, largeTimeoutMs: 60_000, rssCapMb: 3072, maxOldSpaceMb: 2048, command: "test/fuzz/fuzz.test.ts", quiet: true,
    });
    assert.equal(run.summary.totals.cases, CASES, "every selected case ran");
    // The sample covers both families: every small seed (BART's checkpoints, quantized checkpoints and folders
    // among them), every input kind and every entry point, summarize included.
    const unsampled = SEEDS.filter((s) => !s.large && (run.summary.bySeed[s.name]?.cases ?? 0) === 0).map((s) => s.name);
    assert.deepEqual(unsampled, [], "seeds the sample never drew");
    for (const k of KINDS) assert.ok(run.summary.byKind[k].cases > 0, `no ${k} case`);
    for (const e of ENTRIES) assert.ok(run.summary.byEntry[e].cases > 0, `no ${e} case`);
    // The harness itself: every seed loads unmutated, every input was made, and workers do not drift.
    assert.equal(run.summary.totals["seed-error"], 0, describeFindings(run));
    assert.equal(run.summary.totals["harness-error"], 0, describeFindings(run));
    assert.deepEqual(run.oracleDrift, [], "unmutated seeds give the same result before and after thousands of cases");
    // The loaders.
    assert.deepEqual(failures(run.summary), Object.fromEntries(FAILING.map((o) => [o, 0])), describeFindings(run));
  });
});
