"""safetensors files for the training stage: read Hugging Face checkpoints, write checkpoints for lowbit.

Format (https://huggingface.co/docs/safetensors), all integers little-endian:

    u64 N | N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}}
          | the data block, which the offsets index (row-major, little-endian elements)

Reading uses the `safetensors` package when it is importable (the GPU machine has it: it maps the file
instead of copying it) and this file's reader otherwise (Debian's torch 1.13 has no safetensors).
Writing always goes through this file's writer: it is 40 lines, it knows every file's exact size before
it writes one (what the shard limit in model.py needs), and it is the same code on the CPU where the tests
run and on the GPU where the checkpoints are made. src/export/safetensors.ts reads what it writes.

A file may also be stored split at byte level into `X.safetensors.part-00`, `.part-01`, … (each under a
size limit, for git hosts and transfer tools that cap file sizes; docs/FORMAT.md): `cat X.safetensors.part-*`
gives the standard file back, and the readers here accept the parts wherever X.safetensors is asked for.

This is not a general tensor store: dtypes are the ones GPT-2 checkpoints use (F32, F16, BF16, I8, and
U8/BOOL/I32/I64 for buffers some checkpoints carry).
"""

import ctypes
import io
import json
import os
import struct
import sys
from typing import BinaryIO, Dict, List, Mapping, Optional, Tuple

import torch

try:  # the GPU machine has the package; CI and the dev machines do not
    from safetensors import safe_open as _lib_safe_open
except ImportError:  # pragma: no cover - depends on the machine
    _lib_safe_open = None

DTYPES: Dict[str, torch.dtype] = {
    "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool, "I32": torch.int32, "I64": torch.int64,
}
DTYPE_NAMES: Dict[torch.dtype, str] = {v: k for k, v in DTYPES.items()}
ELEMENT_BYTES: Dict[str, int] = {"F32": 4, "F16": 2, "BF16": 2, "I8": 1, "U8": 1, "BOOL": 1, "I32": 4, "I64": 8}

# Elements are written in the machine's byte order; the format wants little-endian.
assert sys.byteorder == "little", "safetensors_io assumes a little-endian machine"


class SafetensorsError(ValueError):
    """A file that is not valid safetensors; the message names the file and the tensor."""


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


# ─── split files ──────────────────────────────────────────────────────────────────────────────────

def part_path(path: str, i: int) -> str:
    """The i-th part of a split file: `model.safetensors.part-00`, `.part-01`, …"""
    return f"{path}.part-{i:02d}"


def part_files(path: str) -> List[str]:
    """The parts that stand for `path` when it is absent: part-00, part-01, … up to the first missing number.
    [] when `path` itself exists (a whole file wins) or has no part-00."""
    if os.path.exists(path):
        return []
    parts: List[str] = []
    while os.path.exists(part_path(path, len(parts))):
        parts.append(part_path(path, len(parts)))
    return parts


def safetensors_exists(path: str) -> bool:
    """Whether `path` is there, whole or split into parts."""
    return os.path.exists(path) or os.path.exists(part_path(path, 0))


