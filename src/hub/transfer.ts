// One file of a Hub repo brought into the cache's blobs/<etag>: resumed with Range requests after a dropped
// connection, checked against the size and hash the Hub's file listing gives, renamed into place only when it
// matches. Also the one-line errors for the Hub's HTTP answers, shared with download.ts.
//
// Hand-written rather than @huggingface/hub's downloadFileToCacheDir because that (v2.x, read in node_modules)
// streams the whole body into `<blob>.incomplete` with no Range request, so a dropped connection starts a 500 MB
// file over from byte 0 and leaves the .incomplete behind; it checks neither the size nor the hash; and it
// names the snapshot folder after each file's last commit rather than the revision's commit, which is not the
// layout huggingface_hub writes. The file listing and the cache paths do come from @huggingface/hub.

import { createHash } from "node:crypto";
import { createReadStream, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LowbitError } from "../errors.js";
import { fileSize } from "./cache.js";

/** One file to fetch, with what the Hub says it is. */
export interface BlobRequest {
  /** The resolve URL at the commit: {endpoint}/{repo}/resolve/{commit}/{path}. */
  url: string;
  /** "{repo id}/{path}", for messages. */
  name: string;
  /** blobs/<etag>; the download goes to `${blob}.incomplete` first. */
  blob: string;
  size: number;
  /** LFS files: the SHA-256 of the content (their LFS oid). */
  sha256?: string;
  /** Plain git files: the git blob SHA-1, sha1("blob <size>\0" + content) (their git oid). */
  gitSha1?: string;
}

export interface TransferOptions {
  /** Authorization, when there is a token. */
  headers: Record<string, string>;
  /** Called with the bytes newly on disk (negative when a restart from byte 0 drops some). */
  onBytes: (bytes: number) => void;
  /** Turns an HTTP answer that retrying cannot mend (401, 403, 404, …) into the error to throw. */
  httpError: (res: Response) => Promise<LowbitError>;
  /** Failed attempts in a row, none of which brought a byte, before giving up. */
  maxFailures?: number;
  /** The wait after the n-th failure in a row is n × this. */
  retryDelayMs?: number;
}

const MAX_FAILURES = 5;
const RETRY_DELAY_MS = 1000;

/** Brings request.url into request.blob, resuming a `.incomplete` left by an earlier run. Throws a LowbitError
 * for an HTTP error, a size or hash mismatch (the bad `.incomplete` deleted), or a connection that keeps failing
 * (the `.incomplete` kept, so that running again resumes it). */
export async function downloadBlob(request: BlobRequest, options: TransferOptions): Promise<void> {
  const incomplete = `${request.blob}.incomplete`;
  mkdirSync(dirname(request.blob), { recursive: true });
  let have = fileSize(incomplete) ?? 0;
  if (have > request.size) {
    rmSync(incomplete, { force: true });
    have = 0;
  }
  options.onBytes(have);
  const maxFailures = options.maxFailures ?? MAX_FAILURES;
  let failures = 0;
  while (have < request.size) {
    const before = have;
    let error: string | undefined;
    ({ have, error } = await attempt(request, incomplete, have, options));
    if (error === undefined && have < request.size) error = `the body ended after ${have} of ${request.size} bytes`;
    if (error === undefined) break;
    failures = have > before ? 1 : failures + 1;
    if (failures >= maxFailures) {
      throw new LowbitError(`download failed ${failures} times in a row`, {
        file: request.url, found: error, hint: `${have} of ${request.size} bytes kept in ${incomplete}; run the command again to resume`,
      });
    }
    await sleep(failures * (options.retryDelayMs ?? RETRY_DELAY_MS));
  }
  if (request.size === 0) writeFileSync(incomplete, "");
  await verify(request, incomplete);
  renameSync(incomplete, request.blob);
}

/** One request from byte `start` on, appended to the .incomplete. Returns the bytes on disk after it and, when it
 * failed in a way a retry may mend (no connection, a dropped one, 5xx, 429), why. */
