// onnxruntime-web's WASM backend in Node for the benchmarks, on one thread, imported with
// WebAssembly.instantiate watched so a result can name the .wasm build it really loaded (onnxruntime-web
// picks one of several at run time).

import { readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export async function importOrtWeb(): Promise<{ ort: typeof import("onnxruntime-web"); wasmFile: () => string }> {
  const sizes: number[] = [];
  const original = WebAssembly.instantiate;
  const watched = (source: BufferSource | WebAssembly.Module, imports?: WebAssembly.Imports): Promise<unknown> => {
    if (!(source instanceof WebAssembly.Module)) sizes.push(source.byteLength);
    return (original as (s: typeof source, i?: WebAssembly.Imports) => Promise<unknown>)(source, imports);
  };
  (WebAssembly as { instantiate: unknown }).instantiate = watched;
  const ort = await import("onnxruntime-web");
  ort.env.wasm.numThreads = 1;
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
 * onnxruntime for a benchmark child: onnxruntime-web (WASM, as above) or onnxruntime-node (CPU, `threads`
 * intra-op threads, or its default threading for "default"), its versions, and the session options to start from.
 */
export async function ortRuntime(kind: "ort-web" | "ort-node", threads: string): Promise<{
  ort: Pick<typeof import("onnxruntime-web"), "InferenceSession" | "Tensor">;
  versions: Record<string, string>;
  wasmFile?: () => string;
  options: import("onnxruntime-web").InferenceSession.SessionOptions;
}> {
  if (kind === "ort-web") {
    const web = await importOrtWeb();
    return { ort: web.ort, wasmFile: web.wasmFile, versions: { ...web.ort.env.versions, nodejs: process.version }, options: { executionProviders: ["wasm"], logSeverityLevel: 3 } };
  }
  const native = await import("onnxruntime-node");
  const options: import("onnxruntime-web").InferenceSession.SessionOptions = { executionProviders: ["cpu"], logSeverityLevel: 3 };
  if (threads !== "default") options.intraOpNumThreads = Number(threads);
  return { ort: native, versions: { ...native.env.versions, nodejs: process.version }, options };
}
