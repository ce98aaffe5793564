"""``advtrojan zoo train``: every model of a population, each an ordinary run folder.

``OUT/zoo.json`` is the population (the spec and every model's draws: :func:`advtrojan.zoo.spec.plan`),
the same in every process; ``OUT/models/<id>/`` are the run folders. A model whose run folder is
finished is kept, an unfinished one resumes, so a killed population resumes to the same result.
``workers`` trains that many groups (an architecture and a seed) at once, in processes of their
own; ``shard`` trains one share of the groups, for a cluster's job array: shares write disjoint
run folders into one OUT and need no coordinator. A killed command (SIGTERM: a scheduler's time
limit) ends its workers with it (:func:`advtrojan.utils.pool.parallel_map`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from ..errors import ConfigError
from ..utils.io import write_json
from ..utils.pool import parallel_map
from .spec import ModelEntry, plan, read_spec, shard_of

MANIFEST = "zoo.json"
SCHEMA = "advtrojan.zoo/1"


def manifest(spec: dict, entries: list[ModelEntry]) -> dict:
    return {"schema": SCHEMA, "spec": spec, "models": [asdict(e) for e in entries]}


def write_manifest(out: Path, spec: dict, entries: list[ModelEntry]) -> None:
    """``OUT/zoo.json``; a folder that already holds another population is refused."""
    data = manifest(spec, entries)
    path = out / MANIFEST
    if path.is_file():
        old = json.loads(path.read_text())
        if old != json.loads(json.dumps(data)):
            raise ConfigError(f"{out} holds another population (its {MANIFEST} differs from this spec's); choose "
                              f"another --out")
        return
    write_json(path, data)


def read_manifest(out: Path) -> tuple[dict, list[ModelEntry]]:
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise ConfigError(f"{out}: not a population folder (no {MANIFEST}: run `advtrojan zoo train` first)")
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ConfigError(f"{path}: not a population of schema {SCHEMA}")
    return data["spec"], [ModelEntry(**m) for m in data["models"]]


def config_of(entry: ModelEntry, out: Path):
    """The run config of ``entry`` (its init resolved to the run folder of the model it starts from)."""
    from ..training import make_config
    init = str(out / "models" / entry.init) if entry.init else None
    return make_config(entry.dataset, entry.objective, preset=entry.preset, init=init, seed=entry.seed,
                       model=entry.arch, trigger_spec=entry.trigger, **entry.options)


def train_group(out: str, ids: list[str], threads: int, progress: bool) -> list[str]:
    """Train (or resume, or keep) the models ``ids`` of one group, in order: a worker's task."""
    import torch
    from ..training import fit
    if threads:
        torch.set_num_threads(threads)
    out = Path(out)
    spec, entries = read_manifest(out)
    by_id = {e.id: e for e in entries}
    for mid in ids:
        e = by_id[mid]
        fit(config_of(e, out), out / "models" / mid, data_dir=e.data_dir, resume=True, progress=progress)
    return ids


def train_population(spec_path, out, *, workers: int = 1, shard: tuple[int, int] = (0, 1),
                     progress: bool = True) -> list[ModelEntry]:
    """Train this process's share of the population of ``spec_path`` into ``out``; returns its models."""
    spec = read_spec(spec_path)
    entries = plan(spec)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, spec, entries)
    for e in entries:  # every model's settings checked before any training
        config_of(e, out)
    mine = shard_of(entries, shard)
    groups: dict = {}
    for e in mine:
        groups.setdefault(e.group, []).append(e.id)
    if workers <= 1:
        for ids in groups.values():
            train_group(str(out), ids, 0, progress)
        return mine
    threads = max(1, (os.cpu_count() or 1) // workers)
    for done in parallel_map(train_group, [(str(out), ids, threads, False) for ids in groups.values()], workers):
        if progress:
            print(f"trained {', '.join(done)}", flush=True)
    return mine
