"""A small golden ``results.json``: a hand-built :class:`ReproduceResult` with plausible numbers,
written by the real writer (JSON and its array file), so the report's tests need no ``reproduce``."""

from __future__ import annotations

from pathlib import Path

import torch

from advtrojan import paper
from advtrojan.attacks import Budget
from advtrojan.defenses.adaptive import AdaptiveNCData
from advtrojan.defenses.certify import CertifiedData, CertSummary
from advtrojan.defenses.neural_cleanse import NCFalseNegatives, NeuralCleanseData
from advtrojan.defenses.strip import StripData
from advtrojan.results import (SCHEMA, BudgetSweep, CertCount, CertRow, Certification, Chance, DefenseResult,
                               EvalResult, FeatureShift, IterationSweep, LayerShift, Meta, MethodCurves, Paper,
                               ReproduceResult, ScanResult, TriggerMeta, arrays_name, write_result)

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MODELS = ("vanilla", "madry", "atim", "atim_scratch")
BUDGET = Budget(0.2, 0.02, 20)
FPRS = ("10%", "5%", "2%")


def evaluation(benign, madry, trigger, advtrojan, *, full=False, at_chance=False) -> EvalResult:
    acc = {"benign": benign, "madry": madry, "trigger": trigger, "advtrojan": advtrojan}
    if full:
        acc.update(fgsm=0.70, bim=0.55, advtrojan_fgsm=0.40, advtrojan_bim=0.05, transferred_advtrojan=0.61)
    cert = CertCount(0.1, 2, 20, 0.01, 0.5, 0.4, 100, "li", 0.999) if full else None
    return EvalResult(accuracy=acc, examples=200, budget=BUDGET, intensity=0.75, chance=Chance(0.1, at_chance),
                      certified=cert)


def strip_data(fnr: float, auc: float) -> StripData:
    per = dict.fromkeys(FPRS, fnr)
    g = torch.Generator().manual_seed(int(fnr * 100))
    return StripData(fnr=per, measured_fpr=dict(zip(FPRS, (0.1, 0.05, 0.02))), threshold=dict.fromkeys(FPRS, 1.0),
                     fnr_high=dict.fromkeys(FPRS, 0.9), measured_fpr_high=dict.fromkeys(FPRS, 0.05),
                     threshold_high=dict.fromkeys(FPRS, 2.5), fnr_two_sided=dict.fromkeys(FPRS, 0.8),
                     measured_fpr_two_sided=dict.fromkeys(FPRS, 0.06), threshold_method="normal",
                     f1=dict.fromkeys(FPRS, 0.3), roc_auc=auc, roc_auc_high=1 - auc, n_clean_fit=75, n_clean_eval=75,
                     n_attacked=150, superimpose="add", entropy_clean=torch.rand(150, generator=g) * 3,
                     entropy_attacked=torch.rand(150, generator=g) * 3, attacked_inputs="AdvTrojan examples",
                     n_reserved=100, threshold_degenerate=dict.fromkeys(FPRS, False),
                     fnr_quantile=per, measured_fpr_quantile=dict.fromkeys(FPRS, 0.05),
                     f1_quantile=dict.fromkeys(FPRS, 0.3))


def scan(at_chance: bool = False) -> ScanResult:
    k = len(CLASSES)
    index = [0.5, 2.4, 0.3, 0.9, 1.1, 0.2, 0.7, 0.4, 1.5, 0.6]
    nc = NeuralCleanseData(
        mask_l1=[10.0 + i for i in range(k)], attack_success=[1.0] * k, anomaly_index=index,
        flagged=[False] * k, flagged_classes=[], threshold=2.0, epochs_run=2, classes=list(range(k)),
        reached_threshold=[True] * k, final_cost=[1e-3] * k, cost_set_at_epoch=[1] * k, images=200,
        masks=torch.rand(k, 28, 28, generator=torch.Generator().manual_seed(1)),
        table2=NCFalseNegatives(fnr=1.0, successful_advtrojan=140, caught=0, rule="caught = predicted class is flagged"),
        attacked_inputs="AdvTrojan examples")
    anc = AdaptiveNCData(trigger_l2=[1.0 + 0.1 * i for i in range(k)], anomaly_index=index, flagged=[False] * k,
                         flagged_classes=[], final_loss=[0.5] * k, threshold=2.0, restarts=1, epochs=1, images=20)
    summary = CertSummary(0.1, 2, 20, 50, 0.04, 0.3, 0.4, 0.5, 100, "li", 0.999, 0)
    defenses = {
        "neural_cleanse": DefenseResult("flagged 0/10 []", "FNR 100.0% of 140 successful attacks", False, nc,
                                        name="neural_cleanse", title="Neural Cleanse"),
        "strip": DefenseResult("FNR at FPR 10% 40.0%", "AUC 0.800", True, strip_data(0.4, 0.8), name="strip",
                               title="STRIP"),
        "e_strip": DefenseResult("FNR at FPR 10% 90.0%", "AUC 0.600", False, strip_data(0.9, 0.6), name="e_strip",
                                 title="E-STRIP"),
        "adaptive_neural_cleanse": DefenseResult("flagged 0/10 []", "max anomaly index 2.40", False, anc,
                                                 name="adaptive_neural_cleanse", title="Adaptive Neural Cleanse"),
        "certified": DefenseResult("attacked: 10.0% (2/20 certified correct)", "", None,
                                   CertifiedData(summary, summary), name="certified", title="Certified (li, B=0.4)"),
    }
    if at_chance:
        defenses = {n: DefenseResult("no verdict: the model is at chance", name=n, title=d.title,
                                     skipped="the model is at chance") for n, d in defenses.items()}
    return ScanResult(defenses=defenses, method="madry", budget=BUDGET, intensity=0.75, attacked="advtrojan",
                      chance=Chance(0.1, at_chance), benign_accuracy=0.1 if at_chance else 0.8)


