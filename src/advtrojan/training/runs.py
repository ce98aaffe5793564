"""Run folders: everything needed to rebuild, resume and evaluate a training run (the schema of
``config.json`` is :class:`~advtrojan.training.config.RunConfig`).

``RUN/config.json``         what was run: dataset, model, objective, trigger, budget, preset,
                            seed, precision, versions
``RUN/metrics.jsonl``       one line per finished epoch
``RUN/checkpoint.safetensors``  model + optimiser after the last finished epoch (resume point)
``RUN/model.safetensors``   final weights, written when the run finishes
``RUN/state.json``          ``{"status": "running" | "finished", "epoch": N}``
``RUN/trigger.safetensors`` the trigger (mask, pattern) it trained with: drawn from its spec, or
                            learned by an Evil Twins objective
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import torch

from ..attacks.trigger import Trigger
from ..errors import AdvTrojanError, ConfigError
from ..models.weights import load_into, read_weights
from ..utils.io import write_json
from .config import RunConfig

CONFIG, METRICS, CHECKPOINT, WEIGHTS, STATE, TRIGGER, BEST = (
    "config.json", "metrics.jsonl", "checkpoint.safetensors", "model.safetensors", "state.json",
    "trigger.safetensors", "best.safetensors")


class Run:
    """A run folder on disk."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def exists(self) -> bool:
        return (self.path / CONFIG).is_file()

    @property
    def config(self) -> RunConfig:
        cfg_path = self.path / CONFIG
        if not cfg_path.is_file():
            raise AdvTrojanError(f"{self.path}: not a run folder (no {CONFIG})")
        try:
            values = json.loads(cfg_path.read_text())
            if not isinstance(values, dict):
                raise TypeError("not a JSON object")
            return RunConfig.from_json(values, str(cfg_path))
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, RecursionError) as exc:
            raise AdvTrojanError(f"{cfg_path}: unreadable run configuration ({type(exc).__name__}: {exc})") from None

    def state(self) -> dict:
        """``{"status": "new" | "running" | "finished", "epoch": N}``; a damaged file is an error."""
        p = self.path / STATE
        if not p.is_file():
            return {"status": "new", "epoch": 0}
        try:
            state = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise AdvTrojanError(f"{p}: damaged run state ({exc}); the run folder was changed by something other "
                                 f"than advtrojan") from None
        if (not isinstance(state, dict) or state.get("status") not in ("running", "finished")
                or not isinstance(state.get("epoch"), int) or isinstance(state.get("epoch"), bool)
                or state["epoch"] < 0):
            raise AdvTrojanError(f"{p}: damaged run state {state!r} (expected {{\"status\": \"running\" or "
                                 f"\"finished\", \"epoch\": N}})")
        return state

    @property
    def finished(self) -> bool:
        return self.state().get("status") == "finished"

    def write_config(self, config: RunConfig) -> None:
        write_json(self.path / CONFIG, config.to_json())

    def set_state(self, status: str, epoch: int) -> None:
        write_json(self.path / STATE, {"status": status, "epoch": epoch})

    def metrics(self, drop_torn: bool = False) -> list[dict]:
        """One record per finished epoch. A line that is not a JSON object with an ``epoch`` is an
        error naming the line, except, with ``drop_torn``, a torn last line (a resumed run
        rewrites that epoch anyway)."""
        p = self.path / METRICS
        if not p.is_file():
            return []
        lines = [line for line in p.read_text(errors="replace").splitlines() if line.strip()]
        records = []
        for i, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get("epoch"), int):
                    raise ValueError("not an epoch record")
            except ValueError as exc:
                if drop_torn and i == len(lines):
                    break
                raise AdvTrojanError(f"{p}, line {i}: damaged metrics record ({exc})") from None
            records.append(record)
        return records

    def trigger(self) -> Trigger:
        """The trigger this run trained with: ``trigger.safetensors`` (learned by an Evil Twins
        objective, or drawn from the run's trigger spec), else, for runs of earlier versions, the one
        its config builds."""
        path = self.path / TRIGGER
        if not path.is_file():
            return self.config.trigger()
        tensors, _ = read_weights(path)
        return Trigger.checked(tensors.get("mask"), tensors.get("pattern"), self.config.spec.shape, str(path))

    def load_model(self, device: torch.device | str = "cpu") -> torch.nn.Module:
        """The finished run's model, in eval mode."""
        if not self.exists():
            raise AdvTrojanError(f"{self.path}: not a run folder (no {CONFIG}); give a run folder made by "
                                 f"`advtrojan train` or a .safetensors weights file")
        if not self.finished:
            raise AdvTrojanError(f"{self.path}: the run has not finished (resume it with `advtrojan train "
                                 f"--resume --out {self.path}`)")
        config = self.config
        tensors, _ = read_weights(self.path / WEIGHTS)
        model = load_into(config.build_model(), tensors, str(self.path / WEIGHTS), config.model)
        return model.to(device).eval()


