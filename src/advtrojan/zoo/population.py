"""Verdicts as statistics over a population of models (``population.json``).

For each defense that scores a model (its result's ``model_score``: Neural Cleanse's and adaptive
Neural Cleanse's anomaly index of the smallest-norm class, a plug-in's own), the ROC AUC of
infected against clean models with a bootstrap 95% interval and the TPR at 5% FPR, overall and for
each infected kind against the clean models; for each defense that scores inputs (``input_auc``:
STRIP, E-STRIP), the median and interquartile range over models of each model's ROC AUC of attacked
against clean inputs, per kind. Table 5's rows and Tables 2-4 as mean ± standard deviation over the
models of each kind. All of it for the whole population and for each split (development, held-out).
Models at chance get no verdict: they are counted, not scored.

A detector tuned on the development split is reported on the held-out split: for each defense that
scores models, the threshold that flags at most 5% of the development split's clean models (their
scores' 95th percentile, the next-higher observed value) is applied unchanged to the held-out
models (``heldout_at_dev_threshold``), beside the held-out split's own ROC statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..results import EvalResult, ScanResult
from ..stats import auc_interval, roc_auc, tpr_at_fpr

SCHEMA = "advtrojan.population/1"


@dataclass(frozen=True)
class ModelScan:
    """One model of a population, scanned: Table 5's rows and every defense's result."""

    id: str
    evaluation: EvalResult
    scan: ScanResult


@dataclass(frozen=True)
class Detection:
    """Model-level detection: infected against clean models."""

    auc: float
    ci95: list[float]
    tpr_at_5fpr: float
    n_infected: int
    n_clean: int


@dataclass(frozen=True)
class Transfer:
    """A threshold chosen on the development split's clean models, applied to the held-out split:
    models scoring above it are flagged."""

    threshold: float
    tpr: float
    fpr: float
    n_infected: int
    n_clean: int
    n_dev_clean: int


@dataclass(frozen=True)
class InputLevel:
    """Input-level detection: each model's ROC AUC of attacked against clean inputs."""

    median_auc: float
    iqr: list[float]  # the first and third quartiles
    n_models: int


@dataclass(frozen=True)
class DefenseStats:
    model_level: Detection | None = None
    model_level_by_kind: dict[str, Detection] = field(default_factory=dict)
    input_level: InputLevel | None = None
    input_level_by_kind: dict[str, InputLevel] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelRecord:
    """A model's line of the population: what it is, and each defense's numbers on it."""

    id: str
    kind: str
    arch: str
    seed: int
    split: str
    infected: bool
    trigger: str
    at_chance: bool
    scores: dict[str, float | None]   # defense -> model score
    aucs: dict[str, float | None]     # defense -> input-level AUC
    detected: dict[str, bool | None]  # defense -> its own verdict
    rows: dict[str, float]            # Table 5's rows


@dataclass(frozen=True)
class Split:
    n_models: int
    n_at_chance: int
    defenses: dict[str, DefenseStats]


@dataclass(frozen=True)
class Population:
    """``population.json`` of ``advtrojan zoo scan`` (schema :data:`SCHEMA`)."""

    schema: str
    arrays: str
    dataset: str
    defenses: dict[str, DefenseStats]            # over the whole population
    splits: dict[str, Split]                     # development, heldout
    table5: dict[str, dict[str, list[float]]]    # kind -> row -> [mean, sd, n]
    tables2_4: dict[str, dict[str, list[float]]]  # kind -> statistic -> [mean, sd, n]
    models: list[ModelRecord]
    n_models: int
    n_at_chance: int
    heldout_at_dev_threshold: dict[str, Transfer] = field(default_factory=dict)
    naive: dict[str, Detection] = field(default_factory=dict)  # Table 5's rows as model scores


def _detection(clean: list[float], infected: list[float]) -> Detection | None:
    if not clean or not infected:
        return None
    return Detection(auc=roc_auc(clean, infected), ci95=list(auc_interval(clean, infected)),
                     tpr_at_5fpr=tpr_at_fpr(clean, infected, 0.05), n_infected=len(infected), n_clean=len(clean))


def _input_level(aucs: list[float]) -> InputLevel | None:
    if not aucs:
        return None
    q1, med, q3 = np.percentile(aucs, [25, 50, 75])
    return InputLevel(median_auc=float(med), iqr=[float(q1), float(q3)], n_models=len(aucs))


def defense_stats(records: list[ModelRecord], names: list[str]) -> dict[str, DefenseStats]:
    out = {}
    judged = [r for r in records if not r.at_chance]
    for d in names:
        scored = [r for r in judged if r.scores.get(d) is not None]
        clean = [r.scores[d] for r in scored if not r.infected]
        by_kind = {}
        for kind in dict.fromkeys(r.kind for r in scored if r.infected):
            det = _detection(clean, [r.scores[d] for r in scored if r.kind == kind])
            if det is not None:
                by_kind[kind] = det
        with_auc = [r for r in judged if r.aucs.get(d) is not None and np.isfinite(r.aucs[d])]
        out[d] = DefenseStats(
            model_level=_detection(clean, [r.scores[d] for r in scored if r.infected]),
            model_level_by_kind=by_kind,
            input_level=_input_level([r.aucs[d] for r in with_auc]),
            input_level_by_kind={k: _input_level([r.aucs[d] for r in with_auc if r.kind == k])
                                 for k in dict.fromkeys(r.kind for r in with_auc)})
    return out


