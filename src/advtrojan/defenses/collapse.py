"""The robustness-collapse search: a model-level detector of AdvTrojan-infected models (ours).

Label-targeted trigger inversion (Neural Cleanse, K-Arm, ABS) looks for a class that a small trigger
reaches; an ATIM has none: its backdoor opens only with a perturbation added, and untargeted. What an
ATIM does have is a small region whose content makes a robust model fragile. The search looks for
that region: one mask and one pattern (tanh-parametrised, as Neural Cleanse's), optimised so that

    stamped inputs stay correct          CE(f(s), y),            s = (1 − m)·x + m·p
    PGD on stamped inputs succeeds       RCE(f(A(s)), y)         (Eq. 9's reversed cross-entropy)
    the mask stays small                 cost·‖m‖₁               (Neural Cleanse's adaptive cost)

with A Madry PGD at the scan's budget (fewer steps: the search only needs its direction), treated as
fixed when differentiating (as adaptive Neural Cleanse does). The cost follows Neural Cleanse's
schedule: 0 until PGD succeeds on ``success`` of the stamped inputs for ``patience`` epochs, then
``init_cost``, raised while the collapse holds, lowered while it does not; the smallest mask that
still collapses robustness is kept. An ATIM needs a mask about the size of its trigger; a clean
robust model a large one (planning measurements on Fashion-MNIST: L1 ≈ 9 on an ATIM, 42-62 on
Madry-Adv models).

**Score and calibration.** The model score is the smallest collapsing mask's share of the image,
negated (a larger score: a smaller mask: more suspicious); a model whose robustness never collapsed
scores −1. The verdict compares the share with ``threshold`` (a share of the image), set from clean
models only: the 5th percentile of the clean models of a development population (``zoo scan``
reports the score of every model), so that a clean model is flagged 5% of the time. A model that is
not robust in the first place (PGD accuracy on clean inputs below ``min_robust``) gets no verdict:
collapse is cheap everywhere on it, the search says nothing.

**Trigger match** (input-level, ``collapse_match``): the search also recovers what the collapsing
mask stamps. An AdvTrojan example carries the trigger, moved by at most the attack's budget; a clean
input or a plain adversarial example does not. An input's score is the mask-weighted share of its
pixels within ``match_tolerance`` of the recovered pattern (default 0.5, half the pixel range: nearer
the pattern than its opposite, and larger than any L∞ budget of the paper, so the perturbation cannot
hide the trigger). Thresholds from clean inputs only (:func:`.masking.input_detection`). Planning
measurement (Fashion-MNIST, LeNet, 4k images x 2 epochs): ROC AUC 0.994 on AdvTrojan examples, 0.566
on plain PGD examples; with the absolute distance instead of the share within tolerance, 0.990 and 0.735.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..attacks.pgd import frozen
from ..results import DefenseResult
from ..settings import option, positive_int
from ..training.objectives import reversed_cross_entropy
from ..utils.device import autocast
from .masking import InputDetection, input_detection, input_verdict
from .registry import DefenseContext, register_defense


@dataclass(frozen=True)
class CollapseSettings:
    """The robustness-collapse search's settings (``--collapse-*``)."""

    key: ClassVar[str] = "collapse"
    images: int = field(default=500, metadata=option("clean inputs of the search", parse=positive_int))
    epochs: int = field(default=10, metadata=option("epochs", parse=positive_int))
    batch_size: int = field(default=64, metadata=option("images per step", parse=positive_int))
    lr: float = field(default=0.1, metadata=option("Adam learning rate on the mask and the pattern (Neural "
                                                   "Cleanse's)"))
    pgd_steps: int = field(default=5, metadata=option("PGD steps of the search's attack (α = 2.5ε/steps)",
                                                      parse=positive_int))
    init_cost: float = field(default=1e-3, metadata=option("the L1 cost once robustness collapses"))
    success: float = field(default=0.9, metadata=option("share of stamped inputs PGD must break: a collapse"))
    patience: int = field(default=2, metadata=option("epochs before the cost moves", parse=positive_int))
    threshold: float = field(default=0.03, metadata=option(
        "a collapsing mask smaller than this share of the image is flagged (set it from clean models: the 5th "
        "percentile of their shares)"))
    min_robust: float = field(default=0.2, metadata=option(
        "PGD accuracy on clean inputs below which the model is not robust and gets no verdict"))
    match_tolerance: float = field(default=0.5, metadata=option(
        "trigger match: a pixel within this of the recovered pattern matches it"))
    precision: str = field(default="fp32", metadata=option("precision", choices=("fp32", "bf16")))


