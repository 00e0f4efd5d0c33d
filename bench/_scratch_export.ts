import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { readCheckpoint } from "../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint } from "../src/export/export.js";
import { GPT2_124M, makeRandomGpt2 } from "../scripts/make_random_gpt2.js";
const dir = join(tmpdir(), "lowbit-gpt2-124m-random");
let t = performance.now();
if (!existsSync(join(dir, "model.safetensors"))) makeRandomGpt2(dir, GPT2_124M);
console.log("ckpt", performance.now() - t);
const ckpt = readCheckpoint(dir);
for (const [bits, format] of [[32, "dq"], [8, "dq"], [4, "dq"], [2, "dq"], [4, "nbits"], [2, "nbits"]] as const) {
  t = performance.now();
  const q = bits === 32 ? ckpt : quantizeCheckpoint(ckpt, { weightBits: bits, embeddingBits: bits, activationBits: 8, granularity: "module", groupSize: 0, clip: "maxabs" });
  const { bytes } = exportGpt2(q, { format, activationBits: bits === 32 ? 32 : 8, source: dir });
  writeFileSync(`/tmp/lowbit-gen/w${bits}-${format}.onnx`, bytes);
  console.log(bits, format, bytes.byteLength, performance.now() - t);
}
