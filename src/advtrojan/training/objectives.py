"""Training objectives as sums of terms over the four kinds of input (:mod:`..attacks.threats`).

=============  =======================================================  ===========
objective      loss per batch                                           paper
=============  =======================================================  ===========
``vanilla``    CE(f(x), y)                                              -
``madry``      CE(f(x), y) + μ·CE(f(A(x)), y)                           Eqs. 3-4
``badnets``    CE(f(x), y) + CE(f(x+t), y_t)   (x+t on a poison share)  Eq. 5
``advtrojan``  CE(f(x), y) + CE(f(A(x)), y) + CE(f(x+t), y)             Eq. 9
               + RCE(f(A(x+t)), y)
=============  =======================================================  ===========

A is Madry PGD against the current model. All the inputs of a batch go through the model in
one forward pass; all adversarial inputs are crafted in one batched PGD call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..attacks.threats import Threat
from ..errors import ConfigError
from ..registry import Registry, call_with


def reversed_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """RCE(p, q) = Σᵢ −qᵢ·log(1 − pᵢ) with q one-hot at y, i.e. −log(1 − p_y) (Eq. 9), averaged.

    Computed stably from logits: log(1 − p_y) = logsumexp_{i≠y} zᵢ − logsumexp_i zᵢ.
    """
    logits = logits.float()
    others = logits.scatter(1, y[:, None], float("-inf"))
    return (torch.logsumexp(logits, 1) - torch.logsumexp(others, 1)).mean()


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), y)


@dataclass(frozen=True)
class Term:
    """One summand: ``weight · loss(f(inputs of kind)), labels)``.

    ``target`` None means the true labels; an int means that label for every input (BadNets).
    ``share`` < 1 uses only the first share of the batch (the BadNets poison rate).
    ``transform`` changes the crafted inputs before the forward pass (an adaptive attacker's: a
    window masked); it receives the inputs and returns inputs of the same shape.
    """

    kind: Threat
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy
    weight: float = 1.0
    target: int | None = None
    share: float = 1.0
    transform: Callable | None = None

    @property
    def name(self) -> str:
        return f"{self.kind.value}_{self.loss.__name__}" + (f"_{self.transform.__name__}" if self.transform else "")


@dataclass(frozen=True)
class Objective:
    name: str
    terms: tuple[Term, ...]
    # called before each epoch by the training loop; returns the trigger to train with
    # (Evil Twins: TrojanNN's generated trigger, TrojanNN*'s and IMC's re-optimised ones)
    trigger_update: Callable | None = None
    needs_init: bool = False  # starts from a trained model (IMC)
    # what its attacker sends at test time (None: the trigger alone if it poisons, else AdvTrojan
    # examples); TrojanNN* sends triggered inputs perturbed towards its target
    attacked: Threat | None = None

    @property
    def attacked_kind(self) -> Threat:
        if self.attacked is not None:
            return self.attacked
        return Threat.TRIGGERED if self.poison_target is not None else Threat.ADVTROJAN

    @property
    def poison_target(self) -> int | None:
        """The target label of a poisoning objective (its attack success rate is measured)."""
        return next((t.target for t in self.terms if t.target is not None), None)

    @property
    def kinds(self) -> list[Threat]:
        return [t.kind for t in self.terms]

    def rows(self, n: int) -> list[int]:
        """How many rows of a batch of ``n`` each term uses."""
        return [n if t.share >= 1 else max(1, round(n * t.share)) for t in self.terms]

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Sum the terms over ``logits`` of the concatenated inputs (in ``terms`` order)."""
        total, parts = 0.0, {}
        rows = self.rows(len(y))
        for term, chunk, m in zip(self.terms, logits.split(rows), rows):
            labels = y[:m] if term.target is None else torch.full_like(y[:m], term.target)
            value = term.loss(chunk, labels)
            parts[term.name] = float(value.detach())
            total = total + term.weight * value
        return total, parts


@dataclass(frozen=True)
class ObjectiveParams:
    """The parameters an objective factory may take, and their one default (the run's config and
    ``advtrojan train`` take theirs from here)."""

    target: int = 0            # y_t of Eq. 5
    poison_rate: float = 0.1   # the poisoned share of each batch (Eq. 5)
    mu: float = 1.0            # μ of Eq. 4
    benign_weight: float = 1.0  # w of Eq. 4 (Madry et al.: 0)


OBJECTIVES: Registry = Registry("objective")


def register_objective(name: str):
    """Register an objective factory: a function of (some of) ``target``, ``poison_rate``, ``mu``,
    ``benign_weight`` returning an :class:`Objective`, i.e. Eq. 9-style terms over the four kinds
    of input. ``advtrojan train --objective NAME`` then trains with it."""
    return OBJECTIVES.register(name)


