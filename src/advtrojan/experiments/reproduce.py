"""``advtrojan reproduce``: every table and figure of the paper for one dataset, resumable.

Stages (each writes ``RESULTS/stages/<name>.json`` atomically and is skipped when that file
exists, unless ``force``; training stages reuse or resume their run folders):

  train_vanilla, train_madry                  the references
  train_atim, train_atim_scratch              the ATIM both ways of Algorithm 1: fine-tuned from
                                              Madry-Adv (line 2) and from random weights (line 1)
  eval_*                                      Figure 4, Table 5 (certified and transferred rows)
  defenses                                    Tables 2-4, Figure 5 (``advtrojan scan`` on the ATIM
                                              the preset names, ``atim_start``)
  certification                               Eq. 10 across σ and procedures, for every model
  sweep_iterations, sweep_budget              Figure 7; Figures 8-9 (ε sweep of FGSM, BIM, Madry)
  features                                    Figure 6 (Appendix D), both layers, every model

Then ``results.json`` is assembled from the stage files and the report is built from it.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict
from pathlib import Path

import torch

from .. import __version__, presets
from ..attacks.threats import Threat, craft
from ..data import load_dataset
from ..defenses.adaptive import AdaptiveNCSettings
from ..defenses.certify import certification_sweep
from ..defenses.neural_cleanse import NCSettings
from ..defenses.scan import ScanSettings, all_defenses, scan_model
from ..evaluation.table5 import EvalSettings, evaluate_model
from ..training import fit, make_config
from ..training.runs import Run
from ..utils.device import configure_threads, resolve_device
from ..results import SCHEMA, check_results
from ..errors import AdvTrojanError
from ..utils.io import check_writable, write_json
from .features import feature_shift
from .sweeps import budget_sweep, iteration_sweep

MODELS = ("vanilla", "madry", "atim", "atim_scratch")
ATIMS = {"madry": "atim", "scratch": "atim_scratch"}  # ReproducePreset.atim_start -> model key
# rough relative cost of each stage, for the time-left estimate
WEIGHTS = {"train_vanilla": 1, "train_madry": 12, "train_atim": 12, "train_atim_scratch": 24, "eval_vanilla": 1,
           "eval_madry": 1, "eval_atim": 5, "eval_atim_scratch": 5, "defenses": 6, "certification": 2,
           "sweep_iterations": 5, "sweep_budget": 4, "features": 0.2}
STAGES = ["train_vanilla", "train_madry", "train_atim", "train_atim_scratch", "eval_vanilla", "eval_madry",
          "eval_atim", "eval_atim_scratch", "defenses", "certification", "sweep_iterations", "sweep_budget",
          "features"]


class Stages:
    """Runs named stages once, records wall time, prints progress with an estimate of time left."""

    def __init__(self, root: Path, force: bool, names: list[str], progress: bool = True):
        self.dir = root / "stages"
        self.force, self.names, self.progress = force, names, progress
        self.done_weight, self.spent, self.t0 = 0.0, 0.0, time.perf_counter()

    def path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def run(self, name: str, fn) -> dict:
        i = self.names.index(name) + 1
        if self.path(name).is_file() and not self.force:
            self._say(f"[{i}/{len(self.names)}] {name}: done earlier, reused")
            return read_stage(self.path(name))
        left = sum(WEIGHTS.get(n, 1) for n in self.names[i - 1:])
        eta = f", about {self._fmt(self.spent / self.done_weight * left)} left" if self.done_weight and self.spent else ""
        self._say(f"[{i}/{len(self.names)}] {name}{eta}")
        t = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t
        result["seconds"] = seconds
        write_json(self.path(name), result)
        if not result.get("reused"):  # only measured work predicts the time left
            self.spent += seconds
            self.done_weight += WEIGHTS.get(name, 1)
        self._say(f"[{i}/{len(self.names)}] {name}: {self._fmt(seconds)}")
        return result

    def _say(self, text: str) -> None:
        if self.progress:
            print(text, flush=True)

    @staticmethod
    def _fmt(s: float) -> str:
        return f"{s / 60:.1f} min" if s >= 90 else f"{s:.0f} s"


def read_stage(path: Path) -> dict:
    """A finished stage's record; a damaged one is an error naming the file (never re-used silently)."""
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdvTrojanError(f"{path}: damaged stage record ({exc}); delete it to run the stage again") from None
    if not isinstance(record, dict):
        raise AdvTrojanError(f"{path}: damaged stage record (not a JSON object); delete it to run the stage again")
    return record


