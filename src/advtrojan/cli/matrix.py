"""``advtrojan matrix``: BadNets, TrojanNN, TrojanNN*, IMC and the ATIM against every registered defense."""

from __future__ import annotations

import argparse

from ..experiments.matrix import MatrixSettings, attack_matrix
from ..settings import add_options, from_args
from .common import add_runtime, runtime_from

HELP = "train BadNets, TrojanNN, TrojanNN*, IMC and an ATIM, and run every defense on each"


def add_parser(sub) -> None:
    from ..experiments import matrix
    p = sub.add_parser("matrix", help=HELP, description=matrix.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(p, MatrixSettings)
    add_runtime(p)
    p.set_defaults(func=run)


def run(args) -> int:
    attack_matrix(from_args(MatrixSettings, args), runtime_from(args))
    return 0
