"""``advtrojan matrix``: BadNets, TrojanNN, TrojanNN*, IMC and the ATIM against every registered defense."""

from __future__ import annotations

import argparse

from .. import presets
from ..experiments.matrix import attack_matrix
from .common import add_stages_runtime

HELP = "train BadNets, TrojanNN, TrojanNN*, IMC and an ATIM, and run every defense on each"


def add_parser(sub) -> None:
    from ..experiments import matrix
    p = sub.add_parser("matrix", help=HELP, description=matrix.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="fmnist", metavar="NAME|npz:FILE|folder:DIR", help="(default: fmnist)")
    p.add_argument("--preset", default="quick", choices=list(presets.REPRODUCE), help="sizes (default: quick)")
    p.add_argument("--out", metavar="DIR", help="results folder (default: results/DATASET-PRESET-matrix)")
    p.add_argument("--defenses", help="comma-separated registered defenses (default: every registered one)")
    add_stages_runtime(p)
    p.set_defaults(func=run)


def run(args) -> int:
    defenses = None if args.defenses is None else tuple(d.strip() for d in args.defenses.split(","))
    attack_matrix(args.dataset, args.preset, args.out, defenses=defenses, data_dir=args.data_dir,
                  device=args.device, seed=args.seed, progress=not args.no_progress, force=args.force)
    return 0
