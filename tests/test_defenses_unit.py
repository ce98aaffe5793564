"""Defense arithmetic on hand-built inputs: anomaly index, STRIP entropy axis, ROC AUC, the
certified bounds (against scipy and the formulas), and Eq. 10."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats
from torch import nn

from advtrojan.defenses import (anomaly_index, certified_accuracy, clopper_pearson, cohen_radius,
                                detection_report, flagged, renyi_radius, roc_auc, strip_entropy)
from advtrojan.defenses.strip import StripSettings


def test_anomaly_index_is_mad_with_consistency_constant():
    norms = torch.tensor([10.0, 11, 9, 10, 12, 8, 10, 2, 30])
    idx = anomaly_index(norms)
    med = 10.0
    mad = 1.4826 * torch.tensor([0.0, 1, 1, 0, 2, 2, 0, 8, 20]).median()
    assert torch.allclose(idx, (norms - med).abs() / mad)
    assert flagged(norms).tolist() == [False] * 7 + [True, False]  # only the small-norm outlier
    assert anomaly_index(torch.full((5,), 3.0)).eq(0).all()


class Fixed(nn.Module):
    """Logits chosen per input by its first pixel: bright -> confident class 0, dark -> uniform."""

    def forward(self, x):
        bright = (x.flatten(1)[:, 0] > 0.5).float()[:, None]
        return bright * torch.tensor([20.0] + [0.0] * 9) + (1 - bright) * torch.zeros(10)


def test_strip_entropy_is_across_classes_per_blend_then_mean():
    reserved = torch.rand(10, 1, 4, 4)
    reserved[:, 0, 0, 0] = torch.linspace(0, 1, 10)
    inputs = torch.rand(3, 1, 4, 4)
    inputs[:, 0, 0, 0] = torch.tensor([0.0, 0.5, 1.0])
    got = strip_entropy(Fixed(), inputs, reserved, StripSettings(alpha=0.5, batch_size=2))
    # the reference, one input and one blend at a time
    model = Fixed()
    want = []
    for x in inputs:
        ents = []
        for r in reserved:
            p = model((0.5 * x + 0.5 * r)[None]).softmax(1)[0]
            ents.append(-(p * p.clamp_min(1e-30).log()).sum())
        want.append(torch.stack(ents).mean())
    assert torch.allclose(got, torch.stack(want), atol=1e-5)
    assert got[2] < got[0]  # a pixel that survives blending (a trigger) lowers the entropy
    # input 0: no blend gets brighter than 0.5, so every blend predicts uniformly: entropy log(10)
    assert math.isclose(got[0].item(), math.log(10), rel_tol=1e-5)


def test_roc_auc_counts_pairs():
    g = torch.Generator().manual_seed(0)
    neg, pos = torch.randn(40, generator=g), torch.randn(30, generator=g) + 1
    pos[:3] = neg[:3]  # ties count half
    brute = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg).item() / (40 * 30)
    assert math.isclose(roc_auc(neg, pos), brute, rel_tol=1e-9)


def test_threshold_comes_from_clean_inputs_only():
    g = torch.Generator().manual_seed(0)
    clean_fit, clean_eval = torch.rand(1000, generator=g) + 1, torch.rand(1000, generator=g) + 1
    attacked = torch.rand(500, generator=g) * 0.5
    r1 = detection_report(clean_fit, clean_eval, attacked)
    r2 = detection_report(clean_fit, clean_eval, attacked + 0.3)  # other attacks, same thresholds
    assert r1["threshold"] == r2["threshold"]
    assert abs(r1["measured_fpr"]["10%"] - 0.10) < 0.03 and r1["fnr"]["10%"] == 0.0 and r1["roc_auc"] == 1.0


def test_clopper_pearson_matches_scipy():
    counts = torch.tensor([0.0, 1, 37, 50, 99, 100])
    lo, up = clopper_pearson(counts, 100, 0.999)
    for c, l, u in zip(counts.tolist(), lo.tolist(), up.tolist()):
        want_lo = stats.beta.ppf(0.001, c, 100 - c + 1) if c > 0 else 0.0
        want_up = stats.beta.ppf(0.999, c + 1, 100 - c) if c < 100 else 1.0
        assert math.isclose(l, want_lo, abs_tol=1e-7) and math.isclose(u, want_up, abs_tol=1e-7)


def test_renyi_bound_zero_when_equal_and_monotone_in_gap():
    p = torch.tensor([0.3, 0.45, 0.5])
    assert renyi_radius(p, p, 0.5).eq(0).all()
    p_a = torch.linspace(0.5, 0.99, 30)
    radii = renyi_radius(p_a, 1 - p_a, 0.5)
    assert radii[0] == 0 and (radii[1:] > radii[:-1]).all()
    # a larger runner-up shrinks the radius; more noise widens it
    assert renyi_radius(torch.tensor([0.8]), torch.tensor([0.15]), 0.5) < renyi_radius(torch.tensor([0.8]), torch.tensor([0.05]), 0.5)
    assert renyi_radius(torch.tensor([0.8]), torch.tensor([0.1]), 1.0) > renyi_radius(torch.tensor([0.8]), torch.tensor([0.1]), 0.5)


def test_renyi_bound_is_the_formula_at_its_best_alpha():
    p_a, p_b, sigma = 0.9, 0.05, 0.5
    best = 0.0
    for a in torch.linspace(1.001, 2.0, 2000, dtype=torch.float64).tolist():
        m = ((p_a ** (1 - a) + p_b ** (1 - a)) / 2) ** (1 / (1 - a))
        best = max(best, math.sqrt(max(0.0, -(2 * sigma ** 2 / a) * math.log(1 - p_a - p_b + 2 * m))))
    assert math.isclose(renyi_radius(torch.tensor([p_a]), torch.tensor([p_b]), sigma).item(), best, rel_tol=1e-3)


def test_cohen_radius_matches_the_formula():
    p = torch.tensor([0.4, 0.5, 0.6, 0.9, 0.999])
    got = cohen_radius(p, 0.25)
    want = [0.25 * stats.norm.ppf(v) if v > 0.5 else 0.0 for v in p.tolist()]
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), atol=1e-9)


def test_eq10_counts_only_certified_inputs():
    correct = torch.tensor([True, True, False, False, True])
    radii = torch.tensor([0.5, 0.1, 0.9, 0.41, 0.0])
    assert certified_accuracy(correct, radii, 0.4) == (pytest.approx(1 / 3), 3)
    assert certified_accuracy(correct, radii, 1.0) == (0.0, 0)
