"""Staged experiments: a declared list of named stages, run once each, resumable.

``reproduce`` and ``matrix`` are each a list of :class:`Stage` (a name, a weight for the time-left
estimate, a function, the type of its result). :func:`run_stages` runs them in order: a stage whose
file ``ROOT/stages/NAME.json`` exists is read back instead of run (unless ``force``), so an
interrupted experiment picks up where it stopped; a damaged stage file is an error naming it, never
silently redone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import AdvTrojanError
from ..results import ResultsError, arrays_name, from_json, read_json, write_result
from ..utils.io import check_writable


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[], Any]  # returns an instance of ``result``
    result: type             # a results dataclass (:mod:`advtrojan.results`)
    weight: float = 1.0      # its rough cost relative to the others, for the time-left estimate


@dataclass(frozen=True)
class StageRecord:
    """A finished stage's file: its result, how long it took, whether it only reused earlier work."""

    seconds: float
    reused: bool
    result: Any = field(default=None)


@dataclass(frozen=True)
class TrainedRun:
    """A training stage's result: the run folder and its configuration."""

    run: str
    config: dict
    reused: bool = False


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, flush=True)


def _fmt(s: float) -> str:
    return f"{s / 60:.1f} min" if s >= 90 else f"{s:.0f} s"


def run_stages(root: Path, stages: list[Stage], *, force: bool = False, progress: bool = True) -> dict[str, StageRecord]:
    """Run (or read back) every stage in order; returns each stage's record by name. ``stages`` may
    grow while it runs (a stage may append the ones that depend on its result)."""
    folder = Path(root) / "stages"
    check_writable(folder, "stages", folder=True)
    records: dict[str, StageRecord] = {}
    done_weight, spent = 0.0, 0.0
    i = 0
    while i < len(stages):
        stage = stages[i]
        i += 1
        head = f"[{i}/{len(stages)}] {stage.name}"
        path = folder / f"{stage.name}.json"
        if path.is_file() and not force:
            records[stage.name] = read_stage(path, stage.result)
            _say(progress, f"{head}: done earlier, reused")
            continue
        left = sum(s.weight for s in stages[i - 1:])
        eta = f", about {_fmt(spent / done_weight * left)} left" if done_weight and spent else ""
        _say(progress, f"{head}{eta}")
        t = time.perf_counter()
        result = stage.run()
        seconds = time.perf_counter() - t
        reused = bool(getattr(result, "reused", False))
        records[stage.name] = StageRecord(seconds, reused, result)
        write_result(path, records[stage.name])
        if not reused:  # only measured work predicts the time left
            spent += seconds
            done_weight += stage.weight
        _say(progress, f"{head}: {_fmt(seconds)}")
    return records


def read_stage(path: Path, result: type) -> StageRecord:
    """A finished stage's record; a damaged one is an error naming the file."""
    from ..models.weights import read_weights
    try:
        data = read_json(path)
        if not isinstance(data, dict):
            raise ResultsError(f"{path}: not a JSON object")
        beside = path.parent / arrays_name(path.name)
        arrays = read_weights(beside)[0] if beside.is_file() else None
        record = from_json(StageRecord, {**data, "result": None}, str(path))
        return StageRecord(record.seconds, record.reused, from_json(result, data.get("result"), str(path), arrays))
    except (ResultsError, AdvTrojanError) as exc:
        raise AdvTrojanError(f"damaged stage record: {exc}; delete it to run the stage again") from None


def scan_settings(rp, defenses):
    """The scan of a staged experiment at its preset's sizes (``ReproducePreset``): the pool, Neural
    Cleanse's and adaptive Neural Cleanse's inputs, epochs and precision, certification's inputs, the
    robustness-collapse search's inputs, epochs and precision."""
    from ..defenses.adaptive import AdaptiveNCSettings
    from ..defenses.certify import CertifiedSettings
    from ..defenses.collapse import CollapseSettings
    from ..defenses.neural_cleanse import NCSettings
    from ..defenses.scan import ScanSettings
    return ScanSettings(defenses=tuple(defenses), pool=rp.pool).with_options(
        NCSettings(images=rp.nc_images, epochs=rp.nc_epochs, precision=rp.defense_precision),
        AdaptiveNCSettings(images=rp.anc_images, epochs=rp.anc_epochs, precision=rp.defense_precision),
        CertifiedSettings(images=rp.certify_images),
        CollapseSettings(images=rp.collapse_images, precision=rp.defense_precision,
                         **({"epochs": rp.collapse_epochs} if rp.collapse_epochs else {})))
