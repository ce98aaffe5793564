"""Attacks: the budget, FGSM / BIM / Madry PGD, the Trojan trigger, and the four kinds of threat input."""

from .budget import Budget
from .norms import NORMS, L2, Linf
from .pgd import ATTACKS, METHODS, Attack, bim, describe, fgsm, frozen, madry, make_attack, perturb, register_attack
from .threats import AttackerInput, Threat, craft
from .trigger import Trigger

__all__ = ["ATTACKS", "register_attack", "Budget", "NORMS", "L2", "Linf", "METHODS", "Attack", "bim", "describe",
           "fgsm", "frozen", "madry", "make_attack", "perturb", "AttackerInput", "Threat", "craft", "Trigger"]
