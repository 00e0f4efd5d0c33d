// The hand-off from training to runtime, end to end on CPU: the Python stage pretrains a tiny teacher and
// QuantGPT-trains a W-E-A 2-2-8 student, `lowbit export` writes it, and the WASM runtime's perplexity on a
// test slice equals PyTorch's fake-quant perplexity on the same windows within 1%.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { readGpt2Checkpoint } from "../../src/export/checkpoint.js";
import { exportGpt2 } from "../../src/export/export.js";
import { loadGpt2Model } from "../../src/runtime/index.js";
import { perplexity } from "../../src/runtime/perplexity.js";
import { ROOT, tempDir } from "../helpers/fixtures.js";

const PYTHON = "/usr/bin/python3"; // Debian's, which has torch (scripts/setup.sh installs python3-torch)

function python(args: string[]): string {
  const r = spawnSync(PYTHON, args, { cwd: ROOT, env: { ...process.env, PYTHONPATH: join(ROOT, "train") }, encoding: "utf8" });
  assert.ok(r.error === undefined, `${PYTHON} is missing (${r.error?.message}): run scripts/setup.sh`);
  assert.equal(r.status, 0, `python ${args.join(" ")} failed:\n${r.stderr.slice(-2000)}`);
  return r.stdout;
}

it("a QuantGPT 2-2-8 student trained in PyTorch scores the same perplexity in the runtime (within 1%)", async () => {
  const dir = tempDir();
  const data = join(dir, "data");
  mkdirSync(data);
  // A learnable token stream: a repeating pattern over 500 ids with 10% noise (seeded).
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (const [split, n] of [["train", 6000], ["valid", 600], ["test", 1200]] as const) {
    const toks = Uint16Array.from({ length: n }, (_, i) => (rand() < 0.1 ? Math.floor(rand() * 500) : (i * 7) % 500));
    writeFileSync(join(data, `${split}.bin`), Buffer.from(toks.buffer));
  }
  const common = [`--data_dir=${data}`, "--device=cpu", "--progress=false", "--n_layer=2", "--n_head=2", "--n_embd=32", "--n_positions=64",
    "--block_size=32", "--batch_size=8", "--eval_interval=0", "--eval_tokens=300", "--test_tokens=300", "--eval_context=32", "--eval_stride=32", "--ckpt_interval=0"];
  python(["-m", "lowbit_train.train", "--method=pretrain", `--out_dir=${join(dir, "teacher")}`, "--max_steps=40", "--warmup_steps=5", "--lr=3e-3", "--dropout=0", ...common]);
  python(["-m", "lowbit_train.train", "--method=quantgpt", `--teacher=${join(dir, "teacher", "model")}`, `--out_dir=${join(dir, "student")}`,
    "--max_steps=20", "--warmup_steps=2", "--lr=1e-3", ...common]);
  const torch = JSON.parse(python(["-m", "lowbit_train.evaluate", "--model", join(dir, "student", "model"), "--tokens", join(data, "test.bin"),
    "--context", "32", "--stride", "32", "--max-tokens", "1200"]).trim().split("\n").pop()!);

  const ckpt = readGpt2Checkpoint(join(dir, "student", "model"));
  assert.equal(ckpt.quantization?.method, "quantgpt");
  const model = await loadGpt2Model(exportGpt2(ckpt, { format: "dq", activationBits: 8, source: "student" }).bytes);
  const bytes = readFileSync(join(data, "test.bin"));
  const test = new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const ours = perplexity(model.executor, test, { context: 32, stride: 32 });
  assert.equal(ours.scoredTokens, torch.scored_tokens);
  const ratio = ours.perplexity / torch.perplexity;
  assert.ok(Math.abs(ratio - 1) < 0.01, `runtime ${ours.perplexity} vs PyTorch ${torch.perplexity} (ratio ${ratio})`);
});
