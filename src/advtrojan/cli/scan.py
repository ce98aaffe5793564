"""``advtrojan scan``: run the defenses the paper evaluates on a run or a weights file."""

from __future__ import annotations

import argparse

from ..data.specs import SPECS
from ..defenses.api import scan
from ..defenses.scan import DEFENSES
from ..utils.io import write_json
from .common import add_budget, add_certification, add_runtime, non_negative_float, positive_int

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


def defense_list(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if text.strip() == "all":
        return DEFENSES
    return names


def add_parser(sub) -> None:
    p = sub.add_parser("scan", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="RUN_OR_FILE", help="a finished run folder, or a .safetensors file")
    p.add_argument("--arch", "--model", dest="model", metavar="NAME|MODULE:FACTORY",
                   help="architecture, for a .safetensors file: lenet, resnet, preact_resnet18, vgg16, or your "
                        "own factory as MODULE:FACTORY")
    p.add_argument("--dataset", choices=sorted(SPECS), help="dataset, for a .safetensors file")
    p.add_argument("--defenses", type=defense_list, default=DEFENSES,
                   help=f"comma-separated, from: {', '.join(DEFENSES)} (default: all)")
    p.add_argument("--attacked", choices=["auto", "advtrojan", "triggered"], default="auto",
                   help="attacked inputs: AdvTrojan examples or trigger only (auto: triggered for BadNets runs)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--figures-dir", metavar="DIR", help="where figures go (default: RUN/scan or FILE.scan)")
    g = p.add_argument_group("sizes")
    g.add_argument("--pool", type=positive_int, default=1000, help="clean evaluation inputs (default: 1000)")
    g.add_argument("--nc-images", type=positive_int, default=2000, help="Neural Cleanse inputs (default: 2000)")
    g.add_argument("--nc-epochs", type=positive_int, default=20, help="Neural Cleanse epochs (paper: 100; default: 20)")
    g.add_argument("--anc-images", type=positive_int, default=500, help="adaptive NC inputs (default: 500)")
    g.add_argument("--anc-epochs", type=positive_int, default=5, help="adaptive NC epochs (default: 5)")
    g = p.add_argument_group("protocol (defaults: the original authors' code; the others are ablations)")
    g.add_argument("--strip-superimpose", choices=["add", "average"], default="add",
                   help="STRIP blend: add = x + r unclipped, as Gao et al.; average = (x + r)/2 (default: add)")
    g.add_argument("--strip-threshold", choices=["normal", "quantile"], default="normal",
                   help="STRIP threshold: normal = FPR quantile of a normal fit to clean entropies, as Gao "
                        "et al.; quantile = empirical quantile (default: normal)")
    g.add_argument("--nc-precision", choices=["fp32", "bf16"], default="fp32",
                   help="Neural Cleanse precision (default: fp32; bf16 is faster, for quick looks)")
    g.add_argument("--anc-restarts", type=positive_int, default=1, help="adaptive NC random restarts (default: 1)")
    add_certification(p, images=True)
    add_budget(p)
    p.add_argument("--intensity", type=non_negative_float, help="trigger intensity of the attacked inputs")
    add_runtime(p, limit=False)
    p.set_defaults(func=run)


def verdict_table(res: dict) -> str:
    lines = [f"{'defense':<26}{'verdict':<44}details", "-" * 96]
    if "neural_cleanse" in res:
        r = res["neural_cleanse"]
        t2 = r["table2"]
        lines.append(f"{'Neural Cleanse':<26}{'flagged ' + str(len(r['flagged_classes'])) + '/' + str(len(r['flagged'])) + ' ' + str(r['flagged_classes']):<44}"
                     f"FNR {t2['fnr']:.1%} of {t2['successful_advtrojan']} successful attacks")
    for key, name in (("strip", "STRIP"), ("e_strip", "E-STRIP")):
        if key in res:
            r = res[key]
            fnr = ", ".join(f"{k} {v:.1%}" for k, v in r["fnr"].items())
            two = ", ".join(f"{k} {v:.1%}" for k, v in r["fnr_two_sided"].items())
            lines.append(f"{name:<26}{'FNR at FPR ' + fnr:<44}AUC {r['roc_auc']:.3f}; two-sided FNR {two}")
    if "adaptive_neural_cleanse" in res:
        r = res["adaptive_neural_cleanse"]
        lines.append(f"{'Adaptive Neural Cleanse':<26}{'flagged ' + str(len(r['flagged_classes'])) + '/' + str(len(r['flagged'])) + ' ' + str(r['flagged_classes']):<44}"
                     f"max anomaly index {max(r['anomaly_index']):.2f}")
    if "certified" in res:
        r = res["certified"]
        a = r["attacked"]
        lines.append(f"{'Certified (' + a['method'] + ', B=' + str(a['radius_B']) + ')':<26}"
                     f"{'attacked: ' + format(a['certified_accuracy'], '.1%') + ' (' + str(a['certified_correct']) + '/' + str(a['certified_count']) + ' certified correct)':<44}"
                     f"robust {a['robust_accuracy']:.1%} of {a['examples']}; benign: {r['benign']['certified_correct']}/"
                     f"{r['benign']['certified_count']} certified correct")
    return "\n".join(lines)


def run(args) -> int:
    res = scan(args.target, model_name=args.model, dataset=args.dataset, defenses=args.defenses,
               attacked=args.attacked, figures_dir=args.figures_dir, pool=args.pool, nc_images=args.nc_images,
               nc_epochs=args.nc_epochs, anc_images=args.anc_images, anc_epochs=args.anc_epochs,
               anc_restarts=args.anc_restarts, strip_superimpose=args.strip_superimpose,
               strip_threshold=args.strip_threshold, nc_precision=args.nc_precision, radius=args.radius, sigma=args.sigma,
               noise_samples=args.noise_samples, cert_method=args.cert_method,
               cert_confidence=args.cert_confidence, certify_images=args.certify_images,
               eps=args.eps, step_size=args.step_size, steps=args.steps, intensity=args.intensity,
               device=args.device, seed=args.seed, data_dir=args.data_dir, progress=not args.no_progress)
    print(verdict_table(res))
    if args.json:
        write_json(args.json, res)
        print(f"wrote {args.json}")
    return 0
