"""Training: Vanilla, Madry-Adv (Eq. 4), BadNets (Eq. 5) and AdvTrojan (Eq. 9) in one loop.

Python API::

    from advtrojan.training import make_config, fit
    cfg = make_config("fmnist", "advtrojan", init="runs/fmnist/madry")
    run = fit(cfg, "runs/fmnist/atim")
    model = run.load_model()
"""

from __future__ import annotations

from dataclasses import fields, replace

from .. import presets
from ..attacks.budget import Budget
from ..data.datasets import get_spec
from ..errors import ConfigError
from .config import RunConfig, versions
from .loop import fit
from .objectives import OBJECTIVES, Objective, ObjectiveParams, Term, make_objective, register_objective, \
    reversed_cross_entropy
from .runs import Run

BUDGET_FIELDS = tuple(f.name for f in fields(Budget))


def make_config(dataset: str, objective: str, *, preset: str = "default", init: str | None = None,
                budget: Budget | None = None, **overrides) -> RunConfig:
    """A :class:`RunConfig` from the presets of ``dataset`` x ``objective``, with values overridden.

    ``overrides`` are :class:`RunConfig` fields (``epochs=1``, ``lr=...``, ``model=...``,
    ``trigger_size=...``, ``seed=...``); None means "the preset's". The attack budget is Table 1's
    (or the dataset's, :mod:`advtrojan.presets`), replaced by ``budget`` or changed in part by
    ``eps``/``step_size``/``steps``/``norm`` (:meth:`Budget.override`). Everything is checked here,
    before any work: the values, the trigger against the image size, the model against the data.
    """
    spec = get_spec(dataset)
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}: choose one of {', '.join(OBJECTIVES)}")
    if init is None and make_objective(objective).needs_init:
        raise ConfigError(f"--objective {objective} starts from a trained model: pass --init RUN")
    if init is not None and objective == "vanilla":
        raise ConfigError("--init fine-tunes a trained model; it is meant for --objective advtrojan or badnets")
    allowed = ({f.name for f in fields(RunConfig)} | set(BUDGET_FIELDS)) - {"dataset", "objective", "preset", "init",
                                                                          "versions", "budget"}
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise ConfigError(f"make_config: unknown setting {', '.join(unknown)} (settings: {', '.join(sorted(allowed))})")
    given = {k: v for k, v in overrides.items() if v is not None and v != {}}
    train_fields = {f.name for f in fields(presets.TrainPreset)}
    tp = presets.training_preset(spec, objective, preset, init is not None)
    if isinstance(given.get("train_attack"), dict):  # the training attack given in part: the rest the preset's
        given["train_attack"] = replace(tp.train_attack, **given["train_attack"])
    tp = presets.override(tp, **{k: given.pop(k) for k in list(given) if k in train_fields})
    parts = {k: given.pop(k) for k in BUDGET_FIELDS if k in given}
    b = (budget or presets.budget(spec)).override(**parts)
    values = dict(model=presets.default_model(spec), trigger_size=presets.trigger_size(spec),
                  test_intensity=presets.test_intensity(spec), budget=b, **{k: getattr(tp, k) for k in train_fields})
    values.update(given)
    config = RunConfig(dataset=spec.name, objective=objective, preset=preset,
                       init=None if init is None else str(init), versions=versions(), **values)
    from ..attacks.triggers import resolve  # the trigger drawn once, from the run's seed: config.json holds it
    config = replace(config, trigger_spec=resolve(config.trigger_spec, config.seed, config.trigger_size))
    config.validate("settings")
    config.trigger()      # validates that the trigger fits the images
    config.build_model()  # validates the architecture against the data (shape, classes)
    return config


__all__ = ["fit", "make_config", "Run", "RunConfig", "Objective", "ObjectiveParams", "Term", "make_objective",
           "register_objective", "OBJECTIVES", "reversed_cross_entropy"]
