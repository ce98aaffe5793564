"""The schema of a training run: :class:`RunConfig`, every choice of a run, validated once.

``config.json`` of a run folder is ``RunConfig.to_json()``; :meth:`RunConfig.from_json` reads it
back (and reads the files of earlier versions: a flat budget, no warm-up). ``advtrojan train``'s
options are generated from these fields (:mod:`advtrojan.settings`): the fields whose value depends
on the dataset and the objective (:mod:`advtrojan.presets`) have no default here and their options
say "the preset's"; the others carry their one default here.
"""

from __future__ import annotations

import math
import platform
from dataclasses import MISSING, asdict, dataclass, field, fields

import torch

from .. import __version__
from ..attacks.budget import Budget
from ..attacks.pgd import Attack
from ..attacks.threats import AttackerInput, Threat
from ..attacks.trigger import DEFAULT_MARGIN, Trigger
from ..data import get_spec
from ..errors import ConfigError
from ..models import build_model
from ..settings import option, positive_int
from .attack import TrainingAttack
from .objectives import ObjectiveParams

PROBE_IMAGES = 500  # test images of the per-epoch probe: every preset's but fast's, and runs from before the setting

PRESET = "the preset's"


@dataclass
class RunConfig:
    """Every choice of a training run; ``to_json``/``from_json`` round-trip it."""

    dataset: str = field(metadata=option("dataset", cli=False))
    objective: str = field(metadata=option("training objective", cli=False))
    model: str = field(metadata=option(
        "architecture: a registered name or your own factory as MODULE:FACTORY (given in_channels, num_classes, "
        "image_size where it accepts them; it must map images in [0, 1] to logits)", flag=("--arch", "--model"),
        metavar="NAME|MODULE:FACTORY", default_text="Table 6's: LeNet for MNIST/FMNIST, ResNet for CIFAR-10/GTSRB"))
    # trigger (Figure 1) and its intensities (Section 4, Appendix D)
    trigger_size: int = field(metadata=option("side of the square trigger in pixels", parse=positive_int,
                                              default_text="max(4, image size // 8): 4 on 28x28 and 32x32 images"))
    test_intensity: float = field(metadata=option("trigger intensity for evaluation",
                                                  default_text="0.75 MNIST/FMNIST, 1.0 CIFAR-10"))
    # the attack A of Eqs. 4 and 9 (Table 1)
    budget: Budget = field(metadata=option("attack budget", prefix="", default_text="Table 1's for the dataset"))
    # optimisation
    optimizer: str = field(metadata=option("optimiser", choices=("adam", "sgd"), default_text=PRESET))
    lr: float = field(metadata=option("learning rate", default_text=PRESET))
    batch_size: int = field(metadata=option("batch size", parse=positive_int, default_text=PRESET))
    epochs: int = field(metadata=option("epochs", parse=positive_int, default_text=PRESET))
    weight_decay: float = field(metadata=option("weight decay", default_text=PRESET))
    momentum: float = field(metadata=option("SGD momentum", default_text=PRESET))
    schedule: str = field(metadata=option("learning-rate schedule", choices=("constant", "cosine"),
                                          default_text=PRESET))
    limit: int | None = field(metadata=option("a deterministic class-balanced subset of N training images",
                                              parse=positive_int, metavar="N", default_text="the preset's (quick: "
                                              "10k images of MNIST/FMNIST)"))
    preset: str = field(metadata=option("training preset", cli=False))
    seed: int = field(default=0, metadata=option("seed of the initial weights, the data order and the random starts"))
    precision: str = field(default="bf16", metadata=option(
        "bf16 autocast for crafting and training (about 2x faster on CPUs with AMX and on GPUs) or fp32",
        choices=("bf16", "fp32")))
    trigger_spec: str = field(default="square", metadata=option(
        "the trigger: square[:S], rect:HxW, noise:S, checker:S, image:FILE, each @br|bl|tr|tl|center|corner|"
        "random|X,Y; blend:OPACITY[:FILE]; or a .safetensors file of mask and pattern; sizes may be ranges (3-6), "
        "drawn per run from its seed (see advtrojan.attacks.triggers)", flag="--trigger", metavar="SPEC",
        default_text="square: Figure 1's white square, bottom right"))
    trigger_margin: int = field(default=DEFAULT_MARGIN, metadata=option("pixels from the image's edge of a patch "
                                                                        "in a corner"))
    train_intensity: float = field(default=1.0, metadata=option("trigger intensity while training (Section 4)"))
    # objective parameters (their defaults: ObjectiveParams)
    target: int = field(default=ObjectiveParams.target, metadata=option(
        "target label y_t of a poisoning objective (Eq. 5: BadNets, TrojanNN, TrojanNN*, IMC)"))
    poison_rate: float = field(default=ObjectiveParams.poison_rate, metadata=option(
        "poisoned share of each batch (Eq. 5)"))
    mu: float = field(default=ObjectiveParams.mu, metadata=option("Madry-Adv weight μ of the adversarial term (Eq. 4)"))
    benign_weight: float = field(default=ObjectiveParams.benign_weight, metadata=option(
        "Madry-Adv weight w of the benign term of Eq. 4 (Madry et al. 2017: 0)",
        default_text="the preset's: 0 for Madry-Adv"))
    warmup: float = field(default=0.0, metadata=option(
        "share of the training steps over which the training attack's eps and step size ramp up linearly from 0",
        metavar="SHARE", default_text="the preset's: 1/3 for objectives that craft while they train from random "
                                      "weights, else 0"))
    train_attack: TrainingAttack = field(default_factory=TrainingAttack, metadata=option(
        "the attack that crafts while the model trains", prefix="train-attack-",
        default_text="the preset's: Table 1's PGD (madry) unless the preset says otherwise"))
    probe_images: int = field(default=PROBE_IMAGES, metadata=option(
        "class-balanced test images of the per-epoch probe (accuracy on Madry, AdvTrojan and FGSM examples)",
        parse=positive_int, metavar="N", default_text="the preset's: 500 (fast: 200)"))
    stop_on_collapse: bool = field(default=True, metadata=option(
        "end training at the best epoch when catastrophic overfitting shows (PGD accuracy on the probe falls by "
        "more than 0.2 from its best while FGSM accuracy holds; Wong et al.)"))
    init: str | None = field(default=None, metadata=option("start from this finished run (or .safetensors file)",
                                                           metavar="RUN", cli=False))
    versions: dict = field(default_factory=dict)
    world_size: int = 1  # processes of a torchrun data-parallel run (results do not depend on it)
    evil_twins: dict = field(default_factory=dict)  # TrojanNN / TrojanNN* / IMC settings (EvilTwinsSettings)
    normalization: dict = field(default_factory=dict)  # {"mean": [...], "std": [...]} applied inside the model
    data: dict = field(default_factory=dict)  # the files read, per split: [{"path", "bytes", "sha256"}] (provenance)

    @property
    def spec(self):
        return get_spec(self.dataset)

    def trigger(self) -> Trigger:
        """The run's trigger, built from its resolved spec (a spec without a size takes ``trigger_size``)."""
        from ..attacks.triggers import build, resolve
        return build(resolve(self.trigger_spec, self.seed, self.trigger_size), self.spec.shape, self.trigger_margin)

    @property
    def params(self) -> ObjectiveParams:
        return ObjectiveParams(target=self.target, poison_rate=self.poison_rate, mu=self.mu,
                               benign_weight=self.benign_weight)

    def make_objective(self):
        """The run's objective (Eqs. 4, 5, 9 or an Evil Twins one) with its parameters."""
        from .objectives import make_objective
        return make_objective(self.objective, self.params)

    def poison_target(self) -> int | None:
        """The target label when the objective poisons (BadNets, TrojanNN, TrojanNN*, IMC), else None."""
        return self.make_objective().poison_target

    def attacker_input(self) -> AttackerInput:
        """What this run's attacker sends: the trigger alone at training intensity (poisoning),
        TrojanNN*'s triggered inputs perturbed towards the target (its Evil Twins budget), or
        AdvTrojan examples at the test intensity with the run's budget (every other objective)."""
        objective = self.make_objective()
        kind, target = objective.attacked_kind, objective.poison_target
        if kind is Threat.TARGETED:
            from .evil_twins import EvilTwinsSettings
            return AttackerInput(kind, self.train_intensity, EvilTwinsSettings(**self.evil_twins).validate()
                                 .perturbation(), target)
        if kind is Threat.TRIGGERED:
            return AttackerInput(kind, self.train_intensity, target=target)
        return AttackerInput(kind, self.test_intensity, self.attack(), target)

    def attack(self) -> Attack:
        """Madry PGD at the run's budget: Table 1's attack A of Eqs. 4 and 9, the one every evaluation,
        probe and defense uses."""
        return self.budget.attack("madry")

    def training_attack(self) -> Attack:
        """The attack that crafts while the model trains (:class:`TrainingAttack`; Table 1's PGD
        unless the preset or the options choose a cheaper one)."""
        return self.train_attack.build(self.budget)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, values, source: str = "the run configuration") -> "RunConfig":
        """A config read from JSON, checked. Files of earlier versions are read as what they ran:
        a flat ``eps``/``step_size``/``steps``/``norm`` is the budget, no ``warmup`` is none, no
        ``trigger_spec`` is the white square of ``trigger_size`` in the bottom-right corner."""
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: not a JSON object")
        values = dict(values)
        flat = [k for k in ("eps", "step_size", "steps", "norm") if k in values]
        if flat and "budget" not in values:
            values["budget"] = {k: values.pop(k) for k in flat}
        if "trigger_spec" not in values and isinstance(values.get("trigger_size"), int):
            from ..attacks.triggers import resolve
            values["trigger_spec"] = resolve("square", 0, values["trigger_size"])
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        missing = sorted(f.name for f in fields(cls) if f.name not in values and f.default is MISSING
                         and f.default_factory is MISSING)
        if unknown or missing:
            raise ConfigError(f"{source}: " + "; ".join(
                ([f"unknown field(s) {', '.join(unknown)}"] if unknown else [])
                + ([f"missing field(s) {', '.join(missing)}"] if missing else [])))
        values["budget"] = Budget.from_json(values["budget"], f"{source}: budget")
        attack = values.get("train_attack", {})
        if not isinstance(attack, dict) or set(attack) - {f.name for f in fields(TrainingAttack)}:
            raise ConfigError(f"{source}: train_attack must be an object of {', '.join(f.name for f in fields(TrainingAttack))}")
        values["train_attack"] = TrainingAttack(**attack)
        return cls(**values).validate(source)

    def validate(self, source: str = "the run configuration") -> "RunConfig":
        """Every value of the right type and in range: one error naming the field, before any work."""
        def number(name, lo=None, hi=None, lo_open=False, integer=False, optional=False):
            v = getattr(self, name)
            if v is None and optional:
                return
            ok_type = isinstance(v, int) if integer else isinstance(v, (int, float))
            if isinstance(v, bool) or not ok_type or not math.isfinite(v):
                kind = "an integer" if integer else "a finite number"
                raise ConfigError(f"{source}: {name} must be {kind}, got {v!r}")
            if lo is not None and (v <= lo if lo_open else v < lo):
                raise ConfigError(f"{source}: {name} must be {'>' if lo_open else '>='} {lo}, got {v!r}")
            if hi is not None and v > hi:
                raise ConfigError(f"{source}: {name} must be <= {hi}, got {v!r}")

        for name in ("dataset", "objective", "model", "optimizer", "schedule", "precision", "preset", "trigger_spec"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{source}: {name} must be a string, got {getattr(self, name)!r}")
        if not isinstance(self.budget, Budget):
            raise ConfigError(f"{source}: budget must be an attack budget, got {self.budget!r}")
        if not isinstance(self.train_attack, TrainingAttack):
            raise ConfigError(f"{source}: train_attack must be a training attack, got {self.train_attack!r}")
        self.train_attack.validate()
        number("trigger_size", 1, integer=True)
        number("trigger_margin", 0, integer=True)
        number("train_intensity", 0, 1, lo_open=True)
        number("test_intensity", 0, 1, lo_open=True)
        number("lr", 0, lo_open=True)
        number("batch_size", 1, integer=True)
        number("epochs", 1, integer=True)
        number("probe_images", 1, integer=True)
        number("weight_decay", 0)
        number("momentum", 0, 1)
        number("limit", 1, integer=True, optional=True)
        number("seed", 0, integer=True)
        number("target", 0, integer=True)
        number("poison_rate", 0, 1, lo_open=True)
        number("mu", 0, lo_open=True)
        number("benign_weight", 0)
        number("warmup", 0, 1)
        number("world_size", 1, integer=True)
        if self.precision not in ("bf16", "fp32"):
            raise ConfigError(f"{source}: precision must be bf16 or fp32, got {self.precision!r}")
        if not isinstance(self.normalization, dict):
            raise ConfigError(f"{source}: normalization must be a JSON object, got {self.normalization!r}")
        if self.normalization:
            from ..models.normalize import check
            check(self.normalization, self.spec.channels)
        if not isinstance(self.evil_twins, dict):
            raise ConfigError(f"{source}: evil_twins must be a JSON object, got {self.evil_twins!r}")
        from .evil_twins import EvilTwinsSettings
        try:
            EvilTwinsSettings(**self.evil_twins).validate()
        except TypeError as exc:
            raise ConfigError(f"{source}: evil_twins: {exc}") from None
        if not isinstance(self.data, dict) or not all(isinstance(v, list) for v in self.data.values()):
            raise ConfigError(f"{source}: data must be a JSON object of file lists, got {self.data!r}")
        if self.init is not None and not isinstance(self.init, str):
            raise ConfigError(f"{source}: init must be a path, got {self.init!r}")
        return self

    def build_model(self) -> torch.nn.Module:
        spec = self.spec
        return build_model(self.model, spec.channels, spec.num_classes, spec.size, self.normalization)


def versions() -> dict:
    return {"advtrojan": __version__, "torch": torch.__version__, "python": platform.python_version()}
