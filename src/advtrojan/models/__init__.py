"""Models, registered by name: Table 6's LeNet and ResNet, and the two architectures this field's
benchmarks train on 32x32 images (PreAct-ResNet-18 and VGG-16 as BackdoorBench trains them).
Inputs are images in [0,1]; outputs are logits; each model's ``features`` is its feature vector
after the convolution layers (Appendix D)."""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError
from .lenet import LeNet
from .preact_resnet import PreActResNet18
from .resnet import ResNet
from .vgg import VGG16BN

MODELS = {"lenet": LeNet, "resnet": ResNet, "preact_resnet18": PreActResNet18, "vgg16": VGG16BN}


def build_model(name: str, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """Instantiate a registered model for images of ``in_channels`` x ``image_size``^2."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    return MODELS[name](in_channels=in_channels, num_classes=num_classes, image_size=image_size)


__all__ = ["MODELS", "LeNet", "ResNet", "PreActResNet18", "VGG16BN", "build_model"]
