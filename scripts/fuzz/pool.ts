// The parent side of the fuzz harness's worker pool: N long-lived `node --import tsx worker.ts` children,
// one job at a time each, with the limits a case cannot enforce on itself. Past its timeout a worker is
// killed (the case is a "hang"); past the RSS cap, polled from /proc/<pid>/status every 100 ms, it is
// killed too ("oom"; not ulimit -v: WASM reserves far more virtual memory than it touches); a worker that
// dies on its own is a "crash" (or "oom" when V8 says its heap ran out). A killed worker is replaced and
// the queue goes on. Workers are also recycled every `recycleAfter` jobs or when they grow past half the
// cap between jobs, so one case's garbage is never blamed on the next.

import { fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT, planCase } from "./seeds.js";
import { parseJob, type JobResult, type StartedInfo } from "./worker.js";

export interface PoolOptions {
  jobs: number;
  seedsDir: string;
  /** Each worker gets `<workRoot>/w<i>` for its cases. */
  workRoot: string;
  /** Where the workers load src/cli.ts from (a snapshot of the tree). */
  treeRoot: string;
  timeoutMs: (id: string) => number;
  rssCapBytes: number;
  maxOldSpaceMb: number;
  recycleAfter: number;
}

export interface PoolResult extends JobResult {
  /** Set when the parent ended the case: past the timeout, past the memory cap, or the worker died. */
  killed?: "hang" | "oom" | "crash";
  /** The dead worker's last stderr, or the error it reported. */
  workerLog?: string;
}

interface Slot {
  index: number;
  child: ChildProcess;
  ready: boolean;
  id?: string;
  info?: StartedInfo;
  timer?: NodeJS.Timeout;
  jobs: number;
  log: string;
  ending?: PoolResult["killed"];
}

const WORKER = join(fileURLToPath(new URL(".", import.meta.url)), "worker.ts");

export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

/** What is known of a job whose worker never reported back: its plan, and the mutations if it said them. */
function described(id: string, info: StartedInfo | undefined): StartedInfo {
  if (info !== undefined) return info;
  const job = parseJob(id);
  if (job.oracle) return { id, seed: job.seed, entry: job.entry, mutations: [], validity: "may-differ" };
  const plan = planCase(job.seed, job.index);
  return { id, kind: plan.kind, seed: plan.seed.name, entry: plan.entry, mutations: [], validity: "unknown" };
}

export class Pool {
  private readonly slots: Slot[] = [];
  private queue: string[] = [];
  private onResult: (r: PoolResult) => void = () => {};
  private finish: (() => void) | undefined;
  private fail: ((e: Error) => void) | undefined;
  private pending = 0;
  private readonly poll: NodeJS.Timeout;
  private spawned = 0;
  private closed = false;

  constructor(private readonly o: PoolOptions) {
    for (let i = 0; i < o.jobs; i++) this.slots.push(this.spawn(i));
    this.poll = setInterval(() => this.checkMemory(), 100);
  }

  /** Workers started so far, replacements included. */
  get workersStarted(): number {
    return this.spawned;
  }

  /** Runs the jobs; results arrive through `onResult` in completion order. */
  run(ids: string[], onResult: (r: PoolResult) => void): Promise<void> {
    this.queue = [...ids];
    this.pending = ids.length;
    this.onResult = onResult;
    return new Promise((resolve, reject) => {
      this.finish = resolve;
      this.fail = reject;
      if (this.pending === 0) resolve();
      for (const s of this.slots) this.dispatch(s);
    });
  }

  close(): void {
    this.closed = true;
    clearInterval(this.poll);
    for (const s of this.slots) {
      s.ending = "crash";
      s.child.kill("SIGKILL");
    }
  }

  private spawn(index: number): Slot {
    this.spawned++;
    const child = fork(WORKER, [], {
      cwd: ROOT,
      execArgv: ["--import", "tsx", `--max-old-space-size=${this.o.maxOldSpaceMb}`],
      env: { ...process.env, LOWBIT_FUZZ_WORKER: JSON.stringify({ seedsDir: this.o.seedsDir, workDir: join(this.o.workRoot, `w${index}`), treeRoot: this.o.treeRoot }) },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    const slot: Slot = { index, child, ready: false, jobs: 0, log: "" };
    const keep = (d: Buffer) => { slot.log = (slot.log + d.toString("utf8")).slice(-4000); };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    child.on("message", (msg: { type: string; info?: StartedInfo; result?: JobResult; error?: string }) => {
      if (slot.child !== child) return;
      if (msg.type === "ready") {
        slot.ready = true;
        this.dispatch(slot);
      } else if (msg.type === "init-failed") {
        this.fail?.(new Error(`a fuzz worker could not load src/cli.ts:\n${msg.error}`));
      } else if (msg.type === "started") {
        slot.info = msg.info;
      } else if (msg.type === "done") {
        this.complete(slot, msg.result!);
      } else if (msg.type === "fatal") {
        slot.log += `\n${msg.error}`;
        slot.ending = "crash";
      }
    });
    child.on("exit", (code, signal) => {
      if (slot.child !== child) return;
      slot.ready = false;
      if (slot.id !== undefined) {
        const oomByV8 = /heap out of memory|Reached heap limit|Allocation failed/i.test(slot.log);
        const killed = slot.ending ?? (oomByV8 ? "oom" : "crash");
        const info = described(slot.id, slot.info);
        this.complete(slot, {
          ...info, rc: -1, stderr: "", ms: 0,
          killed: killed === "crash" && oomByV8 ? "oom" : killed,
          workerLog: `worker exited (code ${code}, signal ${signal}): ${slot.log.trim().slice(-2000)}`,
        });
      }
      this.replace(slot);
    });
    return slot;
  }

  private replace(old: Slot): void {
    if (this.slots[old.index] !== old) return;
    clearTimeout(old.timer);
    if (this.closed) return;
    this.slots[old.index] = this.spawn(old.index);
  }

  private dispatch(slot: Slot): void {
    if (!slot.ready || slot.id !== undefined || this.queue.length === 0) return;
    const id = this.queue.shift()!;
    slot.id = id;
    slot.info = undefined;
    slot.ending = undefined;
    slot.timer = setTimeout(() => this.kill(slot, "hang"), this.o.timeoutMs(id));
    slot.child.send({ type: "job", id });
  }

  private kill(slot: Slot, why: "hang" | "oom"): void {
    if (slot.id === undefined || slot.ending !== undefined) return;
    slot.ending = why;
    slot.child.kill("SIGKILL");
  }

  private checkMemory(): void {
    for (const s of this.slots) {
      if (s.id !== undefined && s.child.pid !== undefined && rssBytes(s.child.pid) > this.o.rssCapBytes) this.kill(s, "oom");
    }
  }

  private complete(slot: Slot, r: JobResult | PoolResult): void {
    clearTimeout(slot.timer);
    slot.id = undefined;
    slot.info = undefined;
    slot.jobs++;
    this.pending--;
    this.onResult(r);
    if (this.pending === 0) this.finish?.();
    if (!slot.ready || slot.ending !== undefined) return; // dead or being killed: its exit brings a replacement
    const grown = slot.child.pid !== undefined && rssBytes(slot.child.pid) > this.o.rssCapBytes / 2;
    if (slot.jobs >= this.o.recycleAfter || grown) {
      // Recycle: the slot gets a fresh worker first, so the old one's exit is not taken for a crash.
      slot.ready = false;
      this.slots[slot.index] = this.spawn(slot.index);
      slot.child.kill("SIGKILL");
      return;
    }
    this.dispatch(slot);
  }
}
