"""Eq. 10's noisy votes: fp32, bf16, and the checked votes (bf16 screen, near-ties rerun in fp32: fp32's
counts exactly), measured in one run, interleaved. The ratio is what this benchmark claims; the
certification stage's wall time in ``benchmarks/profile_stages.py`` confirms it.

A trained model's margins decide how many votes the screen sends back to fp32: give one with
``--run`` (a finished run folder; default: a LeNet with random weights).

    python benchmarks/bench_noise_votes.py [--run results/fmnist-quick/runs/atim] [--batch 100] [--threads 2]
"""

from __future__ import annotations

import torch

from advtrojan.defenses.certify import CheckedArgmax, noise_counts
from advtrojan.models.lenet import LeNet
from common import bench_args, interleaved, report


def main():
    args = bench_args(batch=100, repeats=3, add=lambda ap: ap.add_argument("--run", help="a finished run folder"))
    run = args.run
    torch.manual_seed(0)
    if run:
        from advtrojan.data import load_dataset
        from advtrojan.training.runs import Run
        model = Run(run).load_model("cpu")
        x = load_dataset("fmnist", "test").balanced_subset(args.batch, seed=3).tensors("cpu")[0]
    else:
        model, x = LeNet(), torch.rand(args.batch, 1, 28, 28)
    model.eval()
    for sigma in (0.25, 0.5):
        fns = {p: (lambda p=p: noise_counts(model, x, sigma, 100, precision=p, generator=torch.Generator().manual_seed(0)))
               for p in ("fp32", "bf16", "checked")}
        times = interleaved(fns, repeats=args.repeats)
        report(f"Noise votes of {args.batch} inputs x 100 copies, sigma {sigma}", times, "fp32", args.batch * 100, "vote")
        check = CheckedArgmax(model, "cpu")
        for noisy in (x[:, None] + sigma * torch.randn(len(x), 100, *x.shape[1:])).flatten(0, 1).split(1000):
            check(noisy)
        print(f"  checked: {check.rerun / check.inputs:.1%} of the votes rerun in fp32 (tolerance {check.tolerance:.3g})")


if __name__ == "__main__":
    main()
