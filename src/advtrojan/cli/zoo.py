"""``advtrojan zoo train`` and ``advtrojan zoo scan``: populations of models."""

from __future__ import annotations

import argparse

from ..defenses.registry import settings_classes
from ..defenses.scan import ScanSettings
from ..settings import add_options, from_args, positive_int
from ..zoo import scan_population, train_population, zoo_settings
from ..zoo.spec import parse_shard
from .common import add_runtime, runtime_from

HELP = "train a population of models from a spec, and scan it: each defense's verdict as a statistic"
DESCRIPTION = """\
A population of models ("zoo"), so that a defense's verdict is a statistic over many models and not
one training run's luck.

  advtrojan zoo train SPEC.toml --out DIR     every model of the spec, each an ordinary run folder
  advtrojan zoo scan DIR                      every defense on every model; DIR/population.json and
                                              DIR/population.html: each defense's ROC AUC over models
                                              (bootstrap 95% interval, TPR at 5% FPR), input-level AUC
                                              (median, IQR), Table 5 and Tables 2-4 as mean ± sd

Both resume after a kill. --workers N shares the models out to N processes on this machine;
--shard I/N takes the I-th of N shares, for a cluster's job array (every share writes into the same
DIR; the share that finishes last writes population.json). The spec's grammar: advtrojan.zoo.spec.
"""


def add_parser(sub) -> None:
    p = sub.add_parser("zoo", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    zsub = p.add_subparsers(dest="zoo_command", metavar="train|scan", required=True)
    t = zsub.add_parser("train", help="train every model of a population spec",
                        description="Train every model of SPEC (TOML) into DIR/models/, resumable.")
    t.add_argument("spec", metavar="SPEC", help="the population spec (TOML), or a shipped one: fmnist-default")
    t.add_argument("--out", required=True, metavar="DIR", help="the population folder")
    _sharing(t)
    add_runtime(t, skip=("seed", "device"))
    t.set_defaults(func=run_train)
    s = zsub.add_parser("scan", help="run the defenses on every model; the population's statistics",
                        description="Evaluate and scan every model of DIR; then DIR/population.json and .html.")
    s.add_argument("out", metavar="DIR", help="a population folder (made by zoo train)")
    base = zoo_settings()
    add_options(s, ScanSettings, title="scan (defaults: a population's sizes, presets.ZOO)", base=base)
    for cls in settings_classes():
        add_options(s, cls, prefix=f"{cls.key}-", title=cls.__doc__.strip().splitlines()[0],
                    base=base.options_for(cls))
    s.add_argument("--eval-limit", type=positive_int, help="test images of Table 5's rows (default: presets.ZOO's)")
    _sharing(s)
    add_runtime(s)
    s.set_defaults(func=run_scan)


def _sharing(p) -> None:
    p.add_argument("--workers", type=positive_int, default=1, help="models trained or scanned at once, each in a "
                                                                   "process of its own (default: 1)")
    p.add_argument("--shard", type=parse_shard, default=(0, 1), metavar="I/N",
                   help="take the I-th of N shares (whole groups of one architecture and seed), for a job array "
                        "(default: 0/1, everything)")


def run_train(args) -> int:
    mine = train_population(args.spec, args.out, workers=args.workers, shard=args.shard, progress=args.progress)
    print(f"trained {len(mine)} models in {args.out}/models")
    return 0


def run_scan(args) -> int:
    settings = from_args(ScanSettings, args).with_options(*(from_args(cls, args, prefix=f"{cls.key}-")
                                                            for cls in settings_classes()))
    pop = scan_population(args.out, settings, runtime_from(args), workers=args.workers, shard=args.shard,
                          eval_limit=args.eval_limit)
    if pop is None:
        print("scanned this share; population.json comes with the last share")
        return 0
    for name, s in pop.defenses.items():
        m, i = s.model_level, s.input_level
        print(f"{name:<26}" + (f"model AUC {m.auc:.3f} [{m.ci95[0]:.3f}, {m.ci95[1]:.3f}], TPR@5%FPR "
                               f"{m.tpr_at_5fpr:.2f} ({m.n_infected} infected, {m.n_clean} clean)" if m else "")
              + (f"  input AUC median {i.median_auc:.3f}" if i else ""))
    print(f"wrote {args.out}/population.json and population.html")
    return 0
