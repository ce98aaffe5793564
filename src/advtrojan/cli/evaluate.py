"""``advtrojan evaluate``: the rows of Table 5 for a run."""

from __future__ import annotations

import argparse

from ..evaluation import EvalSettings, evaluate_run, format_table
from ..results import to_json
from ..settings import add_options, from_args
from ..utils.distributed import is_main_process
from ..utils.io import check_writable, write_json
from .common import add_runtime, runtime_from

HELP = "accuracy on benign, Madry, trigger-only and AdvTrojan examples (Table 5)"
DESCRIPTION = """\
Evaluate a finished run on the test set and print the rows of Table 5, beside the paper's
numbers for the ATIM:

  benign                      clean inputs
  madry                       Madry PGD examples A(x)
  trigger                     the trigger alone x+t (paper's test intensity: 0.75 MNIST/FMNIST)
  advtrojan                   AdvTrojan examples A(x+t): the trigger first, then Madry PGD
  fgsm, bim                   FGSM and BIM examples
  advtrojan_fgsm/_bim         the trigger, then FGSM / BIM
  transferred_advtrojan       (--transfer-from) PGD crafted on a separate Vanilla model (App. G.1)
  advtrojan_certified         Eq. 10 on the AdvTrojan examples: Gaussian noise (100 samples), Li et
                              al.'s Renyi bound, accuracy over inputs certified at L2 radius B = 0.4
  attack_success_rate         (poisoning runs) non-target inputs that the attacker's inputs send to
                              the target: the trigger alone (BadNets, TrojanNN, IMC, at the training
                              intensity), the trigger then a small perturbation towards the target
                              (TrojanNN*)
  trigger_/perturbation_success_rate  (TrojanNN*) the same for the trigger alone / perturbation alone

Attacks run in fp32 by default so the final numbers do not depend on low precision.
"""
EPILOG = """\
example:
  advtrojan evaluate runs/fmnist/atim --transfer-from runs/fmnist/vanilla --json atim.json
"""


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN", help="a finished run folder")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    add_options(p, EvalSettings, title="evaluation")
    add_runtime(p)
    p.set_defaults(func=run)


def run(args) -> int:
    check_writable(args.json, "--json")  # before the evaluation, not after it
    result = evaluate_run(args.run, from_args(EvalSettings, args), runtime_from(args))
    if not is_main_process():
        return 0
    d = result.details
    title = (f"{d['run']}: {d['objective']} {d['model']} on {d['dataset']}, {result.examples} test images, "
             f"{result.budget.describe()}, trigger intensity {result.intensity}")
    print(format_table(result, d["dataset"], title, atim=d["objective"] == "advtrojan"))
    if args.json:
        write_json(args.json, to_json(result))
        print(f"wrote {args.json}")
    return 0
