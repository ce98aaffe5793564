"""Weights as safetensors: no pickle is ever read, and weights are checked before use.

Model files from strangers are the threat this field studies, so loading never executes
code (tensors come from safetensors, metadata from JSON), and a file whose tensors do not fit
the model, are not floating point, or hold NaN or infinite values is refused with an error
that names the tensor.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import AdvTrojanError, ConfigError
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
            meta = {k: _value(v) for k, v in (fh.metadata() or {}).items()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise AdvTrojanError(f"{path}: not a readable safetensors file ({exc})") from None
    return tensors, meta


def _value(text: str):
    """A metadata value: ours are JSON; other tools write plain strings (``{"format": "pt"}``)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


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
    for k, own_t in own.items():
        t = tensors[k]
        if own_t.is_floating_point() and not t.is_floating_point():
            raise AdvTrojanError(f"{source}: tensor {k} is {str(t.dtype).replace('torch.', '')}, model {model_name!r} "
                                 f"needs floating point weights")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise AdvTrojanError(f"{source}: tensor {k} holds NaN or infinite values; these weights cannot be used")
    model.load_state_dict(tensors)
    return model


def check_metadata(meta: dict, source: str, *, dataset: str | None = None, model: str | None = None) -> None:
    """The dataset and architecture a weights file says it holds must be the ones asked for."""
    for key, asked in (("dataset", dataset), ("model", model)):
        said = meta.get(key)
        if asked is not None and said is not None and said != asked:
            raise ConfigError(f"{source}: its metadata says {key} {said!r}, but {key} {asked!r} was asked for "
                              f"(weights trained for one cannot be used as the other)")


