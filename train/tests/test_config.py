"""load_config: defaults < JSON file < overrides, conversion by field type, errors on unknown keys."""

import json
from dataclasses import dataclass, field
from typing import List, Literal, Optional, Tuple

import pytest

from lowbit_train.config import load_config


@dataclass
class Example:
    steps: int = 100  # an int
    lr: float = 3e-4  # a float
    compile: bool = False  # a bool
    out_dir: str = "out"  # a str
    max_tokens: Optional[int] = None  # Optional
    bits: List[int] = field(default_factory=lambda: [2, 4])  # a list
    names: Tuple[str, ...] = ("a",)  # a variable-length tuple
    pair: Tuple[int, float] = (1, 2.0)  # a fixed tuple
    method: Literal["quantgpt", "pact"] = "quantgpt"  # a Literal


def write(tmp_path, obj) -> str:
    p = tmp_path / "cfg.json"
    p.write_text(json.dumps(obj))
    return str(p)


def test_defaults():
    assert load_config(Example) == Example()


def test_file_then_overrides(tmp_path):
    path = write(tmp_path, {"steps": 5, "lr": 1, "out_dir": "x", "bits": [8], "max_tokens": 7})
    cfg = load_config(Example, path, ["--steps=9", "compile=true", "--out-dir=y"])
    assert cfg.steps == 9 and cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.compile is True and cfg.out_dir == "y" and cfg.bits == [8] and cfg.max_tokens == 7


@pytest.mark.parametrize("text,value", [("true", True), ("False", False), ("1", True), ("0", False), ("yes", True), ("off", False)])
def test_bools(text, value):
    assert load_config(Example, None, [f"--compile={text}"]).compile is value


def test_conversions():
    cfg = load_config(Example, None, [
        "--max_tokens=none", "--bits=[2, 8]", "--names=x, y,z", "--pair=3,0.5", "--lr=1e-3", "--steps=1e3", "--method=pact",
    ])
    assert cfg.max_tokens is None and cfg.bits == [2, 8] and cfg.names == ("x", "y", "z")
    assert cfg.pair == (3, 0.5) and cfg.lr == 1e-3 and cfg.steps == 1000 and cfg.method == "pact"
    assert load_config(Example, None, ["--bits=4"]).bits == [4]
    assert load_config(Example, None, ["--bits="]).bits == []
    assert load_config(Example, None, ["--max_tokens=12"]).max_tokens == 12
    assert load_config(Example, None, ["--out_dir=a=b"]).out_dir == "a=b"  # only the first '=' splits


def test_unknown_key_in_override_lists_valid_keys():
    with pytest.raises(ValueError) as err:
        load_config(Example, None, ["--stpes=3"])
    msg = str(err.value)
    assert "'stpes'" in msg and "steps" in msg and "out_dir" in msg and "method" in msg


def test_unknown_key_in_file(tmp_path):
    with pytest.raises(ValueError, match="'learning_rate'.*valid keys: steps, lr"):
        load_config(Example, write(tmp_path, {"learning_rate": 1}))


@pytest.mark.parametrize("override", ["--steps=abc", "--steps=1.5", "--compile=maybe", "--method=lsq", "--pair=1", "--steps"])
def test_bad_values(override):
    with pytest.raises(ValueError):
        load_config(Example, None, [override])


def test_bad_file_values(tmp_path):
    with pytest.raises(ValueError, match="'steps'"):
        load_config(Example, write(tmp_path, {"steps": True}))
    with pytest.raises(ValueError, match="'out_dir'"):
        load_config(Example, write(tmp_path, {"out_dir": 3}))
    with pytest.raises(ValueError, match="JSON object"):
        load_config(Example, write(tmp_path, [1, 2]))
