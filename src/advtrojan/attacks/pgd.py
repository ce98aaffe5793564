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

from ..registry import Registry, call_with
from ..utils.device import autocast
from .budget import Budget
from .norms import NORMS

ATTACKS: Registry = Registry("attack")
METHODS = ("fgsm", "bim", "madry")  # the paper's three (Eqs. 1-2, 12-15)


def register_attack(name: str):
    """Register an attack factory ``(budget) -> attack`` (or of any of ``eps``, ``step_size``,
    ``steps``, ``norm``), where an attack is
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
    """An L∞ or L2 gradient attack at a :class:`Budget`. Build one with :func:`fgsm`, :func:`bim`,
    :func:`madry` or :meth:`Budget.attack`."""

    budget: Budget
    random_start: bool = True
    method: str = "madry"
    start: float = 1.0     # the random start's radius, in multiples of ε (N-FGSM: 2)
    project: bool = True   # project onto the ε-ball after each step (N-FGSM: no)

    @property
    def eps(self) -> float:
        return self.budget.eps

    @property
    def step_size(self) -> float:
        return self.budget.step_size

    @property
    def steps(self) -> int:
        return self.budget.steps

    @property
    def norm(self) -> str:
        return self.budget.norm

    def with_budget(self, budget: Budget) -> "Attack":
        return replace(self, budget=budget)

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
    return iterates(model, x, y, attack, (attack.steps,), target=target, precision=precision)[attack.steps]


def iterates(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: Attack, at,
             target: torch.Tensor | None = None, precision: str = "fp32") -> dict[int, torch.Tensor]:
    """The ``attack``'s inputs after each number of steps in ``at`` (each at most ``attack.steps``),
    from one run: PGD with k steps *is* the first k steps of a longer PGD from the same random start,
    so Figure 7's iteration counts cost their largest, not their sum."""
    at = sorted(set(int(k) for k in at))
    if at and not 0 <= at[0] <= at[-1] <= attack.steps:
        raise ValueError(f"iterates at {at}: each must lie in 0..{attack.steps}")
    norm = NORMS[attack.norm]
    x = x.detach()
    if attack.steps == 0 or attack.eps == 0:
        return {k: x.clone() for k in at}
    delta = norm.random_perturb(x, attack.eps * attack.start) if attack.random_start else torch.zeros_like(x)
    delta = ((x + delta).clamp(0, 1) - x)
    labels, sign = (y, 1.0) if target is None else (target, -1.0)
    out = {0: (x + delta).detach()} if 0 in at else {}
    with frozen(model):
        forward = crafting_forward(model, precision)
        for step in range(1, (at[-1] if at else 0) + 1):
            delta.requires_grad_(True)
            with autocast(x.device, precision):
                logits = forward(x + delta)
            loss = F.cross_entropy(logits.float(), labels, reduction="sum")
            (grad,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                delta = delta + norm.step(sign * grad, attack.step_size)
                if attack.project:
                    delta = norm.project(delta, attack.eps)
                delta = (x + delta).clamp_(0, 1) - x
            if step in at:
                out[step] = (x + delta).detach()
    return out


@register_attack("fgsm")
def fgsm(budget: Budget) -> Attack:
    """FGSM: a single step of size ε, no random start (the budget's α and steps are not used)."""
    return Attack(Budget(budget.eps, budget.eps, 1, budget.norm), random_start=False, method="fgsm")


@register_attack("bim")
def bim(budget: Budget) -> Attack:
    """BIM: iterative steps from the clean input."""
    return Attack(budget, random_start=False, method="bim")


@register_attack("madry")
def madry(budget: Budget) -> Attack:
    """Madry PGD: iterative steps from a uniformly random start in the ε-ball."""
    return Attack(budget, random_start=True, method="madry")


@register_attack("fgsm-rs")
def fgsm_rs(budget: Budget, step_ratio: float = 1.25) -> Attack:
    """FGSM with a random start (Wong, Rice & Kolter, *Fast is better than free*, ICLR 2020): a start
    uniform in the ε-ball, one step of α = ``step_ratio``·ε (their 1.25), projected back onto the
    ball and the image range. A training attack: its one step costs a twentieth of Table 1's PGD."""
    return Attack(Budget(budget.eps, step_ratio * budget.eps, 1, budget.norm), random_start=True, method="fgsm-rs")


@register_attack("n-fgsm")
def n_fgsm(budget: Budget, noise: float = 2.0, step_ratio: float = 1.0) -> Attack:
    """N-FGSM (de Jorge et al., *Make some noise*, NeurIPS 2022): a start uniform in ``noise``·ε
    (their k = 2), one step of α = ``step_ratio``·ε (their 1), **not** projected onto the ε-ball (the
    perturbation may reach (k + 1)·ε), only clipped to the image range. A training attack."""
    return Attack(Budget(budget.eps, step_ratio * budget.eps, 1, budget.norm), random_start=True, method="n-fgsm",
                  start=noise, project=False)


def describe(attack) -> dict:
    """An attack as reports record it: its method and budget (a plug-in attack may lack some fields)."""
    budget = getattr(attack, "budget", None)
    values = budget.to_json() if isinstance(budget, Budget) else {
        k: getattr(attack, k, None) for k in ("eps", "step_size", "steps", "norm")}
    return {"method": getattr(attack, "method", type(attack).__name__), **values}


def make_attack(method: str, budget: Budget):
    """The registered attack ``method`` (fgsm, bim, madry or a plug-in's) at ``budget``. A factory
    receives the arguments its signature names among ``budget`` and its ε, α, steps and norm."""
    return call_with(ATTACKS.get(method), budget=budget, **budget.to_json())
