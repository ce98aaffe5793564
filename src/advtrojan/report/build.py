"""Build the report from ``results.json`` alone: figures (PNG + SVG), CSV tables and a
self-contained ``report.html`` (images embedded, no network needed to view it)."""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path

import jinja2

from .. import plots as F
from ..defenses.certify import best_radius
from ..presets import crafts
from ..training.attack import TrainingAttack
from ..results import CertRow, ReproduceResult, ScanResult, load_results, to_json
from ..utils.io import atomic_path, write_text
from . import views
from .checks import claims, numeric_rows

PAPER_DEFENSES = ("neural_cleanse", "strip", "e_strip", "adaptive_neural_cleanse")

TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("advtrojan.report", "templates"),
                               autoescape=True, keep_trailing_newline=True)
PROTOCOL = "docs/protocol.md"  # in the advtrojan repository: the paper's words, the open choices, ours
_PROTOCOL_SOURCE = Path(__file__).resolve().parents[3] / PROTOCOL  # a clone or an editable install


def copy_protocol(root: Path) -> str | None:
    """Copy the repository's protocol document beside the report (so its links work offline);
    the link's target, or None where the package runs without its repository (a wheel)."""
    if not _PROTOCOL_SOURCE.is_file():
        return None
    write_text(root / "protocol.md", _PROTOCOL_SOURCE.read_text(encoding="utf-8"))
    return "protocol.md"


def make_figures(res: ReproduceResult, fig_dir: Path) -> dict[str, list[str]]:
    """Every figure of the report, from the views of ``res`` (a defense without a verdict: none)."""
    meta = res.meta
    ds, classes = meta.dataset_title, meta.classes
    f7, f8, f9 = res.figure7, views.figure8(res), res.figure9
    figs = {
        "figure4": F.figure4(views.figure4(res), fig_dir / "figure4", f"Figure 4 ({ds}): benign vs Madry accuracy"),
        "figure7": F.madry_vs_advtrojan(f7.iterations, f7.madry, f7.advtrojan, fig_dir / "figure7",
                                        f"Figure 7 ({ds}): PGD iterations", "number of PGD iterations", log=True),
        "figure8": F.madry_vs_advtrojan(f8["eps"], f8["madry"], f8["advtrojan"], fig_dir / "figure8",
                                        f"Figure 8 ({ds}): perturbation size", f"perturbation size ε ({f9.budget.norm})"),
        "figure9": F.figure9(f9.eps, f9.methods, fig_dir / "figure9",
                             f"Figure 9 ({ds}): FGSM vs BIM vs Madry by perturbation size", f9.budget.norm),
        "figure6": F.figure6(res.figure6, fig_dir / "figure6",
                             f"Figure 6 ({ds}): convolutional features by trigger intensity"),
        "figure6_dense": F.figure6(res.figure6, fig_dir / "figure6_dense",
                                   f"Figure 6 ({ds}): features Q (input of the last layer) by trigger intensity",
                                   layer="dense"),
        "certification": F.certification_figure(res.certification, fig_dir / "certification",
                                                f"Eq. 10 ({ds}): certified robust accuracy on AdvTrojan examples, "
                                                f"B = {res.certification.radius_B}"),
    }
    f5 = views.figure5(res)
    if f5 is not None:
        figs["figure5"] = F.anomaly_figure(f5["anomaly_index"], f5["flagged"], classes, fig_dir / "figure5",
                                           f"Figure 5 ({ds}): adaptive Neural Cleanse anomaly index")
    nc = views._data(res, "neural_cleanse")
    if nc is not None:
        figs["table2_anomaly"] = F.anomaly_figure(nc.anomaly_index, nc.flagged, classes,
                                                  fig_dir / "neural_cleanse_anomaly",
                                                  f"Neural Cleanse on the ATIM ({ds}): anomaly index")
        figs["table2_masks"] = F.masks_figure(nc.masks[:, None], nc.mask_l1, nc.anomaly_index, nc.flagged, classes,
                                              fig_dir / "neural_cleanse_masks",
                                              f"Neural Cleanse on the ATIM ({ds}): recovered masks")
    for name, key, title in (("strip", "table3_entropy", "STRIP"), ("e_strip", "table4_entropy", "E-STRIP")):
        r = views._data(res, name)
        if r is not None:
            figs[key] = F.entropy_histogram(r.entropy_clean.tolist(), r.entropy_attacked.tolist(),
                                            fig_dir / f"{name}_entropy", f"{title} on the ATIM ({ds})",
                                            "AdvTrojan examples", r.threshold)
    return figs


