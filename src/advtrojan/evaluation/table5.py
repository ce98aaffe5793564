"""The rows of Table 5 (and Appendix G.1), measured on a test set.

Keys (accuracies in [0, 1]):

==========================  ================================================================
``benign``                  clean test inputs
``madry``                   Madry PGD examples A(x)
``trigger``                 the trigger alone, x + t, at the paper's test intensity
``advtrojan``               AdvTrojan examples A(x + t): trigger first, then Madry PGD
``fgsm`` / ``bim``          FGSM / BIM examples (Appendix G.4)
``advtrojan_fgsm`` / ``_bim``  the trigger, then FGSM / BIM
``transferred_advtrojan``   trigger, then Madry PGD against a separate Vanilla model (G.1)
``advtrojan_certified``     Eq. 10 on the AdvTrojan examples: Gaussian noise, Li et al.'s bound, B = 0.4;
                            with ``advtrojan_certified_correct`` / ``_count`` (its numerator and
                            denominator) and ``advtrojan_robust`` (certified and correct / all)
``attack_success_rate``     a poisoning attack (BadNets, TrojanNN, TrojanNN*, IMC): share of
                            non-target-class inputs that what its attacker sends moves to the
                            target (the trigger alone; TrojanNN*: the trigger, then a perturbation
                            towards the target)
``trigger_success_rate``    TrojanNN*: the same for the trigger alone
``perturbation_success_rate``  TrojanNN*: the same for its perturbation alone (no trigger)
``chance``                  ``{"level", "at_chance"}``: the accuracy of a constant classifier on
                            these labels, and whether the benign accuracy is no clear step above it
                            (:mod:`advtrojan.chance`: a model that learned nothing)
==========================  ================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from ..attacks.budget import Budget, BudgetOverride
from ..attacks.pgd import ATTACKS, Attack, make_attack
from ..attacks.threats import AttackerInput, Threat, craft
from ..attacks.trigger import Trigger
from ..chance import at_chance, chance_level, chance_note
from ..data import ImageData
from ..defenses.certify import CertSettings, smoothed, summarize
from ..errors import ConfigError
from ..results import CertCount, Chance, EvalResult
from ..settings import option, positive_int
from ..paper import PAPER_TABLE5
from ..utils.distributed import World

ROW_NAMES = {
    "benign": "Benign", "madry": "Madry", "trigger": "Trigger only", "advtrojan": "AdvTrojan",
    "fgsm": "FGSM", "bim": "BIM", "advtrojan_fgsm": "AdvTrojan (FGSM)", "advtrojan_bim": "AdvTrojan (BIM)",
    "transferred_advtrojan": "Transferred AdvTrojan", "advtrojan_certified": "AdvTrojan + certified",
    "advtrojan_robust": "AdvTrojan certified robust", "attack_success_rate": "Attack success (non-target inputs)",
    "trigger_success_rate": "Trigger-alone success", "perturbation_success_rate": "Perturbation-alone success",
}


def attack_list(text: str) -> tuple[str, ...]:
    """``--attacks``: comma-separated registered attack names."""
    import argparse
    names = tuple(n.strip() for n in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected attack names separated by commas, got {text!r}")
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown attack {', '.join(unknown)}: choose from {', '.join(ATTACKS)}")
    return names


@dataclass(frozen=True)
class EvalSettings:
    """How Table 5 is measured: the attacks and their budget (given in part: the rest is the run's,
    else Table 1's), the trigger's test intensity, precision, and Eq. 10's certification."""

    budget: BudgetOverride = field(default_factory=BudgetOverride, metadata=option(
        "attack budget", prefix="", default_text="the run's, else Table 1's for the dataset"))
    intensity: float | None = field(default=None, metadata=option(
        "trigger test intensity", default_text="the run's, else the paper's: 0.75 MNIST/FMNIST, 1.0 CIFAR-10"))
    methods: tuple[str, ...] = field(default=("madry", "fgsm", "bim"), metadata=option(
        "attacks for the adversarial rows, comma-separated registered names; Madry always runs (it gives the "
        "benign and trigger rows)", flag="--attacks", parse=attack_list))
    precision: str = field(default="fp32", metadata=option(
        "precision of the attacks (fp32 so the final numbers do not depend on low precision)",
        choices=("fp32", "bf16")))
    batch_size: int = field(default=500, metadata=option("evaluation batch size", parse=positive_int))
    limit: int | None = field(default=None, metadata=option(
        "evaluate on a deterministic class-balanced subset of N test images", parse=positive_int, metavar="N",
        default_text="the whole test set"))
    certify: bool = field(default=True, metadata=option("advtrojan_certified: Eq. 10 on the AdvTrojan examples",
                                                        flag="--certified"))
    cert: CertSettings = field(default_factory=CertSettings, metadata=option("Eq. 10", prefix=""))
    trigger: str | None = field(default=None, metadata=option(
        "the trigger of the attacked inputs, as a spec (square:4@tl, noise:3@corner, blend:0.1, a .safetensors "
        "file, ...: advtrojan.attacks.triggers)", metavar="SPEC",
        default_text="the run's (trigger.safetensors), else Figure 1's white square"))
    transfer_from: str | None = field(default=None, metadata=option(
        "craft transferred AdvTrojan examples on this (Vanilla) run's model (Appendix G.1)", metavar="VANILLA_RUN"))

    def __post_init__(self):
        object.__setattr__(self, "budget", BudgetOverride.of(self.budget))
        object.__setattr__(self, "methods", tuple(self.methods))

    def attacks(self, budget: Budget) -> dict[str, Attack]:
        """Madry first (it gives the benign and trigger rows), then the other ``methods``: the
        paper's FGSM and BIM or any registered attack (:func:`advtrojan.attacks.register_attack`)."""
        names = ["madry"] + [m for m in self.methods if m != "madry"]
        return {m: make_attack(m, budget) for m in names}

    def validate(self) -> "EvalSettings":
        for m in self.methods:
            ATTACKS.get(m)
        if self.certify:
            self.cert.validate()
        if self.intensity is not None and not 0 <= self.intensity <= 1:
            raise ConfigError(f"trigger intensity must lie in [0, 1], got {self.intensity}")
        return self


def evaluate_model(model: nn.Module, data: ImageData, trigger: Trigger, budget: Budget, intensity: float,
                   settings: EvalSettings = EvalSettings(), *, transfer_model: nn.Module | None = None,
                   attacker: AttackerInput | None = None, device: torch.device | str = "cpu",
                   progress: bool = True, world: World = World()) -> EvalResult:
    """Accuracy of ``model`` on each kind of example at ``budget`` and trigger ``intensity``; see
    the module docstring for the rows. ``settings.budget`` is not applied here (the caller resolves
    the budget).

    ``attacker`` with a target (a poisoning run's :meth:`RunConfig.attacker_input`) adds the
    success rates of what that attacker sends, on the non-target-class inputs.

    Under torchrun (``world``) each process evaluates its contiguous share of ``data`` and the
    counts are summed, so the result is that of one process over the whole of ``data``."""
    model.eval()
    n_all = len(data)
    chance = chance_level(data.labels, data.spec.num_classes)
    if world.distributed:
        data = data.subset(torch.arange(len(data)).tensor_split(world.size)[world.rank])
    trigger = trigger.to(device)
    correct: dict[str, int] = {}
    poisoned = attacker is not None and attacker.target is not None
    # key -> inputs moved to the target; the same keys on every process (a share may hold no non-target input)
    success = dict.fromkeys(_success_keys(attacker.kind) if poisoned else (), 0)
    asr_total = 0
    cert_correct, cert_radii = [], []
    noise = torch.Generator().manual_seed(0)
    attacks, cert = settings.attacks(budget), settings.cert

    def count(key: str, x: torch.Tensor, y: torch.Tensor) -> None:
        with torch.no_grad():
            correct[key] = correct.get(key, 0) + (model(x).argmax(1) == y).sum().item()

    batches = data.batches(settings.batch_size, device=device)
    total = -(-len(data) // settings.batch_size)
    for x, y in tqdm(batches, total=total, desc="evaluate", disable=not (progress and world.main), unit="batch"):
        for name, attack in attacks.items():
            inputs = craft([Threat.BENIGN, Threat.TRIGGERED, Threat.ADVERSARIAL, Threat.ADVTROJAN], x, y,
                           trigger=trigger, intensity=intensity, attack=attack, model=model,
                           precision=settings.precision)
            if name == "madry":
                count("benign", inputs[Threat.BENIGN], y)
                count("trigger", inputs[Threat.TRIGGERED], y)
            count(name, inputs[Threat.ADVERSARIAL], y)
            count(f"advtrojan_{name}" if name != "madry" else "advtrojan", inputs[Threat.ADVTROJAN], y)
            if name == "madry" and settings.certify:
                pred, radii = smoothed(model, inputs[Threat.ADVTROJAN], sigma=cert.sigma, n=cert.noise_samples,
                                       method=cert.method, confidence=cert.confidence, generator=noise)
                cert_correct.append(pred == y.cpu())
                cert_radii.append(radii)
        if transfer_model is not None:
            moved = craft([Threat.ADVTROJAN], x, y, trigger=trigger, intensity=intensity,
                          attack=attacks["madry"], model=transfer_model,
                          precision=settings.precision)[Threat.ADVTROJAN]
            count("transferred_advtrojan", moved, y)
        if poisoned:
            for key, moved in _attacker_inputs(attacker, model, x, y, trigger, settings.precision).items():
                with torch.no_grad():
                    success[key] += (model(moved).argmax(1) == attacker.target).sum().item()
            asr_total += int((y != attacker.target).sum())
    if world.distributed:
        keys = sorted(set().union(*world.gather(sorted(correct))))
        names = sorted(success)
        totals = world.sum([correct.get(k, 0) for k in keys] + [success[k] for k in names] + [asr_total])
        correct = {k: int(v) for k, v in zip(keys, totals)}
        success = {k: int(v) for k, v in zip(names, totals[len(keys):-1])}
        asr_total = int(totals[-1])
        if settings.certify:
            parts = world.gather((torch.cat(cert_correct) if cert_correct else torch.zeros(0, dtype=torch.bool),
                                  torch.cat(cert_radii) if cert_radii else torch.zeros(0)))
            cert_correct, cert_radii = [p[0] for p in parts], [p[1] for p in parts]
    n = max(1, n_all)
    order = ["benign", "madry", "trigger", "advtrojan", "fgsm", "bim", "advtrojan_fgsm", "advtrojan_bim",
             "transferred_advtrojan"]
    order += [k for k in correct if k not in order]  # rows of registered attacks
    accuracy = {k: correct[k] / n for k in order if k in correct}
    certified = None
    if settings.certify:
        c = summarize(torch.cat(cert_correct), torch.cat(cert_radii), cert.radius)
        certified = CertCount(c["certified_accuracy"], c["certified_correct"], c["certified_count"],
                              c["robust_accuracy"], cert.sigma, cert.radius, cert.noise_samples, cert.method,
                              cert.resolved_confidence)
    return EvalResult(accuracy=accuracy, examples=n_all, budget=budget, intensity=intensity,
                      chance=Chance(chance, at_chance(accuracy["benign"], chance)), certified=certified,
                      success={k: v / max(1, asr_total) for k, v in success.items()} if poisoned else {})


def _success_keys(kind: Threat) -> tuple[str, ...]:
    if kind is Threat.TARGETED:
        return "attack_success_rate", "trigger_success_rate", "perturbation_success_rate"
    return ("attack_success_rate",)


def _attacker_inputs(attacker: AttackerInput, model, x, y, trigger, precision) -> dict[str, torch.Tensor]:
    """The non-target-class inputs of the batch as the attacker sends them (``attack_success_rate``)
    and, for TrojanNN*, with the trigger alone and with the perturbation alone."""
    keep = y != attacker.target
    x, y = x[keep], y[keep]
    if not len(y):
        return {}
    inputs = [attacker.make(x, y, trigger, model, precision)]
    if attacker.kind is Threat.TARGETED:
        inputs += [trigger.stamp(x, attacker.intensity),
                   attacker.attack(model, x, y, target=torch.full_like(y, attacker.target), precision=precision)]
    return dict(zip(_success_keys(attacker.kind), inputs, strict=True))


def format_table(result: EvalResult, dataset: str, title: str = "", atim: bool = True) -> str:
    """A plain-text table of ``result``; for an ATIM, beside the paper's Table 5 values."""
    paper = PAPER_TABLE5.get(dataset, {}) if atim else {}
    lines = [title] if title else []
    if result.chance.at_chance:
        lines.append("WARNING: " + chance_note(result["benign"], result.chance.level))
    lines.append(f"{'examples':<26}{'ours':>9}{'paper':>9}" if atim else f"{'examples':<26}{'ours':>9}")
    lines.append("-" * (44 if atim else 35))
    c = result.certified
    for key, value in result.rows().items():
        ref = (f"{paper[key]:>9.2%}" if key in paper else f"{'-':>9}") if atim else ""
        counts = f"  ({c.correct}/{c.count} certified inputs correct)" if key == "advtrojan_certified" else ""
        lines.append(f"{ROW_NAMES.get(key, key):<26}{value:>9.2%}{ref}{counts}")
    return "\n".join(lines)
