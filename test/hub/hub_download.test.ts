// src/hub/ against a local stand-in for the Hugging Face Hub (fake_hub.ts): the cache layout huggingface_hub writes,
// a second run served from the cache, resuming after a dropped connection, hash checks, the one-line errors (404s,
// 401, no safetensors, an unreachable endpoint), HF_TOKEN and the token file, HF_ENDPOINT, HF_HUB_CACHE and
// HF_HUB_OFFLINE, and resolveCheckpoint's directory-or-Hub-id rule.

import assert from "node:assert/strict";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { LowbitError } from "../../src/errors.js";
import { readBartCheckpoint, readGpt2Checkpoint } from "../../src/export/checkpoint.js";
import { downloadCheckpoint, parseHubRef, resolveCheckpoint, type CheckpointSnapshot } from "../../src/hub/download.js";
import { bartFixtureDir } from "../helpers/bart_fixtures.js";
import { fixtureDir, tempDir } from "../helpers/fixtures.js";
import { FakeHub, filesOf, gitBlobOid as gitOid, HUB_VARIABLES, sha256 } from "./fake_hub.js";

const GPT2 = "lowbit-test/tiny-gpt2";
const SHARDED = "lowbit-test/tiny-gpt2-sharded";
const BART = "lowbit-test/tiny-bart";
const BIN_ONLY = "lowbit-test/bin-only";
const PRIVATE = "lowbit-test/private-gpt2";
const TOKEN = "hf_lowbit_test_token";
const FAST_RETRY = { attempts: 5, delayMs: 5 };

const savedEnv = Object.fromEntries(HUB_VARIABLES.map((name) => [name, process.env[name]]));

const junk = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7919) & 0xff);

let hub: FakeHub;
let home: string;

/** The error a promise rejects with, which must be a one-line LowbitError. */
async function lowbitError(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(() => assert.fail("expected a LowbitError"), (e: unknown) => e);
  assert.ok(err instanceof LowbitError, `expected a LowbitError, got ${(err as Error).stack}`);
  assert.doesNotMatch(err.message, /\n/);
  return err.message;
}

