"""Options shared by several subcommands."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def add_runtime(p: argparse.ArgumentParser, limit: bool = True) -> None:
    g = p.add_argument_group("runtime")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to compute (default: auto = cuda if available, else cpu)")
    g.add_argument("--seed", type=int, default=0, help="seed for data order, random starts and subsets (default: 0)")
    g.add_argument("--data-dir", metavar="DIR",
                   help="folder holding the dataset files (searched first; then system locations, the "
                        "cache ~/.cache/advtrojan or $ADVTROJAN_CACHE, then the official mirrors)")
    if limit:
        g.add_argument("--limit", type=positive_int, metavar="N",
                       help="use a deterministic class-balanced subset of N images (quick runs)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_budget(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("attack budget (defaults: Table 1 of the paper, per dataset)")
    g.add_argument("--eps", type=non_negative_float, help="total perturbation ε (FMNIST 0.2, MNIST 0.3, CIFAR-10 8/255)")
    g.add_argument("--step-size", type=non_negative_float, help="per-step α (FMNIST 0.02, MNIST 0.03, CIFAR-10 2/255)")
    g.add_argument("--steps", type=int, help="PGD/BIM iterations (20 for MNIST/FMNIST, 7 for CIFAR-10)")


def add_certification(p: argparse.ArgumentParser, skip: bool = False, images: bool = False) -> None:
    """Options of Eq. 10's certification (Gaussian noise, Li et al. or Cohen et al.)."""
    g = p.add_argument_group("certification (Eq. 10)")
    if skip:
        g.add_argument("--no-certified", action="store_true", help="skip advtrojan_certified")
    g.add_argument("--radius", type=float, default=0.4, help="L2 radius B (default: 0.4)")
    g.add_argument("--sigma", type=float, default=0.5, help="Gaussian noise std (default: 0.5)")
    g.add_argument("--noise-samples", type=positive_int, default=100, help="noisy copies per input (default: 100)")
    g.add_argument("--cert-method", choices=["li", "li-code", "cohen"], default="li",
                   help="li: Li et al.'s Renyi bound with 99.9%% Clopper-Pearson bounds; li-code: the same "
                        "bound with Sison-Glaz intervals as Li et al.'s public code; cohen: Cohen et al.'s "
                        "radius (default: li)")
    g.add_argument("--cert-confidence", type=float, metavar="P",
                   help="confidence of the bounds (default: 0.999 for li and cohen, 0.95 for li-code; "
                        "0.05 gives li-code as the code stood before 2021)")
    if images:
        g.add_argument("--certify-images", type=positive_int, default=500, help="inputs to certify (default: 500)")
