"""IMC for one input (Evil Twins, Pang et al. CCS 2020, Section 3): an adversarial input and a
trojaned model, co-optimised until the model gives the input the target class with a chosen
confidence.

The attacker minimises the adversary's loss on the perturbed input plus a penalty on the input
perturbation (here: the hard constraint of the attack budget, ε in the attack's norm, as PGD
keeps it) plus a penalty on how far the model's behaviour moves (the cross-entropy of clean
training inputs on their own labels). Each round alternates

1. an **input step**: ``attack.steps`` targeted PGD steps of size ``attack.step_size`` on the
   input, from where it stands, projected back into the ε-ball around the original input, with
   the model frozen;
2. a **model step**: up to ``model_steps`` Adam steps on
   ``CE(f(x*), target) + CE(f(clean batch), labels)``, ending once the confidence is reached;

and stops as soon as ``P(target | x*) ≥ confidence`` (TrojanZoo's IMC stops each input's
optimisation at a target confidence in the same way), or after ``rounds`` rounds. This is the
per-input variant of the IMC objective of ``advtrojan train --objective imc``, which shares one
trigger across inputs. API only: ``imc_per_input(model, x, target, attack, clean)``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks.norms import NORMS
from ..attacks.pgd import Attack, frozen
from ..errors import ConfigError


@dataclass(frozen=True)
class IMCInputSettings:
    confidence: float = 0.9  # stop once the model gives x* the target with this probability
    rounds: int = 60         # at most this many input-step / model-step rounds
    model_steps: int = 5     # Adam steps on the model per round
    lr: float = 3e-5         # the model step's learning rate. Measured on a Fashion-MNIST LeNet, 4 inputs at
                             # eps 0.02: clean accuracy lost 0.6-5.4 points at Adam 3e-5 (14-19 rounds),
                             # 1.0-6.8 at 1e-4, 14 at 1e-3; SGD 0.01: 7.7-34 (one input's gradient dominates)
    batch_size: int = 64     # clean training inputs per model step (the behaviour penalty)
    optimizer: str = "adam"  # of the model step: "adam" or "sgd"

    def validate(self) -> "IMCInputSettings":
        if not (isinstance(self.confidence, (int, float)) and math.isfinite(self.confidence)
                and 0 < self.confidence < 1):
            raise ConfigError(f"IMC confidence must lie in (0, 1), got {self.confidence!r}")
        for name in ("rounds", "model_steps", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"IMC setting {name} must be an integer >= 1, got {v!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"IMC optimizer must be adam or sgd, got {self.optimizer!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"IMC lr must be a positive number, got {self.lr!r}")
        return self


@dataclass
class IMCInputResult:
    x_adv: torch.Tensor       # the adversarial input (1, C, H, W), within the budget around x
    model: nn.Module          # the trojaned copy of the model (the original is untouched)
    rounds: int               # rounds run
    confidence: float         # P(target | x_adv) under the trojaned model at the end
    succeeded: bool           # confidence reached


def imc_per_input(model: nn.Module, x: torch.Tensor, target: int, attack: Attack, clean, *,
                  settings: IMCInputSettings = IMCInputSettings(), seed: int = 0) -> IMCInputResult:
    """Co-optimise one input ``x`` ((C, H, W) or (1, C, H, W), in [0, 1]) and a copy of ``model``
    so that the copy classifies the perturbed input as ``target``. ``clean`` is an
    :class:`~advtrojan.data.ImageData` of training inputs for the behaviour penalty."""
    settings.validate()
    x = x.detach().reshape(1, *x.shape[-3:])
    if not 0 <= target < clean.spec.num_classes:
        raise ConfigError(f"IMC target {target} outside 0..{clean.spec.num_classes - 1}")
    device = x.device
    norm = NORMS[attack.norm]
    trojaned = copy.deepcopy(model).to(device)
    optimizer = (torch.optim.Adam(trojaned.parameters(), lr=settings.lr) if settings.optimizer == "adam"
                 else torch.optim.SGD(trojaned.parameters(), lr=settings.lr))
    gen = torch.Generator().manual_seed(seed)
    want = torch.tensor([target], device=device)
    delta = torch.zeros_like(x)
    confidence, rounds = _confidence(trojaned, x, want), 0
    while confidence < settings.confidence and rounds < settings.rounds:
        rounds += 1
        with frozen(trojaned):  # input step: targeted PGD from where the input stands
            for _ in range(attack.steps):
                delta.requires_grad_(True)
                loss = F.cross_entropy(trojaned(x + delta), want)
                (grad,) = torch.autograd.grad(loss, delta)
                with torch.no_grad():
                    delta = norm.project(delta + norm.step(-grad, attack.step_size), attack.eps)
                    delta = (x + delta).clamp_(0, 1) - x
        x_adv = (x + delta).detach()
        confidence = _confidence(trojaned, x_adv, want)
        if confidence >= settings.confidence:  # the input step alone sufficed: an adversarial example
            break
        trojaned.train()  # model step: the adversary's loss plus the behaviour penalty
        for _ in range(settings.model_steps):
            index = torch.randint(len(clean), (settings.batch_size,), generator=gen)
            cx, cy = clean.subset(index).tensors(device)
            loss = F.cross_entropy(trojaned(x_adv), want) + F.cross_entropy(trojaned(cx), cy)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            confidence = _confidence(trojaned, x_adv, want)
            if confidence >= settings.confidence:  # no more model change than needed
                break
    trojaned.eval()
    return IMCInputResult((x + delta).detach(), trojaned, rounds, confidence, confidence >= settings.confidence)


@torch.no_grad()
def _confidence(model: nn.Module, x: torch.Tensor, want: torch.Tensor) -> float:
    model.eval()
    return model(x).softmax(1)[0, want[0]].item()
