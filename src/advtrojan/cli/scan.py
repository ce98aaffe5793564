"""``advtrojan scan``: run the defenses the paper evaluates on a run or a weights file."""

from __future__ import annotations

import argparse

from ..defenses.adaptive import AdaptiveNCSettings
from ..defenses.api import ATTACKED, scan
from ..defenses.neural_cleanse import NCSettings
from ..defenses.registry import DEFENSES as REGISTRY
from ..defenses.scan import DEFENSES, ScanSettings, all_defenses
from ..defenses.strip import StripSettings
from ..utils.io import check_writable, write_json
from .common import add_budget, add_certification, add_normalize, add_runtime, non_negative_float, positive_int

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


D = ScanSettings()  # every default below comes from the settings


def defense_list(text: str) -> tuple[str, ...]:
    if text.strip() == "all":
        return all_defenses()
    names = tuple(n.strip() for n in text.split(","))
    if not any(names) or not all(names):
        raise argparse.ArgumentTypeError(f"expected defense names separated by commas, got {text!r}")
    return names


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
    p.add_argument("--defenses", type=defense_list, default=DEFENSES,
                   help=f"comma-separated registered defenses, or all (default: the paper's: {','.join(DEFENSES)}); "
                        f"registered now: {', '.join(REGISTRY)}")
    p.add_argument("--attacked", choices=ATTACKED, default="auto",
                   help="attacked inputs: AdvTrojan examples A(x+t), the trigger alone x+t, or the trigger then a "
                        "perturbation towards the target A_t(x+t) (auto: the run's own attacker: triggered for "
                        "BadNets, TrojanNN and IMC runs, targeted for TrojanNN*)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--figures-dir", metavar="DIR", help="where figures go (default: RUN/scan or FILE.scan)")
    g = p.add_argument_group("sizes")
    g.add_argument("--pool", type=positive_int, default=D.pool, help=f"clean evaluation inputs (default: {D.pool})")
    g.add_argument("--nc-images", type=positive_int, default=D.nc_images,
                   help=f"Neural Cleanse inputs (default: {D.nc_images})")
    g.add_argument("--nc-epochs", type=positive_int, default=D.nc.epochs,
                   help=f"Neural Cleanse epochs (paper: 100; default: {D.nc.epochs})")
    g.add_argument("--anc-images", type=positive_int, default=D.anc_images,
                   help=f"adaptive NC inputs (default: {D.anc_images})")
    g.add_argument("--anc-epochs", type=positive_int, default=D.anc.epochs,
                   help=f"adaptive NC epochs (default: {D.anc.epochs})")
    g = p.add_argument_group("protocol (defaults: the original authors' code; the others are ablations)")
    g.add_argument("--strip-superimpose", choices=["add", "average"], default="add",
                   help="STRIP blend: add = x + r unclipped, as Gao et al.; average = (x + r)/2 (default: add)")
    g.add_argument("--strip-threshold", choices=["normal", "quantile"], default="normal",
                   help="STRIP threshold: normal = FPR quantile of a normal fit to clean entropies, as Gao "
                        "et al.; quantile = empirical quantile (default: normal)")
    g.add_argument("--nc-precision", choices=["fp32", "bf16"], default="fp32",
                   help="Neural Cleanse precision (default: fp32; bf16 is faster, for quick looks)")
    g.add_argument("--strip-reserved", type=positive_int, default=D.strip.n_reserved,
                   help=f"STRIP's held-back clean inputs blended with each input (N; default: {D.strip.n_reserved})")
    g.add_argument("--anc-restarts", type=positive_int, default=1, help="adaptive NC random restarts (default: 1)")
    add_certification(p, images=True)
    add_budget(p)
    p.add_argument("--intensity", type=non_negative_float, help="trigger intensity of the attacked inputs")
    add_runtime(p, limit=False)
    p.set_defaults(func=run)


def verdict_table(res: dict) -> str:
    """One line per defense: its title, verdict and details (each defense writes its own)."""
    lines = [f"{'defense':<26}{'verdict':<44}details", "-" * 96]
    for name, r in res.items():
        if isinstance(r, dict) and "verdict" in r:
            lines.append(f"{r.get('title') or name:<26}{r['verdict']:<44}{r.get('details', '')}")
    return "\n".join(lines)


def settings_from(args) -> ScanSettings:
    return ScanSettings(
        defenses=args.defenses, pool=args.pool, nc_images=args.nc_images, anc_images=args.anc_images,
        certify_images=args.certify_images, sigma=args.sigma, radius=args.radius, noise_samples=args.noise_samples,
        cert_method=args.cert_method, cert_confidence=args.cert_confidence,
        nc=NCSettings(epochs=args.nc_epochs, precision=args.nc_precision),
        strip=StripSettings(n_reserved=args.strip_reserved, superimpose=args.strip_superimpose, threshold=args.strip_threshold),
        anc=AdaptiveNCSettings(epochs=args.anc_epochs, restarts=args.anc_restarts))


def run(args) -> int:
    check_writable(args.json, "--json")  # before the defenses run, not after them
    check_writable(args.figures_dir, "--figures-dir", folder=True)
    budget = {k: v for k, v in (("eps", args.eps), ("step_size", args.step_size), ("steps", args.steps),
                                                      ("norm", args.norm))
              if v is not None}
    res = scan(args.target, args.dataset, arch=args.model, settings=settings_from(args), budget=budget,
               intensity=args.intensity, attacked=args.attacked, figures_dir=args.figures_dir, device=args.device,
               seed=args.seed, data_dir=args.data_dir, progress=not args.no_progress, normalization=args.normalize)
    print(verdict_table(res))
    b = res["budget"]
    p = b.get("perturbation")
    crafted = p or b
    towards = f" towards class {p['target']}" if p else ""
    print(f"attacked inputs: {b['attacked']} at trigger intensity {b['intensity']}, {crafted['method']} "
          f"{crafted['norm']} eps={crafted['eps']:.4g} step={crafted['step_size']:.4g} steps={crafted['steps']}{towards}"
          + (f"; defenses' budget eps={b['eps']:.4g} steps={b['steps']}" if p else ""))
    if args.json:
        write_json(args.json, res)
        print(f"wrote {args.json}")
    return 0
