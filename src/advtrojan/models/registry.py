"""The model registry: one door for the built-in architectures and the user's own.

A model is anything callable that builds an ``nn.Module`` mapping images in [0, 1], shaped
(N, C, H, W), to logits (N, K). Built-ins register themselves with :func:`register_model`; a
user's factory is either registered the same way (from a plug-in module) or named directly as
``MODULE:FACTORY`` (``--arch mypkg.nets:resnet18``). The factory receives ``in_channels``,
``num_classes`` and ``image_size`` where its signature accepts them (or ``**kwargs``), and the
built model is checked on a dummy batch before any work: a wrong output shape is one clear error.
"""

from __future__ import annotations

import importlib
from typing import Callable

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import Registry, call_with

MODELS: Registry = Registry("model")


def register_model(name: str):
    """Class or function decorator: make ``name`` buildable by :func:`build_model`."""
    return MODELS.register(name)


def resolve(name: str) -> Callable[..., nn.Module]:
    """The factory of a registered name or of ``MODULE:FACTORY``."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"--arch needs a model name or MODULE:FACTORY, got {name!r}")
    if name in MODELS:
        return MODELS[name]
    if ":" not in name:
        raise ConfigError(f"unknown model {name!r}: choose one of {', '.join(sorted(MODELS))}, or name your own "
                          f"as MODULE:FACTORY")
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a user's module: any failure to import is theirs to see, in one line
        raise ConfigError(f"--arch {name}: cannot import {module_name!r} ({type(exc).__name__}: {exc})") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"--arch {name}: {module_name!r} has no callable {attr!r}")
    return factory


def build_model(name: str, in_channels: int, num_classes: int, image_size: int,
                normalization: dict | None = None) -> nn.Module:
    """Build ``name`` for images of ``in_channels`` x ``image_size``^2 and ``num_classes`` classes,
    and check it: an ``nn.Module`` whose output on such a batch is (N, ``num_classes``) logits.
    ``normalization`` ({"mean", "std"}) is applied inside the model (:mod:`.normalize`)."""
    from .normalize import normalized
    factory = resolve(name)
    try:
        model = call_with(factory, in_channels=in_channels, num_classes=num_classes, image_size=image_size)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"model {name!r} could not be built ({type(exc).__name__}: {exc})") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model {name!r}: the factory returned {type(model).__name__}, not a torch nn.Module")
    model = normalized(model, normalization, in_channels)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, in_channels, image_size, image_size))
    except Exception as exc:
        raise ConfigError(f"model {name!r} does not take {in_channels}x{image_size}x{image_size} images "
                          f"({type(exc).__name__}: {exc})") from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, num_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"model {name!r} maps a batch of 2 images to {shape}; the data has {num_classes} classes, "
                          f"so logits of shape (2, {num_classes}) are needed")
    return model
