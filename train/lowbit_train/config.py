"""Configuration loading for the training stage: a dataclass's defaults, then a JSON file, then overrides.

    cfg = load_config(TrainConfig, "configs/w2.json", ["--lr=1e-4", "batch_size=8", "--bits=2,4"])

Values are converted by the dataclass field's type: int, float, bool (true/false/yes/no/on/off/1/0),
str, Literal[...], Optional[T] (none/null → None), list/tuple of those (a JSON list, or comma-separated). A key the
dataclass does not have, in the file or in an override, is an error that lists the valid keys: a typo
in an override must not silently train the wrong model. This file knows nothing about what the keys mean;
the config dataclasses live beside the code that uses them (nanoGPT's pattern, with an error on unknown keys).
"""

import dataclasses
import json
import typing
from typing import Any, Iterable, Optional, Type, TypeVar

T = TypeVar("T")

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_NONE = {"none", "null"}


def load_config(cls: Type[T], path: Optional[str] = None, overrides: Iterable[str] = ()) -> T:
    """cls's defaults, updated by the JSON object in `path` (if given), then by `--key=value` / `key=value`
    overrides (dashes in a key read as underscores). Raises ValueError naming any bad key or value."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"load_config needs a dataclass type, got {cls!r}")
    types = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    values: dict = {}
    if path is not None:
        with open(path, encoding="utf-8") as f:
            try:
                raw = json.load(f)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: not valid JSON: {err}") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a JSON object of config keys, found {type(raw).__name__}")
        for key, value in raw.items():
            _check_key(cls, key, names, path)
            values[key] = _convert(value, types[key], key, path)
    for item in overrides:
        body = item[2:] if item.startswith("--") else item
        if "=" not in body:
            raise ValueError(f"override {item!r}: expected --key=value or key=value")
        key, text = body.split("=", 1)
        key = key.replace("-", "_")
        _check_key(cls, key, names, "override")
        values[key] = _convert(text, types[key], key, "override")
    return cls(**values)


def _check_key(cls, key: str, names: list, where: str) -> None:
    if key not in names:
        raise ValueError(f"unknown config key {key!r} ({where}) for {cls.__name__}; valid keys: {', '.join(names)}")


def _convert(value: Any, tp: Any, key: str, where: str) -> Any:
    """value (a string from an override, or a JSON value from a file) as type tp."""
    try:
        return _as_type(value, tp)
    except (ValueError, TypeError) as err:
        raise ValueError(f"config key {key!r} ({where}): {err}") from None


def _as_type(value: Any, tp: Any) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin is typing.Literal:
        for allowed in args:
            try:
                if _as_type(value, type(allowed)) == allowed:
                    return allowed
            except (ValueError, TypeError):
                pass
        raise ValueError(f"expected one of {', '.join(map(repr, args))}, found {value!r}")
    if origin is typing.Union:  # Optional[T] is Union[T, None]
        if value is None or (isinstance(value, str) and value.strip().lower() in _NONE and type(None) in args):
            if type(None) not in args:
                raise ValueError(f"None is not allowed for {tp}")
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _as_type(value, arg)
            except (ValueError, TypeError) as err:
                errors.append(str(err))
        raise ValueError("; ".join(errors))
    if origin in (list, tuple):
        items = value
        if isinstance(value, str):
            text = value.strip()
            items = json.loads(text) if text.startswith("[") else ([] if text == "" else [s.strip() for s in text.split(",")])
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"expected a list, found {value!r}")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(items) != len(args):
                raise ValueError(f"expected {len(args)} items, found {len(items)}: {value!r}")
            return tuple(_as_type(v, a) for v, a in zip(items, args))
        item_type = args[0] if args else Any
        converted = [_as_type(v, item_type) for v in items]
        return tuple(converted) if origin is tuple else converted
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(f"expected a boolean (true/false/1/0), found {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ValueError(f"expected an integer, found {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            try:
                return int(text)
            except ValueError:
                number = float(text)  # "1e6" is a fine way to write a step count
                if number.is_integer():
                    return int(number)
        raise ValueError(f"expected an integer, found {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, found {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())
        raise ValueError(f"expected a number, found {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"expected a string, found {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise TypeError(f"cannot convert {value!r} to {tp}")
