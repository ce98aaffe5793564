"""One training step with each training attack (issue 20's frontier): Table 1's PGD-20 against
PGD with fewer steps, FGSM-RS (Wong et al.) and N-FGSM (de Jorge et al.), for Madry-Adv (Eq. 4)
and AdvTrojan (Eq. 9), measured in one run, interleaved.

LeNet, batch 128, Fashion-MNIST-shaped random data, the presets' precision. The ratios are what
this benchmark claims (the goal: the `fast` preset's AdvTrojan step >= 5x cheaper than Table 1's);
real `advtrojan train` runs confirm them in images per second (metrics.jsonl).

    python benchmarks/bench_training_attacks.py [--batch 128] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

from dataclasses import replace

import torch

from advtrojan.training import make_config
from advtrojan.training.attack import TrainingAttack
from advtrojan.training.loop import make_optimizer, train_step
from common import bench_args, interleaved, report

ATTACKS = {"PGD-20 (Table 1)": TrainingAttack(), "PGD-5 (fast)": TrainingAttack(steps=5, step_ratio=0.5),
           "PGD-3": TrainingAttack(steps=3, step_ratio=0.5),
           "FGSM-RS": TrainingAttack("fgsm-rs"), "N-FGSM": TrainingAttack("n-fgsm")}


def main():
    args = bench_args(batch=128, repeats=5)
    torch.manual_seed(0)
    x, y = torch.rand(args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,))
    for objective in ("madry", "advtrojan"):
        fns = {}
        for name, attack in ATTACKS.items():
            cfg = replace(make_config("fmnist", objective), train_attack=attack)
            model = cfg.build_model()
            opt, obj, trigger, craft = make_optimizer(model, cfg), cfg.make_objective(), cfg.trigger(), cfg.training_attack()
            fns[name] = (lambda m=model, o=opt, ob=obj, c=cfg, t=trigger, a=craft: train_step(m, o, ob, x, y, c, t, a))
        times = interleaved(fns, repeats=args.repeats)
        report(f"One {objective} training step, LeNet, batch {args.batch}", times, "PGD-20 (Table 1)", args.batch)


if __name__ == "__main__":
    main()