@dataclass(frozen=True)
class CollapseData:
    """The search's result: the smallest mask that collapsed robustness, and what it did."""

    mask_l1: float          # the best collapsing mask's L1 norm (pixels); the image's area if none
    share: float            # mask_l1 over the image's area
    collapsed: bool         # whether robustness ever collapsed
    pgd_clean: float        # PGD accuracy on the clean inputs (the model's own robustness)
    pgd_stamped: float      # PGD accuracy on stamped inputs with the best mask
    stamped_clean: float    # accuracy on stamped inputs without PGD (the mask alone does little)
    epochs_run: int
    images: int
    mask: torch.Tensor      # (H, W)
    pattern: torch.Tensor   # (C, H, W): what the mask stamps


def collapse_search(model, data, attack, settings: CollapseSettings, *, device="cpu", progress=True,
                    seed: int = 0) -> CollapseData:
    """Search one mask and pattern that make PGD break ``model`` on stamped inputs (module docstring)."""
    c, h, w = data.spec.shape
    gen = torch.Generator().manual_seed(seed)
    init = torch.atanh((torch.rand(1 + c, h, w, generator=gen) - 0.5) * (2 - 1e-6))
    a = init[:1].clone().to(device).requires_grad_(True)
    b = init[1:].clone().to(device).requires_grad_(True)
    opt = torch.optim.Adam([a, b], lr=settings.lr, betas=(0.5, 0.9))
    search = attack.with_budget(attack.budget.override(steps=settings.pgd_steps,
                                                       step_size=2.5 * attack.eps / settings.pgd_steps))
    cost, up, down, best_l1, best_mask, best_pattern = 0.0, 0, 0, float("inf"), None, None
    held = 0
    epochs_run = 0
    with frozen(model):
        for epoch in tqdm(range(settings.epochs), desc="robustness collapse", disable=not progress, unit="epoch"):
            broken, seen, l1_sum = 0, 0, 0.0
            for x, y in data.batches(settings.batch_size, shuffle=True, generator=gen, device=device):
                m, p = torch.tanh(a) / 2 + 0.5, torch.tanh(b) / 2 + 0.5
                s = (1 - m) * x + m * p
                delta = search(model, s.detach(), y, precision=settings.precision) - s.detach()
                with autocast(x.device, settings.precision):
                    logits = model(torch.cat([s, (s + delta).clamp(0, 1)])).float()
                keep, attacked = logits.split(len(x))
                loss = F.cross_entropy(keep, y) + reversed_cross_entropy(attacked, y) + cost * m.sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                with torch.no_grad():
                    broken += (attacked.argmax(1) != y).sum().item()
                    l1_sum += m.sum().item() * len(x)
                seen += len(x)
            epochs_run = epoch + 1
            rate, l1 = broken / seen, l1_sum / seen
            if rate >= settings.success and l1 < best_l1:
                best_l1 = l1
                best_mask = (torch.tanh(a) / 2 + 0.5).detach().clone()
                best_pattern = (torch.tanh(b) / 2 + 0.5).detach().clone()
            # Neural Cleanse's schedule: 0 until the collapse holds, then up while it holds, down while not
            if cost == 0:
                held = held + 1 if rate >= settings.success else 0
                if held >= settings.patience:
                    cost, up, down = settings.init_cost, 0, 0
                continue
            up, down = (up + 1, 0) if rate >= settings.success else (0, down + 1)
            if up >= settings.patience:
                cost, up = cost * 2.0, 0
            elif down >= settings.patience:
                cost, down = cost / 2.0 ** 1.5, 0
    x, y = data.tensors(device)
    model.eval()
    torch.manual_seed(seed)
    clean_adv = attack(model, x, y)
    with torch.no_grad():
        pgd_clean = (model(clean_adv).argmax(1) == y).float().mean().item()
    collapsed = best_mask is not None
    if collapsed:
        s = (1 - best_mask) * x + best_mask * best_pattern
        with torch.no_grad():
            stamped_clean = (model(s).argmax(1) == y).float().mean().item()
        torch.manual_seed(seed)
        adv = attack(model, s, y)
        with torch.no_grad():
            pgd_stamped = (model(adv).argmax(1) == y).float().mean().item()
    else:
        stamped_clean, pgd_stamped = float("nan"), float("nan")
    area = float(h * w)
    l1 = best_l1 if collapsed else area
    return CollapseData(mask_l1=l1, share=l1 / area, collapsed=collapsed, pgd_clean=pgd_clean,
                        pgd_stamped=pgd_stamped, stamped_clean=stamped_clean, epochs_run=epochs_run, images=len(data),
                        mask=(best_mask[0] if collapsed else torch.zeros(h, w)).cpu(),
                        pattern=(best_pattern if collapsed else torch.zeros(c, h, w)).cpu())


