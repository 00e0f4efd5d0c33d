"""safetensors_io: the hand-written reader and writer, against each other, the format and the package."""

import json
import os
import struct

import pytest
import torch

from lowbit_train import safetensors_io as st


def sample_tensors():
    torch.manual_seed(0)
    return {
        "f32": torch.randn(3, 5),
        "f16": torch.randn(7).half(),
        "bf16": torch.randn(2, 3, 4).bfloat16(),
        "i8": torch.randint(-127, 128, (9, 2), dtype=torch.int8),
        "scalar": torch.tensor(0.125),
        "empty": torch.zeros(0, 4),
        "mask": torch.ones(2, 2, dtype=torch.bool).tril(),
        "i64": torch.arange(5),
    }


def test_round_trip_every_dtype(tmp_path):
    path = str(tmp_path / "a.safetensors")
    tensors = sample_tensors()
    st.write_safetensors(path, tensors, {"format": "pt", "producer": "test"})
    assert os.path.getsize(path) == st.safetensors_size(tensors, {"format": "pt", "producer": "test"})
    assert not [f for f in os.listdir(tmp_path) if ".tmp-" in f]
    for read in (st.read_safetensors_plain, lambda p: st.read_safetensors(p)[0]):
        back = read(path)
        assert list(back) == list(tensors) or set(back) == set(tensors)
        for name, t in tensors.items():
            assert back[name].dtype == t.dtype and back[name].shape == t.shape, name
            assert torch.equal(back[name], t), name
    assert st.read_safetensors(path)[1] == {"format": "pt", "producer": "test"}


def test_layout_is_the_format(tmp_path):
    """u64 LE header length, a JSON header padded to 8 bytes, then the data the offsets index."""
    path = str(tmp_path / "b.safetensors")
    st.write_safetensors(path, {"x": torch.tensor([1.0, -2.0]), "y": torch.tensor([3], dtype=torch.int8)})
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["x"] == {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    assert header["y"] == {"dtype": "I8", "shape": [1], "data_offsets": [8, 9]}
    assert raw[8 + n:] == struct.pack("<2f", 1.0, -2.0) + b"\x03"


def test_errors_name_the_file_and_tensor(tmp_path):
    path = str(tmp_path / "c.safetensors")
    st.write_safetensors(path, {"w": torch.zeros(4, 4)})
    raw = open(path, "rb").read()
    truncated = str(tmp_path / "t.safetensors")
    open(truncated, "wb").write(raw[:-3])
    with pytest.raises(st.SafetensorsError, match=r"t\.safetensors: tensor w: .*truncated"):
        st.read_safetensors_plain(truncated)
    bad = str(tmp_path / "d.safetensors")
    header = json.dumps({"w": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}).encode()
    open(bad, "wb").write(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(st.SafetensorsError, match="tensor w: unsupported dtype 'F64'"):
        st.read_safetensors_plain(bad)
    with pytest.raises(st.SafetensorsError, match="at least 8 bytes"):
        open(bad, "wb").write(b"\1\2")
        st.read_safetensors_plain(bad)


def test_interoperates_with_the_safetensors_package(tmp_path):
    """Our reader and writer agree with Hugging Face's safetensors library. Where the package is installed (the
    GPU machine) it reads what we write and we read what it writes; where it is not (Debian's CI), we read the
    committed fixtures, which that library wrote (scripts/make_fixtures.py)."""
    try:
        import safetensors.torch as safetensors_torch
    except ImportError:
        fixtures = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "gpt2")
        read = 0
        for name in ("tiny-f32", "tiny-f16", "tiny-bf16"):
            for f in sorted(os.listdir(os.path.join(fixtures, name))):
                if f.endswith(".safetensors"):
                    tensors = st.read_safetensors_plain(os.path.join(fixtures, name, f))
                    assert tensors and all(t.numel() > 0 for t in tensors.values())
                    read += 1
        assert read == 4
        return
    path = str(tmp_path / "e.safetensors")
    tensors = sample_tensors()
    st.write_safetensors(path, tensors)
    back = safetensors_torch.load_file(path)
    for name, t in tensors.items():
        assert torch.equal(back[name], t), name
    other = str(tmp_path / "f.safetensors")
    safetensors_torch.save_file({k: v for k, v in tensors.items() if v.numel()}, other)
    for name, t in st.read_safetensors_plain(other).items():
        assert torch.equal(t, tensors[name]), name


def test_split_into_parts_reads_as_the_whole_file(tmp_path):
    """Byte-level parts (docs/FORMAT.md) read as the file they were cut from; parts whose sizes do not add up to
    what the header gives are refused before any tensor is read, naming the file and both byte counts."""
    path = str(tmp_path / "s.safetensors")
    tensors = sample_tensors()
    st.write_safetensors(path, tensors, {"format": "pt"})
    whole = open(path, "rb").read()
    parts = st.split_into_parts(path, 64)
    assert parts == [st.part_path(path, i) for i in range(-(-len(whole) // 64))] and not os.path.exists(path)
    assert st.part_files(path) == parts and st.safetensors_exists(path)
    for back in (st.read_safetensors_plain(path), st.read_safetensors(path)[0]):
        assert set(back) == set(tensors) and all(torch.equal(back[n], t) for n, t in tensors.items())
    assert st.read_safetensors(path)[1] == {"format": "pt"}

    with open(parts[-1], "ab") as f:
        f.write(b"\0")
    with pytest.raises(st.SafetensorsError, match=rf"s\.safetensors: its parts .*part-00 … .*part-{len(parts) - 1}"
                                                  rf" do not .*: expected {len(whole)} bytes, found {len(whole) + 1} \(a part"):
        st.read_safetensors(path)
    os.remove(parts[10])  # reading stops at the first missing number: part-00 … part-09
    with pytest.raises(st.SafetensorsError, match=rf"part-09 do not .*expected {len(whole)} bytes, found 640 "):
        st.read_safetensors_plain(path)

    # A new split over fewer parts removes the old ones past its end; a whole file wins over parts.
    st.write_safetensors(path, {"x": torch.zeros(3)})
    assert st.split_into_parts(path, 1000) == [st.part_path(path, 0)] and st.part_files(path) == [st.part_path(path, 0)]
    assert not [f for f in os.listdir(tmp_path) if f != "s.safetensors.part-00"]
    st.write_safetensors(path, {"y": torch.ones(2)})
    assert st.part_files(path) == [] and list(st.read_safetensors(path)[0]) == ["y"]
