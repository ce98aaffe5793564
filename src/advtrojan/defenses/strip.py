"""STRIP (Gao et al. 2019) and ensemble STRIP, E-STRIP (Evil Twins; Table 3 and Table 4).

As the authors' code (``STRIP_CIFAR10DeepArchit_Tb.ipynb``), which the paper "strictly follows":

- **Superimposition by addition**: each input ``x`` is blended with each of N = 100 reserved
  clean test inputs ``r`` (kept out of every evaluation) as ``x + r``, both at weight 1
  (``cv2.addWeighted(background, 1, overlay, 1, 0)`` on float images), **unclipped**.
  Averaging, ``(x + r) / 2``, halves the trigger (0.75 → 0.375, below where the backdoor
  switches on, Appendix D) and the perturbation; it stays as the ``average`` ablation.
- **Score**: the Shannon entropy (base 2) of each blend's predicted class distribution
  (entropy across classes, per blend), then the mean over the N blends.
- **Threshold** from clean inputs only, for a target false rejection rate (FRR, the FPR of the
  tables): a normal distribution is fitted to the clean entropies (``scipy.stats.norm.fit``:
  mean and the maximum-likelihood standard deviation) and the threshold is its FRR quantile
  (``norm.ppf``); an input at or below it is flagged as trojaned. The empirical quantile stays
  as the ``quantile`` ablation.

A Trojan trigger survives blending and keeps the prediction fixed, so triggered inputs have *low*
entropy. AdvTrojan examples need not: a perturbation crafted for one input is destroyed by
blending, which can leave their predictions *more* uncertain than clean ones. So besides Gao's
low-entropy rule (``fnr``) the report gives the upper-tail rule (``fnr_high``, flagged at or
above the 1 − FPR quantile) and the two-sided rule (``fnr_two_sided``, FPR/2 in each tail), a
result the paper does not have.

E-STRIP stamps a Neural-Cleanse-recovered trigger on the reserved inputs first, then runs STRIP.
All blends of a batch of inputs go through the model in one forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from ..attacks.trigger import Trigger
from ..errors import ConfigError
from .. import plots
from ..utils.device import autocast
from .neural_cleanse import shared_neural_cleanse
from ..results import DefenseResult
from ..stats import roc_auc  # noqa: F401  (sklearn's; re-exported for plug-ins)
from ..settings import option, positive_int
from .registry import DefenseContext, register_defense

FPRS = (0.10, 0.05, 0.02)
SUPERIMPOSE = ("add", "average")
THRESHOLDS = ("normal", "quantile")


@dataclass(frozen=True)
class StripSettings:
    """STRIP's settings (``--strip-*``), shared by E-STRIP; the defaults are Gao et al.'s code's."""

    key: ClassVar[str] = "strip"
    n_reserved: int = field(default=100, metadata=option(
        "held-back clean inputs blended with each input (N)", flag="--strip-reserved", parse=positive_int))
    superimpose: str = field(default="add", metadata=option(
        "blend: add = x + r unclipped, as Gao et al.; average = (x + r)/2 (an ablation)", choices=SUPERIMPOSE))
    threshold: str = field(default="normal", metadata=option(
        "threshold: normal = FPR quantile of a normal fit to clean entropies, as Gao et al.; quantile = empirical "
        "quantile (an ablation)", choices=THRESHOLDS))
    batch_size: int = field(default=10, metadata=option(
        "inputs per forward pass (x N blends: about 1000 images, cache-sized)", parse=positive_int))
    precision: str = field(default="fp32", metadata=option("precision", choices=("fp32", "bf16")))

    def validate(self) -> None:
        if self.superimpose not in SUPERIMPOSE:
            raise ConfigError(f"unknown STRIP superimposition {self.superimpose!r}: choose {' or '.join(SUPERIMPOSE)}")
        if self.threshold not in THRESHOLDS:
            raise ConfigError(f"unknown STRIP threshold {self.threshold!r}: choose {' or '.join(THRESHOLDS)}")
        if self.n_reserved < 1:
            raise ConfigError(f"STRIP needs at least one reserved input, got {self.n_reserved}")


