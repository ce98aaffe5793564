"""Training recipes hold on data they were not tuned on: the budget warm-up, and a model that
learned nothing is said so (metrics.jsonl, evaluate, scan) instead of being judged.

The stand-in for MNIST (which this machine does not have): Fashion-MNIST at MNIST's Table 1 budget
ε = 0.3, from random weights, where Madry-Adv on adversarial examples alone sits at ln 10. The
tests train for seconds (640 images, 3 epochs, PGD-5 with α = ε/2: the stall does not need 20
steps to show, and the warm-up's share of the steps is the preset's).
"""

from __future__ import annotations

import math
from dataclasses import asdict

import pytest
import torch

from advtrojan import presets
from advtrojan.chance import at_chance, chance_level, stalled
from advtrojan.attacks import Budget
from advtrojan.defenses.scan import ScanSettings, scan_model
from advtrojan.results import Chance
from advtrojan.runtime import Runtime
from advtrojan.evaluation.table5 import EvalSettings, evaluate_model
from advtrojan.training import fit, make_config

pytestmark = pytest.mark.slow


def _madry(tmp_path, fmnist, eps: float, **overrides):
    train, test = fmnist
    cfg = make_config("fmnist", "madry", eps=eps, step_size=eps / 2, steps=5, epochs=3, batch_size=32, limit=640,
                      **overrides)
    run = fit(cfg, tmp_path / f"madry-{eps}", train_data=train.balanced_subset(640), progress=False,
              test_data=test.balanced_subset(500, seed=0))
    return cfg, run


@pytest.mark.parametrize("eps", [0.3, 0.2])
def test_madry_adv_from_random_weights_leaves_chance_at_mnist_and_fmnist_budgets(tmp_path, fmnist, eps):
    cfg, run = _madry(tmp_path, fmnist, eps)
    assert cfg.warmup == presets.WARMUP and cfg.benign_weight == 0  # the preset's recipe, from random weights
    last = run.metrics()[-1]
    assert last["test_benign"] > 0.1 + 0.2  # chance is 10%: a clear margin
    assert not any(m["stalled"] for m in run.metrics())


def test_the_fast_training_attack_leaves_chance_at_the_mnist_budget(tmp_path, fmnist):
    """The `fast` preset's training attack (chosen on full Fashion-MNIST at ε 0.2) on the stand-in for
    MNIST: ε 0.3 from random weights, with the warm-up, the model trains."""
    cfg, run = _madry(tmp_path, fmnist, 0.3, train_attack=asdict(presets.FAST_ATTACK))
    assert cfg.train_attack == presets.FAST_ATTACK and cfg.warmup == presets.WARMUP
    assert run.metrics()[-1]["test_benign"] > 0.1 + 0.2
    assert not any(m["stalled"] or m.get("collapse") for m in run.metrics())


def test_without_the_warmup_the_mnist_budget_stalls_and_the_model_gets_no_verdict(tmp_path, fmnist):
    _, run = _madry(tmp_path, fmnist, 0.3, warmup=0.0)  # the recipe before: the failure reproduced
    metrics = run.metrics()
    assert metrics[0]["stalled"] is None  # the first epoch is not judged
    assert all(m["stalled"] for m in metrics[1:])
    assert all(abs(m["adversarial_cross_entropy"] - math.log(10)) < 0.02 for m in metrics[1:])

    model = run.load_model()
    _, test = fmnist
    data = test.balanced_subset(200, seed=3)
    res = evaluate_model(model, data, run.trigger(), Budget(0.3, 0.15, 2), 0.75,
                         EvalSettings(certify=False, methods=("madry",)), progress=False)
    assert res.chance == Chance(0.1, True)
    scan = scan_model(model, test.balanced_subset(300, seed=4), run.trigger(), run.config.budget,
                      run.config.attacker_input(), ScanSettings(defenses=("strip", "neural_cleanse"), pool=100),
                      Runtime(progress=False))
    assert scan.chance.at_chance
    for name in ("strip", "neural_cleanse"):  # no defense ran, none gave a verdict
        d = scan[name]
        assert d.detected is None and d.verdict.startswith("no verdict") and d.data is None and d.skipped


def test_the_stall_and_chance_rules_on_hand_built_numbers():
    ln10 = math.log(10)
    assert stalled({"adversarial_cross_entropy": ln10 + 0.01, "benign_cross_entropy": ln10 - 0.02}, 10)
    assert not stalled({"adversarial_cross_entropy": ln10, "benign_cross_entropy": 1.9}, 10)  # one term learns
    assert not stalled({"advtrojan_reversed_cross_entropy": ln10}, 10)  # no cross-entropy term to judge
    assert chance_level(torch.tensor([0, 0, 0, 1]), 2) == 0.75  # a constant classifier's accuracy
    assert at_chance(0.18, 0.1) and not at_chance(0.2, 0.1)  # 10% of the way from 10% to 100% is 19%
    assert at_chance(0.77, 0.75) and not at_chance(0.8, 0.75)
