"""Packs a quantized checkpoint into one file for the trip back from the GPU machine, and unpacks it here.

    python3 -m lowbit_train.transport pack runs/NAME/model NAME.lbpack      # on the GPU machine
    python3 -m lowbit_train.transport unpack NAME.lbpack runs/NAME/model    # here: the same checkpoint again

A quantized checkpoint (docs/FORMAT.md §2) holds its codes as int8, one byte a weight: a 124M-parameter
2-bit model is 124 MB of codes, four times its real size, and the device tool returns at most 64 MiB a call.
The pack is a safetensors file (this package's reader and writer) that stores each `.qweight` at its bit
width, code + k in b bits, little-endian within a byte, and every other tensor as it is; its metadata holds
config.json and each packed tensor's shape and bits. Unpacking gives back the same tensors bit for bit and
writes the checkpoint with the same writer as training (temp files and renames). Hand-written because no
library packs sub-byte integers into a checkpoint format that this package's readers already validate.
"""

import json
import os
import sys
from typing import Dict

import torch

from .model import SHARD_BYTES, VOCAB_MATRICES, _read_config, _read_tensors, _write_checkpoint
from .quant import k_levels
from .safetensors_io import read_safetensors, write_safetensors

PACK_FORMAT = "lowbit-transport"
PACK_VERSION = 1


def _bits_of(name: str, qc: dict) -> int:
    return qc["embedding_bits"] if name in VOCAB_MATRICES else qc["weight_bits"]


def pack_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """int8 codes in [−k, k] (any shape) → uint8 (⌈n · bits / 8⌉,): code + k in `bits` bits, 8 / bits a byte."""
    k = k_levels(bits)
    flat = codes.reshape(-1).to(torch.int16)
    if flat.numel() and (int(flat.min()) < -k or int(flat.max()) > k):
        raise ValueError(f"codes outside [-{k}, {k}] for {bits} bits")
    per = 8 // bits
    u = (flat + k).to(torch.uint8)
    u = torch.nn.functional.pad(u, (0, (-u.numel()) % per)).reshape(-1, per)  # (bytes, per)
    out = torch.zeros(u.shape[0], dtype=torch.uint8)
    for i in range(per):
        out |= u[:, i] << (i * bits)
    return out


def unpack_codes(packed: torch.Tensor, bits: int, shape) -> torch.Tensor:
    """pack_codes' inverse: int8 codes of `shape`."""
    k = k_levels(bits)
    per, n = 8 // bits, 1
    for d in shape:
        n *= d
    if packed.dtype != torch.uint8 or packed.dim() != 1 or packed.numel() != -(-n // per):
        raise ValueError(f"packed codes: expected {-(-n // per)} uint8 values for shape {list(shape)} at {bits} bits, "
                         f"found {packed.dtype} {list(packed.shape)}")
    mask = (1 << bits) - 1
    fields = torch.stack([(packed >> (i * bits)) & mask for i in range(per)], dim=1).reshape(-1)[:n]  # (n,)
    codes = fields.to(torch.int16) - k
    if n and int(codes.max()) > k:
        raise ValueError(f"packed codes: a field above {2 * k} at {bits} bits")
    return codes.to(torch.int8).reshape(shape)


def pack(src: str, out: str) -> int:
    """The quantized checkpoint in src → one pack file at out; returns its size in bytes."""
    config = _read_config(src)
    qc = config.get("quantization_config")
    if not isinstance(qc, dict):
        raise ValueError(f"{src}: config.json has no quantization_config: not a quantized checkpoint")
    tensors: Dict[str, torch.Tensor] = {}
    packed: Dict[str, dict] = {}
    for name, (t, _) in _read_tensors(src).items():
        if name.endswith(".qweight"):
            bits = _bits_of(name[: -len(".qweight")], qc)
            tensors[name] = pack_codes(t, bits)
            packed[name] = {"bits": bits, "shape": list(t.shape)}
        else:
            tensors[name] = t
    meta = {"format": PACK_FORMAT, "version": str(PACK_VERSION), "config": json.dumps(config),
            "packed": json.dumps(packed)}
    tmp = f"{out}.tmp-{os.getpid()}"
    write_safetensors(tmp, tensors, meta)
    os.replace(tmp, out)
    return os.path.getsize(out)


def unpack(src: str, out: str) -> None:
    """A pack file → the quantized checkpoint folder out (config.json written last)."""
    tensors, meta = read_safetensors(src)
    if meta.get("format") != PACK_FORMAT or meta.get("version") != str(PACK_VERSION):
        raise ValueError(f"{src}: not a {PACK_FORMAT} v{PACK_VERSION} file (metadata format "
                         f"{meta.get('format')!r}, version {meta.get('version')!r})")
    config, packed = json.loads(meta["config"]), json.loads(meta["packed"])
    for name, info in packed.items():
        if name not in tensors:
            raise ValueError(f"{src}: packed tensor {name} is listed in the metadata but missing")
        tensors[name] = unpack_codes(tensors[name], int(info["bits"]), tuple(info["shape"]))
    _write_checkpoint(out, tensors, config, SHARD_BYTES, None)


def main(argv) -> None:
    if len(argv) != 3 or argv[0] not in ("pack", "unpack"):
        print("usage: python3 -m lowbit_train.transport pack CHECKPOINT_DIR FILE | unpack FILE CHECKPOINT_DIR",
              file=sys.stderr)
        sys.exit(2)
    try:
        if argv[0] == "pack":
            print(f"{argv[2]}: {pack(argv[1], argv[2]):,} bytes")
        else:
            unpack(argv[1], argv[2])
            print(f"{argv[2]}: unpacked")
    except (ValueError, OSError) as err:
        print(f"transport: error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
