"""Settings dataclasses are the single source of options (after improved-diffusion's
``add_dict_to_argparser`` / ``args_to_dict``, typed).

A setting is a dataclass field whose ``metadata`` is :func:`option`'s: its help text, and where the
command line needs them, its flag, its choices, how a string is parsed. :func:`add_options` turns a
settings class into command-line options (names, types, defaults and help from the fields) and
:func:`from_args` rebuilds the settings from the parsed arguments, so a new setting is one field:

    @dataclass(frozen=True)
    class NCSettings:
        epochs: int = field(default=20, metadata=option("Neural Cleanse epochs (the paper: 100)"))

    add_options(parser, NCSettings, prefix="nc-")       # --nc-epochs N  (default: 20)
    settings = from_args(NCSettings, args, prefix="nc-")

A field whose type is itself a settings class becomes its options under that class's prefix.
"""

from __future__ import annotations

import argparse
import math
import types
import typing
from dataclasses import MISSING, Field, fields, is_dataclass, replace
from typing import Any, Callable


def option(help: str, *, flag: str | None = None, choices=None, metavar: str | None = None,
           parse: Callable[[str], Any] | None = None, default_text: str | None = None, prefix: str | None = None,
           cli: bool = True) -> dict:
    """A field's metadata: its ``help``; its ``flag`` (default ``--PREFIX-NAME``); ``choices``; a
    ``parse`` function from the command-line string (default: from the field's type); the text of
    its default where the value says it poorly (``default_text``); the ``prefix`` of a nested
    settings class's options; ``cli=False`` keeps it off the command line."""
    return {"help": help, "flag": flag, "choices": choices, "metavar": metavar, "parse": parse,
            "default_text": default_text, "prefix": prefix, "cli": cli}


# parsers of command-line strings: one line of error that names the option (argparse adds the name)
def finite_float(text: str) -> float:
    """A number, never NaN or infinite (argparse's ``float`` takes both)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    value = integer(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def names(text: str) -> tuple[str, ...]:
    """A comma-separated list of names."""
    items = tuple(n.strip() for n in text.split(","))
    if not all(items):
        raise argparse.ArgumentTypeError(f"expected names separated by commas, got {text!r}")
    return items


def numbers(text: str) -> tuple[float, ...]:
    """A comma-separated list of finite numbers."""
    return tuple(finite_float(t) for t in names(text))


def _base(tp):
    """The type inside ``X | None`` / ``Optional[X]``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _parser(tp, meta) -> Callable[[str], Any] | None:
    if meta.get("parse"):
        return meta["parse"]
    tp = _base(tp)
    if tp is int:
        return integer
    if tp is float:
        return finite_float
    if typing.get_origin(tp) is tuple:
        inner = typing.get_args(tp)[0] if typing.get_args(tp) else str
        return numbers if inner in (float, int) else names
    return None  # str


def default_of(f: Field):
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _text(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def dest(prefix: str, name: str) -> str:
    return (prefix + name).replace("-", "_")


def settings_fields(cls):
    """(field, its type, its metadata) for every command-line field of settings class ``cls``."""
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.metadata and f.metadata.get("cli", True):
            yield f, hints[f.name], f.metadata


def add_options(parser, cls, *, prefix: str = "", title: str | None = None, defaults: bool = True,
                default_text: str | None = None, skip=(), base=None) -> None:
    """Add one option per field of settings class ``cls`` to ``parser`` (in a group ``title``).

    ``defaults=False`` gives every option the default None ("not given": the caller fills it in
    from a run or a preset), with ``default_text`` saying where the value comes from instead.
    ``base``: an instance whose values are the defaults shown (a preset's)."""
    target = parser.add_argument_group(title) if title else parser
    for f, tp, meta in settings_fields(cls):
        if f.name in skip:
            continue
        nested = _base(tp)
        if is_dataclass(nested):
            add_options(target, nested, prefix=prefix + (meta.get("prefix") or ""), defaults=defaults,
                        default_text=meta.get("default_text") or default_text,
                        base=getattr(base, f.name) if base is not None else None)
            continue
        value = getattr(base, f.name) if base is not None else default_of(f)
        flags = meta.get("flag") or "--" + (prefix + f.name).replace("_", "-")
        flags = [flags] if isinstance(flags, str) else list(flags)
        shown = meta.get("default_text") or default_text or _text(value)
        kwargs: dict = {"dest": dest(prefix, f.name), "help": meta["help"] + (f" (default: {shown})" if shown else "")}
        if _base(tp) is bool:
            kwargs.update(action=argparse.BooleanOptionalAction, default=value if defaults else None)
        else:
            kwargs.update(default=value if defaults else None, metavar=meta.get("metavar"))
            parse = _parser(tp, meta)
            if parse is not None:
                kwargs["type"] = parse
            if meta.get("choices") is not None:
                kwargs["choices"] = list(meta["choices"])
        target.add_argument(*flags, **kwargs)


def from_args(cls, args: argparse.Namespace, *, prefix: str = "", base=None):
    """``cls`` rebuilt from the parsed ``args`` (see :func:`add_options`). With ``base``, options
    left at None keep ``base``'s values (the defaults=False form)."""
    values = {}
    for f, tp, meta in settings_fields(cls):
        nested = _base(tp)
        if is_dataclass(nested):
            values[f.name] = from_args(nested, args, prefix=prefix + (meta.get("prefix") or ""),
                                       base=getattr(base, f.name) if base is not None else None)
            continue
        name = dest(prefix, f.name)
        if not hasattr(args, name):
            continue
        value = getattr(args, name)
        if value is None and base is not None:
            continue
        values[f.name] = value
    return replace(base, **values) if base is not None else cls(**values)


def given(cls, args: argparse.Namespace, *, prefix: str = "") -> dict:
    """The fields of ``cls`` given on the command line (not None): an override in part."""
    out = {}
    for f, tp, meta in settings_fields(cls):
        value = getattr(args, dest(prefix, f.name), None)
        if value is not None and not is_dataclass(_base(tp)):
            out[f.name] = value
    return out
