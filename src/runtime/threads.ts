// Threads for the kernels that threads share (kernels.ts's SharedKernel): a pool of `threads − 1` workers
// plus the calling thread, each running the same compiled module over one shared WebAssembly.Memory, each
// computing its own part of one kernel call (assembly/index.ts splits the outputs by (part, parts)). It
// implements KernelRunner, so MatrixProducts and the executors run unchanged on one thread or many.
//
// What it is not: a general task pool. Only the thread that loaded the model allocates (the bump
// allocator's `top` lives in each instance; workers never call allocate), and everything between two shared
// calls (LayerNorm, activation quantization, lookup tables, sampling) runs on the calling thread.
//
// One hand-off per shared call, through a control block in the shared memory: the caller writes the kernel
// and its arguments, opens the job and bumps a sequence number; then every thread, the caller included,
// claims parts until none is left, and the caller waits until every part is done. Workers spin on the
// sequence number for a while (SPIN_MS) and then sleep in Atomics.wait.
// ~50 calls per decoded token leave no room for a message round trip (postMessage costs tens of µs), hence
// atomics: a hand-off to a spinning worker costs about 1 µs, a wake from Atomics.wait about 30 µs. The
// caller spins on the done counter: a browser's main thread may not Atomics.wait (Node's may, and does once
// the spin has gone on a while, so that more threads than cores still make progress).
//
// No Node built-in at the top level (the runtime runs in browsers): node:worker_threads and node:os are
// imported at run time, in Node only (node_builtins.ts). The worker is a plain-JS string with no imports, so no bundler has to find a worker file:
// `new Worker(code, { eval: true })` in Node, a Blob URL in browsers.

import { LowbitError } from "../errors.js";
import { instantiateKernels, KernelAbort, WASM_MEMORY_MAX_BYTES, type KernelRunner, type Kernels, type KernelVariant, type SharedKernel } from "./kernels.js";
import { importNode, isNode } from "./node_builtins.js";

/** The most threads the default picks (the core count, up to this). */
export const MAX_DEFAULT_THREADS = 8;
/** The most threads an explicit `threads` option may ask for. */
export const MAX_THREADS = 64;

/**
 * How long a worker spins on the sequence number after a job before it sleeps in Atomics.wait: longer than
 * most gaps between products while decoding (tens of µs), short enough not to take much of a core that
 * other work wants (spinning longer measured no faster on an idle machine and slower on a busy one).
 */
const SPIN_MS = 0.2;
/** How long the caller spins on the done counter before it sleeps (where it may: Node). */
const CALLER_SPIN_MS = 0.2;
/** A wait for workers longer than this (and than the caller's own share) is a stall: see ThreadPool.stalled(). */
const STALL_MS = 0.5;
/** Stalls within roughly the last 1/(1 − STALL_DECAY) calls that make the pool back off. */
const STALLS_TO_BACK_OFF = 3;
const STALL_DECAY = 0.98;
/** Calls the pool then runs on the calling thread alone before it tries threads again (~25 decoded tokens of GPT-2-124M). */
const SOLO_JOBS = 2000;
/** How long loading waits for the workers to start before it gives up. */
const START_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------------------------------------------------
// Control block: 1 KiB of the shared memory, allocated once by the loading thread. The job (written by the
// caller), the claim counter (written by every thread) and the done counter sit on separate cache lines.
//
// A job is cut into `parts` parts (at least one per thread); every thread, the caller included, claims parts
// one at a time until none is left. So when the OS takes a worker's core away (another process, more threads
// than cores), the caller runs the parts that worker would have run instead of waiting for it: a spinning
// pool with fixed parts would stall on it.
//
// The claim word holds the job's part count beside the next part; a claim is one Atomics.add. A thread
// reads the job (kernel, arguments) only after its first claim succeeded, and counts its parts done only
// once it has claimed all it will: until then the job is unfinished, so the caller cannot be writing the
// next one, and every part the thread claims is of the same job. A worker that woke late may thus claim a
// part of a later job than the one that woke it, and runs it with that job's arguments, which is right.
// (Reading the job first and claiming after, a late worker could mix one job's part count with the next's
// claim word: that hung an earlier version of this pool.) One atomic per claim and one per thread per job
// keep an empty job of 6 parts at about 1.5 µs on this machine (2.5 µs for 12 parts).

