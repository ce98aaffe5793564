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


def add_runtime(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("runtime")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to compute (default: auto = cuda if available, else cpu)")
    g.add_argument("--seed", type=int, default=0, help="seed for data order, random starts and subsets (default: 0)")
    g.add_argument("--data-dir", metavar="DIR",
                   help="folder holding the dataset files (searched first; then system locations, the "
                        "cache ~/.cache/advtrojan or $ADVTROJAN_CACHE, then the official mirrors)")
    g.add_argument("--limit", type=positive_int, metavar="N",
                   help="use a deterministic class-balanced subset of N images (quick runs)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_budget(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("attack budget (defaults: Table 1 of the paper, per dataset)")
    g.add_argument("--eps", type=non_negative_float, help="total perturbation ε (FMNIST 0.2, MNIST 0.3, CIFAR-10 8/255)")
    g.add_argument("--step-size", type=non_negative_float, help="per-step α (FMNIST 0.02, MNIST 0.03, CIFAR-10 2/255)")
    g.add_argument("--steps", type=int, help="PGD/BIM iterations (20 for MNIST/FMNIST, 7 for CIFAR-10)")
