"""Defense arithmetic on hand-built inputs: anomaly index, STRIP entropy axis, ROC AUC, the
certified bounds (against scipy and the formulas), and Eq. 10."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from advtrojan.defenses import (anomaly_index, certified_accuracy, clopper_pearson, cohen_radius,
                                detection_report, flagged, renyi_radius, roc_auc, strip_entropy)
from advtrojan.defenses.certify import (ALPHAS, certification_sweep, radii_from_counts, sison_glaz,
                                        summarize)
from advtrojan.defenses.neural_cleanse import NCSettings, neural_cleanse
from advtrojan.defenses.strip import StripSettings


def _wang_reference(norms: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Wang et al.'s mad_outlier_detection.py, in NumPy: np.median, 1.4826, flags at or below the
    median with an index above 2."""
    median = np.median(norms)
    mad = 1.4826 * np.median(np.abs(norms - median))
    index = np.abs(norms - median) / mad
    return index, [k for k in range(len(norms)) if norms[k] <= median and index[k] > 2]


def test_anomaly_index_and_flags_equal_wang_et_al_where_the_lower_median_differs():
    # an even count, as 10 classes: the lower middle value (torch.median) is 10, the true median 11.5
    norms = np.array([3.0, 9.5, 10, 10, 13, 13.5, 14, 14, 15, 40])
    assert float(torch.tensor(norms).median()) != float(np.median(norms))
    index, flags = _wang_reference(norms)
    assert np.allclose(anomaly_index(torch.tensor(norms)).numpy(), index, atol=1e-6)
    assert [k for k, f in enumerate(flagged(torch.tensor(norms)).tolist()) if f] == flags == [0]
    # where more than half the norms are equal, MAD = 0 and Wang et al.'s code divides by zero
    # (every other class gets an infinite index); ours defines the index as 0 and flags nothing
    assert not flagged(torch.tensor([5.0] * 6 + [1.0, 9.0, 9.0, 9.0])).any()
    g = np.random.default_rng(0)
    for _ in range(50):  # random norms, odd and even counts
        norms = g.gamma(3.0, 10.0, size=int(g.integers(4, 12)))
        norms[0] /= 5
        index, flags = _wang_reference(norms)
        assert np.allclose(anomaly_index(torch.tensor(norms)).numpy(), index, atol=1e-5)
        assert [k for k, f in enumerate(flagged(torch.tensor(norms)).tolist()) if f] == flags
    assert anomaly_index(torch.full((5,), 3.0)).eq(0).all()


class Fixed(nn.Module):
    """Logits chosen per input by its first pixel: bright -> confident class 0, dark -> uniform."""

    def forward(self, x):
        bright = (x.flatten(1)[:, 0] > 0.5).float()[:, None]
        return bright * torch.tensor([20.0] + [0.0] * 9) + (1 - bright) * torch.zeros(10)


def test_strip_entropy_equals_gao_et_al_reference_loop():
    """Gao et al.'s notebook: x + r (addWeighted 1, 1, unclipped), softmax, -nansum(p log2 p)
    over every blend, divided by N."""
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 10))
    torch.nn.init.normal_(model[1].weight, std=3.0, generator=g)
    reserved = torch.rand(7, 1, 4, 4, generator=g)
    inputs = torch.rand(5, 1, 4, 4, generator=g)
    got = strip_entropy(model, inputs, reserved, StripSettings(batch_size=2))
    want = []
    with torch.no_grad():
        for x in inputs.numpy():
            blends = np.stack([x + r for r in reserved.numpy()])  # no clipping
            p = model(torch.from_numpy(blends)).softmax(1).double().numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                want.append(-np.nansum(p * np.log2(p)) / len(reserved))
    assert np.allclose(got.numpy(), want, atol=1e-5)
    assert (inputs[:, None] + reserved[None]).max() > 1  # the blends do leave [0, 1]


def test_strip_superimposition_adds_and_a_surviving_trigger_lowers_the_entropy():
    reserved = torch.rand(10, 1, 4, 4)
    reserved[:, 0, 0, 0] = torch.linspace(0, 0.4, 10)
    inputs = torch.rand(3, 1, 4, 4)
    inputs[:, 0, 0, 0] = torch.tensor([0.0, 0.3, 0.75])  # 0.75: a trigger pixel at the paper's intensity
    added = strip_entropy(Fixed(), inputs, reserved, StripSettings(batch_size=2))
    averaged = strip_entropy(Fixed(), inputs, reserved, StripSettings(superimpose="average", batch_size=2))
    assert added[2] < added[0] and math.isclose(added[0].item(), math.log2(10), rel_tol=1e-5)
    # averaging halves the trigger (0.75 -> at most 0.575, but mostly below 0.5): it barely survives
    assert averaged[2] > added[2]


