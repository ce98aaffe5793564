"""Evaluation: the rows of Table 5 and Figure 4 for a trained run or any model.

    from advtrojan import evaluate
    from advtrojan.evaluation import EvalSettings
    result = evaluate("runs/fmnist/atim", EvalSettings(budget={"eps": 0.1}))
    result["advtrojan"], result.certified
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..attacks.pgd import describe
from ..attacks.triggers import for_data
from ..data import ImageData, get_spec, load_dataset
from ..errors import ConfigError
from ..results import EvalResult
from ..runtime import Runtime
from ..targets import load_target
from ..training.runs import Run
from ..utils.device import configure_threads, resolve_device
from ..utils.distributed import setup
from .table5 import PAPER_TABLE5, EvalSettings, evaluate_model, format_table


def evaluate(target, settings: EvalSettings = EvalSettings(), runtime: Runtime = Runtime(), *, dataset=None,
             trigger=None) -> EvalResult:
    """Table 5's rows for ``target``: a finished run folder, or an ``nn.Module`` mapping images in
    [0, 1] to logits with its ``dataset`` (a name, ``npz:``/``folder:`` path or the test ImageData).

    ``settings`` (:class:`EvalSettings`): the attacks, the budget given in part (the rest is the
    run's, else Table 1's), the trigger's test intensity, the certification, a substitute model for
    transferred examples (a run folder). ``trigger`` replaces the target's (the run's, else the
    square of Figure 1). Under torchrun each process evaluates its share of the test set."""
    import torch

    settings.validate()  # before any work
    configure_threads()
    world, device = setup(runtime.device)
    dev = resolve_device(device)
    torch.manual_seed(runtime.seed + 1_000_003 * world.rank)  # random starts, per process
    t = load_target(target, None, dataset, dev)
    transfer = None
    if settings.transfer_from is not None:  # the substitute model must see the same images as the evaluated one
        source = Run(settings.transfer_from)
        theirs, ours = source.config.spec, get_spec(t.dataset)
        if (theirs.shape, theirs.num_classes) != (ours.shape, ours.num_classes):
            raise ConfigError(f"--transfer-from {settings.transfer_from}: a model of {theirs.name} ({theirs.shape}, "
                              f"{theirs.num_classes} classes) cannot craft examples for {ours.name} ({ours.shape}, "
                              f"{ours.num_classes} classes)")
        transfer = source.load_model(dev)
    budget = settings.budget.apply(t.budget)
    intensity = t.intensity if settings.intensity is None else settings.intensity
    settings.attacks(budget)  # validates the budget before any work
    data = dataset if isinstance(dataset, ImageData) else load_dataset(t.dataset, "test", data_dir=runtime.data_dir)
    data = _limited(data, settings.limit, runtime.seed)
    attacker = t.attacker if t.run is not None else None
    if trigger is None and settings.trigger is not None:
        trigger = for_data(settings.trigger, data.spec, runtime.seed)
    result = evaluate_model(t.model, data, trigger or t.trigger, budget, intensity, settings,
                            transfer_model=transfer, attacker=attacker, device=dev, progress=runtime.progress,
                            world=world)
    details = {"dataset": t.dataset, "precision": settings.precision, "seed": runtime.seed,
               "transfer_from": None if settings.transfer_from is None else str(settings.transfer_from),
               "world_size": world.size}
    if t.run is not None:
        cfg = t.run.config
        details.update(run=str(t.run.path), objective=cfg.objective, model=cfg.model,
                       # what the success rates measure (a poisoning run's attacker: its kind, intensity,
                       # target and, for TrojanNN*, its own perturbation budget)
                       attacker=None if attacker.target is None else {
                           "kind": attacker.kind.value, "intensity": attacker.intensity, "target": attacker.target,
                           **(describe(attacker.attack) if attacker.kind.adversarial else {})})
    return replace(result, details=details)


def evaluate_run(run: str | Path, settings: EvalSettings = EvalSettings(), runtime: Runtime = Runtime()) -> EvalResult:
    """Evaluate a finished run folder (:func:`evaluate`)."""
    if not Path(run).is_dir():
        Run(run).config  # the one error for a path that is not a run folder
    return evaluate(str(run), settings, runtime)


__all__ = ["evaluate", "evaluate_run", "evaluate_model", "EvalSettings", "format_table", "PAPER_TABLE5"]


def _limited(data, limit: int | None, seed: int):
    """The class-balanced subset of ``limit`` test images; more than there are is an error, not
    the whole set under another name."""
    if limit is not None and limit > len(data):
        raise ConfigError(f"--limit {limit} is more than the {len(data)} test images of {data.spec.name}")
    return data.balanced_subset(limit, seed)
