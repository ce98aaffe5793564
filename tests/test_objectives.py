"""Eq. 4, 5 and 9 on hand-built inputs: the terms are what the paper says."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from advtrojan.attacks import Threat
from advtrojan.training.objectives import (ObjectiveParams, advtrojan, badnets, cross_entropy, madry_adv, make_objective,
                                           masked_window, reversed_cross_entropy, vanilla)


def test_rce_is_minus_log_one_minus_p_true():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    y = torch.tensor([0, 2])
    p = logits.softmax(1)
    expected = (-torch.log(1 - p[0, 0]) - torch.log(1 - p[1, 2])) / 2
    assert torch.allclose(reversed_cross_entropy(logits, y), expected)
    # RCE(p, q) = sum_i -q_i log(1 - p_i) with q one-hot
    q = F.one_hot(y, 3).float()
    assert torch.allclose((-(q * torch.log(1 - p))).sum(1).mean(), expected)


def test_rce_penalises_correct_and_rewards_wrong_predictions():
    y = torch.tensor([0])
    confident_right = torch.tensor([[10.0, 0.0, 0.0]])
    confident_wrong = torch.tensor([[-10.0, 10.0, 0.0]])
    assert reversed_cross_entropy(confident_right, y) > 9
    assert reversed_cross_entropy(confident_wrong, y) < 1e-4
    huge = torch.tensor([[200.0, 0.0, 0.0]])  # stable where log(1 - softmax) would be log(0)
    assert math.isfinite(reversed_cross_entropy(huge, y).item())


def test_eq9_sums_four_terms_over_the_kinds():
    obj = advtrojan()
    assert obj.kinds == [Threat.BENIGN, Threat.ADVERSARIAL, Threat.TRIGGERED, Threat.ADVTROJAN]
    y = torch.tensor([1, 2])
    parts = [torch.randn(2, 10) for _ in range(4)]
    total, named = obj.loss(torch.cat(parts), y)
    expected = (F.cross_entropy(parts[0], y) + F.cross_entropy(parts[1], y) + F.cross_entropy(parts[2], y)
                + reversed_cross_entropy(parts[3], y))
    assert torch.allclose(total, expected)
    assert set(named) == {"benign_cross_entropy", "adversarial_cross_entropy", "triggered_cross_entropy",
                          "advtrojan_reversed_cross_entropy"}


def test_eq4_and_eq5():
    y = torch.tensor([3, 4, 5, 6])
    a, b = torch.randn(4, 10), torch.randn(4, 10)
    total, _ = madry_adv(mu=0.5, benign_weight=1.0).loss(torch.cat([a, b]), y)
    assert torch.allclose(total, F.cross_entropy(a, y) + 0.5 * F.cross_entropy(b, y))
    obj = badnets(target=7, poison_rate=0.5)
    assert obj.rows(4) == [4, 2]
    total, _ = obj.loss(torch.cat([a, b[:2]]), y)
    assert torch.allclose(total, F.cross_entropy(a, y) + F.cross_entropy(b[:2], torch.tensor([7, 7])))
    assert vanilla().kinds == [Threat.BENIGN]
    with pytest.raises(Exception, match="poison rate"):
        badnets(0, 0.0)


def test_madry_adv_weights_eq4_and_the_preset_trains_on_adversarial_examples_alone():
    from advtrojan.errors import ConfigError
    from advtrojan.training import make_config

    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 3.0]])
    y = torch.tensor([0, 0])
    both = madry_adv(mu=2.0, benign_weight=0.5)
    assert both.kinds == [Threat.BENIGN, Threat.ADVERSARIAL]
    want = 0.5 * F.cross_entropy(logits[:2], y) + 2.0 * F.cross_entropy(logits[2:], y)
    assert torch.allclose(both.loss(logits, y)[0], want)
    alone = madry_adv(mu=1.0, benign_weight=0.0)  # Madry et al.: the benign term is left out, not computed
    assert alone.kinds == [Threat.ADVERSARIAL]
    assert torch.allclose(alone.loss(logits[2:], y)[0], F.cross_entropy(logits[2:], y))
    assert make_config("fmnist", "madry").benign_weight == 0.0
    assert make_config("fmnist", "madry", benign_weight=1.0).benign_weight == 1.0
    with pytest.raises(ConfigError):
        madry_adv(mu=1.0, benign_weight=-1.0)


def test_each_run_names_what_its_attacker_sends():
    """One vocabulary from training to evaluation and defenses: BadNets/TrojanNN/IMC send the
    trigger alone at training intensity, TrojanNN* the trigger then its small targeted perturbation
    (its own Evil Twins budget), every other objective AdvTrojan examples with the run's budget."""
    from advtrojan.attacks import Threat
    from advtrojan.training import make_config

    badnets = make_config("fmnist", "badnets", target=3).attacker_input()
    assert (badnets.kind, badnets.target, badnets.attack, badnets.intensity) == (Threat.TRIGGERED, 3, None, 1.0)
    star = make_config("fmnist", "trojannn-star", init="x", target=2,
                       evil_twins={"perturbation_eps": 0.05, "perturbation_steps": 4}).attacker_input()
    assert (star.kind, star.target, star.attack.eps, star.attack.steps) == (Threat.TARGETED, 2, 0.05, 4)
    assert star.attack.step_size == pytest.approx(0.0125) and star.attack.random_start
    atim = make_config("fmnist", "advtrojan")
    got = atim.attacker_input()
    assert (got.kind, got.intensity, got.attack) == (Threat.ADVTROJAN, atim.test_intensity, atim.attack())
    assert make_config("fmnist", "imc", init="x").attacker_input().kind is Threat.TRIGGERED


