// Hugging Face Hub checkpoints by name: one job, bringing a model repo's checkpoint files into the local Hugging
// Face cache (cache.ts: the layout huggingface_hub writes) and returning the snapshot folder, which the checkpoint
// readers then read like any directory. Node only (the CLI and scripts; the runtime never imports it).
//
//   resolveCheckpoint("gpt2")                    → { dir: "~/.cache/huggingface/hub/models--gpt2/snapshots/<commit>", … }
//   resolveCheckpoint("facebook/bart-base", { revision: "v1" })  (or "facebook/bart-base@v1")
//   resolveCheckpoint("runs/teacher/model")      → the directory as it is
//
// The files: config.json, generation_config.json (if present), model.safetensors or model.safetensors.index.json
// plus exactly the shards it names, and the tokenizer files present among vocab.json, merges.txt, tokenizer.json,
// tokenizer_config.json, special_tokens_map.json. A repo with pytorch_model.bin only is refused.
//
// The steps, as huggingface_hub's snapshot_download takes them: the revision's commit (GET /api/models/{repo}/
// revision/{rev}, @huggingface/hub's modelInfo), the files at that commit with their sizes and hashes (GET
// /api/models/{repo}/tree/{commit}, listFiles), then each file not yet in the cache from /{repo}/resolve/{commit}/
// {path} (transfer.ts: resumed, verified), linked into snapshots/<commit>/; refs/<rev> is written last, once the
// snapshot is complete. A file already in the snapshot with the listed size is not requested again.
// HF_HUB_OFFLINE=1 skips the network and takes the cached snapshot (settings.ts lists the environment variables).

import { existsSync } from "node:fs";
import { join } from "node:path";
import { HubApiError, listFiles, modelInfo, type ListFileEntry } from "@huggingface/hub";
import { LowbitError } from "../errors.js";
import {
  blobPath, cachedCheckpoint, COMMIT_HASH, CONFIG_FILE, fileSize, linkSnapshotFile, missingCheckpointFiles, OPTIONAL_FILES,
  repoCacheDir, shardNames, snapshotDir, WEIGHTS_FILE, WEIGHTS_INDEX, writeRef,
} from "./cache.js";
import { hubSettings, type HubSettings } from "./settings.js";
import { downloadBlob, hubMessage, networkErrorText } from "./transfer.js";

/** Progress of the bytes still to fetch: `done` of `total`, now on `file` (a repo path). */
export type DownloadProgress = (done: number, total: number, file: string) => void;

export interface DownloadOptions {
  /** A branch, tag or commit hash; default "main". */
  revision?: string;
  onProgress?: DownloadProgress;
  /** A dropped or failed transfer is retried (resumed) up to `attempts` times in a row without progress, waiting
   * n × delayMs after the n-th; defaults: 5 attempts, 1000 ms. */
  retry?: { attempts?: number; delayMs?: number };
}

export interface CheckpointSnapshot {
  repoId: string;
  revision: string;
  commit: string;
  /** snapshots/<commit>: a checkpoint directory. */
  dir: string;
  /** Bytes written into the cache this time (a resumed file counts whole); 0 when the cache had everything. */
  downloadedBytes: number;
}

// ─── names ────────────────────────────────────────────────────────────────────────────────────────

// huggingface_hub's validate_repo_id: [org/]name, each part word characters, '-' and '.', starting and ending with
// a word character; no "--" or ".."; at most 96 characters; not ending in ".git".
const REPO_PART = String.raw`\w(?:[\w.-]*\w)?`;
const REPO_ID = new RegExp(`^(?:${REPO_PART}/)?${REPO_PART}$`);

export function isHubRepoId(text: string): boolean {
  return REPO_ID.test(text) && !text.includes("--") && !text.includes("..") && text.length <= 96 && !text.endsWith(".git");
}

function isRevision(text: string): boolean {
  return text !== "" && !/\s/.test(text) && !text.includes("..") && !text.startsWith("/") && !text.endsWith("/");
}

