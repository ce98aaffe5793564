"""The four kinds of input this field talks about, as one vocabulary.

=================  ===========  ====================================================
kind               notation     what it is
=================  ===========  ====================================================
``BENIGN``         x            a clean input
``ADVERSARIAL``    A(x)         an adversarial example (Madry PGD unless stated)
``TRIGGERED``      x + t        the Trojan trigger alone
``ADVTROJAN``      A(x + t)     the trigger first, then the adversarial perturbation
``TARGETED``       Aₜ(x + t)    the trigger, then a perturbation *towards the target
                                class* (TrojanNN*, Evil Twins: a smaller trigger suffices)
=================  ===========  ====================================================

Training objectives (Eqs. 4, 5, 9), the evaluation of Table 5 and the defenses all build
their inputs with :func:`craft`, which runs *one* batched attack over every adversarial kind
requested (PGD on clean and triggered inputs together); the targeted kind is crafted in a second
call, towards the target label. :class:`AttackerInput` names what an attacker sends to a model (the
kind, its intensity, budget and target), so evaluation and every defense build the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Iterable

import torch
from torch import nn

from .pgd import Attack
from .trigger import Trigger


class Threat(str, Enum):
    BENIGN = "benign"
    ADVERSARIAL = "adversarial"
    TRIGGERED = "triggered"
    ADVTROJAN = "advtrojan"
    TARGETED = "targeted"

    @property
    def triggered(self) -> bool:
        return self in (Threat.TRIGGERED, Threat.ADVTROJAN, Threat.TARGETED)

    @property
    def adversarial(self) -> bool:
        return self in (Threat.ADVERSARIAL, Threat.ADVTROJAN, Threat.TARGETED)

    @property
    def targeted(self) -> bool:
        return self is Threat.TARGETED

    @property
    def label(self) -> str:
        """How reports name these inputs."""
        return {Threat.BENIGN: "benign inputs", Threat.ADVERSARIAL: "adversarial examples",
                Threat.TRIGGERED: "triggered inputs", Threat.ADVTROJAN: "AdvTrojan examples",
                Threat.TARGETED: "triggered inputs perturbed towards the target"}[self]


def craft(kinds: Iterable[Threat], x: torch.Tensor, y: torch.Tensor, *, trigger: Trigger | None = None,
          intensity: float = 1.0, attack: Attack | None = None, model: nn.Module | None = None,
          precision: str = "fp32", target: int | None = None) -> dict[Threat, torch.Tensor]:
    """Build each requested kind of input from the batch ``(x, y)``.

    The untargeted adversarial kinds are crafted in one call of ``attack`` against ``model`` on
    the concatenated batch, each against the true labels ``y``; ``TARGETED`` in a call of its own
    that descends the cross-entropy of ``target``.
    """
    kinds = list(dict.fromkeys(kinds))
    if any(k.triggered for k in kinds) and trigger is None:
        raise ValueError("a trigger is needed for triggered kinds of input")
    if any(k.adversarial for k in kinds) and (attack is None or model is None):
        raise ValueError("an attack and a model are needed for adversarial kinds of input")
    if Threat.TARGETED in kinds and target is None:
        raise ValueError("a target label is needed for targeted inputs")
    stamped = trigger.stamp(x, intensity) if any(k.triggered for k in kinds) else None
    out = {}
    for k in kinds:
        if not k.adversarial:
            out[k] = stamped if k.triggered else x
    adv = [k for k in kinds if k.adversarial and not k.targeted]
    if adv:
        sources = torch.cat([stamped if k.triggered else x for k in adv])
        crafted = attack(model, sources, y.repeat(len(adv)), precision=precision)
        out.update(zip(adv, crafted.split(len(x))))
    if Threat.TARGETED in kinds:
        out[Threat.TARGETED] = attack(model, stamped, y, target=torch.full_like(y, target), precision=precision)
    return out


@dataclass(frozen=True)
class AttackerInput:
    """What an attacker sends to a model: inputs of ``kind``, the trigger at ``intensity``, crafted
    with ``attack`` (adversarial kinds) towards ``target`` (the targeted kind; it is also the label
    whose success rate a poisoning attack reports)."""

    kind: Threat
    intensity: float
    attack: Attack | None = None
    target: int | None = None

    def __post_init__(self):
        if self.kind.adversarial and self.attack is None:
            raise ValueError(f"{self.kind.label} need an attack")
        if self.kind.targeted and self.target is None:
            raise ValueError(f"{self.kind.label} need a target label")

    @property
    def label(self) -> str:
        return self.kind.label

    def make(self, x: torch.Tensor, y: torch.Tensor, trigger: Trigger, model: nn.Module,
             precision: str = "fp32") -> torch.Tensor:
        return craft([self.kind], x, y, trigger=trigger, intensity=self.intensity, attack=self.attack, model=model,
                     precision=precision, target=self.target)[self.kind]