@dataclass(frozen=True)
class StripData:
    """STRIP's (or E-STRIP's) numbers: per target FPR (keys "10%", "5%", "2%"), the FNR of each rule
    (Gao et al.'s low entropy ``fnr``, upper tail ``fnr_high``, two-sided), the FPR measured on
    held-out clean inputs, the thresholds and F1; the ROC AUC of each side; the entropies."""

    fnr: dict[str, float]
    measured_fpr: dict[str, float]
    threshold: dict[str, float]
    fnr_high: dict[str, float]
    measured_fpr_high: dict[str, float]
    threshold_high: dict[str, float]
    fnr_two_sided: dict[str, float]
    measured_fpr_two_sided: dict[str, float]
    threshold_method: str
    f1: dict[str, float]
    roc_auc: float
    roc_auc_high: float
    n_clean_fit: int
    n_clean_eval: int
    n_attacked: int
    superimpose: str
    entropy_clean: torch.Tensor
    entropy_attacked: torch.Tensor
    attacked_inputs: str
    n_reserved: int
    threshold_degenerate: dict[str, bool] | None = None  # the normal fit only
    fnr_quantile: dict[str, float] | None = None
    measured_fpr_quantile: dict[str, float] | None = None
    f1_quantile: dict[str, float] | None = None
    trigger_class: int | None = None   # E-STRIP: the Neural Cleanse trigger stamped on the reserved inputs
    trigger_choice: str | None = None


def superimpose(x: torch.Tensor, reserved: torch.Tensor, how: str = "add") -> torch.Tensor:
    """Every input of ``x`` (b, C, H, W) blended with every reserved input: (b, N, C, H, W)."""
    blends = x[:, None] + reserved[None]
    return blends if how == "add" else blends / 2


@torch.no_grad()
def strip_entropy(model: nn.Module, inputs: torch.Tensor, reserved: torch.Tensor,
                  settings: StripSettings = StripSettings()) -> torch.Tensor:
    """The STRIP score of each input: mean over blends of the entropy (bits) across classes."""
    settings.validate()
    model.eval()
    scores = []
    n = len(reserved)
    for chunk in inputs.split(settings.batch_size):
        blends = superimpose(chunk, reserved, settings.superimpose)
        with autocast(chunk.device, settings.precision):
            logits = model(blends.flatten(0, 1))
        logp = logits.float().log_softmax(1)
        entropy = -(logp.exp() * logp).sum(1) / torch.log(torch.tensor(2.0))  # per blend, across classes
        scores.append(entropy.view(len(chunk), n).mean(1))
    return torch.cat(scores)


def thresholds(clean: torch.Tensor, fpr: float, method: str = "normal") -> tuple[float, float, float, float]:
    """(low, high, two-sided low, two-sided high) entropy thresholds for a target FPR, from clean
    entropies only: quantiles of a fitted normal (Gao et al.) or empirical quantiles."""
    from scipy import stats  # imported here: a second of start-up every command would pay

    values = clean.double()
    qs = (fpr, 1 - fpr, fpr / 2, 1 - fpr / 2)
    if method == "normal":
        mu, sigma = stats.norm.fit(values.numpy())
        if not sigma > 0:  # every clean entropy equal: the fitted normal is a point mass at mu
            return (float(mu),) * len(qs)
        return tuple(float(stats.norm.ppf(q, loc=mu, scale=sigma)) for q in qs)
    if method == "quantile":
        return tuple(torch.quantile(values, q).item() for q in qs)
    raise ConfigError(f"unknown STRIP threshold {method!r}: choose {' or '.join(THRESHOLDS)}")