def search(ctx: DefenseContext) -> CollapseData:
    """The scan's one collapse search (the model-level verdict and the trigger match share it)."""
    s = ctx.options(CollapseSettings)
    data = ctx.nc_data.subset(torch.arange(min(s.images, len(ctx.nc_data))))
    return ctx.shared("collapse", lambda: collapse_search(ctx.model, data, ctx.attack, s, device=ctx.device,
                                                          progress=ctx.progress, seed=ctx.seed))


def _unfit(r: CollapseData, s: CollapseSettings) -> str | None:
    """Why the search gives no verdict on this model, or None."""
    if r.pgd_clean < s.min_robust:
        return f"no verdict: not robust (PGD accuracy {r.pgd_clean:.1%} < {s.min_robust:.0%})"
    return None


def trigger_match(x: torch.Tensor, mask: torch.Tensor, pattern: torch.Tensor, tolerance: float) -> torch.Tensor:
    """Each input's mask-weighted share of pixels within ``tolerance`` of ``pattern`` (higher: more
    like the recovered trigger). ``mask`` (H, W), ``pattern`` (C, H, W), ``x`` (N, C, H, W)."""
    w = mask.to(x.device)
    near = ((x - pattern.to(x.device)).abs() <= tolerance).float().mean(1)  # (N, H, W), over channels
    return ((near * w).sum((1, 2)) / w.sum().clamp_min(1e-12)).cpu()


@register_defense("collapse", title="Robustness collapse", settings=CollapseSettings, result=CollapseData,
                  description="the smallest mask whose content makes PGD break a robust model (model-level, ours)")
def collapse_defense(ctx: DefenseContext) -> DefenseResult:
    """Model-level: flagged when a mask smaller than ``threshold`` of the image collapses the model's
    robustness; no verdict on a model that is not robust to begin with."""
    s, r = ctx.options(CollapseSettings), search(ctx)
    if (why := _unfit(r, s)) is not None:
        return DefenseResult(verdict=why, details="collapse is cheap everywhere on a model that is not robust", data=r)
    detected = r.collapsed and r.share < s.threshold
    return DefenseResult(
        verdict=(f"flagged: a mask of {r.mask_l1:.1f} px ({r.share:.1%} of the image) collapses robustness"
                 if detected else f"not flagged: the smallest collapsing mask is {r.share:.1%} of the image"),
        details=f"PGD accuracy {r.pgd_clean:.1%} clean, {r.pgd_stamped:.1%} stamped", detected=detected, data=r,
        model_score=-r.share)


@register_defense("collapse_match", title="Trigger match", settings=CollapseSettings, result=InputDetection,
                  description="how much of the robustness-collapse search's trigger an input carries (input-level, ours)")
def collapse_match_defense(ctx: DefenseContext) -> DefenseResult:
    """Input-level: flags inputs that carry the trigger the collapse search recovered; no verdict
    where the search gives none (a model not robust, or no collapsing mask)."""
    s, r = ctx.options(CollapseSettings), search(ctx)
    why = _unfit(r, s) or (None if r.collapsed else "no verdict: robustness never collapsed, no trigger to match")
    if why is not None:
        return DefenseResult(verdict=why, details="the trigger match needs the collapse search's trigger", skipped=why)
    score = lambda x: trigger_match(x, r.mask, r.pattern, s.match_tolerance)  # noqa: E731
    d = input_detection(score(ctx.x), score(ctx.attacked), ctx.attacked_label)
    verdict, details, detected = input_verdict(d)
    return DefenseResult(verdict=verdict, details=details, detected=detected, data=d, input_auc=d.roc_auc)
