"""Device and precision choices shared by training, attacks and evaluation."""

from __future__ import annotations

import contextlib
import os

import torch

from ..errors import ConfigError

PRECISIONS = ("fp32", "bf16")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    index = name.partition(":")[2]
    if name not in ("cpu", "cuda") and not (name.startswith("cuda:") and index.isdigit()):
        raise ConfigError(f"unknown device {name!r}: choose auto, cpu, cuda or cuda:N")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name} was asked for, but no CUDA device is available")
        if index and int(index) >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: there are only {torch.cuda.device_count()} CUDA devices")
    return torch.device(name)


def autocast(device: torch.device, precision: str):
    """bf16 autocast (CPU AMX or GPU tensor cores) or a no-op for fp32."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def configure_threads() -> None:
    """Two intra-op threads are the most that pay for these small models on CPU."""
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(min(2, os.cpu_count() or 1))


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG and return a CPU generator for data order and sampling."""
    torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen
