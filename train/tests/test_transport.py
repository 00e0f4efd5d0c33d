"""transport.py: a quantized checkpoint packed at its bit width unpacks to the same tensors, bit for bit."""

import os

import pytest
import torch

from lowbit_train.model import GPT2, _read_tensors, quantize_model, save_quantized
from lowbit_train.safetensors_io import read_safetensors, write_safetensors
from lowbit_train.transport import pack, pack_codes, unpack, unpack_codes
from test_model import tiny_config


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 17, 1000])
def test_codes_round_trip(bits, n):
    k = 2 ** (bits - 1) - 1
    codes = torch.randint(-k, k + 1, (n,), dtype=torch.int8, generator=torch.Generator().manual_seed(n))
    packed = pack_codes(codes, bits)
    assert packed.dtype == torch.uint8 and packed.numel() == -(-n * bits // 8)
    assert torch.equal(unpack_codes(packed, bits, (n,)), codes)


def test_codes_errors():
    with pytest.raises(ValueError, match=r"outside \[-1, 1\]"):
        pack_codes(torch.tensor([2], dtype=torch.int8), 2)
    with pytest.raises(ValueError, match="expected 2 uint8 values"):
        unpack_codes(torch.zeros(3, dtype=torch.uint8), 2, (5,))
    with pytest.raises(ValueError, match="a field above 2"):
        unpack_codes(torch.tensor([3], dtype=torch.uint8), 2, (1,))  # code field 3 = +2: not ternary


@pytest.mark.parametrize("bits,group", [(2, 0), (4, 32), (8, 0)])
def test_checkpoint_round_trip(tmp_path, bits, group):
    torch.manual_seed(bits)
    model = quantize_model(GPT2(tiny_config()), "quantgpt", bits, bits, 8, group_size=group)
    src, packed, back = str(tmp_path / "q"), str(tmp_path / "q.lbpack"), str(tmp_path / "back")
    save_quantized(model, src)
    size = pack(src, packed)
    codes_bytes = sum(t.numel() for n, (t, _) in _read_tensors(src).items() if n.endswith(".qweight"))
    assert size < os.path.getsize(os.path.join(src, "model.safetensors")) - codes_bytes * (1 - bits / 8) + 4096
    unpack(packed, back)
    a, b = _read_tensors(src), _read_tensors(back)
    assert set(a) == set(b)
    for name in a:
        assert a[name][0].dtype == b[name][0].dtype and torch.equal(a[name][0], b[name][0]), name
    assert open(os.path.join(src, "config.json")).read() == open(os.path.join(back, "config.json")).read()


def test_unpack_refuses_other_files(tmp_path):
    path = str(tmp_path / "x.safetensors")
    write_safetensors(path, {"a": torch.zeros(2)}, {"format": "pt"})
    with pytest.raises(ValueError, match="not a lowbit-transport v1 file"):
        unpack(path, str(tmp_path / "out"))
    _, meta = read_safetensors(path)
    assert meta == {"format": "pt"}
