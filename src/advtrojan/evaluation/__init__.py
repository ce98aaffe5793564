"""Evaluation: the rows of Table 5 and Figure 4 for a trained run."""

from __future__ import annotations

import math
from pathlib import Path

from ..attacks.pgd import budget_json
from ..data import load_dataset
from ..errors import ConfigError
from ..training.runs import Run
from ..utils.device import configure_threads, resolve_device
from ..utils.distributed import setup
from .table5 import PAPER_TABLE5, EvalSettings, evaluate_model, format_table


def evaluate_run(run: str | Path, *, transfer_from: str | Path | None = None, eps: float | None = None,
                 step_size: float | None = None, steps: int | None = None, intensity: float | None = None,
                 limit: int | None = None, data_dir=None, device: str = "auto", precision: str = "fp32",
                 batch_size: int = 500, seed: int = 0, progress: bool = True, certify: bool = True,
                 radius: float = 0.4, sigma: float = 0.5, noise_samples: int = 100, cert_method: str = "li",
                 cert_confidence: float | None = None, methods=("madry", "fgsm", "bim"), norm: str | None = None) -> dict:
    """Evaluate a finished run folder; returns the Table 5 accuracies plus ``details``.

    Budget defaults are the run's (Table 1); ``limit`` evaluates on a class-balanced test subset.
    """
    import torch

    configure_threads()
    world, device = setup(device)
    dev = resolve_device(device)
    torch.manual_seed(seed + 1_000_003 * world.rank)  # random starts, per process
    r = Run(run)
    config = r.config
    model = r.load_model(dev)
    transfer = None
    if transfer_from is not None:  # the substitute model must see the same images as the evaluated one
        source = Run(transfer_from)
        theirs, ours = source.config.spec, r.config.spec
        if (theirs.shape, theirs.num_classes) != (ours.shape, ours.num_classes):
            raise ConfigError(f"--transfer-from {transfer_from}: a model of {theirs.name} ({theirs.shape}, "
                              f"{theirs.num_classes} classes) cannot craft examples for {ours.name} ({ours.shape}, "
                              f"{ours.num_classes} classes)")
        transfer = source.load_model(dev)
    budget = config.budget().override(eps=eps, step_size=step_size, steps=steps, norm=norm)
    settings = EvalSettings(eps=budget.eps, step_size=budget.step_size, steps=budget.steps,
                            intensity=config.test_intensity if intensity is None else intensity,
                            norm=budget.norm, precision=precision, batch_size=batch_size, certify=certify,
                            radius=radius, sigma=sigma, noise_samples=noise_samples, cert_method=cert_method,
                            cert_confidence=cert_confidence, methods=tuple(methods))
    settings.attacks()  # validates the budget before any work
    if certify:
        from ..defenses.certify import check_method
        settings.cert_confidence = check_method(cert_method, cert_confidence)
    if certify and not (0 < radius < math.inf and 0 < sigma < math.inf):  # NaN fails too
        raise ConfigError(f"certification needs radius B > 0 and sigma > 0 (got B={radius}, sigma={sigma})")
    data = _limited(load_dataset(config.dataset, "test", data_dir=data_dir), limit, seed)
    attacker = config.attacker_input()
    result = evaluate_model(model, data, r.trigger(), settings, transfer_model=transfer,
                            attacker=attacker, device=dev, progress=progress, world=world)
    result["details"] = {"run": str(r.path), "dataset": config.dataset, "objective": config.objective,
                         "model": config.model, "test_examples": len(data), "eps": settings.eps,
                         "step_size": settings.step_size, "steps": settings.steps, "norm": settings.norm,
                         "intensity": settings.intensity, "precision": precision, "seed": seed,
                         "transfer_from": None if transfer_from is None else str(transfer_from),
                         "certified": {"method": cert_method, "confidence": settings.cert_confidence,
                                       "radius_B": radius, "sigma": sigma,
                                       "noise_samples": noise_samples} if certify else None,
                         "world_size": world.size,
                         # what the success rates measure (a poisoning run's attacker: its kind, intensity,
                         # target and, for TrojanNN*, its own perturbation budget)
                         "attacker": None if attacker.target is None else {
                             "kind": attacker.kind.value, "intensity": attacker.intensity, "target": attacker.target,
                             **(budget_json(attacker.attack) if attacker.kind.adversarial else {})}}
    return result


def evaluate(target, dataset=None, *, budget=None, trigger=None, intensity: float | None = None,
             limit: int | None = None, methods=("madry", "fgsm", "bim"), certify: bool = False,
             data_dir=None, device: str = "auto", seed: int = 0, progress: bool = True) -> dict:
    """Table 5's rows for any model: a run folder, or an ``nn.Module`` mapping images in [0, 1] to
    logits with its ``dataset`` (a name, ``npz:``/``folder:`` path or the test ImageData).

    Defaults are the run's, else the dataset's (:mod:`advtrojan.presets`): Table 1's budget, the
    square trigger, the paper's test intensity. ``methods`` may name any registered attack.
    """
    import torch
    from torch import nn

    from ..data import ImageData

    if not isinstance(target, nn.Module):
        b = budget
        return evaluate_run(target, eps=b and b.eps, step_size=b and b.step_size, steps=b and b.steps,
                            intensity=intensity, limit=limit, data_dir=data_dir, device=device, seed=seed,
                            progress=progress, certify=certify)
    from ..defenses.api import load_target

    configure_threads()
    dev = resolve_device(device)
    t = load_target(target, None, dataset, dev)
    b = budget or t.budget
    settings = EvalSettings(eps=b.eps, step_size=b.step_size, steps=b.steps, norm=b.norm,
                            intensity=t.intensity if intensity is None else intensity, certify=certify,
                            methods=tuple(methods))
    settings.attacks()
    data = dataset if isinstance(dataset, ImageData) else load_dataset(t.dataset, "test", data_dir=data_dir)
    data = _limited(data, limit, seed)
    torch.manual_seed(seed)
    return evaluate_model(t.model, data, trigger or t.trigger, settings, device=dev, progress=progress)


__all__ = ["evaluate", "evaluate_run", "evaluate_model", "EvalSettings", "format_table", "PAPER_TABLE5"]


def _limited(data, limit: int | None, seed: int):
    """The class-balanced subset of ``limit`` test images; more than there are is an error, not
    the whole set under another name."""
    if limit is not None and limit > len(data):
        raise ConfigError(f"--limit {limit} is more than the {len(data)} test images of {data.spec.name}")
    return data.balanced_subset(limit, seed)
