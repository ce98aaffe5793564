"""Input-level detectors of AdvTrojan examples (ours): masking consistency and two-sided STRIP.

**Masking consistency** (after PatchCleanser's masks, Xiang et al. 2022): an AdvTrojan example needs
both the trigger and the perturbation; on a robust model the perturbation alone does not move the
label, so masking the window that holds the trigger brings the true label back, while a clean input
or a plain adversarial example keeps its prediction under every mask. Each input is shown with each
window of a grid masked (a ``window`` x ``window`` square, ``stride`` apart, filled with
``fill``); its score is the largest drop, over the windows, of the probability of its unmasked
prediction. All masked copies of a batch go through the model in one pass. A full-image (blended)
trigger is not removed by any window: that is the adaptive attacker this detector invites.

With ``masks = "search"`` the one region the robustness-collapse search found
(:mod:`.collapse`) is masked instead of the grid (planning measurement, Fashion-MNIST LeNet: ROC AUC
0.78 against AdvTrojan examples, against 0.56-0.63 with the grid; on a weakly robust ATIM the
perturbation alone already fools the model on most inputs, so the label does not come back).

**Two-sided STRIP**: STRIP's entropy (Gao et al.'s blends, :mod:`.strip`), scored as its distance
to the clean inputs' median, so that inputs more *and* less stable than clean ones are caught
(AdvTrojan examples had higher STRIP entropy than clean inputs on one ATIM and lower on another).

Both set their thresholds on clean inputs only: the first half of the pool's clean inputs fits the
threshold at each target FPR (its empirical quantile), the second half measures the FPR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from ..results import DefenseResult
from ..settings import option, positive_int
from ..stats import roc_auc
from .registry import DefenseContext, register_defense
from .strip import FPRS, StripSettings

FILLS = ("grey", "black", "mean")


@dataclass(frozen=True)
class MaskingSettings:
    """Masking consistency's settings (``--masking-*``)."""

    key: ClassVar[str] = "masking"
    window: int = field(default=6, metadata=option("side of the masked window (pixels)", parse=positive_int))
    stride: int = field(default=3, metadata=option("step between windows (pixels)", parse=positive_int))
    fill: str = field(default="grey", metadata=option("what a window is filled with: grey (0.5), black, or the "
                                                      "image's mean", choices=FILLS))
    masks: str = field(default="grid", metadata=option(
        "grid: every window of the grid; search: the one region the robustness-collapse search found (its mask "
        "above 0.5; needs no knowledge of the trigger, but a robust model)", choices=("grid", "search")))
    batch_size: int = field(default=16, metadata=option("inputs per pass (x the number of windows)",
                                                        parse=positive_int))


@dataclass(frozen=True)
class InputDetection:
    """An input-level detector's numbers: per target FPR the FNR on attacked inputs (threshold from
    clean inputs), the FPR measured on held-out clean inputs, the thresholds; the ROC AUC; the scores."""

    fnr: dict[str, float]
    measured_fpr: dict[str, float]
    threshold: dict[str, float]
    roc_auc: float
    n_clean_fit: int
    n_clean_eval: int
    n_attacked: int
    score_clean: torch.Tensor
    score_attacked: torch.Tensor
    attacked_inputs: str
    windows: int = 0


def windows(shape: tuple[int, int, int], window: int, stride: int) -> torch.Tensor:
    """The masks of the grid: (M, 1, H, W), 1 inside each window (the last row and column of windows
    reach the image's edge)."""
    _, h, w = shape
    tops = sorted(set(list(range(0, max(1, h - window + 1), stride)) + [max(0, h - window)]))
    lefts = sorted(set(list(range(0, max(1, w - window + 1), stride)) + [max(0, w - window)]))
    out = torch.zeros(len(tops) * len(lefts), 1, h, w)
    for i, (t, left) in enumerate((t, left) for t in tops for left in lefts):
        out[i, :, t:t + window, left:left + window] = 1
    return out