def f1_score(caught: float, attacked: int, false_alarms: float) -> float:
    """F1 of a detector, as Evil Twins plots STRIP (Figure 15): precision = caught / flagged, recall =
    caught / attacked (flagged = caught attacked + flagged clean inputs); 0 when nothing is caught."""
    if caught <= 0:
        return 0.0
    precision, recall = caught / (caught + false_alarms), caught / attacked
    return 2 * precision * recall / (precision + recall)


def detection_report(clean_fit: torch.Tensor, clean_eval: torch.Tensor, attacked: torch.Tensor,
                     fprs=FPRS, method: str = "normal") -> dict:
    """FNR at each target FPR (thresholds from ``clean_fit`` only), the measured FPR on held-out
    ``clean_eval``, and ROC AUC, for the low-entropy rule (Gao et al.: ``fnr``), the upper-tail
    rule (``fnr_high``) and the two-sided rule (``fnr_two_sided``).

    With the normal fit, the low-entropy rule also gets ``fnr_quantile`` / ``f1_quantile`` /
    ``measured_fpr_quantile``: the same rule with the empirical quantile. A normal fitted to skewed
    clean entropies (E-STRIP's, bunched near 0 with a long upper tail) can put its FRR quantile
    below every entropy there can be (< 0 bits): such a threshold flags nothing (measured FPR 0,
    ``threshold_degenerate``), however well the scores separate (see ``roc_auc``)."""
    att, ev = attacked.double(), clean_eval.double()
    out: dict = {"fnr": {}, "measured_fpr": {}, "threshold": {}, "fnr_high": {}, "measured_fpr_high": {},
                 "threshold_high": {}, "fnr_two_sided": {}, "measured_fpr_two_sided": {}, "threshold_method": method}
    for fpr in fprs:
        low, high, lo2, hi2 = thresholds(clean_fit, fpr, method)
        key = f"{round(fpr * 100)}%"
        out["threshold"][key], out["threshold_high"][key] = low, high
        out["fnr"][key] = (att > low).double().mean().item()
        out["measured_fpr"][key] = (ev <= low).double().mean().item()
        out["fnr_high"][key] = (att < high).double().mean().item()
        out["measured_fpr_high"][key] = (ev >= high).double().mean().item()
        out["fnr_two_sided"][key] = ((att > lo2) & (att < hi2)).double().mean().item()
        out["measured_fpr_two_sided"][key] = ((ev <= lo2) | (ev >= hi2)).double().mean().item()
        out.setdefault("f1", {})[key] = f1_score(len(att) * (1 - out["fnr"][key]), len(att),
                                                 len(ev) * out["measured_fpr"][key])
        if method == "normal":
            out.setdefault("threshold_degenerate", {})[key] = low < 0  # entropies are >= 0: nothing is flagged
            q = torch.quantile(clean_fit.double(), fpr).item()
            out.setdefault("fnr_quantile", {})[key] = (att > q).double().mean().item()
            out.setdefault("measured_fpr_quantile", {})[key] = (ev <= q).double().mean().item()
            out.setdefault("f1_quantile", {})[key] = f1_score(len(att) * (1 - out["fnr_quantile"][key]), len(att),
                                                              len(ev) * out["measured_fpr_quantile"][key])
    out["roc_auc"] = roc_auc(-ev, -att)        # attacked inputs have the lower entropy
    out["roc_auc_high"] = roc_auc(ev, att)     # attacked inputs have the higher entropy
    out["n_clean_fit"], out["n_clean_eval"], out["n_attacked"] = len(clean_fit), len(clean_eval), len(attacked)
    return out


def strip(model: nn.Module, reserved: torch.Tensor, clean: torch.Tensor, attacked: torch.Tensor,
          settings: StripSettings = StripSettings(), trigger: Trigger | None = None) -> dict:
    """STRIP (or E-STRIP when ``trigger`` is given) on ``attacked`` vs ``clean`` inputs.

    ``clean`` is split in two halves: the first sets the thresholds, the second measures FPR.
    Returns the report plus the entropies (for histograms).
    """
    settings.validate()
    if trigger is not None:
        reserved = trigger.to(reserved.device).stamp(reserved, 1.0)
    clean_scores = strip_entropy(model, clean, reserved, settings).cpu()
    attacked_scores = strip_entropy(model, attacked, reserved, settings).cpu()
    half = len(clean_scores) // 2
    report = detection_report(clean_scores[:half], clean_scores[half:], attacked_scores, method=settings.threshold)
    report["superimpose"] = settings.superimpose
    report["entropy_clean"] = clean_scores
    report["entropy_attacked"] = attacked_scores
    return report


