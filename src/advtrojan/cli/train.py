"""``advtrojan train``: Vanilla, Madry-Adv, BadNets or AdvTrojan into a run folder."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from .. import presets
from ..attacks.trigger import DEFAULT_MARGIN
from ..data import DATASETS
from ..errors import ConfigError
from ..models import MODELS
from ..training import OBJECTIVES, fit, make_config
from ..training.evil_twins import EVIL_TWINS, EvilTwinsSettings
from ..utils.distributed import is_main_process
from .common import add_budget, add_normalize, add_runtime, finite_float, non_negative_float, positive_int

ET = EvilTwinsSettings()

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

Every preset value (optimiser, learning rate, epochs, batch size, budget) comes from one table,
advtrojan/presets.py, and can be overridden by an option. A checkpoint is written every epoch;
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
    p.add_argument("--arch", "--model", dest="model", metavar="NAME|MODULE:FACTORY",
                   help=f"architecture: one of {', '.join(sorted(MODELS))}, or your own factory as "
                        f"MODULE:FACTORY (given in_channels, num_classes, image_size where it accepts them; "
                        f"it must map images in [0, 1] to logits) (default: Table 6's, LeNet for MNIST/FMNIST "
                        f"and ResNet for CIFAR-10 and GTSRB)")
    add_normalize(p)
    p.add_argument("--init", metavar="RUN", help="start from this finished run (or .safetensors file)")
    p.add_argument("--preset", default="default", choices=presets.PRESETS,
                   help="default: the full protocol; quick: a 10k subset and few epochs (default: default)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--force", action="store_true", help="start over even if --out holds a run")
    g = p.add_argument_group("optimisation (defaults from the preset)")
    g.add_argument("--epochs", type=positive_int)
    g.add_argument("--batch-size", type=positive_int)
    g.add_argument("--lr", type=finite_float)
    g.add_argument("--optimizer", choices=["adam", "sgd"])
    g.add_argument("--warmup", type=non_negative_float, metavar="SHARE",
                   help=f"share of the training steps over which the training attack's eps and step size ramp "
                        f"up linearly from 0 (default: {presets.WARMUP:.3g} for objectives that craft while they "
                        f"train from random weights, else 0)")
    g.add_argument("--precision", default=presets.PRECISION, choices=["bf16", "fp32"],
                   help=f"bf16 autocast for crafting and training (about 2x faster on CPUs with AMX and on "
                        f"GPUs) or fp32 (default: {presets.PRECISION})")
    g = p.add_argument_group("objective")
    g.add_argument("--target", type=int, default=presets.BADNETS_TARGET,
                   help=f"BadNets target label y_t (default: {presets.BADNETS_TARGET})")
    g.add_argument("--poison-rate", type=finite_float, default=presets.POISON_RATE,
                   help=f"BadNets poisoned share of each batch (default: {presets.POISON_RATE})")
    g.add_argument("--mu", type=non_negative_float, default=presets.MU,
                   help=f"Madry-Adv weight of the adversarial term (default: {presets.MU:g})")
    g.add_argument("--benign-weight", type=non_negative_float,
                   help="Madry-Adv weight w of the benign term of Eq. 4 (default: the preset's)")
    g = p.add_argument_group("Evil Twins: TrojanNN, TrojanNN*, IMC (defaults: TrojanZoo's, the authors' code)")
    g.add_argument("--neurons", type=positive_int, help=f"TrojanNN: neurons of the features Q to drive "
                                                        f"(default: {ET.neurons})")
    g.add_argument("--neuron-target", type=finite_float, help=f"TrojanNN: their target activation (default: {ET.neuron_target:g})")
    g.add_argument("--neuron-steps", type=int, help=f"TrojanNN: Adam steps generating the trigger (default: {ET.neuron_steps})")
    g.add_argument("--neuron-lr", type=finite_float, help=f"TrojanNN: their learning rate (default: {ET.neuron_lr:g})")
    g.add_argument("--remask-lr", type=finite_float, help=f"TrojanNN*, IMC: Adam learning rate of the input step "
                                                   f"(default: {ET.remask_lr:g})")
    g.add_argument("--remask-epochs", type=int, help=f"TrojanNN*, IMC: passes over the training data per input step "
                                                     f"(default: {ET.remask_epochs})")
    g.add_argument("--remask-batches", type=positive_int, help="TrojanNN*, IMC: at most this many batches per pass "
                                                               "(default: all)")
    g.add_argument("--perturbation-eps", type=finite_float,
                   help=f"TrojanNN*: L∞ budget of the attack-time perturbation of triggered inputs towards the "
                        f"target (default: {ET.perturbation_eps:.4f} = 8/255)")
    g.add_argument("--perturbation-steps", type=int, help=f"TrojanNN*: its PGD steps, of eps/4 "
                                                         f"(default: {ET.perturbation_steps})")
    g.add_argument("--trigger-opacity", type=finite_float, help=f"mask value inside the square (default: {ET.opacity:g})")
    g = p.add_argument_group("trigger (Figure 1: a white square in the bottom-right corner)")
    g.add_argument("--trigger-size", type=positive_int,
                   help="side in pixels (default: max(4, image size // 8): 4 on 28x28 and 32x32 images)")
    g.add_argument("--trigger-margin", type=int, default=DEFAULT_MARGIN,
                   help=f"pixels from the bottom/right edge (default: {DEFAULT_MARGIN})")
    g.add_argument("--train-intensity", type=finite_float, default=presets.TRAIN_INTENSITY,
                   help=f"trigger intensity while training (default: {presets.TRAIN_INTENSITY})")
    g.add_argument("--test-intensity", type=finite_float,
                   help="trigger intensity for evaluation (default: 0.75 MNIST/FMNIST, 1.0 CIFAR-10)")
    add_budget(p)
    add_runtime(p)
    p.set_defaults(func=run)


def evil_twins(args) -> dict | None:
    """The Evil Twins settings of a TrojanNN / TrojanNN* / IMC run (all of them, defaults filled in)."""
    given = {k: getattr(args, a) for k, a in (("neurons", "neurons"), ("neuron_target", "neuron_target"),
                                              ("neuron_steps", "neuron_steps"), ("neuron_lr", "neuron_lr"),
                                              ("remask_lr", "remask_lr"), ("remask_epochs", "remask_epochs"),
                                              ("remask_batches", "remask_batches"), ("opacity", "trigger_opacity"),
                                              ("perturbation_eps", "perturbation_eps"),
                                              ("perturbation_steps", "perturbation_steps"))
             if getattr(args, a) is not None}
    star_only = [k for k in ("perturbation_eps", "perturbation_steps") if k in given]
    if star_only and args.objective != "trojannn-star":
        raise ConfigError(f"--{star_only[0].replace('_', '-')} applies to trojannn-star only (the attack-time "
                          f"perturbation of its triggered inputs)")
    if args.objective not in EVIL_TWINS:
        if given:
            raise ConfigError(f"--{next(iter(given)).replace('_', '-')} applies to {', '.join(EVIL_TWINS)} only")
        return None
    return asdict(EvilTwinsSettings(**given).validate())


def run(args) -> int:
    config = make_config(args.dataset, args.objective, preset=args.preset, init=args.init, seed=args.seed,
                         model=args.model,
                         precision=args.precision, trigger_size=args.trigger_size,
                         trigger_margin=args.trigger_margin, train_intensity=args.train_intensity,
                         test_intensity=args.test_intensity, eps=args.eps, step_size=args.step_size,
                         steps=args.steps, norm=args.norm, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         limit=args.limit, target=args.target, poison_rate=args.poison_rate, mu=args.mu,
                         benign_weight=args.benign_weight, evil_twins=evil_twins(args),
                         normalization=args.normalize,
                         optimizer=args.optimizer, warmup=args.warmup)
    run_ = fit(config, args.out, device=args.device, data_dir=args.data_dir, resume=args.resume,
               force=args.force, progress=not args.no_progress)
    if not is_main_process():
        return 0
    last = run_.metrics()[-1] if run_.metrics() else {}
    print(f"finished: {run_.path} ({config.objective}, {config.epochs} epochs"
          + (f", test accuracy {last['test_benign']:.2%}" if "test_benign" in last else "") + ")")
    return 0
