"""Adaptive Neural Cleanse (Eq. 11, Figure 5).

A defender who knows that AdvTrojan examples carry both a trigger and a perturbation searches,
for each candidate class y_t, an additive trigger t_p such that triggered inputs stay correct
yet Madry PGD pushes them into y_t:

    t_p = argmin CE(f(A(x + t_p)), y_t) + CE(f(x + t_p), y) + λ·‖t_p‖₂        (Eq. 11, λ = 1)

A is Madry PGD (Table 1 budget) against the frozen model; its perturbation is treated as fixed
when differentiating w.r.t. t_p (as in adversarial training). Then the anomaly index of the
per-class norms ‖t_p‖₂ flags classes as Neural Cleanse does. All candidate classes are
optimised at once, with optional random restarts (the smallest final loss wins per class).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..attacks.pgd import Attack, frozen
from ..data import ImageData
from .. import plots
from ..utils.device import autocast
from .anomaly import THRESHOLD, anomaly_index, flagged
from ..results import DefenseResult
from ..settings import option, positive_int
from .registry import DefenseContext, register_defense


@dataclass(frozen=True)
class AdaptiveNCSettings:
    """Adaptive Neural Cleanse's settings (``--anc-*``)."""

    key: ClassVar[str] = "anc"
    images: int = field(default=500, metadata=option("benign inputs of Eq. 11", parse=positive_int))
    epochs: int = field(default=5, metadata=option("epochs", parse=positive_int))
    batch_size: int = field(default=32, metadata=option("images per step; each is tried with every class's trigger",
                                                        parse=positive_int))
    lr: float = field(default=0.01, metadata=option("Adam learning rate on the triggers"))
    l2_weight: float = field(default=1.0, metadata=option("λ of Eq. 11 on ‖t_p‖₂"))
    restarts: int = field(default=1, metadata=option("random restarts (the smallest final loss wins per class)",
                                                     parse=positive_int))
    init_scale: float = field(default=0.05, metadata=option("scale of the triggers' normal initialisation"))
    precision: str = field(default="fp32", metadata=option("crafting precision; bf16 is faster, for quick looks",
                                                           choices=("fp32", "bf16")))


@dataclass(frozen=True)
class AdaptiveNCData:
    """Figure 5: per class the L2 norm of the trigger Eq. 11 found, its anomaly index and flag."""

    trigger_l2: list[float]
    anomaly_index: list[float]
    flagged: list[bool]
    flagged_classes: list[int]
    final_loss: list[float]
    threshold: float
    restarts: int
    epochs: int
    images: int


def _optimise(model, data, attack, settings, k, device, gen, progress, restart):
    c, h, w = data.spec.shape
    t = (settings.init_scale * torch.randn(k, c, h, w, generator=gen)).to(device).requires_grad_(True)
    opt = torch.optim.Adam([t], lr=settings.lr)
    targets = torch.arange(k, device=device)
    last = torch.zeros(k, device=device)
    for _ in tqdm(range(settings.epochs), desc=f"adaptive neural cleanse (restart {restart + 1})",
                      disable=not progress, unit="epoch"):
        total, seen = torch.zeros(k, device=device), 0
        for x, y in data.batches(settings.batch_size, shuffle=True, generator=gen, device=device):
            b = len(x)
            stamped = (x[None] + t[:, None]).clamp(0, 1).flatten(0, 1)  # (k·b, C, H, W)
            labels = y.repeat(k)
            delta = attack(model, stamped.detach(), labels, precision=settings.precision) - stamped.detach()
            with autocast(x.device, settings.precision):
                logits = model(torch.cat([(stamped + delta).clamp(0, 1), stamped]))
            logits = logits.float()
            to_target = F.cross_entropy(logits[: k * b], targets.repeat_interleave(b), reduction="none")
            keep_true = F.cross_entropy(logits[k * b:], labels, reduction="none")
            per_class = (to_target + keep_true).view(k, b).mean(1) + settings.l2_weight * t.flatten(1).norm(dim=1)
            opt.zero_grad(set_to_none=True)
            per_class.sum().backward()
            opt.step()
            total += per_class.detach() * b
            seen += b
        last = total / seen
    return t.detach(), last


def adaptive_neural_cleanse(model: nn.Module, data: ImageData, attack: Attack,
                            settings: AdaptiveNCSettings = AdaptiveNCSettings(), *, device="cpu",
                            progress: bool = True, seed: int = 0) -> dict:
    """Eq. 11 for every class at once; returns norms, anomaly indices, flags and final losses."""
    k = data.spec.num_classes
    gen = torch.Generator().manual_seed(seed)
    best_t, best_loss = None, None
    with frozen(model):
        for r in range(settings.restarts):
            t, loss = _optimise(model, data, attack, settings, k, device, gen, progress, r)
            if best_t is None:
                best_t, best_loss = t, loss
            else:
                better = loss < best_loss
                best_t[better], best_loss = t[better], torch.where(better, loss, best_loss)
    norms = best_t.flatten(1).norm(dim=1).cpu()
    return {"trigger_l2": norms.tolist(), "anomaly_index": anomaly_index(norms).tolist(),
            "flagged": flagged(norms).tolist(), "flagged_classes": [i for i, f in enumerate(flagged(norms)) if f],
            "final_loss": best_loss.cpu().tolist(), "threshold": THRESHOLD, "restarts": settings.restarts,
            "epochs": settings.epochs, "images": len(data), "_triggers": best_t.cpu()}


@register_defense("adaptive_neural_cleanse", title="Adaptive Neural Cleanse", settings=AdaptiveNCSettings,
                  result=AdaptiveNCData, description="Eq. 11: triggers that let Madry PGD reach each class (Figure 5)")
def adaptive_neural_cleanse_defense(ctx: DefenseContext) -> DefenseResult:
    """Figure 5: Eq. 11 per class on the first ``images`` benign inputs; detected: a class flagged."""
    settings = ctx.options(AdaptiveNCSettings)
    anc_data = ctx.nc_data.subset(torch.arange(min(settings.images, len(ctx.nc_data))))
    r = adaptive_neural_cleanse(ctx.model, anc_data, ctx.attack, settings, device=ctx.device,
                                progress=ctx.progress, seed=ctx.seed)
    r.pop("_triggers")
    data = AdaptiveNCData(**r)
    figs = {}
    if ctx.out_dir:
        figs["adaptive_neural_cleanse_anomaly"] = plots.anomaly_figure(
            data.anomaly_index, data.flagged, ctx.class_names, ctx.figure_path("adaptive_neural_cleanse_anomaly"),
            "Adaptive Neural Cleanse: anomaly index per class (Figure 5)")
    fc = data.flagged_classes
    from .neural_cleanse import small_side_index
    return DefenseResult(verdict=f"flagged {len(fc)}/{len(data.flagged)} {fc}",
                         details=f"max anomaly index {max(data.anomaly_index):.2f}", detected=bool(fc), data=data,
                         figures=figs, model_score=small_side_index(torch.tensor(data.trigger_l2),
                                                                    torch.tensor(data.anomaly_index)))
