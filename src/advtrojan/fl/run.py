"""``advtrojan fl run``: a federated AdvTrojan run on Flower's simulation or deployment engine,
offline (Flower's telemetry off; Ray's usage statistics and dashboard off), every process it starts
ended by its id."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

from ..codec import to_json
from ..errors import ConfigError
from ..utils.io import check_writable, write_json
from .settings import FLSettings

OFFLINE = {"FLWR_TELEMETRY_ENABLED": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
           "RAY_DEDUP_LOGS": "0", "FLWR_LOG_LEVEL": "WARNING"}


def offline() -> None:
    """Nothing phones home: Flower's telemetry and Ray's usage statistics switched off."""
    os.environ.update(OFFLINE)


def rounds(out: str | Path) -> list[dict]:
    """The run's per-round lines (``rounds.jsonl``)."""
    from .apps import ROUNDS
    path = Path(out) / ROUNDS
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def run_federated(settings: FLSettings, out: str | Path, *, force: bool = False, verbose: bool = False,
                  superlink: str | None = None) -> Path:
    """Run ``settings`` into the folder ``out`` (``fl.json``: the settings; ``rounds.jsonl``: one
    line per round; ``rounds.png``/``.svg``: its curves; ``global.safetensors``: the final global model). Returns ``out``. Under the
    deployment engine, ``superlink`` (HOST:PORT) is a SuperLink the user started; without it a
    SuperLink and one SuperNode per client are started on this machine and ended after the run."""
    from .apps import ROUNDS
    settings = settings.validate()
    if settings.init is not None:  # every process of the federation reads it, wherever it runs from
        settings = replace(settings, init=str(Path(settings.init).expanduser().resolve()))
    try:
        import flwr  # noqa: F401
    except ImportError:
        raise ConfigError("federated runs need Flower: pip install 'advtrojan[fl]'") from None
    if superlink is not None and settings.engine != "deployment":
        raise ConfigError("--superlink is an address for --engine deployment")
    if superlink is not None and not re.fullmatch(r"[\w.\-\[\]:]+:\d+", superlink):
        raise ConfigError(f"--superlink {superlink!r}: expected HOST:PORT")
    check_writable(out, "--out", folder=True)
    out = Path(out).expanduser().resolve()
    if (out / ROUNDS).exists() and not force:
        raise ConfigError(f"--out {out} holds a federated run already; choose another folder or --force")
    _check_data(settings)
    out.mkdir(parents=True, exist_ok=True)
    (out / ROUNDS).unlink(missing_ok=True)
    write_json(out / "fl.json", to_json(settings))
    offline()
    if settings.engine == "deployment":
        from .deploy import deploy
        deploy(settings, out, superlink)
    else:
        simulate(settings, out, verbose)
    from ..plots import rounds_figure
    rounds_figure(rounds(out), settings.window() if settings.attackers else None, out / "rounds",
                  f"{settings.aggregator}, {settings.attackers} of {settings.clients} clients attacking "
                  f"(boost {settings.boost:g})")
    return out


def _check_data(s: FLSettings) -> None:
    """The data and the split, before any process starts: one clear error."""
    from ..data import load_dataset
    from .apps import local_config
    from .partition import split
    train = load_dataset(s.dataset, "train", limit=s.limit, seed=s.seed)
    split(train.labels, s.clients, s.split, s.seed)
    local_config(s, s.attack_objective, 0, 1)  # the recipe, the trigger and the model, checked
    cfg, _ = local_config(s, s.local_objective, 0, 1)
    if s.init is not None:  # the initial global model: its file read and checked against the model
        from ..training.loop import init_model
        init_model(replace(cfg, init=s.init), "cpu")


def simulate(s: FLSettings, out: Path, verbose: bool) -> None:
    """Flower's simulation engine: the ServerApp in this process, each ClientApp in a Ray actor of
    one CPU; Ray is started for the run and shut down after it."""
    import logging

    from flwr.simulation import run_simulation

    from .apps import make_client_app, make_server_app
    logging.getLogger("flwr").setLevel(logging.INFO if verbose else logging.WARNING)
    cpus = max(1, min(os.cpu_count() or 1, s.per_round))
    backend = {"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
               "init_args": {"num_cpus": cpus, "num_gpus": 0, "include_dashboard": False, "log_to_driver": verbose,
                             "logging_level": "info" if verbose else "error"}}
    saved = os.environ.get("PYTHONPATH")  # Flower's Ray backend rewrites it for its workers
    try:
        run_simulation(server_app=make_server_app(s, str(out)), client_app=make_client_app(s),
                       num_supernodes=s.clients, backend_config=backend, verbose_logging=verbose)
    finally:
        import ray
        if ray.is_initialized():
            ray.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
