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

ATTACKS = ("trojannn-star", "advtrojan")
DEFENSES = ("strip", "e_strip")


def sizes_for(default: int, scales, image_size: int) -> list[int]:
    """The trigger sides of the sweep: ``default`` times each scale, rounded, within the image."""
    return sorted({min(image_size, max(1, round(default * s))) for s in scales})


def stage_names(sizes: list[int], default: int) -> list[str]:
    extra = [s for s in sizes if s != default]
    return ([f"train_{a}_s{s}" for s in extra for a in ATTACKS]
            + [f"fig15_{a}_s{s}" for s in extra for a in ATTACKS])


def figure15(st, rows: list[dict], sizes: list[int], default: int, train, scan, root: Path) -> dict:
    """Run the sweep's stages (``train(name, objective, trigger_size)`` and ``scan(name, objective)``
    return stage functions) and return ``{"sizes", "default_size", "attacks": {attack: {...}}}``
    with, per attack, lists aligned with ``sizes``: success rate, clean accuracy and each defense's
    F1 and FNR per FPR."""
    extra = [s for s in sizes if s != default]
    for s in extra:
        for a in ATTACKS:
            st.run(f"train_{a}_s{s}", train(f"{a}_s{s}", a, s))
    by_size = {a: {default: next(r for r in rows if r["attack"] == a)} for a in ATTACKS}
    for s in extra:
        for a in ATTACKS:
            by_size[a][s] = st.run(f"fig15_{a}_s{s}", scan(f"{a}_s{s}", a))
    out = {"sizes": sizes, "default_size": default, "attacks": {}}
    for a in ATTACKS:
        per = [by_size[a][s] for s in sizes]
        out["attacks"][a] = {
            "attack_success_rate": [r["attack_success_rate"] for r in per],
            "clean_accuracy": [r["clean_accuracy"] for r in per],
            **{d: {"f1": [r["defenses"][d]["f1"] for r in per], "fnr": [r["defenses"][d]["fnr"] for r in per],
                   "f1_quantile": [r["defenses"][d].get("f1_quantile") for r in per],
                   "roc_auc": [r["defenses"][d]["roc_auc"] for r in per]} for d in DEFENSES}}
    out["figures"] = plots.figure15(out, root / "figures" / "figure15",
                                    "Evil Twins Figure 15 analogue: STRIP and E-STRIP F1 vs trigger size")
    return out
