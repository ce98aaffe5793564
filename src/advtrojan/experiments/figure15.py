"""Evil Twins Figure 15's analogue: STRIP and E-STRIP against TrojanNN* as its trigger grows, beside
the same curves for AdvTrojan (a stage of ``advtrojan matrix``).

Pang et al. (CCS 2020, Figure 15) plot the F1 score of basic and ensemble STRIP against TrojanNN*
for growing trigger sizes: a larger trigger dominates the blends, so STRIP catches it more easily,
and E-STRIP (the reserved inputs stamped with the Neural-Cleanse-recovered trigger) is their answer
to small, optimised triggers. The AdvTrojan paper's claim (Section 5.2, Table 4) is that E-STRIP,
built for that family, still misses AdvTrojan examples. Here, for each trigger size (the
dataset's default size times the preset's ``figure15_scales``), TrojanNN* is retrained from the
matrix's Vanilla model and an ATIM trained from scratch with that trigger, and both are scanned with
STRIP and E-STRIP. The default size reuses the matrix's own rows. F1 as Evil Twins plots it
(:func:`advtrojan.defenses.strip.f1_score`), at each FPR of the tables, with Gao et al.'s
normal-fit threshold and with the empirical quantile (``f1_quantile``), and the ROC AUC.
"""

from __future__ import annotations

from pathlib import Path

from .. import plots
from ..results import Figure15, Figure15Curves

ATTACKS = ("trojannn-star", "advtrojan")
DEFENSES = ("strip", "e_strip")


def sizes_for(default: int, scales, image_size: int) -> list[int]:
    """The trigger sides of the sweep: ``default`` times each scale, rounded, within the image."""
    return sorted({min(image_size, max(1, round(default * s))) for s in scales})


def collect(by_size: dict, sizes: list[int], default: int) -> Figure15:
    """Figure 15's curves from the matrix rows of each attack at each size (``by_size[attack][size]``):
    per attack, lists aligned with ``sizes`` of its success rate, clean accuracy and each defense's
    F1 and FNR per FPR (threshold from the normal fit and from the empirical quantile) and ROC AUC."""
    out = {}
    for a in ATTACKS:
        per = [by_size[a][s] for s in sizes]
        out[a] = Figure15Curves(
            attack_success_rate=[r.attack_success_rate for r in per], clean_accuracy=[r.clean_accuracy for r in per],
            defenses={d: {key: [getattr(r.scan[d].data, key, None) for r in per]  # None: no verdict (at chance)
                          for key in ("f1", "fnr", "f1_quantile", "roc_auc")} for d in DEFENSES})
    return Figure15(sizes=sizes, default_size=default, attacks=out)


def plot(fig15: Figure15, root: Path) -> list[str]:
    return plots.figure15(fig15, root / "figures" / "figure15",
                          "Evil Twins Figure 15 analogue: STRIP and E-STRIP F1 vs trigger size")
