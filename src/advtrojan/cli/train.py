"""``advtrojan train``: Vanilla, Madry-Adv, BadNets or AdvTrojan into a run folder."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from .. import presets
from ..attacks.budget import Budget
from ..data import DATASETS
from ..errors import ConfigError
from ..settings import add_options, given
from ..training import OBJECTIVES, fit, make_config
from ..training.attack import TrainingAttack
from ..training.config import RunConfig
from ..training.evil_twins import EVIL_TWINS, EvilTwinsSettings
from ..utils.distributed import is_main_process
from .common import add_normalize, add_runtime

HELP = "train a model with one of the four objectives into a run folder"
DESCRIPTION = """\
Train a model into a run folder (weights as safetensors, config.json, metrics.jsonl).

Objectives (the paper's names):
  vanilla     cross-entropy on benign inputs
  madry       Madry-Adv adversarial training, Eq. 4: w*CE(x) + mu*CE(A(x)); the presets train on
              adversarial examples alone, as Madry et al. (w = 0, --benign-weight)
  badnets     BadNets Trojan, Eq. 5: CE(x) + CE(x+t, target) on a poison share of each batch
  advtrojan   AdvTrojan, Eq. 9: CE(x) + CE(A(x)) + CE(x+t) + RCE(A(x+t)); the result is an ATIM.
              With --init RUN it fine-tunes a trained model (Algorithm 1, line 2).
  trojannn       TrojanNN (Liu et al.): retrains --init RUN with Eq. 5 and a trigger generated to
                 drive its most connected neurons (Evil Twins baselines, Pang et al.)
  trojannn-star  TrojanNN*: TrojanNN whose triggered inputs are perturbed towards the target at
                 attack time (--perturbation-eps), so a smaller trigger suffices; its trigger is
                 re-optimised as a targeted universal perturbation between poisoning epochs
  imc            IMC: from --init RUN, the trigger (TrojanNN's to start) and the model optimised
                 in turn, an input step before every poisoning epoch

Every setting of a run is an option below, generated from the run's configuration (config.json):
values that depend on the dataset and the objective (optimiser, learning rate, epochs, batch size,
budget) come from one table, advtrojan/presets.py, unless an option gives them. A checkpoint is written every epoch;
--resume continues an interrupted run. A finished run is never overwritten without --force.
"""
EPILOG = """\
examples:
  advtrojan train --dataset fmnist --objective vanilla   --out runs/fmnist/vanilla
  advtrojan train --dataset fmnist --objective madry     --out runs/fmnist/madry
  advtrojan train --dataset fmnist --objective advtrojan --init runs/fmnist/madry --out runs/fmnist/atim
  advtrojan train --dataset fmnist --objective badnets --target 0 --poison-rate 0.1 --out runs/fmnist/badnets
  advtrojan train --dataset fmnist --objective madry --preset quick --out runs/quick/madry
  advtrojan train --dataset fmnist --objective imc --init runs/fmnist/vanilla --epochs 3 --out runs/fmnist/imc
"""


def add_parser(sub) -> None:
    p = sub.add_parser("train", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, metavar="NAME|npz:FILE|folder:DIR",
                   help=f"dataset: {', '.join(DATASETS)}, a plug-in's, npz:FILE (x_train, y_train, x_test, y_test) "
                        f"or folder:DIR[?size=32&channels=3] (one sub-folder per class)")
    p.add_argument("--objective", required=True, choices=list(OBJECTIVES),
                   help="training objective (see above; plug-ins may register more)")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder to create")
    p.add_argument("--init", metavar="RUN", help="start from this finished run (or .safetensors file)")
    p.add_argument("--preset", default="default", choices=presets.PRESETS,
                   help="default: the full protocol (Table 1's PGD-20 while training); fast: the same with PGD-5 "
                        "(α = ε/2) while training, about 3x cheaper (docs/protocol.md); quick: a 10k subset and "
                        "few epochs (default: default)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--force", action="store_true", help="start over even if --out holds a run")
    add_normalize(p)
    # every setting of a run: RunConfig's fields; not given, the preset's value (or the field's default)
    add_options(p, RunConfig, title="settings of the run (config.json)", defaults=False)
    add_options(p, EvilTwinsSettings, title="Evil Twins: TrojanNN, TrojanNN*, IMC (defaults: TrojanZoo's, the "
                                            "authors' code)", defaults=False)
    add_runtime(p, skip=("seed",))  # the run's seed is a setting of the run
    p.set_defaults(func=run)


def evil_twins(args) -> dict | None:
    """The Evil Twins settings of a TrojanNN / TrojanNN* / IMC run (all of them, defaults filled in)."""
    values = given(EvilTwinsSettings, args)
    star_only = [k for k in ("perturbation_eps", "perturbation_steps") if k in values]
    if star_only and args.objective != "trojannn-star":
        raise ConfigError(f"--{star_only[0].replace('_', '-')} applies to trojannn-star only (the attack-time "
                          f"perturbation of its triggered inputs)")
    if args.objective not in EVIL_TWINS:
        if values:
            flag = "--trigger-opacity" if next(iter(values)) == "opacity" else f"--{next(iter(values)).replace('_', '-')}"
            raise ConfigError(f"{flag} applies to {', '.join(EVIL_TWINS)} only")
        return None
    return asdict(EvilTwinsSettings(**values).validate())


def config_from(args) -> RunConfig:
    """The run's config: the presets of --dataset x --objective, with every option given applied."""
    return make_config(args.dataset, args.objective, preset=args.preset, init=args.init,
                       **given(RunConfig, args), **given(Budget, args), evil_twins=evil_twins(args),
                       train_attack=given(TrainingAttack, args, prefix="train-attack-"),
                       normalization=args.normalize)


def run(args) -> int:
    config = config_from(args)
    run_ = fit(config, args.out, device=args.device, data_dir=args.data_dir, resume=args.resume,
               force=args.force, progress=args.progress)
    if not is_main_process():
        return 0
    last = run_.metrics()[-1] if run_.metrics() else {}
    print(f"finished: {run_.path} ({config.objective}, {config.epochs} epochs"
          + (f", test accuracy {last['test_benign']:.2%}" if "test_benign" in last else "") + ")")
    return 0
