"""``advtrojan reproduce`` and ``advtrojan report``."""

from __future__ import annotations

import argparse
import dataclasses

from .. import presets
from .common import add_stages_runtime
from ..experiments.reproduce import reproduce
from ..report.build import build_report

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
    p.add_argument("--dataset", default="fmnist", metavar="NAME|npz:FILE|folder:DIR",
                   help="dataset (default: fmnist)")
    p.add_argument("--preset", default="quick", choices=list(presets.REPRODUCE), help="(default: quick)")
    p.add_argument("--out", metavar="DIR", help="results folder (default: results/DATASET-PRESET)")
    p.add_argument("--runs-dir", metavar="DIR",
                   help="where the vanilla/, madry/, atim/ and atim_scratch/ run folders live (default: "
                        "OUT/runs); matching finished runs there are reused")
    p.add_argument("--atim-start", choices=["madry", "scratch"],
                   help="the ATIM of Table 5, the defenses and Figures 7-9: fine-tuned from Madry-Adv "
                        "(Algorithm 1, line 2) or trained from random weights (line 1); both are trained "
                        "and shown (default: the preset's)")
    add_stages_runtime(p)
    p.set_defaults(func=run)
    r = sub.add_parser("report", help="rebuild figures, CSV tables and report.html from RESULTS/results.json",
                       description="Rebuild RESULTS_DIR/report.html, figures/ and tables/ from results.json alone.")
    r.add_argument("results", metavar="RESULTS_DIR")
    r.set_defaults(func=run_report)


def run(args) -> int:
    sizes = None
    if args.atim_start:
        sizes = dataclasses.replace(presets.REPRODUCE[args.preset], atim_start=args.atim_start)
    reproduce(args.dataset, args.preset, args.out, args.runs_dir, force=args.force, device=args.device,
              data_dir=args.data_dir, seed=args.seed, progress=not args.no_progress, sizes=sizes)
    return 0


def run_report(args) -> int:
    print(f"wrote {build_report(args.results)}")
    return 0
