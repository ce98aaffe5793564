"""``advtrojan evaluate``: the rows of Table 5 for a run."""

from __future__ import annotations

import argparse

from ..evaluation import evaluate_run, format_table
from ..utils.io import check_writable, write_json
from ..attacks.pgd import ATTACKS
from ..utils.distributed import is_main_process
from .common import add_budget, add_certification, add_runtime, finite_float, positive_int

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
    p.add_argument("--transfer-from", metavar="VANILLA_RUN",
                   help="craft transferred AdvTrojan examples on this (Vanilla) run's model")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--intensity", type=finite_float, help="trigger test intensity (default: the run's)")
    p.add_argument("--batch-size", type=positive_int, default=500, help="evaluation batch size (default: 500)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="precision of the attacks (default: fp32)")
    p.add_argument("--attacks", type=attack_list, default=("madry", "fgsm", "bim"),
                   help=f"attacks for the adversarial rows, comma-separated registered names (now: "
                        f"{', '.join(ATTACKS)}); Madry always runs (default: madry,fgsm,bim)")
    add_certification(p, skip=True)
    add_budget(p)
    add_runtime(p)
    p.set_defaults(func=run)


def attack_list(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected attack names separated by commas, got {text!r}")
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown attack {', '.join(unknown)}: choose from {', '.join(ATTACKS)}")
    return names


def run(args) -> int:
    check_writable(args.json, "--json")  # before the evaluation, not after it
    result = evaluate_run(args.run, transfer_from=args.transfer_from, eps=args.eps, step_size=args.step_size,
                          steps=args.steps, intensity=args.intensity, limit=args.limit, data_dir=args.data_dir,
                          device=args.device, precision=args.precision, batch_size=args.batch_size,
                          seed=args.seed, progress=not args.no_progress, certify=not args.no_certified,
                          radius=args.radius, sigma=args.sigma, noise_samples=args.noise_samples,
                          cert_method=args.cert_method,
                          cert_confidence=args.cert_confidence, methods=args.attacks, norm=args.norm)
    if not is_main_process():
        return 0
    d = result["details"]
    title = (f"{d['run']}: {d['objective']} {d['model']} on {d['dataset']}, {d['test_examples']} test images, "
             f"{d['norm']} eps={d['eps']:.4g} step={d['step_size']:.4g} steps={d['steps']}, "
             f"trigger intensity {d['intensity']}")
    print(format_table(result, d["dataset"], title, atim=d["objective"] == "advtrojan"))
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0
