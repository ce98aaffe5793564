"""Run the chosen defenses on a model: the verdicts of Tables 2-5 and Figure 5, and figures.

The test set is split once, deterministically: ``reserved`` (STRIP's N clean inputs, never
evaluated), a ``pool`` of clean evaluation inputs, and the inputs for Neural Cleanse. The
attacked inputs are what the attacker sends (:class:`~advtrojan.attacks.threats.AttackerInput`):
AdvTrojan examples A(x + t) of the pool, or for a poisoning model x + t. Every defense comes from
the registry (:mod:`advtrojan.defenses.registry`), gets the same :class:`DefenseContext` and reads
its own settings from :class:`ScanSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..attacks.budget import Budget, BudgetOverride
from ..attacks.threats import AttackerInput
from ..attacks.trigger import Trigger
from ..chance import at_chance, chance_level, chance_note
from ..data import ImageData
from ..errors import ConfigError
from ..results import Chance, DefenseResult, Perturbation, ScanResult
from ..runtime import Runtime
from ..settings import non_negative_float, option, positive_int
from . import adaptive, certify, collapse, masking, neural_cleanse, strip  # noqa: F401  (the built-ins register)
from .registry import DEFENSES as REGISTRY
from .registry import DefenseContext, run_defense, settings_classes
from .strip import StripSettings

ATTACKED = ("auto", "advtrojan", "triggered", "targeted")
# the paper's defenses, run by default (Tables 2-5, Figure 5); any registered defense can be named
DEFENSES = ("neural_cleanse", "strip", "e_strip", "adaptive_neural_cleanse", "certified")


def all_defenses() -> tuple[str, ...]:
    """Every registered defense: the paper's first, then the plug-ins' in registration order."""
    return DEFENSES + tuple(n for n in REGISTRY if n not in DEFENSES)


def defense_list(text: str) -> tuple[str, ...]:
    """``--defenses``: comma-separated registered names, or ``all``."""
    import argparse
    if text.strip() == "all":
        return all_defenses()
    names = tuple(n.strip() for n in text.split(","))
    if not any(names) or not all(names):
        raise argparse.ArgumentTypeError(f"expected defense names separated by commas, got {text!r}")
    return names


@dataclass(frozen=True)
class ScanSettings:
    """Which defenses run, the shared pool of clean inputs, and each defense's own settings
    (``options``: a settings instance per registered settings class, by its ``key``; a class not
    given takes its defaults)."""

    defenses: tuple[str, ...] = field(default=DEFENSES, metadata=option(
        "comma-separated registered defenses, or all", parse=defense_list, metavar="NAMES"))
    pool: int = field(default=1000, metadata=option("clean evaluation inputs (and their attacked versions)",
                                                    parse=positive_int))
    attacked: str = field(default="auto", metadata=option(
        "attacked inputs: AdvTrojan examples A(x+t), the trigger alone x+t, or the trigger then a perturbation "
        "towards the target A_t(x+t); auto: the run's own attacker (triggered for BadNets, TrojanNN and IMC runs, "
        "targeted for TrojanNN*, AdvTrojan examples otherwise)", choices=ATTACKED))
    intensity: float | None = field(default=None, metadata=option(
        "trigger intensity of the attacked inputs", parse=non_negative_float,
        default_text="the run's: its test intensity for AdvTrojan examples, its training intensity for a poisoning "
                     "run's trigger; for a weights file the dataset's, 1.0 for triggered inputs"))
    budget: BudgetOverride = field(default_factory=BudgetOverride, metadata=option(
        "attack budget", prefix="", default_text="the run's, else Table 1's for the dataset; a TrojanNN* run's "
                                                 "attacked inputs: its own perturbation's, these values applied"))
    trigger: str | None = field(default=None, metadata=option(
        "the trigger of the attacked inputs, as a spec (square:4@tl, noise:3@corner, blend:0.1, a .safetensors "
        "file, ...: advtrojan.attacks.triggers)", metavar="SPEC",
        default_text="the run's (trigger.safetensors), else Figure 1's white square"))
    options: dict[str, Any] = field(default_factory=dict)

    def options_for(self, cls):
        """The settings of class ``cls`` of this scan (its defaults where none were given)."""
        return self.options.get(cls.key) or cls()

    def with_options(self, *values) -> "ScanSettings":
        """These settings with the given settings instances (each replacing its class's)."""
        return replace(self, options={**self.options, **{type(v).key: v for v in values}})

    def validate(self) -> "ScanSettings":
        if isinstance(self.defenses, str) or not self.defenses:
            raise ConfigError("no defense chosen: name at least one of " + ", ".join(REGISTRY))
        unknown = [d for d in self.defenses if d not in REGISTRY]
        if unknown:
            raise ConfigError(f"unknown defense {', '.join(map(repr, unknown))}: choose from {', '.join(REGISTRY)}")
        repeated = sorted({d for d in self.defenses if list(self.defenses).count(d) > 1})
        if repeated:
            raise ConfigError(f"defense {', '.join(map(repr, repeated))} named twice")
        if self.attacked not in ATTACKED:
            raise ConfigError(f"attacked must be one of {', '.join(ATTACKED)}, got {self.attacked!r}")
        if isinstance(self.pool, bool) or not isinstance(self.pool, int) or self.pool <= 0:
            raise ConfigError(f"pool must be a positive integer, got {self.pool!r}")
        for cls in settings_classes():
            value = self.options_for(cls)
            if hasattr(value, "validate"):
                value.validate()
        return self


def split_test(data: ImageData, n_reserved: int, pool: int, seed: int = 0):
    """Disjoint reserved / pool subsets of the test set (seeded permutation), and every test input
    that is not reserved (the benign inputs of the defenses that reverse-engineer triggers, each
    taking its first N)."""
    need = n_reserved + pool
    if need > len(data):
        raise ConfigError(f"the test set has {len(data)} images; STRIP's {n_reserved} reserved plus a pool of "
                          f"{pool} need {need}")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    reserved, pool_idx = order[:n_reserved], order[n_reserved:need]
    return data.subset(reserved), data.subset(pool_idx), data.subset(order[n_reserved:])


@torch.no_grad()
def model_health(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                 batch_size: int = 500) -> tuple[float, Chance]:
    """The model's benign accuracy on ``(x, y)``, and where it stands against chance (:mod:`advtrojan.chance`)."""
    hits = sum((model(xb).argmax(1) == yb).sum().item() for xb, yb in zip(x.split(batch_size), y.split(batch_size)))
    accuracy, level = hits / max(1, len(y)), chance_level(y, num_classes)
    return accuracy, Chance(level, at_chance(accuracy, level))


def scan_model(model: nn.Module, data: ImageData, trigger: Trigger, budget: Budget, attacker: AttackerInput,
               settings: ScanSettings = ScanSettings(), runtime: Runtime = Runtime(),
               out_dir: Path | None = None) -> ScanResult:
    """Run ``settings.defenses`` on ``model`` over the test set ``data``.

    ``budget`` is the defenses' own attack budget (Madry PGD: adaptive Neural Cleanse's Eq. 11);
    ``attacker`` says what the attacked inputs are (its kind, trigger intensity, attack and target).
    A model at chance on the clean pool gets no verdict: no defense runs."""
    from ..utils.device import resolve_device
    settings.validate()
    device = resolve_device(runtime.device)
    model.eval()
    strip_settings = settings.options_for(StripSettings)
    reserved, pool, rest = split_test(data, strip_settings.n_reserved, settings.pool, runtime.seed)
    x, y = pool.tensors(device)
    accuracy, chance = model_health(model, x, y, data.spec.num_classes)
    perturbation = (Perturbation(attacker.attack.method, attacker.attack.budget, attacker.target)
                    if attacker.kind.targeted else None)
    attack = budget.attack("madry")
    common = dict(method=attack.method, budget=budget, intensity=attacker.intensity, attacked=attacker.kind.value,
                  chance=chance, benign_accuracy=accuracy, perturbation=perturbation)
    if chance.at_chance:  # a constant classifier: no defense's verdict would mean anything
        note = chance_note(accuracy, chance.level)
        return ScanResult(defenses={name: DefenseResult(verdict=note, name=name, title=REGISTRY.get(name).title,
                                                        skipped="the model is at chance")
                                    for name in settings.defenses}, **common)
    torch.manual_seed(runtime.seed)
    trigger = trigger.to(device)
    attacked = attacker.make(x, y, trigger, model)
    ctx = DefenseContext(model=model, data=data, reserved=reserved, pool=pool, nc_data=rest, x=x, y=y,
                         attacked=attacked, attacked_kind=attacker.kind, trigger=trigger, attack=attack,
                         intensity=attacker.intensity, settings=settings, device=device, progress=runtime.progress,
                         seed=runtime.seed, out_dir=out_dir)
    return ScanResult(defenses={name: run_defense(name, ctx) for name in settings.defenses}, **common)
