"""STRIP (Gao et al. 2019) and ensemble STRIP, E-STRIP (Evil Twins; Table 3 and Table 4).

Each input is blended with each of N = 100 reserved clean test inputs (kept out of every
evaluation). The score of an input is the **mean over its N blends of the Shannon entropy of
each blend's predicted class distribution** (entropy across classes, per blend; then the mean
over blends). A Trojan trigger survives blending and keeps the prediction fixed, so triggered
inputs have *low* entropy. The threshold comes from clean inputs only: the ``fpr`` quantile of
their entropies; an input is flagged when its entropy is below it.

E-STRIP stamps a Neural-Cleanse-recovered trigger on the reserved inputs first, then runs STRIP.

All blends of a batch of inputs go through the model in one forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..attacks.trigger import Trigger
from ..utils.device import autocast

FPRS = (0.10, 0.05, 0.02)


@dataclass
class StripSettings:
    n_reserved: int = 100
    alpha: float = 0.5        # blend weight of the input: alpha·x + (1 − alpha)·reserved
    batch_size: int = 10      # inputs per forward pass (x n_reserved blends: ~1000 images, cache-sized)
    precision: str = "fp32"


@torch.no_grad()
def strip_entropy(model: nn.Module, inputs: torch.Tensor, reserved: torch.Tensor,
                  settings: StripSettings = StripSettings()) -> torch.Tensor:
    """The STRIP score of each input: mean over blends of the entropy across classes."""
    model.eval()
    scores = []
    n = len(reserved)
    for chunk in inputs.split(settings.batch_size):
        blends = settings.alpha * chunk[:, None] + (1 - settings.alpha) * reserved[None]  # (b, N, C, H, W)
        with autocast(chunk.device, settings.precision):
            logits = model(blends.flatten(0, 1))
        logp = logits.float().log_softmax(1)
        entropy = -(logp.exp() * logp).sum(1)  # per blend, across classes
        scores.append(entropy.view(len(chunk), n).mean(1))
    return torch.cat(scores)


def roc_auc(negatives: torch.Tensor, positives: torch.Tensor) -> float:
    """AUC of "positive has the higher score" (Mann-Whitney U, ties count half)."""
    neg, pos = negatives.double().flatten(), positives.double().flatten()
    allv = torch.cat([neg, pos])
    order = allv.argsort()
    ranks = torch.empty_like(allv)
    ranks[order] = torch.arange(1, len(allv) + 1, dtype=allv.dtype)
    for v in allv.unique():  # average ranks of ties
        tie = allv == v
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    u = ranks[len(neg):].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(neg) * len(pos)))


def detection_report(clean_fit: torch.Tensor, clean_eval: torch.Tensor, attacked: torch.Tensor,
                     fprs=FPRS) -> dict:
    """FNR at each target FPR (threshold from ``clean_fit`` only), measured FPR on held-out
    ``clean_eval``, and ROC AUC; low entropy means "trojaned"."""
    out = {"fnr": {}, "measured_fpr": {}, "threshold": {}}
    for fpr in fprs:
        threshold = torch.quantile(clean_fit.double(), fpr).item()
        key = f"{round(fpr * 100)}%"
        out["threshold"][key] = threshold
        out["fnr"][key] = (attacked.double() >= threshold).double().mean().item()
        out["measured_fpr"][key] = (clean_eval.double() < threshold).double().mean().item()
    out["roc_auc"] = roc_auc(-clean_eval, -attacked)
    out["n_clean_fit"], out["n_clean_eval"], out["n_attacked"] = len(clean_fit), len(clean_eval), len(attacked)
    return out


def strip(model: nn.Module, reserved: torch.Tensor, clean: torch.Tensor, attacked: torch.Tensor,
          settings: StripSettings = StripSettings(), trigger: Trigger | None = None) -> dict:
    """STRIP (or E-STRIP when ``trigger`` is given) on ``attacked`` vs ``clean`` inputs.

    ``clean`` is split in two halves: the first sets the thresholds, the second measures FPR.
    Returns the report plus the entropies (for histograms).
    """
    if trigger is not None:
        reserved = trigger.to(reserved.device).stamp(reserved, 1.0)
    clean_scores = strip_entropy(model, clean, reserved, settings)
    attacked_scores = strip_entropy(model, attacked, reserved, settings)
    half = len(clean_scores) // 2
    report = detection_report(clean_scores[:half], clean_scores[half:], attacked_scores)
    report["entropy_clean"] = clean_scores.tolist()
    report["entropy_attacked"] = attacked_scores.tolist()
    return report
