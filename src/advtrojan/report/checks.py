"""Compare results.json with the paper: numeric gaps beyond the tolerance, and the qualitative
claims of each figure checked on our numbers."""

from __future__ import annotations

from ..results import BudgetSweep, ReproduceResult
from . import views


def numeric_rows(res: ReproduceResult) -> list[dict]:
    """(table, row, ours, paper, differs) for every number the paper publishes for this dataset."""
    paper, tol = res.paper, res.paper.tolerance
    rows = []

    def add(table, row, ours, ref, exact=False):
        if ref is None or ours is None:
            return
        differs = (ours != ref) if exact else abs(ours - ref) > tol
        rows.append({"table": table, "row": row, "ours": ours, "paper": ref, "differs": bool(differs),
                     "kind": "count" if exact else "rate"})

    t5 = views.table5(res)
    for key, ref in (paper.table5 or {}).items():
        add("Table 5", key, t5.get(key), ref)
    t2 = views.table2(res)
    if paper.table2 and t2 is not None:
        add("Table 2", "flagged classes", t2["flagged"], paper.table2["flagged"], exact=True)
        add("Table 2", "FNR", t2["fnr"], paper.table2["fnr"])
    for name, defense, ref_table in (("Table 3", "strip", paper.table3), ("Table 4", "e_strip", paper.table4)):
        ours = views.strip_table(res, defense) or {}
        for fpr, ref in (ref_table or {}).items():
            add(name, f"FNR at FPR {fpr}", ours.get(fpr), ref)
    return rows


def claims(res: ReproduceResult) -> dict[str, dict]:
    """Each figure's claim from the paper, and whether our numbers show it (None: not judged, the
    model it is about is at chance or its defense gave no verdict)."""
    tol = res.paper.tolerance
    text = res.paper.claims
    f4, f8 = views.figure4(res), views.figure8(res)
    f5 = views.figure5(res)
    f6, f7, f9 = res.figure6, res.figure7, res.figure9
    main = res.main

    def dist(name):  # Figure 6 on the features Q of Eq. 17, where the trigger is not diluted
        return f6[name].layers["dense"].cosine_mean

    atim_d, others = dist(main), [dist(n) for n in ("vanilla", "madry")]
    out = {
        "figure4": f4["vanilla"]["madry"] < 0.1 and abs(f4["madry"]["benign"] - f4[main]["benign"]) <= tol
        and abs(f4["madry"]["madry"] - f4[main]["madry"]) <= tol,
        "figure5": None if f5 is None else len(f5["flagged_classes"]) == 0,
        "figure6": atim_d[-1] > 2 * max(o[-1] for o in others) and atim_d[-1] > atim_d[1],
        "figure7": f7.advtrojan[-1] < 0.5 * f7.madry[-1],
        "figure8": f8["advtrojan"][-1] < 0.5 * f8["madry"][-1],
    }
    parts = {"figure9": figure9_parts(f9, tol)}
    out["figure9"] = all(parts["figure9"].values())
    if views.at_chance(res):  # no claim is judged on a model that learned nothing
        out = {k: None for k in out}
    return {k: {"claim": text[k], "holds": None if v is None else bool(v),
                **({"parts": parts[k]} if k in parts else {})} for k, v in out.items()}


def figure9_parts(f9: BudgetSweep, tol: float) -> dict[str, bool]:
    """Figure 9's claim, part by part, on the ε sweep (ε = 0 is the trigger alone, left out):
    AdvTrojan examples below the same attack without the trigger at every ε > 0, by more than the
    tolerance at the full budget; BIM and Madry within the tolerance of each other on AdvTrojan
    examples; FGSM's AdvTrojan curve U-shaped (its lowest point inside the sweep, the full budget
    above it by more than half the tolerance)."""
    m = f9.methods
    below = all(t <= c for v in m.values() for c, t in list(zip(v.without_trigger, v.advtrojan))[1:])
    gap = all(v.advtrojan[-1] < v.without_trigger[-1] - tol for v in m.values())
    parts = {"below at every size": below, "far below at the full budget": gap}
    if "bim" in m and "madry" in m:
        parts["BIM and Madry agree"] = max(abs(a - b) for a, b in zip(m["bim"].advtrojan, m["madry"].advtrojan)) <= tol
    if "fgsm" in m:
        curve = m["fgsm"].advtrojan[1:]
        low = min(range(len(curve)), key=curve.__getitem__)
        parts["FGSM U-shaped"] = 0 < low < len(curve) - 1 and curve[-1] > curve[low] + tol / 2
    return parts
