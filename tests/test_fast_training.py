"""Single-step adversarial training as a choice: each training attack crafts what its paper says
(on hand-built inputs), catastrophic overfitting is caught on constructed probe records, and a few
seconds of `fast` training on real Fashion-MNIST leave a model more robust to Table 1's PGD-20 than
Vanilla by a clear margin."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F

from advtrojan.attacks import Budget, norms, pgd
from advtrojan.errors import ConfigError
from advtrojan.presets import FAST_ATTACK
from advtrojan.training.attack import TrainingAttack
from advtrojan.training.loop import collapsed

EPS = 0.1


def _setup(monkeypatch, start: torch.Tensor):
    """A linear model, inputs away from the box, and a known random start (in units of the ball)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x, y = torch.rand(8, 1, 4, 4) * 0.2 + 0.4, torch.arange(8) % 3
    monkeypatch.setattr(norms.Linf, "random_perturb", staticmethod(lambda x, radius: start * radius))
    return model, x, y


def _sign_grad(model, z, y):
    z = z.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(z), y, reduction="sum"), z)
    return g.sign()


def test_fgsm_rs_starts_in_the_ball_takes_one_step_of_1_25_eps_and_projects(monkeypatch):
    start = torch.rand(8, 1, 4, 4) * 2 - 1  # uniform in [-1, 1]: a start inside the ε-ball
    model, x, y = _setup(monkeypatch, start)
    attack = TrainingAttack("fgsm-rs").build(Budget(EPS, EPS / 10, 20))
    assert (attack.steps, attack.step_size, attack.random_start, attack.project) == (1, pytest.approx(1.25 * EPS),
                                                                                      True, True)
    x0 = x + start * EPS
    want = x + (start * EPS + 1.25 * EPS * _sign_grad(model, x0, y)).clamp(-EPS, EPS)
    assert torch.allclose(attack(model, x, y), want, atol=1e-6)


def test_n_fgsm_starts_in_2eps_takes_one_step_of_eps_and_does_not_project(monkeypatch):
    start = torch.where(torch.rand(8, 1, 4, 4) > 0.5, 1.0, -1.0)  # the corners of the 2ε box
    model, x, y = _setup(monkeypatch, start)
    attack = TrainingAttack("n-fgsm").build(Budget(EPS, EPS / 10, 20))
    assert (attack.steps, attack.step_size, attack.start, attack.project) == (1, pytest.approx(EPS), 2.0, False)
    x0 = x + 2 * EPS * start
    want = x0 + EPS * _sign_grad(model, x0, y)  # not projected back onto the ε-ball
    out = attack(model, x, y)
    assert torch.allclose(out, want, atol=1e-6)
    assert (out - x).abs().max() == pytest.approx(3 * EPS)  # up to (k + 1)·ε, as de Jorge et al.


def test_fewer_step_pgd_and_the_settings_checks():
    a = TrainingAttack("madry", steps=3, step_ratio=0.5).build(Budget(0.2, 0.02, 20, "l2"))
    assert a.budget == Budget(0.2, 0.1, 3, "l2") and a.random_start and a.project
    assert TrainingAttack().build(Budget(0.2, 0.02, 20)).budget == Budget(0.2, 0.02, 20)  # Table 1's, unchanged
    with pytest.raises(ConfigError, match="one step"):
        TrainingAttack("fgsm-rs", steps=3).validate()
    with pytest.raises(ConfigError, match="n-fgsm's"):
        TrainingAttack("fgsm-rs", noise=2.0).validate()
    with pytest.raises(ConfigError, match="unknown training attack"):
        TrainingAttack("pgd-7").validate()


def test_catastrophic_overfitting_is_caught_and_ordinary_decline_is_not():
    history = [{"epoch": 1, "probe_madry": 0.30, "probe_fgsm": 0.45},
               {"epoch": 2, "probe_madry": 0.42, "probe_fgsm": 0.55}]
    assert collapsed({"probe_madry": 0.05, "probe_fgsm": 0.80}, history)      # PGD collapses, FGSM soars
    assert not collapsed({"probe_madry": 0.05, "probe_fgsm": 0.30}, history)  # worse at both: not this
    assert not collapsed({"probe_madry": 0.30, "probe_fgsm": 0.70}, history)  # a drop of 0.12 < 0.2
    assert not collapsed({"probe_madry": 0.0, "probe_fgsm": 0.9}, [])         # nothing to compare with


