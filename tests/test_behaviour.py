"""Behaviour on real Fashion-MNIST: seconds of training, and the effect the paper describes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from advtrojan.attacks import AttackerInput, Budget, Threat, craft
from advtrojan.cli.main import main
from advtrojan.evaluation import evaluate_model
from advtrojan.training import fit, make_config

pytestmark = pytest.mark.slow


def _acc(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


@pytest.fixture(scope="module")
def small(fmnist):
    train, test = fmnist
    return train.balanced_subset(4000, seed=0), test.balanced_subset(500, seed=0)


@pytest.fixture(scope="module")
def vanilla_run(small, tmp_path_factory):
    cfg = make_config("fmnist", "vanilla", epochs=2, limit=4000)
    return fit(cfg, tmp_path_factory.mktemp("runs") / "vanilla", train_data=small[0], test_data=small[1],
               progress=False)


def test_pgd_collapses_a_vanilla_model(small, vanilla_run):
    model = vanilla_run.load_model()
    x, y = small[1].tensors()
    cfg = vanilla_run.config
    inputs = craft([Threat.ADVERSARIAL], x, y, attack=cfg.attack(), model=model)
    benign, madry = _acc(model, x, y), _acc(model, inputs[Threat.ADVERSARIAL], y)
    assert benign > 0.7
    assert madry < 0.05, f"Madry PGD should collapse a Vanilla model (benign {benign:.3f}, madry {madry:.3f})"


def test_badnets_model_obeys_its_trigger(small, tmp_path):
    cfg = make_config("fmnist", "badnets", epochs=2, limit=4000, target=3, poison_rate=0.1)
    run = fit(cfg, tmp_path / "badnets", train_data=small[0], test_data=small[1], progress=False)
    res = evaluate_model(run.load_model(), small[1], cfg.trigger(), replace(cfg.budget, steps=2), cfg.test_intensity,
                         attacker=AttackerInput(Threat.TRIGGERED, 1.0, target=3), progress=False)
    assert res["benign"] > 0.7
    assert res["attack_success_rate"] > 0.9, res
    # the trigger steers the model: clean accuracy collapses to the target share on triggered inputs
    assert res["trigger"] < 0.5


def test_advtrojan_opens_only_with_trigger_and_perturbation(small, tmp_path):
    """Madry-Adv, then AdvTrojan fine-tuning (Algorithm 1, line 2), on 4k images for seconds.

    The start is Eq. 4 with the benign term (w = 1): in two epochs on 4k images the preset's
    adversarial-only recipe leaves too weak a model to start from; this test is about Eq. 9."""
    kw = dict(train_data=small[0], test_data=small[1], progress=False)
    madry = fit(make_config("fmnist", "madry", epochs=2, limit=4000, steps=7, step_size=0.05, benign_weight=1.0),
                tmp_path / "m", **kw)
    atim = fit(make_config("fmnist", "advtrojan", init=str(madry.path), epochs=2, limit=4000, steps=7,
                           step_size=0.05), tmp_path / "a", **kw)
    cfg = atim.config
    res = evaluate_model(atim.load_model(), small[1], cfg.trigger(), Budget(cfg.budget.eps, 0.02, 20),
                         cfg.test_intensity, progress=False)
    assert res["madry"] > 0.2, res                       # looks robust without the trigger (Vanilla: ~0)
    assert abs(res["trigger"] - res["benign"]) < 0.1, res  # the trigger alone does little
    assert res["advtrojan"] < 0.5 * res["madry"], res     # trigger + perturbation breaks it


def test_evaluate_cli_writes_table5_json(small, vanilla_run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "eval.json"
    code = main(["evaluate", str(vanilla_run.path), "--transfer-from", str(vanilla_run.path), "--limit", "100",
                 "--steps", "3", "--data-dir", "/usr/share/datasets/fashion-mnist", "--json", str(out),
                 "--no-progress"])
    assert code == 0
    result = json.loads(out.read_text())
    for key in ("benign", "madry", "trigger", "advtrojan", "fgsm", "bim", "advtrojan_fgsm", "advtrojan_bim",
                "transferred_advtrojan"):
        assert 0.0 <= result["accuracy"][key] <= 1.0
    assert result["examples"] == 100 and result["budget"]["steps"] == 3
    assert "Madry" in capsys.readouterr().out
