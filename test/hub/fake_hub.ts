// A local stand-in for the Hugging Face Hub over node:http, in the Hub's URL layout and with its headers, serving
// tiny checkpoints from test/fixtures; faults on demand (a connection dropped mid-file, a corrupted or too long body,
// a file missing behind its listing) and a log of every request, so tests can count what the downloader asked for.
//
//   GET  /api/models/{repo}/revision/{rev}     {"id", "sha", …} (modelInfo)
//   GET  /api/models/{repo}/tree/{rev}         [{"type", "path", "size", "oid", "lfs"?: {"oid", "size", "pointerSize"}}]
//   GET|HEAD /{repo}/resolve/{rev}/{path}      plain git files: the bytes, ETag "<git sha1>", X-Repo-Commit
//                                              LFS files: 302 to /cdn/<sha256>, X-Linked-Etag, X-Linked-Size, X-Repo-Commit
//   GET|HEAD /cdn/{sha256}                     the LFS bytes; Accept-Ranges, Range → 206 with Content-Range
//
// Unknown repos and revisions get the Hub's 404 ({"error": …} and X-Error-Code); a private repo without the right
// `Authorization: Bearer` gets its 401.

import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

export interface FakeRepoSpec {
  id: string;
  /** path → bytes at the main commit. */
  files: Map<string, Uint8Array>;
  /** Files stored with Git LFS (the Hub does so for *.safetensors and other big files). */
  lfs?: (path: string) => boolean;
  /** Other revisions: name → files (a tag or branch whose commit differs from main's). */
  revisions?: Record<string, Map<string, Uint8Array>>;
  /** Only this token may read it. */
  token?: string;
}

interface Commit {
  sha: string;
  files: Map<string, { bytes: Uint8Array; gitOid: string; sha256?: string; pointer?: string }>;
}

interface FakeRepo {
  spec: FakeRepoSpec;
  commits: Map<string, Commit>; // revision name or commit sha → commit
}

export interface LoggedRequest {
  method: string;
  path: string;
  range?: string;
  authorization?: string;
}

/** Faults, each keyed by a repo path; consumed as they happen unless said otherwise. */
export interface Faults {
  /** Send this many bytes of the body, then destroy the socket (once per entry; before alwaysDrop). */
  dropAfter: Map<string, number>;
  /** Drop every request for this file before any body byte (never consumed). */
  alwaysDrop: Set<string>;
  /** Serve this file's body with one byte flipped (never consumed). */
  corrupt: Set<string>;
  /** Serve this file's body with 1000 bytes more than the listing says (never consumed). */
  lengthen: Set<string>;
  /** The listing shows this file but resolving it answers 404 (never consumed). */
  missing: Set<string>;
}

export const GIT_LFS = (path: string): boolean => /\.(safetensors|bin)$/.test(path);

/** The environment variables through which huggingface_hub (and src/hub/settings.ts) find the Hub, the cache and a token. */
export const HUB_VARIABLES = ["HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "XDG_CACHE_HOME"];

const sha1 = (data: Uint8Array | string) => createHash("sha1").update(data).digest("hex");
/** An LFS file's oid. */
export const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
/** A plain git file's oid: sha1("blob <size>\0" + content). */
export const gitBlobOid = (data: Uint8Array) => createHash("sha1").update(`blob ${data.byteLength}\0`).update(data).digest("hex");

/** A fixture directory's files (expected.json, the oracle, left out), plus `extra`. */
export function filesOf(dir: string, extra: Record<string, string | Uint8Array> = {}): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(dir).sort()) if (name !== "expected.json") files.set(name, new Uint8Array(readFileSync(join(dir, name))));
  for (const [name, data] of Object.entries(extra)) files.set(name, typeof data === "string" ? new TextEncoder().encode(data) : data);
  return files;
}

