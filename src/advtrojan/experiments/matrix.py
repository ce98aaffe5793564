"""``advtrojan matrix``: the attack x defense matrix that sets AdvTrojan beside the Evil Twins family.

Trains a Vanilla model, then BadNets, TrojanNN, TrojanNN* and IMC (the last three retraining the
Vanilla model, as their authors do) and an ATIM (AdvTrojan from scratch, Algorithm 1 line 1), and
runs every registered defense on each (:mod:`advtrojan.defenses.registry`): the attacked inputs are
the trigger alone for the poisoning attacks (at training intensity) and AdvTrojan examples A(x + t)
for the ATIM. Each attack's clean accuracy, its accuracy drop from the Vanilla model and its
attack success rate (non-target inputs sent to the target; for the ATIM, AdvTrojan examples
misclassified) are measured on the same test images. Stages are resumable, as in ``reproduce``.

Writes ``OUT/matrix.json``, ``OUT/matrix.csv`` and ``OUT/matrix.html`` (attacks as rows, defenses
as columns, each cell coloured detected / missed).
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, replace
from pathlib import Path

import torch

from .. import presets
from ..data import get_spec, load_dataset
from ..attacks.threats import Threat
from ..defenses.adaptive import AdaptiveNCSettings
from ..defenses.neural_cleanse import NCSettings
from ..defenses.scan import ScanSettings, all_defenses, scan_model
from ..errors import ConfigError
from ..evaluation.table5 import EvalSettings, evaluate_model
from ..training import fit, make_config
from ..training.loop import accuracy
from ..training.runs import Run
from ..utils.device import configure_threads, resolve_device
from ..utils.io import atomic_path, check_writable, write_json
from . import figure15
from .reproduce import Stages

ATTACKS = ("badnets", "trojannn", "trojannn-star", "imc", "advtrojan")
FROM_VANILLA = ("trojannn", "trojannn-star", "imc")
SCHEMA = "advtrojan.matrix/1"


def attack_matrix(dataset: str = "fmnist", preset: str = "quick", out=None, *, sizes=None, train_overrides=None,
                  evil_twins: dict | None = None, defenses=None, data_dir=None, device: str = "auto", seed: int = 0,
                  progress: bool = True, force: bool = False) -> Path:
    """Train the attacks, scan each with every defense; returns the folder with matrix.json/.csv/.html."""
    spec = get_spec(dataset)
    if preset not in presets.REPRODUCE:
        raise ConfigError(f"unknown preset {preset!r}: choose one of {', '.join(presets.REPRODUCE)}")
    rp = sizes or presets.REPRODUCE[preset]
    names = tuple(defenses) if defenses is not None else all_defenses()
    settings = ScanSettings(defenses=names, pool=rp.pool, nc_images=rp.nc_images or 10 ** 9,
                            anc_images=rp.anc_images, certify_images=rp.certify_images,
                            nc=NCSettings(epochs=rp.nc_epochs, precision=rp.defense_precision),
                            anc=AdaptiveNCSettings(epochs=rp.anc_epochs, precision=rp.defense_precision))
    settings.validate()  # before any training
    root = Path(out or f"results/{spec.name}-{preset}-matrix")
    check_writable(root, "--out", folder=True)
    runs = root / "runs"
    configure_threads()
    dev = resolve_device(device)
    stage_names = ["train_vanilla", *(f"train_{a}" for a in ATTACKS), *(f"scan_{a}" for a in ATTACKS)]
    default_size = (train_overrides or {}).get("trigger_size") or presets.trigger_size(spec)
    sweep = rp.figure15_scales and {"strip", "e_strip"} <= set(names)
    sizes = figure15.sizes_for(default_size, rp.figure15_scales, spec.size) if sweep else []
    stage_names += figure15.stage_names(sizes, default_size)
    st = Stages(root, force, stage_names, progress)
    overrides = dict(train_overrides or {})

    def train(name: str, objective: str, init: str | None = None, trigger_size: int | None = None):
        def go():
            extra = {"evil_twins": evil_twins} if objective in FROM_VANILLA and evil_twins else {}
            if trigger_size is not None:
                extra["trigger_size"] = trigger_size
            cfg = make_config(spec.name, objective, preset=rp.train, init=init, seed=seed, **{**overrides, **extra})
            r = fit(cfg, runs / name, device=device, data_dir=data_dir, resume=not force, force=force,
                    progress=progress)
            return {"run": str(r.path), "config": asdict(r.config)}
        return go

    st.run("train_vanilla", train("vanilla", "vanilla"))
    for a in ATTACKS:
        st.run(f"train_{a}", train(a, a, init=str(runs / "vanilla") if a in FROM_VANILLA else None))
    test = load_dataset(spec.name, "test", data_dir=data_dir)
    eval_data = test.balanced_subset(rp.eval_limit, seed=seed)
    # the Vanilla model's clean accuracy, once: every attack's accuracy drop is measured from it
    clean_accuracy = accuracy(Run(runs / "vanilla").load_model(dev), eval_data, dev)

    def scan(a: str):
        return lambda: scan_row(runs / a, a, eval_data, test, settings, clean_accuracy, dev, seed, progress)

    rows = [st.run(f"scan_{a}", scan(a)) for a in ATTACKS]
    result = {"schema": SCHEMA, "dataset": spec.name, "preset": preset, "examples": len(eval_data),
              "defenses": list(names), "attacks": rows}
    if sweep:  # Evil Twins Figure 15's analogue
        only_strip = replace(settings, defenses=figure15.DEFENSES)

        def sized_train(name, objective, size):
            return train(name, objective, init=str(runs / "vanilla") if objective in FROM_VANILLA else None,
                         trigger_size=size)

        def sized_scan(name, objective):
            return lambda: scan_row(runs / name, objective, eval_data, test, only_strip, clean_accuracy, dev, seed,
                                    progress)
        result["figure15"] = figure15.figure15(st, rows, sizes, default_size, sized_train, sized_scan, root)
    write_json(root / "matrix.json", result)
    write_table(result, root)
    st._say(f"matrix: {root / 'matrix.html'}")
    return root


def scan_row(run_path: Path, attack: str, eval_data, test, settings: ScanSettings, clean_accuracy: float, dev,
             seed: int, progress: bool) -> dict:
    """One row of the matrix: the attack's clean accuracy, its drop from Vanilla, its success rate,
    and every defense of ``settings`` on what its attacker sends (:meth:`RunConfig.attacker_input`:
    poisoning attacks, the trigger alone at training intensity; TrojanNN*, the trigger then a
    perturbation towards the target; the ATIM, AdvTrojan examples at test intensity)."""
    run = Run(run_path)
    cfg, model, trigger = run.config, run.load_model(dev), run.trigger()
    attacker = cfg.attacker_input()
    ev = EvalSettings(eps=cfg.eps, step_size=cfg.step_size, steps=cfg.steps, norm=cfg.norm,
                      intensity=attacker.intensity, certify=False, methods=("madry",))
    torch.manual_seed(seed)
    acc = evaluate_model(model, eval_data, trigger, ev, attacker=attacker, device=dev, progress=False)
    torch.manual_seed(seed)
    targeted = attacker.kind is Threat.TARGETED  # TrojanNN*: its own perturbation; the defenses keep the run's budget
    res = scan_model(model, test, trigger, cfg.attack(), attacker.intensity, settings=settings,
                     attacked_kind=attacker.kind, target=attacker.target,
                     perturbation=attacker.attack if targeted else None, device=dev, progress=progress, seed=seed)
    res.pop("figures", None)
    poisoning = attacker.target is not None
    success = acc["attack_success_rate"] if poisoning else 1 - acc["advtrojan"]
    extra = {k: acc[k] for k in ("trigger_success_rate", "perturbation_success_rate") if k in acc}
    return {"attack": attack, "clean_accuracy": acc["benign"], "accuracy_drop": clean_accuracy - acc["benign"],
            "attack_success_rate": success, **extra, "attacked_inputs": res.pop("budget")["attacked"],
            "trigger_size": cfg.trigger_size, "defenses": res}


def cell(res: dict) -> str:
    if res.get("detected") is None:
        return res.get("verdict", "")
    return ("detected: " if res["detected"] else "missed: ") + res.get("verdict", "")


def write_table(result: dict, root: Path) -> None:
    """matrix.csv and matrix.html (Jinja2: report/templates/matrix.html.j2)."""
    from ..report.build import TEMPLATES

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["attack", "clean_accuracy", "accuracy_drop", "attack_success_rate", *result["defenses"]])
    for r in result["attacks"]:
        w.writerow([r["attack"], f"{r['clean_accuracy']:.4f}", f"{r['accuracy_drop']:.4f}",
                    f"{r['attack_success_rate']:.4f}", *(cell(r["defenses"][d]) for d in result["defenses"])])
    with atomic_path(root / "matrix.csv") as tmp:
        tmp.write_text(buf.getvalue())
    with atomic_path(root / "matrix.html") as tmp:
        tmp.write_text(TEMPLATES.get_template("matrix.html.j2").render(m=result))
