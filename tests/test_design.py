"""One value per idea: every option is generated from a settings field and defaults to it, a budget
reaches the attack whole (in L2 too), and files written atomically get an ordinary file's mode."""

from __future__ import annotations

import argparse
import os
import stat
from dataclasses import fields

import pytest
import torch

from advtrojan.attacks import Budget, pgd
from advtrojan.attacks.budget import BudgetOverride
from advtrojan.cli.main import build_parser
from advtrojan.defenses.registry import settings_classes
from advtrojan.defenses.scan import ScanSettings
from advtrojan.evaluation import EvalSettings, evaluate
from advtrojan.experiments.matrix import MatrixSettings
from advtrojan.experiments.reproduce import ReproduceSettings
from advtrojan.runtime import Runtime
from advtrojan.settings import default_of, from_args, settings_fields
from advtrojan.training import make_config
from advtrojan.utils.io import write_json


def _parse(*argv):
    return build_parser().parse_args(list(argv))


def _actions(command: str) -> dict[str, argparse.Action]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in sub.choices[command]._actions}


@pytest.mark.parametrize("command, argv, cls, prefix", [
    ("evaluate", ["evaluate", "RUN"], EvalSettings, ""),
    ("scan", ["scan", "RUN"], ScanSettings, ""),
    ("reproduce", ["reproduce"], ReproduceSettings, ""),
    ("matrix", ["matrix"], MatrixSettings, ""),
    *(("scan", ["scan", "RUN"], c, f"{c.key}-") for c in settings_classes()),
    *((cmd, [cmd] + (["RUN"] if cmd in ("evaluate", "scan") else []), Runtime, "")
      for cmd in ("evaluate", "scan", "reproduce", "matrix")),
])
def test_every_option_default_equals_its_settings_field(command, argv, cls, prefix):
    """No option given: the settings rebuilt from the parsed arguments are the default settings,
    and each option's default (and the default its help shows) is its field's."""
    args = _parse(*argv)
    assert from_args(cls, args, prefix=prefix) == cls()
    actions = _actions(command)
    for f, tp, meta in settings_fields(cls):
        dest = (prefix + f.name).replace("-", "_")
        if dest not in actions:
            continue  # a nested settings class: its own fields are checked
        assert actions[dest].default == default_of(f), dest
        if not meta.get("default_text"):
            shown = ",".join(map(str, default_of(f))) if isinstance(default_of(f), tuple) else default_of(f)
            assert f"(default: {shown:g})" in actions[dest].help if isinstance(shown, float) else \
                f"(default: {'none' if shown is None else shown})" in actions[dest].help, dest


def test_train_options_are_the_run_config_fields_and_default_to_the_preset():
    """Every field of config.json that a user sets is an option of `train`; none given, the config
    is the presets' own (make_config's)."""
    from advtrojan.cli.train import config_from
    from advtrojan.training.config import RunConfig
    actions = _actions("train")
    for f, tp, meta in settings_fields(RunConfig):
        if meta.get("prefix") is None:  # a nested settings class (the budget, the training attack): its fields
            assert f.name in actions, f.name
    assert {"method", "steps", "step_ratio", "noise"} <= {a[len("train_attack_"):] for a in actions
                                                         if a.startswith("train_attack_")}
    for name in ("eps", "step_size", "steps", "norm"):
        assert name in actions and actions[name].default is None  # given in part: the rest is Table 1's
    got = config_from(_parse("train", "--dataset", "fmnist", "--objective", "madry", "--out", "x"))
    want = make_config("fmnist", "madry")
    assert got.to_json() | {"versions": {}} == want.to_json() | {"versions": {}}
    got = config_from(_parse("train", "--dataset", "fmnist", "--objective", "madry", "--out", "x", "--eps", "0.1",
                             "--warmup", "0"))
    assert got.budget == Budget(0.1, 0.01, 20) and got.warmup == 0.0


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_written_atomically_get_the_mode_an_ordinary_open_gives(tmp_path, umask, mode):
    from safetensors.torch import save_file
    from advtrojan.utils.io import atomic_path
    old = os.umask(umask)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        with atomic_path(tmp_path / "w.safetensors") as tmp:
            save_file({"w": torch.zeros(2)}, str(tmp))
    finally:
        os.umask(old)
    for name in ("a.json", "w.safetensors"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


def test_evaluate_a_run_with_an_l2_budget_crafts_in_l2(tmp_path, fmnist, monkeypatch):
    """`evaluate(run, EvalSettings(budget=...))` keeps every field of the budget: an L2 budget on an
    L∞ run crafts perturbations inside the L2 ball (and far outside what L∞ of that ε would allow)."""
    from advtrojan.training import fit
    train, test = fmnist
    cfg = make_config("fmnist", "vanilla", epochs=1, limit=500)
    run = fit(cfg, tmp_path / "run", train_data=train.balanced_subset(500), test_data=test.balanced_subset(100),
              progress=False)
    norms, real = [], pgd.perturb

    def recording(model, x, y, attack, **kw):
        out = real(model, x, y, attack, **kw)
        norms.append((attack.norm, (out - x).flatten(1).norm(dim=1).max().item()))
        return out

    monkeypatch.setattr(pgd, "perturb", recording)
    settings = EvalSettings(budget=BudgetOverride(eps=1.0, step_size=0.25, steps=4, norm="l2"), limit=50,
                            certify=False, methods=("madry", "bim", "fgsm"))
    res = evaluate(str(run.path), settings, Runtime(progress=False, data_dir="/usr/share/datasets/fashion-mnist"))
    assert res.budget == Budget(1.0, 0.25, 4, "l2")
    assert len(norms) == 3 and all(n == "l2" and 0.5 < v <= 1.0 + 1e-4 for n, v in norms)
    assert {f.name for f in fields(EvalSettings)} >= {"budget", "intensity", "methods", "cert", "transfer_from"}
