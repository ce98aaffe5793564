"""Attacks: FGSM / BIM / Madry PGD, the Trojan trigger, and the four kinds of threat input."""

from .norms import NORMS, L2, Linf
from .pgd import METHODS, Attack, bim, fgsm, frozen, madry, make_attack, perturb
from .threats import Threat, craft
from .trigger import Trigger

__all__ = ["NORMS", "L2", "Linf", "METHODS", "Attack", "bim", "fgsm", "frozen", "madry",
           "make_attack", "perturb", "Threat", "craft", "Trigger"]
