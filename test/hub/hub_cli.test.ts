// The CLI with Hub ids, end to end against the local stand-in Hub (fake_hub.ts): `lowbit export <gpt2 id>` and
// `lowbit quantize <bart id>` write the same bytes as from the fixture directories, `lowbit download` prints the
// snapshot that the training stage (train/lowbit_train/hub.py) then finds offline, and bad names are one line.
// The CLI runs in child processes, asynchronously, so that the server in this process keeps answering.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { bartFixtureDir } from "../helpers/bart_fixtures.js";
import { cliArgv } from "../helpers/cli.js";
import { fixtureDir, ROOT, tempDir } from "../helpers/fixtures.js";
import { FakeHub, filesOf, HUB_VARIABLES } from "./fake_hub.js";

const GPT2 = "lowbit-test/tiny-gpt2";
const BART = "lowbit-test/tiny-bart";
const PYTHON = "/usr/bin/python3"; // Debian's, as the training stage's tests use

let hub: FakeHub;
let home: string;

/** The environment of one run: a fresh HF_HOME, the stand-in Hub, no token or offline switch from outside. */
function hubEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of HUB_VARIABLES) delete env[name];
  return { ...env, HF_HOME: home, HF_ENDPOINT: hub.url, ...extra };
}

async function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(file, args, { cwd: ROOT, env, encoding: "utf8" });
    return { status: 0, stdout, stderr };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { code?: number | string; stdout?: string; stderr?: string };
    if (e.code === "ENOENT") assert.fail(`${file} is missing: this test needs it (apt-get install python3)`);
    return { status: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

const lowbit = (args: string[], env = hubEnv()) => run(process.execPath, cliArgv(args), env);

const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => relative(dir, join(d.parentPath, d.name))).sort();

before(async () => {
  hub = await FakeHub.start([
    { id: GPT2, files: filesOf(fixtureDir("tiny-f32")) },
    { id: BART, files: filesOf(bartFixtureDir("bart-f32")), revisions: { v1: filesOf(bartFixtureDir("bart-f16")) } },
  ]);
  home = tempDir("lowbit-hf-home-");
});

after(() => hub.close());

describe("lowbit CLI with Hub ids", () => {
  it("`export <gpt2 id>` writes the bytes that exporting the fixture directory writes", async () => {
    const out = tempDir();
    const viaHub = await lowbit(["export", GPT2, "-o", join(out, "hub.onnx"), "--bits", "2", "--report", join(out, "report.json")]);
    assert.equal(viaHub.status, 0, viaHub.stderr);
    assert.equal(viaHub.stderr, ""); // no progress bar when stderr is not a terminal
    const local = await lowbit(["export", fixtureDir("tiny-f32"), "-o", join(out, "local.onnx"), "--bits", "2"]);
    assert.equal(local.status, 0, local.stderr);
    assert.ok(readFileSync(join(out, "hub.onnx")).equals(readFileSync(join(out, "local.onnx"))));
    assert.equal(JSON.parse(readFileSync(join(out, "report.json"), "utf8")).source, `${GPT2}@${hub.commit(GPT2)}`);
  });

  it("`quantize <bart id> --revision v1` writes the files that quantizing the fixture directory writes", async () => {
    const out = tempDir();
    const viaHub = await lowbit(["quantize", BART, "--revision", "v1", "-o", join(out, "hub"), "--bits", "4"]);
    assert.equal(viaHub.status, 0, viaHub.stderr);
    const local = await lowbit(["quantize", bartFixtureDir("bart-f16"), "-o", join(out, "local"), "--bits", "4"]);
    assert.equal(local.status, 0, local.stderr);
    const files = filesUnder(join(out, "local"));
    assert.deepEqual(filesUnder(join(out, "hub")), files);
    for (const f of files) assert.ok(readFileSync(join(out, "hub", f)).equals(readFileSync(join(out, "local", f))), f);
  });

  it("`download` prints the snapshot directory, which the training stage then resolves offline", async () => {
    const main = await lowbit(["download", GPT2]);
    assert.equal(main.status, 0, main.stderr);
    const gpt2Dir = join(home, "hub", "models--lowbit-test--tiny-gpt2", "snapshots", hub.commit(GPT2));
    assert.equal(main.stdout, `${gpt2Dir}\n`);
    const v1 = await lowbit(["download", BART, "--revision", "v1"]);
    assert.equal(v1.status, 0, v1.stderr);
    const bartDir = join(home, "hub", "models--lowbit-test--tiny-bart", "snapshots", hub.commit(BART, "v1"));
    assert.equal(v1.stdout, `${bartDir}\n`);

    const python = await run(PYTHON, ["-c", [
      "from lowbit_train.hub import resolve_checkpoint",
      `print(resolve_checkpoint("${GPT2}"))`,
      `print(resolve_checkpoint("${BART}@v1"))`,
    ].join("\n")], hubEnv({ PYTHONPATH: join(ROOT, "train"), HF_HUB_OFFLINE: "1" }));
    assert.equal(python.status, 0, python.stderr);
    assert.equal(python.stdout, `${gpt2Dir}\n${bartDir}\n`);
  });

  it("one error line for what is neither a directory nor a Hub id, and for a repo the Hub does not have", async () => {
    const neither = await lowbit(["export", "./no/such/checkpoint", "-o", join(tempDir(), "m.onnx")]);
    assert.equal(neither.status, 1);
    assert.equal(neither.stderr, "lowbit: error: ./no/such/checkpoint: no such directory, and not a Hugging Face Hub id; " +
      "expected a checkpoint directory (config.json + model.safetensors) or a Hub id such as gpt2 or facebook/bart-base[@revision]\n");
    const missing = await lowbit(["download", "lowbit-test/nope"]);
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr, `lowbit: error: lowbit-test/nope: no such model repo or revision on the Hub, found HTTP 404 (Repository not found) from ${hub.url}/api/models/lowbit-test/nope/revision/main\n`);
    assert.equal(missing.stdout, "");
  });
});
