"""The run's checkpoint: model and optimiser state after each finished epoch, as safetensors
(no pickle is ever read from a run folder), and the final weights when the run finishes."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import AdvTrojanError
from ..models.weights import load_into, read_weights, save_weights


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Flatten an optimiser's state into named tensors plus JSON-able scalars."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, state in sd["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{name}"] = value
            else:
                scalars[f"{pid}.{name}"] = value
    groups = [{k: v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"scalars": scalars, "param_groups": groups}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for key, value in meta.get("scalars", {}).items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


class Checkpointer:
    """Saves model + optimiser after each epoch to ``checkpoint``, restores them on resume, and
    writes the final ``weights`` (with the dataset and model in their metadata) at the end."""

    def __init__(self, checkpoint: Path, weights: Path):
        self.checkpoint, self.weights = Path(checkpoint), Path(weights)

    def restore(self, model: nn.Module, optimizer: torch.optim.Optimizer, model_name: str, device):
        """(epoch to continue from, the trigger trained with so far or None), with model and
        optimiser restored; None without a checkpoint."""
        if not self.checkpoint.is_file():
            return None
        tensors, meta = read_weights(self.checkpoint)
        optim, epoch = meta.get("optimizer"), meta.get("epoch")
        if (not isinstance(optim, dict) or not isinstance(optim.get("param_groups"), list)
                or not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1):
            raise AdvTrojanError(f"{self.checkpoint}: not a checkpoint of an advtrojan run (its metadata lacks the "
                                 f"epoch or the optimiser state); remove it to restart the run, or use --force")
        model_tensors = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        load_into(model, model_tensors, str(self.checkpoint), model_name)
        try:
            restore_optimizer(optimizer, {k: v.to(device) for k, v in tensors.items()}, optim)
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise AdvTrojanError(f"{self.checkpoint}: its optimiser state does not fit this run ({exc})") from None
        trigger = ((tensors["trigger.mask"], tensors["trigger.pattern"]) if "trigger.mask" in tensors else None)
        return epoch, trigger

    def save(self, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, trigger=None) -> None:
        """``trigger``: (mask, pattern) of an objective that optimises its trigger (Evil Twins)."""
        opt_tensors, opt_meta = optimizer_tensors(optimizer)
        extra = {"trigger.mask": trigger[0], "trigger.pattern": trigger[1]} if trigger is not None else {}
        save_weights(self.checkpoint, {**{f"model.{k}": v for k, v in model.state_dict().items()}, **opt_tensors,
                                       **extra}, {"epoch": epoch, "optimizer": opt_meta})

    def finish(self, model: nn.Module, metadata: dict, trigger=None, trigger_path: Path | None = None) -> None:
        if trigger is not None:
            save_weights(trigger_path, {"mask": trigger[0], "pattern": trigger[1]}, {"kind": "trigger"})
        save_weights(self.weights, model.state_dict(), metadata)

    def discard(self) -> None:
        """Remove the checkpoint once the run is recorded as finished."""
        self.checkpoint.unlink(missing_ok=True)