@torch.no_grad()
def masking_scores(model: nn.Module, x: torch.Tensor, settings: MaskingSettings = MaskingSettings(),
                   masks: torch.Tensor | None = None) -> torch.Tensor:
    """Each input's largest drop, over the masks (default: the grid's windows; else (M, 1, H, W)),
    of its unmasked prediction's probability."""
    model.eval()
    masks = (windows(tuple(x.shape[1:]), settings.window, settings.stride) if masks is None else masks).to(x.device)
    scores = []
    for chunk in x.split(settings.batch_size):
        p = model(chunk).softmax(1)
        pred = p.argmax(1)
        fill = {"grey": torch.full_like(chunk, 0.5), "black": torch.zeros_like(chunk),
                "mean": chunk.mean((1, 2, 3), keepdim=True).expand_as(chunk)}[settings.fill]
        masked = chunk[:, None] * (1 - masks[None]) + fill[:, None] * masks[None]  # (b, M, C, H, W)
        q = model(masked.flatten(0, 1)).softmax(1).view(len(chunk), len(masks), -1)
        kept = q.gather(2, pred[:, None, None].expand(-1, len(masks), 1))[..., 0]
        scores.append((p.gather(1, pred[:, None]) - kept).amax(1))
    return torch.cat(scores).cpu()


def input_detection(clean: torch.Tensor, attacked: torch.Tensor, label: str, fprs=FPRS) -> InputDetection:
    """Thresholds from the first half of the clean scores (higher = more suspicious), FPR measured on
    the second half, FNR on the attacked inputs, ROC AUC over all clean inputs."""
    half = len(clean) // 2
    fit, held = clean[:half].double(), clean[half:].double()
    out = {"fnr": {}, "measured_fpr": {}, "threshold": {}}
    for fpr in fprs:
        key = f"{round(fpr * 100)}%"
        t = torch.quantile(fit, 1 - fpr).item()
        out["threshold"][key] = t
        out["fnr"][key] = (attacked.double() <= t).double().mean().item()
        out["measured_fpr"][key] = (held > t).double().mean().item()
    return InputDetection(**out, roc_auc=roc_auc(clean, attacked), n_clean_fit=len(fit), n_clean_eval=len(held),
                          n_attacked=len(attacked), score_clean=clean, score_attacked=attacked, attacked_inputs=label)


def input_verdict(r: InputDetection) -> tuple[str, str, bool]:
    fnr = ", ".join(f"{k} {v:.1%}" for k, v in r.fnr.items())
    return f"FNR at FPR {fnr}", f"AUC {r.roc_auc:.3f}", next(iter(r.fnr.values())) < 0.5


@register_defense("masking", title="Masking consistency", settings=MaskingSettings, result=InputDetection,
                  description="the largest drop of an input's prediction when one window is masked (input-level, ours)")
def masking_defense(ctx: DefenseContext) -> DefenseResult:
    s = ctx.options(MaskingSettings)
    masks = windows(tuple(ctx.x.shape[1:]), s.window, s.stride)
    if s.masks == "search":
        from .collapse import search
        found = search(ctx)
        if not found.collapsed:
            why = "no verdict: the collapse search found no region to mask"
            return DefenseResult(verdict=why, skipped=why)
        masks = (found.mask > 0.5).float()[None, None]
    r = input_detection(masking_scores(ctx.model, ctx.x, s, masks), masking_scores(ctx.model, ctx.attacked, s, masks),
                        ctx.attacked_label)
    r = InputDetection(**{**r.__dict__, "windows": len(masks)})
    verdict, details, detected = input_verdict(r)
    return DefenseResult(verdict=verdict, details=details, detected=detected, data=r, input_auc=r.roc_auc)


@register_defense("strip_two_sided", title="Two-sided STRIP", settings=StripSettings, result=InputDetection,
                  description="STRIP's entropy as its distance to the clean median: either side is suspicious (ours)")
def strip_two_sided_defense(ctx: DefenseContext) -> DefenseResult:
    from .strip import _run
    s = ctx.shared("strip", lambda: _run(ctx))  # STRIP's own entropies, computed once per scan
    clean, attacked = s.entropy_clean, s.entropy_attacked
    median = clean[: len(clean) // 2].median()  # from the clean inputs that fit the thresholds
    r = input_detection((clean - median).abs(), (attacked - median).abs(), ctx.attacked_label)
    verdict, details, detected = input_verdict(r)
    return DefenseResult(verdict=verdict, details=details, detected=detected, data=r, input_auc=r.roc_auc)