/** A port nothing listens on: one the system just gave out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const repoDir = (id: string, cache = join(home, "hub")) => join(cache, `models--${id.replace("/", "--")}`);

before(async () => {
  hub = await FakeHub.start([
    { id: GPT2, files: filesOf(fixtureDir("tiny-f32"), { "README.md": "# tiny\n", "tokenizer_config.json": "{}\n", "pytorch_model.bin": junk(1000), "onnx/model.onnx": junk(10) }) },
    { id: SHARDED, files: filesOf(fixtureDir("tiny-f16"), { "model-00003-of-00003.safetensors": junk(100) }) },
    { id: BART, files: filesOf(bartFixtureDir("bart-f32")), revisions: { v1: filesOf(bartFixtureDir("bart-f16")) } },
    { id: BIN_ONLY, files: new Map([["config.json", new Uint8Array(readFileSync(join(fixtureDir("tiny-f32"), "config.json")))], ["pytorch_model.bin", junk(100)]]) },
    { id: PRIVATE, files: filesOf(fixtureDir("tiny-bf16")), token: TOKEN },
  ]);
});

after(async () => {
  await hub.close();
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

beforeEach(() => {
  for (const name of HUB_VARIABLES) delete process.env[name];
  home = tempDir("lowbit-hf-home-");
  process.env.HF_HOME = home;
  process.env.HF_ENDPOINT = hub.url;
  hub.resetLog();
});

afterEach(() => hub.clearFaults());

describe("downloadCheckpoint: the cache", () => {
  it("writes huggingface_hub's layout: refs/main, snapshots/<commit>/ of relative symlinks, blobs named by LFS sha256 or git oid", async () => {
    const progress: [number, number, string][] = [];
    const snapshot = await downloadCheckpoint(GPT2, { onProgress: (done, total, file) => progress.push([done, total, file]) });
    const commit = hub.commit(GPT2);
    const repo = repoDir(GPT2);
    assert.deepEqual({ ...snapshot }, { repoId: GPT2, revision: "main", commit, dir: join(repo, "snapshots", commit), downloadedBytes: snapshot.downloadedBytes });
    assert.equal(readFileSync(join(repo, "refs", "main"), "utf8"), commit); // no newline, as huggingface_hub writes it
    // Exactly the checkpoint's files: not README.md, pytorch_model.bin or the onnx/ folder.
    const wanted = ["config.json", "merges.txt", "model.safetensors", "tokenizer_config.json", "vocab.json"];
    assert.deepEqual(readdirSync(snapshot.dir).sort(), wanted);
    const etags: string[] = [];
    let total = 0;
    for (const name of wanted) {
      const source = name === "tokenizer_config.json" ? new TextEncoder().encode("{}\n") : new Uint8Array(readFileSync(join(fixtureDir("tiny-f32"), name)));
      const etag = name.endsWith(".safetensors") ? sha256(source) : gitOid(source);
      const entry = join(snapshot.dir, name);
      assert.ok(lstatSync(entry).isSymbolicLink(), `${name} is a symlink`);
      assert.equal(readlinkSync(entry), `../../blobs/${etag}`);
      assert.deepEqual(new Uint8Array(readFileSync(entry)), source, name);
      etags.push(etag);
      total += source.byteLength;
    }
    assert.deepEqual(readdirSync(join(repo, "blobs")).sort(), etags.sort()); // no .incomplete left
    assert.equal(snapshot.downloadedBytes, total);
    assert.deepEqual(progress.at(-1)!.slice(0, 2), [total, total]);
    assert.ok(progress.every(([done, t]) => t === total && done <= total));
    // One request per file; the LFS file through the resolve URL's redirect to the CDN.
    assert.deepEqual(hub.blobRequests().map((r) => r.path).sort(), [
      ...wanted.map((name) => `/${GPT2}/resolve/${commit}/${name}`), `/cdn/${sha256(new Uint8Array(readFileSync(join(fixtureDir("tiny-f32"), "model.safetensors"))))}`,
    ].sort());
  });

  it("serves a second run from the cache: API calls only, no file requests", async () => {
    const first = await downloadCheckpoint(GPT2);
    hub.resetLog();
    const second = await downloadCheckpoint(GPT2);
    assert.equal(second.dir, first.dir);
    assert.equal(second.downloadedBytes, 0);
    assert.deepEqual(hub.blobRequests(), []);
    assert.ok(hub.requests.length > 0, "the revision is still resolved on the Hub");
  });

  it("takes a sharded checkpoint's index and exactly the shards it names, which read as the fixture does", async () => {
    const snapshot = await downloadCheckpoint(SHARDED);
    assert.deepEqual(readdirSync(snapshot.dir).sort(), [
      "config.json", "merges.txt", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json", "vocab.json",
    ]);
    const got = readGpt2Checkpoint(snapshot.dir);
    const want = readGpt2Checkpoint(fixtureDir("tiny-f16"));
    assert.deepEqual(got.config, want.config);
    assert.deepEqual([...got.tensors.keys()].sort(), [...want.tensors.keys()].sort());
    for (const [name, t] of want.tensors) assert.deepEqual(got.tensors.get(name), t, name);
  });

  it("a tag gets its own commit and refs/<tag>; a commit hash as revision writes no ref", async () => {
    const v1 = await downloadCheckpoint(BART, { revision: "v1" });
    const repo = repoDir(BART);
    assert.equal(v1.commit, hub.commit(BART, "v1"));
    assert.equal(readFileSync(join(repo, "refs", "v1"), "utf8"), v1.commit);
    assert.ok(readdirSync(v1.dir).includes("generation_config.json"));
    assert.equal(readBartCheckpoint(v1.dir).config.model_type, "bart");
    const main = hub.commit(BART);
    const byCommit = await downloadCheckpoint(BART, { revision: main });
    assert.equal(byCommit.dir, join(repo, "snapshots", main));
    assert.deepEqual(readdirSync(join(repo, "refs")), ["v1"]);
    assert.deepEqual(readdirSync(join(repo, "snapshots")).sort(), [main, v1.commit].sort());
  });
});

describe("downloadCheckpoint: transfers", () => {
  it("resumes a connection dropped mid-file with a Range request, and the hash checks out", async () => {
    const bytes = new Uint8Array(readFileSync(join(fixtureDir("tiny-f32"), "model.safetensors")));
    hub.faults.dropAfter.set("model.safetensors", 100_000);
    const snapshot = await downloadCheckpoint(GPT2, { retry: FAST_RETRY });
    assert.deepEqual(new Uint8Array(readFileSync(join(snapshot.dir, "model.safetensors"))), bytes);
    const cdn = hub.blobRequests().filter((r) => r.path.startsWith("/cdn/"));
    assert.deepEqual(cdn.map((r) => r.range), [undefined, "bytes=100000-"]);
    assert.equal(readdirSync(join(repoDir(GPT2), "blobs")).filter((n) => n.endsWith(".incomplete")).length, 0);
  });

  it("gives up after the retries with one line, keeps the partial file, and the next run resumes it", async () => {
    hub.faults.dropAfter.set("model.safetensors", 100_000);
    hub.faults.alwaysDrop.add("model.safetensors");
    const message = await lowbitError(downloadCheckpoint(GPT2, { retry: FAST_RETRY }));
    const blob = sha256(new Uint8Array(readFileSync(join(fixtureDir("tiny-f32"), "model.safetensors"))));
    assert.match(message, new RegExp(`^http://127\\.0\\.0\\.1:\\d+/${GPT2}/resolve/${hub.commit(GPT2)}/model\\.safetensors: download failed 5 times in a row, found .+ \\(100000 of 490312 bytes kept in .*blobs/${blob}\\.incomplete; run the command again to resume\\)$`));
    assert.equal(lstatSync(join(repoDir(GPT2), "blobs", `${blob}.incomplete`)).size, 100_000);
    assert.equal(existsSync(join(repoDir(GPT2), "refs", "main")), false, "no ref to an incomplete snapshot");

    hub.faults.alwaysDrop.clear();
    hub.resetLog();
    const snapshot = await downloadCheckpoint(GPT2, { retry: FAST_RETRY });
    assert.deepEqual(hub.blobRequests().filter((r) => r.path.startsWith("/cdn/")).map((r) => r.range), ["bytes=100000-"]);
    assert.equal(sha256(new Uint8Array(readFileSync(join(snapshot.dir, "model.safetensors")))), blob);
  });

  it("refuses a corrupted body by its hash (LFS sha256 or git blob sha1) and a too long one by its size, deleting the bad download", async () => {
    hub.faults.corrupt.add("model.safetensors");
    const lfs = await lowbitError(downloadCheckpoint(GPT2, { retry: FAST_RETRY }));
    const want = sha256(new Uint8Array(readFileSync(join(fixtureDir("tiny-f32"), "model.safetensors"))));
    assert.match(lfs, new RegExp(`^${GPT2}/model\\.safetensors: downloaded bytes do not match the Hub's SHA-256 \\(LFS oid\\); expected ${want}, found [0-9a-f]{64} \\(from http://.+; the bad download was deleted, run the command again\\)$`));
    assert.deepEqual(readdirSync(join(repoDir(GPT2), "blobs")).filter((n) => n.startsWith(want)), []);

    hub.faults.corrupt.clear();
    hub.faults.corrupt.add("vocab.json");
    const git = await lowbitError(downloadCheckpoint(GPT2, { retry: FAST_RETRY }));
    const vocab = gitOid(new Uint8Array(readFileSync(join(fixtureDir("tiny-f32"), "vocab.json"))));
    assert.match(git, new RegExp(`^${GPT2}/vocab\\.json: downloaded bytes do not match the Hub's git blob SHA-1; expected ${vocab}, found [0-9a-f]{40} `));
    assert.deepEqual(readdirSync(join(repoDir(GPT2), "blobs")).filter((n) => n.startsWith(vocab)), []);

    hub.faults.corrupt.clear();
    hub.faults.lengthen.add("merges.txt");
    assert.match(await lowbitError(downloadCheckpoint(GPT2, { retry: FAST_RETRY })),
      new RegExp(`^${GPT2}/merges\\.txt: the download is longer than the Hub's listing says; expected 105 bytes, found more than 105 \\(from http://.+; the partial download was deleted\\)$`));
    assert.deepEqual(readdirSync(join(repoDir(GPT2), "blobs")).filter((n) => n.endsWith(".incomplete")), []);
  });
});

describe("downloadCheckpoint: errors", () => {
  it("an unknown repo, an unknown revision and a file missing behind the listing: one line naming the repo and the URL", async () => {
    assert.equal(
      await lowbitError(downloadCheckpoint("lowbit-test/nope")),
      `lowbit-test/nope: no such model repo or revision on the Hub, found HTTP 404 (Repository not found) from ${hub.url}/api/models/lowbit-test/nope/revision/main`,
    );
    assert.equal(
      await lowbitError(downloadCheckpoint(GPT2, { revision: "v9" })),
      `${GPT2}: no such model repo or revision on the Hub, found HTTP 404 (Invalid rev id: v9) from ${hub.url}/api/models/${GPT2}/revision/v9`,
    );
    hub.faults.missing.add("vocab.json");
    const commit = hub.commit(GPT2);
    assert.equal(
      await lowbitError(downloadCheckpoint(GPT2)),
      `${GPT2}: the repo has no vocab.json at ${commit}, found HTTP 404 (vocab.json does not exist on "${commit}") from ${hub.url}/${GPT2}/resolve/${commit}/vocab.json`,
    );
  });

  it("a repo with pytorch_model.bin and no safetensors is refused", async () => {
    assert.equal(
      await lowbitError(downloadCheckpoint(BIN_ONLY)),
      `${hub.url}/api/models/${BIN_ONLY}/tree/${hub.commit(BIN_ONLY)}: the repo has no safetensors weights; expected model.safetensors or ` +
        "model.safetensors.index.json, found pytorch_model.bin (lowbit reads safetensors only, not pytorch_model.bin)",
    );
  });

  it("an unreachable or malformed HF_ENDPOINT, and bad names, are one line each", async () => {
    const closed = await closedPort();
    process.env.HF_ENDPOINT = `http://127.0.0.1:${closed}`;
    assert.match(await lowbitError(downloadCheckpoint(GPT2)), new RegExp(`^http://127\\.0\\.0\\.1:${closed}/api/models/lowbit-test/tiny-gpt2/revision/main: cannot reach the Hugging Face Hub, found ECONNREFUSED.* \\(check the network or HF_ENDPOINT; HF_HUB_OFFLINE=1 uses the cache only\\)$`));
    process.env.HF_ENDPOINT = "huggingface.co";
    assert.equal(await lowbitError(downloadCheckpoint(GPT2)), 'HF_ENDPOINT is not an http(s) URL; expected a URL such as https://huggingface.co, found "huggingface.co"');
    assert.equal(await lowbitError(downloadCheckpoint("a/b/c")), 'not a Hugging Face Hub repo id; expected [org/]name, such as gpt2 or facebook/bart-base, found "a/b/c"');
    assert.deepEqual(hub.requests, []);
  });
});

describe("downloadCheckpoint: environment", () => {
  it("sends HF_TOKEN as a Bearer token on every request; without a token a private repo's 401 says to set HF_TOKEN", async () => {
    assert.match(await lowbitError(downloadCheckpoint(PRIVATE)), new RegExp(
      `^${PRIVATE}: the Hub refused access \\(no such repo, or it is private or gated\\), found HTTP 401 \\(Invalid username or password\\.\\) from ${hub.url}/api/models/${PRIVATE}/revision/main \\(a private or gated repo needs a token: set HF_TOKEN \\(or log in with huggingface-cli login\\)\\)$`));
    process.env.HF_TOKEN = "hf_wrong";
    assert.match(await lowbitError(downloadCheckpoint(PRIVATE)), /\(the token from HF_TOKEN may not read it: check HF_TOKEN\)$/);
    process.env.HF_TOKEN = TOKEN;
    hub.resetLog();
    const snapshot = await downloadCheckpoint(PRIVATE);
    assert.ok(existsSync(join(snapshot.dir, "model.safetensors")));
    assert.ok(hub.blobRequests().length > 0);
    for (const r of hub.requests) assert.equal(r.authorization, `Bearer ${TOKEN}`, r.path);
  });

  it("reads the token file $HF_HOME/token (as huggingface-cli login writes it) when HF_TOKEN is unset", async () => {
    writeFileSync(join(home, "token"), `${TOKEN}\n`);
    const snapshot = await downloadCheckpoint(PRIVATE);
    assert.ok(existsSync(join(snapshot.dir, "config.json")));
    assert.ok(hub.requests.every((r) => r.authorization === `Bearer ${TOKEN}`));
  });

  it("honours HF_ENDPOINT with a trailing slash, and HF_HUB_CACHE over HF_HOME", async () => {
    process.env.HF_ENDPOINT = `${hub.url}/`;
    const cache = tempDir("lowbit-hf-cache-");
    process.env.HF_HUB_CACHE = cache;
    const snapshot = await downloadCheckpoint(GPT2);
    assert.equal(snapshot.dir, join(repoDir(GPT2, cache), "snapshots", hub.commit(GPT2)));
    assert.equal(existsSync(join(home, "hub")), false);
    assert.ok(hub.requests.every((r) => !r.path.startsWith("//")));
  });

  it("HF_HUB_OFFLINE=1 takes the cached snapshot with no request, and names what the cache lacks", async () => {
    process.env.HF_HUB_OFFLINE = "1";
    const empty = await lowbitError(downloadCheckpoint(GPT2));
    assert.equal(empty, `${join(repoDir(GPT2), "refs", "main")}: HF_HUB_OFFLINE is set and the cache lacks ${GPT2} at revision main; ` +
      `expected a commit hash, found no such file (run \`lowbit download ${GPT2}\` with network first, or unset HF_HUB_OFFLINE)`);
    delete process.env.HF_HUB_OFFLINE;
    const online = await downloadCheckpoint(GPT2);
    const sharded = await downloadCheckpoint(SHARDED);
    rmSync(join(sharded.dir, "model-00002-of-00002.safetensors"));
    hub.resetLog();
    process.env.HF_HUB_OFFLINE = "true";
    assert.deepEqual(await downloadCheckpoint(GPT2), { ...online, downloadedBytes: 0 });
    assert.match(await lowbitError(downloadCheckpoint(SHARDED)), /: HF_HUB_OFFLINE is set and the cache lacks lowbit-test\/tiny-gpt2-sharded at revision main; expected config\.json and the safetensors weights, found no model-00002-of-00002\.safetensors \(run/);
    assert.deepEqual(hub.requests, []);
  });
});

describe("resolveCheckpoint: a directory or a Hub id", () => {
  it("takes an existing directory as it is, and a Hub id (with @revision) through the cache", async () => {
    assert.deepEqual(await resolveCheckpoint(fixtureDir("tiny-f32")), { dir: fixtureDir("tiny-f32"), source: fixtureDir("tiny-f32") });
    const r = await resolveCheckpoint(`${BART}@v1`);
    const snapshot = r.snapshot as CheckpointSnapshot;
    assert.equal(snapshot.commit, hub.commit(BART, "v1"));
    assert.deepEqual({ dir: r.dir, source: r.source }, { dir: snapshot.dir, source: `${BART}@${snapshot.commit}` });
  });

  it("refuses what is neither, a revision for a directory, and two revisions, in one line each", async () => {
    assert.equal(await lowbitError(resolveCheckpoint("./no/such/checkpoint")),
      "./no/such/checkpoint: no such directory, and not a Hugging Face Hub id; expected a checkpoint directory (config.json + model.safetensors) or a Hub id such as gpt2 or facebook/bart-base[@revision]");
    assert.equal(await lowbitError(resolveCheckpoint(fixtureDir("tiny-f32"), { revision: "v1" })),
      `${fixtureDir("tiny-f32")}: a revision applies to a Hub id, not to a local directory, found revision v1`);
    assert.equal(await lowbitError(resolveCheckpoint(`${BART}@v1`, { revision: "main" })), `${BART}@v1: two revisions given; expected one, found @v1 and main`);
    assert.equal(await lowbitError(resolveCheckpoint("models/no-such-teacher")),
      `models/no-such-teacher: no such model repo or revision on the Hub, found HTTP 404 (Repository not found) from ${hub.url}/api/models/models/no-such-teacher/revision/main (there is no local directory of that name either)`);
  });

  it("parses Hub ids as huggingface_hub validates them", () => {
    assert.deepEqual(parseHubRef("gpt2"), { repoId: "gpt2", revision: undefined });
    assert.deepEqual(parseHubRef("facebook/bart-base@refs/pr/1"), { repoId: "facebook/bart-base", revision: "refs/pr/1" });
    for (const bad of ["/abs/path", "./rel", "a/b/c", "a--b", "a..b", "-a", "a.", "gpt2@", "org/name.git", `${"x".repeat(97)}`]) {
      assert.equal(parseHubRef(bad), undefined, bad);
    }
  });
});
