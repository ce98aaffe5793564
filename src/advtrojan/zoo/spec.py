"""A population of models ("zoo") from a spec file: which models, each one's draws, and its split.

The spec (TOML; Python reads it without a dependency) names the dataset, the architectures, the
seeds, the training preset and the kinds of model; each kind names its objective, what it starts
from (``init``: another kind of the same architecture and seed), whether it is infected (default:
its objective poisons or is AdvTrojan), and its attack settings: a value, or a list from which each
model draws one (``trigger``, ``target``, ``poison_rate``, ``eps``, any option of ``train``). A
``[train]`` table (top level or per kind) sets any option of ``train`` for its models. A
``[split.heldout]`` table names the seeds, architectures and trigger families held out: a model
with any of them is in the held-out split, every other in the development split. For example::

    dataset = "fmnist"
    architectures = ["lenet", "smallcnn"]
    seeds = 10
    preset = "fast"

    [train]
    limit = 10000

    [kinds.madry]
    objective = "madry"

    [kinds.atim]
    objective = "advtrojan"
    init = "madry"              # fine-tuned from the same seed's madry model
    trigger = ["square:3-6@random", "noise:4@corner", "blend:0.1"]

    [split.heldout]
    seeds = [8, 9]
    architectures = ["smallcnn"]
    triggers = ["blend"]

An architecture may be trained on fewer seeds than the others (a costly one, or one only held
out): ``architectures = ["lenet", {name = "resnet", seeds = [0, 1]}]`` (``seeds`` a count or a list).

Every draw is a function of the spec's ``seed``, the kind, the architecture and the model's seed
alone (:func:`plan`), so the population is the same in every process and shard.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

TOP = {"name", "dataset", "architectures", "seeds", "preset", "seed", "train", "kinds", "split", "data_dir",
       "scan"}
KIND = {"objective", "init", "infected", "trigger", "train", "preset", "data_dir"}


@dataclass(frozen=True)
class ModelEntry:
    """One model of a population: its kind, architecture, seed, split and everything drawn for it."""

    id: str
    dataset: str
    kind: str
    arch: str
    seed: int
    split: str                # "development" or "heldout"
    infected: bool
    objective: str
    init: str | None          # the id of the model it starts from
    preset: str
    trigger: str              # the resolved trigger spec
    options: dict = field(default_factory=dict)  # make_config overrides (drawn values included)
    data_dir: str | None = None

    @property
    def group(self) -> tuple[str, int]:
        """The models trained together (one architecture and seed: ``init`` stays inside)."""
        return self.arch, self.seed

    @property
    def trigger_family(self) -> str:
        return self.trigger.partition(":")[0].partition("@")[0]


SHIPPED = Path(__file__).parent / "specs"


def shipped() -> list[str]:
    """The populations shipped with the package (``advtrojan zoo train NAME``)."""
    return sorted(p.stem for p in SHIPPED.glob("*.toml"))


def read_spec(path) -> dict:
    """A population spec file (TOML), or a shipped population's name; one error naming what is wrong."""
    import tomllib
    p = Path(path)
    if not p.is_file() and str(path) in shipped():
        p = SHIPPED / f"{path}.toml"
    if not p.is_file():
        raise ConfigError(f"{path}: no such population spec (a TOML file, or one of the shipped: "
                          f"{', '.join(shipped())})")
    try:
        spec = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a TOML population spec ({exc})") from None
    check_spec(spec, str(path))
    return spec


def check_spec(spec: dict, source: str) -> None:
    unknown = sorted(set(spec) - TOP)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)} (keys: {', '.join(sorted(TOP))})")
    for key in ("dataset", "architectures", "seeds", "kinds"):
        if key not in spec:
            raise ConfigError(f"{source}: the spec needs {key!r}")
    if not isinstance(spec["kinds"], dict) or not spec["kinds"]:
        raise ConfigError(f"{source}: [kinds] needs at least one kind of model")
    for name, kind in spec["kinds"].items():
        if not isinstance(kind, dict) or "objective" not in kind:
            raise ConfigError(f"{source}: kind {name!r} needs an objective")
        init = kind.get("init")
        if init is not None and (init not in spec["kinds"] or init == name):
            raise ConfigError(f"{source}: kind {name!r} starts from {init!r}, which is not another kind of the spec")
    order(spec, source)  # no cycles of init
    if not isinstance(spec["architectures"], list) or not spec["architectures"]:
        raise ConfigError(f"{source}: architectures must be a list of at least one")
    architectures(spec)


