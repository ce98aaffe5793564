"""The attack budget (Table 1): one value that travels whole.

A :class:`Budget` is ε, α, the number of steps and the norm of the ε-ball, validated once. Every
part that crafts (training, evaluation, sweeps, defenses) holds one and builds its attack from it
with :meth:`Budget.attack`; none of them passes ε, α, steps or the norm as loose arguments, so none
can drop one (an L2 run evaluated in L∞ was such a bug).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

from ..errors import ConfigError
from ..settings import option

NORMS = ("linf", "l2")


@dataclass(frozen=True)
class Budget:
    """An attack budget: total ε, per-step α, number of steps and the norm (Table 1)."""

    eps: float = field(metadata=option("total perturbation ε (Table 1: MNIST 0.3, FMNIST 0.2, CIFAR-10 8/255)"))
    step_size: float = field(metadata=option("per-step α (Table 1: MNIST 0.03, FMNIST 0.02, CIFAR-10 2/255)"))
    steps: int = field(metadata=option("PGD/BIM iterations (Table 1: 20 for MNIST and FMNIST, 7 for CIFAR-10)"))
    norm: str = field(default="linf", metadata=option(
        "norm of the ε-ball; another norm than the run's needs its own --eps (with --eps alone, α keeps Table 1's "
        "ratio α/ε)", choices=NORMS))

    def __post_init__(self):
        for name in ("eps", "step_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"attack budget: {name} must be finite and non-negative, got {v!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise ConfigError(f"attack budget: steps must be a non-negative integer, got {self.steps!r}")
        if self.norm not in NORMS:
            raise ConfigError(f"attack budget: unknown norm {self.norm!r}: choose linf or l2")

    def override(self, eps=None, step_size=None, steps=None, norm=None) -> "Budget":
        """This budget with some values replaced: the one rule for a budget given in part.

        When only ε changes, α keeps this budget's ratio α/ε (Table 1's: 1/10 on MNIST and FMNIST,
        1/4 on CIFAR-10), so ``--eps 0.1`` alone on FMNIST gives α = 0.01."""
        if norm is not None and norm != self.norm and eps is None:
            raise ConfigError(f"the budget is {self.norm} (ε={self.eps:g}); an {norm} budget needs its own --eps")
        new_eps = self.eps if eps is None else eps
        if step_size is None:
            step_size = self.step_size * (new_eps / self.eps) if (eps is not None and self.eps > 0) else self.step_size
        return Budget(new_eps, step_size, self.steps if steps is None else steps, self.norm if norm is None else norm)

    def scaled(self, factor: float) -> "Budget":
        """ε and α times ``factor`` (the steps and the norm kept): the training warm-up and the ε sweep
        of Figures 8-9, where α keeps its ratio to ε."""
        return replace(self, eps=self.eps * factor, step_size=self.step_size * factor)

    @property
    def step_ratio(self) -> float | None:
        """α/ε (None at ε = 0)."""
        return self.step_size / self.eps if self.eps > 0 else None

    def attack(self, method: str = "madry"):
        """The registered attack ``method`` (fgsm, bim, madry or a plug-in's) at this budget."""
        from .pgd import make_attack
        return make_attack(method, self)

    def describe(self) -> str:
        return f"{self.norm} eps={self.eps:.4g} step={self.step_size:.4g} steps={self.steps}"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data, source: str = "budget") -> "Budget":
        if not isinstance(data, dict) or set(data) - {f.name for f in fields(cls)} or not {"eps", "step_size",
                                                                                            "steps"} <= set(data):
            raise ConfigError(f"{source}: an attack budget is an object with eps, step_size, steps and norm; got "
                              f"{data!r}")
        return cls(**data)

    @staticmethod
    def overrides(values: dict) -> dict:
        """The budget fields among ``values`` that are given (not None): a budget given in part."""
        return {f.name: values[f.name] for f in fields(Budget) if values.get(f.name) is not None}


def _help(name: str) -> dict:
    return {**next(f for f in fields(Budget) if f.name == name).metadata, "default_text": None}


@dataclass(frozen=True)
class BudgetOverride:
    """A budget given in part (the command line's ``--eps``, ``--step-size``, ``--steps``,
    ``--norm``): applied to the budget it changes (a run's, or Table 1's) by :meth:`apply`, with
    :meth:`Budget.override`'s rule. Empty: that budget unchanged."""

    eps: float | None = field(default=None, metadata=_help("eps"))
    step_size: float | None = field(default=None, metadata=_help("step_size"))
    steps: int | None = field(default=None, metadata=_help("steps"))
    norm: str | None = field(default=None, metadata=_help("norm"))

    def apply(self, budget: Budget) -> Budget:
        return budget.override(**self.given())

    def given(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def of(cls, budget: "Budget | BudgetOverride | dict | None") -> "BudgetOverride":
        """A whole budget (replacing), a dict of values, an override, or None (nothing changed)."""
        if budget is None:
            return cls()
        if isinstance(budget, BudgetOverride):
            return budget
        if isinstance(budget, Budget):
            return cls(**asdict(budget))
        if isinstance(budget, dict):
            unknown = set(budget) - {f.name for f in fields(cls)}
            if unknown:
                raise ConfigError(f"unknown budget field(s) {', '.join(sorted(unknown))}: eps, step_size, steps, norm")
            return cls(**budget)
        raise ConfigError(f"a budget is a Budget, a dict of its values or None, got {type(budget).__name__}")