const SEQ = 0; // i32 index: bumped for every job; the workers wait on it
const STOP = 1; // i32: 1 tells the workers to exit
const KERNEL = 2; // i32: index of the kernel in the module's function exports
const NARGS = 3; // i32: arguments before (part, parts)
const CLAIM = 16; // i32 (byte 64): parts << 16 | the next part to claim (claims past the last overshoot harmlessly)
const DONE = 32; // i32 (byte 128): parts finished (each thread adds its count once it has claimed all it will)
const ERRORS = 48; // i32 (byte 192): parts that threw
const ERROR_KIND = 49; // i32: what the first one threw (ErrorKind)
const ERROR_LENGTH = 50; // i32: UTF-16 units of its message
const ARGS_BYTE = 256; // f64 × MAX_ARGS: the arguments (pointers and sizes are exact in f64; headQ's f32 scale too)
const MAX_ARGS = 16;
const TEXT_BYTE = ARGS_BYTE + 8 * MAX_ARGS; // u16 × TEXT_UNITS: the first error's message
const TEXT_UNITS = 320;
const CONTROL_BYTES = TEXT_BYTE + 2 * TEXT_UNITS;

/**
 * Parts per thread for kernels whose parts need no scratch of their own (each part's scratch is its own
 * columns' accumulators, or none): more, smaller parts even out the threads (and let the caller take over
 * a late worker's share), but each costs a claim and a call. The kernels split in whole 64-column blocks:
 * GPT-2-124M's 768 columns are 12 blocks, which 8 parts cut unevenly (1 or 2 blocks, leaving one thread idle
 * at the end) and 6 evenly. attendHeads keeps one part per thread, as its scratch holds one row per part (the
 * executors size it by threads).
 */
const PARTS_PER_THREAD = 3;
const FINE_KERNELS: ReadonlySet<string> = new Set(["matmulQ", "matmulQf32", "matmulF32", "matmulLut", "matmulPairs", "headQ", "headQf32", "headF32", "geluSlice", "geluErfSlice"]);

/** What a part threw, so the caller rethrows the same kind (outOfMemory() maps KernelAbort and RangeError). */
const enum ErrorKind { Other = 0, KernelAbort = 1, Range = 2, Runtime = 3 }

// ---------------------------------------------------------------------------------------------------------
// The worker: plain JS, no imports. It receives { module, memory, control, names }, instantiates the module
// over the memory (the threads build imports it: asconfig.json's "simd-threads"), says ready, and loops:
// wait for a new sequence number, claim and run parts of the job while any is left.

