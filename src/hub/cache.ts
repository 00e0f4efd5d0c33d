// The Hugging Face Hub cache on disk, laid out exactly as huggingface_hub (Python) writes it, so that
// transformers, huggingface_hub and lowbit find each other's files:
//
//   $HF_HUB_CACHE/models--{org}--{name}/
//     blobs/<etag>                      the file's bytes; etag = the LFS sha256 (big files) or the git blob sha1
//     blobs/<etag>.incomplete           a download under way (resumed from its length)
//     snapshots/<commit>/<path>         a relative symlink to ../../blobs/<etag>
//     refs/<revision>                   the commit hash a branch or tag pointed to when last resolved (no newline)
//
// Also here: which files make a checkpoint (shared by the online download and the offline lookup). Not here:
// the network (download.ts, transfer.ts).

import { copyFileSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { getRepoFolderName } from "@huggingface/hub";
import { LowbitError } from "../errors.js";
import { writeFileAtomic } from "../export/atomic_write.js";
import { readShardIndex } from "../format/node_io.js";

export const COMMIT_HASH = /^[0-9a-f]{40}$/;

// ─── what a checkpoint is made of ─────────────────────────────────────────────────────────────────

export const CONFIG_FILE = "config.json";
export const WEIGHTS_FILE = "model.safetensors";
export const WEIGHTS_INDEX = "model.safetensors.index.json";
/** Taken when the repo has them; a checkpoint is complete without them. */
export const OPTIONAL_FILES = ["generation_config.json", "vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] as const;

/** The shard file names a model.safetensors.index.json names, sorted and validated (plain names, no paths). */
export function shardNames(indexPath: string): string[] {
  return [...new Set(readShardIndex(indexPath).values())].sort();
}

// ─── paths ────────────────────────────────────────────────────────────────────────────────────────

/** <cache>/models--{org}--{name} (@huggingface/hub's getRepoFolderName, which huggingface_hub's naming matches). */
export function repoCacheDir(cacheDir: string, repoId: string): string {
  return join(cacheDir, getRepoFolderName({ type: "model", name: repoId }));
}

export function blobPath(repoDir: string, etag: string): string {
  return join(repoDir, "blobs", etag);
}

export function snapshotDir(repoDir: string, commit: string): string {
  return join(repoDir, "snapshots", commit);
}

// ─── refs ─────────────────────────────────────────────────────────────────────────────────────────

/** The commit a revision names: itself when it is a commit hash, else refs/<revision>'s content, or undefined. */
export function readRef(repoDir: string, revision: string): string | undefined {
  if (COMMIT_HASH.test(revision)) return revision;
  let text: string;
  try {
    text = readFileSync(join(repoDir, "refs", revision), "utf8").trim();
  } catch {
    return undefined;
  }
  return COMMIT_HASH.test(text) ? text : undefined;
}

/** Records that `revision` (a branch or tag; a nested one such as refs/pr/1 too) points at `commit`. */
export function writeRef(repoDir: string, revision: string, commit: string): void {
  if (COMMIT_HASH.test(revision)) return; // huggingface_hub writes no ref for a commit
  const path = join(repoDir, "refs", revision);
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, commit);
}

// ─── snapshot entries ─────────────────────────────────────────────────────────────────────────────

/** The size of the file a snapshot entry leads to (the symlink followed), or undefined if there is none. */
export function fileSize(path: string): number | undefined {
  try {
    const s = statSync(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

/** Points snapshots/<commit>/<path> at blobs/<etag> with a relative symlink, replacing a stale entry. Where the
 * file system refuses symlinks, the blob is copied, as huggingface_hub does there. */
export function linkSnapshotFile(repoDir: string, commit: string, path: string, etag: string): void {
  const entry = join(snapshotDir(repoDir, commit), path);
  const target = relative(dirname(entry), blobPath(repoDir, etag)); // ../../blobs/<etag> for a top-level file
  let current: string | undefined;
  try {
    current = lstatSync(entry).isSymbolicLink() ? readlinkSync(entry) : "(a file)";
  } catch {
    current = undefined;
  }
  if (current === target) return;
  mkdirSync(dirname(entry), { recursive: true });
  const tmp = `${entry}.tmp-link-${process.pid}`; // a new link replaces the old one in one rename
  rmSync(tmp, { force: true });
  try {
    symlinkSync(target, tmp);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EACCES") throw err;
    copyFileSync(blobPath(repoDir, etag), tmp);
  }
  renameSync(tmp, entry);
}

/** What a snapshot folder lacks to be a checkpoint: config.json, and model.safetensors or the shard index and every
 * shard it names. [] when it is complete. The tokenizer and generation config are optional. */
export function missingCheckpointFiles(dir: string): string[] {
  const missing = fileSize(join(dir, CONFIG_FILE)) === undefined ? [CONFIG_FILE] : [];
  if (fileSize(join(dir, WEIGHTS_FILE)) !== undefined) return missing;
  if (fileSize(join(dir, WEIGHTS_INDEX)) === undefined) return [...missing, `${WEIGHTS_FILE} (or ${WEIGHTS_INDEX})`];
  return [...missing, ...shardNames(join(dir, WEIGHTS_INDEX)).filter((name) => fileSize(join(dir, name)) === undefined)];
}

/** The cached snapshot of repoId at revision, complete, for HF_HUB_OFFLINE: its folder and commit, or a
 * LowbitError naming what is missing. */
export function cachedCheckpoint(cacheDir: string, repoId: string, revision: string): { dir: string; commit: string } {
  const repoDir = repoCacheDir(cacheDir, repoId);
  const offline = `HF_HUB_OFFLINE is set and the cache lacks ${repoId} at revision ${revision}`;
  const hint = `run \`lowbit download ${repoId}${revision === "main" ? "" : ` --revision ${revision}`}\` with network first, or unset HF_HUB_OFFLINE`;
  const commit = readRef(repoDir, revision);
  if (commit === undefined) throw new LowbitError(offline, { file: join(repoDir, "refs", revision), expected: "a commit hash", found: "no such file", hint });
  const dir = snapshotDir(repoDir, commit);
  const missing = missingCheckpointFiles(dir);
  if (missing.length > 0) throw new LowbitError(offline, { file: dir, expected: "config.json and the safetensors weights", found: `no ${missing.join(", ")}`, hint });
  return { dir, commit };
}
