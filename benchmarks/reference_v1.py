"""The crafting step as it stood before the speed work (advtrojan commit 74d5c18), kept as a
reference for benchmarks: PGD under bf16 autocast with the model's own (frozen) parameters, so
autocast casts every weight to bf16 again at every step. Not used by the package."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from advtrojan.attacks.norms import NORMS
from advtrojan.attacks.pgd import frozen
from advtrojan.utils.device import autocast


def perturb_v1(model, x, y, attack, precision="fp32"):
    norm = NORMS[attack.norm]
    x = x.detach()
    delta = norm.random_perturb(x, attack.eps) if attack.random_start else torch.zeros_like(x)
    delta = ((x + delta).clamp(0, 1) - x)
    with frozen(model):
        for _ in range(attack.steps):
            delta.requires_grad_(True)
            with autocast(x.device, precision):
                logits = model(x + delta)
            loss = F.cross_entropy(logits.float(), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                delta = norm.project(delta + norm.step(grad, attack.step_size), attack.eps)
                delta = (x + delta).clamp_(0, 1) - x
    return (x + delta).detach()


class V1Attack:
    """Callable like an :class:`advtrojan.attacks.Attack`, crafting with :func:`perturb_v1`."""

    def __init__(self, attack):
        self.attack = attack

    def __call__(self, model, x, y, target=None, precision="fp32"):
        return perturb_v1(model, x, y, self.attack, precision)


class TorchattacksPGD:
    """torchattacks' PGD (inputs only, no parameter gradients) behind the same call, in the
    precision asked for (bf16: the model's forward under autocast)."""

    def __init__(self, attack):
        self.attack = attack

    def __call__(self, model, x, y, target=None, precision="fp32"):
        import torchattacks

        class Cast(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, inp):
                with autocast(inp.device, precision):
                    return self.inner(inp).float()

        with frozen(model):
            a = self.attack
            return torchattacks.PGD(Cast(model), eps=a.eps, alpha=a.step_size, steps=a.steps, random_start=True)(x, y)