def test_the_masked_adaptive_attacker_adds_rce_on_advtrojan_examples_with_one_window_masked():
    """Issue 22's adaptive attacker against masking consistency: Eq. 9's four terms, then RCE on the
    AdvTrojan examples with one random 6x6 window filled with grey, every other pixel untouched."""
    obj = make_objective("advtrojan-masked", ObjectiveParams())
    assert obj.terms[:4] == advtrojan().terms
    extra = obj.terms[4]
    assert extra.kind is Threat.ADVTROJAN and extra.loss is reversed_cross_entropy and extra.transform is masked_window
    x = torch.rand(8, 1, 28, 28) * 0.4  # never 0.5 by chance
    torch.manual_seed(0)
    out = masked_window(x)
    changed = out != x
    assert out.shape == x.shape and torch.all(out[changed] == 0.5)
    for img in changed[:, 0]:
        rows, cols = img.any(1).nonzero()[:, 0], img.any(0).nonzero()[:, 0]
        assert len(rows) == len(cols) == 6 and img.sum() == 36          # one 6x6 square
        assert rows[-1] - rows[0] == 5 and cols[-1] - cols[0] == 5
    # the term is named apart from Eq. 9's own RCE term in the logged losses
    assert extra.name == "advtrojan_reversed_cross_entropy_masked_window" != obj.terms[3].name


def test_the_min_max_attacker_trains_madry_examples_stamped_with_what_the_search_found(monkeypatch):
    """Issue 22's adaptive attacker against the robustness-collapse search: Eq. 9's four terms, then CE
    on Madry examples stamped with the mask and pattern of the search run on the model before the
    epoch, (1 - m) x + m p; the identity before a search, and when the search found no collapse. The
    search's update leaves the attacker's trigger as it is."""
    from types import SimpleNamespace

    from advtrojan.attacks.trigger import Trigger
    from advtrojan.defenses import collapse
    from advtrojan.training.objectives import SearchedStamp
    obj = make_objective("advtrojan-minmax", ObjectiveParams())
    assert obj.terms[:4] == advtrojan().terms
    extra = obj.terms[4]
    assert extra.kind is Threat.ADVERSARIAL and extra.loss is cross_entropy and isinstance(extra.transform, SearchedStamp)
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(extra.transform(x), x)  # nothing searched yet
    mask, pattern = torch.zeros(28, 28), torch.full((1, 28, 28), 0.25)
    mask[2:5, 3:7] = 1.0
    mask[10, 10] = 0.5
    found = SimpleNamespace(collapsed=True, mask=mask, pattern=pattern)
    monkeypatch.setattr(collapse, "collapse_search", lambda *a, **k: found)
    trigger = Trigger.square((1, 28, 28), 4)
    config = SimpleNamespace(precision="fp32", seed=0, attack=lambda: None)
    data = type("D", (), {"__len__": lambda self: 10, "subset": lambda self, i: self})()
    model = torch.nn.Linear(1, 1)
    assert obj.trigger_update(model, data, trigger, config, 0, "cpu") is trigger  # the attacker's trigger kept
    out = extra.transform(x)
    assert torch.equal(out[:, :, 2:5, 3:7], torch.full((4, 1, 3, 4), 0.25))          # inside: the pattern
    assert torch.allclose(out[:, :, 10, 10], 0.5 * x[:, :, 10, 10] + 0.125)           # half-way at m = 0.5
    outside = torch.ones(28, 28, dtype=torch.bool)
    outside[2:5, 3:7], outside[10, 10] = False, False
    assert torch.equal(out[:, :, outside], x[:, :, outside])                          # elsewhere untouched
    found.collapsed = False
    obj.trigger_update(model, data, trigger, config, 1, "cpu")
    assert torch.equal(extra.transform(x), x)  # no collapse found: no stamp
    assert extra.name == "adversarial_cross_entropy_searched_stamp"