const WORKER_SOURCE = `"use strict";
const node = typeof require === "function";
const port = node ? require("node:worker_threads").parentPort : self;
const onFirstMessage = (f) => node ? port.once("message", f) : self.addEventListener("message", (e) => f(e.data), { once: true });
onFirstMessage((init) => {
  let loop;
  try {
    loop = start(init);
  } catch (err) {
    port.postMessage({ error: String((err && err.message) || err) });
    return;
  }
  port.postMessage({ ready: true });
  loop();
  if (node) port.close(); else self.close();
});

function start({ module, memory, control, names }) {
  const abort = (_msg, _file, line, column) => {
    const err = new Error("lowbit kernel aborted at " + line + ":" + column + " (out of WASM memory?)");
    err.name = "KernelAbort";
    throw err;
  };
  // No start function runs here: the threads build exports it ("start"), and only the loading thread calls it.
  const exports = new WebAssembly.Instance(module, { env: { memory, abort } }).exports;
  const kernels = names.map((name) => exports[name]);
  const ctl = new Int32Array(memory.buffer, control, ${CONTROL_BYTES / 4});
  const args = new Float64Array(memory.buffer, control + ${ARGS_BYTE}, ${MAX_ARGS});
  const text = new Uint16Array(memory.buffer, control + ${TEXT_BYTE}, ${TEXT_UNITS});
  const call = [];
  // Read before saying ready: the caller may post a job as soon as it hears, and that job must look new.
  let seen = Atomics.load(ctl, ${SEQ});
  return () => {
    for (;;) {
      let seq = Atomics.load(ctl, ${SEQ});
      if (seq === seen) {
        const until = performance.now() + ${SPIN_MS};
        for (let n = 1; (seq = Atomics.load(ctl, ${SEQ})) === seen; n++) {
          if ((n & 255) === 0 && performance.now() > until) Atomics.wait(ctl, ${SEQ}, seen);
        }
      }
      seen = seq;
      if (Atomics.load(ctl, ${STOP}) !== 0) return;
      let mine = 0;
      let parts = 0;
      let count = 0;
      let kernel = null;
      for (;;) {
        const claim = Atomics.add(ctl, ${CLAIM}, 1);
        const part = claim & 0xffff;
        parts = claim >>> 16;
        if (part >= parts) break;
        if (mine === 0) {
          // Claimed: the job stays as it is until this part is counted done (see the control block's comment),
          // and so do the parts this loop claims next.
          kernel = kernels[ctl[${KERNEL}]];
          count = ctl[${NARGS}];
          call.length = count + 2;
          for (let i = 0; i < count; i++) call[i] = args[i];
        }
        call[count] = part;
        call[count + 1] = parts;
        mine++;
        try {
          kernel.apply(null, call);
        } catch (err) {
          if (Atomics.add(ctl, ${ERRORS}, 1) === 0) {
            const kind = err && err.name === "KernelAbort" ? ${ErrorKind.KernelAbort} : err instanceof RangeError ? ${ErrorKind.Range} : err instanceof WebAssembly.RuntimeError ? ${ErrorKind.Runtime} : ${ErrorKind.Other};
            const message = String((err && err.message) || err).slice(0, ${TEXT_UNITS});
            for (let i = 0; i < message.length; i++) text[i] = message.charCodeAt(i);
            ctl[${ERROR_KIND}] = kind;
            ctl[${ERROR_LENGTH}] = message.length;
          }
        }
      }
      if (mine > 0 && Atomics.add(ctl, ${DONE}, mine) + mine === parts) Atomics.notify(ctl, ${DONE});
    }
  };
}
`;

// ---------------------------------------------------------------------------------------------------------
// Choosing threads

/** The default: the core count (Node's os.availableParallelism(), a browser's navigator.hardwareConcurrency), at most 8. */
export async function defaultThreads(): Promise<number> {
  let cores = 1;
  if (isNode) {
    const os = await importNode("os");
    cores = typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
  } else {
    cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  }
  return Math.max(1, Math.min(MAX_DEFAULT_THREADS, cores));
}

/**
 * Whether this host can share WebAssembly memory between threads: SharedArrayBuffer and workers exist,
 * and a browser page is cross-origin isolated (served with COOP: same-origin and COEP: require-corp).
 */
export function threadsAvailable(): boolean {
  if (typeof SharedArrayBuffer === "undefined" || typeof Atomics === "undefined") return false;
  if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false) return false;
  if (!isNode && typeof (globalThis as { Worker?: unknown }).Worker !== "function") return false;
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}

/** A `threads` option checked: an integer in 1..MAX_THREADS, or undefined. */
export function checkThreads(threads: number | undefined): void {
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= MAX_THREADS)) {
    throw new LowbitError("invalid threads", { expected: `an integer in 1..${MAX_THREADS}`, found: String(threads) });
  }
}

/**
 * The threads a load runs on: `threads` if given, else the default (the core count, at most 8); 1 where
 * memory cannot be shared (a browser page that is not cross-origin isolated, an engine without threads) or
 * the build is scalar (its kernels do not split). Explicit `kernels` name a single-thread build: without
 * `threadKernels` beside them the default is 1, and asking for more is an error.
 */
