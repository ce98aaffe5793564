"""Dataclasses to JSON and back, by their type hints: the codec of every results file.

:func:`to_json` turns a dataclass into JSON values, its tensors into entries of an array store
(``{"$array": key}``; the caller writes the store as safetensors beside the JSON); :func:`from_json`
rebuilds a dataclass from JSON and its arrays, and refuses a damaged or incomplete document with one
:class:`ResultsError` that names every missing or mistyped piece. A class may decode itself with a
classmethod ``_decode(value, reader, path)`` (a defense's result, whose data type its registry entry
names).
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import torch

from .errors import AdvTrojanError


class ResultsError(AdvTrojanError):
    """A results file that is damaged, of another schema, or missing what a reader needs."""


def to_json(obj, arrays: dict | None = None, path: str = ""):
    """``obj`` as JSON values. Tensors go to ``arrays`` (key: their path) and become
    ``{"$array": key}``; without ``arrays`` they become nested lists. Fields whose metadata says
    ``transient`` (figure paths of one machine) are left out."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json(getattr(obj, f.name), arrays, f"{path}.{f.name}" if path else f.name)
                for f in fields(obj) if not f.metadata.get("transient")}
    if isinstance(obj, torch.Tensor):
        if arrays is None:
            return obj.tolist()
        arrays[path] = obj.detach().cpu().contiguous()
        return {"$array": path}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): to_json(v, arrays, f"{path}.{k}" if path else str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v, arrays, f"{path}.{i}") for i, v in enumerate(obj)]
    if isinstance(obj, Path):
        return str(obj)
    return obj


class _Reader:
    """One reading of a file: its name (for errors), its arrays, and what it lacks."""

    def __init__(self, source: str, arrays: dict | None):
        self.source, self.arrays, self.missing, self.wrong = source, arrays, [], []

    def fail(self):
        problems = [f"missing {', '.join(self.missing[:8])}" + (f" and {len(self.missing) - 8} more"
                                                                  if len(self.missing) > 8 else "")] \
            if self.missing else []
        problems += self.wrong[:4]
        raise ResultsError(f"{self.source}: {'; '.join(problems)}")


def _optional(tp) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else Any), type(None) in typing.get_args(tp)
    return tp, False


def _read(tp, value, r: _Reader, path: str):
    tp, optional = _optional(tp)
    if value is None:
        if not optional and tp not in (Any, object):
            r.wrong.append(f"{path} is null")
        return None
    if tp is Any or tp is object:
        return value
    if isinstance(tp, str):  # an unresolved forward reference
        return value
    if is_dataclass(tp):
        if not isinstance(value, dict):
            r.wrong.append(f"{path} is not an object")
            return None
        decode = getattr(tp, "_decode", None)
        return decode(value, r, path) if decode else _read_fields(tp, value, r, path)
    if tp is torch.Tensor:
        if isinstance(value, dict) and "$array" in value:
            if r.arrays is None or value["$array"] not in r.arrays:
                r.missing.append(f"{path} (array {value['$array']!r} of the array file)")
                return None
            return r.arrays[value["$array"]]
        try:
            return torch.tensor(value)
        except (TypeError, ValueError):
            r.wrong.append(f"{path} is not an array")
            return None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is dict:
        if not isinstance(value, dict):
            r.wrong.append(f"{path} is not an object")
            return None
        inner = args[1] if len(args) == 2 else Any
        return {k: _read(inner, v, r, f"{path}.{k}") for k, v in value.items()}
    if origin in (list, tuple):
        if not isinstance(value, list):
            r.wrong.append(f"{path} is not a list")
            return None
        inner = args[0] if args else Any
        items = [_read(inner, v, r, f"{path}.{i}") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            r.wrong.append(f"{path} is not a number")
        return value
    if tp in (int, str, bool) and not isinstance(value, tp):
        r.wrong.append(f"{path} is not {'an' if tp is int else 'a'} {tp.__name__}")
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(value)
    return value


def _read_fields(cls, value: dict, r: _Reader, path: str):
    hints = typing.get_type_hints(cls)
    values = {}
    for f in fields(cls):
        if f.metadata.get("transient"):
            continue
        where = f"{path}.{f.name}" if path else f.name
        if f.name not in value:
            if f.default is not MISSING or f.default_factory is not MISSING:
                continue  # an optional field: its default
            r.missing.append(where)
            continue
        values[f.name] = _read(hints[f.name], value[f.name], r, where)
    if r.missing or r.wrong:
        return None
    return cls(**values)


def from_json(cls, data, source: str, arrays: dict | None = None):
    """A ``cls`` read from JSON ``data``; one error names every missing or damaged piece."""
    r = _Reader(source, arrays)
    out = _read(cls, data, r, "")
    if r.missing or r.wrong:
        r.fail()
    return out


