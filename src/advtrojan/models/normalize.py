"""A declared input normalisation, applied inside the model.

Many models are trained on ``(x - mean) / std``. Triggers, perturbations and budgets here live in
pixel space ([0, 1]), so the normalisation belongs to the model: :func:`normalized` adds it as a
forward pre-hook with non-persistent buffers, leaving the model's weights and their names as they
are (a user's weights load unchanged).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ConfigError


def parse(text: str) -> dict:
    """``"MEAN[,MEAN...]/STD[,STD...]"`` (one value, or one per channel) as ``{"mean": [...], "std": [...]}``."""
    try:
        mean_text, std_text = text.split("/")
        mean = [float(v) for v in mean_text.split(",")]
        std = [float(v) for v in std_text.split(",")]
    except ValueError:
        raise ConfigError(f"--normalize expects MEAN/STD, e.g. 0.5/0.25 or 0.49,0.48,0.45/0.25,0.24,0.26; "
                          f"got {text!r}") from None
    return {"mean": mean, "std": std}


def check(norm: dict, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    mean, std = norm.get("mean"), norm.get("std")
    if not isinstance(mean, list) or not isinstance(std, list) or len(mean) not in (1, channels) \
            or len(std) not in (1, channels):
        raise ConfigError(f"normalization needs a mean and a std of 1 or {channels} values, got {norm!r}")
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in mean + std) or min(std) <= 0:
        raise ConfigError(f"normalization: every mean must be finite and every std finite and > 0, got {norm!r}")
    shape = (1, -1, 1, 1)
    return (torch.tensor(mean, dtype=torch.float32).expand(channels).reshape(shape).clone(),
            torch.tensor(std, dtype=torch.float32).expand(channels).reshape(shape).clone())


def normalized(model: nn.Module, norm: dict | None, channels: int) -> nn.Module:
    """``model`` that computes ``model((x - mean) / std)`` on inputs ``x`` in [0, 1]."""
    if not norm:
        return model
    mean, std = check(norm, channels)
    model.register_buffer("_input_mean", mean, persistent=False)
    model.register_buffer("_input_std", std, persistent=False)
    model.register_forward_pre_hook(
        lambda m, args: ((args[0] - m._input_mean.to(args[0].dtype)) / m._input_std.to(args[0].dtype), *args[1:]))
    return model
