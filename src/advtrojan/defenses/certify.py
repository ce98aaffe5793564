"""Certified accuracy under additive Gaussian noise (Eq. 10; Li et al. 2019; Cohen et al. 2019).

For each input, ``n`` noisy copies ``x + N(0, σ²I)`` are classified; the counts give the
smoothed prediction (the majority class) and Clopper-Pearson confidence bounds: a lower bound
on the top class's probability p_A and an upper bound on the runner-up's p_B.

- **Li et al. 2019** (Rényi divergence; the paper's choice): the prediction is certified at L2
  radius L when, for some α in (1, 2],
  ``α L² / (2σ²) < −log(1 − p_A − p_B + 2·((p_A^{1−α} + p_B^{1−α}) / 2)^{1/(1−α)})``, so
  ``radius = sup_α sqrt(−(2σ²/α) · log(1 − p_A − p_B + 2·M_{1−α}(p_A, p_B)))``.
  It is 0 when p_A = p_B and grows with the gap.
- **Cohen et al. 2019** (option): ``radius = σ · Φ⁻¹(p_A)`` where p_A > 1/2, else abstain.

Eq. 10: certified accuracy = #(smoothed prediction correct and radius > B) / #(radius > B).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..utils.device import autocast

ALPHAS = torch.linspace(1.0 + 1e-3, 2.0, 200, dtype=torch.float64)


def _binomial_tail(n: int, k: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """P(Binomial(n, x) >= k), elementwise over k and x (float64)."""
    j = torch.arange(n + 1, dtype=torch.float64)
    xs = x.clamp(1e-300, 1 - 1e-16)[:, None]
    logpmf = (torch.lgamma(torch.tensor(n + 1.0, dtype=torch.float64)) - torch.lgamma(j + 1) - torch.lgamma(n - j + 1)
              + j * torch.log(xs) + (n - j) * torch.log1p(-xs))
    return (logpmf.exp() * (j[None] >= k[:, None])).sum(1)


def _solve_tail(n: int, k: torch.Tensor, q: float) -> torch.Tensor:
    """x with P(Binomial(n, x) >= k) = q, by bisection (the tail grows with x)."""
    lo = torch.zeros_like(k, dtype=torch.float64)
    hi = torch.ones_like(k, dtype=torch.float64)
    for _ in range(60):
        mid = (lo + hi) / 2
        below = _binomial_tail(n, k, mid) < q
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return (lo + hi) / 2


def clopper_pearson(count: torch.Tensor, n: int, confidence: float = 0.999) -> tuple[torch.Tensor, torch.Tensor]:
    """One-sided Clopper-Pearson bounds (lower, upper), each at ``confidence``, on count / n.

    Lower: the x with P(Bin(n, x) >= count) = 1 − confidence (Beta(count, n − count + 1)
    quantile); upper: the x with P(Bin(n, x) <= count) = 1 − confidence.
    """
    values, inverse = count.double().unique(return_inverse=True)  # at most n + 1 distinct counts
    alpha = 1 - confidence
    lower = torch.where(values > 0, _solve_tail(n, values, alpha), torch.zeros_like(values))
    upper = torch.where(values < n, _solve_tail(n, values + 1, 1 - alpha), torch.ones_like(values))
    return lower[inverse], upper[inverse]


def renyi_radius(p_a: torch.Tensor, p_b: torch.Tensor, sigma: float, alphas: torch.Tensor = ALPHAS) -> torch.Tensor:
    """Li et al.'s certified L2 radius for bounds p_A (top) and p_B (runner-up); 0 if p_A <= p_B."""
    p_a = p_a.double().clamp(1e-12, 1.0)[:, None]
    p_b = p_b.double().clamp(1e-12, 1.0)[:, None]
    a = alphas[None].to(p_a.device)
    mean = ((p_a ** (1 - a) + p_b ** (1 - a)) / 2) ** (1 / (1 - a))
    inner = (1 - p_a - p_b + 2 * mean).clamp(min=1e-300)
    value = -(2 * sigma ** 2 / a) * torch.log(inner)
    radius = value.clamp(min=0).sqrt().max(1).values
    return torch.where(p_a[:, 0] > p_b[:, 0], radius, torch.zeros_like(radius))


