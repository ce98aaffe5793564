"""One way to register the parts: models, datasets, attacks, training objectives and defenses.

Each part keeps a :class:`Registry` of named factories. The built-ins register themselves with
the registry's decorator, exactly as a user's plug-in module does (see :mod:`advtrojan.plugins`)::

    from advtrojan.defenses import register_defense

    @register_defense("my_defense", title="My defense")
    def my_defense(ctx): ...

A name registered twice by two different objects is an error that names both modules.
"""

from __future__ import annotations

import inspect
from typing import Callable, Generic, Iterator, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (``kind`` is used in error messages: "model", "defense", ...)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if not isinstance(name, str) or not name.strip() or "," in name:
            raise ConfigError(f"{self.kind} names must be non-empty strings without commas, got {name!r}")
        old = self._entries.get(name)
        if old is not None and old is not entry and _origin(old) != _origin(entry):
            raise ConfigError(f"{self.kind} {name!r} is registered twice ({_origin(old)} and {_origin(entry)})")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""
        return lambda entry: self.add(name, entry)

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r}: choose one of {', '.join(self._entries) or '(none)'}")
        return self._entries[name]

    def pop(self, name: str, default=None):
        """Unregister ``name`` (tests, or a plug-in replacing a built-in on purpose)."""
        return self._entries.pop(name, default)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def items(self):
        return tuple(self._entries.items())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"


def _origin(entry) -> str:
    """Where an entry was defined: ``module.qualname`` (re-importing a plug-in is not a clash)."""
    target = getattr(entry, "factory", entry)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', type(target).__name__)}"


def call_with(factory: Callable, **available):
    """Call ``factory`` with those of ``available`` that its signature accepts (all with ``**kwargs``)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return factory()
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return factory(**available)
    return factory(**{k: v for k, v in available.items() if k in params})