/** "org/name" or "org/name@revision" → its parts; undefined when `text` is not a Hub id. */
export function parseHubRef(text: string): { repoId: string; revision?: string } | undefined {
  const at = text.indexOf("@");
  const repoId = at < 0 ? text : text.slice(0, at);
  const revision = at < 0 ? undefined : text.slice(at + 1);
  if (!isHubRepoId(repoId) || (revision !== undefined && !isRevision(revision))) return undefined;
  return { repoId, revision };
}

// ─── entry points ─────────────────────────────────────────────────────────────────────────────────

/** A checkpoint argument as a directory: an existing path as it is, else a Hub id ("gpt2", "org/name",
 * "org/name@revision") brought into the cache. Anything else is one LowbitError saying it is neither. */
export async function resolveCheckpoint(arg: string, options: DownloadOptions = {}): Promise<{ dir: string; source: string; snapshot?: CheckpointSnapshot }> {
  if (existsSync(arg)) {
    if (options.revision !== undefined) throw new LowbitError("a revision applies to a Hub id, not to a local directory", { file: arg, found: `revision ${options.revision}` });
    return { dir: arg, source: arg };
  }
  const ref = parseHubRef(arg);
  if (ref === undefined) {
    throw new LowbitError("no such directory, and not a Hugging Face Hub id", {
      file: arg, expected: "a checkpoint directory (config.json + model.safetensors) or a Hub id such as gpt2 or facebook/bart-base[@revision]",
    });
  }
  if (ref.revision !== undefined && options.revision !== undefined && ref.revision !== options.revision) {
    throw new LowbitError("two revisions given", { file: arg, expected: "one", found: `@${ref.revision} and ${options.revision}` });
  }
  // "models/teacher" may be a mistyped directory as much as a Hub id: a "not found" from the Hub says both.
  const snapshot = await download(ref.repoId, { ...options, revision: ref.revision ?? options.revision }, "there is no local directory of that name either");
  return { dir: snapshot.dir, source: `${ref.repoId}@${snapshot.commit}`, snapshot };
}

/** Brings repoId's checkpoint files at `revision` into the cache; returns the snapshot. */
export async function downloadCheckpoint(repoId: string, options: DownloadOptions = {}): Promise<CheckpointSnapshot> {
  return download(repoId, options, "");
}