def cohen_radius(p_a: torch.Tensor, sigma: float) -> torch.Tensor:
    """Cohen et al.'s radius σ·Φ⁻¹(p_A) for p_A > 1/2, else 0 (abstain)."""
    p = p_a.double().clamp(max=1 - 1e-12)
    radius = sigma * math.sqrt(2) * torch.special.erfinv(2 * p - 1)
    return torch.where(p > 0.5, radius, torch.zeros_like(radius))


@torch.no_grad()
def noise_counts(model: nn.Module, x: torch.Tensor, sigma: float, n: int = 100, batch: int = 1000,
                 num_classes: int = 10, precision: str = "fp32", generator: torch.Generator | None = None) -> torch.Tensor:
    """Class counts (B, K) over ``n`` Gaussian-noise copies of each input, in big batches."""
    model.eval()
    counts = []
    per = max(1, batch // n)
    for chunk in x.split(per):
        noisy = chunk[:, None] + sigma * torch.randn((len(chunk), n, *chunk.shape[1:]), generator=generator,
                                                     device="cpu").to(chunk.device)
        with autocast(chunk.device, precision):
            pred = model(noisy.flatten(0, 1)).argmax(1).view(len(chunk), n)
        counts.append(torch.nn.functional.one_hot(pred, num_classes).sum(1))
    return torch.cat(counts)


def smoothed(model: nn.Module, x: torch.Tensor, *, sigma: float = 0.5, n: int = 100, method: str = "li",
             confidence: float = 0.999, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The smoothed prediction and certified L2 radius of each input (Li et al. or Cohen et al.)."""
    if method not in ("li", "cohen"):
        from ..errors import ConfigError
        raise ConfigError(f"unknown certification method {method!r}: choose li or cohen")
    with torch.no_grad():
        k = model(x[:1]).shape[1]
    counts = noise_counts(model, x, sigma, n, num_classes=k, generator=generator)
    top2 = counts.topk(2, dim=1)
    lo_a, _ = clopper_pearson(top2.values[:, 0].cpu(), n, confidence)
    _, up_b = clopper_pearson(top2.values[:, 1].cpu(), n, confidence)
    radii = renyi_radius(lo_a, up_b, sigma) if method == "li" else cohen_radius(lo_a, sigma)
    return top2.indices[:, 0].cpu(), radii


def certified_accuracy(correct: torch.Tensor, radii: torch.Tensor, radius: float) -> tuple[float, int]:
    """Eq. 10: #(correct and radius > B) / #(radius > B), and the denominator (0 gives 0.0)."""
    certified = radii > radius
    n = int(certified.sum())
    return (int((certified & correct).sum()) / n if n else 0.0), n


def certify(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, sigma: float = 0.5, n: int = 100,
            radius: float = 0.4, method: str = "li", confidence: float = 0.999, seed: int = 0) -> dict:
    """Eq. 10 on ``(x, y)``: certified accuracy at L2 radius ``radius``, plus the radii."""
    if radius <= 0:
        from ..errors import ConfigError
        raise ConfigError(f"certification radius B must be > 0, got {radius}")
    gen = torch.Generator().manual_seed(seed)
    pred, radii = smoothed(model, x, sigma=sigma, n=n, method=method, confidence=confidence, generator=gen)
    correct = pred == y.cpu()
    acc, n_cert = certified_accuracy(correct, radii, radius)
    return {"certified_accuracy": acc, "certified_count": n_cert, "examples": len(x),
            "smoothed_accuracy": correct.float().mean().item(), "radius_B": radius, "sigma": sigma,
            "samples": n, "method": method, "confidence": confidence, "radii": radii.tolist()}
