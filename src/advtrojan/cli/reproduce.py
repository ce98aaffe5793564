"""``advtrojan reproduce`` and ``advtrojan report``."""

from __future__ import annotations

import argparse

from ..experiments.reproduce import ReproduceSettings, reproduce
from ..report.build import build_report
from ..settings import add_options, from_args
from .common import add_runtime, runtime_from

HELP = "train, evaluate and scan Vanilla, Madry-Adv and the ATIMs; write results.json and report.html"
DESCRIPTION = """\
Reproduce the paper's experiments for one dataset in one command: train (or reuse) Vanilla,
Madry-Adv and the ATIM both ways of Algorithm 1 (fine-tuned from Madry-Adv, and from random
weights), evaluate them (Figure 4, Table 5 with certified and transferred accuracy), run Neural
Cleanse, STRIP, E-STRIP and adaptive Neural Cleanse as their authors' code does (Tables 2-4,
Figure 5), certification across noise levels (Eq. 10), the Appendix G sweeps (Figures 7-9) and
the Appendix D feature analysis (Figure 6). docs/protocol.md says how each is produced.

Writes RESULTS/results.json (schema: docs/results-schema.md), CSV tables, PNG and SVG figures,
and RESULTS/report.html: a self-contained page with ours beside the paper's numbers.

Stages are resumable: an interrupted run picks up where it stopped and does not redo finished
stages or runs; --force redoes them.

Presets:
  quick   a 10k training subset, few epochs, smaller defense runs: minutes on a laptop CPU
  paper   the paper's protocol on the full data (Neural Cleanse 100 epochs on the test set)
"""
EPILOG = """\
examples:
  advtrojan reproduce --dataset fmnist --preset quick
  advtrojan reproduce --dataset fmnist --preset paper
  advtrojan reproduce --dataset cifar10 --preset paper --device cuda
  advtrojan reproduce --dataset fmnist --preset paper --runs-dir runs/fmnist   # reuse trained runs
  advtrojan report results/fmnist-quick                                        # rebuild the report
"""


def add_parser(sub) -> None:
    p = sub.add_parser("reproduce", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(p, ReproduceSettings)
    add_runtime(p)
    p.set_defaults(func=run)
    r = sub.add_parser("report", help="rebuild figures, CSV tables and report.html from RESULTS/results.json",
                       description="Rebuild RESULTS_DIR/report.html, figures/ and tables/ from results.json alone.")
    r.add_argument("results", metavar="RESULTS_DIR")
    r.set_defaults(func=run_report)


def run(args) -> int:
    reproduce(from_args(ReproduceSettings, args), runtime_from(args))
    return 0


def run_report(args) -> int:
    print(f"wrote {build_report(args.results)}")
    return 0
