"""Madry-Adv (Eq. 4) and AdvTrojan (Eq. 9) training steps: ours against two fair references,
measured in one run, interleaved.

- ``today (v1)``: the step as it stood before the speed work (``reference_v1.py``): the same
  step with PGD under autocast on the model's own frozen weights (re-cast at every PGD step).
- ``torchattacks PGD``: torchattacks' PGD (inputs only, no parameter gradients) inside an
  otherwise identical step, under the same autocast.
- ``advtrojan``: the package's ``train_step``.

All in bf16 (the default) on LeNet, batch 128, Fashion-MNIST-shaped random data. The ratio is
what this benchmark claims; a real ``advtrojan train`` run confirms it (README, Speed).

    python benchmarks/bench_train_step.py [--batch 128] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import torch

from advtrojan.training import make_config
from advtrojan.training.loop import make_optimizer, train_step
from advtrojan.training.objectives import make_objective
from common import bench_args, interleaved, report
from reference_v1 import TorchattacksPGD, V1Attack


def main():
    args = bench_args(batch=128, repeats=5)
    torch.manual_seed(0)
    x, y = torch.rand(args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,))
    for objective in ("madry", "advtrojan"):
        cfg = make_config("fmnist", objective)
        obj = make_objective(objective, benign_weight=cfg.benign_weight)
        trigger, ours = cfg.trigger(), cfg.attack()
        fns = {}
        for name, attack in (("today (v1)", V1Attack(ours)), ("torchattacks PGD", TorchattacksPGD(ours)),
                             ("advtrojan", ours)):
            model = cfg.build_model()
            opt = make_optimizer(model, cfg)
            fns[name] = (lambda m=model, o=opt, a=attack: train_step(m, o, obj, x, y, cfg, trigger, a))
        times = interleaved(fns, repeats=args.repeats)
        report(f"One {objective} training step, LeNet, batch {args.batch}, bf16", times, "today (v1)", args.batch)
        for ref in ("torchattacks PGD",):
            print(f"  advtrojan vs {ref}: x{times[ref] / times['advtrojan']:.2f}")
        print(f"  => an epoch of 60k images at this rate: {60000 / args.batch * times['advtrojan'] / 60:.2f} min")


if __name__ == "__main__":
    main()
