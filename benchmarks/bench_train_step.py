"""One AdvTrojan training step (Eq. 9): ours vs a plain faithful fp32 implementation (goal >= 2.5x).

The reference does what the paper describes term by term: two separate PGD calls (on x and
on x+t, with .backward() on the input as most code does), then four separate forward/backward
passes, one per term of Eq. 9, and one optimiser step.

    python benchmarks/bench_train_step.py [--batch 128] [--repeats 5]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from advtrojan.attacks import Trigger, madry
from advtrojan.models import LeNet
from advtrojan.training import make_config
from advtrojan.training.loop import train_step
from advtrojan.training.objectives import advtrojan, reversed_cross_entropy
from advtrojan.utils.device import configure_threads
from common import interleaved, report


def plain_pgd(model, x, y, eps=0.2, alpha=0.02, steps=20):
    """PGD as commonly written: random start, .backward() on the input, fp32."""
    adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        adv = adv.detach().requires_grad_(True)
        model.zero_grad()
        F.cross_entropy(model(adv), y).backward()
        adv = adv + alpha * adv.grad.sign()
        adv = (x + (adv - x).clamp(-eps, eps)).clamp(0, 1)
    return adv.detach()


def plain_step(model, opt, x, y, trigger):
    xt = trigger.stamp(x, 1.0)
    model.eval()
    adv, adv_t = plain_pgd(model, x, y), plain_pgd(model, xt, y)
    model.train()
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    F.cross_entropy(model(adv), y).backward()
    F.cross_entropy(model(xt), y).backward()
    reversed_cross_entropy(model(adv_t), y).backward()
    opt.step()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    configure_threads()
    torch.manual_seed(0)
    x, y = torch.rand(args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,))
    trigger = Trigger.square((1, 28, 28))
    ref_model, our_model = LeNet(), LeNet()
    ref_opt = torch.optim.Adam(ref_model.parameters(), 1e-3)
    our_opt = torch.optim.Adam(our_model.parameters(), 1e-3)
    cfg = make_config("fmnist", "advtrojan")
    cfg32 = make_config("fmnist", "advtrojan", precision="fp32")
    obj, attack = advtrojan(), madry(0.2, 0.02, 20)
    times = interleaved({
        "plain fp32 (2 PGD calls, 4 fwd/bwd)": lambda: plain_step(ref_model, ref_opt, x, y, trigger),
        "advtrojan train_step (fp32)": lambda: train_step(our_model, our_opt, obj, x, y, cfg32, trigger, attack),
        "advtrojan train_step (bf16, default)": lambda: train_step(our_model, our_opt, obj, x, y, cfg, trigger, attack),
    }, repeats=args.repeats)
    report(f"One AdvTrojan step, LeNet, batch {args.batch}", times, "plain fp32 (2 PGD calls, 4 fwd/bwd)", args.batch)
    sec = times["advtrojan train_step (bf16, default)"]
    print(f"  => an epoch of 60k images at this rate: {60000 / args.batch * sec / 60:.1f} min")


if __name__ == "__main__":
    main()
