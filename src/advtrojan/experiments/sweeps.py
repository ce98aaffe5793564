"""Appendix G sweeps: ATIM accuracy without and with the trigger as the attack changes.

- Figure 7 (G.2): Madry PGD with each number of iterations, at the Table 1 ε and α.
- Figures 8 and 9 (G.3, G.4): the perturbation size ε from 0 to the Table 1 budget in 10 equal
  steps, for FGSM, BIM and Madry (α keeps Table 1's ratio α/ε for the dataset, 1/10 on MNIST and
  Fashion-MNIST, 1/4 on CIFAR-10; the Table 1 number of steps and the budget's norm),
  each on clean inputs (FGSM-/BIM-/Madry-Exps) and on triggered ones (AdvTrojan-FGSM/-BIM/
  -Madry). Figure 8 is the Madry pair of this one sweep.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn
from tqdm.auto import tqdm

from ..attacks.budget import Budget
from ..attacks.pgd import iterates, make_attack
from ..presets import FIGURE7_ITERATIONS
from ..attacks.threats import Threat, craft
from ..attacks.trigger import Trigger
from ..results import BudgetSweep, IterationSweep, MethodCurves

METHODS = ("fgsm", "bim", "madry")


def _accuracies(model, x, y, trigger, intensity, attack, precision, batch_size) -> tuple[float, float]:
    hits = {Threat.ADVERSARIAL: 0, Threat.ADVTROJAN: 0}
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        inputs = craft(list(hits), xb, yb, trigger=trigger, intensity=intensity, attack=attack, model=model,
                       precision=precision)
        with torch.no_grad():
            for k in hits:
                hits[k] += (model(inputs[k]).argmax(1) == yb).sum().item()
    return hits[Threat.ADVERSARIAL] / len(y), hits[Threat.ADVTROJAN] / len(y)


def iteration_sweep(model: nn.Module, x, y, trigger: Trigger, intensity: float, budget: Budget,
                    iterations=FIGURE7_ITERATIONS, precision: str = "fp32", batch_size: int = 500,
                    progress: bool = True) -> IterationSweep:
    """Figure 7: Madry PGD with each number of iterations at the budget's ε and α (and norm).

    One PGD run of the largest count per batch gives every count (:func:`~advtrojan.attacks.pgd.iterates`):
    PGD-k is the first k steps of PGD-1000 from the same random start, so the counts share their
    start and the stage costs 1,000 steps instead of the 1,666 of one run per count."""
    counts = sorted(set(int(n) for n in iterations))
    attack = replace(budget, steps=counts[-1]).attack("madry")
    hits = {n: [0, 0] for n in counts}
    batches = list(zip(x.split(batch_size), y.split(batch_size)))
    for xb, yb in tqdm(batches, desc=f"sweep: iterations (PGD-{counts[-1]})", disable=not progress, unit="batch"):
        sources = torch.cat([xb, trigger.stamp(xb, intensity)])  # clean, then triggered: one batched attack
        path = iterates(model, sources, yb.repeat(2), attack, counts, precision=precision)
        with torch.no_grad():
            for n, crafted in path.items():
                right = (model(crafted).argmax(1) == yb.repeat(2)).view(2, -1).sum(1)
                hits[n][0] += int(right[0])
                hits[n][1] += int(right[1])
    madry = [hits[int(n)][0] / len(y) for n in iterations]
    advtrojan = [hits[int(n)][1] / len(y) for n in iterations]
    return IterationSweep(iterations=list(iterations), madry=madry, advtrojan=advtrojan, budget=budget,
                          examples=len(y))


def budget_sweep(model: nn.Module, x, y, trigger: Trigger, intensity: float, budget: Budget, points: int = 10,
                 methods=METHODS, precision: str = "fp32", batch_size: int = 500,
                 progress: bool = True) -> BudgetSweep:
    """Figures 8-9: accuracy at ε = 0, ε/points, …, ε for each method, without and with the trigger.
    Each point e keeps the budget's α/ε, its steps and its norm, so the last point is the budget's
    attack itself (Table 1's)."""
    eps = budget.eps
    budgets = [eps * i / points for i in range(points + 1)]
    ratio = budget.step_ratio or 0.0
    curves = {}
    for m in methods:
        clean, trojan = [], []
        for e in tqdm(budgets, desc=f"sweep: budget ({m})", disable=not progress):
            attack = make_attack(m, replace(budget, eps=e, step_size=e * ratio))
            c, t = _accuracies(model, x, y, trigger, intensity, attack, precision, batch_size)
            clean.append(c)
            trojan.append(t)
        curves[m] = MethodCurves(without_trigger=clean, advtrojan=trojan)
    return BudgetSweep(eps=budgets, budget=budget, examples=len(y), methods=curves)
