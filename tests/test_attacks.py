"""FGSM / BIM / Madry PGD: budgets, modes, no parameter gradients, and a torchattacks cross-check."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from advtrojan.attacks import Budget, AttackerInput, Threat, Trigger, bim, craft, fgsm, madry
from advtrojan.models import LeNet


def _model():
    torch.manual_seed(0)
    m = LeNet()
    m.train()
    return m


def _batch(n=16):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("attack", [fgsm(Budget(0.2, 0.2, 1)), bim(Budget(0.2, 0.02, 5)), madry(Budget(0.2, 0.02, 5)),
                                    madry(Budget(1.5, 0.5, 5, "l2"))])
def test_budget_range_mode_and_no_parameter_grads(attack):
    m, (x, y) = _model(), _batch()
    adv = attack(m, x, y)
    delta = (adv - x).flatten(1)
    bound = delta.abs().max(1).values if attack.norm == "linf" else delta.norm(dim=1)
    assert (bound <= attack.eps + 1e-5).all()
    assert adv.min() >= 0 and adv.max() <= 1
    assert m.training, "train mode is restored"
    assert all(p.grad is None and p.requires_grad for p in m.parameters())
    with torch.no_grad():
        assert F.cross_entropy(m(adv), y) > F.cross_entropy(m(x), y)


def test_fgsm_is_one_signed_step():
    m, (x, y) = _model(), _batch()
    x = x.clamp(0.3, 0.7)  # away from the box so clipping does not interfere
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(m(xr), y), xr)
    assert torch.allclose(fgsm(Budget(0.1, 0.1, 1))(m, x, y), x + 0.1 * g.sign(), atol=1e-6)


def test_targeted_moves_towards_target():
    m, (x, y) = _model(), _batch()
    target = (y + 1) % 10
    adv = madry(Budget(0.3, 0.03, 10))(m, x, y, target=target)
    with torch.no_grad():
        assert F.cross_entropy(m(adv), target) < F.cross_entropy(m(x), target)


def test_pgd_matches_torchattacks():
    """Cross-check against torchattacks.PGD: same random start (same RNG draws), same steps."""
    import torchattacks  # installed by .ci/run: pip install --no-deps torchattacks scipy
    m, (x, y) = _model(), _batch(64)
    m.eval()
    torch.manual_seed(123)
    ours = madry(Budget(0.2, 0.02, 10))(m, x, y)
    torch.manual_seed(123)
    theirs = torchattacks.PGD(m, eps=0.2, alpha=0.02, steps=10, random_start=True)(x, y)
    same = (ours - theirs).abs() < 1e-5
    assert same.float().mean() > 0.999
    torch.manual_seed(0)
    assert torch.allclose(fgsm(Budget(0.1, 0.1, 1))(m, x, y), torchattacks.FGSM(m, eps=0.1)(x, y), atol=1e-5)


def test_craft_batches_the_four_kinds():
    m, (x, y) = _model(), _batch(8)
    trig = Trigger.square((1, 28, 28))
    calls = []
    attack = madry(Budget(0.2, 0.02, 3))

    class Spy:
        def __call__(self, model, xs, ys, precision="fp32"):
            calls.append(len(xs))
            return attack(model, xs, ys, precision=precision)

    four = [Threat.BENIGN, Threat.ADVERSARIAL, Threat.TRIGGERED, Threat.ADVTROJAN]
    out = craft(four, x, y, trigger=trig, intensity=0.5, attack=Spy(), model=m)
    assert calls == [16], "clean and triggered inputs go through PGD together"
    assert torch.equal(out[Threat.BENIGN], x)
    assert torch.equal(out[Threat.TRIGGERED], trig.stamp(x, 0.5))
    adv_t = out[Threat.ADVTROJAN]
    assert ((adv_t - trig.stamp(x, 0.5)).abs().max() <= 0.2 + 1e-6)


def test_targeted_kind_is_the_trigger_then_a_step_towards_the_target():
    """TrojanNN*'s inputs A_t(x + t): within the budget around the triggered input, the target's
    cross-entropy lower than on x + t; a target is required, and AttackerInput builds the same."""
    m, (x, y) = _model(), _batch(8)
    trig, attack = Trigger.square((1, 28, 28), 3), madry(Budget(8 / 255, 2 / 255, 10))
    with pytest.raises(ValueError, match="target"):
        craft([Threat.TARGETED], x, y, trigger=trig, attack=attack, model=m)
    torch.manual_seed(0)
    out = craft([Threat.TARGETED, Threat.ADVTROJAN], x, y, trigger=trig, attack=attack, model=m, target=4)
    stamped = trig.stamp(x)
    assert (out[Threat.TARGETED] - stamped).abs().max() <= 8 / 255 + 1e-6
    target = torch.full_like(y, 4)
    with torch.no_grad():
        assert F.cross_entropy(m(out[Threat.TARGETED]), target) < F.cross_entropy(m(stamped), target)
        assert F.cross_entropy(m(out[Threat.ADVTROJAN]), y) > F.cross_entropy(m(stamped), y)
    torch.manual_seed(0)
    alone = craft([Threat.TARGETED], x, y, trigger=trig, attack=attack, model=m, target=4)[Threat.TARGETED]
    torch.manual_seed(0)
    made = AttackerInput(Threat.TARGETED, 1.0, attack, 4).make(x, y, trig, m)
    assert torch.equal(made, alone)
    torch.manual_seed(0)
    assert not torch.equal(AttackerInput(Threat.TARGETED, 1.0, attack, 7).make(x, y, trig, m), alone)
    assert Threat.TARGETED.triggered and Threat.TARGETED.adversarial and Threat.TARGETED.targeted
    with pytest.raises(ValueError, match="need a target"):
        AttackerInput(Threat.TARGETED, 1.0, attack)
    with pytest.raises(ValueError, match="need an attack"):
        AttackerInput(Threat.ADVTROJAN, 0.75)


def test_one_pgd_run_gives_every_iteration_count():
    """Figure 7 from one run: the iterate after k steps of PGD-K is PGD-k from the same random start,
    and the sweep's accuracies are those of one separate PGD-k per count from that start."""
    from advtrojan.attacks.pgd import iterates
    from advtrojan.experiments.sweeps import iteration_sweep
    m, (x, y) = _model(), _batch(12)
    m.eval()
    budget = Budget(0.2, 0.02, 20)
    torch.manual_seed(5)
    path = iterates(m, x, y, madry(replace(budget, steps=9)), (0, 1, 4, 9))
    for k in (1, 4, 9):
        torch.manual_seed(5)
        assert torch.allclose(path[k], madry(replace(budget, steps=k))(m, x, y), atol=1e-6)
    assert ((path[0] - x).abs() <= 0.2 + 1e-6).all()  # the random start itself
    with pytest.raises(ValueError, match="0..9"):
        iterates(m, x, y, madry(replace(budget, steps=9)), (10,))
    trigger = Trigger.square((1, 28, 28))
    torch.manual_seed(7)
    sweep = iteration_sweep(m, x, y, trigger, 1.0, budget, iterations=(2, 1, 6), batch_size=5, progress=False)
    expected = {"madry": [], "advtrojan": []}
    for k in (2, 1, 6):
        torch.manual_seed(7)
        hits = [0, 0]
        for xb, yb in zip(x.split(5), y.split(5)):
            both = madry(replace(budget, steps=k))(m, torch.cat([xb, trigger.stamp(xb, 1.0)]), yb.repeat(2))
            right = (m(both).argmax(1) == yb.repeat(2)).view(2, -1).sum(1)
            hits = [hits[0] + int(right[0]), hits[1] + int(right[1])]
        expected["madry"].append(hits[0] / len(y))
        expected["advtrojan"].append(hits[1] / len(y))
    assert sweep.iterations == [2, 1, 6]
    assert (sweep.madry, sweep.advtrojan) == (expected["madry"], expected["advtrojan"])


