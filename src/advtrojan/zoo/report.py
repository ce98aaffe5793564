"""``population.html``: a population's detection statistics as tables and ROC curves."""

from __future__ import annotations

import html
from pathlib import Path

from ..utils.io import atomic_path
from .population import Detection, Population


def _f(v, fmt="{:.3f}") -> str:
    return "–" if v is None or v != v else fmt.format(v)


def _det(d: Detection | None) -> list[str]:
    if d is None:
        return ["–"] * 4
    return [_f(d.auc), f"[{_f(d.ci95[0])}, {_f(d.ci95[1])}]", _f(d.tpr_at_5fpr), f"{d.n_infected} / {d.n_clean}"]


def _table(header, rows) -> str:
    e = html.escape
    return ("<table><thead><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows)
            + "</tbody></table>")


def paper_tables(dataset: str) -> dict[str, float]:
    """The paper's Tables 2-4 on ``dataset`` under the population's statistic names."""
    from ..paper import TABLE2, TABLE3, TABLE4
    out = {}
    if dataset in TABLE2:
        out.update(table2_flagged=TABLE2[dataset]["flagged"], table2_fnr=TABLE2[dataset]["fnr"])
    for key, table in (("table3", TABLE3), ("table4", TABLE4)):
        for fpr, v in table.get(dataset, {}).items():
            out[f"{key}_fnr_{fpr}"] = v
    return out


def roc_figure(pop: Population, path: Path) -> list[str]:
    """ROC curves of every defense that scores models, infected against clean models (all splits)."""
    from sklearn.metrics import roc_curve

    from ..plots import plt, save
    fig, ax = plt.subplots(figsize=(5, 4))
    for name in pop.defenses:
        rs = [r for r in pop.models if not r.at_chance and r.scores.get(name) is not None]
        if len({r.infected for r in rs}) < 2:
            continue
        f, t, _ = roc_curve([r.infected for r in rs], [r.scores[name] for r in rs])
        ax.plot(f, t, label=f"{name} (AUC {pop.defenses[name].model_level.auc:.2f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("false-positive rate (clean models flagged)")
    ax.set_ylabel("true-positive rate (infected models flagged)")
    ax.set_title("Model-level detection over the population", fontsize=10)
    ax.legend(fontsize=7)
    return save(fig, path)


def write_report(pop: Population, out: Path) -> Path:
    import base64
    figs = roc_figure(pop, out / "figures" / "population_roc")
    img = base64.b64encode(Path(figs[0]).read_bytes()).decode() if figs else ""
    parts = [f"<h1>Population of {pop.n_models} models on {html.escape(pop.dataset)}</h1>",
             f"<p>{pop.n_at_chance} at chance (no verdict, left out of every statistic). Model-level: ROC AUC of "
             f"infected against clean models on each defense's model score, bootstrap 95% interval, TPR at 5% FPR. "
             f"Input-level: each model's ROC AUC of attacked against clean inputs; median and interquartile range "
             f"over models.</p>"]
    if img:
        parts.append(f'<img src="data:image/png;base64,{img}" alt="ROC curves of model-level detection">')
    for title, defenses in (("Whole population", pop.defenses),
                            *((f"Split: {s} ({v.n_models} models)", v.defenses) for s, v in pop.splits.items())):
        rows = [[d, *_det(s.model_level), _f(s.input_level.median_auc) if s.input_level else "–",
                 f"[{_f(s.input_level.iqr[0])}, {_f(s.input_level.iqr[1])}]" if s.input_level else "–"]
                for d, s in defenses.items()]
        parts.append(f"<h2>{html.escape(title)}</h2>" + _table(
            ["defense", "model AUC", "95% interval", "TPR @ 5% FPR", "infected / clean", "input median AUC",
             "input IQR"], rows))
        per_kind = [[d, k, *_det(det)] for d, s in defenses.items() for k, det in s.model_level_by_kind.items()]
        if per_kind:
            parts.append("<h3>Per kind (against the clean models)</h3>" + _table(
                ["defense", "kind", "model AUC", "95% interval", "TPR @ 5% FPR", "infected / clean"], per_kind))
    rows = [[f"{row} accuracy", *_det(d)] for row, d in pop.naive.items()]
    if rows:
        parts.append("<h2>Confound check: each model's own accuracy as its score</h2><p>Far from 0.5 either way, "
                     "infected and clean models differ in what anyone measures without a detector; read the "
                     "detectors' AUCs beside these.</p>"
                     + _table(["score", "model AUC", "95% interval", "TPR @ 5% FPR", "infected / clean"], rows))
    rows = [[d, _f(t.threshold, "{:.4g}"), _f(t.tpr), _f(t.fpr), f"{t.n_infected} / {t.n_clean}", t.n_dev_clean]
            for d, t in pop.heldout_at_dev_threshold.items()]
    if rows:
        parts.append("<h2>Held-out split at the development split's threshold</h2><p>Each threshold flags at most "
                     "5% of the development split's clean models; applied unchanged to the held-out split.</p>"
                     + _table(["defense", "threshold", "held-out TPR", "held-out FPR", "infected / clean",
                               "development clean models"], rows))
    from ..paper import PAPER_TABLE5
    paper5 = PAPER_TABLE5.get(pop.dataset, {})
    rows = [[k, row, f"{_f(100 * v[0], '{:.2f}')} ± {_f(100 * v[1], '{:.2f}')}%", v[2],
             f"{100 * paper5[row]:.2f}%" if row in paper5 else "–"]
            for k, t in pop.table5.items() for row, v in t.items()]
    parts.append("<h2>Table 5's rows, mean ± sd over models</h2><p>The paper's column is its ATIM's (Table 5); "
                 "compare it with the ATIM kinds.</p>"
                 + _table(["kind", "row", "accuracy", "n", "paper (ATIM)"], rows))
    paper = paper_tables(pop.dataset)
    rows = [[k, name, f"{_f(v[0])} ± {_f(v[1])}", v[2], _f(paper.get(name), "{:.2f}")]
            for k, t in pop.tables2_4.items() for name, v in t.items()]
    parts.append("<h2>Tables 2-4, mean ± sd over models</h2>"
                 + _table(["kind", "statistic", "value", "n", "paper (ATIM)"], rows))
    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>advtrojan population</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse;margin:.8em 0}td,th{border:1px solid #bbb;padding:.2em .6em}</style>"
            "</head><body>" + "".join(parts) + "</body></html>\n")
    with atomic_path(out / "population.html") as tmp:
        tmp.write_text(page)
    return out / "population.html"
