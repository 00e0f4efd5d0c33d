// Atomic file output: write beside the target under a temporary name, then rename into place, so an
// existing file is never left half-written and a failed run leaves nothing behind.

import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { LowbitError } from "../errors.js";

/** Writes `chunks` to `path` atomically. Throws a LowbitError naming the path if it cannot be written. */
export function writeFileAtomic(path: string, chunks: Uint8Array | string | Array<Uint8Array | string>): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  let fd: number;
  try {
    fd = openSync(tmp, "w");
  } catch (err) {
    throw new LowbitError("cannot write output", { file: path, found: errorCode(err) });
  }
  try {
    for (const chunk of Array.isArray(chunks) ? chunks : [chunks]) {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
      let offset = 0;
      while (offset < bytes.byteLength) offset += writeSync(fd, bytes, offset, bytes.byteLength - offset);
    }
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    try { closeSync(fd); } catch { /* already closed */ }
    rmSync(tmp, { force: true });
    throw new LowbitError("cannot write output", { file: path, found: errorCode(err) });
  }
}

function errorCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code !== undefined ? `${e.code} (${e.message.split(",")[0]})` : String(err);
}
