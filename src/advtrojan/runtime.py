"""Where and how a command runs, apart from what it computes: the device, the seed, the data
folder and progress bars. Every front door (``train``, ``evaluate``, ``scan``, ``reproduce``,
``matrix``) takes one :class:`Runtime` beside its settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from .settings import option


@dataclass(frozen=True)
class Runtime:
    device: str = field(default="auto", metadata=option(
        "where to compute: auto = cuda if available, else cpu; under torchrun each process takes cuda:LOCAL_RANK",
        metavar="auto|cpu|cuda|cuda:N"))
    seed: int = field(default=0, metadata=option("seed for data order, random starts and subsets"))
    data_dir: str | None = field(default=None, metadata=option(
        "folder holding the dataset files (searched first; then system locations, the cache ~/.cache/advtrojan or "
        "$ADVTROJAN_CACHE, then the official mirrors)", metavar="DIR"))
    progress: bool = field(default=True, metadata=option("progress bars"))
