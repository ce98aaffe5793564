"""The server side of a federated run: Flower's strategy as the aggregator, the global model
measured every round with Table 5's rows, one JSON line per round in the run folder."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch
from flwr.app import ArrayRecord, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp import strategy as flwr_strategy

from ..utils.io import append_jsonl
from .apps import ROUNDS, WEIGHT_KEY, SeededGrid, local_config, partitions
from .settings import FLSettings

ROWS = ("benign", "madry", "trigger", "advtrojan")
TIMEOUT = 24 * 3600.0  # seconds a round may take (local adversarial training is slow on CPUs)


def make_strategy(s: FLSettings):
    """Flower's own strategy for ``s.aggregator``, on every sampled client's reply, weighted by the
    server's weight (:class:`~advtrojan.fl.apps.SeededGrid`); no client-side evaluation (the server
    measures the global model itself)."""
    n = s.per_round
    common = dict(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=n, min_available_nodes=s.clients,
                  weighted_by_key=WEIGHT_KEY)
    name = s.aggregator
    if name in ("fedavg", "clip", "dp"):
        base = flwr_strategy.FedAvg(**common)
        if name == "fedavg":
            return base
        return flwr_strategy.DifferentialPrivacyServerSideFixedClipping(
            base, noise_multiplier=s.noise if name == "dp" else 0.0, clipping_norm=s.clip_norm, num_sampled_clients=n)
    if name == "fedmedian":
        return flwr_strategy.FedMedian(**common)
    if name == "fedtrimmedavg":
        return flwr_strategy.FedTrimmedAvg(**common, beta=s.trim_beta)
    if name == "krum":
        return flwr_strategy.Krum(**common, num_malicious_nodes=s.attackers)
    if name == "multikrum":
        return flwr_strategy.MultiKrum(**common, num_malicious_nodes=s.attackers,
                                       num_nodes_to_select=n - s.attackers)
    if name == "bulyan":
        return flwr_strategy.Bulyan(**common, num_malicious_nodes=s.attackers)
    raise ValueError(name)


def _flat(state: dict) -> torch.Tensor:
    return torch.cat([v.flatten().double() for v in state.values() if v.is_floating_point()])


class Measure:
    """Flower's ``evaluate_fn``: the global model after each round, on a class-balanced test subset
    with Table 1's PGD (Table 5's rows), and how each client's update relates to the aggregate."""

    def __init__(self, s: FLSettings, grid: SeededGrid, out: Path):
        from ..data import load_dataset
        self.s, self.grid, self.out = s, grid, out
        self.cfg, _ = local_config(s, "advtrojan", 0, s.rounds)
        self.test = load_dataset(s.dataset, "test").balanced_subset(s.test_limit, seed=s.seed)
        self.model = self.cfg.build_model()
        self.previous: torch.Tensor | None = None  # the last global weights, flattened
        self.t0 = time.perf_counter()

    def updates(self, step: torch.Tensor) -> dict:
        """The round's global update against each client's (norm, cosine), and the attackers' share."""
        ups = [(pid, att, _flat(w) - self.previous) for pid, att, w in self.grid.replies]
        out = {"global_update_norm": step.norm().item(),
               "clients": [{"client": pid, "attacker": att, "update_norm": u.norm().item(),
                            "cosine_to_global_update": (u @ step / (u.norm() * step.norm()).clamp_min(1e-30)).item()}
                           for pid, att, u in ups]}
        attackers, honest = [u for _, a, u in ups if a], [u for _, a, u in ups if not a]
        if attackers and honest:
            out["attacker_share"] = attacker_share(step, attackers, honest)
        return out

    def __call__(self, rnd: int, arrays: ArrayRecord) -> MetricRecord:
        from ..evaluation import EvalSettings
        from ..evaluation.table5 import evaluate_model
        state = arrays.to_torch_state_dict()
        self.model.load_state_dict(state)
        budget = self.cfg.budget if self.s.eval_steps is None else self.cfg.budget.override(steps=self.s.eval_steps)
        torch.manual_seed(self.s.seed)
        res = evaluate_model(self.model, self.test, self.cfg.trigger(), budget, self.cfg.test_intensity,
                             EvalSettings(methods=("madry",), certify=False), progress=False)
        line = {"round": rnd, **{k: res[k] for k in ROWS}, "attacked": any(a for _, a, _ in self.grid.replies),
                "seconds": time.perf_counter() - self.t0}
        flat = _flat(state)
        if rnd > 0 and self.previous is not None:
            line.update(self.updates(flat - self.previous))
        append_jsonl(self.out / ROUNDS, line)
        self.previous = flat
        self.t0 = time.perf_counter()
        return MetricRecord({k: float(line[k]) for k in ROWS})


def attacker_share(step: torch.Tensor, attackers: list[torch.Tensor], honest: list[torch.Tensor]) -> float:
    """How far the aggregate moved from the honest clients' mean towards the attackers' mean, as a
    share of the way: λ minimising ‖step − (h + λ(a − h))‖ (FedAvg with equal weights: exactly the
    attackers' share of the clients; an aggregator that leaves the attackers out: about 0)."""
    h, a = torch.stack(honest).mean(0), torch.stack(attackers).mean(0)
    d = a - h
    return ((step - h) @ d / (d @ d).clamp_min(1e-30)).item()


def run_server(grid: Grid, s: FLSettings, out: Path) -> None:
    """The ServerApp's main: initial global model (seeded), the node -> partition map, the
    strategy's rounds with the measurement after each; the final global weights saved."""
    from ..models.weights import save_weights
    from ..training.loop import init_model
    cfg, _ = local_config(s, s.local_objective, 0, 1)
    model = init_model(replace(cfg, seed=s.seed, init=s.init), "cpu")  # the seed alone, or --init's weights
    seeded = SeededGrid(grid, s, partitions(grid, s.clients))
    measure = Measure(s, seeded, out)
    result = make_strategy(s).start(grid=seeded, initial_arrays=ArrayRecord(model.state_dict()),
                                    num_rounds=s.rounds, evaluate_fn=measure, timeout=TIMEOUT)
    save_weights(out / "global.safetensors", result.arrays.to_torch_state_dict(),
                 {"dataset": s.dataset, "model": cfg.model, "rounds": s.rounds})
