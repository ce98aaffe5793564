"""Run folders: safetensors only, resume after an interruption, no silent overwrite."""

from __future__ import annotations

import json

import pytest
import torch

from advtrojan.errors import AdvTrojanError, ConfigError
from advtrojan.training import fit, make_config
from advtrojan.training import loop
from advtrojan.models.weights import load_into, read_weights, save_weights
from advtrojan.attacks import Budget
from advtrojan.training.runs import Run
from advtrojan.models import LeNet
from conftest import tiny_spec, write_idx_set
from advtrojan.data import load_dataset


@pytest.fixture
def tiny_data(tmp_path):
    write_idx_set(tmp_path / "data", n_train=64, n_test=20)
    spec = tiny_spec(n_train=64, n_test=20)
    return (load_dataset(spec, "train", data_dir=tmp_path / "data", download=False),
            load_dataset(spec, "test", data_dir=tmp_path / "data", download=False))


def _cfg(**kw):
    base = dict(epochs=3, batch_size=16, steps=2, precision="fp32")
    base.update(kw)
    return make_config("fmnist", "madry", **base)


def test_run_folder_contents(tmp_path, tiny_data):
    run = fit(_cfg(), tmp_path / "run", train_data=tiny_data[0], test_data=tiny_data[1], progress=False)
    names = sorted(p.name for p in run.path.iterdir())
    assert names == ["config.json", "metrics.jsonl", "model.safetensors", "state.json", "trigger.safetensors"]
    cfg = json.loads((run.path / "config.json").read_text())
    for key in ("dataset", "model", "objective", "trigger_size", "budget", "warmup", "seed", "versions"):
        assert key in cfg
    assert cfg["budget"] == {"eps": 0.2, "step_size": 0.02, "steps": 2, "norm": "linf"}  # one value, whole
    assert [m["epoch"] for m in run.metrics()] == [1, 2, 3]
    assert isinstance(run.load_model(), LeNet)
    # a config.json of an earlier version (a flat budget, no warm-up, no trigger spec) is read as what it
    # ran, and equals today's config of the same run (so that --resume accepts it)
    old = {k: v for k, v in cfg.items() if k not in ("budget", "warmup", "trigger_spec")} | cfg["budget"]
    (run.path / "config.json").write_text(json.dumps(old))
    assert Run(run.path).config.budget == Budget(0.2, 0.02, 2) and Run(run.path).config.warmup == 0.0
    assert Run(run.path).config.trigger_spec == cfg["trigger_spec"] == f"square:{cfg['trigger_size']}"


def test_resume_after_interruption_equals_uninterrupted(tmp_path, tiny_data, monkeypatch):
    whole = fit(_cfg(), tmp_path / "whole", train_data=tiny_data[0], test_data=tiny_data[1], progress=False)
    calls = {"n": 0}
    real = loop.train_step

    def crash_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:  # 4 steps per epoch: crash in the middle of epoch 2
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "train_step", crash_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        fit(_cfg(), tmp_path / "cut", train_data=tiny_data[0], test_data=tiny_data[1], progress=False)
    monkeypatch.setattr(loop, "train_step", real)
    cut = Run(tmp_path / "cut")
    assert cut.state() == {"status": "running", "epoch": 1}
    with pytest.raises(ConfigError, match="--resume"):
        fit(_cfg(), cut.path, train_data=tiny_data[0], test_data=tiny_data[1], progress=False)
    with pytest.raises(ConfigError, match="other settings"):
        fit(_cfg(lr=0.5), cut.path, resume=True, train_data=tiny_data[0], test_data=tiny_data[1], progress=False)
    fit(_cfg(), cut.path, resume=True, train_data=tiny_data[0], test_data=tiny_data[1], progress=False)
    a, b = whole.load_model().state_dict(), cut.load_model().state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert [m["epoch"] for m in cut.metrics()] == [1, 2, 3]


def test_finished_run_is_not_overwritten(tmp_path, tiny_data):
    kw = dict(train_data=tiny_data[0], test_data=tiny_data[1], progress=False)
    run = fit(_cfg(epochs=1), tmp_path / "r", **kw)
    before = (run.path / "model.safetensors").read_bytes()
    with pytest.raises(ConfigError, match="already holds a finished run"):
        fit(_cfg(epochs=1), run.path, **kw)
    assert (run.path / "model.safetensors").read_bytes() == before
    fit(_cfg(epochs=1, seed=5), run.path, force=True, **kw)
    assert (run.path / "model.safetensors").read_bytes() != before


def test_weights_that_do_not_fit_are_named(tmp_path):
    save_weights(tmp_path / "w.safetensors", {"conv1.weight": torch.zeros(8, 1, 5, 5)})
    tensors, _ = read_weights(tmp_path / "w.safetensors")
    with pytest.raises(AdvTrojanError, match=r"shape of conv1.weight is \(8, 1, 5, 5\).*needs \(32, 1, 5, 5\)"):
        load_into(LeNet(), tensors, "w.safetensors", "lenet")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(AdvTrojanError, match="not a readable safetensors file"):
        read_weights(tmp_path / "bad.safetensors")


def test_init_fine_tunes_from_a_finished_run(tmp_path, tiny_data):
    kw = dict(train_data=tiny_data[0], test_data=tiny_data[1], progress=False)
    base = fit(_cfg(epochs=1), tmp_path / "base", **kw)
    cfg = make_config("fmnist", "advtrojan", init=str(base.path), epochs=1, batch_size=16, steps=2)
    atim = fit(cfg, tmp_path / "atim", **kw)
    assert atim.config.init == str(base.path)
    assert set(atim.metrics()[0]) >= {"advtrojan_reversed_cross_entropy", "triggered_cross_entropy"}
