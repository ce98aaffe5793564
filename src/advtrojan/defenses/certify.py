"""Certified accuracy under additive Gaussian noise (Eq. 10; Li et al. 2019; Cohen et al. 2019).

For each input, ``n`` noisy copies ``x + N(0, σ²I)`` are classified; the class counts give the
smoothed prediction (the majority class) and, through a confidence procedure, a lower bound p_A
on the top class's probability and an upper bound p_B on the runner-up's. Three procedures:

- ``li`` (default): Li et al.'s Rényi-divergence radius with one-sided Clopper–Pearson bounds at
  ``confidence`` 0.999 (Cohen et al.'s standard; ``scipy.stats.beta`` quantiles). Know its limit:
  with 100 samples, p_A ≤ 0.933 and p_B ≥ 0.067, which caps the radius near 1.2σ, so B = 0.4
  cannot be certified below σ ≈ 0.33 whatever the model.
- ``li-code``: the procedure of Li et al.'s public code (``Bai-Li/STN-Code``, ``bound.py``):
  Sison–Glaz *simultaneous* multinomial intervals (R's ``MultinomialCI::multinomialCI``; here
  ``statsmodels``' ``multinomial_proportions_confint(method="sison-glaz")``) on the counts
  sorted in descending order, p_A = lower end of the top class, p_B = upper end of the second.
  Their final commit uses significance 0.05 (``confidence`` 0.95); the version current when the
  AdvTrojan paper was written passed 0.95, i.e. intervals at 5% confidence, close to the plug-in
  frequencies (``confidence`` 0.05 here). Where statsmodels cannot compute the intervals (it
  returns [0, 1] for every class on some near-unanimous counts) the input is not certified, and
  the number of such inputs is reported as ``interval_failures``.
- ``cohen``: Cohen et al.'s radius ``σ·Φ⁻¹(p_A)`` with the Clopper–Pearson lower bound.

Li et al.'s radius: for α in ``linspace(1.01, 2.0, 100)`` (their grid),
``radius = σ·sqrt(2·max_α −log(1 − p_A − p_B + 2·((p_A^{1−α} + p_B^{1−α}) / 2)^{1/(1−α)}) / α)``;
it is 0 when p_A ≤ p_B and grows with the gap. An input is certified at L2 radius B when its
radius exceeds B.

Eq. 10 (the paper): certified accuracy = #(correct and radius > B) / #(radius > B); every figure
comes with its numerator and denominator, and with the robust accuracy of Li et al.'s code,
#(correct and radius > B) / #inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar
import math

import numpy as np
import torch
from torch import nn

from ..attacks.pgd import crafting_forward
from ..errors import ConfigError
from ..utils.device import autocast
from ..results import CertRow, DefenseResult
from ..settings import option, positive_float, positive_int
from .registry import DefenseContext, register_defense

ALPHAS = torch.linspace(1.01, 2.0, 100, dtype=torch.float64)  # Li et al.'s grid
@dataclass(frozen=True)
class CertSettings:
    """Eq. 10's certification: Gaussian noise σ, noisy copies per input, the L2 radius B, and the
    procedure (``li``, ``li-code``, ``cohen``) with its confidence (None: the procedure's own,
    :data:`CONFIDENCE`). The one home of these defaults for the CLI, scan and evaluation."""

    sigma: float = field(default=0.5, metadata=option("Gaussian noise std σ", flag="--sigma",
                                                      parse=positive_float))
    radius: float = field(default=0.4, metadata=option("L2 radius B of Eq. 10", flag="--radius",
                                                       parse=positive_float))
    noise_samples: int = field(default=100, metadata=option("noisy copies per input", flag="--noise-samples",
                                                            parse=positive_int))
    method: str = field(default="li", metadata=option(
        "li: Li et al.'s Renyi bound with 99.9%% Clopper-Pearson bounds; li-code: the same bound with Sison-Glaz "
        "intervals as Li et al.'s public code; cohen: Cohen et al.'s radius", flag="--cert-method",
        choices=("li", "li-code", "cohen")))
    confidence: float | None = field(default=None, metadata=option(
        "confidence of the bounds (0.05 gives li-code as the code stood before 2021)", flag="--cert-confidence",
        metavar="P", default_text="0.999 for li and cohen, 0.95 for li-code"))

    def validate(self) -> "CertSettings":
        if not 0 < self.radius < math.inf:  # NaN fails too
            raise ConfigError(f"certification radius must be a finite number > 0, got {self.radius}")
        if not 0 < self.sigma < math.inf:
            raise ConfigError(f"noise sigma must be a finite number > 0, got {self.sigma}")
        if isinstance(self.noise_samples, bool) or not isinstance(self.noise_samples, int) or self.noise_samples < 1:
            raise ConfigError(f"noise_samples must be a positive integer, got {self.noise_samples!r}")
        check_method(self.method, self.confidence)
        return self

    @property
    def resolved_confidence(self) -> float:
        return check_method(self.method, self.confidence)


CERT = CertSettings()
METHODS = ("li", "li-code", "cohen")
CONFIDENCE = {"li": 0.999, "li-code": 0.95, "cohen": 0.999}  # each procedure's default


@dataclass(frozen=True)
class CertifiedSettings:
    """The certification defense's settings: Eq. 10's, and how many pool inputs it certifies."""

    key: ClassVar[str] = "cert"
    images: int = field(default=500, metadata=option("inputs to certify", flag="--certify-images",
                                                     parse=positive_int))
    cert: CertSettings = field(default_factory=CertSettings, metadata=option("Eq. 10", prefix=""))

    def validate(self) -> None:
        self.cert.validate()


@dataclass(frozen=True)
class CertSummary:
    """Eq. 10 on a set of inputs, with its counts and the procedure."""

    certified_accuracy: float
    certified_correct: int
    certified_count: int
    examples: int
    robust_accuracy: float
    smoothed_accuracy: float
    radius_B: float
    sigma: float
    samples: int
    method: str
    confidence: float
    interval_failures: int


@dataclass(frozen=True)
class CertifiedData:
    """The certification defense: Eq. 10 on the attacked inputs and on their clean versions."""

    attacked: CertSummary
    benign: CertSummary


def clopper_pearson(count: torch.Tensor, n: int, confidence: float = 0.999) -> tuple[torch.Tensor, torch.Tensor]:
    """One-sided Clopper–Pearson bounds (lower, upper), each at ``confidence``, on count / n:
    the Beta(k, n − k + 1) quantile 1 − confidence and the Beta(k + 1, n − k) quantile confidence."""
    from scipy import stats  # imported here: a second of start-up every command would pay

    k = count.double().cpu().numpy()
    a = 1 - confidence
    with np.errstate(all="ignore"):
        lower = np.where(k > 0, stats.beta.ppf(a, k, n - k + 1), 0.0)
        upper = np.where(k < n, stats.beta.ppf(1 - a, k + 1, n - k), 1.0)
    return torch.from_numpy(lower), torch.from_numpy(upper)


def sison_glaz_intervals(counts: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sison & Glaz's simultaneous multinomial intervals for every row of ``counts`` (B, K) at once:
    (lower (B, K), upper (B, K), failed (B,)).

    The procedure of ``statsmodels.stats.proportion.multinomial_proportions_confint(method="sison-glaz")``
    (Sison & Glaz 1995, formulas (1) and (7), with May & Johnson's moments; the coverage of the
    degenerate box c = 0 is 0 and of any box with c >= n is 1, as R's MultinomialCI and statsmodels
    0.14.5+), computed for all rows and every box half-width c together, with ``scipy.special.pdtr`` (the
    Poisson CDF without ``scipy.stats``' per-call overhead): statsmodels takes one count vector at a time,
    about 0.1 s each, which was most of the certification stage; a loop over c with ``stats.poisson``
    still took a quarter of it (``benchmarks/profile_stages.py``). ``tests/test_defenses_unit.py`` checks the two
    agree to 1e-9 on hand-built and random count vectors. A row whose search for c fails is
    ``failed`` (statsmodels raises there)."""
    from scipy import special, stats

    x = np.asarray(counts, dtype=float)
    rows, k = x.shape
    n = x.sum(1)
    if not np.all(n == n[0]):
        raise ValueError("sison_glaz_intervals: every row must hold the same number of samples")
    n0 = int(n[0])

    def cdf(a, p):  # the Poisson CDF, as scipy.stats.poisson.cdf (0 below 0) without its per-call overhead
        return np.where(a < 0, 0.0, special.pdtr(np.floor(np.maximum(a, 0)), p))

    def interval(b, a, p):  # P(b <= Z <= a), Z ~ Poisson(p)
        return cdf(a, p) - cdf(b - 1, p)

    def nu(c: np.ndarray) -> np.ndarray:
        """nu at each box half-width c (C, 1, 1), for every row at once: (C, rows)."""
        b, a = np.maximum(x - c, 0), np.minimum(x + c, n0)
        box = interval(b, a, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            m = [x ** r * (1 - (interval(a - r + 1, a, x) - interval(b - r, b - 1, x)) / box) for r in range(1, 5)]
            mu = m[0]
            mu2 = m[1] + mu - mu ** 2
            mu3 = m[2] + m[1] * (3 - 3 * mu) + mu - 3 * mu ** 2 + 2 * mu ** 3
            mu4 = (m[3] + m[2] * (6 - 4 * mu) + m[1] * (7 - 12 * mu + 6 * mu ** 2) + mu - 4 * mu ** 2 + 6 * mu ** 3
                   - 3 * mu ** 4)
            s2 = mu2.sum(-1)
            g1 = mu3.sum(-1) / s2 ** 1.5
            g2 = (mu4.sum(-1) - 3 * (mu2 ** 2).sum(-1)) / s2 ** 2
            z = (n0 - mu.sum(-1)) / np.sqrt(s2)
            phi = np.exp(-(z ** 2) / 2) / np.sqrt(2 * np.pi)
            f = phi * (1 + g1 * (z ** 3 - 3 * z) / 6 + g2 * (z ** 4 - 6 * z ** 2 + 3) / 24
                       + g1 ** 2 * (z ** 6 - 15 * z ** 4 + 45 * z ** 2 - 15) / 72)
            edgeworth = f / np.sqrt(s2)
            return np.exp(np.sum(np.log(box), -1) + np.log(edgeworth) - np.log(stats.poisson.pmf(n0, n0)))

    # nu(0) = 0 (the degenerate box), nu(c) for 1 <= c < n, nu(c) = 1 for c >= n
    widths = np.arange(1, max(1, n0), dtype=float)[:, None, None]
    chunks = np.array_split(widths, max(1, -(-len(widths) // 25)))  # bounded memory on many distinct rows
    inner = np.concatenate([nu(c).T for c in chunks], 1) if len(widths) else np.zeros((rows, 0))
    curve = np.concatenate([np.zeros((rows, 1)), inner, np.ones((rows, 2))], 1)
    target = 1 - (1 - confidence)  # as statsmodels computes 1 - alpha
    ok = (curve[:, :-1] <= target) & (target < curve[:, 1:])
    failed = ~ok.any(1)
    c = np.where(failed, 0, ok.argmax(1)).astype(float)
    lo_nu, hi_nu = curve[np.arange(rows), c.astype(int)], curve[np.arange(rows), c.astype(int) + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        g = (target - lo_nu) / (hi_nu - lo_nu)
    p = x / n0
    lower = np.maximum(p - c[:, None] / n0, 0)
    upper = np.minimum(p + (c[:, None] + 2 * g[:, None]) / n0, 1)
    lower[failed], upper[failed] = 0.0, 1.0
    return lower, upper, failed


def sison_glaz(counts: torch.Tensor, confidence: float = 0.95) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Li et al.'s bounds from Sison–Glaz simultaneous intervals, one input per row of ``counts``.

    Returns (p_A, p_B, failed): the lower end of the most-voted class, the upper end of the
    second, and where the intervals could not be computed (p_A = 0, p_B = 1 there). Each distinct
    (sorted) count vector is computed once (near-unanimous votes recur)."""
    if len(counts) == 0:
        empty = torch.zeros(0, dtype=torch.float64)
        return empty, empty, torch.zeros(0, dtype=torch.bool)
    ordered = counts.sort(dim=1, descending=True).values.cpu().numpy()
    distinct, back = np.unique(ordered, axis=0, return_inverse=True)
    lower, upper, failed = sison_glaz_intervals(distinct, float(confidence))
    back = back.reshape(-1)
    return (torch.from_numpy(lower[back, 0]), torch.from_numpy(upper[back, 1]), torch.from_numpy(failed[back]))


def renyi_radius(p_a: torch.Tensor, p_b: torch.Tensor, sigma: float, alphas: torch.Tensor = ALPHAS) -> torch.Tensor:
    """Li et al.'s certified L2 radius for bounds p_A (top) and p_B (runner-up); 0 if p_A <= p_B."""
    p_a = p_a.double().clamp(1e-12, 1.0)[:, None]
    p_b = p_b.double().clamp(1e-12, 1.0)[:, None]
    a = alphas[None].to(p_a.device)
    mean = ((p_a ** (1 - a) + p_b ** (1 - a)) / 2) ** (1 / (1 - a))
    inner = (1 - p_a - p_b + 2 * mean).clamp(min=1e-300)
    bound = (-torch.log(inner) / a).max(1).values
    radius = sigma * (2 * bound.clamp(min=0)).sqrt()
    return torch.where(p_a[:, 0] > p_b[:, 0], radius, torch.zeros_like(radius))


def cohen_radius(p_a: torch.Tensor, sigma: float) -> torch.Tensor:
    """Cohen et al.'s radius σ·Φ⁻¹(p_A) for p_A > 1/2, else 0 (abstain)."""
    p = p_a.double().clamp(max=1 - 1e-12)
    radius = sigma * math.sqrt(2) * torch.special.erfinv(2 * p - 1)
    return torch.where(p > 0.5, radius, torch.zeros_like(radius))


def native_bf16(device: torch.device | str) -> bool:
    """Whether bf16 runs natively here (a CPU with AVX512-BF16 or AMX through oneDNN, a CUDA device that
    supports it); elsewhere it is emulated and slower than fp32."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


class CheckedArgmax:
    """The model's fp32 prediction at about bf16's cost, for Eq. 10's noisy votes (most far from a tie).

    Each batch runs in bf16; the inputs whose bf16 top-two margin lies within bf16's error of a tie run
    again in fp32, so every prediction is fp32's. The error is measured, not assumed: the first batch runs
    in both precisions, and an input is rerun when its margin is at most ``SAFETY`` times the largest
    error seen there, relative to 1 + |top logit| (the margin's error is at most twice a logit's, so
    ``SAFETY`` = 8 leaves 4x headroom), never below ``FLOOR``. Measured on Fashion-MNIST LeNets (four
    kinds, σ 0.1 and 0.5, 160k noisy inputs): the error is at most 0.0055, 5-24% of the inputs are
    rerun, plain bf16 would have changed 0.06-0.45% of the votes. Where bf16 is not native, every batch
    runs in fp32 (``screen``: force the bf16 screen on or off)."""

    SAFETY = 8.0
    FLOOR = 0.01

    def __init__(self, model: nn.Module, device: torch.device | str, screen: bool | None = None):
        self.model, self.tolerance, self.inputs, self.rerun = model, None, 0, 0
        self.low = crafting_forward(model, "bf16") if (native_bf16(device) if screen is None else screen) else None

    @torch.no_grad()
    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        self.inputs += len(inputs)
        if self.low is None:
            return self.model(inputs).argmax(1)
        with autocast(inputs.device, "bf16"):
            low = self.low(inputs).float()
        if low.shape[1] < 2:
            return low.argmax(1)
        if self.tolerance is None:  # the first batch: measure bf16's error against fp32
            full = self.model(inputs).float()
            error = ((low - full).abs().amax(1) / (1 + full.abs().amax(1))).max().item()
            self.tolerance, self.rerun = max(self.FLOOR, self.SAFETY * error), self.rerun + len(inputs)
            return full.argmax(1)
        top = low.topk(2, dim=1).values
        unsure = (top[:, 0] - top[:, 1]) <= self.tolerance * (1 + top[:, 0].abs())
        pred = low.argmax(1)
        if unsure.any():
            pred[unsure] = self.model(inputs[unsure]).argmax(1)
            self.rerun += int(unsure.sum())
        return pred


@torch.no_grad()
def noise_counts(model: nn.Module, x: torch.Tensor, sigma: float, n: int = CERT.noise_samples, batch: int = 1000,
                 num_classes: int = 10, precision: str = "checked", generator: torch.Generator | None = None) -> torch.Tensor:
    """Class counts (B, K) over ``n`` Gaussian-noise copies of each input, in big batches. ``precision``:
    ``checked`` gives fp32's votes at about bf16's cost (:class:`CheckedArgmax`), ``fp32`` or ``bf16``
    run in that precision."""
    model.eval()
    counts = []
    per = max(1, batch // n)
    predict = CheckedArgmax(model, x.device) if precision == "checked" else None
    for chunk in x.split(per):
        noisy = chunk[:, None] + sigma * torch.randn((len(chunk), n, *chunk.shape[1:]), generator=generator,
                                                     device="cpu").to(chunk.device)
        if predict is not None:
            pred = predict(noisy.flatten(0, 1)).view(len(chunk), n)
        else:
            with autocast(chunk.device, precision):
                pred = model(noisy.flatten(0, 1)).argmax(1).view(len(chunk), n)
        counts.append(torch.nn.functional.one_hot(pred, num_classes).sum(1))
    return torch.cat(counts).cpu()


@torch.no_grad()
def _num_classes(model: nn.Module, x: torch.Tensor) -> int:
    model.eval()
    return model(x[:1]).shape[1]


def check_method(method: str, confidence: float | None = None) -> float:
    """Validate a procedure and return its confidence (the procedure's default when None)."""
    if method not in METHODS:
        raise ConfigError(f"unknown certification method {method!r}: choose one of {', '.join(METHODS)}")
    confidence = CONFIDENCE[method] if confidence is None else confidence
    if not 0 < confidence < 1:  # NaN fails too
        raise ConfigError(f"certification confidence must lie in (0, 1), got {confidence}")
    return confidence


def radii_from_counts(counts: torch.Tensor, sigma: float, method: str = "li",
                      confidence: float | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(smoothed prediction, certified radius, interval failures) of each row of ``counts``."""
    confidence = check_method(method, confidence)
    n = int(counts[0].sum()) if len(counts) else 0
    top2 = counts.topk(2, dim=1)
    failures = 0
    if method == "li-code":
        p_a, p_b, failed = sison_glaz(counts, confidence)
        radii = torch.where(failed, torch.zeros(len(counts), dtype=torch.float64), renyi_radius(p_a, p_b, sigma))
        failures = int(failed.sum())
    else:
        p_a, _ = clopper_pearson(top2.values[:, 0], n, confidence)
        _, p_b = clopper_pearson(top2.values[:, 1], n, confidence)
        radii = renyi_radius(p_a, p_b, sigma) if method == "li" else cohen_radius(p_a, sigma)
    return counts.argmax(1), radii, failures  # ties: the first class, as np.argmax


def best_radius(sigma: float, method: str = "li", confidence: float | None = None, n: int = CERT.noise_samples,
                num_classes: int = 10) -> float:
    """The largest radius ``method`` can certify at ``σ`` with ``n`` samples: the radius of an input
    whose ``n`` noisy copies all agree. A budget B at or above it cannot be certified at this σ,
    whatever the model (its certified accuracy is then 0 of 0)."""
    counts = torch.zeros(1, max(2, num_classes), dtype=torch.long)
    counts[0, 0] = n
    return float(radii_from_counts(counts, sigma, method, confidence)[1][0])


def smoothed(model: nn.Module, x: torch.Tensor, *, sigma: float = CERT.sigma, n: int = CERT.noise_samples, method: str = CERT.method,
             confidence: float | None = None, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The smoothed prediction and certified L2 radius of each input."""
    check_method(method, confidence)
    k = _num_classes(model, x)
    counts = noise_counts(model, x, sigma, n, num_classes=k, generator=generator)
    pred, radii, _ = radii_from_counts(counts, sigma, method, confidence)
    return pred, radii


def certified_accuracy(correct: torch.Tensor, radii: torch.Tensor, radius: float) -> tuple[float, int]:
    """Eq. 10: #(correct and radius > B) / #(radius > B), and the denominator (0 gives 0.0)."""
    s = summarize(correct, radii, radius)
    return s["certified_accuracy"], s["certified_count"]


def summarize(correct: torch.Tensor, radii: torch.Tensor, radius: float) -> dict:
    """Eq. 10 with its counts, and the robust accuracy over all inputs (Li et al.'s code)."""
    certified = radii > radius
    n_cert, n_ok, n = int(certified.sum()), int((certified & correct).sum()), len(correct)
    return {"certified_accuracy": n_ok / n_cert if n_cert else 0.0, "certified_correct": n_ok,
            "certified_count": n_cert, "examples": n, "robust_accuracy": n_ok / n if n else 0.0,
            "smoothed_accuracy": correct.double().mean().item() if n else 0.0}


def certify(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, sigma: float = CERT.sigma, n: int = CERT.noise_samples,
            radius: float = CERT.radius, method: str = CERT.method, confidence: float | None = None, seed: int = 0) -> dict:
    """Eq. 10 on ``(x, y)``: certified accuracy at L2 radius ``radius`` with its counts, plus the radii."""
    if radius <= 0:
        raise ConfigError(f"certification radius B must be > 0, got {radius}")
    confidence = check_method(method, confidence)
    gen = torch.Generator().manual_seed(seed)
    k = _num_classes(model, x)
    counts = noise_counts(model, x, sigma, n, num_classes=k, generator=gen)
    pred, radii, failures = radii_from_counts(counts, sigma, method, confidence)
    return {**summarize(pred == y.cpu(), radii, radius), "radius_B": radius, "sigma": sigma, "samples": n,
            "method": method, "confidence": confidence, "interval_failures": failures, "radii": radii.tolist()}


def certification_sweep(model: nn.Module, x: torch.Tensor, y: torch.Tensor, sigmas, *, n: int = CERT.noise_samples,
                        radius: float = CERT.radius, methods=METHODS, seed: int = 0) -> list[CertRow]:
    """Eq. 10 at each σ and for each procedure; the noise counts are drawn once per σ and shared
    by the procedures (the Li et al. code procedure also at confidence 0.05, its pre-2021 setting)."""
    rows = []
    k = _num_classes(model, x)
    for sigma in sigmas:
        gen = torch.Generator().manual_seed(seed)
        counts = noise_counts(model, x, sigma, n, num_classes=k, generator=gen)
        settings = [(m, CONFIDENCE[m]) for m in methods]
        if "li-code" in methods:
            settings.append(("li-code", 0.05))
        for method, conf in settings:
            pred, radii, failures = radii_from_counts(counts, sigma, method, conf)
            rows.append(CertRow(sigma=sigma, method=method, confidence=conf, interval_failures=failures,
                                **summarize(pred == y.cpu(), radii, radius)))
    return rows


@register_defense("certified", title="Certified", settings=CertifiedSettings, result=CertifiedData,
                  description="Gaussian-noise certification, Li et al.'s Renyi bound, Eq. 10 at L2 radius B")
def certified_defense(ctx: DefenseContext) -> DefenseResult:
    """Eq. 10 on the first ``images`` attacked and clean inputs of the pool. Not a detector."""
    s = ctx.options(CertifiedSettings)
    n = min(s.images, len(ctx.x))
    c = s.cert
    kw = dict(sigma=c.sigma, n=c.noise_samples, radius=c.radius, method=c.method, confidence=c.confidence,
              seed=ctx.seed)
    a, b = (CertSummary(**_drop(certify(ctx.model, x[:n], ctx.y[:n], **kw), "radii")) for x in (ctx.attacked, ctx.x))
    return DefenseResult(
        title=f"Certified ({a.method}, B={a.radius_B})",
        verdict=f"attacked: {a.certified_accuracy:.1%} ({a.certified_correct}/{a.certified_count} certified correct)",
        details=f"robust {a.robust_accuracy:.1%} of {a.examples}; benign: {b.certified_correct}/"
                f"{b.certified_count} certified correct",
        data=CertifiedData(attacked=a, benign=b))


def _drop(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}