/** `notFoundNote` joins the hint of a "no such repo" answer. */
async function download(repoId: string, options: DownloadOptions, notFoundNote: string): Promise<CheckpointSnapshot> {
  const revision = options.revision ?? "main";
  if (!isHubRepoId(repoId)) throw new LowbitError("not a Hugging Face Hub repo id", { expected: "[org/]name, such as gpt2 or facebook/bart-base", found: JSON.stringify(repoId) });
  if (!isRevision(revision)) throw new LowbitError("not a revision", { expected: "a branch, tag or commit hash", found: JSON.stringify(revision) });
  const settings = hubSettings();
  if (settings.offline) {
    const { dir, commit } = cachedCheckpoint(settings.cacheDir, repoId, revision);
    return { repoId, revision, commit, dir, downloadedBytes: 0 };
  }
  const hub = new HubRepo(settings, repoId, notFoundNote);
  const commit = COMMIT_HASH.test(revision) ? revision : await hub.commitOf(revision);
  const listing = await hub.files(commit);
  const repoDir = repoCacheDir(settings.cacheDir, repoId);
  const dir = snapshotDir(repoDir, commit);

  const need = (path: string): ListFileEntry => {
    const entry = listing.get(path);
    if (entry === undefined) throw new LowbitError(`the repo has no ${path}`, { file: hub.treeUrl(commit) });
    return entry;
  };
  const plan: ListFileEntry[] = [need(CONFIG_FILE)];
  let downloadedBytes = 0;
  if (listing.has(WEIGHTS_FILE)) {
    plan.push(need(WEIGHTS_FILE));
  } else if (listing.has(WEIGHTS_INDEX)) {
    // The index says which shards to take: it comes first, before the progress total is known.
    downloadedBytes += await hub.bring(need(WEIGHTS_INDEX), commit, repoDir, options.retry, () => {});
    plan.push(need(WEIGHTS_INDEX), ...shardNames(join(dir, WEIGHTS_INDEX)).map(need));
  } else {
    const others = [...listing.keys()].filter((p) => /\.(bin|pt|pth|ckpt|h5|msgpack|gguf|safetensors)$/.test(p));
    throw new LowbitError("the repo has no safetensors weights", {
      file: hub.treeUrl(commit), expected: `${WEIGHTS_FILE} or ${WEIGHTS_INDEX}`, found: others.length > 0 ? others.join(", ") : "no weight files",
      hint: "lowbit reads safetensors only, not pytorch_model.bin",
    });
  }
  for (const path of OPTIONAL_FILES) if (listing.has(path)) plan.push(listing.get(path)!);

  const toFetch = plan.filter((e) => fileSize(join(dir, e.path)) !== sizeOf(e));
  const total = toFetch.reduce((sum, e) => sum + sizeOf(e), 0);
  let done = 0;
  for (const entry of toFetch) {
    options.onProgress?.(done, total, entry.path);
    downloadedBytes += await hub.bring(entry, commit, repoDir, options.retry, (bytes) => {
      done += bytes;
      options.onProgress?.(done, total, entry.path);
    });
  }
  const missing = missingCheckpointFiles(dir);
  if (missing.length > 0) throw new LowbitError("the snapshot is incomplete after the download", { file: dir, found: `no ${missing.join(", ")}` });
  writeRef(repoDir, revision, commit);
  return { repoId, revision, commit, dir, downloadedBytes };
}

const sizeOf = (entry: ListFileEntry): number => entry.lfs?.size ?? entry.size;

// ─── the Hub ──────────────────────────────────────────────────────────────────────────────────────

/** One repo on the Hub at settings.endpoint, with the token; every failure becomes one LowbitError line. */
class HubRepo {
  private readonly authorization: Record<string, string>;
  /** @huggingface/hub's calls get the token through this fetch rather than their accessToken parameter, which
   * refuses tokens not starting with "hf_" (older tokens, or a mirror's own behind HF_ENDPOINT). */
  private readonly fetchWithToken: typeof fetch;

  constructor(private readonly settings: HubSettings, readonly repoId: string, private readonly notFoundNote: string) {
    this.authorization = settings.token === undefined ? {} : { Authorization: `Bearer ${settings.token}` };
    this.fetchWithToken = (input, init) => {
      const headers = new Headers(init?.headers);
      for (const [name, value] of Object.entries(this.authorization)) headers.set(name, value);
      return fetch(input, { ...init, headers });
    };
  }

  treeUrl(commit: string): string {
    return `${this.settings.endpoint}/api/models/${this.repoId}/tree/${encodeURIComponent(commit)}`;
  }

  resolveUrl(commit: string, path: string): string {
    return `${this.settings.endpoint}/${this.repoId}/resolve/${encodeURIComponent(commit)}/${path.split("/").map(encodeURIComponent).join("/")}`;
  }

  /** The commit hash a branch or tag points at. */
  async commitOf(revision: string): Promise<string> {
    const url = `${this.settings.endpoint}/api/models/${this.repoId}/revision/${encodeURIComponent(revision)}`;
    const info = await this.api(url, () => modelInfo({ name: this.repoId, revision, hubUrl: this.settings.endpoint, additionalFields: ["sha"], fetch: this.fetchWithToken }));
    const sha = (info as { sha?: unknown }).sha;
    if (typeof sha !== "string" || !COMMIT_HASH.test(sha)) {
      throw new LowbitError("the Hub's answer has no commit hash", { file: url, expected: "sha: 40 hex digits", found: JSON.stringify(sha) });
    }
    return sha;
  }