export async function chooseThreads(o: { threads?: number; kernels?: unknown; threadKernels?: unknown }, variant: KernelVariant): Promise<number> {
  checkThreads(o.threads);
  if (o.threads === 1 || variant !== "simd" || !threadsAvailable()) return 1;
  if (o.kernels !== undefined && o.threadKernels === undefined) {
    if (o.threads === undefined) return 1;
    throw new LowbitError("threads > 1 needs the threads build beside the given kernels", { found: `threads: ${o.threads}`, hint: "pass threadKernels (lowbit.simd-threads.wasm) too, or threads: 1" });
  }
  return o.threads ?? await defaultThreads();
}

// ---------------------------------------------------------------------------------------------------------
// Loading

/**
 * Instantiates the threads build (asconfig.json's "simd-threads": it imports a shared memory) over a new
 * shared memory capped at `memoryLimitBytes`, and starts `threads − 1` workers over it. Returns once every
 * worker has instantiated the module, so before the caller places anything. That order matters only a
 * little: the build's data segments are active and every instantiation rewrites them, but they hold only
 * constants (the zero-filled ones are left out: --zeroFilledMemory), and the start function that fills
 * the erf tables runs on this thread alone (--exportStart); still, nothing of the caller's runs on memory a
 * worker may be writing. With threads = 1 the build runs on this thread alone.
 */
export async function instantiateThreadedKernels(wasm: BufferSource | WebAssembly.Module, variant: KernelVariant, threads: number, memoryLimitBytes = WASM_MEMORY_MAX_BYTES): Promise<Kernels> {
  checkThreads(threads);
  const module = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm);
  // The module declares 1 initial page (asconfig.json's initialMemory) and 65536 at most; the memory may
  // reach no further than the limit, as allocate() checks too.
  const maximum = Math.max(1, Math.ceil(Math.min(WASM_MEMORY_MAX_BYTES, memoryLimitBytes) / 65536));
  const memory = new WebAssembly.Memory({ initial: 1, maximum, shared: true });
  const kernels = await instantiateKernels(module, variant, memoryLimitBytes, memory);
  if (threads > 1) kernels.runner = await ThreadPool.start(kernels, module, threads);
  return kernels;
}