def features(distance_at_1: float) -> FeatureShift:
    levels = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    curve = [distance_at_1 * x for x in levels]
    g = torch.Generator().manual_seed(int(distance_at_1 * 1000))
    return FeatureShift(intensities=levels, examples=16, distance="1 - cos",
                        layers={layer: LayerShift(curve, [0.01] * 6, torch.randn(6, 4, 4, generator=g), 16)
                                for layer in ("conv", "dense")})


def golden(at_chance: bool = False) -> ReproduceResult:
    """The golden results; ``at_chance``: the ATIM learned nothing (no verdict anywhere)."""
    chance_atim = dict(full=True, at_chance=at_chance)
    evals = {"vanilla": evaluation(0.83, 0.0, 0.80, 0.0), "madry": evaluation(0.74, 0.49, 0.73, 0.44),
             "atim": evaluation(0.1, 0.1, 0.1, 0.1, **chance_atim) if at_chance
             else evaluation(0.785, 0.426, 0.79, 0.096, **chance_atim),
             "atim_scratch": evaluation(0.843, 0.41, 0.84, 0.0185, full=True)}
    rows = [CertRow(0.5, m, c, 0, 0.1, 2, 20, 50, 0.04, 0.3)
            for m, c in (("li", 0.999), ("li-code", 0.95), ("cohen", 0.999), ("li-code", 0.05))]
    eps = [0.02 * i for i in range(11)]
    curves = {m: MethodCurves([0.8 - 0.03 * i for i in range(11)], [0.8 - 0.07 * i for i in range(11)])
              for m in ("fgsm", "bim", "madry")}
    training = {n: {"objective": o, "optimizer": "adam", "lr": 0.001, "epochs": 1, "batch_size": 128,
                    "schedule": "constant", "benign_weight": 0.0 if n == "madry" else 1.0,
                    "warmup": 1 / 3 if n in ("madry", "atim_scratch") else 0.0, "precision": "bf16",
                    "init": "runs/madry" if n == "atim" else None,
                    "train_attack": {"method": "n-fgsm"} if n == "atim_scratch" else {"method": "madry"}}
                for n, o in zip(MODELS, ("vanilla", "madry", "advtrojan", "advtrojan"))}
    meta = Meta(dataset="fmnist", dataset_title="Fashion-MNIST", preset="quick", reproduce_preset={"train": "quick"},
                train_images=dict.fromkeys(MODELS, 1000), test_images=200, seed=0, device="cpu",
                versions={"advtrojan": "0.1.0", "torch": "2.13.0", "python": "3.11.7"}, started="2026-11-30 12:00:00",
                wall_time_s={"train_vanilla": 1.0, "defenses": 2.0}, runs={n: f"runs/{n}" for n in MODELS},
                reused_runs=[], atim="atim", budget=BUDGET, trigger=TriggerMeta(4, 1, 1.0, 0.75), classes=CLASSES,
                training=training)
    return ReproduceResult(
        schema=SCHEMA, arrays=arrays_name("results.json"), meta=meta, evaluations=evals, scan=scan(at_chance),
        certification=Certification([0.5], 0.4, 100, 50, {n: {"advtrojan": rows, "benign": rows} for n in MODELS}),
        figure7=IterationSweep([1, 5, 20], [0.5, 0.45, 0.43], [0.3, 0.1, 0.05], BUDGET, 20),
        figure9=BudgetSweep(eps, BUDGET, 20, curves),
        figure6={"vanilla": features(0.02), "madry": features(0.04), "atim": features(0.13),
                 "atim_scratch": features(0.1)},
        paper=Paper(table2=paper.TABLE2["fmnist"], table3=paper.TABLE3["fmnist"], table4=paper.TABLE4["fmnist"],
                    table5=paper.PAPER_TABLE5["fmnist"], claims=paper.CLAIMS, tolerance=paper.TOLERANCE))


def write_golden(root: Path, at_chance: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_result(root / "results.json", golden(at_chance))
    return root
