"""``advtrojan zoo scan``: every defense on every model of a population, then its statistics.

Each model is evaluated (Table 5's rows, with Table 1's budget, on a class-balanced test subset) and
scanned (:func:`advtrojan.defenses.scan.scan_model`, on what its attacker sends) into
``OUT/scans/<id>.json``; a model already scanned is kept, so a killed scan resumes. ``workers`` and
``shard`` share the models out as ``zoo train`` does. Once every model is scanned (by this process
or by the shares before it), ``OUT/population.json`` (:class:`~advtrojan.zoo.population.Population`)
and ``OUT/population.html`` are written: the same file whichever process writes it.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from .. import presets
from ..codec import from_json
from ..defenses.scan import ScanSettings
from ..results import arrays_name, read_json, write_result
from ..runtime import Runtime
from ..utils.pool import parallel_map
from .population import ModelScan, Population, population
from .spec import ModelEntry, shard_of
from .train import read_manifest

SCANS = "scans"


def scan_one(out: str, entry: ModelEntry, settings: ScanSettings, runtime: Runtime, eval_limit: int | None,
             threads: int = 0) -> str:
    """Evaluate and scan one model into ``OUT/scans/<id>.json``: a worker's task."""
    import torch

    from ..data import load_dataset
    from ..defenses.scan import scan_model
    from ..evaluation.table5 import EvalSettings, evaluate_model
    from ..training.runs import Run
    from ..utils.device import resolve_device
    if threads:
        torch.set_num_threads(threads)
    path = Path(out) / SCANS / f"{entry.id}.json"
    if path.is_file():
        return entry.id
    dev = resolve_device(runtime.device)
    run = Run(Path(out) / "models" / entry.id)
    cfg, trigger = run.config, run.trigger()
    with torch.random.fork_rng(devices=[]):
        model = run.load_model(dev)
    test = load_dataset(cfg.dataset, "test", data_dir=entry.data_dir or runtime.data_dir)
    attacker = cfg.attacker_input()
    torch.manual_seed(runtime.seed)
    evaluation = evaluate_model(model, test.balanced_subset(eval_limit, seed=runtime.seed), trigger, cfg.budget,
                                cfg.test_intensity, EvalSettings(certify=False, methods=("madry",)),
                                attacker=attacker if attacker.target is not None else None, device=dev,
                                progress=False)
    torch.manual_seed(runtime.seed)
    scan = scan_model(model, test, trigger, cfg.budget, attacker, settings, replace(runtime, progress=False))
    write_result(path, ModelScan(entry.id, evaluation, scan))
    return entry.id


def read_scan(path: Path) -> ModelScan:
    from ..models.weights import read_weights
    beside = path.parent / arrays_name(path.name)
    return from_json(ModelScan, read_json(path), str(path), read_weights(beside)[0] if beside.is_file() else None)


def zoo_settings(defenses=None) -> ScanSettings:
    """A population's scan: the quick preset's sizes (``presets.ZOO``), every registered defense."""
    from ..defenses.scan import all_defenses
    from ..experiments.stages import scan_settings
    return scan_settings(presets.ZOO, defenses or all_defenses())


def scan_population(out, settings: ScanSettings | None = None, runtime: Runtime = Runtime(), *, workers: int = 1,
                    shard: tuple[int, int] = (0, 1), eval_limit: int | None = None) -> Population | None:
    """Scan this process's share of the population in ``out``; the population's statistics once
    every model is scanned (else None)."""
    out = Path(out)
    spec, entries = read_manifest(out)
    settings = (settings or zoo_settings()).validate()
    eval_limit = eval_limit if eval_limit is not None else presets.ZOO.eval_limit
    (out / SCANS).mkdir(parents=True, exist_ok=True)
    missing = [e for e in shard_of(entries, shard) if not (out / SCANS / f"{e.id}.json").is_file()]
    if workers <= 1:
        for e in missing:
            scan_one(str(out), e, settings, runtime, eval_limit)
            if runtime.progress:
                print(f"scanned {e.id}", flush=True)
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        for mid in parallel_map(scan_one, [(str(out), e, settings, runtime, eval_limit, threads) for e in missing],
                                workers):
            if runtime.progress:
                print(f"scanned {mid}", flush=True)
    if not all((out / SCANS / f"{e.id}.json").is_file() for e in entries):
        return None  # other shares are still to come
    scans = {e.id: read_scan(out / SCANS / f"{e.id}.json") for e in entries}
    result = population(spec["dataset"], entries, scans, list(settings.defenses), arrays_name("population.json"))
    write_result(out / "population.json", result)
    from .report import write_report
    write_report(result, out)
    return result
