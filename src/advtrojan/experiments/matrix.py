"""``advtrojan matrix``: the attack x defense matrix that sets AdvTrojan beside the Evil Twins family.

Trains a Vanilla model, then BadNets, TrojanNN, TrojanNN* and IMC (the last three retraining the
Vanilla model, as their authors do) and an ATIM (AdvTrojan from scratch, Algorithm 1 line 1), and
runs every registered defense on each (:mod:`advtrojan.defenses.registry`): the attacked inputs are
the trigger alone for the poisoning attacks (at training intensity) and AdvTrojan examples A(x + t)
for the ATIM. Each attack's clean accuracy, its accuracy drop from the Vanilla model and its
attack success rate (non-target inputs sent to the target; for the ATIM, AdvTrojan examples
misclassified) are measured on the same test images. Stages are resumable, as in ``reproduce``.

Writes ``OUT/matrix.json`` (:class:`~advtrojan.results.MatrixResult`), ``OUT/matrix.csv`` and
``OUT/matrix.html`` (attacks as rows, defenses as columns, each cell coloured detected / missed).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import torch

from .. import presets
from ..data import get_spec, load_dataset
from ..defenses.scan import all_defenses, scan_model
from ..errors import ConfigError
from ..evaluation.table5 import EvalSettings, evaluate_model
from ..results import MATRIX_SCHEMA, DefenseResult, MatrixResult, MatrixRow, arrays_name, write_result
from ..runtime import Runtime
from ..settings import option
from ..training import fit, make_config
from ..training.loop import accuracy
from ..training.runs import Run
from ..utils.device import configure_threads, resolve_device
from ..utils.io import atomic_path, check_writable
from . import figure15
from .stages import Stage, TrainedRun, run_stages, scan_settings

ATTACKS = ("badnets", "trojannn", "trojannn-star", "imc", "advtrojan")
FROM_VANILLA = ("trojannn", "trojannn-star", "imc")


@dataclass(frozen=True)
class MatrixSettings:
    """What ``matrix`` runs: the dataset, the preset of its sizes, the defenses, where it writes."""

    dataset: str = field(default="fmnist", metadata=option("dataset", metavar="NAME|npz:FILE|folder:DIR"))
    preset: str = field(default="quick", metadata=option("sizes", choices=tuple(presets.REPRODUCE)))
    out: str | None = field(default=None, metadata=option("results folder", metavar="DIR",
                                                          default_text="results/DATASET-PRESET-matrix"))
    defenses: tuple[str, ...] | None = field(default=None, metadata=option(
        "comma-separated registered defenses", default_text="every registered one"))
    force: bool = field(default=False, metadata=option("redo every stage and retrain"))
    sizes: presets.ReproducePreset | None = field(default=None, metadata=option("stage sizes", cli=False))
    train_overrides: dict = field(default_factory=dict, metadata=option("training options", cli=False))
    evil_twins: dict = field(default_factory=dict, metadata=option("TrojanNN / IMC settings", cli=False))


class Matrix:
    """One ``matrix``: its settings, folders, data and stages."""

    def __init__(self, settings: MatrixSettings, runtime: Runtime):
        if settings.preset not in presets.REPRODUCE:
            raise ConfigError(f"unknown preset {settings.preset!r}: choose one of {', '.join(presets.REPRODUCE)}")
        self.settings, self.runtime = settings, runtime
        self.spec = get_spec(settings.dataset)
        self.rp = settings.sizes or presets.REPRODUCE[settings.preset]
        self.names = tuple(settings.defenses) if settings.defenses is not None else all_defenses()
        self.scan_settings = scan_settings(self.rp, self.names)
        self.root = Path(settings.out or f"results/{self.spec.name}-{settings.preset}-matrix")
        self.runs = self.root / "runs"
        self.default_size = settings.train_overrides.get("trigger_size") or presets.trigger_size(self.spec)
        self.sweep = bool(self.rp.figure15_scales) and set(figure15.DEFENSES) <= set(self.names)
        self.sizes = figure15.sizes_for(self.default_size, self.rp.figure15_scales, self.spec.size) if self.sweep else []

    def check(self) -> None:
        self.scan_settings.validate()  # before any training
        check_writable(self.root, "--out", folder=True)

    @cached_property
    def device(self):
        return resolve_device(self.runtime.device)

    @cached_property
    def test(self):
        return load_dataset(self.spec.name, "test", data_dir=self.runtime.data_dir)

    @cached_property
    def eval_data(self):
        return self.test.balanced_subset(self.rp.eval_limit, seed=self.runtime.seed)

    @cached_property
    def clean_accuracy(self) -> float:
        """The Vanilla model's clean accuracy, once: every attack's accuracy drop is measured from it."""
        return accuracy(Run(self.runs / "vanilla").load_model(self.device), self.eval_data, self.device)

    def train(self, name: str, objective: str, trigger_size: int | None = None):
        def go() -> TrainedRun:
            s = self.settings
            extra = {"evil_twins": s.evil_twins} if objective in FROM_VANILLA and s.evil_twins else {}
            if trigger_size is not None:
                extra["trigger_size"] = trigger_size
            init = str(self.runs / "vanilla") if objective in FROM_VANILLA else None
            cfg = make_config(self.spec.name, objective, preset=self.rp.train, init=init, seed=self.runtime.seed,
                              **{**s.train_overrides, **extra})
            r = fit(cfg, self.runs / name, device=self.runtime.device, data_dir=self.runtime.data_dir,
                    resume=not s.force, force=s.force, progress=self.runtime.progress)
            return TrainedRun(run=str(r.path), config=r.config.to_json())
        return go

    def scan(self, name: str, attack: str, defenses: tuple[str, ...] | None = None):
        settings = self.scan_settings if defenses is None else replace(self.scan_settings, defenses=defenses)
        return lambda: scan_row(self.runs / name, attack, self.eval_data, self.test, settings, self.clean_accuracy,
                                self.device, self.runtime)

    def stages(self) -> list[Stage]:
        extra = [s for s in self.sizes if s != self.default_size]
        return [Stage("train_vanilla", self.train("vanilla", "vanilla"), TrainedRun),
                *(Stage(f"train_{a}", self.train(a, a), TrainedRun) for a in ATTACKS),
                *(Stage(f"scan_{a}", self.scan(a, a), MatrixRow) for a in ATTACKS),
                *(Stage(f"train_{a}_s{s}", self.train(f"{a}_s{s}", a, s), TrainedRun)
                  for s in extra for a in figure15.ATTACKS),
                *(Stage(f"fig15_{a}_s{s}", self.scan(f"{a}_s{s}", a, figure15.DEFENSES), MatrixRow)
                  for s in extra for a in figure15.ATTACKS)]


def attack_matrix(settings: MatrixSettings = MatrixSettings(), runtime: Runtime = Runtime()) -> Path:
    """Train the attacks, scan each with every defense; returns the folder with matrix.json/.csv/.html."""
    job = Matrix(settings, runtime)
    job.check()
    configure_threads()
    records = run_stages(job.root, job.stages(), force=settings.force, progress=runtime.progress)
    rows = [records[f"scan_{a}"].result for a in ATTACKS]
    fig15 = None
    if job.sweep:  # Evil Twins Figure 15's analogue
        by_size = {a: {s: (records[f"fig15_{a}_s{s}"].result if s != job.default_size
                           else next(r for r in rows if r.attack == a)) for s in job.sizes} for a in figure15.ATTACKS}
        fig15 = figure15.collect(by_size, job.sizes, job.default_size)
        figure15.plot(fig15, job.root)
    result = MatrixResult(schema=MATRIX_SCHEMA, arrays=arrays_name("matrix.json"), dataset=job.spec.name,
                          preset=settings.preset, examples=len(job.eval_data), defenses=list(job.names), attacks=rows,
                          figure15=fig15)
    write_result(job.root / "matrix.json", result)
    write_table(result, job.root)
    if runtime.progress:
        print(f"matrix: {job.root / 'matrix.html'}", flush=True)
    return job.root


def scan_row(run_path: Path, attack: str, eval_data, test, settings, clean_accuracy: float, dev,
             runtime: Runtime) -> MatrixRow:
    """One row of the matrix: the attack's clean accuracy, its drop from Vanilla, its success rate,
    and every defense of ``settings`` on what its attacker sends (:meth:`RunConfig.attacker_input`:
    poisoning attacks, the trigger alone at training intensity; TrojanNN*, the trigger then a
    perturbation towards the target; the ATIM, AdvTrojan examples at test intensity)."""
    run = Run(run_path)
    cfg, trigger = run.config, run.trigger()
    with torch.random.fork_rng(devices=[]):  # loading draws nothing from the seeded stream below
        model = run.load_model(dev)
    attacker = cfg.attacker_input()
    torch.manual_seed(runtime.seed)
    acc = evaluate_model(model, eval_data, trigger, cfg.budget, attacker.intensity,
                         EvalSettings(certify=False, methods=("madry",)), attacker=attacker, device=dev,
                         progress=False)
    torch.manual_seed(runtime.seed)
    res = scan_model(model, test, trigger, cfg.budget, attacker, settings, runtime)
    poisoning = attacker.target is not None
    return MatrixRow(attack=attack, clean_accuracy=acc["benign"], accuracy_drop=clean_accuracy - acc["benign"],
                     attack_success_rate=acc["attack_success_rate"] if poisoning else 1 - acc["advtrojan"],
                     attacked_inputs=res.attacked, trigger_size=cfg.trigger_size, scan=res,
                     trigger_success_rate=acc.success.get("trigger_success_rate"),
                     perturbation_success_rate=acc.success.get("perturbation_success_rate"))


def cell(res: DefenseResult) -> str:
    if res.detected is None:
        return res.verdict
    return ("detected: " if res.detected else "missed: ") + res.verdict


def write_table(result: MatrixResult, root: Path) -> None:
    """matrix.csv and matrix.html (Jinja2: report/templates/matrix.html.j2)."""
    from ..report.build import TEMPLATES

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["attack", "clean_accuracy", "accuracy_drop", "attack_success_rate", *result.defenses])
    for r in result.attacks:
        w.writerow([r.attack, f"{r.clean_accuracy:.4f}", f"{r.accuracy_drop:.4f}", f"{r.attack_success_rate:.4f}",
                    *(cell(r.scan[d]) for d in result.defenses)])
    with atomic_path(root / "matrix.csv") as tmp:
        tmp.write_text(buf.getvalue())
    with atomic_path(root / "matrix.html") as tmp:
        tmp.write_text(TEMPLATES.get_template("matrix.html.j2").render(m=result, cell=cell))