def split_into_parts(path: str, max_bytes: int) -> List[str]:
    """Splits the file at `path` into parts of at most max_bytes each (byte ranges, in order), writes each
    atomically, removes parts left from an earlier, longer split, and then the whole file; returns the parts."""
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be positive, not {max_bytes}")
    count = max(1, -(-os.path.getsize(path) // max_bytes))  # ceil; an empty file still gets a part-00
    parts = [part_path(path, i) for i in range(count)]
    with open(path, "rb") as f:
        for part in parts:
            tmp = f"{part}.tmp-{os.getpid()}"
            with open(tmp, "wb") as out:
                out.write(f.read(max_bytes))
            os.replace(tmp, part)
    folder, prefix = os.path.split(path)[0] or ".", f"{os.path.basename(path)}.part-"
    for fname in os.listdir(folder):  # parts of an earlier, longer split: readers would take them as ours
        number = fname[len(prefix):]
        if fname.startswith(prefix) and number.isdigit() and int(number) >= count:
            os.remove(os.path.join(folder, fname))
    os.remove(path)
    return parts


# ─── reading ──────────────────────────────────────────────────────────────────────────────────────

def _open(path: str) -> Tuple[BinaryIO, int, List[str]]:
    """(binary file, its size, the parts it was joined from or []): the file at `path`, or the concatenation of
    its parts in memory when it is split."""
    parts = part_files(path)
    if not parts:
        return open(path, "rb"), os.path.getsize(path), parts
    chunks = []
    for part in parts:
        with open(part, "rb") as f:
            chunks.append(f.read())
    joined = b"".join(chunks)
    return io.BytesIO(joined), len(joined), parts


def _data_end(header: dict) -> int:
    """The size of the data block the header indexes: the largest end offset among well-formed entries."""
    ends = [0]
    for name, entry in header.items():
        offsets = entry.get("data_offsets") if isinstance(entry, dict) and name != "__metadata__" else None
        if isinstance(offsets, list) and len(offsets) == 2 and isinstance(offsets[1], int):
            ends.append(offsets[1])
    return max(ends)


def _read_header(f: BinaryIO, size: int, path: str, parts: List[str]) -> Tuple[dict, int]:
    """read_header on a file _open gave: `f` at its start, `size` bytes long, joined from `parts` (or [])."""
    head = f.read(8)
    if len(head) < 8:
        raise SafetensorsError(f"{path}: truncated safetensors file: expected at least 8 bytes, found {size}")
    (n,) = struct.unpack("<Q", head)
    if 8 + n > size:
        raise SafetensorsError(f"{path}: header length {n} runs past the end of the file ({size} bytes)")
    try:
        header = json.loads(f.read(n).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SafetensorsError(f"{path}: safetensors header is not valid JSON: {err}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: safetensors header is not a JSON object")
    # Checked before the tensors, so that a missing or cut part is reported as that, not as a short tensor.
    if parts and 8 + n + _data_end(header) != size:
        raise SafetensorsError(f"{path}: its parts {parts[0]} … {parts[-1]} do not add up to the size the safetensors "
                               f"header gives: expected {8 + n + _data_end(header)} bytes, found {size} "
                               f"(a part missing or cut short?)")
    data_bytes = size - 8 - n
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in DTYPES:
            raise SafetensorsError(f"{path}: tensor {name}: unsupported dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise SafetensorsError(f"{path}: tensor {name}: bad shape {shape!r}; expected a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and 0 <= offsets[0] <= offsets[1] <= data_bytes):
            raise SafetensorsError(f"{path}: tensor {name}: data_offsets {offsets!r} outside the data block of {data_bytes} bytes (truncated file?)")
        want = _numel(shape) * ELEMENT_BYTES[dtype]
        if offsets[1] - offsets[0] != want:
            raise SafetensorsError(f"{path}: tensor {name}: {offsets[1] - offsets[0]} bytes of data for {dtype} {shape}; expected {want}")
    return header, 8 + n


def read_header(path: str) -> Tuple[dict, int]:
    """(header JSON, byte offset of the data block), checked against the file's size (whole or split)."""
    f, size, parts = _open(path)
    with f:
        return _read_header(f, size, path, parts)


def read_safetensors(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """({name: CPU tensor in its stored dtype}, metadata). Validates the header either way. A split file is
    read by this file's reader (the package maps whole files only)."""
    if _lib_safe_open is None or part_files(path):
        return _read_plain(path)
    header, _ = read_header(path)
    tensors = {}
    with _lib_safe_open(path, framework="pt") as f:
        for name in f.keys():
            tensors[name] = f.get_tensor(name)
    return tensors, header.get("__metadata__") or {}


def read_safetensors_plain(path: str) -> Dict[str, torch.Tensor]:
    """This file's reader: each tensor read into its own buffer (aligned, writable, no copy after)."""
    return _read_plain(path)[0]


def _read_plain(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    f, size, parts = _open(path)
    tensors = {}
    with f:
        header, data_start = _read_header(f, size, path, parts)
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            begin, end = entry["data_offsets"]
            dtype = DTYPES[entry["dtype"]]
            if end == begin:
                tensors[name] = torch.empty(entry["shape"], dtype=dtype)
                continue
            buf = bytearray(end - begin)
            f.seek(data_start + begin)
            if f.readinto(buf) != len(buf):
                raise SafetensorsError(f"{path}: tensor {name}: file ended inside its data")
            tensors[name] = torch.frombuffer(buf, dtype=dtype).reshape(entry["shape"])
    return tensors, header.get("__metadata__") or {}


# ─── writing ──────────────────────────────────────────────────────────────────────────────────────

def _header_bytes(tensors: Mapping[str, torch.Tensor], metadata: Optional[Mapping[str, str]]) -> bytes:
    """The JSON header, space-padded to a multiple of 8 bytes so the data block starts aligned."""
    header: dict = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name, t in tensors.items():
        if t.dtype not in DTYPE_NAMES:
            raise SafetensorsError(f"tensor {name}: dtype {t.dtype} cannot be written; expected one of {', '.join(DTYPES)}")
        nbytes = t.numel() * t.element_size()
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return raw + b" " * (-len(raw) % 8)


def safetensors_size(tensors: Mapping[str, torch.Tensor], metadata: Optional[Mapping[str, str]] = None) -> int:
    """Exact size in bytes of the file write_safetensors(tensors, metadata) writes."""
    return 8 + len(_header_bytes(tensors, metadata)) + sum(t.numel() * t.element_size() for t in tensors.values())


def write_safetensors(path: str, tensors: Mapping[str, torch.Tensor], metadata: Optional[Mapping[str, str]] = None) -> None:
    """Writes tensors (any device; in their own dtypes, in the mapping's order) atomically: temp file + rename."""
    header = _header_bytes(tensors, metadata)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(header)))
            f.write(header)
            for t in tensors.values():
                t = t.detach().to("cpu").contiguous()
                if t.numel():
                    # The tensor's own bytes, with no numpy (torch 2.x may run without it).
                    f.write(ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