def transfer(records: list[ModelRecord], names: list[str], fpr: float = 0.05) -> dict[str, Transfer]:
    """Each model-scoring defense's threshold from the development split's clean models (flagging at
    most ``fpr`` of them), and the held-out split's true- and false-positive rates at it."""
    out = {}
    judged = [r for r in records if not r.at_chance]
    for d in names:
        dev = [r.scores[d] for r in judged if r.split == "development" and not r.infected
               and r.scores.get(d) is not None]
        held = [r for r in judged if r.split == "heldout" and r.scores.get(d) is not None]
        pos, neg = [r.scores[d] for r in held if r.infected], [r.scores[d] for r in held if not r.infected]
        if not dev or not held:
            continue
        t = float(np.quantile(dev, 1 - fpr, method="higher"))
        rate = lambda v: float(np.mean(np.asarray(v) > t)) if v else float("nan")  # noqa: E731
        out[d] = Transfer(threshold=t, tpr=rate(pos), fpr=rate(neg), n_infected=len(pos), n_clean=len(neg),
                          n_dev_clean=len(dev))
    return out


NAIVE_ROWS = ("benign", "madry")


def naive(records: list[ModelRecord]) -> dict[str, Detection]:
    """A confound check: each of a model's own accuracies (Table 5's benign and Madry rows) taken as
    its model score, over the judged models. An AUC far from 0.5 either way says the infected and
    clean models differ in what anyone can measure without a detector; a detector's AUC means
    something only beside it."""
    judged = [r for r in records if not r.at_chance]
    out = {}
    for row in NAIVE_ROWS:
        scored = [r for r in judged if r.rows.get(row) is not None]
        det = _detection([r.rows[row] for r in scored if not r.infected], [r.rows[row] for r in scored if r.infected])
        if det is not None:
            out[row] = det
    return out


def _mean_sd(values: list[float]) -> list[float]:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], float)
    if not len(v):
        return [float("nan"), float("nan"), 0]
    return [float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v)]


def record(entry, scan: ModelScan) -> ModelRecord:
    d = scan.scan.defenses
    return ModelRecord(id=entry.id, kind=entry.kind, arch=entry.arch, seed=entry.seed, split=entry.split,
                       infected=entry.infected, trigger=entry.trigger, at_chance=scan.evaluation.chance.at_chance
                       or scan.scan.chance.at_chance, scores={n: r.model_score for n, r in d.items()},
                       aucs={n: r.input_auc for n, r in d.items()}, detected={n: r.detected for n, r in d.items()},
                       rows=scan.evaluation.rows())


def population(dataset: str, entries, scans: dict[str, ModelScan], names: list[str], arrays: str) -> Population:
    records = [record(e, scans[e.id]) for e in entries]
    splits = {}
    for split in ("development", "heldout"):
        rs = [r for r in records if r.split == split]
        splits[split] = Split(len(rs), sum(r.at_chance for r in rs), defense_stats(rs, names))
    kinds = list(dict.fromkeys(r.kind for r in records))
    judged = [r for r in records if not r.at_chance]
    table5 = {k: {row: _mean_sd([r.rows.get(row) for r in judged if r.kind == k])
                  for row in dict.fromkeys(x for r in judged if r.kind == k for x in r.rows)} for k in kinds}
    tables = {}
    for k in kinds:
        ms = [scans[r.id].scan.defenses for r in judged if r.kind == k]
        stats = {}
        if ms and "neural_cleanse" in ms[0] and ms[0]["neural_cleanse"].data is not None:
            stats["table2_flagged"] = _mean_sd([len(m["neural_cleanse"].data.flagged_classes) for m in ms])
            stats["table2_fnr"] = _mean_sd([m["neural_cleanse"].data.table2.fnr for m in ms])
        for name, key in (("strip", "table3"), ("e_strip", "table4")):
            if ms and name in ms[0] and ms[0][name].data is not None:
                for fpr in ("10%", "5%"):
                    stats[f"{key}_fnr_{fpr}"] = _mean_sd([m[name].data.fnr[fpr] for m in ms])
        tables[k] = stats
    return Population(schema=SCHEMA, arrays=arrays, dataset=dataset, defenses=defense_stats(records, names),
                      splits=splits, table5=table5, tables2_4=tables, models=records, n_models=len(records),
                      n_at_chance=sum(r.at_chance for r in records), heldout_at_dev_threshold=transfer(records, names),
                      naive=naive(records))