/** Stops the kernels' worker threads, if any; the kernels refuse to run shared kernels afterwards. */
export function disposeKernels(k: Kernels): void {
  const threads = k.runner.threads;
  if (k.runner instanceof ThreadPool) k.runner.dispose();
  k.runner = {
    threads,
    run: () => {
      throw new LowbitError("this model was disposed", { hint: "load it again" });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The pool

/** A started worker, Node's or a browser's. */
interface Thread {
  post(message: unknown): void;
  terminate(): void;
  /** Lets a Node process exit while the worker lives. */
  unref(): void;
}

/** Stops workers when their kernels are garbage-collected without dispose(). */
const orphans = new FinalizationRegistry<() => void>((stop) => stop());

export class ThreadPool implements KernelRunner {
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private readonly text: Uint16Array;
  private readonly byName = new Map<string, number>();
  private readonly canWait: boolean;
  private stopped = false;
  /** Calls left to run on this thread alone (backing off: stalled()). */
  private solo = 0;
  /** Recent stalls, decaying by STALL_DECAY per call. */
  private stallScore = 0;
  /** Times the pool backed off to one thread (diagnostics, benchmarks). */
  backoffs = 0;

  private constructor(
    private readonly k: Kernels,
    readonly threads: number,
    control: number,
    names: string[],
    private readonly workers: Thread[],
  ) {
    const buffer = k.memory.buffer;
    this.ctl = new Int32Array(buffer, control, CONTROL_BYTES / 4);
    this.args = new Float64Array(buffer, control + ARGS_BYTE, MAX_ARGS);
    this.text = new Uint16Array(buffer, control + TEXT_BYTE, TEXT_UNITS);
    names.forEach((name, i) => this.byName.set(name, i));
    this.canWait = callerMayWait();
  }

  static async start(k: Kernels, module: WebAssembly.Module, threads: number): Promise<ThreadPool> {
    const control = k.allocate(CONTROL_BYTES);
    const ctl = new Int32Array(k.memory.buffer, control, CONTROL_BYTES / 4).fill(0);
    const names = WebAssembly.Module.exports(module).filter((e) => e.kind === "function").map((e) => e.name);
    const workers: Thread[] = [];
    // Browsers start every worker from one Blob URL, dropped once they have all started.
    const url = isNode ? undefined : URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
    try {
      const started = [];
      for (let part = 1; part < threads; part++) {
        started.push(startThread({ module, memory: k.memory, control, names }, part, url).then((w) => workers.push(w)));
      }
      const results = await Promise.allSettled(started);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed !== undefined) throw failed.reason;
    } catch (err) {
      for (const w of workers) w.terminate();
      throw new LowbitError("could not start the kernel threads", { found: (err as Error).message ?? String(err), hint: "pass threads: 1 (--threads 1) to run on one thread" });
    } finally {
      if (url !== undefined) URL.revokeObjectURL(url);
    }
    for (const w of workers) w.unref();
    const pool = new ThreadPool(k, threads, control, names, workers);
    orphans.register(k, () => stopWorkers(ctl, workers), pool);
    return pool;
  }

  run(kernel: SharedKernel, args: number[]): void {
    this.job(kernel, args, true);
  }

  /** Tests: the same job, but the calling thread claims no part, so that every part runs on a worker. */
  runOnWorkers(kernel: string, args: number[]): void {
    this.job(kernel, args, false);
  }

  private job(kernel: string, args: number[], callerClaims: boolean): void {
    if (this.stopped) throw new LowbitError("this model was disposed", { hint: "load it again" });
    const index = this.byName.get(kernel);
    if (index === undefined) throw new Error(`lowbit threads: the threads build has no kernel ${kernel} (rebuild it: npm run build)`);
    if (args.length > MAX_ARGS) throw new Error(`lowbit threads: ${kernel} takes ${args.length} arguments, more than the control block's ${MAX_ARGS}`);
    const f = (this.k as unknown as Record<string, (...a: number[]) => void>)[kernel];
    if (callerClaims && this.solo > 0) {
      // Backing off (see stalled()): the whole call on this thread, as singleThread() runs it.
      this.solo--;
      f(...args, 0, 1);
      return;
    }
    const { ctl } = this;
    const parts = Math.min(255, FINE_KERNELS.has(kernel) ? this.threads * PARTS_PER_THREAD : this.threads);
    ctl[KERNEL] = index;
    ctl[NARGS] = args.length;
    this.args.set(args);
    Atomics.store(ctl, ERRORS, 0);
    Atomics.store(ctl, DONE, 0);
    // Opens the job: the plain writes above happen before it, and a worker reads them after its claim.
    Atomics.store(ctl, CLAIM, parts << 16);
    Atomics.add(ctl, SEQ, 1);
    Atomics.notify(ctl, SEQ);
    let own: unknown;
    const t0 = now();
    let mine = 0;
    while (callerClaims) {
      const part = Atomics.add(ctl, CLAIM, 1) & 0xffff;
      if (part >= parts) break;
      mine++;
      try {
        f(...args, part, parts);
      } catch (err) {
        own ??= err;
      }
    }
    if (mine > 0) Atomics.add(ctl, DONE, mine);
    // Wait for every part even when ours threw: the next job must not start while a worker still writes.
    const t1 = now();
    this.waitDone(parts);
    if (callerClaims) this.stalled(t1 - t0, now() - t1);
    if (own !== undefined) throw own;
    if (Atomics.load(ctl, ERRORS) !== 0) throw this.workerError(kernel);
  }

  /**
   * Backs off to one thread while workers keep stalling the caller. A stall is a wait for the workers'
   * parts longer than the caller's own share of the job and than STALL_MS: a worker that the OS took off
   * its core in the middle of a part (another process wants the core, or more threads than cores), which the
   * caller cannot take over. On an idle machine waits stay far below that (parts are claimed while any is
   * left, so a wait is at most one part). After STALLS_TO_BACK_OFF stalls in a short while, the next
   * SOLO_JOBS calls run on this thread alone; then threads are tried again. The outputs are the same either
   * way: only the time changes.
   */
  private stalled(ownMs: number, waitMs: number): void {
    this.stallScore *= STALL_DECAY;
    if (waitMs > STALL_MS && waitMs > ownMs) this.stallScore += 1;
    if (this.stallScore >= STALLS_TO_BACK_OFF) {
      this.stallScore = 0;
      this.solo = SOLO_JOBS;
      this.backoffs++;
    }
  }

  private waitDone(parts: number): void {
    const { ctl } = this;
    const until = now() + CALLER_SPIN_MS;
    for (let n = 1; ; n++) {
      const done = Atomics.load(ctl, DONE);
      if (done >= parts) return;
      if (this.canWait && (n & 255) === 0 && now() > until) Atomics.wait(ctl, DONE, done, 100);
    }
  }

  /** The first error a worker's part threw, as the caller's exception, of the same kind. */
  private workerError(kernel: string): Error {
    const length = this.ctl[ERROR_LENGTH];
    const message = `${kernel} on a kernel thread: ${String.fromCharCode(...this.text.subarray(0, length))}`;
    switch (this.ctl[ERROR_KIND] as ErrorKind) {
      case ErrorKind.KernelAbort: return new KernelAbort(message);
      case ErrorKind.Range: return new RangeError(message);
      case ErrorKind.Runtime: return new WebAssembly.RuntimeError(message);
      default: return new Error(message);
    }
  }

  dispose(): void {
    if (this.stopped) return;
    this.stopped = true;
    orphans.unregister(this);
    stopWorkers(this.ctl, this.workers);
  }
}

/** Tells the workers to leave their loop, then ends them (a worker asleep in Atomics.wait wakes to STOP). */
function stopWorkers(ctl: Int32Array, workers: Thread[]): void {
  Atomics.store(ctl, STOP, 1);
  Atomics.add(ctl, SEQ, 1);
  Atomics.notify(ctl, SEQ);
  for (const w of workers) w.terminate();
}

const now = () => (typeof performance !== "undefined" ? performance.now() : Date.now());

/** Atomics.wait throws on a browser's main thread; Node's main thread and workers may wait. */
function callerMayWait(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts worker `part` and resolves once it has instantiated the module (it posts { ready } or { error }). */
async function startThread(init: { module: WebAssembly.Module; memory: WebAssembly.Memory; control: number; names: string[] }, part: number, url: string | undefined): Promise<Thread> {
  let thread: Thread;
  let listen: (onMessage: (m: { ready?: true; error?: string }) => void, onError: (err: Error) => void) => void;
  if (url === undefined) {
    const { Worker } = await importNode("worker_threads");
    // No execArgv: the worker needs no loader, and a parent's --input-type=module would make its source ESM.
    const w = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], name: `lowbit kernels ${part}` });
    thread = { post: (m) => w.postMessage(m), terminate: () => void w.terminate(), unref: () => w.unref() };
    listen = (onMessage, onError) => {
      w.once("message", onMessage);
      w.once("error", onError);
      w.once("exit", (code) => onError(new Error(`kernel thread ${part} exited with code ${code}`)));
    };
  } else {
    type BrowserWorker = { postMessage(m: unknown): void; terminate(): void; addEventListener(type: string, f: (e: { data?: unknown; message?: string }) => void): void };
    const WorkerClass = (globalThis as unknown as { Worker: new (url: string, o?: { name?: string }) => BrowserWorker }).Worker;
    const w = new WorkerClass(url, { name: `lowbit kernels ${part}` });
    thread = { post: (m) => w.postMessage(m), terminate: () => w.terminate(), unref: () => {} };
    listen = (onMessage, onError) => {
      w.addEventListener("message", (e) => onMessage(e.data as { ready?: true; error?: string }));
      w.addEventListener("error", (e) => onError(new Error(e.message ?? `kernel thread ${part} failed to start`)));
    };
  }
  return new Promise<Thread>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`kernel thread ${part} did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      thread.terminate();
      reject(err);
    };
    listen((m) => {
      if (settled) return;
      if (m.error !== undefined) return fail(new Error(m.error));
      settled = true;
      clearTimeout(timer);
      resolve(thread);
    }, fail);
    thread.post(init);
  });
}