LOCK = ".lock"


@contextmanager
def run_lock(path: Path):
    """Hold ``RUN/.lock`` (our pid) while training: a second writer is refused with the holder's
    pid; a lock left by a dead process is taken over, and the temporary files (``.*.part``) an
    interrupted write left behind are removed, since no one else is writing."""
    path.mkdir(parents=True, exist_ok=True)
    lock = path / LOCK
    for attempt in (1, 2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _alive(pid):
                raise ConfigError(f"{path}: another advtrojan process (pid {pid}) is writing this run; wait for it "
                                  f"or stop it") from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            if attempt == 2:
                raise ConfigError(f"{path}: cannot take the run's lock ({lock})") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(str(os.getpid()))
    for stale in path.glob(".*.part"):
        stale.unlink(missing_ok=True)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a killed process not yet reaped, a zombie, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True  # no /proc (macOS): trust the signal check
    return "\nState:\tZ" not in status and "\nState:\tX" not in status


def changed_data(old: dict, new: dict) -> str:
    """Which split's data files differ (by SHA-256) between two ``RunConfig.data`` records; ''
    when they agree or either side was not recorded (data given in memory)."""
    for split in sorted(set(old) & set(new)):
        a = sorted(f.get("sha256", "") for f in old[split])
        b = sorted(f.get("sha256", "") for f in new[split])
        if a and b and a != b:
            return f"{split}: {', '.join(f['path'] for f in old[split])} then, {', '.join(f['path'] for f in new[split])} now"
    return ""


def prepare_run_dir(path: Path, config: RunConfig, resume: bool, force: bool) -> tuple[Run, int]:
    """Check what ``path`` holds and return the run and the epoch to start from.

    A finished run is never overwritten without ``force``; an unfinished one continues only
    with ``resume`` (and only with the same configuration).
    """
    run = Run(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path}: is a file, not a run folder")
    if run.exists() and not force:
        state = run.state()
        if state["status"] == "finished" and not resume:
            raise ConfigError(f"{path} already holds a finished run; choose another --out, or pass --force "
                              f"to train it again from scratch")
        if not resume:
            raise ConfigError(f"{path} holds an unfinished run (epoch {state['epoch']}); pass --resume to "
                              f"continue it or --force to start over")
        done = run.config.epochs
        if state["status"] == "finished" and config.epochs != done:
            raise ConfigError(f"--resume: {path} finished after {done} epochs; it cannot be extended to "
                              f"{config.epochs} (its optimiser state is gone): start a new run from it with "
                              f"--init {path}, or retrain with --force")
        if config.epochs != done:  # the learning-rate schedule and config.json depend on it
            raise ConfigError(f"--resume: {path} was started for {done} epochs ({state['epoch']} done); resume it "
                              f"with --epochs {done}, or start over with --force")
        old = run.config.to_json()
        new = config.to_json()
        for cfg in (old, new):  # the same --init given as a relative or an absolute path
            cfg["init"] = cfg["init"] and str(Path(cfg["init"]).resolve())
        diff = [k for k in new if k not in ("versions", "epochs", "world_size", "data") and old.get(k) != new.get(k)]
        if diff:
            raise ConfigError(f"--resume: {path} was trained with other settings ({', '.join(diff)}); "
                              f"resume with the same options or choose another --out")
        changed = changed_data(old.get("data") or {}, new.get("data") or {})
        if changed:
            raise ConfigError(f"--resume: {path} was trained on other data files ({changed}); resume with the same "
                              f"files (--data-dir) or choose another --out")
        return run, state["epoch"]
    if force and path.exists():
        for name in (CONFIG, METRICS, CHECKPOINT, WEIGHTS, STATE, TRIGGER, BEST):
            (path / name).unlink(missing_ok=True)
    path.mkdir(parents=True, exist_ok=True)
    run.write_config(config)
    run.set_state("running", 0)
    return run, 0
