"""A user's own defense as a plug-in: ``advtrojan scan RUN --plugin user_defense --defenses max_softmax``.

The max-softmax detector (Hendrycks & Gimpel, 2017): an input whose top softmax probability is
unusually high or low for this model is suspicious. The threshold is set on the clean inputs of
the pool at a 10% false-positive rate on each side; the result says which share of the attacked
inputs falls outside (the detection rate) and the ROC AUC of |p_max - median| as the score.
"""

import torch

from advtrojan.defenses import DefenseResult, register_defense
from advtrojan.defenses.strip import roc_auc


@register_defense("max_softmax", title="Max-softmax detector")
def max_softmax(ctx):
    """Flag inputs whose top softmax probability is outside the clean 5-95% range."""
    with torch.no_grad():
        clean = ctx.model(ctx.x).softmax(1).amax(1).cpu()
        attacked = ctx.model(ctx.attacked).softmax(1).amax(1).cpu()
    lo, hi = torch.quantile(clean, 0.05), torch.quantile(clean, 0.95)
    caught = ((attacked < lo) | (attacked > hi)).float().mean().item()
    median = clean.median()
    auc = roc_auc((clean - median).abs(), (attacked - median).abs())  # negatives, positives
    return DefenseResult(verdict=f"flags {caught:.1%} of {ctx.attacked_label}",
                         details=f"AUC {auc:.3f} at a 10% clean false-positive rate",
                         detected=caught > 0.5,
                         data={"detection_rate": caught, "roc_auc": auc, "clean_range": [lo.item(), hi.item()],
                               "attacked": len(attacked)})