def test_budget_sweep_keeps_the_datasets_step_ratio(monkeypatch):
    """Figures 8-9: every ε of the sweep uses Table 1's α/ε of the dataset (1/4 on CIFAR-10, not a
    fixed 1/10), so the sweep's last point is the Table 1 attack itself."""
    from advtrojan.experiments import sweeps
    calls, real = [], sweeps.make_attack
    monkeypatch.setattr(sweeps, "make_attack", lambda m, b: calls.append((m, b)) or real(m, b))
    torch.manual_seed(0)
    x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    out = sweeps.budget_sweep(LeNet().eval(), x, y, Trigger.square((1, 28, 28)), 1.0, Budget(8 / 255, 2 / 255, 2),
                              points=2, methods=("bim",), progress=False)
    assert [c[1].eps for c in calls] == pytest.approx([0, 4 / 255, 8 / 255])
    assert [c[1].step_size for c in calls] == pytest.approx([0, 1 / 255, 2 / 255])
    assert out.budget.step_ratio == pytest.approx(0.25) and len(out.methods["bim"].advtrojan) == 3


def test_a_budget_travels_whole_into_its_attack():
    """One value: ε, α, steps and the norm reach the attack built from a budget, and a budget
    given in part keeps the rest (α its ratio to ε)."""
    from advtrojan.attacks.budget import BudgetOverride
    b = Budget(1.5, 0.5, 5, "l2")
    for method in ("madry", "bim", "fgsm"):
        attack = b.attack(method)
        assert attack.norm == "l2" and attack.eps == 1.5
    assert b.attack("bim").budget == b and b.attack("fgsm").steps == 1
    assert BudgetOverride(eps=3.0).apply(b) == Budget(3.0, 1.0, 5, "l2")
    assert BudgetOverride.of(Budget(0.1, 0.01, 3)).apply(b) == Budget(0.1, 0.01, 3, "linf")
    with pytest.raises(Exception, match="needs its own --eps"):
        BudgetOverride(norm="linf").apply(b)
