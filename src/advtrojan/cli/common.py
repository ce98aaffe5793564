"""Options shared by several subcommands: the runtime, plug-ins, a model's normalisation."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from ..runtime import Runtime
from ..settings import add_options, from_args


def add_runtime(p: argparse.ArgumentParser, skip=()) -> None:
    """The :class:`~advtrojan.runtime.Runtime` options (device, seed, data folder, progress bars),
    and the plug-in and debug options."""
    add_options(p, Runtime, title="runtime", skip=skip)
    add_plugin(p)


def runtime_from(args) -> Runtime:
    return from_args(Runtime, args, base=Runtime())


def add_normalize(p: argparse.ArgumentParser) -> None:
    from ..models.normalize import parse as parse_normalization

    def parse(text: str):
        try:
            return parse_normalization(text)
        except ConfigError as exc:  # argparse reports its own errors as one usage line
            raise argparse.ArgumentTypeError(str(exc)) from None
    p.add_argument("--normalize", type=parse, metavar="MEAN/STD",
                   help="the model's input normalisation, applied inside it so that triggers and perturbations "
                        "stay in pixel space [0, 1]: one value or one per channel, e.g. 0.5/0.25 or "
                        "0.4914,0.4822,0.4465/0.247,0.243,0.261 (default: none)")


def add_plugin(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true",
                   help="show the full traceback of an unexpected error (normally one line)")
    p.add_argument("--plugin", action="append", metavar="MODULE", default=[],
                   help="import MODULE (or a .py file) first: it may register models, datasets, attacks, "
                        "objectives and defenses (repeatable; installed packages' advtrojan.plugins entry "
                        "points are loaded always)")