@pytest.mark.slow
def test_seconds_of_fast_training_beat_vanilla_under_pgd20(tmp_path, fmnist):
    from advtrojan.attacks import Threat, craft
    from advtrojan.training import fit, make_config
    train, test = fmnist
    data, probe = train.balanced_subset(2000), test.balanced_subset(500, seed=2)
    kw = dict(train_data=data, test_data=probe, progress=False)
    accs = {}
    for name, objective, extra in (("vanilla", "vanilla", {}),
                                   ("fast", "madry", {"train_attack": asdict(FAST_ATTACK)})):
        run = fit(make_config("fmnist", objective, epochs=3, limit=2000, **extra), tmp_path / name, **kw)
        model, cfg = run.load_model(), run.config
        x, y = probe.tensors()
        torch.manual_seed(0)
        adv = craft([Threat.ADVERSARIAL], x, y, attack=cfg.attack(), model=model)[Threat.ADVERSARIAL]  # PGD-20
        with torch.no_grad():
            accs[name] = (model(adv).argmax(1) == y).float().mean().item()
        if name == "fast":
            assert cfg.train_attack == FAST_ATTACK and cfg.attack().steps == 20  # evaluated with Table 1's PGD
            fast_model, fast_cfg = model, cfg
    assert accs["fast"] > accs["vanilla"] + 0.2, accs
    # the fast preset's 200-image probe, on a stand-in budget (eps 0.1, where PGD accuracy is mid-range
    # and sampling error largest): within 0.1 of the 500-image probe, half the 0.2 drop that
    # catastrophic-overfitting detection looks for
    from dataclasses import replace

    from advtrojan.training.loop import COLLAPSE_DROP, probe as run_probe
    stand_in = replace(fast_cfg, budget=fast_cfg.budget.override(eps=0.1, step_size=0.01))
    small, large = (run_probe(fast_model, test.balanced_subset(n, seed=1), stand_in, fast_cfg.trigger(),
                              stand_in.attack(), "cpu") for n in (200, 500))
    assert 0.2 < large["probe_madry"] < 0.8, large  # not a vacuous comparison
    assert all(abs(small[k] - large[k]) < COLLAPSE_DROP / 2 for k in large), (small, large)


def test_a_collapse_ends_training_with_the_best_epochs_weights(tmp_path, monkeypatch):
    """Constructed probes: epoch 2 is the best, epoch 3 collapses. The run stops there, finished, with
    epoch 2's weights (those of a run trained for 2 epochs), and says so in metrics.jsonl."""
    from safetensors.torch import load_file

    from advtrojan.data import load_dataset
    from advtrojan.training import fit, loop, make_config
    from conftest import tiny_spec, write_idx_set

    write_idx_set(tmp_path / "data", n_train=64, n_test=20)
    spec = tiny_spec(n_train=64, n_test=20)
    data = [load_dataset(spec, s, data_dir=tmp_path / "data", download=False) for s in ("train", "test")]
    script = iter([(0.30, 0.40), (0.40, 0.50), (0.05, 0.90), (0.5, 0.5), (0.5, 0.5)])
    probed = []

    def scripted(model, data, *args, **kwargs):
        probed.append(len(data))
        m, f = next(script)
        return {"probe_madry": m, "probe_fgsm": f, "probe_advtrojan": m}

    monkeypatch.setattr(loop, "probe", scripted)
    cfg = dict(batch_size=16, steps=2, precision="fp32", warmup=0.0, train_attack={"method": "fgsm-rs"})
    run = fit(make_config("fmnist", "madry", epochs=5, probe_images=10, **cfg), tmp_path / "stopped",
              train_data=data[0], test_data=data[1], progress=False)
    metrics = run.metrics()
    assert probed == [10, 10, 10] and run.config.probe_images == 10  # the probe's size is the config's
    assert [m["collapse"] for m in metrics] == [False, False, True] and run.finished
    assert not (run.path / "best.safetensors").exists()
    script = iter([(0.30, 0.40), (0.40, 0.50)])
    two = fit(make_config("fmnist", "madry", epochs=2, probe_images=10, **cfg), tmp_path / "two", train_data=data[0],
              test_data=data[1], progress=False)
    a, b = load_file(str(run.path / "model.safetensors")), load_file(str(two.path / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_fast_presets_probe_fewer_images_and_old_configs_keep_500():
    from advtrojan.codec import from_json, to_json
    from advtrojan.training import RunConfig, make_config
    fast, quick = make_config("fmnist", "madry", preset="fast"), make_config("fmnist", "madry", preset="quick")
    paper = make_config("fmnist", "madry")
    assert (fast.probe_images, quick.probe_images, paper.probe_images) == (200, 200, 500)
    old = {k: v for k, v in to_json(quick).items() if k != "probe_images"}  # a config.json from before the setting
    assert from_json(RunConfig, old, "config.json").probe_images == 500
    with pytest.raises(ConfigError):
        make_config("fmnist", "madry", preset="fast", probe_images=0)
