// onnxruntime for the benchmarks' child processes: onnxruntime-web's WASM backend in Node (imported with
// WebAssembly.instantiate watched, so a result can name the .wasm build it really loaded: onnxruntime-web
// picks one of several at run time) or onnxruntime-node, at a given thread count.
//
// Threads: onnxruntime-web in Node runs threaded (env.wasm.numThreads > 1 starts Emscripten pthreads on
// worker_threads; Node 20 has SharedArrayBuffer without cross-origin isolation). Where a host cannot,
// onnxruntime-web warns and sets numThreads back to 1 when the first session is created, so the thread
// count a row reports is read back after loading (threadsInUse), not the one asked for.

import { readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export async function importOrtWeb(numThreads = 1): Promise<{ ort: typeof import("onnxruntime-web"); wasmFile: () => string }> {
  const sizes: number[] = [];
  const original = WebAssembly.instantiate;
  const watched = (source: BufferSource | WebAssembly.Module, imports?: WebAssembly.Imports): Promise<unknown> => {
    if (!(source instanceof WebAssembly.Module)) sizes.push(source.byteLength);
    return (original as (s: typeof source, i?: WebAssembly.Imports) => Promise<unknown>)(source, imports);
  };
  (WebAssembly as { instantiate: unknown }).instantiate = watched;
  const ort = await import("onnxruntime-web");
  ort.env.wasm.numThreads = numThreads;
  ort.env.logLevel = "error";
  const dist = dirname(createRequire(import.meta.url).resolve("onnxruntime-web"));
  const wasmFile = () => {
    const byName = readdirSync(dist).filter((f) => f.endsWith(".wasm")).map((f) => [f, statSync(join(dist, f)).size] as const);
    const names = sizes.map((n) => byName.find(([, size]) => size === n)?.[0] ?? `unknown (${n} bytes)`);
    return names.length > 0 ? names.join(", ") : "none seen (streaming compile?)";
  };
  return { ort, wasmFile };
}

/**
 * onnxruntime for a benchmark child: onnxruntime-web (WASM, `threads` as env.wasm.numThreads) or
 * onnxruntime-node (CPU, `threads` intra-op threads), its versions, the session options to start from, and
 * the threads it really runs on (call after the first session is created).
 */
export async function ortRuntime(kind: "ort-web" | "ort-node", threads: number): Promise<{
  ort: Pick<typeof import("onnxruntime-web"), "InferenceSession" | "Tensor">;
  versions: Record<string, string>;
  wasmFile?: () => string;
  threadsInUse: () => number;
  options: import("onnxruntime-web").InferenceSession.SessionOptions;
}> {
  if (!(Number.isInteger(threads) && threads >= 1)) throw new Error(`threads: expected an integer >= 1, found ${threads}`);
  if (kind === "ort-web") {
    const web = await importOrtWeb(threads);
    return {
      ort: web.ort, wasmFile: web.wasmFile, versions: { ...web.ort.env.versions, nodejs: process.version },
      threadsInUse: () => web.ort.env.wasm.numThreads ?? 1, options: { executionProviders: ["wasm"], logSeverityLevel: 3 },
    };
  }
  const native = await import("onnxruntime-node");
  // Inter-op threads stay at their default: these graphs run sequentially (executionMode "sequential").
  const options: import("onnxruntime-web").InferenceSession.SessionOptions = { executionProviders: ["cpu"], logSeverityLevel: 3, intraOpNumThreads: threads };
  return { ort: native, versions: { ...native.env.versions, nodejs: process.version }, threadsInUse: () => threads, options };
}