function makeCommit(repoId: string, name: string, files: Map<string, Uint8Array>, lfs: (path: string) => boolean): Commit {
  const entries = new Map<string, Commit["files"] extends Map<string, infer V> ? V : never>();
  for (const [path, bytes] of files) {
    if (lfs(path)) {
      const digest = sha256(bytes);
      const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${digest}\nsize ${bytes.byteLength}\n`;
      entries.set(path, { bytes, gitOid: gitBlobOid(new TextEncoder().encode(pointer)), sha256: digest, pointer });
    } else {
      entries.set(path, { bytes, gitOid: gitBlobOid(bytes) });
    }
  }
  return { sha: sha1(`${repoId}@${name}`), files: entries };
}

export class FakeHub {
  readonly requests: LoggedRequest[] = [];
  readonly faults: Faults = { dropAfter: new Map(), alwaysDrop: new Set(), corrupt: new Set(), lengthen: new Set(), missing: new Set() };
  private readonly repos = new Map<string, FakeRepo>();
  private readonly lfsBlobs = new Map<string, { repo: FakeRepo; path: string; bytes: Uint8Array }>();

  private constructor(private readonly server: Server, readonly url: string, specs: FakeRepoSpec[]) {
    for (const spec of specs) {
      const lfs = spec.lfs ?? GIT_LFS;
      const main = makeCommit(spec.id, "main", spec.files, lfs);
      const repo: FakeRepo = { spec, commits: new Map([["main", main], [main.sha, main]]) };
      for (const [name, files] of Object.entries(spec.revisions ?? {})) {
        const commit = makeCommit(spec.id, name, files, lfs);
        repo.commits.set(name, commit).set(commit.sha, commit);
      }
      for (const commit of repo.commits.values()) {
        for (const [path, f] of commit.files) if (f.sha256 !== undefined) this.lfsBlobs.set(f.sha256, { repo, path, bytes: f.bytes });
      }
      this.repos.set(spec.id, repo);
    }
  }

  static async start(specs: FakeRepoSpec[]): Promise<FakeHub> {
    let hub: FakeHub | undefined;
    const server = createServer((req, res) => hub!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    hub = new FakeHub(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, specs);
    return hub;
  }

  /** The commit sha a revision of a repo has. */
  commit(repoId: string, revision = "main"): string {
    return this.repos.get(repoId)!.commits.get(revision)!.sha;
  }

  /** The requests for file bytes (resolve and CDN), not the API's. */
  blobRequests(): LoggedRequest[] {
    return this.requests.filter((r) => !r.path.startsWith("/api/"));
  }

  resetLog(): void {
    this.requests.length = 0;
  }

  clearFaults(): void {
    for (const fault of Object.values(this.faults)) fault.clear();
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = decodeURIComponent(new URL(req.url!, "http://x").pathname);
    this.requests.push({ method: req.method!, path, range: req.headers.range, authorization: req.headers.authorization });
    let m: RegExpExecArray | null;
    if ((m = /^\/api\/models\/(.+?)\/revision\/(.+)$/.exec(path)) !== null) return this.revision(req, res, m[1], m[2]);
    if ((m = /^\/api\/models\/(.+?)\/tree\/([^/]+)$/.exec(path)) !== null) return this.tree(req, res, m[1], m[2]);
    if ((m = /^\/cdn\/([0-9a-f]{64})$/.exec(path)) !== null) {
      const blob = this.lfsBlobs.get(m[1]);
      if (blob === undefined) return this.error(res, 404, "EntryNotFound", "Entry not found");
      return this.body(req, res, blob.path, blob.bytes, { ETag: `"${m[1]}"` });
    }
    if ((m = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(path)) !== null) return this.resolve(req, res, m[1], m[2], m[3]);
    this.error(res, 404, "RepoNotFound", "Repository not found");
  }

  /** The repo and commit, or undefined after answering the error the Hub would. */
  private find(req: IncomingMessage, res: ServerResponse, repoId: string, revision: string): { repo: FakeRepo; commit: Commit } | undefined {
    const repo = this.repos.get(repoId);
    if (repo === undefined) {
      this.error(res, 404, "RepoNotFound", "Repository not found");
      return undefined;
    }
    if (repo.spec.token !== undefined && req.headers.authorization !== `Bearer ${repo.spec.token}`) {
      this.error(res, 401, "RepoNotFound", "Invalid username or password."); // the Hub's words for a private repo
      return undefined;
    }
    const commit = repo.commits.get(revision);
    if (commit === undefined) {
      this.error(res, 404, "RevisionNotFound", `Invalid rev id: ${revision}`);
      return undefined;
    }
    return { repo, commit };
  }

  private revision(req: IncomingMessage, res: ServerResponse, repoId: string, revision: string): void {
    const found = this.find(req, res, repoId, revision);
    if (found === undefined) return;
    this.json(res, {
      _id: sha1(repoId).slice(0, 24), id: repoId, sha: found.commit.sha, private: found.repo.spec.token !== undefined, gated: false,
      downloads: 0, likes: 0, lastModified: "2026-01-01T00:00:00.000Z", pipeline_tag: "text-generation",
    });
  }

  private tree(req: IncomingMessage, res: ServerResponse, repoId: string, revision: string): void {
    const found = this.find(req, res, repoId, revision);
    if (found === undefined) return;
    const entries: unknown[] = [];
    const dirs = new Set<string>();
    for (const [path, f] of found.commit.files) {
      if (path.includes("/")) { dirs.add(path.split("/")[0]); continue; } // non-recursive: the folder, not its files
      entries.push(f.sha256 === undefined
        ? { type: "file", oid: f.gitOid, size: f.bytes.byteLength, path }
        : { type: "file", oid: f.gitOid, size: f.bytes.byteLength, lfs: { oid: f.sha256, size: f.bytes.byteLength, pointerSize: f.pointer!.length }, path });
    }
    for (const dir of dirs) entries.push({ type: "directory", oid: sha1(dir), size: 0, path: dir });
    this.json(res, entries);
  }

  private resolve(req: IncomingMessage, res: ServerResponse, repoId: string, revision: string, filePath: string): void {
    const found = this.find(req, res, repoId, revision);
    if (found === undefined) return;
    const f = found.commit.files.get(filePath);
    if (f === undefined || this.faults.missing.has(filePath)) return this.error(res, 404, "EntryNotFound", `${filePath} does not exist on "${revision}"`);
    const common = { "X-Repo-Commit": found.commit.sha };
    if (f.sha256 !== undefined) {
      res.writeHead(302, {
        ...common, Location: `/cdn/${f.sha256}`, "X-Linked-Etag": `"${f.sha256}"`, "X-Linked-Size": String(f.bytes.byteLength), ETag: `"${f.gitOid}"`,
      });
      res.end();
      return;
    }
    this.body(req, res, filePath, f.bytes, { ...common, ETag: `"${f.gitOid}"` });
  }

  /** The bytes with Range support, and the faults asked for. */
  private body(req: IncomingMessage, res: ServerResponse, filePath: string, bytes: Uint8Array, headers: Record<string, string>): void {
    if (this.faults.corrupt.has(filePath)) {
      bytes = bytes.slice();
      bytes[bytes.length >> 1] ^= 0xff;
    }
    if (this.faults.lengthen.has(filePath)) bytes = new Uint8Array([...bytes, ...new Uint8Array(1000)]);
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (range !== null) {
      start = Number(range[1]);
      if (start >= bytes.byteLength) {
        res.writeHead(416, { "Content-Range": `bytes */${bytes.byteLength}` });
        res.end();
        return;
      }
    }
    const part = bytes.subarray(start);
    res.writeHead(range === null ? 200 : 206, {
      ...headers, "Accept-Ranges": "bytes", "Content-Length": String(part.byteLength), "Content-Type": "application/octet-stream",
      ...(range === null ? {} : { "Content-Range": `bytes ${start}-${bytes.byteLength - 1}/${bytes.byteLength}` }),
    });
    if (req.method === "HEAD") return void res.end();
    const dropAt = this.faults.dropAfter.get(filePath);
    if (dropAt !== undefined && dropAt < part.byteLength) {
      this.faults.dropAfter.delete(filePath);
      res.write(part.subarray(0, dropAt), () => setImmediate(() => res.socket?.destroy()));
      return;
    }
    if (this.faults.alwaysDrop.has(filePath)) {
      res.flushHeaders();
      setImmediate(() => res.socket?.destroy());
      return;
    }
    res.end(part);
  }

  private json(res: ServerResponse, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": String(Buffer.byteLength(text)) });
    res.end(text);
  }

  private error(res: ServerResponse, status: number, code: string, message: string): void {
    const text = JSON.stringify({ error: message });
    res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "X-Error-Code": code, "X-Error-Message": message, "Content-Length": String(Buffer.byteLength(text)) });
    res.end(text);
  }
}