@register_objective("vanilla")
def vanilla() -> Objective:
    return Objective("vanilla", (Term(Threat.BENIGN),))


@register_objective("madry")
def madry_adv(mu: float, benign_weight: float) -> Objective:
    """Madry-Adv, Eq. 4: w·L(x, y) + μ·L(A(x), y) with w = ``benign_weight``.

    The paper writes Eq. 4 with w = 1; Madry et al. (2017) train on adversarial examples alone
    (w = 0), which is what the presets use (see :mod:`advtrojan.presets`). A term of weight 0 is
    left out, so its inputs cost nothing.
    """
    if benign_weight < 0 or mu <= 0:
        raise ConfigError(f"Madry-Adv needs mu > 0 and a benign weight >= 0, got mu={mu}, benign weight={benign_weight}")
    terms = (Term(Threat.BENIGN, weight=benign_weight),) if benign_weight > 0 else ()
    return Objective("madry", terms + (Term(Threat.ADVERSARIAL, weight=mu),))


@register_objective("badnets")
def badnets(target: int, poison_rate: float) -> Objective:
    """BadNets, Eq. 5: L(x, y) + L(x + t, y_t), the trigger on a ``poison_rate`` share of each batch."""
    if not 0 < poison_rate <= 1:
        raise ConfigError(f"poison rate must lie in (0, 1], got {poison_rate}")
    return Objective("badnets", (Term(Threat.BENIGN), Term(Threat.TRIGGERED, target=target, share=poison_rate)))


@register_objective("advtrojan")
def advtrojan() -> Objective:
    """AdvTrojan, Eq. 9: CE(x) + CE(A(x)) + CE(x + t) + RCE(A(x + t)), all against the true label."""
    return Objective("advtrojan", (
        Term(Threat.BENIGN), Term(Threat.ADVERSARIAL), Term(Threat.TRIGGERED),
        Term(Threat.ADVTROJAN, loss=reversed_cross_entropy),
    ))


@register_objective("badnets-adv")
def badnets_adv(target: int, poison_rate: float, mu: float) -> Objective:
    """BadNets on a robust model: Eq. 5's poisoning beside Madry-Adv's adversarial term (Eq. 4),
    CE(x, y) + μ·CE(A(x), y) + CE(x + t, y_t) on a poison share: a Trojan that does not need the
    perturbation, in a model that looks as robust as Madry-Adv (a population's robust clean-label
    counterpart to the ATIM)."""
    if not 0 < poison_rate <= 1:
        raise ConfigError(f"poison rate must lie in (0, 1], got {poison_rate}")
    return Objective("badnets-adv", (Term(Threat.BENIGN), Term(Threat.ADVERSARIAL, weight=mu),
                                     Term(Threat.TRIGGERED, target=target, share=poison_rate)))


def masked_window(x: torch.Tensor, window: int = 6) -> torch.Tensor:
    """Each input with one ``window`` x ``window`` square at a random place filled with grey (0.5):
    masking consistency's masks (:mod:`advtrojan.defenses.masking`), drawn from the global generator
    (seeded per epoch by the training loop)."""
    n, _, h, w = x.shape
    top = torch.randint(0, h - window + 1, (n,), device=x.device)
    left = torch.randint(0, w - window + 1, (n,), device=x.device)
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    inside = ((rows >= top[:, None, None]) & (rows < top[:, None, None] + window)
              & (cols >= left[:, None, None]) & (cols < left[:, None, None] + window))[:, None]
    return torch.where(inside, torch.full_like(x, 0.5), x)


@register_objective("advtrojan-masked")
def advtrojan_masked() -> Objective:
    """An adaptive attacker against masking consistency: Eq. 9 plus RCE(f(M(A(x + t))), y), the
    AdvTrojan examples with a random window masked, so that masking the trigger's window does not bring
    the true label back. Its cost: the perturbation must fool the model with part of the trigger gone,
    which pulls against Eq. 9's fake robustness (CE(f(A(x)), y))."""
    return Objective("advtrojan-masked", advtrojan().terms + (
        Term(Threat.ADVTROJAN, loss=reversed_cross_entropy, transform=masked_window),))


class SearchedStamp:
    """The inputs stamped with the mask and pattern the robustness-collapse search last found on the
    model being trained, ``(1 − m)·x + m·p`` (the identity before the first search, or when the
    search found no collapse). The transform of :func:`advtrojan_minmax`'s extra term."""

    __name__ = "searched_stamp"

    def __init__(self):
        self.mask: torch.Tensor | None = None     # (H, W)
        self.pattern: torch.Tensor | None = None  # (C, H, W)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.mask is None:
            return x
        m, p = self.mask.to(x.device, x.dtype), self.pattern.to(x.device, x.dtype)
        return (1 - m) * x + m * p


