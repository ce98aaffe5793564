"""The attack A that crafts while a model trains (both adversarial terms of Eq. 9, and Madry-Adv's).

Table 1's Madry PGD is the paper's (``madry`` at the run's budget: the paper preset). Cheaper ones,
for populations of models on a CPU, trade steps for speed: PGD with fewer steps (``madry`` with
``steps`` and ``step_ratio``), FGSM with a random start (``fgsm-rs``, Wong et al. 2020: α = 1.25ε) and
N-FGSM (``n-fgsm``, de Jorge et al. 2022: noise from U[−2ε, 2ε], a step of ε, no projection).
Evaluation always keeps Table 1's PGD (the run's budget); the per-epoch probe measures PGD and FGSM
accuracy, so that catastrophic overfitting (PGD accuracy collapsing while FGSM accuracy holds) is
caught (:mod:`advtrojan.training.loop`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..attacks.budget import Budget
from ..attacks.pgd import Attack, make_attack
from ..errors import ConfigError
from ..settings import option, positive_int

METHODS = ("madry", "fgsm-rs", "n-fgsm")


@dataclass(frozen=True)
class TrainingAttack:
    """Which attack crafts during training, at the run's budget ε (None: the method's own value)."""

    method: str = field(default="madry", metadata=option(
        "madry: Table 1's PGD (with --train-attack-steps, fewer steps); fgsm-rs: FGSM from a random start in the "
        "ε-ball, one step of α (Wong et al.); n-fgsm: noise from U[-kε, kε], one step of α, no projection "
        "(de Jorge et al.)", choices=METHODS))
    steps: int | None = field(default=None, metadata=option(
        "madry: PGD steps", parse=positive_int, default_text="the budget's (Table 1's)"))
    step_ratio: float | None = field(default=None, metadata=option(
        "the step α as a multiple of ε", default_text="madry: the budget's α/ε; fgsm-rs: 1.25; n-fgsm: 1"))
    noise: float | None = field(default=None, metadata=option(
        "n-fgsm: the noise's half-width k, in multiples of ε", default_text="2"))

    def validate(self) -> "TrainingAttack":
        if self.method not in METHODS:
            raise ConfigError(f"unknown training attack {self.method!r}: choose one of {', '.join(METHODS)}")
        if self.steps is not None and self.method != "madry":
            raise ConfigError(f"the training attack {self.method} takes one step; --train-attack-steps is madry's")
        if self.noise is not None and self.method != "n-fgsm":
            raise ConfigError("--train-attack-noise is n-fgsm's")
        for name in ("step_ratio", "noise"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 100):
                raise ConfigError(f"training attack: {name} must be a number > 0, got {v!r}")
        if self.steps is not None and (isinstance(self.steps, bool) or not isinstance(self.steps, int)
                                       or self.steps < 1):
            raise ConfigError(f"training attack: steps must be a positive integer, got {self.steps!r}")
        return self

    def build(self, budget: Budget) -> Attack:
        """The attack at the run's ``budget``."""
        self.validate()
        if self.method == "madry":
            ratio = self.step_ratio if self.step_ratio is not None else budget.step_ratio
            return make_attack("madry", replace(budget, steps=self.steps or budget.steps,
                                                step_size=budget.step_size if ratio is None else ratio * budget.eps))
        from ..attacks.pgd import fgsm_rs, n_fgsm
        if self.method == "fgsm-rs":
            return fgsm_rs(budget, **({} if self.step_ratio is None else {"step_ratio": self.step_ratio}))
        return n_fgsm(budget, **{k: v for k, v in (("noise", self.noise), ("step_ratio", self.step_ratio))
                                 if v is not None})

    def describe(self, budget: Budget) -> str:
        a = self.build(budget)
        extra = f", noise {a.start:g}ε, not projected" if not a.project else ""
        return f"{a.method} ({a.steps} step{'s' if a.steps > 1 else ''} of α = {a.step_size / a.eps:g}ε{extra})"
