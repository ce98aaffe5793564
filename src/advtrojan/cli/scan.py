"""``advtrojan scan``: run the defenses the paper evaluates on a run or a weights file."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..defenses.api import scan
from ..defenses.registry import settings_classes
from ..defenses.scan import ScanSettings
from ..results import ScanResult, write_result
from ..settings import add_options, from_args
from ..utils.io import check_writable
from .common import add_normalize, add_runtime, runtime_from

HELP = "run Neural Cleanse, STRIP, E-STRIP, adaptive Neural Cleanse and certification on a model"
DESCRIPTION = """\
Scan a model you did not train with the defenses the AdvTrojan paper evaluates:

  neural_cleanse           reverse-engineered trigger per class, anomaly index by MAD, flagged if > 2
                           on the small side; FNR on attacked inputs (Table 2)
  strip                    entropy of 100 blends with reserved clean inputs; FNR at FPR 10/5/2%, AUC (Table 3)
  e_strip                  STRIP with the Neural-Cleanse trigger stamped on the reserved inputs (Table 4)
  adaptive_neural_cleanse  Eq. 11: triggers that let Madry PGD reach each class (Figure 5)
  certified                Gaussian-noise certification, Li et al.'s Renyi bound, Eq. 10 at L2 radius B

Attacked inputs are AdvTrojan examples (trigger, then Madry PGD) by default, triggered inputs
for a BadNets run. Figures (PNG and SVG) go to --figures-dir (default RUN/scan).
"""
EPILOG = """\
examples:
  advtrojan scan runs/fmnist/atim --json scan.json
  advtrojan scan runs/fmnist/atim --defenses neural_cleanse,strip --nc-epochs 100
  advtrojan scan downloaded.safetensors --model lenet --dataset fmnist --json scan.json
"""


def add_parser(sub) -> None:
    p = sub.add_parser("scan", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="RUN_OR_FILE", help="a finished run folder, or a .safetensors file")
    p.add_argument("--arch", "--model", dest="model", metavar="NAME|MODULE:FACTORY",
                   help="architecture, for a .safetensors file: lenet, resnet, preact_resnet18, vgg16, or your "
                        "own factory as MODULE:FACTORY")
    add_normalize(p)
    p.add_argument("--dataset", metavar="NAME|npz:FILE|folder:DIR",
                   help="dataset, for a .safetensors file: a registered name, npz:FILE or folder:DIR")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--figures-dir", metavar="DIR", help="where figures go (default: RUN/scan or FILE.scan)")
    add_options(p, ScanSettings, title="scan")
    for cls in settings_classes():  # each registered defense's own settings, a plug-in's too
        add_options(p, cls, prefix=f"{cls.key}-", title=f"{cls.__doc__.strip().splitlines()[0]}")
    add_runtime(p)
    p.set_defaults(func=run)


def settings_from(args) -> ScanSettings:
    """The scan's settings, each registered defense's own among them, from the parsed options."""
    settings = from_args(ScanSettings, args)
    return settings.with_options(*(from_args(cls, args, prefix=f"{cls.key}-") for cls in settings_classes()))


def verdict_table(res: ScanResult) -> str:
    """One line per defense: its title, verdict and details (each defense writes its own)."""
    lines = [f"{'defense':<26}{'verdict':<44}details", "-" * 96]
    for name, r in res.defenses.items():
        lines.append(f"{r.title or name:<26}{r.verdict:<44}{r.details}")
    return "\n".join(lines)


def run(args) -> int:
    check_writable(args.json, "--json")  # before the defenses run, not after them
    check_writable(args.figures_dir, "--figures-dir", folder=True)
    res = scan(args.target, args.dataset, settings_from(args), runtime_from(args), arch=args.model,
               normalization=args.normalize, figures_dir=args.figures_dir)
    print(verdict_table(res))
    p = res.perturbation
    crafted = p.budget if p else res.budget
    towards = f" towards class {p.target}" if p else ""
    print(f"attacked inputs: {res.attacked} at trigger intensity {res.intensity}, {p.method if p else res.method} "
          f"{crafted.describe()}{towards}"
          + (f"; defenses' budget {res.budget.describe()}" if p else ""))
    if args.json:  # its arrays (entropies, masks) beside it, in FILE's name with .arrays.safetensors
        write_result(Path(args.json), res)
        print(f"wrote {args.json}")
    return 0
