"""A model to vet, loaded from what the user has: a run folder, a ``.safetensors`` weights file,
or an ``nn.Module``, with what is known about how it was (said to be) trained.

For a run folder the trigger, the attack budget (with its norm), the trigger intensity and the
attacker are the run's; for a weights file or a module they are the dataset's defaults
(:mod:`advtrojan.presets`). A weights file is read as safetensors and checked before use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from . import presets
from .attacks.budget import Budget
from .attacks.threats import AttackerInput
from .attacks.trigger import Trigger
from .data import ImageData, get_spec
from .errors import ConfigError
from .models import build_model
from .models.weights import check_metadata, load_into, read_weights
from .training.runs import Run


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
    run: Run | None = None


def _spec(dataset):
    return dataset.spec if isinstance(dataset, ImageData) else get_spec(dataset)


def load_target(target, arch: str | None = None, dataset=None, device="cpu", normalization: dict | None = None) -> Target:
    """A run folder, a ``.safetensors`` file (with ``arch`` and ``dataset``) or an ``nn.Module``."""
    if isinstance(target, nn.Module):
        if dataset is None:
            raise ConfigError("a model object needs its dataset (a name, npz:/folder: path or ImageData)")
        spec = _spec(dataset)
        return Target(target.to(device).eval(), spec.name, Trigger.square(spec.shape, presets.trigger_size(spec)),
                      presets.budget(spec), presets.test_intensity(spec))
    path = Path(target)
    if path.is_dir():
        run = Run(path)
        cfg = run.config
        if dataset is not None and _spec(dataset).name != cfg.spec.name:
            raise ConfigError(f"{path} was trained on {cfg.dataset}, not {dataset}")
        return Target(run.load_model(device), cfg.dataset, run.trigger(), cfg.budget, cfg.test_intensity,
                      cfg.objective, cfg.poison_target(), cfg.attacker_input(), run)
    if not path.is_file():
        raise ConfigError(f"{path}: no such run folder or weights file")
    if arch is None or dataset is None:
        raise ConfigError(f"{path} is a weights file: pass --arch and --dataset to say what it holds")
    spec = _spec(dataset)
    tensors, meta = read_weights(path)
    check_metadata(meta, str(path), dataset=spec.name, model=arch)
    model = load_into(build_model(arch, spec.channels, spec.num_classes, spec.size, normalization), tensors, str(path),
                      arch).to(device).eval()
    return Target(model, spec.name, Trigger.square(spec.shape, presets.trigger_size(spec)), presets.budget(spec),
                  presets.test_intensity(spec))