def write_csvs(res: ReproduceResult, table_dir: Path) -> list[str]:
    """The report's tables as CSV, from the same views as the HTML."""
    f7, f8, f9, cert = res.figure7, views.figure8(res), res.figure9, res.certification
    rows = {
        "figure4.csv": [["model", "benign", "madry"]] + [[m, v["benign"], v["madry"]]
                                                       for m, v in views.figure4(res).items()],
        "paper_comparison.csv": [["table", "row", "ours", "paper", "differs_beyond_tolerance"]]
        + [[r["table"], r["row"], r["ours"], r["paper"], r["differs"]] for r in numeric_rows(res)],
        "table5.csv": [["examples", "ours", "paper"]]
        + [[k, v, (res.paper.table5 or {}).get(k)] for k, v in views.table5(res).items()],
        "figure7.csv": [["iterations", "madry", "advtrojan"]] + [list(t) for t in zip(f7.iterations, f7.madry,
                                                                                          f7.advtrojan)],
        "figure8.csv": [["eps", "madry", "advtrojan"]] + [list(t) for t in zip(f8["eps"], f8["madry"], f8["advtrojan"])],
        "figure9.csv": [["method", "eps", "without_trigger", "advtrojan"]]
        + [[m, e, a, b] for m, v in f9.methods.items() for e, a, b in zip(f9.eps, v.without_trigger, v.advtrojan)],
        "figure6.csv": [["model", "layer", "intensity", "cosine_distance_mean", "cosine_distance_std"]]
        + [[m, layer, i, a, s] for m, v in res.figure6.items() for layer, d in v.layers.items()
           for i, a, s in zip(v.intensities, d.cosine_mean, d.cosine_std)],
        "certification.csv": [["model", "inputs", "sigma", "method", "confidence", "certified_correct",
                               "certified_count", "examples", "certified_accuracy", "robust_accuracy",
                               "interval_failures"]]
        + [[m, kind, r.sigma, r.method, r.confidence, r.certified_correct, r.certified_count, r.examples,
            r.certified_accuracy, r.robust_accuracy, r.interval_failures]
           for m, kinds in cert.models.items() for kind, rs in kinds.items() for r in rs],
    }
    nc, f5 = views._data(res, "neural_cleanse"), views.figure5(res)
    if nc is not None:
        rows["neural_cleanse.csv"] = [["class", "mask_l1", "attack_success", "anomaly_index", "flagged"]] + [
            list(t) for t in zip(res.meta.classes, nc.mask_l1, nc.attack_success, nc.anomaly_index, nc.flagged)]
    if f5 is not None:
        anc = views._data(res, "adaptive_neural_cleanse")
        rows["figure5.csv"] = [["class", "trigger_l2", "anomaly_index", "flagged"]] + [
            list(t) for t in zip(res.meta.classes, anc.trigger_l2, anc.anomaly_index, anc.flagged)]
    written = []
    for name, table in rows.items():
        buf = io.StringIO()
        csv.writer(buf).writerows(table)
        write_text(table_dir / name, buf.getvalue())
        written.append(str(table_dir / name))
    return written


def _img(png_path: str, alt: str) -> str:
    data = base64.b64encode(Path(png_path).read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.2f}%"


def _listing(mapping: dict, sep: str = " ") -> str:
    """``{"a": 1, "b": 2}`` as a person writes it: ``a 1, b 2``."""
    return ", ".join(f"{k}{sep}{v}" for k, v in mapping.items())


WITH_SECTIONS = PAPER_DEFENSES + ("certified",)  # the defenses with their own tables above


