"""Appendix G sweeps (Figures 7-8): ATIM accuracy on Madry vs AdvTrojan examples as the number
of PGD iterations grows (G.2) and as the perturbation budget grows (G.3). Figure 9 (FGSM vs BIM
vs Madry, G.4) comes from the evaluation itself."""

from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from ..attacks.pgd import madry
from ..attacks.threats import Threat, craft
from ..attacks.trigger import Trigger

ITERATIONS = (1, 5, 10, 50, 100, 500, 1000)


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
                    iterations=ITERATIONS, precision: str = "fp32", batch_size: int = 500,
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
                 points: int = 10, precision: str = "fp32", batch_size: int = 500, progress: bool = True) -> dict:
    """Figure 8: ε from 0 to the Table 1 budget in ``points`` equal steps, α = ε/10 (Table 1's ratio)."""
    budgets = [eps * i / points for i in range(points + 1)]
    out = {"eps": budgets, "madry": [], "advtrojan": [], "steps": steps, "examples": len(y)}
    for e in tqdm(budgets, desc="sweep: budget", disable=not progress):
        m, a = _accuracies(model, x, y, trigger, intensity, madry(e, e / 10, steps), precision, batch_size)
        out["madry"].append(m)
        out["advtrojan"].append(a)
    return out