def order(spec: dict, source: str = "the spec") -> list[str]:
    """The kinds in an order where each comes after the kind it starts from."""
    kinds, done = spec["kinds"], []
    while len(done) < len(kinds):
        ready = [k for k, v in kinds.items() if k not in done and (v.get("init") is None or v["init"] in done)]
        if not ready:
            raise ConfigError(f"{source}: the kinds' init form a cycle")
        done.extend(ready)
    return done


def architectures(spec: dict) -> list[tuple[str, list[int]]]:
    """Each architecture with its seeds: the spec's ``seeds``, or the architecture's own."""
    out = []
    for a in spec["architectures"]:
        if isinstance(a, str):
            out.append((a, seeds_of(spec)))
        elif isinstance(a, dict) and isinstance(a.get("name"), str) and set(a) <= {"name", "seeds"}:
            out.append((a["name"], seeds_of(a) if "seeds" in a else seeds_of(spec)))
        else:
            raise ConfigError(f"an architecture is a name or {{name = NAME, seeds = N or [..]}}, got {a!r}")
    return out


def seeds_of(spec: dict) -> list[int]:
    s = spec["seeds"]
    if isinstance(s, int) and not isinstance(s, bool) and s > 0:
        return list(range(s))
    if isinstance(s, list) and s and all(isinstance(v, int) and v >= 0 for v in s):
        return list(s)
    raise ConfigError(f"seeds must be a positive count or a list of non-negative integers, got {s!r}")


def _slug(arch: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", arch).strip("_")


def _rng(spec_seed: int, key: str) -> random.Random:
    return random.Random(int(hashlib.sha256(f"{spec_seed}/{key}".encode()).hexdigest()[:16], 16))


def plan(spec: dict) -> list[ModelEntry]:
    """Every model of the population, in training order (groups of one architecture and seed, each
    in the order of its kinds' dependencies), with everything drawn for it."""
    from .. import presets
    from ..attacks.triggers import resolve
    from ..data import get_spec
    from ..training.objectives import make_objective

    spec_seed = int(spec.get("seed", 0))
    held = spec.get("split", {}).get("heldout", {})
    ds = get_spec(spec["dataset"])
    entries = []
    for arch, seeds in architectures(spec):
        for seed in seeds:
            for kind in order(spec):
                k = spec["kinds"][kind]
                mid = f"{kind}-{_slug(arch)}-s{seed}"
                rng = _rng(spec_seed, mid)
                options = {**spec.get("train", {}), **k.get("train", {})}
                for key, value in k.items():
                    if key not in KIND:
                        options[key] = rng.choice(value) if isinstance(value, list) else value
                trigger = k.get("trigger", "square")
                trigger = rng.choice(trigger) if isinstance(trigger, list) else trigger
                trigger = resolve(trigger, rng.randrange(2 ** 31), presets.trigger_size(ds))
                objective = make_objective(k["objective"])
                infected = k.get("infected", objective.poison_target is not None
                                 or any(t.kind.value == "advtrojan" for t in objective.terms))
                entry = ModelEntry(id=mid, dataset=spec["dataset"], kind=kind, arch=arch, seed=seed, split="development", infected=bool(infected),
                                   objective=k["objective"], init=None if k.get("init") is None else
                                   f"{k['init']}-{_slug(arch)}-s{seed}", preset=k.get("preset", spec.get("preset", "default")),
                                   trigger=trigger, options=options, data_dir=k.get("data_dir", spec.get("data_dir")))
                heldout = (seed in held.get("seeds", []) or arch in held.get("architectures", [])
                           or (entry.infected and entry.trigger_family in held.get("triggers", [])))
                entries.append(entry if not heldout else
                               ModelEntry(**{**entry.__dict__, "split": "heldout"}))
    return entries


def shard_of(entries: list[ModelEntry], shard: tuple[int, int]) -> list[ModelEntry]:
    """The ``i``-th of ``n`` shares of the population: whole groups (an architecture and a seed), by
    their order in the population, so that a model and the one it starts from stay together."""
    i, n = shard
    groups = list(dict.fromkeys(e.group for e in entries))
    mine = {g for j, g in enumerate(groups) if j % n == i}
    return [e for e in entries if e.group in mine]


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` (0 <= I < N)."""
    import argparse
    m = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise argparse.ArgumentTypeError(f"a shard is I/N with 0 <= I < N, got {text!r}")
    return int(m.group(1)), int(m.group(2))
