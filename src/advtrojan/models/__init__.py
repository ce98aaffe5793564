"""Models of Table 6, registered by name. Inputs are images in [0,1]; outputs are logits."""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError
from .lenet import LeNet
from .resnet import ResNet

MODELS = {"lenet": LeNet, "resnet": ResNet}


def build_model(name: str, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """Instantiate a registered model for images of ``in_channels`` x ``image_size``^2."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    return MODELS[name](in_channels=in_channels, num_classes=num_classes, image_size=image_size)


__all__ = ["MODELS", "LeNet", "ResNet", "build_model"]