def _verdict(r: StripData) -> tuple[str, str, bool]:
    fnr = ", ".join(f"{k} {v:.1%}" for k, v in r.fnr.items())
    two = ", ".join(f"{k} {v:.1%}" for k, v in r.fnr_two_sided.items())
    first = next(iter(r.fnr.values()))
    details = f"AUC {r.roc_auc:.3f}; two-sided FNR {two}"
    if r.threshold_degenerate and any(r.threshold_degenerate.values()):
        quant = ", ".join(f"{k} {v:.1%}" for k, v in r.fnr_quantile.items())
        details += f"; the normal-fit threshold is below 0 bits (flags nothing); empirical-quantile FNR {quant}"
    return f"FNR at FPR {fnr}", details, first < 0.5


def _run(ctx: DefenseContext, trigger: Trigger | None = None, **extra) -> StripData:
    reserved_x, _ = ctx.reserved.tensors(ctx.device)
    r = strip(ctx.model, reserved_x, ctx.x, ctx.attacked, ctx.options(StripSettings), trigger=trigger)
    return StripData(**r, attacked_inputs=ctx.attacked_label, n_reserved=len(reserved_x), **extra)


@register_defense("strip", title="STRIP", settings=StripSettings, result=StripData,
                  description="entropy of 100 blends with reserved clean inputs; FNR at FPR 10/5/2%, AUC (Table 3)")
def strip_defense(ctx: DefenseContext) -> DefenseResult:
    """Table 3. Detected: fewer than half of the attacked inputs pass at the largest FPR."""
    r = ctx.shared("strip", lambda: _run(ctx))  # two-sided STRIP reuses its entropies
    figs = {}
    if ctx.out_dir:
        figs["strip_entropy"] = plots.entropy_histogram(
            r.entropy_clean.tolist(), r.entropy_attacked.tolist(), ctx.figure_path("strip_entropy"),
            "STRIP: entropy of clean vs attacked inputs", ctx.attacked_label, r.threshold)
    verdict, details, detected = _verdict(r)
    return DefenseResult(verdict=verdict, details=details, detected=detected, figures=figs, data=r, input_auc=r.roc_auc)


@register_defense("e_strip", title="E-STRIP", settings=StripSettings, result=StripData,
                  description="STRIP with the Neural-Cleanse trigger stamped on the reserved inputs (Table 4)")
def e_strip_defense(ctx: DefenseContext) -> DefenseResult:
    """Table 4: STRIP whose reserved inputs carry the trigger Neural Cleanse recovered for the
    flagged class with the largest anomaly index (else the class with the smallest mask)."""
    nc = shared_neural_cleanse(ctx)
    k = int(nc.l1.argmin()) if not nc.flagged.any() else int(nc.index.masked_fill(~nc.flagged, -1).argmax())
    r = _run(ctx, trigger=nc.trigger(k), trigger_class=k,
             trigger_choice="the flagged class with the largest anomaly index, else the class with the smallest "
                            "recovered mask")
    figs = {}
    if ctx.out_dir:
        figs["e_strip_entropy"] = plots.entropy_histogram(
            r.entropy_clean.tolist(), r.entropy_attacked.tolist(), ctx.figure_path("e_strip_entropy"),
            f"E-STRIP (trigger of class {ctx.class_names[k]}): entropy", ctx.attacked_label, r.threshold)
    verdict, details, detected = _verdict(r)
    return DefenseResult(verdict=verdict, details=details, detected=detected, figures=figs, data=r, input_auc=r.roc_auc)
