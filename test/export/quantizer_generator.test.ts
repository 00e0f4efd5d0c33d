// The golden vectors are reproducible: the independent Python implementation regenerates exactly the
// committed test/fixtures/quantizer_cases.json (so nobody hand-edits it to fit a bug).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { FIXTURES, ROOT } from "../helpers/fixtures.js";

it("scripts/make_quantizer_cases.py regenerates the committed golden vectors", () => {
  const r = spawnSync("python3", [join(ROOT, "scripts", "make_quantizer_cases.py")], { encoding: "utf8", maxBuffer: 16 << 20 });
  assert.ok(r.error === undefined, `python3 is missing (${r.error?.message}): run scripts/setup.sh`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, readFileSync(join(FIXTURES, "quantizer_cases.json"), "utf8"));
});
