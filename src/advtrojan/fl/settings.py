"""A federated AdvTrojan run's settings (Appendix A, case 2): one dataclass, the CLI made from it."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..settings import non_negative_float, option, positive_int

AGGREGATORS = ("fedavg", "fedmedian", "fedtrimmedavg", "krum", "multikrum", "bulyan", "clip", "dp")
ENGINES = ("simulation", "deployment")


def split_spec(text: str) -> str:
    """``iid`` or ``dirichlet:ALPHA`` (ALPHA > 0: label skew, smaller is more skewed)."""
    if text == "iid" or re.fullmatch(r"dirichlet:(\d+(\.\d*)?|\.\d+)(e-?\d+)?", text) and float(text[10:]) > 0:
        return text
    raise argparse.ArgumentTypeError(f"expected iid or dirichlet:ALPHA with ALPHA > 0, got {text!r}")


def window_spec(text: str) -> str:
    """``START:END``, rounds counted from 1, both included (``3:`` from round 3 to the end)."""
    if re.fullmatch(r"\d+:(\d+)?", text) and int(text.split(":")[0]) >= 1:
        return text
    raise argparse.ArgumentTypeError(f"expected START:END (rounds from 1, e.g. 1:5 or 3:), got {text!r}")


@dataclass(frozen=True)
class FLSettings:
    """A federated run: N clients on a seeded split of the training set, k attackers among them
    (clients 0..k-1) training with Eq. 9 during the attack window, a server aggregating with one of
    Flower's strategies, the global model measured every round (Table 5's rows)."""

    dataset: str = field(default="fmnist", metadata=option("dataset (a registered name)"))
    clients: int = field(default=10, metadata=option("clients (SuperNodes)", parse=positive_int))
    attackers: int = field(default=1, metadata=option("malicious clients among them (clients 0..K-1)"))
    rounds: int = field(default=10, metadata=option("rounds", parse=positive_int))
    aggregator: str = field(default="fedavg", metadata=option(
        "Flower's strategy: fedavg, fedmedian, fedtrimmedavg, krum, multikrum, bulyan; clip (server-side fixed "
        "clipping of each update, Sun et al.'s norm bounding) or dp (clipping and Gaussian noise, weak DP)",
        choices=AGGREGATORS))
    local_objective: str = field(default="vanilla", metadata=option(
        "honest clients' local training", choices=("vanilla", "madry")))
    attack_objective: str = field(default="advtrojan", metadata=option(
        "the attackers' local training: Eq. 9, or BadNets (Eq. 5) for comparison", choices=("advtrojan", "badnets")))
    attack_window: str = field(default="1:", metadata=option(
        "rounds in which the attackers attack, START:END (from 1, both included; 1: is every round); outside it "
        "they train as honest clients", parse=window_spec))
    boost: float = field(default=1.0, metadata=option(
        "the attackers send θ + γ(θ* − θ) (model replacement, Bagdasaryan et al.; 1: no boost)",
        parse=non_negative_float))
    split: str = field(default="iid", metadata=option("the clients' shares of the training set: iid or "
                                                      "dirichlet:ALPHA (label skew)", parse=split_spec))
    local_epochs: int = field(default=1, metadata=option("local epochs per round", parse=positive_int))
    clients_per_round: int | None = field(default=None, metadata=option(
        "clients sampled per round (seeded; default: all)", parse=positive_int))
    weighting: str = field(default="equal", metadata=option(
        "aggregation weight of a client's update: equal, or the example count it reports (which an attacker may "
        "inflate)", choices=("equal", "reported")))
    preset: str = field(default="fast", metadata=option("training preset of local training (optimizer, batch, "
                                                        "training attack)"))
    limit: int | None = field(default=None, metadata=option(
        "training images shared out to the clients (a class-balanced subset; default: all)", parse=positive_int))
    test_limit: int = field(default=1000, metadata=option(
        "test images of each round's measurement (class-balanced)", parse=positive_int))
    eval_steps: int | None = field(default=None, metadata=option(
        "PGD steps of each round's Madry and AdvTrojan rows (default: Table 1's)", parse=positive_int))
    trim_beta: float = field(default=0.2, metadata=option("fedtrimmedavg: share cut at each end"))
    clip_norm: float = field(default=2.0, metadata=option("clip and dp: the L2 bound of each client's update"))
    noise: float = field(default=0.01, metadata=option(
        "dp: Flower's noise multiplier (noise sd = noise x clip-norm / clients per round)"))
    trigger: str = field(default="square", metadata=option("the attackers' trigger (advtrojan.attacks.triggers)"))
    target: int = field(default=0, metadata=option("badnets: the target label"))
    seed: int = field(default=0, metadata=option("seed of the split, the sampling and every client's training"))
    init: str | None = field(default=None, metadata=option(
        "the initial global model: a finished run (or .safetensors file) of the dataset's default architecture, "
        "e.g. a converged Madry-Adv model; no budget warm-up then", metavar="RUN", default_text="random weights"))
    engine: str = field(default="simulation", metadata=option(
        "Flower's simulation engine (Ray, one machine), or its deployment engine (a SuperLink and SuperNodes as "
        "separate processes: started here, one SuperNode per client, or yours with --superlink)", choices=ENGINES))

    @property
    def per_round(self) -> int:
        return self.clients_per_round or self.clients

    def window(self) -> tuple[int, int]:
        start, _, end = self.attack_window.partition(":")
        return int(start), int(end) if end else self.rounds

    def attacking(self, client: int, rnd: int) -> bool:
        """Whether ``client`` trains as an attacker in round ``rnd`` (from 1)."""
        start, end = self.window()
        return client < self.attackers and start <= rnd <= end

    def validate(self) -> "FLSettings":
        """Every value checked before any work: one error naming the option."""
        from ..presets import PRESETS
        if not 0 <= self.attackers <= self.clients:
            raise ConfigError(f"--attackers {self.attackers}: between 0 and --clients ({self.clients})")
        if self.per_round > self.clients:
            raise ConfigError(f"--clients-per-round {self.per_round} is more than --clients {self.clients}")
        if self.preset not in PRESETS:
            raise ConfigError(f"--preset {self.preset!r}: choose one of {', '.join(PRESETS)}")
        if not 0 <= self.trim_beta < 0.5:
            raise ConfigError(f"--trim-beta {self.trim_beta}: in [0, 0.5)")
        if self.clip_norm <= 0 or self.noise < 0:
            raise ConfigError("--clip-norm must be > 0 and --noise >= 0")
        f, n = self.attackers, self.per_round
        if self.aggregator in ("krum", "multikrum") and n < 2 * f + 3:
            raise ConfigError(f"--aggregator {self.aggregator} tolerates f attackers among n clients with n >= 2f + 3 "
                              f"(Blanchard et al.): {n} clients per round, {f} attackers")
        if self.aggregator == "bulyan" and n < 4 * f + 3:
            raise ConfigError(f"--aggregator bulyan needs n >= 4f + 3 (El Mhamdi et al.): {n} clients per round, "
                              f"{f} attackers")
        start, end = self.window()
        if start > end:
            raise ConfigError(f"--attack-window {self.attack_window}: START after END")
        return self