def reproduce(dataset: str = "fmnist", preset: str = "quick", out: str | Path | None = None,
              runs_dir: str | Path | None = None, *, force: bool = False, device: str = "auto",
              data_dir=None, seed: int = 0, progress: bool = True, sizes: "presets.ReproducePreset | None" = None,
              train_overrides: dict | None = None, defenses=None) -> Path:
    """Run every stage for ``dataset`` at ``preset``; returns the results folder (with report.html).

    ``sizes`` replaces the preset's stage sizes and ``train_overrides`` the training options
    (``make_config`` keywords), e.g. for a tiny smoke run. ``defenses``: the registered defenses of
    the defenses stage (default: every registered one, the paper's five and any plug-in's).
    """
    from ..data import get_spec
    from ..errors import ConfigError
    from ..report.build import build_report

    spec = get_spec(dataset)
    if preset not in presets.REPRODUCE:
        raise ConfigError(f"unknown preset {preset!r}: choose one of {', '.join(presets.REPRODUCE)}")
    rp = sizes or presets.REPRODUCE[preset]
    if rp.atim_start not in ATIMS:
        raise ConfigError(f"unknown ATIM start {rp.atim_start!r}: choose {' or '.join(ATIMS)}")
    root = Path(out or f"results/{spec.name}-{preset}")
    runs = Path(runs_dir) if runs_dir else root / "runs"
    check_writable(root, "--out", folder=True)
    check_writable(runs, "--runs-dir", folder=True)
    configure_threads()
    dev = resolve_device(device)
    defenses_to_run = tuple(defenses) if defenses is not None else all_defenses()
    ScanSettings(defenses=defenses_to_run).validate()  # before any training
    missing = [n for n in ("neural_cleanse", "strip", "e_strip", "adaptive_neural_cleanse") if n not in defenses_to_run]
    if missing:
        raise ConfigError(f"reproduce needs the paper's defenses for Tables 2-4 and Figure 5: {', '.join(missing)}")
    st = Stages(root, force, STAGES, progress)
    started = time.strftime("%Y-%m-%d %H:%M:%S")

    def train(name: str, objective: str, init: str | None = None):
        def go():
            cfg = make_config(spec.name, objective, preset=rp.train, init=init, seed=seed, **(train_overrides or {}))
            path = runs / name
            reused = Run(path).exists() and Run(path).finished and not force
            r = fit(cfg, path, device=device, data_dir=data_dir, resume=not force, force=force, progress=progress)
            return {"run": str(r.path), "reused": reused, "config": asdict(r.config), "metrics": r.metrics()}
        return go

    st.run("train_vanilla", train("vanilla", "vanilla"))
    st.run("train_madry", train("madry", "madry"))
    st.run("train_atim", train("atim", "advtrojan", init=str(runs / "madry")))
    st.run("train_atim_scratch", train("atim_scratch", "advtrojan"))
    models = {n: Run(runs / n).load_model(dev) for n in MODELS}
    main_atim = ATIMS[rp.atim_start]
    cfg = Run(runs / main_atim).config
    test = load_dataset(spec.name, "test", data_dir=data_dir)
    eval_data = test.balanced_subset(rp.eval_limit, seed=seed)
    base = dict(eps=cfg.eps, step_size=cfg.step_size, steps=cfg.steps, intensity=cfg.test_intensity)
    trig = cfg.trigger().to(dev)

    def evaluate(name: str):
        def go():
            torch.manual_seed(seed)
            full = name.startswith("atim")
            settings = EvalSettings(**base, certify=full, methods=("madry", "fgsm", "bim") if full else ("madry",))
            res = evaluate_model(models[name], eval_data, cfg.trigger(), settings,
                                 transfer_model=models["vanilla"] if full else None, device=dev, progress=progress)
            return {"result": res, "examples": len(eval_data)}
        return go

    for n in MODELS:
        st.run(f"eval_{n}", evaluate(n))

    def defenses():
        settings = ScanSettings(defenses=defenses_to_run, pool=rp.pool, nc_images=rp.nc_images or len(test), anc_images=rp.anc_images,
                                certify_images=rp.certify_images,
                                nc=NCSettings(epochs=rp.nc_epochs, precision=rp.defense_precision),
                                anc=AdaptiveNCSettings(epochs=rp.anc_epochs, precision=rp.defense_precision))
        torch.manual_seed(seed)
        res = scan_model(models[main_atim], test, cfg.trigger(), cfg.attack(), cfg.test_intensity,
                         settings=settings, attacked_kind=Threat.ADVTROJAN, out_dir=None, device=dev,
                         progress=progress, seed=seed)
        res.pop("figures", None)
        budget = res.pop("budget", None)
        return {"result": res, "model": main_atim, "budget": budget,
                "settings": {"pool": rp.pool, "nc_images": settings.nc_images, "nc_epochs": rp.nc_epochs,
                             "precision": rp.defense_precision, "anc_images": rp.anc_images,
                             "anc_epochs": rp.anc_epochs, "certify_images": rp.certify_images,
                             "strip": asdict(settings.strip)}}

    st.run("defenses", defenses)

    def certification():
        cx, cy = test.balanced_subset(rp.certify_images, seed=seed + 3).tensors(dev)
        out = {"sigmas": list(rp.certify_sigmas), "radius_B": 0.4, "examples": len(cy), "models": {}}
        for n in MODELS:
            torch.manual_seed(seed)
            attacked = craft([Threat.ADVTROJAN], cx, cy, trigger=trig, intensity=cfg.test_intensity,
                             attack=cfg.attack(), model=models[n])[Threat.ADVTROJAN]
            out["models"][n] = {
                kind: certification_sweep(models[n], x, cy, rp.certify_sigmas, radius=0.4, seed=seed)
                for kind, x in (("advtrojan", attacked), ("benign", cx))}
        return {"result": out}

    st.run("certification", certification)
    sx, sy = test.balanced_subset(rp.sweep_images, seed=seed + 1).tensors(dev)

    def sweep_iter():
        torch.manual_seed(seed)
        return {"result": iteration_sweep(models[main_atim], sx, sy, trig, cfg.test_intensity, cfg.eps,
                                          cfg.step_size, iterations=rp.sweep_iterations, progress=progress)}

    def sweep_budget():
        torch.manual_seed(seed)
        return {"result": budget_sweep(models[main_atim], sx, sy, trig, cfg.test_intensity, cfg.eps, cfg.steps,
                                       cfg.step_size, progress=progress)}

    st.run("sweep_iterations", sweep_iter)
    st.run("sweep_budget", sweep_budget)

    def features():
        fx, _ = test.balanced_subset(rp.feature_images, seed=seed + 2).tensors(dev)
        return {"result": {n: feature_shift(models[n], fx, trig) for n in MODELS}}

    st.run("features", features)
    results = check_results(assemble(root, spec.name, preset, rp, seed, dev, started, STAGES), "reproduce")
    write_json(root / "results.json", results)
    build_report(root)
    st._say(f"results: {root / 'results.json'}\nreport:  {root / 'report.html'}")
    return root


