"""FGSM, BIM and Madry PGD as one loop (Eqs. 1-2, 12-15; Appendix B).

- **FGSM**: one step of size ε from ``x``.
- **BIM**: ``steps`` steps of size α from ``x``, each projected onto the ε-ball ∩ [0,1].
- **Madry (PGD)**: BIM from a uniformly random point of the ε-ball.

Untargeted attacks ascend the cross-entropy of the true label; targeted ones descend the
cross-entropy of the target. While crafting, the model's parameters are frozen (no parameter
gradients are computed), the model runs in eval mode, and both are restored afterwards.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch.func import functional_call
from torch import nn

from ..errors import ConfigError
from ..registry import Registry, call_with
from ..utils.device import autocast
from .norms import NORMS

ATTACKS: Registry = Registry("attack")
METHODS = ("fgsm", "bim", "madry")  # the paper's three (Eqs. 1-2, 12-15)


def register_attack(name: str):
    """Register an attack factory ``(eps, step_size, steps, norm) -> attack``, where an attack is
    callable as ``attack(model, x, y, target=None, precision="fp32") -> x_adv`` with ``x_adv`` in
    [0, 1] (an :class:`Attack` is one). The factory receives the arguments its signature names."""
    return ATTACKS.register(name)


@contextmanager
def frozen(model: nn.Module):
    """Eval mode and ``requires_grad=False`` on every parameter; both restored on exit."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(was_training)


@dataclass(frozen=True)
class Attack:
    """An L∞ or L2 gradient attack. Build one with :func:`fgsm`, :func:`bim` or :func:`madry`."""

    eps: float
    step_size: float
    steps: int
    random_start: bool = True
    norm: str = "linf"
    method: str = "madry"

    def __post_init__(self):
        if self.norm not in NORMS:
            raise ConfigError(f"unknown norm {self.norm!r}: choose one of {', '.join(NORMS)}")
        if self.eps < 0 or self.step_size < 0 or self.steps < 0:
            raise ConfigError(f"attack budget must be non-negative (eps={self.eps}, "
                              f"step size={self.step_size}, steps={self.steps})")

    def with_budget(self, **changes) -> "Attack":
        return replace(self, **changes)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 target: torch.Tensor | None = None, precision: str = "fp32") -> torch.Tensor:
        """Perturb ``x`` (in [0,1]) against ``model``. ``target`` makes the attack targeted."""
        return perturb(model, x, y, self, target=target, precision=precision)


def crafting_forward(model: nn.Module, precision: str):
    """The model's forward for crafting. In bf16, its parameters and floating buffers are cast
    once per attack call and the model is called with them (``torch.func.functional_call``), under
    autocast as before: autocast does not cache casts of frozen weights, so it would otherwise cast
    every weight again at every step (measured: about a quarter of a LeNet PGD step)."""
    if precision != "bf16":
        return model
    state = {k: v.detach().to(torch.bfloat16) if v.is_floating_point() else v
             for k, v in list(model.named_parameters()) + list(model.named_buffers())}
    return lambda inputs: functional_call(model, state, (inputs.to(torch.bfloat16),))


def perturb(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: Attack,
            target: torch.Tensor | None = None, precision: str = "fp32") -> torch.Tensor:
    """Run ``attack`` on a batch; ``precision='bf16'`` crafts under bf16 autocast."""
    norm = NORMS[attack.norm]
    x = x.detach()
    if attack.steps == 0 or attack.eps == 0:
        return x.clone()
    delta = norm.random_perturb(x, attack.eps) if attack.random_start else torch.zeros_like(x)
    delta = ((x + delta).clamp(0, 1) - x)
    labels, sign = (y, 1.0) if target is None else (target, -1.0)
    with frozen(model):
        forward = crafting_forward(model, precision)
        for _ in range(attack.steps):
            delta.requires_grad_(True)
            with autocast(x.device, precision):
                logits = forward(x + delta)
            loss = F.cross_entropy(logits.float(), labels, reduction="sum")
            (grad,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                delta = norm.project(delta + norm.step(sign * grad, attack.step_size), attack.eps)
                delta = (x + delta).clamp_(0, 1) - x
    return (x + delta).detach()


@register_attack("fgsm")
def fgsm(eps: float, norm: str = "linf") -> Attack:
    """FGSM: a single step of size ε, no random start."""
    return Attack(eps=eps, step_size=eps, steps=1, random_start=False, norm=norm, method="fgsm")


@register_attack("bim")
def bim(eps: float, step_size: float, steps: int, norm: str = "linf") -> Attack:
    """BIM: iterative steps from the clean input."""
    return Attack(eps, step_size, steps, random_start=False, norm=norm, method="bim")


@register_attack("madry")
def madry(eps: float, step_size: float, steps: int, norm: str = "linf") -> Attack:
    """Madry PGD: iterative steps from a uniformly random start in the ε-ball."""
    return Attack(eps, step_size, steps, random_start=True, norm=norm, method="madry")


def budget_json(attack) -> dict:
    """An attack's budget as reports record it; a plug-in attack may lack some of the fields."""
    return {"method": getattr(attack, "method", type(attack).__name__), "eps": getattr(attack, "eps", None),
            "step_size": getattr(attack, "step_size", None), "steps": getattr(attack, "steps", None),
            "norm": getattr(attack, "norm", None)}


def make_attack(method: str, eps: float, step_size: float, steps: int, norm: str = "linf"):
    """The registered attack ``method`` (fgsm, bim, madry or a plug-in's) at this budget."""
    return call_with(ATTACKS.get(method), eps=eps, step_size=step_size, steps=steps, norm=norm)
