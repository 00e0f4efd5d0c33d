// Where the Hugging Face Hub and its cache are, read from the environment as huggingface_hub (Python) reads it,
// so that lowbit, transformers and huggingface_hub share one cache and one login. Node only; not a downloader.
//
//   HF_ENDPOINT       the Hub's base URL (default https://huggingface.co)
//   HF_TOKEN          sent as `Authorization: Bearer …`; else HUGGING_FACE_HUB_TOKEN, else the file
//                     $HF_TOKEN_PATH (default $HF_HOME/token) that `huggingface-cli login` writes
//   HF_HUB_CACHE      the cache folder (default $HF_HOME/hub; HF_HOME default $XDG_CACHE_HOME/huggingface, then
//                     ~/.cache/huggingface): @huggingface/hub's getHFHubCachePath() reads it in that order
//   HF_HUB_OFFLINE    1/ON/YES/TRUE: use the cache only, never the network

import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { getHFHubCachePath } from "@huggingface/hub";
import { LowbitError } from "../errors.js";

export const DEFAULT_ENDPOINT = "https://huggingface.co";

export interface HubSettings {
  /** The Hub's base URL, no trailing slash. */
  endpoint: string;
  /** The access token, or undefined for anonymous requests. */
  token?: string;
  /** Where the token came from, for error messages ("HF_TOKEN", a token file's path). */
  tokenSource?: string;
  /** The hub cache folder holding models--{org}--{name}/. */
  cacheDir: string;
  offline: boolean;
}

/** huggingface_hub's constants.HF_HOME: $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
function hfHome(env: NodeJS.ProcessEnv): string {
  return expandHome(env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "huggingface"));
}

function expandHome(path: string): string {
  return path === "~" || path.startsWith("~/") ? join(homedir(), path.slice(1)) : path;
}

/** huggingface_hub's _clean_token: surrounding space and line breaks dropped; empty means none. */
function cleanToken(token: string | undefined): string | undefined {
  const t = token?.replace(/[\r\n]/g, "").trim();
  return t === undefined || t === "" ? undefined : t;
}

/** huggingface_hub's constants._is_true. */
function isTrue(value: string | undefined): boolean {
  return ["1", "ON", "YES", "TRUE"].includes((value ?? "").toUpperCase());
}

/** The settings, from process.env (which @huggingface/hub's cache path helper reads too). */
export function hubSettings(): HubSettings {
  const env = process.env;
  const rawEndpoint = (env.HF_ENDPOINT ?? "").trim() || DEFAULT_ENDPOINT;
  let endpoint: string;
  try {
    const url = new URL(rawEndpoint);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("not http(s)");
    endpoint = rawEndpoint.replace(/\/+$/, "");
  } catch {
    throw new LowbitError("HF_ENDPOINT is not an http(s) URL", { expected: "a URL such as https://huggingface.co", found: JSON.stringify(rawEndpoint) });
  }
  return { endpoint, ...readToken(env), cacheDir: expandHome(getHFHubCachePath()), offline: isTrue(env.HF_HUB_OFFLINE) };
}

/** huggingface_hub's get_token(): the environment first, then the token file; none is fine (anonymous). */
function readToken(env: NodeJS.ProcessEnv): { token?: string; tokenSource?: string } {
  for (const name of ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]) {
    const token = cleanToken(env[name]);
    if (token !== undefined) return { token, tokenSource: name };
  }
  const tokenPath = expandHome(env.HF_TOKEN_PATH ?? join(hfHome(env), "token"));
  let text: string;
  try {
    text = readFileSync(tokenPath, "utf8");
  } catch {
    return {}; // no login
  }
  const token = cleanToken(text);
  return token === undefined ? {} : { token, tokenSource: tokenPath };
}
