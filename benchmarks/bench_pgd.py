"""Madry PGD-20 on LeNet: ours vs torchattacks.PGD (goal: >= 1.8x).

    python benchmarks/bench_pgd.py [--batch 256] [--repeats 5]

torchattacks needs `pip install --no-deps torchattacks scipy`.
"""

from __future__ import annotations

import argparse

import torch
import torchattacks

from advtrojan.attacks import Budget, madry
from advtrojan.models import LeNet
from advtrojan.utils.device import configure_threads
from common import interleaved, report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    configure_threads()
    torch.manual_seed(0)
    model = LeNet().eval()
    x, y = torch.rand(args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,))
    attack = madry(Budget(0.2, 0.02, 20))
    ref = torchattacks.PGD(model, eps=0.2, alpha=0.02, steps=20, random_start=True)
    times = interleaved({
        "torchattacks.PGD (fp32)": lambda: ref(x, y),
        "advtrojan madry (fp32)": lambda: attack(model, x, y, precision="fp32"),
        "advtrojan madry (bf16, training default)": lambda: attack(model, x, y, precision="bf16"),
    }, repeats=args.repeats)
    report(f"Madry PGD-20, LeNet, batch {args.batch}", times, "torchattacks.PGD (fp32)", args.batch)


if __name__ == "__main__":
    main()
