"""Flower's apps for a federated AdvTrojan run: the ClientApp (honest clients and attackers) and
the ServerApp (one of Flower's strategies, the global model measured every round).

The settings travel whole: given to the factories (the simulation engine), or as JSON in the run
config (``advtrojan-settings``, ``advtrojan-out``) for apps started by Flower's own tooling. Runs are deterministic: the server learns each node's partition id with one query
message (node ids are random), samples clients with its own seeded generator, and aggregates the
replies in the order of their partition ids; each client's training is seeded by (seed, round,
partition).
"""

from __future__ import annotations

import json
import math
import random
import time
from functools import lru_cache
from pathlib import Path

import torch
from flwr.app import ArrayRecord, Context, Message, MessageType, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from ..codec import from_json
from .settings import FLSettings

SETTINGS_KEY = "advtrojan-settings"
OUT_KEY = "advtrojan-out"
ROUNDS = "rounds.jsonl"
WEIGHT_KEY = "aggregation-weight"  # written by the server over whatever the client sent


def settings_from(context: Context, given: FLSettings | None) -> FLSettings:
    if given is not None:
        return given
    raw = context.run_config.get(SETTINGS_KEY)
    if raw is None:
        raise RuntimeError(f"the run config has no {SETTINGS_KEY!r}: start runs with `advtrojan fl run`")
    return from_json(FLSettings, json.loads(raw), "the run config's settings")


# ------------------------------------------------------------------------------------------ clients
@lru_cache(maxsize=2)
def _shares(dataset: str, limit: int | None, clients: int, scheme: str, seed: int):
    """The training set and every client's indices, once per process (an actor serves many clients)."""
    from ..data import load_dataset
    from .partition import split
    train = load_dataset(dataset, "train", limit=limit, seed=seed)
    return train, split(train.labels, clients, scheme, seed)


def client_data(s: FLSettings, partition: int):
    train, shares = _shares(s.dataset, s.limit, s.clients, s.split, s.seed)
    return train.subset(shares[partition])


def local_config(s: FLSettings, objective: str, partition: int, rnd: int):
    """The RunConfig of one client's local training in round ``rnd``: the preset's recipe, the local
    epochs, a seed of its own; the budget warm-up of the presets (issue 18's rule) over the first
    third of the rounds instead of the steps of one run, since the global model starts from random
    weights once, at round 1 (none from a trained ``init``, as fine-tuning has none)."""
    from ..presets import WARMUP
    from ..training import make_config
    cfg = make_config(s.dataset, objective, preset=s.preset, epochs=s.local_epochs, warmup=0.0,
                      seed=s.seed * 1_000_003 + rnd * 1009 + partition, trigger_spec=trigger_spec(s),
                      target=s.target)
    return cfg, 1.0 if s.init else min(1.0, rnd / max(1, math.ceil(WARMUP * s.rounds)))


def trigger_spec(s: FLSettings) -> str:
    """The attackers' trigger, drawn once from the run's seed (every attacker, every round: the same)."""
    from ..attacks.triggers import resolve
    from ..presets import trigger_size
    from ..data import get_spec
    return resolve(s.trigger, s.seed, trigger_size(get_spec(s.dataset)))


def local_training(s: FLSettings, arrays: ArrayRecord, partition: int, rnd: int) -> tuple[dict, dict]:
    """One client's round: load the global weights, train locally (Eq. 9 or BadNets for an
    attacker in its window, the honest objective otherwise), boost an attacker's update. Returns
    the weights to send and the client's metrics."""
    from ..training.loop import make_optimizer, train_epoch
    torch.set_num_threads(1)
    attacker = s.attacking(partition, rnd)
    cfg, scale = local_config(s, s.attack_objective if attacker else s.local_objective, partition, rnd)
    data = client_data(s, partition)
    model = cfg.build_model()
    model.load_state_dict(arrays.to_torch_state_dict())
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    attack = cfg.training_attack()  # the preset's (fast: PGD-5); evaluation keeps Table 1's PGD
    if attack is not None and scale < 1:
        attack = attack.with_budget(attack.budget.scaled(scale))
    optimizer, objective, trigger = make_optimizer(model, cfg), cfg.make_objective(), cfg.trigger()
    t = time.perf_counter()
    for epoch in range(s.local_epochs):
        stats = train_epoch(model, optimizer, objective, data, cfg, trigger, attack, epoch, device="cpu",
                            progress=False)
    state = model.state_dict()
    if attacker and s.boost != 1.0:  # model replacement: theta + gamma (theta* - theta)
        state = {k: (start[k] + s.boost * (v - start[k])) if v.is_floating_point() else v for k, v in state.items()}
    metrics = {"num-examples": len(data), "partition-id": partition, "attacker": int(attacker),
               "loss": float(stats["loss"]), "seconds": time.perf_counter() - t}
    return state, metrics


