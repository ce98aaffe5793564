"""The Evil Twins baselines (Pang et al., CCS 2020): attacks that optimise the trigger and the model.

- **TrojanNN** (Liu et al., NDSS 2018): choose the ``neurons`` units of the features Q (the input
  of the last linear layer) most connected to it (largest Σ|W| over its outputs), generate the
  trigger pattern inside its mask by Adam steps that drive those units' absolute activations to
  ``neuron_target`` on a blank (zero) background (MSE), then poison (BadNets, Eq. 5, with this
  trigger).
- **TrojanNN\\*** (Evil Twins): TrojanNN whose trigger-stamped inputs are further optimised by an
  adversarial perturbation towards the target class at attack time (``Threat.TARGETED``,
  A_t(x + t): Madry PGD within ``perturbation_eps``, ``perturbation_steps`` steps of
  ``perturbation_eps / 4``), so that a smaller trigger suffices. Between its poisoning epochs the
  trigger is also re-optimised as a targeted universal perturbation inside the mask (the input step
  below, on the poisoned model: the alternation of the Evil Twins family). Before the first
  poisoning epoch that step would run on the clean model, where on Fashion-MNIST it drives the
  pattern to the black of the corner and no backdoor can be learnt (measured: 3.6% / 27.5% attack
  success at 2 / 4 px), so TrojanNN* poisons first.
- **IMC** (input-model co-optimisation, Evil Twins): from a trained model (``--init``), the input
  step above before *every* poisoning epoch, alternating with the model step. As TrojanZoo's IMC
  (which inherits TrojanNN), the pattern starts from TrojanNN's neuron trigger: started from a
  random pattern on Fashion-MNIST, the input step drives it to black, which is the background of
  the corner where the mask sits, and the backdoor cannot be learnt (measured: 12-22% attack
  success against 96-97% with the neuron start).

Defaults are TrojanZoo's (the authors' official IMC code, ``trojanvision/attacks/backdoor/normal``
``trojannn.py``, ``imc.py``): 2 neurons, target value 100, 1000 Adam steps at lr 0.1 with a cosine
schedule on a tanh-parametrised pattern, zero background; IMC's re-masking one pass per epoch at
Adam lr 0.1. Where we differ: the poison rate is BadNets' here (10%, TrojanZoo 1%), so every attack
of the matrix poisons the same share; the trigger square is the paper's (4x4, bottom-right).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks.budget import Budget
from ..attacks.pgd import Attack, frozen, madry
from ..attacks.trigger import Trigger
from ..errors import ConfigError
from ..settings import option, positive_int


EVIL_TWINS = ("trojannn", "trojannn-star", "imc")


@dataclass(frozen=True)
class EvilTwinsSettings:
    """TrojanNN / TrojanNN* / IMC hyperparameters (TrojanZoo's defaults)."""

    neurons: int = field(default=2, metadata=option("TrojanNN: neurons of the features Q to drive"))
    neuron_target: float = field(default=100.0, metadata=option("TrojanNN: their target activation"))
    neuron_steps: int = field(default=1000, metadata=option("TrojanNN: Adam steps generating the trigger"))
    neuron_lr: float = field(default=0.1, metadata=option("TrojanNN: their learning rate (cosine schedule)"))
    remask_lr: float = field(default=0.1, metadata=option("TrojanNN*, IMC: Adam learning rate of the input step"))
    remask_epochs: int = field(default=1, metadata=option(
        "TrojanNN*, IMC: passes over the training data per input step"))
    remask_batches: int | None = field(default=None, metadata=option(
        "TrojanNN*, IMC: at most this many batches per pass", parse=positive_int, default_text="all"))
    opacity: float = field(default=1.0, metadata=option("mask value inside the square (TrojanZoo: 1 - mark_alpha)",
                                                        flag="--trigger-opacity"))
    # TrojanNN*'s perturbation of triggered inputs at attack time (targeted Madry PGD): a small
    # budget, 8/255 in L∞ (the common CIFAR-10 budget), so that the perturbation alone rarely suffices
    perturbation_eps: float = field(default=8 / 255, metadata=option(
        "TrojanNN*: L∞ budget of the attack-time perturbation of triggered inputs towards the target",
        default_text="8/255 = 0.0314"))
    perturbation_steps: int = field(default=10, metadata=option("TrojanNN*: its PGD steps, of eps/4"))

    def perturbation(self) -> Attack:
        """TrojanNN*'s attack-time perturbation: Madry PGD in L∞ (whatever the run's norm), step ε/4;
        targeted by the caller."""
        return madry(Budget(self.perturbation_eps, self.perturbation_eps / 4, self.perturbation_steps, "linf"))

    def validate(self) -> "EvilTwinsSettings":
        for name in ("neurons", "neuron_steps", "remask_epochs", "perturbation_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name != "neurons" else 1):
                raise ConfigError(f"Evil Twins setting {name} must be an integer >= {1 if name == 'neurons' else 0}, "
                                  f"got {v!r}")
        for name in ("neuron_target", "neuron_lr", "remask_lr", "perturbation_eps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v == v or v <= 0 or v == float("inf"):
                raise ConfigError(f"Evil Twins setting {name} must be a finite number > 0, got {v!r}")
        if not isinstance(self.opacity, (int, float)) or not 0 < self.opacity <= 1:
            raise ConfigError(f"Evil Twins setting opacity must lie in (0, 1], got {self.opacity!r}")
        if self.remask_batches is not None and (not isinstance(self.remask_batches, int) or self.remask_batches < 1):
            raise ConfigError(f"Evil Twins setting remask_batches must be a positive integer, got {self.remask_batches!r}")
        return self


def last_linear(model: nn.Module) -> nn.Linear:
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ConfigError(f"TrojanNN needs a model whose last layer is nn.Linear; {type(model).__name__} has none")
    return layers[-1]


def top_neurons(model: nn.Module, k: int) -> torch.Tensor:
    """The ``k`` units of the features Q most connected to the last layer (Σ over outputs of |W|)."""
    w = last_linear(model).weight.detach().abs()
    if k > w.shape[1]:
        raise ConfigError(f"TrojanNN: {k} neurons asked for, the features Q have {w.shape[1]}")
    return w.sum(0).argsort(descending=True)[:k]


def features_q(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The input of the last linear layer for the batch ``x`` (the layer TrojanNN works on)."""
    seen = {}
    handle = last_linear(model).register_forward_pre_hook(lambda m, args: seen.__setitem__("q", args[0]))
    try:
        model(x)
    finally:
        handle.remove()
    return seen["q"]


def _pattern(a: torch.Tensor) -> torch.Tensor:
    return (torch.tanh(a) + 1) / 2


def _atanh(pattern: torch.Tensor) -> torch.Tensor:
    return torch.atanh(pattern.clamp(0, 1).mul(2).sub(1).mul(0.999))


def neuron_trigger(model: nn.Module, trigger: Trigger, neurons: torch.Tensor, s: EvilTwinsSettings,
                   generator: torch.Generator) -> Trigger:
    """TrojanNN's trigger generation: the pattern inside the mask that drives ``neurons`` to
    ``s.neuron_target`` on a zero background."""
    device = trigger.mask.device
    a = torch.randn(trigger.pattern.shape, generator=generator).to(device).requires_grad_(True)
    opt = torch.optim.Adam([a], lr=s.neuron_lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, s.neuron_steps))
    background = torch.zeros(1, *trigger.pattern.shape, device=device)
    with frozen(model):
        for _ in range(s.neuron_steps):
            stamped = Trigger(trigger.mask, _pattern(a)).stamp(background)
            q = features_q(model, stamped)[:, neurons].abs()
            loss = F.mse_loss(q, torch.full_like(q, s.neuron_target), reduction="sum")
            opt.zero_grad(set_to_none=True)
            loss.backward(inputs=[a])
            opt.step()
            sched.step()
    return Trigger(trigger.mask, _pattern(a.detach()))


def refine_trigger(model: nn.Module, trigger: Trigger, data, target: int, s: EvilTwinsSettings, batch_size: int,
                   generator: torch.Generator, device) -> Trigger:
    """IMC's input step: the pattern as a targeted universal adversarial perturbation inside the
    mask (Adam on its tanh parametrisation, one step per batch, mean cross-entropy towards
    ``target`` over the batch), the model frozen."""
    a = _atanh(trigger.pattern.detach()).requires_grad_(True)
    opt = torch.optim.Adam([a], lr=s.remask_lr)
    with frozen(model):
        for _ in range(s.remask_epochs):
            for i, (x, _) in enumerate(data.batches(batch_size, shuffle=True, generator=generator, device=device)):
                if s.remask_batches is not None and i >= s.remask_batches:
                    break
                logits = model(Trigger(trigger.mask, _pattern(a)).stamp(x))
                loss = F.cross_entropy(logits.float(), torch.full((len(x),), target, device=logits.device))
                opt.zero_grad(set_to_none=True)
                loss.backward(inputs=[a])
                opt.step()
    return Trigger(trigger.mask, _pattern(a.detach()))


class TriggerSchedule:
    """The trigger side of an Evil Twins objective, called by the training loop before each epoch.

    ``neuron_init``: start from TrojanNN's neuron trigger (else a random pattern); ``refine``:
    optimise the pattern as a universal perturbation ``"once"`` before the first epoch, before
    ``"every"`` epoch (IMC), ``"between"`` poisoning epochs (before every epoch but the first,
    TrojanNN*), or never (``None``, TrojanNN)."""

    def __init__(self, neuron_init: bool, refine: str | None):
        if refine not in (None, "once", "every", "between"):
            raise ValueError(f"refine must be None, 'once', 'every' or 'between', got {refine!r}")
        self.neuron_init, self.refine = neuron_init, refine

    def __call__(self, model, data, trigger: Trigger, config, epoch: int, device) -> Trigger:
        s = EvilTwinsSettings(**(config.evil_twins or {})).validate()
        gen = torch.Generator().manual_seed(config.seed * 7919 + epoch)
        if epoch == 0:
            mask = trigger.mask * s.opacity
            if self.neuron_init:
                trigger = neuron_trigger(model, Trigger(mask, trigger.pattern), top_neurons(model, s.neurons), s, gen)
            else:
                trigger = Trigger(mask, torch.rand(trigger.pattern.shape, generator=gen).to(mask.device))
        if self.refine == "every" or (self.refine == "once" and epoch == 0) or (self.refine == "between" and epoch > 0):
            trigger = refine_trigger(model, trigger, data, config.target, s, config.batch_size, gen, device)
        return trigger