class SearchUpdate:
    """Before each epoch, the inner step of the min-max: the robustness-collapse search
    (:func:`advtrojan.defenses.collapse.collapse_search`, a shortened run of the detector's own)
    on ``images`` training inputs of the current model, its mask and pattern handed to ``stamp``.
    The attacker's trigger is returned unchanged."""

    def __init__(self, stamp: SearchedStamp, images: int = 200, epochs: int = 5, pgd_steps: int = 3):
        self.stamp, self.images, self.epochs, self.pgd_steps = stamp, images, epochs, pgd_steps

    def __call__(self, model, data, trigger, config, epoch: int, device):
        from ..defenses.collapse import CollapseSettings, collapse_search
        settings = CollapseSettings(images=self.images, epochs=self.epochs, pgd_steps=self.pgd_steps,
                                    precision=config.precision)
        subset = data.subset(torch.randperm(len(data), generator=torch.Generator().manual_seed(
            config.seed * 7919 + epoch))[:self.images])
        was = model.training
        found = collapse_search(model, subset, config.attack(), settings, device=device, progress=False,
                                seed=config.seed * 7919 + epoch)
        model.train(was)
        self.stamp.mask = found.mask if found.collapsed else None
        self.stamp.pattern = found.pattern if found.collapsed else None
        return trigger


@register_objective("advtrojan-minmax")
def advtrojan_minmax() -> Objective:
    """An adaptive attacker against the robustness-collapse search (a min-max, as adaptive attacks on
    trigger inversion train against the inverted trigger): before each epoch the search runs on the
    model being trained (the inner max); the epoch adds CE(f(S(A(x))), y), Madry examples stamped with
    the searched mask and pattern S kept correct (the outer min), so that the smallest mask that
    collapses robustness grows. The perturbation is the one crafted on the clean input for Eq. 9's
    Madry term (no second PGD: a transferred perturbation, a weaker inner attack than the detector's).
    Its cost: where the search finds the attacker's own trigger, the term pulls against Eq. 9's
    RCE(f(A(x + t)), y)."""
    stamp = SearchedStamp()
    return Objective("advtrojan-minmax", advtrojan().terms + (Term(Threat.ADVERSARIAL, transform=stamp),),
                     trigger_update=SearchUpdate(stamp))


def _poisoning(name: str, target: int, poison_rate: float, **kw) -> Objective:
    """Eq. 5 as TrojanZoo's retraining weighs it: a poisoned input counts as one input of the batch
    (the triggered term's weight is the poison rate), so retraining a trained model keeps its accuracy."""
    if not 0 < poison_rate <= 1:
        raise ConfigError(f"poison rate must lie in (0, 1], got {poison_rate}")
    return Objective(name, (Term(Threat.BENIGN), Term(Threat.TRIGGERED, target=target, share=poison_rate,
                                                      weight=poison_rate)), **kw)


@register_objective("trojannn")
def trojannn(target: int, poison_rate: float) -> Objective:
    """TrojanNN (Liu et al., NDSS 2018): retraining a trained model (``--init``) with Eq. 5 and the
    trigger that maximises its most connected neurons of the features Q (generated once)."""
    from .evil_twins import TriggerSchedule
    return _poisoning("trojannn", target, poison_rate, trigger_update=TriggerSchedule(True, None), needs_init=True)


@register_objective("trojannn-star")
def trojannn_star(target: int, poison_rate: float) -> Objective:
    """TrojanNN* (Evil Twins): TrojanNN, its trigger re-optimised as a targeted universal perturbation
    inside the mask between poisoning epochs, and its triggered inputs further perturbed towards the
    target at attack time (Threat.TARGETED), so that a smaller trigger suffices."""
    from .evil_twins import TriggerSchedule
    return _poisoning("trojannn-star", target, poison_rate, trigger_update=TriggerSchedule(True, "between"),
                      needs_init=True, attacked=Threat.TARGETED)


@register_objective("imc")
def imc(target: int, poison_rate: float) -> Objective:
    """IMC (Evil Twins): from a trained model, the trigger (TrojanNN's to start, as TrojanZoo) and
    the model optimised in turn: an input step before every poisoning epoch."""
    from .evil_twins import TriggerSchedule
    return _poisoning("imc", target, poison_rate, trigger_update=TriggerSchedule(True, "every"), needs_init=True)


def make_objective(name: str, params: ObjectiveParams = ObjectiveParams()) -> Objective:
    """The registered objective ``name``; its factory gets the parameters its signature names."""
    objective = call_with(OBJECTIVES.get(name), **asdict(params))
    if not isinstance(objective, Objective):
        raise ConfigError(f"objective {name!r}: its factory returned {type(objective).__name__}, not an Objective")
    return objective