TABLE5_KEYS = ("benign", "madry", "advtrojan", "advtrojan_certified", "transferred_advtrojan")


def assemble(root: Path, dataset: str, preset: str, rp, seed: int, dev, started: str, names: list[str]) -> dict:
    """Build results.json (schema ``advtrojan.results/2``, see docs/results-schema.md) from the stages."""
    stage = {n: read_stage(root / "stages" / f"{n}.json") for n in names}
    evals = {n: stage[f"eval_{n}"]["result"] for n in MODELS}
    main_atim = stage["defenses"].get("model", ATIMS[rp.atim_start])
    atim = evals[main_atim]
    defenses = stage["defenses"]["result"]
    cfg = stage[f"train_{main_atim}"]["config"]
    sweep = stage["sweep_budget"]["result"]
    from ..data import get_spec
    from .. import paper
    spec = get_spec(dataset)
    return {
        "schema": SCHEMA,
        "meta": {
            "dataset": dataset, "dataset_title": spec.title, "preset": preset, "reproduce_preset": asdict(rp),
            "train_images": {n: stage[f"train_{n}"]["config"]["limit"] or spec.train_size for n in MODELS},
            "test_images": stage[f"eval_{main_atim}"]["examples"], "seed": seed, "device": str(dev),
            "versions": {"advtrojan": __version__, "torch": torch.__version__, "python": platform.python_version()},
            "started": started, "wall_time_s": {n: stage[n]["seconds"] for n in names},
            "runs": {n: stage[f"train_{n}"]["run"] for n in MODELS},
            "reused_runs": [n for n in MODELS if stage[f"train_{n}"].get("reused")],
            "atim": main_atim,
            "budget": {"eps": cfg["eps"], "step_size": cfg["step_size"], "steps": cfg["steps"], "norm": cfg["norm"]},
            "trigger": {"size": cfg["trigger_size"], "margin": cfg["trigger_margin"],
                        "train_intensity": cfg["train_intensity"], "test_intensity": cfg["test_intensity"]},
            "classes": list(spec.classes),
            "training": {n: {k: stage[f"train_{n}"]["config"][k] for k in
                             ("objective", "optimizer", "lr", "epochs", "batch_size", "schedule", "benign_weight",
                              "precision", "init")} for n in MODELS},
        },
        "figure4": {n: {"benign": evals[n]["benign"], "madry": evals[n]["madry"]} for n in MODELS},
        "table5": {k: atim.get(k) for k in TABLE5_KEYS},
        "table5_counts": {"advtrojan_certified": [atim.get("advtrojan_certified_correct"),
                                                  atim.get("advtrojan_certified_count")],
                          "examples": stage[f"eval_{main_atim}"]["examples"]},
        "table5_both": {n: {k: evals[n].get(k) for k in TABLE5_KEYS + ("trigger",)} for n in ATIMS.values()},
        "figure9": {"eps": sweep["eps"], "steps": sweep["steps"], "step_ratio": sweep.get("step_ratio"),
                    "examples": sweep["examples"], "methods": sweep["methods"]},
        "evaluations": evals,
        "table2": {"flagged": len(defenses["neural_cleanse"]["flagged_classes"]),
                   "flagged_classes": defenses["neural_cleanse"]["flagged_classes"],
                   "fnr": defenses["neural_cleanse"]["table2"]["fnr"]},
        "table3": defenses["strip"]["fnr"], "table4": defenses["e_strip"]["fnr"],
        "table3_two_sided": defenses["strip"]["fnr_two_sided"],
        "table4_two_sided": defenses["e_strip"]["fnr_two_sided"],
        "figure5": {"anomaly_index": defenses["adaptive_neural_cleanse"]["anomaly_index"],
                    "flagged_classes": defenses["adaptive_neural_cleanse"]["flagged_classes"]},
        "defenses": defenses,
        "certification": stage["certification"]["result"],
        "figure7": stage["sweep_iterations"]["result"],
        "figure8": {k: sweep[k] for k in ("eps", "madry", "advtrojan", "steps", "examples")},
        "figure6": stage["features"]["result"],
        "paper": {"table2": paper.TABLE2.get(dataset), "table3": paper.TABLE3.get(dataset),
                  "table4": paper.TABLE4.get(dataset), "table5": paper.PAPER_TABLE5.get(dataset),
                  "claims": paper.CLAIMS, "tolerance": paper.TOLERANCE},
    }
