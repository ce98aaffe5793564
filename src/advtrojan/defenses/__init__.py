"""Defenses the AdvTrojan paper evaluates: Neural Cleanse (Table 2), STRIP (Table 3), E-STRIP
(Table 4), adaptive Neural Cleanse (Eq. 11, Figure 5) and certified accuracy (Eq. 10), each registered
as a defense (:mod:`advtrojan.defenses.registry`), the same way a user's defense is."""

from .adaptive import AdaptiveNCSettings, adaptive_neural_cleanse
from .anomaly import anomaly_index, flagged
from .certify import certified_accuracy, certify, clopper_pearson, cohen_radius, renyi_radius, smoothed
from .registry import DEFENSES, DefenseContext, DefenseResult, register_defense, run_defense
from .neural_cleanse import NCResult, NCSettings, nc_false_negative_rate, neural_cleanse
from .strip import StripSettings, detection_report, roc_auc, strip, strip_entropy

__all__ = ["DEFENSES", "DefenseContext", "DefenseResult", "register_defense", "run_defense", "AdaptiveNCSettings", "adaptive_neural_cleanse", "anomaly_index", "flagged", "certified_accuracy",
           "certify", "clopper_pearson", "cohen_radius", "renyi_radius", "smoothed", "NCResult", "NCSettings",
           "nc_false_negative_rate", "neural_cleanse", "StripSettings", "detection_report", "roc_auc", "strip",
           "strip_entropy"]