  /** The repo's top-level files at `commit`, by path, with sizes, git oids and LFS sha256. */
  async files(commit: string): Promise<Map<string, ListFileEntry>> {
    return this.api(this.treeUrl(commit), async () => {
      const files = new Map<string, ListFileEntry>();
      for await (const entry of listFiles({ repo: { type: "model", name: this.repoId }, revision: commit, hubUrl: this.settings.endpoint, fetch: this.fetchWithToken })) {
        if (entry.type === "file") files.set(entry.path, entry);
      }
      return files;
    });
  }

  /** Makes snapshots/<commit>/<entry.path> lead to the file's blob, fetching the blob unless the cache has it
   * (from this or another commit). Returns the bytes fetched. */
  async bring(entry: ListFileEntry, commit: string, repoDir: string, retry: DownloadOptions["retry"], onBytes: (bytes: number) => void): Promise<number> {
    const etag = entry.lfs?.oid ?? entry.oid ?? ""; // what huggingface_hub names the blob: X-Linked-Etag, else ETag
    if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(etag)) {
      throw new LowbitError("the Hub's listing gives no usable hash", { file: this.resolveUrl(commit, entry.path), expected: "a git oid or an LFS sha256", found: JSON.stringify(etag) });
    }
    const size = sizeOf(entry);
    const blob = blobPath(repoDir, etag);
    let fetched = 0;
    if (fileSize(blob) !== size) {
      const url = this.resolveUrl(commit, entry.path);
      await downloadBlob(
        { url, name: `${this.repoId}/${entry.path}`, blob, size, ...(entry.lfs !== undefined ? { sha256: etag } : { gitSha1: etag }) },
        {
          headers: this.authorization,
          maxFailures: retry?.attempts,
          retryDelayMs: retry?.delayMs,
          onBytes: (bytes) => { fetched += bytes; onBytes(bytes); },
          httpError: async (res) => this.httpError(res.status, url, await hubMessage(res), `the repo has no ${entry.path} at ${commit}`, false),
        },
      );
    }
    linkSnapshotFile(repoDir, commit, entry.path, etag);
    return fetched;
  }

  /** Runs an @huggingface/hub call, turning its errors into one line. */
  private async api<T>(url: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof HubApiError) {
        // The Hub's own words, without the ". URL: …" trailer that HubApiError's message adds (the URL is named anyway).
        const said = err.data?.error ?? err.data?.message;
        const message = typeof said === "string" ? said : err.message.replace(/\. URL: .*$/, "");
        throw this.httpError(err.statusCode, url, message.replace(/\s+/g, " ").slice(0, 200), "no such model repo or revision on the Hub", true);
      }
      if (err instanceof SyntaxError) throw new LowbitError("the Hub's answer is not valid JSON", { file: url, found: err.message });
      throw new LowbitError("cannot reach the Hugging Face Hub", {
        file: url, found: networkErrorText(err), hint: "check the network or HF_ENDPOINT; HF_HUB_OFFLINE=1 uses the cache only",
      });
    }
  }

  /** One line for an HTTP error: the repo, what went wrong, the status and the Hub's words, the URL. */
  httpError(status: number, url: string, message: string, notFound: string, repoLevel: boolean): LowbitError {
    const found = `HTTP ${status}${message ? ` (${message})` : ""} from ${url}`;
    const note = this.notFoundNote === "" || !repoLevel ? [] : [this.notFoundNote];
    if (status === 401 || status === 403) {
      const token = this.settings.token === undefined
        ? "a private or gated repo needs a token: set HF_TOKEN (or log in with huggingface-cli login)"
        : `the token from ${this.settings.tokenSource} may not read it: check HF_TOKEN`;
      return new LowbitError(`${this.repoId}: the Hub refused access (no such repo, or it is private or gated)`, { found, hint: [token, ...note].join("; ") });
    }
    if (status === 404) return new LowbitError(`${this.repoId}: ${notFound}`, { found, hint: note.length > 0 ? note[0] : undefined });
    return new LowbitError(`${this.repoId}: the Hub answered with an error`, { found });
  }
}