def test_roc_auc_counts_pairs():
    g = torch.Generator().manual_seed(0)
    neg, pos = torch.randn(40, generator=g), torch.randn(30, generator=g) + 1
    pos[:3] = neg[:3]  # ties count half
    brute = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg).item() / (40 * 30)
    assert math.isclose(roc_auc(neg, pos), brute, rel_tol=1e-9)


def test_threshold_comes_from_clean_inputs_only():
    g = torch.Generator().manual_seed(0)
    clean_fit, clean_eval = torch.randn(1000, generator=g) + 5, torch.randn(1000, generator=g) + 5
    attacked = torch.rand(500, generator=g) * 0.5
    r1 = detection_report(clean_fit, clean_eval, attacked)
    r2 = detection_report(clean_fit, clean_eval, attacked + 0.3)  # other attacks, same thresholds
    assert r1["threshold"] == r2["threshold"]
    assert abs(r1["measured_fpr"]["10%"] - 0.10) < 0.03 and r1["fnr"]["10%"] == 0.0 and r1["roc_auc"] == 1.0


def test_gao_threshold_is_the_frr_quantile_of_a_normal_fit():
    g = torch.Generator().manual_seed(1)
    clean = torch.rand(400, generator=g) * 2 + 1  # not normal: the fit and the quantile differ
    r = detection_report(clean, clean, torch.zeros(5))
    mu, sigma = stats.norm.fit(clean.double().numpy())
    for fpr, key in ((0.10, "10%"), (0.05, "5%"), (0.02, "2%")):
        assert math.isclose(r["threshold"][key], stats.norm.ppf(fpr, mu, sigma), rel_tol=1e-9)
        assert math.isclose(r["threshold_high"][key], stats.norm.ppf(1 - fpr, mu, sigma), rel_tol=1e-9)
    q = detection_report(clean, clean, torch.zeros(5), method="quantile")
    assert math.isclose(q["threshold"]["10%"], torch.quantile(clean.double(), 0.1).item(), rel_tol=1e-9)
    assert q["threshold"]["10%"] != r["threshold"]["10%"]


def test_two_sided_strip_catches_high_entropy_attacks_that_gao_misses():
    g = torch.Generator().manual_seed(2)
    clean_fit, clean_eval = torch.randn(2000, generator=g), torch.randn(2000, generator=g)
    attacked = torch.randn(500, generator=g) + 5  # more uncertain than clean inputs, as AdvTrojan examples
    r = detection_report(clean_fit, clean_eval, attacked)
    assert r["fnr"]["10%"] == 1.0 and r["roc_auc"] < 0.01
    assert r["fnr_high"]["10%"] < 0.01 and r["fnr_two_sided"]["10%"] < 0.01 and r["roc_auc_high"] > 0.99
    for key in ("10%", "5%", "2%"):
        target = float(key[:-1]) / 100
        assert abs(r["measured_fpr_two_sided"][key] - target) < 0.02
        assert abs(r["measured_fpr_high"][key] - target) < 0.02


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


def test_li_et_al_code_procedure_matches_their_formula_on_hand_built_counts():
    """bound.py: counts sorted descending, Sison-Glaz intervals, qi = ci[0,0], qj = ci[1,1],
    alpha = linspace(1.01, 2.0, 100), radius = sd * sqrt(2 * max(-log(1 - qi - qj + 2 M) / alpha))."""
    from statsmodels.stats.proportion import multinomial_proportions_confint

    counts = torch.tensor([[5, 60, 30, 5, 0, 0, 0, 0, 0, 0], [0, 0, 100, 0, 0, 0, 0, 0, 0, 0],
                           [20, 18, 16, 14, 12, 10, 5, 3, 1, 1], [50, 50, 0, 0, 0, 0, 0, 0, 0, 0],
                           [0, 3, 0, 88, 9, 0, 0, 0, 0, 0]])
    sd = 0.5
    for confidence in (0.95, 0.05):
        pred, radii, _ = radii_from_counts(counts, sd, "li-code", confidence)
        assert pred.tolist() == [1, 2, 0, 0, 3]  # ties go to the first class
        for row, got in zip(counts.numpy(), radii.tolist()):
            ci = multinomial_proportions_confint(np.sort(row)[::-1], alpha=1 - confidence, method="sison-glaz")
            qi, qj = ci[0, 0], ci[1, 1]
            alpha = np.linspace(1.01, 2.0, 100)
            with np.errstate(all="ignore"):
                bound = (-np.log(1 - qi - qj + 2 * ((qi ** (1 - alpha) + qj ** (1 - alpha)) / 2) ** (1 / (1 - alpha)))
                         / alpha).max()
            want = np.sqrt(bound * 2.0) * sd if qi > qj else 0.0
            assert math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9), (row, confidence)
    assert torch.allclose(ALPHAS[[0, -1]], torch.tensor([1.01, 2.0], dtype=torch.float64))
    # at 5% confidence the ends are near the plug-in frequencies: a far larger radius than at 95%
    p_a, p_b, failed = sison_glaz(counts[:1], 0.05)
    assert not failed.any() and abs(p_a.item() - 0.60) < 0.02 and abs(p_b.item() - 0.30) < 0.03


