"""Perplexity of a saved model (plain HF checkpoint or lowbit quantized checkpoint) on a uint16 token file,
in fp32 fake-quant, with the same sliding windows as the runtime's `lowbit perplexity`:

    python3 -m lowbit_train.evaluate --model runs/quantgpt-228/model --tokens data/corpus/test.bin \\
        [--context 256] [--stride 256] [--max-tokens N]      → one JSON line
"""

import argparse
import json
import os

import numpy as np
import torch

from .model import load_hf, load_quantized
from .train import perplexity


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--stride", type=int, default=256)
    ap.add_argument("--max-tokens", type=int, default=0)
    args = ap.parse_args()
    with open(os.path.join(args.model, "config.json")) as f:
        quantized = "quantization_config" in json.load(f)
    model = load_quantized(args.model)[1] if quantized else load_hf(args.model)[1]
    torch.set_grad_enabled(False)
    tokens = np.fromfile(args.tokens, dtype="<u2")
    result = perplexity(model.float(), tokens, args.context, args.stride, "cpu", args.max_tokens)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
