"""Appendix G sweeps: ATIM accuracy without and with the trigger as the attack changes.

- Figure 7 (G.2): Madry PGD with each number of iterations, at the Table 1 ε and α.
- Figures 8 and 9 (G.3, G.4): the perturbation size ε from 0 to the Table 1 budget in 10 equal
  steps, for FGSM, BIM and Madry (α keeps Table 1's ratio α/ε for the dataset, 1/10 on MNIST and
  Fashion-MNIST, 1/4 on CIFAR-10; the Table 1 number of steps),
  each on clean inputs (FGSM-/BIM-/Madry-Exps) and on triggered ones (AdvTrojan-FGSM/-BIM/
  -Madry). Figure 8 is the Madry pair of this one sweep.
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from ..attacks.pgd import make_attack, madry
from ..presets import FIGURE7_ITERATIONS
from ..attacks.threats import Threat, craft
from ..attacks.trigger import Trigger

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


def iteration_sweep(model: nn.Module, x, y, trigger: Trigger, intensity: float, eps: float, step_size: float,
                    iterations=FIGURE7_ITERATIONS, precision: str = "fp32", batch_size: int = 500,
                    progress: bool = True) -> dict:
    """Figure 7: Madry PGD with each number of iterations at the Table 1 ε and α."""
    out = {"iterations": list(iterations), "madry": [], "advtrojan": [], "eps": eps, "step_size": step_size,
           "examples": len(y)}
    for n in tqdm(iterations, desc="sweep: iterations", disable=not progress):
        m, a = _accuracies(model, x, y, trigger, intensity, madry(eps, step_size, n), precision, batch_size)
        out["madry"].append(m)
        out["advtrojan"].append(a)
    return out


def budget_sweep(model: nn.Module, x, y, trigger: Trigger, intensity: float, eps: float, steps: int,
                 step_size: float, points: int = 10, methods=METHODS, precision: str = "fp32",
                 batch_size: int = 500, progress: bool = True) -> dict:
    """Figures 8-9: accuracy at ε = 0, ε/points, …, ε for each method, without and with the trigger.
    Each budget e uses α = e · step_size/eps (Table 1's ratio), so the last point is Table 1's attack.

    Returns ``{"eps": [...], "steps": n, "examples": N, "methods": {m: {"without_trigger": [...],
    "advtrojan": [...]}}}`` plus, for Figure 8, ``madry`` and ``advtrojan`` (the Madry pair).
    """
    budgets = [eps * i / points for i in range(points + 1)]
    ratio = step_size / eps if eps > 0 else None
    curves = {m: {"without_trigger": [], "advtrojan": []} for m in methods}
    for m in methods:
        for e in tqdm(budgets, desc=f"sweep: budget ({m})", disable=not progress):
            attack = make_attack(m, e, e * (ratio or 0.0), steps)
            clean, trojan = _accuracies(model, x, y, trigger, intensity, attack, precision, batch_size)
            curves[m]["without_trigger"].append(clean)
            curves[m]["advtrojan"].append(trojan)
    out = {"eps": budgets, "steps": steps, "step_ratio": ratio,
           "examples": len(y), "methods": curves}
    if "madry" in curves:
        out["madry"], out["advtrojan"] = curves["madry"]["without_trigger"], curves["madry"]["advtrojan"]
    return out
