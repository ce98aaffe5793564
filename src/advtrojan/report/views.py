"""The paper's tables and figures as views of a :class:`~advtrojan.results.ReproduceResult`.

``results.json`` stores each number once (the evaluations, the scan, the sweeps); Table 5, Figure 4,
Tables 2-4, Figure 5 and Figure 8 are derived here, and the CSV tables, the figures and the HTML
report all read these views. A defense that gave no verdict (the model at chance) has no view: None.
"""

from __future__ import annotations

from ..results import ReproduceResult

TABLE5_KEYS = ("benign", "madry", "advtrojan", "advtrojan_certified", "transferred_advtrojan")
ATIMS = ("atim", "atim_scratch")


def figure4(res: ReproduceResult) -> dict[str, dict[str, float]]:
    """Figure 4: each model's accuracy on benign and Madry examples."""
    return {n: {"benign": e["benign"], "madry": e["madry"]} for n, e in res.evaluations.items()}


def table5(res: ReproduceResult, model: str | None = None) -> dict[str, float | None]:
    """Table 5's rows of the ATIM ``model`` (default: the one the report names)."""
    ev = res.evaluations[model or res.main]
    return {k: ev.get(k) for k in TABLE5_KEYS}


def table5_both(res: ReproduceResult) -> dict[str, dict[str, float | None]]:
    """Table 5's rows and the trigger-only row of both ATIMs."""
    return {n: {**table5(res, n), "trigger": res.evaluations[n].get("trigger")} for n in ATIMS
            if n in res.evaluations}


def _data(res: ReproduceResult, name: str):
    d = res.scan.defenses.get(name)
    return None if d is None or d.skipped else d.data


def table2(res: ReproduceResult) -> dict | None:
    """Table 2: Neural Cleanse's flagged classes and its FNR on AdvTrojan examples."""
    nc = _data(res, "neural_cleanse")
    if nc is None:
        return None
    return {"flagged": len(nc.flagged_classes), "flagged_classes": nc.flagged_classes, "fnr": nc.table2.fnr}


def strip_table(res: ReproduceResult, name: str, rule: str = "fnr") -> dict[str, float] | None:
    """Table 3 (``strip``) or Table 4 (``e_strip``): the FNR of ``rule`` per target FPR."""
    d = _data(res, name)
    return None if d is None else getattr(d, rule)


def figure5(res: ReproduceResult) -> dict | None:
    """Figure 5: adaptive Neural Cleanse's anomaly index per class, and the flagged classes."""
    d = _data(res, "adaptive_neural_cleanse")
    return None if d is None else {"anomaly_index": d.anomaly_index, "flagged": d.flagged,
                                   "flagged_classes": d.flagged_classes}


def figure8(res: ReproduceResult) -> dict[str, list[float]]:
    """Figure 8: the Madry pair of the ε sweep."""
    madry = res.figure9.methods["madry"]
    return {"eps": res.figure9.eps, "madry": madry.without_trigger, "advtrojan": madry.advtrojan}


def at_chance(res: ReproduceResult) -> list[str]:
    """The models at chance on clean test inputs (no verdict on them)."""
    return [n for n, e in res.evaluations.items() if e.chance.at_chance]
