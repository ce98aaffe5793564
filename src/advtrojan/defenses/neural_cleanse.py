"""Neural Cleanse (Wang et al. 2019) as the AdvTrojan paper runs it (Table 2, Appendix F).

For every class k, reverse-engineer a trigger (mask m_k, pattern p_k), with
``m = tanh(a)/2 + 1/2`` (one mask shared by all channels) and ``p = tanh(b)/2 + 1/2``:

    minimise  CE(f((1 − m_k)·x + m_k·p_k), k) + cost_k · ‖m_k‖₁

with the original method's adaptive cost (the authors' ``visualizer.py``): the cost starts at
**0** (``reset_cost_to_zero``), so the trigger first learns to reach the target at all; once the
attack success rate (ASR) has been ≥ 0.99 for ``patience`` consecutive epochs it is set to
``init_cost`` = 1e-3 and the up/down counters restart. From then on, ``patience`` epochs at
≥ 0.99 raise it ×2, ``patience`` epochs below lower it ÷2^1.5 (the multiplier of the authors'
run script). Early stopping when the best norm has not improved for 5·patience epochs after the
cost went both up and down. The
**best mask that still reaches the threshold** is kept, not the last one.

All classes are optimised **at once as one batched problem**: the K triggers form one tensor,
each batch of images is stamped with all K triggers and goes through the frozen model in one
pass; costs, counters and early stopping are per-class tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..attacks.pgd import frozen
from ..attacks.trigger import Trigger
from ..data import ImageData
from .. import plots
from ..utils.device import autocast
from .anomaly import THRESHOLD, anomaly_index, flagged
from ..results import DefenseResult
from ..settings import option, positive_int
from .registry import DefenseContext, register_defense


@dataclass(frozen=True)
class NCSettings:
    """Neural Cleanse's settings (``--nc-*``); the defaults are the authors' code's where it has one."""

    key: ClassVar[str] = "nc"
    images: int | None = field(default=2000, metadata=option(
        "benign inputs to reverse-engineer triggers on (None: every test input not reserved, as the paper)",
        parse=positive_int))
    epochs: int = field(default=20, metadata=option("epochs (the paper runs 100; early stopping usually ends sooner)",
                                                   parse=positive_int))
    batch_size: int = field(default=64, metadata=option("images per step, each stamped with every class's trigger",
                                                        parse=positive_int))
    lr: float = field(default=0.1, metadata=option("Adam learning rate"))
    init_cost: float = field(default=1e-3, metadata=option("the L1 cost once the attack success holds"))
    reset_cost_to_zero: bool = field(default=True, metadata=option(
        "start at cost 0 and set the initial cost once the attack success holds, as the authors' code"))
    asr_threshold: float = field(default=0.99, metadata=option("attack success a trigger must reach"))
    patience: int = field(default=5, metadata=option("epochs before the cost moves", parse=positive_int))
    # the values the authors ran (gtsrb_visualize_example.py; the class defaults differ: 1.5, 0.99)
    cost_up: float = field(default=2.0, metadata=option("cost multiplier up"))
    cost_down: float = field(default=2.0 ** 1.5, metadata=option("cost divisor down"))
    early_stop_patience: int = field(default=25, metadata=option("epochs without a better norm before stopping "
                                                                 "(5 x patience)"))
    early_stop_ratio: float = field(default=1.0, metadata=option("stop once the best norm has not improved below "
                                                                 "this share of the best"))
    precision: str = field(default="fp32", metadata=option("precision; bf16 is faster, for quick looks",
                                                           choices=("fp32", "bf16")))


