// Node's built-in modules for the runtime's Node-only paths (reading files, hashing while reading, worker
// threads, the core count), loaded only when the runtime finds itself in Node. Not a host abstraction: the
// callers keep their own `isNode` branches; this file only decides how the import is written.
//
// Why not `await import("node:fs/promises")`: a browser bundle of the package sees that literal and must
// resolve it. esbuild (platform "browser") then fails ("Could not resolve node:fs/promises … built into
// node") unless the user passes `external: ["node:*"]`; Vite swaps in an empty stub and warns on every build;
// webpack 5 fails without a fallback. The specifier is therefore a value, made at run time, which bundlers
// leave alone: esbuild and Rollup keep a non-literal import() as it is, and the comments keep Vite
// (`@vite-ignore`) and webpack (`webpackIgnore`) from warning about it. A package.json "browser" map of a
// Node-only module to a stub would also work for bundlers, but not for the tests and tools that run src/
// through tsx, nor for a browser that loads dist/ unbundled (an import map, a CDN that does not apply the
// map); this way the same files are right everywhere. The types stay exact (NodeBuiltins below).

interface NodeBuiltins {
  crypto: typeof import("node:crypto");
  "fs/promises": typeof import("node:fs/promises");
  os: typeof import("node:os");
  path: typeof import("node:path");
  url: typeof import("node:url");
  worker_threads: typeof import("node:worker_threads");
}

/** Whether the runtime runs in Node (or in Bun or Deno, which give `process.versions.node` too). */
export const isNode = typeof process !== "undefined" && process.versions?.node !== undefined;

/** `import("node:<name>")`, hidden from bundlers (see the header). Call it only where isNode holds. */
export function importNode<K extends keyof NodeBuiltins>(name: K): Promise<NodeBuiltins[K]> {
  const specifier = `node:${name}`;
  return import(/* webpackIgnore: true */ /* @vite-ignore */ specifier) as Promise<NodeBuiltins[K]>;
}
