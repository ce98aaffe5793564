"""The defense registry: what a defense receives, what it returns, and how it is registered.

A defense is a function ``(ctx: DefenseContext) -> DefenseResult``, registered by name::

    from advtrojan.defenses import DefenseResult, register_defense

    @register_defense("max_softmax", title="Max-softmax detector")
    def max_softmax(ctx):
        ...
        return DefenseResult(verdict="flags 93% of attacked inputs", detected=True, data={"fnr": 0.07})

``advtrojan scan`` (and :func:`advtrojan.scan`, ``reproduce`` and the report) run every defense
the user names from this registry; the built-ins (Neural Cleanse, STRIP, E-STRIP, adaptive
Neural Cleanse, certification) are registered the same way, each in its own module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..attacks.threats import Threat
from ..attacks.trigger import Trigger
from ..data import ImageData
from ..errors import ConfigError
from ..registry import Registry
from ..results import DefenseResult


@dataclass
class DefenseContext:
    """Everything a defense may use, prepared once per scan and shared by every defense.

    The test set is split once, deterministically: ``reserved`` clean inputs (STRIP's N blends,
    never evaluated), a ``pool`` of clean evaluation inputs ``x, y`` with their ``attacked``
    versions (AdvTrojan examples A(x + t), or triggered inputs x + t for a BadNets model), and
    ``nc_data`` (benign inputs for defenses that reverse-engineer triggers).
    """

    model: nn.Module
    data: ImageData
    reserved: ImageData
    pool: ImageData
    nc_data: ImageData
    x: torch.Tensor
    y: torch.Tensor
    attacked: torch.Tensor
    attacked_kind: Threat
    trigger: Trigger
    attack: object            # the defenses' attack: Madry PGD at the scan's budget (adaptive Neural Cleanse)
    intensity: float
    settings: object          # the ScanSettings of this scan
    device: torch.device | str = "cpu"
    progress: bool = True
    seed: int = 0
    out_dir: Path | None = None
    cache: dict = field(default_factory=dict)

    @property
    def attacked_label(self) -> str:
        return self.attacked_kind.label

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.data.spec.classes

    def figure_path(self, name: str) -> Path | None:
        """Where figure ``name`` goes (None: figures are not wanted)."""
        return None if self.out_dir is None else self.out_dir / name

    def options(self, cls):
        """This scan's settings of class ``cls`` (a defense's own, as it registered them)."""
        return self.settings.options_for(cls)

    def shared(self, key: str, compute: Callable):
        """``compute()`` once per scan (e.g. Neural Cleanse, which E-STRIP reuses)."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


@dataclass(frozen=True)
class Defense:
    name: str
    title: str
    run: Callable[[DefenseContext], DefenseResult]
    description: str = ""
    template: str | None = None  # a Jinja2 template of its report section (``r``: its JSON); None: generic
    settings: type | None = None  # its settings class (a frozen dataclass with a ``key``); None: none
    result: type | None = None    # the type of its result's ``data``; None: a JSON-able dict

    @property
    def factory(self):  # where it was defined, for the registry's clash check
        return self.run


DEFENSES: Registry = Registry("defense")


def register_defense(name: str, *, title: str | None = None, description: str = "", template: str | None = None,
                     settings: type | None = None, result: type | None = None) -> Callable:
    """Decorator: register ``fn(ctx) -> DefenseResult`` as defense ``name``.

    ``settings``: its settings class, a dataclass whose fields carry :func:`advtrojan.settings.option`
    metadata and whose class attribute ``key`` names its options (``--KEY-FIELD`` on the command line,
    ``ScanSettings.options[KEY]``); defenses may share one (E-STRIP uses STRIP's). ``result``: the
    dataclass of its result's ``data``, rebuilt from results files. ``template`` (Jinja2, given ``r``,
    the result's JSON) is its section of the reproduce report."""
    if settings is not None and not isinstance(getattr(settings, "key", None), str):
        raise ConfigError(f"defense {name!r}: its settings class {settings.__name__} needs a class attribute `key` "
                          f"(the prefix of its options)")

    def add(fn):
        DEFENSES.add(name, Defense(name, title or name, fn, description or (fn.__doc__ or "").strip().split("\n")[0],
                                   template, settings, result))
        return fn
    return add


def settings_classes() -> list[type]:
    """The settings classes of the registered defenses, each once, in registration order."""
    out: list[type] = []
    for _, d in DEFENSES.items():
        if d.settings is not None and d.settings not in out:
            out.append(d.settings)
    return out


def run_defense(name: str, ctx: DefenseContext) -> DefenseResult:
    """Run registered defense ``name`` on ``ctx``; its result is checked and named."""
    defense = DEFENSES.get(name)
    result = defense.run(ctx)
    if not isinstance(result, DefenseResult):
        raise ConfigError(f"defense {name!r} returned {type(result).__name__}, not a DefenseResult")
    if defense.result is not None and result.skipped is None and not isinstance(result.data, defense.result):
        raise ConfigError(f"defense {name!r} returned data of type {type(result.data).__name__}, not the "
                          f"{defense.result.__name__} it registered")
    result.name, result.title = name, result.title or defense.title
    return result