@dataclass
class NCResult:
    """Per-class recovered triggers and the Table 2 verdict."""

    masks: torch.Tensor     # (K, 1, H, W), the best successful masks
    patterns: torch.Tensor  # (K, C, H, W)
    l1: torch.Tensor        # (K,) L1 norm of each mask (inf where the threshold was never reached)
    asr: torch.Tensor       # (K,) attack success of each kept trigger
    index: torch.Tensor     # (K,) anomaly index
    flagged: torch.Tensor   # (K,) bool
    epochs_run: int = 0
    extra: dict = field(default_factory=dict)

    def trigger(self, k: int) -> Trigger:
        return Trigger(self.masks[k].cpu(), self.patterns[k].cpu())

    def to_dict(self) -> dict:
        return {"mask_l1": self.l1.tolist(), "attack_success": self.asr.tolist(),
                "anomaly_index": self.index.tolist(), "flagged": self.flagged.tolist(),
                "flagged_classes": [k for k, f in enumerate(self.flagged.tolist()) if f],
                "threshold": THRESHOLD, "epochs_run": self.epochs_run, **self.extra}


def _stamp_all(x: torch.Tensor, masks: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
    """Every image of x (B, C, H, W) stamped with every trigger: (K·B, C, H, W), class-major."""
    out = (1 - masks[:, None]) * x[None] + masks[:, None] * patterns[:, None]
    return out.flatten(0, 1)


def neural_cleanse(model: nn.Module, data: ImageData, settings: NCSettings = NCSettings(), *,
                   classes: list[int] | None = None, device="cpu", progress: bool = True, seed: int = 0) -> NCResult:
    """Reverse-engineer a trigger for each class of ``classes`` (default: all), all at once."""
    spec = data.spec
    ks = list(range(spec.num_classes)) if classes is None else list(classes)
    k, (c, h, w) = len(ks), spec.shape
    gen = torch.Generator().manual_seed(seed)  # data order
    # as the original: mask and pattern uniform in [0, 1], mapped to tanh space; drawn per class,
    # so that the batched problem and a class-by-class run start from the same point
    inits = [torch.rand(1 + c, h, w, generator=torch.Generator().manual_seed(seed * 1000 + cls)) for cls in ks]
    init = torch.atanh((torch.stack(inits) - 0.5) * (2 - 1e-6))
    mask_p = init[:, :1].clone().to(device).requires_grad_(True)
    pat_p = init[:, 1:].clone().to(device).requires_grad_(True)
    opt = torch.optim.Adam([mask_p, pat_p], lr=settings.lr, betas=(0.5, 0.9))
    targets = torch.tensor(ks, device=device)
    cost = torch.full((k,), 0.0 if settings.reset_cost_to_zero else settings.init_cost, device=device)
    set_n = torch.zeros(k, device=device)  # epochs at the ASR threshold while the cost is still 0
    cost_set_at = torch.zeros(k, dtype=torch.long, device=device)  # epoch at which the cost left 0 (0: never)
    best_l1 = torch.full((k,), float("inf"), device=device)
    best_asr = torch.zeros(k, device=device)
    best_mask = torch.zeros(k, 1, h, w, device=device)
    best_pat = torch.zeros(k, c, h, w, device=device)
    up_n, down_n = torch.zeros(k, device=device), torch.zeros(k, device=device)
    went_up, went_down = torch.zeros(k, dtype=torch.bool, device=device), torch.zeros(k, dtype=torch.bool, device=device)
    stop_n = torch.zeros(k, device=device)
    stop_ref = torch.full((k,), float("inf"), device=device)
    active = torch.ones(k, dtype=torch.bool, device=device)
    epochs_run = 0
    with frozen(model):
        bar = tqdm(range(settings.epochs), desc="neural cleanse", disable=not progress, unit="epoch")
        for epoch in bar:
            hits = torch.zeros(k, device=device)
            l1_sum = torch.zeros(k, device=device)
            seen = 0
            live = active.nonzero().flatten()  # early-stopped classes leave the batch
            for x, _ in data.batches(settings.batch_size, shuffle=True, generator=gen, device=device):
                mask = torch.tanh(mask_p[live]) / 2 + 0.5
                pattern = torch.tanh(pat_p[live]) / 2 + 0.5
                with autocast(x.device, settings.precision):
                    logits = model(_stamp_all(x, mask, pattern))
                ce = F.cross_entropy(logits.float(), targets[live].repeat_interleave(len(x)), reduction="none")
                l1 = mask.flatten(1).sum(1)
                loss = ce.view(len(live), -1).mean(1) + cost[live] * l1
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()
                opt.step()
                with torch.no_grad():
                    hits[live] += (logits.argmax(1).view(len(live), -1) == targets[live, None]).float().sum(1)
                    l1_sum[live] += l1.detach() * len(x)
                seen += len(x)
            epochs_run = epoch + 1
            with torch.no_grad():
                asr, l1_avg = hits / seen, l1_sum / seen
                mask, pattern = torch.tanh(mask_p) / 2 + 0.5, torch.tanh(pat_p) / 2 + 0.5
                better = active & (asr >= settings.asr_threshold) & (l1_avg < best_l1)
                best_l1 = torch.where(better, l1_avg, best_l1)
                best_asr = torch.where(better, asr, best_asr)
                best_mask[better], best_pat[better] = mask[better], pattern[better]
                # early stopping (original: on the best norm, after the cost went both up and down)
                stalled = torch.isfinite(best_l1) & (best_l1 >= settings.early_stop_ratio * stop_ref)
                stop_n = torch.where(stalled, stop_n + 1, torch.zeros_like(stop_n))
                stop_ref = torch.minimum(stop_ref, best_l1)
                done = went_up & went_down & (stop_n >= settings.early_stop_patience)
                active &= ~done
                # adaptive cost; first, a cost still at 0 is set to init_cost after `patience` good epochs
                ok = asr >= settings.asr_threshold
                zero = cost == 0
                set_n = torch.where(zero & ok, set_n + 1, torch.zeros_like(set_n))
                start = zero & (set_n >= settings.patience)
                cost = torch.where(start, torch.full_like(cost, settings.init_cost), cost)
                cost_set_at = torch.where(start, torch.full_like(cost_set_at, epoch + 1), cost_set_at)
                up_n = torch.where(start, torch.zeros_like(up_n), up_n)
                down_n = torch.where(start, torch.zeros_like(down_n), down_n)
                went_up &= ~start
                went_down &= ~start
                up_n = torch.where(ok, up_n + 1, torch.zeros_like(up_n))
                down_n = torch.where(ok, torch.zeros_like(down_n), down_n + 1)
                raise_ = up_n >= settings.patience
                lower = (down_n >= settings.patience) & ~raise_
                cost = torch.where(raise_, cost * settings.cost_up, cost)
                cost = torch.where(lower, cost / settings.cost_down, cost)
                went_up |= raise_
                went_down |= lower
                up_n = torch.where(raise_, torch.zeros_like(up_n), up_n)
                down_n = torch.where(lower, torch.zeros_like(down_n), down_n)
            bar.set_postfix(active=int(active.sum()), asr=f"{asr.mean():.2f}", l1=f"{l1_avg.mean():.1f}")
            if not active.any():
                break
    l1 = best_l1.cpu()
    # a class whose trigger never reached the threshold: its last trigger, reported with its norm
    never = ~torch.isfinite(best_l1)
    if never.any():
        best_mask[never], best_pat[never] = mask[never], pattern[never]
        best_asr[never] = asr[never]
    norms = torch.where(never.cpu(), l1_avg.cpu(), l1)
    return NCResult(best_mask.cpu(), best_pat.cpu(), norms, best_asr.cpu(), anomaly_index(norms),
                    flagged(norms), epochs_run, {"classes": ks, "reached_threshold": (~never).cpu().tolist(),
                     "final_cost": cost.cpu().tolist(), "cost_set_at_epoch": cost_set_at.cpu().tolist()})


@dataclass(frozen=True)
class NCFalseNegatives:
    """Table 2's FNR: successful attacked inputs whose predicted class is not flagged."""

    fnr: float
    successful_advtrojan: int
    caught: int
    rule: str


@dataclass(frozen=True)
class NeuralCleanseData:
    """Neural Cleanse's numbers (Table 2): per class the best successful mask's L1 norm, its attack
    success, the anomaly index and the flag; the masks themselves; the FNR on attacked inputs."""

    mask_l1: list[float]
    attack_success: list[float]
    anomaly_index: list[float]
    flagged: list[bool]
    flagged_classes: list[int]
    threshold: float
    epochs_run: int
    classes: list[int]
    reached_threshold: list[bool]
    final_cost: list[float]
    cost_set_at_epoch: list[int]
    images: int
    masks: torch.Tensor  # (K, H, W)
    table2: NCFalseNegatives
    attacked_inputs: str


def nc_false_negative_rate(model: nn.Module, adv_inputs: torch.Tensor, labels: torch.Tensor,
                           flagged_classes: list[int]) -> NCFalseNegatives:
    """Table 2's FNR: the share of AdvTrojan examples the flagged classes fail to catch.

    Decided thus: Neural Cleanse marks a class as infected; an input is *caught* when the model
    assigns it to a flagged class. Only successful AdvTrojan examples (misclassified ones) are
    attacks; FNR = 1 − caught / successful. No flagged class means FNR = 100%.
    """
    with torch.no_grad():
        pred = model(adv_inputs).argmax(1)
    success = pred != labels
    caught = success & torch.isin(pred, torch.tensor(flagged_classes, dtype=pred.dtype, device=pred.device))
    n = int(success.sum())
    return NCFalseNegatives(fnr=1.0 - int(caught.sum()) / n if n else 0.0, successful_advtrojan=n,
                            caught=int(caught.sum()),
                            rule="caught = predicted class is flagged; over misclassified AdvTrojan examples")


def shared_neural_cleanse(ctx: DefenseContext) -> NCResult:
    """Neural Cleanse on the scan's benign inputs, computed once (E-STRIP reuses its triggers)."""
    settings = ctx.options(NCSettings)
    nc_data = ctx.nc_data.subset(torch.arange(min(settings.images or len(ctx.nc_data), len(ctx.nc_data))))
    return ctx.shared("neural_cleanse", lambda: neural_cleanse(ctx.model, nc_data, settings, device=ctx.device,
                                                               progress=ctx.progress, seed=ctx.seed))


@register_defense("neural_cleanse", title="Neural Cleanse", settings=NCSettings, result=NeuralCleanseData,
                  description="reverse-engineered trigger per class, anomaly index by MAD, flagged if > 2 on the "
                              "small side; FNR on attacked inputs (Table 2)")
def neural_cleanse_defense(ctx: DefenseContext) -> DefenseResult:
    """Table 2: classes flagged by the anomaly index, and the share of successful attacked inputs
    whose predicted class is not flagged (FNR). Detected: at least one class flagged."""
    nc = shared_neural_cleanse(ctx)
    d = nc.to_dict()
    fc = d["flagged_classes"]
    t2 = nc_false_negative_rate(ctx.model, ctx.attacked, ctx.y, fc)
    data = NeuralCleanseData(**d, images=min(ctx.options(NCSettings).images or len(ctx.nc_data), len(ctx.nc_data)),
                             masks=nc.masks[:, 0].clone(), table2=t2, attacked_inputs=ctx.attacked_label)
    figs = {}
    if ctx.out_dir:
        names = ctx.class_names
        figs["neural_cleanse_masks"] = plots.masks_figure(
            nc.masks, nc.l1.tolist(), nc.index.tolist(), nc.flagged.tolist(), names,
            ctx.figure_path("neural_cleanse_masks"), "Neural Cleanse: recovered masks per class")
        figs["neural_cleanse_anomaly"] = plots.anomaly_figure(
            nc.index.tolist(), nc.flagged.tolist(), names, ctx.figure_path("neural_cleanse_anomaly"),
            "Neural Cleanse: anomaly index per class")
    return DefenseResult(verdict=f"flagged {len(fc)}/{len(d['flagged'])} {fc}",
                         details=f"FNR {t2.fnr:.1%} of {t2.successful_advtrojan} successful attacks",
                         detected=bool(fc), data=data, figures=figs, model_score=small_side_index(nc.l1, nc.index))


def small_side_index(norms: torch.Tensor, index: torch.Tensor) -> float:
    """The model score of a trigger-inversion defense: the anomaly index of its smallest-norm class
    (Neural Cleanse's own statistic: an unusually small trigger suffices to reach that class)."""
    return float(index[int(norms.argmin())])
