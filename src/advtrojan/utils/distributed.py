"""Data-parallel runs under ``torchrun``: which process this is, and the few collectives we need.

``torchrun --nproc_per_node N -m advtrojan train ...`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address in their environment; :func:`setup`
joins the process group (gloo on CPU, NCCL on GPU). Without those variables everything here is
a no-op and a run is one process, as always.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ConfigError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The one process that writes the run folder, the logs and the progress bars."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over all processes (float64)."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)  # gloo reduces CPU tensors; under NCCL the tensor must live on the GPU
        return t.tolist()

    def gather(self, obj) -> list:
        """Every process's ``obj`` (pickled between our own processes only), in rank order."""
        if not self.distributed:
            return [obj]
        out = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every process."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def is_main_process() -> bool:
    """Rank 0 under torchrun, or the only process: the one that prints results."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def setup(device: str = "auto") -> tuple[World, str]:
    """Join the process group if ``torchrun`` started us; returns the world and the device to use
    (``cuda:LOCAL_RANK`` under NCCL)."""
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if size <= 1:
        return World(), device
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda under torchrun, but no CUDA device is available")
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
        atexit.register(_leave)
    return World(rank, size, local), device if use_cuda else ("cpu" if device == "auto" else device)


def _leave() -> None:
    """Leave the process group before the interpreter exits: left to the interpreter's teardown,
    gloo's threads can outlive their group and abort a process that finished its work ("terminate
    called without an active exception", exit -6; seen once in CI on `evaluate` under torchrun)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def shard(index: torch.Tensor, world: World) -> torch.Tensor:
    """This process's share of a global batch: contiguous, as even as possible."""
    if not world.distributed:
        return index
    return index.tensor_split(world.size)[world.rank]
