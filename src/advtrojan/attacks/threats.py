"""The four kinds of input this field talks about, as one vocabulary.

=================  ===========  ====================================================
kind               notation     what it is
=================  ===========  ====================================================
``BENIGN``         x            a clean input
``ADVERSARIAL``    A(x)         an adversarial example (Madry PGD unless stated)
``TRIGGERED``      x + t        the Trojan trigger alone
``ADVTROJAN``      A(x + t)     the trigger first, then the adversarial perturbation
=================  ===========  ====================================================

Training objectives (Eqs. 4, 5, 9), the evaluation of Table 5 and the defenses all build
their inputs with :func:`craft`, which runs *one* batched attack over every adversarial kind
requested (PGD on clean and triggered inputs together).
"""

from __future__ import annotations

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

    @property
    def triggered(self) -> bool:
        return self in (Threat.TRIGGERED, Threat.ADVTROJAN)

    @property
    def adversarial(self) -> bool:
        return self in (Threat.ADVERSARIAL, Threat.ADVTROJAN)


def craft(kinds: Iterable[Threat], x: torch.Tensor, y: torch.Tensor, *, trigger: Trigger | None = None,
          intensity: float = 1.0, attack: Attack | None = None, model: nn.Module | None = None,
          precision: str = "fp32") -> dict[Threat, torch.Tensor]:
    """Build each requested kind of input from the batch ``(x, y)``.

    All adversarial kinds are crafted in one call of ``attack`` against ``model`` on the
    concatenated batch, each against the true labels ``y`` (untargeted).
    """
    kinds = list(dict.fromkeys(kinds))
    if any(k.triggered for k in kinds) and trigger is None:
        raise ValueError("a trigger is needed for triggered kinds of input")
    if any(k.adversarial for k in kinds) and (attack is None or model is None):
        raise ValueError("an attack and a model are needed for adversarial kinds of input")
    stamped = trigger.stamp(x, intensity) if any(k.triggered for k in kinds) else None
    out = {}
    for k in kinds:
        if not k.adversarial:
            out[k] = stamped if k.triggered else x
    adv = [k for k in kinds if k.adversarial]
    if adv:
        sources = torch.cat([stamped if k.triggered else x for k in adv])
        crafted = attack(model, sources, y.repeat(len(adv)), precision=precision)
        out.update(zip(adv, crafted.split(len(x))))
    return out