def test_batched_sison_glaz_equals_statsmodels_row_by_row():
    """The intervals of all count vectors at once equal statsmodels' sison-glaz one vector at a time
    (the reference), on random votes of 100 noisy copies from peaked to flat, and on unanimous ones."""
    from statsmodels.stats.proportion import multinomial_proportions_confint
    from advtrojan.defenses.certify import sison_glaz_intervals

    rng = np.random.default_rng(0)
    rows = [np.sort(rng.multinomial(100, rng.dirichlet(np.full(10, a))))[::-1] for a in (0.05, 0.3, 1, 3)
            for _ in range(6)]
    rows += [np.array([100] + [0] * 9), np.array([99, 1] + [0] * 8), np.array([50, 50] + [0] * 8), np.full(10, 10)]
    for confidence in (0.95, 0.05):
        lower, upper, failed = sison_glaz_intervals(np.array(rows), confidence)
        assert not failed.any()
        for row, lo, hi in zip(rows, lower, upper):
            ci = multinomial_proportions_confint(row, alpha=1 - confidence, method="sison-glaz")
            assert np.allclose(ci[:, 0], lo, rtol=0, atol=1e-9) and np.allclose(ci[:, 1], hi, rtol=0, atol=1e-9), row


def test_certification_reports_its_counts_and_robust_accuracy():
    correct = torch.tensor([True, True, False, False, True, True])
    radii = torch.tensor([0.5, 0.1, 0.9, 0.41, 0.0, 0.7])
    s = summarize(correct, radii, 0.4)
    assert (s["certified_correct"], s["certified_count"], s["examples"]) == (2, 4, 6)
    assert s["certified_accuracy"] == 0.5 and s["robust_accuracy"] == pytest.approx(2 / 6)


def test_certification_sweep_shares_the_noise_across_procedures():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 10))
    x, y = torch.rand(12, 1, 4, 4), torch.arange(12) % 10
    rows = certification_sweep(model, x, y, (0.1, 0.3), n=50)
    assert [(r.sigma, r.method, r.confidence) for r in rows[:4]] == [
        (0.1, "li", 0.999), (0.1, "li-code", 0.95), (0.1, "cohen", 0.999), (0.1, "li-code", 0.05)]
    assert len({r.smoothed_accuracy for r in rows if r.sigma == 0.1}) == 1  # one draw of noise per sigma
    assert all(r.examples == 12 and r.certified_correct <= r.certified_count for r in rows)


def test_renyi_bound_is_the_formula_at_its_best_alpha():
    p_a, p_b, sigma = 0.9, 0.05, 0.5
    best = 0.0
    for a in torch.linspace(1.01, 2.0, 100, dtype=torch.float64).tolist():  # Li et al.'s grid
        m = ((p_a ** (1 - a) + p_b ** (1 - a)) / 2) ** (1 / (1 - a))
        best = max(best, math.sqrt(max(0.0, -(2 * sigma ** 2 / a) * math.log(1 - p_a - p_b + 2 * m))))
    assert math.isclose(renyi_radius(torch.tensor([p_a]), torch.tensor([p_b]), sigma).item(), best, rel_tol=1e-6)


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


class Constant(nn.Module):
    """Predicts class 0 whatever the input: every trigger reaches target 0 at once."""

    def forward(self, x):
        return torch.tensor([10.0] + [0.0] * 9).expand(len(x), 10)


