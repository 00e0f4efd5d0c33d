// PyTorch's perplexity of a saved checkpoint on a token file, through `python3 -m lowbit_train.evaluate` (Debian's
// CPU torch at /usr/bin/python3): the independent oracle the results scripts hold the runtime against.

import { execFileSync } from "node:child_process";

export function torchPerplexity(modelDir: string, tokensFile: string, context: number, stride: number, maxTokens: number): number {
  const out = execFileSync("/usr/bin/python3", ["-m", "lowbit_train.evaluate", "--model", modelDir, "--tokens", tokensFile,
    "--context", String(context), "--stride", String(stride), "--max-tokens", String(maxTokens)],
  { env: { ...process.env, PYTHONPATH: "train" }, encoding: "utf8" });
  return (JSON.parse(out.trim().split("\n").pop()!) as { perplexity: number }).perplexity;
}