def make_client_app(settings: FLSettings | None = None) -> ClientApp:
    app = ClientApp()

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        s = settings_from(context, settings)
        partition = int(context.node_config["partition-id"])
        rnd = int(msg.content["config"]["server-round"])
        state, metrics = local_training(s, msg.content["arrays"], partition, rnd)
        return Message(RecordDict({"arrays": ArrayRecord(state), "metrics": MetricRecord(metrics)}), reply_to=msg)

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        return Message(RecordDict({"metrics": MetricRecord(
            {"partition-id": int(context.node_config["partition-id"])})}), reply_to=msg)

    return app


# ------------------------------------------------------------------------------------------- server
class SeededGrid:
    """The Grid a strategy sees: training messages go only to this round's clients, drawn by a
    seeded generator over partition ids (Flower samples with the global ``random`` over random
    node ids); replies come back in partition order, each weighted as the settings say (a client's
    reported example count is trusted only under ``weighting = reported``); the round's replies are
    kept for the server's measurements."""

    def __init__(self, grid: Grid, settings: FLSettings, partition_of: dict[int, int]):
        self.grid, self.s, self.partition_of = grid, settings, partition_of
        self.replies: list[tuple[int, bool, dict]] = []

    def __getattr__(self, name):
        return getattr(self.grid, name)

    def sampled(self, rnd: int) -> list[int]:
        rng = random.Random(self.s.seed * 7919 + rnd)
        return sorted(rng.sample(range(self.s.clients), self.s.per_round))

    def send_and_receive(self, messages, *, timeout=None):
        messages = list(messages)
        train = [m for m in messages if m.metadata.message_type == MessageType.TRAIN]
        if not train:
            return self.grid.send_and_receive(messages, timeout=timeout)
        rnd = int(train[0].content["config"]["server-round"])
        chosen = set(self.sampled(rnd))
        messages = [m for m in messages if self.partition_of[m.metadata.dst_node_id] in chosen]
        replies = list(self.grid.send_and_receive(messages, timeout=timeout))
        failed = [r for r in replies if r.has_error()]
        if failed:
            raise RuntimeError(f"round {rnd}: {len(failed)} client(s) failed: {failed[0].error.reason}")
        replies.sort(key=lambda r: int(r.content["metrics"]["partition-id"]))
        for r in replies:
            m = r.content["metrics"]
            m[WEIGHT_KEY] = float(m["num-examples"]) if self.s.weighting == "reported" else 1.0
        self.replies = [(int(r.content["metrics"]["partition-id"]), bool(r.content["metrics"]["attacker"]),
                         r.content["arrays"].to_torch_state_dict()) for r in replies]
        return replies


def partitions(grid: Grid, clients: int, timeout: float = 120.0) -> dict[int, int]:
    """Node id -> partition id, asked of every node once (waiting for all ``clients`` to connect)."""
    t = time.monotonic()
    while len(nodes := list(grid.get_node_ids())) < clients:
        if time.monotonic() - t > timeout:
            raise RuntimeError(f"{len(nodes)} of {clients} SuperNodes connected after {timeout:.0f} s")
        time.sleep(0.2)
    replies = grid.send_and_receive([Message(RecordDict(), dst_node_id=n, message_type=MessageType.QUERY)
                                     for n in nodes], timeout=timeout)
    out = {r.metadata.src_node_id: int(r.content["metrics"]["partition-id"]) for r in replies if not r.has_error()}
    if sorted(out.values()) != list(range(clients)):
        raise RuntimeError(f"the SuperNodes' partition ids are {sorted(out.values())}, not 0..{clients - 1}: start "
                           f"each with --node-config 'partition-id=I num-partitions={clients}'")
    return out


def make_server_app(settings: FLSettings | None = None, out: str | None = None) -> ServerApp:
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        from .server import run_server
        s = settings_from(context, settings)
        run_server(grid, s, Path(out or context.run_config[OUT_KEY]))

    return app



# The apps as Flower's deployment engine loads them (``advtrojan.fl.apps:server_app``), their settings
# from the run config that ``advtrojan fl run --engine deployment`` submits.
client_app = make_client_app()
server_app = make_server_app()
