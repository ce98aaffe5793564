"""``advtrojan reproduce``: every table and figure of the paper for one dataset, resumable.

Its stages (:mod:`advtrojan.experiments.stages`; each writes ``RESULTS/stages/<name>.json`` and is
read back instead of run when that file exists, unless ``force``; training stages reuse or resume
their run folders):

  train_vanilla, train_madry                  the references
  train_atim, train_atim_scratch              the ATIM both ways of Algorithm 1: fine-tuned from
                                              Madry-Adv (line 2) and from random weights (line 1)
  eval_*                                      Figure 4, Table 5 (certified and transferred rows)
  defenses                                    Tables 2-4, Figure 5 (the scan of the ATIM the preset
                                              names, ``atim_start``)
  certification                               Eq. 10 across σ and procedures, for every model
  sweep_iterations, sweep_budget              Figure 7; Figures 8-9 (ε sweep of FGSM, BIM, Madry)
  features                                    Figure 6 (Appendix D), both layers, every model

Then ``results.json`` (:class:`~advtrojan.results.ReproduceResult`) is assembled from the stages
and the report is built from it. Every stage crafts with the one budget of the ATIM's run (its ε,
α, steps and norm).
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

import torch

from .. import __version__, paper, presets
from ..attacks.threats import Threat, craft
from ..data import get_spec, load_dataset
from ..defenses.certify import CertSettings, certification_sweep
from ..defenses.scan import all_defenses, scan_model
from ..errors import ConfigError
from ..evaluation.table5 import EvalSettings, evaluate_model
from ..results import (SCHEMA, BudgetSweep, Certification, EvalResult, Features, IterationSweep, Meta, Paper,
                       ReproduceResult, ScanResult, TriggerMeta, arrays_name, write_result)
from ..runtime import Runtime
from ..settings import option
from ..training import fit, make_config
from ..training.runs import Run
from ..utils.device import configure_threads, resolve_device
from ..utils.io import check_writable
from .features import feature_shift
from .stages import Stage, TrainedRun, run_stages, scan_settings
from .sweeps import budget_sweep, iteration_sweep

MODELS = ("vanilla", "madry", "atim", "atim_scratch")
ATIMS = {"madry": "atim", "scratch": "atim_scratch"}  # ReproducePreset.atim_start -> model key
PAPER_DEFENSES = ("neural_cleanse", "strip", "e_strip", "adaptive_neural_cleanse")


@dataclass(frozen=True)
class ReproduceSettings:
    """What ``reproduce`` runs: the dataset, the preset of its stage sizes, where it writes."""

    dataset: str = field(default="fmnist", metadata=option("dataset", metavar="NAME|npz:FILE|folder:DIR"))
    preset: str = field(default="quick", metadata=option(
        "quick: a 10k training subset, few epochs, smaller defense runs (minutes on a laptop CPU); paper: the "
        "paper's protocol on the full data (Neural Cleanse 100 epochs on the test set)", choices=tuple(presets.REPRODUCE)))
    out: str | None = field(default=None, metadata=option("results folder", metavar="DIR",
                                                          default_text="results/DATASET-PRESET"))
    runs_dir: str | None = field(default=None, metadata=option(
        "where the vanilla/, madry/, atim/ and atim_scratch/ run folders live; matching finished runs there are reused",
        metavar="DIR", default_text="OUT/runs"))
    atim_start: str | None = field(default=None, metadata=option(
        "the ATIM of Table 5, the defenses and Figures 7-9: fine-tuned from Madry-Adv (Algorithm 1, line 2) or "
        "trained from random weights (line 1); both are trained and shown", choices=tuple(ATIMS),
        default_text="the preset's"))
    force: bool = field(default=False, metadata=option("redo every stage and retrain"))
    defenses: tuple[str, ...] | None = field(default=None, metadata=option(
        "the defenses of the defenses stage (the paper's four are needed)", default_text="every registered one"))
    sizes: presets.ReproducePreset | None = field(default=None, metadata=option("stage sizes", cli=False))
    train_overrides: dict = field(default_factory=dict, metadata=option("training options", cli=False))

    def stage_sizes(self) -> presets.ReproducePreset:
        if self.preset not in presets.REPRODUCE:
            raise ConfigError(f"unknown preset {self.preset!r}: choose one of {', '.join(presets.REPRODUCE)}")
        rp = self.sizes or presets.REPRODUCE[self.preset]
        rp = replace(rp, atim_start=self.atim_start) if self.atim_start else rp
        if rp.atim_start not in ATIMS:
            raise ConfigError(f"unknown ATIM start {rp.atim_start!r}: choose {' or '.join(ATIMS)}")
        return rp


class Reproduction:
    """One ``reproduce``: its settings, folders, data and models, shared by its stages."""

    def __init__(self, settings: ReproduceSettings, runtime: Runtime):
        self.settings, self.runtime = settings, runtime
        self.spec = get_spec(settings.dataset)
        self.rp = settings.stage_sizes()
        self.root = Path(settings.out or f"results/{self.spec.name}-{settings.preset}")
        self.runs = Path(settings.runs_dir) if settings.runs_dir else self.root / "runs"
        self.defenses = tuple(settings.defenses) if settings.defenses is not None else all_defenses()
        self.main = ATIMS[self.rp.atim_start]
        self.scan_settings = scan_settings(self.rp, self.defenses)

    def check(self) -> None:
        """Everything that can be wrong, before any work."""
        check_writable(self.root, "--out", folder=True)
        check_writable(self.runs, "--runs-dir", folder=True)
        self.scan_settings.validate()
        missing = [n for n in PAPER_DEFENSES if n not in self.defenses]
        if missing:
            raise ConfigError(f"reproduce needs the paper's defenses for Tables 2-4 and Figure 5: {', '.join(missing)}")
        make_config(self.spec.name, "advtrojan", preset=self.rp.train, seed=self.runtime.seed,
                    **self.settings.train_overrides)  # the training options

    @cached_property
    def device(self):
        return resolve_device(self.runtime.device)

    @cached_property
    def models(self) -> dict:
        """The four trained models, loaded once; building them draws no number from the global random
        generator, so every stage's random starts depend on its seed alone (whether or not an earlier
        stage loaded them in this process: a resumed reproduce retraces an uninterrupted one)."""
        with torch.random.fork_rng(devices=[]):
            return {n: Run(self.runs / n).load_model(self.device) for n in MODELS}

    @cached_property
    def config(self):
        """The run config of the ATIM the preset reports: its budget, trigger and intensity are every stage's."""
        return Run(self.runs / self.main).config

    @cached_property
    def test(self):
        return load_dataset(self.spec.name, "test", data_dir=self.runtime.data_dir)

    def train(self, name: str, objective: str, init: str | None = None):
        def go() -> TrainedRun:
            s = self.settings
            cfg = make_config(self.spec.name, objective, preset=self.rp.train, init=init, seed=self.runtime.seed,
                              **s.train_overrides)
            path = self.runs / name
            reused = Run(path).exists() and Run(path).finished and not s.force
            r = fit(cfg, path, device=self.runtime.device, data_dir=self.runtime.data_dir, resume=not s.force,
                    force=s.force, progress=self.runtime.progress)
            return TrainedRun(run=str(r.path), config=r.config.to_json(), reused=reused)
        return go

    def evaluate(self, name: str):
        def go() -> EvalResult:
            torch.manual_seed(self.runtime.seed)
            full = name.startswith("atim")
            cfg = self.config
            settings = EvalSettings(certify=full, methods=("madry", "fgsm", "bim") if full else ("madry",),
                                    precision=self.rp.eval_precision)
            data = self.test.balanced_subset(self.rp.eval_limit, seed=self.runtime.seed)
            return evaluate_model(self.models[name], data, cfg.trigger(), cfg.budget, cfg.test_intensity, settings,
                                  transfer_model=self.models["vanilla"] if full else None, device=self.device,
                                  progress=self.runtime.progress)
        return go

    def scan(self) -> ScanResult:
        torch.manual_seed(self.runtime.seed)
        cfg = self.config
        return scan_model(self.models[self.main], self.test, cfg.trigger(), cfg.budget, cfg.attacker_input(),
                          self.scan_settings, self.runtime)

    def certification(self) -> Certification:
        cfg, seed = self.config, self.runtime.seed
        cx, cy = self.test.balanced_subset(self.rp.certify_images, seed=seed + 3).tensors(self.device)
        cert = CertSettings()
        models = {}
        for n in MODELS:
            torch.manual_seed(seed)
            attacked = craft([Threat.ADVTROJAN], cx, cy, trigger=cfg.trigger().to(self.device),
                             intensity=cfg.test_intensity, attack=cfg.attack(), model=self.models[n],
                             precision=self.rp.eval_precision)[Threat.ADVTROJAN]
            models[n] = {kind: certification_sweep(self.models[n], x, cy, self.rp.certify_sigmas, n=cert.noise_samples,
                                                   radius=cert.radius, seed=seed)
                         for kind, x in (("advtrojan", attacked), ("benign", cx))}
        return Certification(sigmas=list(self.rp.certify_sigmas), radius_B=cert.radius,
                             noise_samples=cert.noise_samples, examples=len(cy), models=models)

    def sweep_data(self):
        return self.test.balanced_subset(self.rp.sweep_images, seed=self.runtime.seed + 1).tensors(self.device)

    def sweep_iterations(self) -> IterationSweep:
        torch.manual_seed(self.runtime.seed)
        cfg = self.config
        sx, sy = self.sweep_data()
        return iteration_sweep(self.models[self.main], sx, sy, cfg.trigger().to(self.device), cfg.test_intensity,
                               cfg.budget, iterations=self.rp.sweep_iterations, precision=self.rp.eval_precision,
                               progress=self.runtime.progress)

    def sweep_budget(self) -> BudgetSweep:
        torch.manual_seed(self.runtime.seed)
        cfg = self.config
        sx, sy = self.sweep_data()
        return budget_sweep(self.models[self.main], sx, sy, cfg.trigger().to(self.device), cfg.test_intensity,
                            cfg.budget, precision=self.rp.eval_precision, progress=self.runtime.progress)

    def features(self) -> Features:
        fx, _ = self.test.balanced_subset(self.rp.feature_images, seed=self.runtime.seed + 2).tensors(self.device)
        trigger = self.config.trigger().to(self.device)
        return Features({n: feature_shift(self.models[n], fx, trigger) for n in MODELS})

    def stages(self) -> list[Stage]:
        """The declared stages, in order, with their rough relative costs."""
        runs = str(self.runs / "madry")
        return [
            Stage("train_vanilla", self.train("vanilla", "vanilla"), TrainedRun, 1),
            Stage("train_madry", self.train("madry", "madry"), TrainedRun, 12),
            Stage("train_atim", self.train("atim", "advtrojan", init=runs), TrainedRun, 12),
            Stage("train_atim_scratch", self.train("atim_scratch", "advtrojan"), TrainedRun, 24),
            *(Stage(f"eval_{n}", self.evaluate(n), EvalResult, 5 if n.startswith("atim") else 1) for n in MODELS),
            Stage("defenses", self.scan, ScanResult, 6),
            Stage("certification", self.certification, Certification, 2),
            Stage("sweep_iterations", self.sweep_iterations, IterationSweep, 5),
            Stage("sweep_budget", self.sweep_budget, BudgetSweep, 4),
            Stage("features", self.features, Features, 0.2),
        ]

    def assemble(self, records: dict, started: str) -> ReproduceResult:
        """``results.json`` from the stages' records: every number once."""
        spec, trained = self.spec, {n: records[f"train_{n}"].result for n in MODELS}
        cfg = self.config
        ds = spec.name
        return ReproduceResult(
            schema=SCHEMA, arrays=arrays_name("results.json"),
            meta=Meta(dataset=ds, dataset_title=spec.title, preset=self.settings.preset,
                      reproduce_preset=asdict(self.rp),
                      train_images={n: t.config["limit"] or spec.train_size for n, t in trained.items()},
                      test_images=records[f"eval_{self.main}"].result.examples, seed=self.runtime.seed,
                      device=str(self.device), versions={"advtrojan": __version__, "torch": torch.__version__,
                                                         "python": platform.python_version()},
                      started=started, wall_time_s={n: r.seconds for n, r in records.items()},
                      runs={n: t.run for n, t in trained.items()},
                      reused_runs=[n for n, t in trained.items() if t.reused], atim=self.main, budget=cfg.budget,
                      trigger=TriggerMeta(cfg.trigger_size, cfg.trigger_margin, cfg.train_intensity,
                                          cfg.test_intensity, cfg.trigger_spec),
                      classes=list(spec.classes),
                      training={n: {k: t.config[k] for k in ("objective", "optimizer", "lr", "epochs", "batch_size",
                                                             "schedule", "benign_weight", "warmup", "precision",
                                                             "init", "train_attack")} for n, t in trained.items()}),
            evaluations={n: records[f"eval_{n}"].result for n in MODELS},
            scan=records["defenses"].result,
            certification=records["certification"].result,
            figure7=records["sweep_iterations"].result,
            figure9=records["sweep_budget"].result,
            figure6=records["features"].result.models,
            paper=Paper(table2=paper.TABLE2.get(ds), table3=paper.TABLE3.get(ds), table4=paper.TABLE4.get(ds),
                        table5=paper.PAPER_TABLE5.get(ds), claims=paper.CLAIMS, tolerance=paper.TOLERANCE))


def reproduce(settings: ReproduceSettings = ReproduceSettings(), runtime: Runtime = Runtime()) -> Path:
    """Run every stage of ``settings``; returns the results folder (with results.json and report.html).

    ``settings.sizes`` replaces the preset's stage sizes and ``settings.train_overrides`` the training
    options (``make_config`` keywords), e.g. for a tiny smoke run; ``settings.defenses``: the
    registered defenses of the defenses stage (default: every registered one)."""
    from ..report.build import build_report

    job = Reproduction(settings, runtime)
    job.check()
    configure_threads()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    records = run_stages(job.root, job.stages(), force=settings.force, progress=runtime.progress)
    write_result(job.root / "results.json", job.assemble(records, started))
    build_report(job.root)
    if runtime.progress:
        print(f"results: {job.root / 'results.json'}\nreport:  {job.root / 'report.html'}", flush=True)
    return job.root