def test_neural_cleanse_cost_starts_at_zero_and_is_set_after_patience_epochs():
    from advtrojan.data import ImageData, get_spec
    from dataclasses import replace
    spec = replace(get_spec("fmnist"), size=4, test_size=16)
    data = ImageData(spec, "test", torch.randint(0, 256, (16, 1, 4, 4), dtype=torch.uint8), torch.arange(16) % 10)
    short = neural_cleanse(Constant(), data, NCSettings(epochs=3, batch_size=16, patience=5), classes=[0, 1],
                           progress=False)
    assert short.extra["final_cost"] == [0.0, 0.0] and short.extra["cost_set_at_epoch"] == [0, 0]
    run = neural_cleanse(Constant(), data, NCSettings(epochs=7, batch_size=16, patience=2), classes=[0, 1],
                         progress=False)
    # target 0 succeeds from the first epoch: after 2 epochs at cost 0 the cost is set to 1e-3, then
    # raised x2 every 2 epochs (epochs 3, 5, 7); target 1 never succeeds and its cost stays 0
    assert run.extra["cost_set_at_epoch"] == [2, 0]
    assert run.extra["final_cost"][0] == pytest.approx(1e-3 * 2 ** 3) and run.extra["final_cost"][1] == 0.0


def test_checked_votes_are_fp32_votes_where_bf16_would_flip_them():
    """Eq. 10's noisy votes at bf16 cost: near-ties, where bf16 picks the other class, are rerun in fp32."""
    from advtrojan.defenses.certify import CheckedArgmax, noise_counts
    from advtrojan.utils.device import autocast

    torch.manual_seed(0)
    model = nn.Linear(16, 3)
    with torch.no_grad():  # class 1 is class 0 plus a sliver: a near-tie that bf16's 8-bit mantissa rounds away
        model.weight[0] = model.weight[0].abs()
        model.weight[1] = model.weight[0] * (1 + 2 ** -10)
        model.bias[1] = model.bias[0]
        model.weight[2], model.bias[2] = 0.0, -100.0
    x = torch.rand(64, 16) + 0.5
    with torch.no_grad():
        fp32 = model(x).argmax(1)
        with autocast(x.device, "bf16"):
            bf16 = model(x).argmax(1)
    assert not torch.equal(bf16, fp32)  # the case is real: plain bf16 votes differ
    check = CheckedArgmax(model, "cpu", screen=True)
    check(torch.rand(32, 16))  # the first batch calibrates the tolerance
    assert torch.equal(check(x), fp32) and check.rerun >= 32 + 1
    # and the counts of Eq. 10 with the screen equal fp32's, on noise around a near-tie
    gen = lambda: torch.Generator().manual_seed(1)
    want = noise_counts(model, x[:8], 0.01, 50, num_classes=3, precision="fp32", generator=gen())
    assert torch.equal(noise_counts(model, x[:8], 0.01, 50, num_classes=3, precision="checked", generator=gen()), want)


def test_checked_votes_equal_fp32_on_a_trained_model(fmnist, monkeypatch):
    """On a LeNet trained for seconds on real Fashion-MNIST, the checked counts equal fp32's exactly at
    the certification sweep's σ's, while bf16's differ, and the screen spares most inputs the fp32 pass."""
    import importlib
    from advtrojan.models.lenet import LeNet

    certify = importlib.import_module("advtrojan.defenses.certify")
    monkeypatch.setattr(certify, "native_bf16", lambda device: True)  # screen on whatever CPU runs the test
    train, test = fmnist
    torch.manual_seed(0)
    x, y = train.balanced_subset(2000, seed=0).tensors("cpu")
    model = LeNet()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for xb, yb in zip(x.split(100), y.split(100)):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()
    model.eval()
    probe = test.balanced_subset(40, seed=3).tensors("cpu")[0]
    differs = 0
    for sigma in (0.1, 0.5):
        def counts(precision):
            return certify.noise_counts(model, probe, sigma, 100, precision=precision,
                                        generator=torch.Generator().manual_seed(0))
        want = counts("fp32")
        assert torch.equal(counts("checked"), want)
        differs += int((counts("bf16") != want).any(1).sum())
        check = certify.CheckedArgmax(model, "cpu")
        for noisy in (probe[:, None] + sigma * torch.randn(40, 100, 1, 28, 28)).flatten(0, 1).split(1000):
            check(noisy)
        assert check.rerun < 0.5 * check.inputs
    assert differs > 0
