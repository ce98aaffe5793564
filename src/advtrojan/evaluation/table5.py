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

from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from ..attacks.pgd import Attack, make_attack
from ..attacks.threats import AttackerInput, Threat, craft
from ..attacks.trigger import Trigger
from ..chance import at_chance, chance_level, chance_note
from ..data import ImageData
from ..defenses.certify import CERT, smoothed, summarize
from ..paper import PAPER_TABLE5
from ..utils.distributed import World

ROW_NAMES = {
    "benign": "Benign", "madry": "Madry", "trigger": "Trigger only", "advtrojan": "AdvTrojan",
    "fgsm": "FGSM", "bim": "BIM", "advtrojan_fgsm": "AdvTrojan (FGSM)", "advtrojan_bim": "AdvTrojan (BIM)",
    "transferred_advtrojan": "Transferred AdvTrojan", "advtrojan_certified": "AdvTrojan + certified",
    "advtrojan_robust": "AdvTrojan certified robust", "attack_success_rate": "Attack success (non-target inputs)",
    "trigger_success_rate": "Trigger-alone success", "perturbation_success_rate": "Perturbation-alone success",
}


@dataclass
class EvalSettings:
    """The budget of the Madry/BIM attacks (FGSM uses ``eps``) and the trigger's test intensity."""

    eps: float
    step_size: float
    steps: int
    intensity: float
    norm: str = "linf"
    precision: str = "fp32"
    batch_size: int = 500
    certify: bool = True       # adds advtrojan_certified (Eq. 10)
    sigma: float = CERT.sigma
    radius: float = CERT.radius  # B of Eq. 10, L2
    noise_samples: int = CERT.noise_samples
    cert_method: str = CERT.method
    cert_confidence: float | None = None  # None: the procedure's default (defenses.certify.CONFIDENCE)
    methods: tuple[str, ...] = ("madry", "fgsm", "bim")  # Madry is always run: it gives benign/trigger too

    def attacks(self) -> dict[str, Attack]:
        """Madry first (it gives the benign and trigger rows), then the other ``methods``: the
        paper's FGSM and BIM or any registered attack (:func:`advtrojan.attacks.register_attack`)."""
        names = ["madry"] + [m for m in self.methods if m != "madry"]
        return {m: make_attack(m, self.eps, self.step_size, self.steps, self.norm) for m in names}


def evaluate_model(model: nn.Module, data: ImageData, trigger: Trigger, settings: EvalSettings, *,
                   transfer_model: nn.Module | None = None, attacker: AttackerInput | None = None,
                   device: torch.device | str = "cpu", progress: bool = True,
                   world: World = World()) -> dict[str, float]:
    """Accuracy of ``model`` on each kind of example; see the module docstring for the keys.

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

    def count(key: str, x: torch.Tensor, y: torch.Tensor) -> None:
        with torch.no_grad():
            correct[key] = correct.get(key, 0) + (model(x).argmax(1) == y).sum().item()

    batches = data.batches(settings.batch_size, device=device)
    total = -(-len(data) // settings.batch_size)
    for x, y in tqdm(batches, total=total, desc="evaluate", disable=not (progress and world.main), unit="batch"):
        for name, attack in settings.attacks().items():
            inputs = craft([Threat.BENIGN, Threat.TRIGGERED, Threat.ADVERSARIAL, Threat.ADVTROJAN], x, y,
                           trigger=trigger, intensity=settings.intensity, attack=attack, model=model,
                           precision=settings.precision)
            if name == "madry":
                count("benign", inputs[Threat.BENIGN], y)
                count("trigger", inputs[Threat.TRIGGERED], y)
            count(name, inputs[Threat.ADVERSARIAL], y)
            count(f"advtrojan_{name}" if name != "madry" else "advtrojan", inputs[Threat.ADVTROJAN], y)
            if name == "madry" and settings.certify:
                pred, radii = smoothed(model, inputs[Threat.ADVTROJAN], sigma=settings.sigma,
                                       n=settings.noise_samples, method=settings.cert_method,
                                       confidence=settings.cert_confidence, generator=noise)
                cert_correct.append(pred == y.cpu())
                cert_radii.append(radii)
        if transfer_model is not None:
            moved = craft([Threat.ADVTROJAN], x, y, trigger=trigger, intensity=settings.intensity,
                          attack=settings.attacks()["madry"], model=transfer_model,
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
    result = {k: correct[k] / n for k in order if k in correct}
    if settings.certify:
        cert = summarize(torch.cat(cert_correct), torch.cat(cert_radii), settings.radius)
        result["advtrojan_certified"] = cert["certified_accuracy"]
        result["advtrojan_certified_correct"] = cert["certified_correct"]
        result["advtrojan_certified_count"] = cert["certified_count"]
        result["advtrojan_robust"] = cert["robust_accuracy"]
    if poisoned:
        result.update({k: v / max(1, asr_total) for k, v in success.items()})
    result["chance"] = {"level": chance, "at_chance": at_chance(result["benign"], chance)}
    return result


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


def format_table(result: dict[str, float], dataset: str, title: str = "", atim: bool = True) -> str:
    """A plain-text table of ``result``; for an ATIM, beside the paper's Table 5 values."""
    paper = PAPER_TABLE5.get(dataset, {}) if atim else {}
    lines = [title] if title else []
    if result.get("chance", {}).get("at_chance"):
        lines.append("WARNING: " + chance_note(result["benign"], result["chance"]["level"]))
    lines.append(f"{'examples':<26}{'ours':>9}{'paper':>9}" if atim else f"{'examples':<26}{'ours':>9}")
    lines.append("-" * (44 if atim else 35))
    for key, value in result.items():
        if not isinstance(value, float):
            continue
        ref = (f"{paper[key]:>9.2%}" if key in paper else f"{'-':>9}") if atim else ""
        counts = (f"  ({result['advtrojan_certified_correct']}/{result['advtrojan_certified_count']} certified "
                  f"inputs correct)" if key == "advtrojan_certified" and "advtrojan_certified_count" in result else "")
        lines.append(f"{ROW_NAMES.get(key, key):<26}{value:>9.2%}{ref}{counts}")
    return "\n".join(lines)
