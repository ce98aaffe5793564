"""``scan``: the registered defenses on any model: a run folder, a weights file, or an ``nn.Module``.

    from advtrojan import scan
    report = scan(model, "fmnist", defenses=["neural_cleanse", "strip"])

A model is anything that maps images in [0, 1], shaped (N, C, H, W), to logits. For a run folder
the trigger, the attack budget (with its norm) and the trigger intensity are the run's; for a
weights file or a module they are the dataset's defaults (:mod:`advtrojan.presets`), unless given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .. import presets
from ..attacks.pgd import madry
from ..attacks.threats import AttackerInput, Threat
from ..attacks.trigger import Trigger
from ..data import ImageData, get_spec, load_dataset
from ..errors import ConfigError
from ..models import build_model
from ..presets import Budget
from ..models.weights import check_metadata, load_into, read_weights
from ..training.runs import Run
from ..utils.device import configure_threads, resolve_device
from .scan import ScanSettings, scan_model


ATTACKED = ("auto", "advtrojan", "triggered", "targeted")


@dataclass
class Target:
    """A model to vet, with what is known about how it was (said to be) trained."""

    model: nn.Module
    dataset: str
    trigger: Trigger
    budget: Budget
    intensity: float
    objective: str | None = None
    poison_target: int | None = None  # a poisoning objective's target (BadNets, TrojanNN, TrojanNN*, IMC)
    attacker: AttackerInput | None = None  # a run's: what its attacker sends (RunConfig.attacker_input)


def load_target(target, arch: str | None = None, dataset=None, device="cpu", normalization: dict | None = None) -> Target:
    """A run folder, a ``.safetensors`` file (with ``arch`` and ``dataset``) or an ``nn.Module``."""
    if isinstance(target, nn.Module):
        if dataset is None:
            raise ConfigError("scanning a model object needs its dataset (a name, npz:/folder: path or ImageData)")
        spec = dataset.spec if isinstance(dataset, ImageData) else get_spec(dataset)
        return Target(target.to(device).eval(), spec.name, Trigger.square(spec.shape, presets.trigger_size(spec)),
                      presets.budget(spec), presets.test_intensity(spec))
    path = Path(target)
    if path.is_dir():
        run = Run(path)
        cfg = run.config
        if dataset is not None and get_spec(dataset if not isinstance(dataset, ImageData) else dataset.spec).name \
                != cfg.spec.name:
            raise ConfigError(f"{path} was trained on {cfg.dataset}, not {dataset}")
        return Target(run.load_model(device), cfg.dataset, run.trigger(), cfg.budget(), cfg.test_intensity,
                      cfg.objective, cfg.poison_target(), cfg.attacker_input())
    if not path.is_file():
        raise ConfigError(f"{path}: no such run folder or weights file")
    if arch is None or dataset is None:
        raise ConfigError(f"{path} is a weights file: pass --arch and --dataset to say what it holds")
    spec = dataset.spec if isinstance(dataset, ImageData) else get_spec(dataset)
    tensors, meta = read_weights(path)
    check_metadata(meta, str(path), dataset=spec.name, model=arch)
    model = load_into(build_model(arch, spec.channels, spec.num_classes, spec.size, normalization), tensors, str(path),
                      arch).to(device).eval()
    return Target(model, spec.name, Trigger.square(spec.shape, presets.trigger_size(spec)), presets.budget(spec),
                  presets.test_intensity(spec))


def scan(target, dataset=None, *, defenses=None, arch: str | None = None, settings: ScanSettings | None = None,
         budget: Budget | None = None, trigger: Trigger | None = None, intensity: float | None = None,
         attacked: str = "auto", figures_dir=None, device: str = "auto", seed: int = 0, data_dir=None,
         progress: bool = True, normalization: dict | None = None) -> dict:
    """Run ``defenses`` (default: the paper's five) on ``target``; returns the JSON-able results.

    ``target``: a run folder, a ``.safetensors`` file (name its ``arch`` and ``dataset``), or an
    ``nn.Module`` (name its ``dataset``: a registered name, ``npz:``/``folder:`` path, or the test
    :class:`~advtrojan.data.ImageData` itself). ``settings`` holds the sizes and each defense's
    options; ``budget`` the attack (default: the run's, with its norm; else the dataset's), or a dict of
    the values that replace those (``{"eps": 0.1}``). ``attacked``: ``auto`` (the run's own attacker,
    :meth:`RunConfig.attacker_input`), ``advtrojan``, ``triggered`` or ``targeted`` (the trigger, then
    a perturbation towards the run's target: TrojanNN*'s own budget for a TrojanNN* run, with
    ``budget``'s values applied to it; the defenses keep the run's budget).
    """
    settings = settings or ScanSettings()
    if defenses is not None:
        from dataclasses import replace
        settings = replace(settings, defenses=tuple([defenses] if isinstance(defenses, str) else defenses))
    settings.validate()  # before any expensive work
    if attacked not in ATTACKED:
        raise ConfigError(f"attacked must be one of {', '.join(ATTACKED)}, got {attacked!r}")
    configure_threads()
    dev = resolve_device(device)
    t = load_target(target, arch, dataset, dev, normalization)
    if attacked == "auto":
        kind = t.attacker.kind if t.attacker else (Threat.TRIGGERED if t.poison_target is not None else Threat.ADVTROJAN)
    else:
        kind = Threat(attacked)
    if kind is Threat.TARGETED and t.poison_target is None:
        raise ConfigError("targeted attacked inputs need the target of a poisoning run (TrojanNN*, BadNets, ...)")
    own = t.attacker.attack if t.attacker and t.attacker.kind is Threat.TARGETED else None
    perturbation = None
    if kind is Threat.TARGETED:
        # TrojanNN*'s inputs: its own (small) perturbation, with what the user changed applied to it;
        # the defenses keep the run's budget (adaptive Neural Cleanse's Eq. 11)
        base = Budget(own.eps, own.step_size, own.steps, own.norm) if own else t.budget
        p = base.override(**budget) if isinstance(budget, dict) else (budget or base)
        perturbation = madry(p.eps, p.step_size, p.steps, p.norm)
        b = t.budget
    else:
        b = t.budget.override(**budget) if isinstance(budget, dict) else (budget or t.budget)
    attack = madry(b.eps, b.step_size, b.steps, b.norm)
    # the trigger of a poisoning run at its training intensity (BadNets, TrojanNN, TrojanNN*, IMC), of a
    # weights file or module at full intensity; AdvTrojan examples at the paper's test intensity
    poisoned = kind in (Threat.TRIGGERED, Threat.TARGETED)
    if intensity is not None:
        level = intensity
    elif poisoned:
        level = t.attacker.intensity if t.attacker and t.attacker.target is not None else 1.0
    else:
        level = t.intensity
    data = dataset if isinstance(dataset, ImageData) else load_dataset(t.dataset, "test", data_dir=data_dir)
    if isinstance(target, nn.Module):
        out = Path(figures_dir) if figures_dir else None
    else:
        out = Path(figures_dir) if figures_dir else (Path(target) / "scan" if Path(target).is_dir()
                                                     else Path(str(target) + ".scan"))
    torch.manual_seed(seed)
    return scan_model(t.model, data, trigger or t.trigger, attack, level, settings=settings, attacked_kind=kind,
                      target=t.poison_target if kind is Threat.TARGETED else None, perturbation=perturbation,
                      out_dir=out, device=dev, progress=progress, seed=seed)
