"""Training: Vanilla, Madry-Adv (Eq. 4), BadNets (Eq. 5) and AdvTrojan (Eq. 9) in one loop.

Python API::

    from advtrojan.training import make_config, fit
    cfg = make_config("fmnist", "advtrojan", init="runs/fmnist/madry")
    run = fit(cfg, "runs/fmnist/atim")
    model = run.load_model()
"""

from __future__ import annotations

from .. import presets
from ..attacks.trigger import DEFAULT_MARGIN
from ..data.datasets import get_spec
from ..errors import ConfigError
from .loop import fit
from .objectives import OBJECTIVES, Objective, Term, make_objective, register_objective, reversed_cross_entropy
from .runs import Run, RunConfig, versions


def make_config(dataset: str, objective: str, *, preset: str = "default", init: str | None = None,
                seed: int = 0, precision: str = "bf16", model: str | None = None,
                trigger_size: int | None = None, trigger_margin: int = DEFAULT_MARGIN,
                train_intensity: float = presets.TRAIN_INTENSITY, test_intensity: float | None = None,
                eps: float | None = None, step_size: float | None = None, steps: int | None = None,
                norm: str | None = None, epochs: int | None = None, batch_size: int | None = None,
                lr: float | None = None, limit: int | None = None, target: int = 0,
                poison_rate: float = 0.1, mu: float = 1.0, benign_weight: float | None = None,
                optimizer: str | None = None,
                weight_decay: float | None = None, schedule: str | None = None) -> RunConfig:
    """A :class:`RunConfig` from the per-dataset presets, with any value overridden."""
    spec = get_spec(dataset)
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}: choose one of {', '.join(OBJECTIVES)}")
    if init is not None and objective == "vanilla":
        raise ConfigError("--init fine-tunes a trained model; it is meant for --objective advtrojan or badnets")
    tp = presets.override(presets.training_preset(spec, objective, preset, init is not None),
                          epochs=epochs, batch_size=batch_size, lr=lr, limit=limit, optimizer=optimizer,
                          weight_decay=weight_decay, schedule=schedule)
    budget = presets.budget(spec).override(eps=eps, step_size=step_size, steps=steps, norm=norm)
    for name, value in (("epochs", tp.epochs), ("batch size", tp.batch_size), ("lr", tp.lr)):
        if value is None or value <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")
    config = RunConfig(
        dataset=spec.name, objective=objective, model=model or presets.default_model(spec),
        trigger_size=presets.trigger_size(spec) if trigger_size is None else trigger_size, trigger_margin=trigger_margin, train_intensity=train_intensity,
        test_intensity=presets.test_intensity(spec) if test_intensity is None else test_intensity,
        eps=budget.eps, step_size=budget.step_size, steps=budget.steps, norm=budget.norm,
        optimizer=tp.optimizer, lr=tp.lr, batch_size=tp.batch_size, epochs=tp.epochs,
        weight_decay=tp.weight_decay, momentum=tp.momentum, schedule=tp.schedule, limit=tp.limit,
        seed=seed, precision=precision, preset=preset, target=target, poison_rate=poison_rate, mu=mu,
        benign_weight=tp.benign_weight if benign_weight is None else benign_weight,
        init=None if init is None else str(init), versions=versions(),
    )
    config.trigger()      # validates that the trigger fits the images
    config.attack()       # validates the budget
    config.build_model()  # validates the architecture against the data (shape, classes)
    return config


__all__ = ["fit", "make_config", "Run", "RunConfig", "Objective", "Term", "make_objective", "register_objective", "OBJECTIVES",
           "reversed_cross_entropy"]
