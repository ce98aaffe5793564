"""A user's own defense as a plug-in: ``advtrojan scan RUN --plugin user_defense --defenses max_softmax``.

The max-softmax detector (Hendrycks & Gimpel, 2017): an input whose top softmax probability is
unusually high or low for this model is suspicious. The threshold is set on the clean inputs of
the pool at a false-positive rate split over both sides (its own setting, ``--max-softmax-fpr``);
the result says which share of the attacked inputs falls outside (the detection rate) and the ROC
AUC of |p_max - median| as the score. Its settings and its result are its own types, declared at
registration: the command line gets the option, results files rebuild the result.
"""

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from advtrojan.defenses import DefenseResult, register_defense
from advtrojan.defenses.strip import roc_auc
from advtrojan.settings import option


@dataclass(frozen=True)
class MaxSoftmaxSettings:
    """Max-softmax detector"""

    key: ClassVar[str] = "max-softmax"  # its options: --max-softmax-FIELD
    fpr: float = field(default=0.1, metadata=option("clean inputs flagged (the false-positive rate), half on each side"))


@dataclass(frozen=True)
class MaxSoftmaxResult:
    detection_rate: float
    roc_auc: float
    clean_range: list[float]
    attacked: int


@register_defense("max_softmax", title="Max-softmax detector", settings=MaxSoftmaxSettings, result=MaxSoftmaxResult)
def max_softmax(ctx):
    """Flag inputs whose top softmax probability is outside the clean range at the chosen FPR."""
    fpr = ctx.options(MaxSoftmaxSettings).fpr
    with torch.no_grad():
        clean = ctx.model(ctx.x).softmax(1).amax(1).cpu()
        attacked = ctx.model(ctx.attacked).softmax(1).amax(1).cpu()
    lo, hi = torch.quantile(clean, fpr / 2), torch.quantile(clean, 1 - fpr / 2)
    caught = ((attacked < lo) | (attacked > hi)).float().mean().item()
    median = clean.median()
    auc = roc_auc((clean - median).abs(), (attacked - median).abs())  # negatives, positives
    return DefenseResult(verdict=f"flags {caught:.1%} of {ctx.attacked_label}",
                         details=f"AUC {auc:.3f} at a {fpr:.0%} clean false-positive rate",
                         detected=caught > 0.5,
                         data=MaxSoftmaxResult(caught, auc, [lo.item(), hi.item()], len(attacked)))