async function attempt(request: BlobRequest, incomplete: string, start: number, options: TransferOptions): Promise<{ have: number; error?: string }> {
  const headers = start > 0 ? { ...options.headers, Range: `bytes=${start}-` } : options.headers;
  let res: Response;
  try {
    res = await fetch(request.url, { headers, redirect: "follow" });
  } catch (err) {
    return { have: start, error: networkErrorText(err) };
  }
  let offset: number;
  if (res.status === 206) {
    const range = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(res.headers.get("content-range") ?? "");
    if (range === null || Number(range[1]) !== start) {
      await res.body?.cancel();
      return { have: start, error: `asked for bytes ${start}- and got Content-Range ${JSON.stringify(res.headers.get("content-range"))}` };
    }
    offset = start;
  } else if (res.status === 200) {
    offset = 0; // the server ignored the Range header: the whole file again
  } else if (res.status === 416) {
    await res.body?.cancel(); // the .incomplete is longer than what the server has now: start over
    rmSync(incomplete, { force: true });
    options.onBytes(-start);
    return { have: 0, error: "HTTP 416 (range not satisfiable)" };
  } else if (res.status === 429 || res.status >= 500) {
    await res.body?.cancel();
    return { have: start, error: `HTTP ${res.status} ${res.statusText}` };
  } else {
    throw await options.httpError(res);
  }
  if (offset === 0 && start > 0) options.onBytes(-start);
  const file = await open(incomplete, offset === 0 ? "w" : "a");
  let have = offset;
  let tooLong = false;
  try {
    if (res.body !== null) {
      for await (const chunk of res.body) {
        if (have + chunk.byteLength > request.size) {
          tooLong = true;
          break; // leaving the loop cancels the body
        }
        for (let written = 0; written < chunk.byteLength;) written += (await file.write(chunk, written)).bytesWritten;
        have += chunk.byteLength;
        options.onBytes(chunk.byteLength);
      }
    }
  } catch (err) {
    return { have, error: networkErrorText(err) };
  } finally {
    await file.close();
  }
  if (tooLong) {
    rmSync(incomplete, { force: true }); // not the file the Hub listed
    throw new LowbitError("the download is longer than the Hub's listing says", {
      file: request.name, expected: `${request.size} bytes`, found: `more than ${request.size}`, hint: `from ${request.url}; the partial download was deleted`,
    });
  }
  return { have };
}

/** Checks the finished .incomplete against the Hub's hash; deletes it and throws if it does not match. */
async function verify(request: BlobRequest, incomplete: string): Promise<void> {
  const kind = request.sha256 !== undefined ? "sha256" : request.gitSha1 !== undefined ? "git-sha1" : undefined;
  if (kind === undefined) return;
  const hash = createHash(kind === "sha256" ? "sha256" : "sha1");
  if (kind === "git-sha1") hash.update(`blob ${request.size}\0`);
  for await (const chunk of createReadStream(incomplete)) hash.update(chunk as Buffer);
  const found = hash.digest("hex");
  const expected = kind === "sha256" ? request.sha256! : request.gitSha1!;
  if (found !== expected.toLowerCase()) {
    rmSync(incomplete, { force: true });
    throw new LowbitError(`downloaded bytes do not match the Hub's ${kind === "sha256" ? "SHA-256 (LFS oid)" : "git blob SHA-1"}`, {
      file: request.name, expected, found, hint: `from ${request.url}; the bad download was deleted, run the command again`,
    });
  }
}

/** "ECONNRESET (other side closed)" from fetch's TypeError("fetch failed" / "terminated") and its cause. */
export function networkErrorText(err: unknown): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  const cause = e.cause;
  if (cause !== undefined) return `${cause.code ?? cause.name}${cause.message ? ` (${cause.message})` : ""}`;
  return e.message ?? String(err);
}

/** The Hub's own words on a failed request: X-Error-Message, a JSON body's "error", or the start of the body. */
export async function hubMessage(res: Response): Promise<string> {
  const header = res.headers.get("x-error-message");
  if (header) return header;
  const text = (await res.text().catch(() => "")).trim();
  try {
    const json = JSON.parse(text) as { error?: unknown; message?: unknown };
    if (typeof json.error === "string") return json.error;
    if (typeof json.message === "string") return json.message;
  } catch {
    // not JSON: the text itself
  }
  return text.replace(/\s+/g, " ").slice(0, 200);
}
