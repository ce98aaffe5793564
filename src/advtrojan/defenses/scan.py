"""Run the chosen defenses on a model: the verdicts of Tables 2-5 and Figure 5, and figures.

The test set is split once, deterministically: ``reserved`` (STRIP's N clean inputs, never
evaluated), a ``pool`` of clean evaluation inputs, and the inputs for Neural Cleanse. The
attacked inputs are AdvTrojan examples A(x + t) of the pool (for a BadNets model: x + t).
Every defense comes from the registry (:mod:`advtrojan.defenses.registry`) and gets the same
:class:`DefenseContext`.
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..attacks.pgd import Attack, budget_json
from ..attacks.threats import Threat, craft
from ..attacks.trigger import Trigger
from ..chance import at_chance, chance_level, chance_note
from ..data import ImageData
from ..errors import ConfigError
from . import adaptive, certify, neural_cleanse, strip  # noqa: F401  (the built-ins register themselves)
from .adaptive import AdaptiveNCSettings
from .certify import CERT, check_method
from .neural_cleanse import NCSettings
from .registry import DEFENSES as REGISTRY
from .registry import DefenseContext, run_defense
from .strip import StripSettings

# the paper's defenses, run by default (Tables 2-5, Figure 5); any registered defense can be named
DEFENSES = ("neural_cleanse", "strip", "e_strip", "adaptive_neural_cleanse", "certified")


def all_defenses() -> tuple[str, ...]:
    """Every registered defense: the paper's first, then the plug-ins' in registration order."""
    return DEFENSES + tuple(n for n in REGISTRY if n not in DEFENSES)


@dataclass
class ScanSettings:
    defenses: tuple[str, ...] = DEFENSES
    pool: int = 1000                 # clean evaluation inputs (and their attacked versions)
    nc_images: int = 2000            # benign inputs for Neural Cleanse (the paper: the whole test set)
    anc_images: int = 500            # inputs for adaptive Neural Cleanse
    certify_images: int = 500
    sigma: float = CERT.sigma
    radius: float = CERT.radius      # B of Eq. 10 (L2)
    noise_samples: int = CERT.noise_samples
    cert_method: str = CERT.method
    cert_confidence: float | None = None  # None: the procedure's default
    nc: NCSettings = field(default_factory=NCSettings)
    strip: StripSettings = field(default_factory=StripSettings)
    anc: AdaptiveNCSettings = field(default_factory=AdaptiveNCSettings)

    def validate(self) -> None:
        if isinstance(self.defenses, str) or not self.defenses:
            raise ConfigError("no defense chosen: name at least one of " + ", ".join(REGISTRY))
        unknown = [d for d in self.defenses if d not in REGISTRY]
        if unknown:
            raise ConfigError(f"unknown defense {', '.join(map(repr, unknown))}: choose from {', '.join(REGISTRY)}")
        repeated = sorted({d for d in self.defenses if list(self.defenses).count(d) > 1})
        if repeated:
            raise ConfigError(f"defense {', '.join(map(repr, repeated))} named twice")
        for name, value in (("pool", self.pool), ("nc_images", self.nc_images), ("anc_images", self.anc_images),
                            ("certify_images", self.certify_images), ("noise_samples", self.noise_samples)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if not 0 < self.radius < math.inf:  # NaN fails too
            raise ConfigError(f"certification radius must be a finite number > 0, got {self.radius}")
        if not 0 < self.sigma < math.inf:
            raise ConfigError(f"noise sigma must be a finite number > 0, got {self.sigma}")
        check_method(self.cert_method, self.cert_confidence)
        self.strip.validate()


def split_test(data: ImageData, n_reserved: int, pool: int, nc: int, seed: int = 0):
    """Disjoint reserved / pool / Neural Cleanse subsets of the test set (seeded permutation)."""
    need = n_reserved + pool
    if need > len(data):
        raise ConfigError(f"the test set has {len(data)} images; STRIP's {n_reserved} reserved plus a pool of "
                          f"{pool} need {need}")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    reserved, pool_idx = order[:n_reserved], order[n_reserved:need]
    rest = order[n_reserved:]  # Neural Cleanse may use any non-reserved benign input
    return data.subset(reserved), data.subset(pool_idx), data.subset(rest[:nc])


@torch.no_grad()
def model_health(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, batch_size: int = 500) -> dict:
    """The model's benign accuracy on ``(x, y)`` against the chance level (:mod:`advtrojan.chance`)."""
    hits = sum((model(xb).argmax(1) == yb).sum().item() for xb, yb in zip(x.split(batch_size), y.split(batch_size)))
    accuracy, level = hits / max(1, len(y)), chance_level(y, num_classes)
    return {"benign_accuracy": accuracy, "level": level, "at_chance": at_chance(accuracy, level)}


def scan_model(model: nn.Module, data: ImageData, trigger: Trigger, attack: Attack, intensity: float, *,
               settings: ScanSettings = ScanSettings(), attacked_kind: Threat = Threat.ADVTROJAN,
               target: int | None = None, perturbation: Attack | None = None, out_dir: Path | None = None,
               device="cpu", progress: bool = True, seed: int = 0) -> dict:
    """Run ``settings.defenses`` on ``model``: ``{name: result.to_json(), "figures": {...}, "budget": {...}}``.

    ``attack`` is the budget the defenses use (adaptive Neural Cleanse's Eq. 11) and, unless
    ``perturbation`` is given (TrojanNN*'s own, smaller one), the one that crafts the attacked inputs."""
    settings.validate()
    model.eval()
    reserved, pool, nc_data = split_test(data, settings.strip.n_reserved, settings.pool, settings.nc_images, seed)
    x, y = pool.tensors(device)
    health = model_health(model, x, y, data.spec.num_classes)
    if health["at_chance"]:  # a constant classifier: no defense's verdict would mean anything
        note = chance_note(health["benign_accuracy"], health["level"])
        res = {name: {"title": REGISTRY.get(name).title, "verdict": note, "details": "", "detected": None,
                      "skipped": "at chance"} for name in settings.defenses}
        return {**res, "figures": {}, "chance": health,
                "budget": {**budget_json(attack), "intensity": intensity, "attacked": attacked_kind.value}}
    torch.manual_seed(seed)
    attacked = craft([attacked_kind], x, y, trigger=trigger.to(device), intensity=intensity,
                     attack=perturbation or attack, model=model, target=target)[attacked_kind]
    ctx = DefenseContext(model=model, data=data, reserved=reserved, pool=pool, nc_data=nc_data, x=x, y=y,
                         attacked=attacked, attacked_kind=attacked_kind, trigger=trigger.to(device), attack=attack,
                         intensity=intensity, settings=settings, device=device, progress=progress, seed=seed,
                         out_dir=out_dir)
    res: dict = {}
    figs: dict = {}
    for name in settings.defenses:
        result = run_defense(name, ctx)
        res[name] = result.to_json()
        figs.update(result.figures)
    res["figures"] = figs
    res["chance"] = health
    res["budget"] = {**budget_json(attack), "intensity": intensity, "attacked": attacked_kind.value}
    if perturbation is not None:
        res["budget"]["perturbation"] = {**budget_json(perturbation), "target": target}
    return res
