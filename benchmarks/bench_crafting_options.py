"""The crafting options tried for issue 9, measured against the package's PGD in one run.

Each variant is Madry PGD-20 (ε 0.2, α 0.02) in bf16 on LeNet over one AdvTrojan crafting batch
(clean + triggered halves of a 128-image training batch = 256 inputs), interleaved, median of
``--repeats``. What is compared:

- ``advtrojan``: :func:`advtrojan.attacks.pgd.perturb` as the training loop runs it (LeNet asks
  for channels-last memory, its second convolution's output goes back to NCHW before the ReLU and
  the flatten; weights cast to bf16 once per call).
- ``channels-last throughout``: LeNet as it was before, the ReLU after the second convolution
  backpropagating a gradient in NCHW order (the flatten's) through a channels-last output.
- ``contiguous (NCHW)``: the same on a model left in the default memory format.
- ``torch.func.grad`` eager / compiled: one PGD step as ``torch.func.grad`` of the loss with the
  sign step and projection, then the same under ``torch.compile`` (inductor, CPU, static shapes).
- ``stride-2 conv1 as space-to-depth``: the first convolution (one input channel, 5×5, stride 2)
  rewritten as pixel-unshuffle + a 3×3 stride-1 convolution over 4 channels (same numbers up to
  bf16 rounding), because its input gradient runs at a few GFLOP/s in oneDNN.

    python benchmarks/bench_crafting_options.py [--batch 256] [--repeats 7] [--threads 2]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from advtrojan.attacks import Budget, madry
from advtrojan.attacks.pgd import frozen
from advtrojan.models import LeNet
from common import bench_args, interleaved, report


class ChannelsLastLeNet(LeNet):
    """LeNet as before issue 9: channels-last up to the flatten."""

    def features(self, x):
        x = torch.relu(self.conv1(x))
        return torch.relu(self.conv2(x)).flatten(1)


class SpaceToDepthLeNet(LeNet):
    """LeNet whose first convolution runs as pixel-unshuffle + a stride-1 3×3 convolution."""

    def features(self, x):
        w = F.pad(self.conv1.weight, (0, 1, 0, 1))  # 5x5 -> 6x6 (zero last row and column)
        c = w.shape[1]
        w = w.view(32, c, 3, 2, 3, 2).permute(0, 1, 3, 5, 2, 4).reshape(32, c * 4, 3, 3)
        x = F.conv2d(F.pixel_unshuffle(F.pad(x, (2, 2, 2, 2)), 2), w, self.conv1.bias)
        x = torch.relu(x)
        return torch.relu(self.conv2(x).contiguous()).flatten(1)


def func_grad_pgd(model, eps=0.2, alpha=0.02, steps=20, compiled=False):
    """PGD whose step is ``torch.func.grad`` of the loss, optionally compiled as one graph (built
    once, so that every call reuses the compiled step)."""
    state = {k: v.detach().to(torch.bfloat16) for k, v in model.named_parameters()}

    def loss(delta, x, y):
        logits = torch.func.functional_call(model, state, ((x + delta).to(torch.bfloat16),))
        return F.cross_entropy(logits.float(), y, reduction="sum")

    grad = torch.func.grad(loss)

    def step(delta, x, y):
        delta = (delta + alpha * grad(delta, x, y).sign()).clamp(-eps, eps)
        return (x + delta).clamp(0, 1) - x

    step = torch.compile(step, dynamic=False) if compiled else step

    def run(x, y):
        delta = ((x + (torch.rand_like(x) * 2 - 1) * eps).clamp(0, 1) - x)
        with frozen(model), torch.no_grad():
            for _ in range(steps):
                delta = step(delta, x, y)
        return x + delta

    return run


def main():
    args = bench_args(batch=256, repeats=7)
    torch.manual_seed(0)
    base = LeNet()
    cl = LeNet().to(memory_format=torch.channels_last)
    cl.load_state_dict(base.state_dict())
    old = ChannelsLastLeNet().to(memory_format=torch.channels_last)
    old.load_state_dict(base.state_dict())
    s2d = SpaceToDepthLeNet()
    s2d.load_state_dict(base.state_dict())
    x, y = torch.rand(args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,))
    attack = madry(Budget(0.2, 0.02, 20))
    eager, compiled = func_grad_pgd(base), func_grad_pgd(base, compiled=True)
    with torch.no_grad():
        gap = (s2d(x) - base(x)).abs().max().item()
    print(f"space-to-depth LeNet vs LeNet, fp32 logits: max |difference| {gap:.2e}")
    times = interleaved({
        "advtrojan": lambda: attack(cl, x, y, precision="bf16"),
        "channels-last throughout": lambda: attack(old, x, y, precision="bf16"),
        "contiguous (NCHW)": lambda: attack(base, x, y, precision="bf16"),
        "torch.func.grad, eager": lambda: eager(x, y),
        "torch.func.grad, torch.compile": lambda: compiled(x, y),
        "stride-2 conv1 as space-to-depth": lambda: attack(s2d, x, y, precision="bf16"),
    }, repeats=args.repeats, warmup=2)
    report(f"Madry PGD-20 crafting options, LeNet, bf16, batch {args.batch}", times, "advtrojan", args.batch)


if __name__ == "__main__":
    main()
