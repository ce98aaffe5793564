"""``scan``: the registered defenses on any model: a run folder, a weights file, or an ``nn.Module``.

    from advtrojan import scan
    report = scan(model, "fmnist", defenses=["neural_cleanse", "strip"])

A model is anything that maps images in [0, 1], shaped (N, C, H, W), to logits. For a run folder
the trigger, the attack budget (with its norm) and the trigger intensity are the run's; for a
weights file or a module they are the dataset's defaults (:mod:`advtrojan.presets`), unless given.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from ..attacks.threats import AttackerInput, Threat
from ..attacks.trigger import Trigger
from ..attacks.triggers import for_data
from ..data import ImageData, load_dataset
from ..errors import ConfigError
from ..results import ScanResult
from ..runtime import Runtime
from ..targets import Target, load_target
from ..utils.device import configure_threads, resolve_device
from .scan import ScanSettings, scan_model


def attacker_of(t: Target, settings: ScanSettings) -> AttackerInput:
    """What the attacked inputs of a scan of ``t`` are (``settings.attacked``, ``.intensity`` and
    ``.budget``): ``auto`` is the run's own attacker (:meth:`RunConfig.attacker_input`); TrojanNN*'s
    targeted inputs keep its own small perturbation, with the given budget values applied to it."""
    kind = Threat(settings.attacked) if settings.attacked != "auto" else (
        t.attacker.kind if t.attacker else (Threat.TRIGGERED if t.poison_target is not None else Threat.ADVTROJAN))
    if kind is Threat.TARGETED and t.poison_target is None:
        raise ConfigError("targeted attacked inputs need the target of a poisoning run (TrojanNN*, BadNets, ...)")
    own = t.attacker if t.attacker is not None and t.attacker.kind is kind else None
    poisoner = t.attacker if t.attacker is not None and t.attacker.target is not None else None
    if settings.intensity is not None:
        level = settings.intensity
    elif kind in (Threat.TRIGGERED, Threat.TARGETED):  # a poisoning run's trigger at its training intensity
        level = poisoner.intensity if poisoner is not None else 1.0
    else:  # AdvTrojan examples at the run's (or the dataset's) test intensity
        level = t.intensity
    if kind is Threat.TARGETED:
        base = own.attack.budget if own is not None else t.budget
        return AttackerInput(kind, level, replace(own.attack if own else t.budget.attack("madry"),
                                                  budget=settings.budget.apply(base)), t.poison_target)
    if kind is Threat.TRIGGERED:
        return AttackerInput(kind, level, target=t.poison_target)
    return AttackerInput(kind, level, settings.budget.apply(t.budget).attack("madry"), t.poison_target)


def scan(target, dataset=None, settings: ScanSettings | None = None, runtime: Runtime = Runtime(), *,
         defenses=None, arch: str | None = None, normalization: dict | None = None, trigger: Trigger | None = None,
         figures_dir=None) -> ScanResult:
    """Run the defenses of ``settings`` (default: the paper's five; ``defenses`` names others) on
    ``target``; returns a :class:`~advtrojan.results.ScanResult`.

    ``target``: a run folder, a ``.safetensors`` file (name its ``arch`` and ``dataset``, and its
    ``normalization`` if it has one), or an ``nn.Module`` (name its ``dataset``: a registered name,
    ``npz:``/``folder:`` path, or the test :class:`~advtrojan.data.ImageData` itself). ``settings``
    holds which inputs are attacked, the budget given in part, the sizes and each defense's options;
    ``trigger`` replaces the target's. Figures go to ``figures_dir`` (default: RUN/scan or FILE.scan).
    """
    settings = settings or ScanSettings()
    if defenses is not None:
        settings = replace(settings, defenses=tuple([defenses] if isinstance(defenses, str) else defenses))
    settings.validate()  # before any expensive work
    configure_threads()
    dev = resolve_device(runtime.device)
    t = load_target(target, arch, dataset, dev, normalization)
    attacker = attacker_of(t, settings)
    budget = t.budget if attacker.kind is Threat.TARGETED else settings.budget.apply(t.budget)
    data = dataset if isinstance(dataset, ImageData) else load_dataset(t.dataset, "test", data_dir=runtime.data_dir)
    if isinstance(target, nn.Module):
        out = Path(figures_dir) if figures_dir else None
    else:
        out = Path(figures_dir) if figures_dir else (Path(target) / "scan" if Path(target).is_dir()
                                                     else Path(str(target) + ".scan"))
    if trigger is None and settings.trigger is not None:
        trigger = for_data(settings.trigger, data.spec, runtime.seed)
    torch.manual_seed(runtime.seed)
    return scan_model(t.model, data, trigger or t.trigger, budget, attacker, settings, runtime, out)
