"""A model that learned nothing gets no verdict.

Adversarial training at a large budget from random weights can sit at chance: the cross-entropy
stays at ln K (the uniform prediction over K classes) and the model predicts one class. A defense's
"detected" or "missed" on such a constant classifier means nothing, and neither does its accuracy
on attacked inputs. Two checks, each defined once here:

- **stalled training** (:func:`stalled`): every cross-entropy term of an epoch within
  ``LOSS_TOLERANCE`` (relative) of ln K;
- **a model at chance** (:func:`at_chance`): its benign accuracy less than ``MARGIN`` of the way
  from the chance level (the largest class's share of the labels: what a constant classifier
  scores) to 100%. On 10 balanced classes: below 19%.
"""

from __future__ import annotations

import math

import torch

LOSS_TOLERANCE = 0.01  # relative: a cross-entropy within 1% of ln K is the uniform prediction
MARGIN = 0.1           # share of the way from chance to perfect accuracy a model must go


def chance_level(labels: torch.Tensor, num_classes: int) -> float:
    """The accuracy of the best constant classifier on ``labels``: the largest class's share."""
    if len(labels) == 0:
        return 1.0 / num_classes
    return torch.bincount(labels.flatten().cpu(), minlength=num_classes).max().item() / len(labels)


def at_chance(accuracy: float, chance: float) -> bool:
    """Whether ``accuracy`` is no clear step above ``chance`` (see the module docstring)."""
    return accuracy < chance + MARGIN * (1 - chance)


def stalled(parts: dict[str, float], num_classes: int) -> bool:
    """Whether every cross-entropy term of an epoch (``{kind}_cross_entropy`` means, as the
    training loop records them) sits at ln K."""
    from .attacks.threats import Threat
    names = {f"{kind.value}_cross_entropy" for kind in Threat}
    ce = [v for k, v in parts.items() if k in names]
    chance = math.log(num_classes)
    return bool(ce) and all(abs(v - chance) <= LOSS_TOLERANCE * chance for v in ce)


def chance_note(accuracy: float, chance: float) -> str:
    """The one line that replaces a verdict on a model at chance."""
    return (f"no verdict: the model is at chance on clean inputs (accuracy {accuracy:.1%}, a constant "
            f"classifier scores {chance:.1%}); it learned nothing to judge")
