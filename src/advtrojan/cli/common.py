"""Options shared by several subcommands."""

from __future__ import annotations

import argparse
import math

from .. import presets
from ..defenses.certify import CERT, METHODS
from ..errors import ConfigError


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def finite_float(text: str) -> float:
    """A number, never NaN or infinite (argparse's ``float`` takes both)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def add_runtime(p: argparse.ArgumentParser, limit: bool = True) -> None:
    g = p.add_argument_group("runtime")
    g.add_argument("--device", default="auto", metavar="auto|cpu|cuda|cuda:N",
                   help="where to compute (default: auto = cuda if available, else cpu; under torchrun each "
                        "process takes cuda:LOCAL_RANK)")
    g.add_argument("--seed", type=int, default=presets.SEED,
                   help=f"seed for data order, random starts and subsets (default: {presets.SEED})")
    g.add_argument("--data-dir", metavar="DIR",
                   help="folder holding the dataset files (searched first; then system locations, the "
                        "cache ~/.cache/advtrojan or $ADVTROJAN_CACHE, then the official mirrors)")
    if limit:
        g.add_argument("--limit", type=positive_int, metavar="N",
                       help="use a deterministic class-balanced subset of N images (quick runs)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_plugin(p)


def add_stages_runtime(p: argparse.ArgumentParser) -> None:
    """The runtime options of the staged experiments (reproduce, matrix)."""
    p.add_argument("--force", action="store_true", help="redo every stage and retrain")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda|cuda:N")
    p.add_argument("--seed", type=int, default=presets.SEED, help=f"(default: {presets.SEED})")
    p.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset files")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_plugin(p)


def add_normalize(p: argparse.ArgumentParser) -> None:
    from ..models.normalize import parse as parse_normalization

    def parse(text: str):
        try:
            return parse_normalization(text)
        except ConfigError as exc:  # argparse reports its own errors as one usage line
            raise argparse.ArgumentTypeError(str(exc)) from None
    p.add_argument("--normalize", type=parse, metavar="MEAN/STD",
                   help="the model's input normalisation, applied inside it so that triggers and perturbations "
                        "stay in pixel space [0, 1]: one value or one per channel, e.g. 0.5/0.25 or "
                        "0.4914,0.4822,0.4465/0.247,0.243,0.261 (default: none)")


def add_plugin(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true",
                   help="show the full traceback of an unexpected error (normally one line)")
    p.add_argument("--plugin", action="append", metavar="MODULE", default=[],
                   help="import MODULE (or a .py file) first: it may register models, datasets, attacks, "
                        "objectives and defenses (repeatable; installed packages' advtrojan.plugins entry "
                        "points are loaded always)")


def add_budget(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("attack budget (defaults: Table 1 of the paper, per dataset)")
    g.add_argument("--eps", type=non_negative_float, help="total perturbation ε (FMNIST 0.2, MNIST 0.3, CIFAR-10 8/255)")
    g.add_argument("--step-size", type=non_negative_float, help="per-step α (FMNIST 0.02, MNIST 0.03, CIFAR-10 2/255)")
    g.add_argument("--steps", type=int, help="PGD/BIM iterations (20 for MNIST/FMNIST, 7 for CIFAR-10)")
    g.add_argument("--norm", choices=["linf", "l2"],
                   help="norm of the ε-ball (default: the run's, else Table 1's linf; another norm needs --eps; "
                        "with --eps alone, α keeps Table 1's ratio α/ε)")


def add_certification(p: argparse.ArgumentParser, skip: bool = False, images: bool = False) -> None:
    """Options of Eq. 10's certification (Gaussian noise, Li et al. or Cohen et al.)."""
    g = p.add_argument_group("certification (Eq. 10)")
    if skip:
        g.add_argument("--no-certified", action="store_true", help="skip advtrojan_certified")
    g.add_argument("--radius", type=positive_float, default=CERT.radius, help=f"L2 radius B (default: {CERT.radius})")
    g.add_argument("--sigma", type=positive_float, default=CERT.sigma, help=f"Gaussian noise std (default: {CERT.sigma})")
    g.add_argument("--noise-samples", type=positive_int, default=CERT.noise_samples,
                   help=f"noisy copies per input (default: {CERT.noise_samples})")
    g.add_argument("--cert-method", choices=list(METHODS), default=CERT.method,
                   help="li: Li et al.'s Renyi bound with 99.9%% Clopper-Pearson bounds; li-code: the same "
                        "bound with Sison-Glaz intervals as Li et al.'s public code; cohen: Cohen et al.'s "
                        f"radius (default: {CERT.method})")
    g.add_argument("--cert-confidence", type=finite_float, metavar="P",
                   help="confidence of the bounds (default: 0.999 for li and cohen, 0.95 for li-code; "
                        "0.05 gives li-code as the code stood before 2021)")
    if images:
        from ..defenses.scan import ScanSettings
        n = ScanSettings().certify_images
        g.add_argument("--certify-images", type=positive_int, default=n, help=f"inputs to certify (default: {n})")