def defense_sections(scan: ScanResult, table, e) -> list[tuple[str, str]]:
    """Every defense's verdict in one table, then a section for each registered defense beyond the
    paper's five: its own template if it registered one (and is loaded), else ``defense.html.j2``."""
    rows = [[r.title or n, r.verdict, r.details, {True: "detected", False: "missed", None: "-"}[r.detected]]
            for n, r in scan.defenses.items()]
    out = [("Every defense at a glance", table(["defense", "verdict", "details", "on the attacked inputs"], rows))] \
        if rows else []
    from ..defenses.registry import DEFENSES
    for n, r in scan.defenses.items():
        if n in WITH_SECTIONS or r.skipped:
            continue
        own = DEFENSES[n].template if n in DEFENSES else None
        template = TEMPLATES.from_string(own) if own else TEMPLATES.get_template("defense.html.j2")
        data = to_json(r.data) if r.data is not None else {}
        numbers = {k: v for k, v in (data.items() if isinstance(data, dict) else ())
                   if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
        out.append((f"{r.title or n} (registered defense {n})",
                    template.render(r={"title": r.title, "verdict": r.verdict, "details": r.details,
                                       "detected": r.detected, **(data if isinstance(data, dict) else {})},
                                    numbers=numbers, name=n)))
    return out


def _recipe(t: dict, budget) -> str:
    start = f"fine-tuned from the run {t['init'].rstrip('/').split('/')[-1]}" if t.get("init") else "from random weights"
    weight = f", benign weight {t['benign_weight']:g}" if t["objective"] == "madry" else ""
    warm = f", budget warm-up over the first {t['warmup']:.0%} of the steps" if t.get("warmup") else ""
    attack = ""
    if crafts(t["objective"]):  # recorded since the training attack became a setting; before, Table 1's PGD
        attack = f", training attack {TrainingAttack(**(t.get('train_attack') or {})).describe(budget)}"
    return (f"{t['objective']} {start}; {t['optimizer']} lr {t['lr']:g} ({t['schedule']}), {t['epochs']} epochs, "
            f"batch {t['batch_size']}, {t['precision']}{weight}{warm}{attack}")


NO_VERDICT = "<p class='bad'>No verdict: the ATIM is at chance on clean inputs (it learned nothing); see the banner above.</p>"


def table(header, body, cls="") -> str:
    """An HTML table; a row ending in True is marked as differing from the paper."""
    e = html.escape
    h = "".join(f"<th>{e(str(x))}</th>" for x in header)
    rows = "".join("<tr" + (' class="differs"' if r[-1] is True else "") + ">"
                   + "".join(f"<td>{x if isinstance(x, str) and x.startswith('<') else e(str(x))}</td>"
                             for x in (r[:-1] if isinstance(r[-1], bool) else r)) + "</tr>" for r in body)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{rows}</tbody></table>'


STRIP_HEADER = ["FPR target", "FNR (low entropy, Gao et al.)", "measured FPR", "FNR (high entropy)",
                "FNR (two-sided)", "measured FPR (two-sided)"]


class Page:
    """The report page of one ``results.json``: each section from the views of the results."""

    def __init__(self, res: ReproduceResult, figs: dict, protocol_href: str | None):
        self.res, self.figs = res, figs
        self.numeric, self.checks = numeric_rows(res), claims(res)
        self.doc = (f'<a href="{html.escape(protocol_href)}"><code>{PROTOCOL}</code></a>' if protocol_href
                    else f"<code>{PROTOCOL}</code>")
        self.label = F.MODEL_LABELS
        self.main = res.main

    def compare(self, tname) -> str:
        body = [[r["row"], r["ours"] if r["kind"] == "count" else _pct(r["ours"]),
                 r["paper"] if r["kind"] == "count" else _pct(r["paper"]),
                 "differs" if r["differs"] else "within tolerance", r["differs"]]
                for r in self.numeric if r["table"] == tname]
        return table(["row", "ours", "paper", f"|ours − paper| ≤ {100 * self.res.paper.tolerance:.0f} pts"], body)

    def claim(self, key) -> str:
        c, e = self.checks[key], html.escape
        if c["holds"] is None:
            return f'<p class="claim"><b>Paper:</b> {e(c["claim"])} <b>Ours: not judged (a model at chance).</b></p>'
        state = "holds" if c["holds"] else "does NOT hold"
        failed_parts = [k for k, ok in c.get("parts", {}).items() if not ok]
        if failed_parts:
            state += f" (not shown: {', '.join(failed_parts)})"
        return f'<p class="claim {"ok" if c["holds"] else "bad"}"><b>Paper:</b> {e(c["claim"])} <b>Ours: {state}.</b></p>'

    def img(self, key, alt) -> str:
        return _img(self.figs[key][0], alt) if key in self.figs else ""

    def summary(self) -> str:
        e, res, label, doc = html.escape, self.res, self.label, self.doc
        evals, chance = res.evaluations, views.at_chance(res)
        differs = [r for r in self.numeric if r["differs"]]
        failed = [k for k, c in self.checks.items() if c["holds"] is False]
        out = ""
        if chance:
            out += ("<p class='bad'><b>No verdict on a model that learned nothing:</b> "
                    + ", ".join(f"{e(label.get(n, n))} ({_pct(evals[n]['benign'])} on clean inputs, chance "
                                f"{_pct(evals[n].chance.level)})" for n in chance)
                    + " stayed at chance accuracy. Its numbers are shown but no claim is judged on them; see "
                      "the run's metrics.jsonl (stalled epochs) and " + doc + ", \"Training recipes\".</p>")
        out += ("<p class='bad'>Where ours differs from the paper by more than the tolerance: "
                + "; ".join(f"{e(r['table'])} {e(r['row'])}: ours {r['ours'] if r['kind'] == 'count' else _pct(r['ours'])}"
                            f" vs paper {r['paper'] if r['kind'] == 'count' else _pct(r['paper'])}" for r in differs)
                + f". Each is discussed in {doc} (the advtrojan repository), under the table's "
                  "name: what the paper leaves open, what we chose, and why the numbers may differ.</p>") \
            if differs else "<p class='ok'>Every published number is matched within the tolerance.</p>"
        if failed:
            out += "<p class='bad'>Claims our numbers do not show: " + ", ".join(failed) + f" (see {doc}).</p>"
        return out

    def figure4(self) -> str:
        chance, label = views.at_chance(self.res), self.label
        f4 = [[label.get(m, m) + (" (at chance)" if m in chance else ""), _pct(v["benign"]), _pct(v["madry"])]
              for m, v in views.figure4(self.res).items()]
        return table(["model", "benign", "Madry"], f4) + self.img("figure4", "Figure 4") + self.claim("figure4")

    def table5(self) -> str:
        res, label, main, e = self.res, self.label, self.main, html.escape
        both, evals = views.table5_both(res), res.evaluations

        def cell(n, k):
            c = evals[n].certified
            if k == "advtrojan_certified" and c is not None:
                return f"{_pct(both[n].get(k))} ({c.correct}/{c.count})"
            return _pct(both[n].get(k))

        t5 = [[k, *(cell(n, k) for n in both), _pct((res.paper.table5 or {}).get(k))]
              for k in list(views.TABLE5_KEYS) + ["trigger"]]
        c = evals[main].certified
        note = (f"<p>Table 5 reports the {e(label.get(main, main))}"
                + (f"; its certified accuracy is {c.correct} correct of {c.count} certified AdvTrojan examples"
                   if c is not None else "") + f" ({evals[main].examples} test images).</p>")
        full = [[k, _pct(v)] for k, v in evals[main].rows().items()]
        return (table(["examples", *(label.get(n, n) for n in both), "paper"], t5) + note + self.compare("Table 5")
                + "<details><summary>all evaluation rows</summary>" + table(["key", "ours"], full) + "</details>")

    def table2(self) -> str:
        t2, nc = views.table2(self.res), views._data(self.res, "neural_cleanse")
        if t2 is None:
            return NO_VERDICT
        classes = ", ".join(self.res.meta.classes[k] for k in t2["flagged_classes"]) or "none"
        return (self.compare("Table 2") + f"<p>Flagged classes: {html.escape(classes)}. FNR rule: "
                f"{html.escape(nc.table2.rule)}.</p>" + self.img("table2_anomaly", "Neural Cleanse anomaly index")
                + self.img("table2_masks", "recovered masks"))

    def strip(self, name, tname, key, alt) -> str:
        r, e = views._data(self.res, name), html.escape
        if r is None:
            return NO_VERDICT
        rows = [[k, _pct(r.fnr[k]), _pct(r.measured_fpr[k]), _pct(r.fnr_high[k]), _pct(r.fnr_two_sided[k]),
                 _pct(r.measured_fpr_two_sided[k])] for k in r.fnr]
        return (self.compare(tname) + table(STRIP_HEADER, rows)
                + f"<p>Superimposition: {e(r.superimpose)}; threshold: {e(r.threshold_method)}; {r.n_clean_fit} clean "
                  f"inputs set the thresholds, {r.n_clean_eval} held-out clean inputs measure the FPR, {r.n_attacked} "
                  f"AdvTrojan examples. ROC AUC {r.roc_auc:.3f} for low entropy = attack, {r.roc_auc_high:.3f} for "
                  f"high entropy = attack.</p>" + self.img(key, alt))

    def certification(self) -> str:
        res, label, main = self.res, self.label, self.main
        cert = res.certification
        models = list(cert.models)
        rows = []
        for i, r0 in enumerate(cert.models[models[0]]["advtrojan"]):
            cells = []
            for m in models:
                r = cert.models[m]["advtrojan"][i]
                fail = f", {r.interval_failures} failed" if r.interval_failures else ""
                cells.append(f"{_pct(r.certified_accuracy)} ({r.certified_correct}/{r.certified_count}); "
                             f"robust {_pct(r.robust_accuracy)}{fail}")
            rows.append([f"{r0.sigma:g}", r0.method, f"{r0.confidence:g}", *cells])
        out = (f"<p>Eq. 10 on AdvTrojan examples crafted against each model, B = {cert.radius_B} (L2), "
               f"{cert.examples} inputs, {cert.noise_samples} noise samples. Each cell: certified accuracy "
               f"(certified and correct / certified), then the robust accuracy of Li et al.'s code (certified and "
               f"correct / all). <i>li</i>: one-sided Clopper–Pearson bounds; <i>li-code</i>: Sison–Glaz intervals "
               f"as Li et al.'s public code (confidence 0.05 = the code as it stood when the paper was written, "
               f"0.95 = its final version); <i>cohen</i>: Cohen et al.'s radius.</p>"
               + table(["σ", "procedure", "confidence", *(label.get(m, m) for m in models)], rows)
               + self.img("certification", "certified robust accuracy"))
        ref = (res.paper.table5 or {}).get("advtrojan_certified")
        if ref is not None:
            out += _which_certification(cert.models[main]["advtrojan"], ref, res.paper.tolerance, cert.radius_B,
                                        cert.noise_samples, label.get(main, main), len(res.meta.classes) or 10)
        return out

    def sections(self) -> list[tuple[str, str]]:
        img, claim = self.img, self.claim
        return [
            ("Figure 4: Vanilla, Madry-Adv and the ATIMs on benign and Madry examples", self.figure4()),
            ("Table 5: the ATIM on each kind of example", self.table5()),
            ("Table 2: Neural Cleanse on the ATIM", self.table2()),
            ("Table 3: STRIP on AdvTrojan examples", self.strip("strip", "Table 3", "table3_entropy", "STRIP entropy")),
            ("Table 4: E-STRIP on AdvTrojan examples", self.strip("e_strip", "Table 4", "table4_entropy",
                                                                  "E-STRIP entropy")),
            ("Certified accuracy across σ (Eq. 10)", self.certification()),
            *defense_sections(self.res.scan, table, html.escape),
            ("Figure 5: adaptive Neural Cleanse", (img("figure5", "Figure 5") + claim("figure5"))
             if "figure5" in self.figs else NO_VERDICT),
            ("Figure 7: number of PGD iterations", img("figure7", "Figure 7") + claim("figure7")),
            ("Figure 8: perturbation size", img("figure8", "Figure 8") + claim("figure8")),
            ("Figure 9: FGSM vs BIM vs Madry by perturbation size", img("figure9", "Figure 9") + claim("figure9")),
            ("Figure 6: feature shift with trigger intensity (Appendix D)",
             img("figure6", "Figure 6, convolutional features") + img("figure6_dense", "Figure 6, features Q")
             + claim("figure6")),
        ]


def render_html(res: ReproduceResult, figs: dict, protocol_href: str | None = None) -> str:
    page, meta, label = Page(res, figs, protocol_href), res.meta, F.MODEL_LABELS
    return TEMPLATES.get_template("report.html.j2").render(
        meta=meta, budget=meta.budget, trigger=meta.trigger, summary=page.summary(), sections=page.sections(),
        protocol=page.doc, main_label=label.get(res.main, res.main), reused=", ".join(meta.reused_runs) or "none",
        train_images=_listing({label.get(k, k): f"{v:,}" if isinstance(v, int) else "all"
                               for k, v in meta.train_images.items()}),
        versions=_listing(meta.versions, sep=" "),
        training=[(label.get(n, n), _recipe(t, meta.budget)) for n, t in meta.training.items()],
        walls=list(meta.wall_time_s.items()), precision=_precision(meta.reproduce_preset or {}))


def _precision(rp: dict) -> str:
    """How the stages after training compute (results written before a setting existed used fp32)."""
    return (f"Table 5, certification's AdvTrojan examples and Figures 7-9 craft in {rp.get('eval_precision', 'fp32')}; "
            f"Neural Cleanse, adaptive Neural Cleanse and the collapse search in {rp.get('defense_precision', 'fp32')}; "
            f"Eq. 10's noisy votes are fp32's.")


def _which_certification(rows: list[CertRow], ref: float, tolerance: float, radius: float, samples: int, model: str,
                         num_classes: int) -> str:
    """Which certification settings give the paper's Table 5 figure, and why, from the rows: a
    setting whose best possible radius (every noisy copy agreeing) does not exceed B reaches 0% as
    0 of 0 by construction; one with certified inputs reaches it by their being misclassified."""
    e = html.escape
    near = [r for r in rows if abs(r.certified_accuracy - ref) <= tolerance]
    if not near:
        return (f"<p><b>No setting gives the paper's {_pct(ref)}</b> on the {e(model)} (within "
                f"{_pct(tolerance)}).</p>")
    parts = []
    for r in near:
        name = f"σ {r.sigma:g}, {r.method} at {r.confidence:g}"
        best = best_radius(r.sigma, r.method, r.confidence, samples, num_classes)
        if r.certified_count == 0 and best <= radius:
            why = (f"0 of 0: this procedure certifies at most L2 {best:.2f} at this σ even when all {samples} noisy "
                   f"copies agree, below B = {radius:g}, whatever the model")
        elif r.certified_count == 0:
            why = f"0 of 0: no AdvTrojan example was certified (it could have been, up to L2 {best:.2f})"
        else:
            why = (f"{r.certified_correct} of {r.certified_count} certified AdvTrojan examples correct: the "
                   f"noise keeps the ATIM's wrong label on those it certifies")
        parts.append(f"<li>{e(name)}: {e(why)}</li>")
    real = sum(r.certified_count > 0 for r in near)
    return (f"<p><b>Which setting gives the paper's {_pct(ref)}</b> on the {e(model)} ({len(near)} of {len(rows)} "
            f"settings; {real} with certified inputs):</p><ul>" + "".join(parts) + "</ul>")


def build_report(root: str | Path) -> Path:
    """(Re)build figures, CSV tables and report.html in ``root`` from ``root/results.json`` alone."""
    root = Path(root)
    res = load_results(root)
    figs = make_figures(res, root / "figures")
    write_csvs(res, root / "tables")
    with atomic_path(root / "report.html") as tmp:
        tmp.write_text(render_html(res, figs, copy_protocol(root)))
    return root / "report.html"
