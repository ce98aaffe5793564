"""Weights and optimiser state as safetensors: no pickle is ever read from a run folder.

Model files from strangers are the threat this field studies, so loading never executes
code: tensors come from safetensors, everything else from JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import AdvTrojanError
from ..utils.io import atomic_path


def save_weights(path: Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> None:
    meta = {k: json.dumps(v) for k, v in (metadata or {}).items()}
    with atomic_path(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    path = Path(path)
    if not path.is_file():
        raise AdvTrojanError(f"{path}: no such weights file")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open
        with safe_open(str(path), "pt") as fh:
            meta = {k: json.loads(v) for k, v in (fh.metadata() or {}).items()}
    except (SafetensorError, OSError, json.JSONDecodeError, ValueError) as exc:
        raise AdvTrojanError(f"{path}: not a readable safetensors file ({exc})") from None
    return tensors, meta


def load_into(model: nn.Module, tensors: dict[str, torch.Tensor], source: str, model_name: str) -> nn.Module:
    """Load ``tensors`` into ``model``, or explain exactly which tensors do not fit."""
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    wrong = sorted(k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape)
    if missing or extra or wrong:
        bits = []
        if missing:
            bits.append(f"missing {', '.join(missing[:4])}{'...' if len(missing) > 4 else ''}")
        if extra:
            bits.append(f"unexpected {', '.join(extra[:4])}{'...' if len(extra) > 4 else ''}")
        if wrong:
            k = wrong[0]
            bits.append(f"shape of {k} is {tuple(tensors[k].shape)}, {model_name} needs {tuple(own[k].shape)}"
                        + (f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""))
        raise AdvTrojanError(f"{source}: tensors do not fit model {model_name!r}: {'; '.join(bits)}")
    model.load_state_dict(tensors)
    return model


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
