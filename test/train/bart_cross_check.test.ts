// The BART hand-off from training to runtime, end to end on CPU: the Python stage pretrains a tiny BART with
// BART's denoising objective, fine-tunes it, QuantBART-trains a W-E-A 2-2-8 student, `lowbit export` writes
// both as folders, and the WASM runtime's decoder logits, fed the same ids, equal PyTorch's (lowbit_train.bart)
// within a stated tolerance, with the same arg-max at every step.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { loadBartModel } from "../../src/runtime/index.js";
import { ROOT, tempDir } from "../helpers/fixtures.js";

const PYTHON = "/usr/bin/python3"; // Debian's, which has torch (scripts/setup.sh installs python3-torch)
const TOKENIZER = join(ROOT, "test", "fixtures", "bart", "bart-f32"); // a 281-token BART-style vocab.json + merges.txt
const V = 281;

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { cwd: ROOT, env: { ...process.env, PYTHONPATH: join(ROOT, "train") }, encoding: "utf8" });
  assert.ok(r.error === undefined, `${cmd} is missing (${r.error?.message}): run scripts/setup.sh`);
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} failed:\n${r.stderr.slice(-2000)}`);
  return r.stdout;
}

// PyTorch's teacher-forced logits (S source ids → T decoder steps) of a checkpoint, as JSON.
const DUMP = `
import json, sys, torch
from lowbit_train.bart import load_any_bart
_, m, _ = load_any_bart(sys.argv[1])
m.eval()
src, dec = json.loads(sys.argv[2]), json.loads(sys.argv[3])
with torch.no_grad():
    logits = m(torch.tensor([src]), None, torch.tensor([dec]))[0]
print(json.dumps(logits.tolist()))
`;

it("a tiny BART teacher and its QuantBART 2-2-8 student give the runtime PyTorch's logits", async () => {
  const dir = tempDir();
  // Learnable synthetic data in the fixture vocabulary's id range: the target is the source's four smallest ids.
  let seed = 11;
  const rand = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * n);
  const u16 = (ids: number[]) => Buffer.from(Uint16Array.from(ids).buffer);
  mkdirSync(join(dir, "pretrain"));
  mkdirSync(join(dir, "lead"));
  for (const [split, docs] of [["train", 80], ["valid", 8]] as const) {
    const ids: number[] = [];
    const starts: number[] = [];
    for (let d = 0; d < docs; d++) {
      for (let s = 2 + rand(4); s > 0; s--) {
        starts.push(ids.length);
        for (let t = 3 + rand(6); t > 0; t--) ids.push(4 + rand(V - 5));
      }
      ids.push(2);
    }
    writeFileSync(join(dir, "pretrain", `${split}.bin`), u16(ids));
    writeFileSync(join(dir, "pretrain", `${split}.sentences.bin`), Buffer.from(Uint32Array.from(starts).buffer));
  }
  for (const [split, n] of [["train", 120], ["valid", 12], ["test", 12]] as const) {
    const src: number[] = [];
    const tgt: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = Array.from({ length: 8 + rand(10) }, () => 4 + rand(V - 5));
      src.push(...s, 2);
      tgt.push(...[...s].sort((a, b) => a - b).slice(0, 4), 2);
    }
    writeFileSync(join(dir, "lead", `${split}.source.bin`), u16(src));
    writeFileSync(join(dir, "lead", `${split}.target.bin`), u16(tgt));
  }
  const common = [`--pretrain_dir=${join(dir, "pretrain")}`, `--task_dir=${join(dir, "lead")}`, `--tokenizer_dir=${TOKENIZER}`, "--device=cpu",
    "--progress=false", `--vocab_size=${V}`, "--d_model=32", "--heads=2", "--ffn_dim=64", "--encoder_layers=2", "--decoder_layers=2",
    "--max_position_embeddings=64", "--chunk_tokens=40", "--max_source_tokens=40", "--batch_size=8", "--eval_interval=0", "--eval_examples=8"];
  const train = (args: string[]) => run(PYTHON, ["-m", "lowbit_train.train_bart", ...args, ...common]);
  train(["--method=pretrain", `--out_dir=${join(dir, "pre")}`, "--max_steps=30", "--lr=3e-3", "--warmup_steps=3"]);
  train(["--method=finetune", `--init_from=${join(dir, "pre", "model")}`, `--out_dir=${join(dir, "ft")}`, "--max_steps=30", "--lr=3e-3", "--save_dtype=float32"]);
  train(["--method=quantbart", `--teacher=${join(dir, "ft", "model")}`, `--out_dir=${join(dir, "qat")}`, "--max_steps=10", "--lr=1e-3", "--dropout=0"]);

  const src = [0, 17, 250, 33, 98, 120, 7, 64, 201, 5, 2];
  const dec = [2, 0, 5, 7, 17, 33, 2];
  // Tolerance: f32 sums in different orders (PyTorch's GEMMs, the runtime's kernels); measured 4.8e-7 for both
  // models here. With int8 activations a one-ulp difference could flip a code at a .5 boundary and move a
  // logit by one activation step times a weight; 1e-5 leaves room for none of that, so a flip would show.
  for (const [name, bits, tolerance] of [["ft", 32, 1e-5], ["qat", 2, 1e-5]] as const) {
    const out = join(dir, `${name}-onnx`) + "/";
    // The teacher is a plain checkpoint: --bits 32 keeps it fp32 (export's default quantizes); the student's
    // quantized checkpoint exports with its own settings.
    run(process.execPath, [join(ROOT, "bin", "lowbit.js"), "export", join(dir, name, "model"), "-o", out, ...(bits === 32 ? ["--bits", "32"] : [])]);
    const torch = JSON.parse(run(PYTHON, ["-c", DUMP, join(dir, name, "model"), JSON.stringify(src), JSON.stringify(dec)])) as number[][];
    const model = await loadBartModel(out);
    assert.equal(model.config.vocab_size, V);
    assert.equal(model.quantization.weight_bits, bits);
    model.executor.encode(src);
    model.executor.startDecoder(1, dec.length);
    let worst = 0;
    for (let t = 0; t < dec.length; t++) {
      const [row] = model.executor.step([dec[t]]);
      let argRuntime = 0;
      let argTorch = 0;
      for (let v = 0; v < V; v++) {
        worst = Math.max(worst, Math.abs(row[v] - torch[t][v]));
        if (row[v] > row[argRuntime]) argRuntime = v;
        if (torch[t][v] > torch[t][argTorch]) argTorch = v;
      }
      assert.equal(argRuntime, argTorch, `${name}: step ${t} arg-max ${argRuntime} (runtime) vs ${argTorch} (PyTorch)`);
    }
    assert.ok(worst <= tolerance, `${name}: max |runtime − PyTorch| logit ${worst} > ${tolerance}`);
  }
});
