"""Threat-model norms as small step objects (after MadryLab's ``attack_steps.py``).

Each norm knows how to draw a random start inside the ε-ball, take one ascent step of size α
from a gradient, and project back onto the ball. Clipping to [0,1] is done by the attack.
"""

from __future__ import annotations

import torch


class Linf:
    name = "linf"

    @staticmethod
    def random_perturb(x: torch.Tensor, eps: float) -> torch.Tensor:
        return torch.empty_like(x).uniform_(-eps, eps)

    @staticmethod
    def step(grad: torch.Tensor, alpha: float) -> torch.Tensor:
        return alpha * grad.sign()

    @staticmethod
    def project(delta: torch.Tensor, eps: float) -> torch.Tensor:
        return delta.clamp(-eps, eps)


def _norms(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.dim() - 1)))


class L2:
    name = "l2"

    @staticmethod
    def random_perturb(x: torch.Tensor, eps: float) -> torch.Tensor:
        """Uniform in the L2 ball: a random direction times eps * U^(1/d)."""
        d = x[0].numel()
        direction = torch.randn_like(x)
        radius = torch.rand(len(x), device=x.device).pow(1.0 / d).view(-1, *([1] * (x.dim() - 1)))
        return eps * radius * direction / _norms(direction)

    @staticmethod
    def step(grad: torch.Tensor, alpha: float) -> torch.Tensor:
        return alpha * grad / _norms(grad)

    @staticmethod
    def project(delta: torch.Tensor, eps: float) -> torch.Tensor:
        return delta * (eps / _norms(delta)).clamp(max=1.0)


NORMS = {"linf": Linf, "l2": L2}
