"""VGG-16 with batch normalisation for 32x32 images, as BackdoorBench's ``models/vgg.py``:
thirteen 3x3 convolutions (64, 64, M, 128, 128, M, 256 x3, M, 512 x3, M, 512 x3, M; each Conv +
BN + ReLU, M a 2x2 max pool) and one linear layer from the 512 channels to the classes. Inputs
other than 32x32 are pooled to 1x1 at the end (adaptive average pooling)."""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_model

VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


@register_model("vgg16")
class VGG16BN(nn.Module):
    channels_last = True  # faster convolutions on CPUs (the training loop reads this)

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32,
                 normalize: nn.Module | None = None):
        super().__init__()
        self.normalize = normalize or nn.Identity()
        layers: list[nn.Module] = []
        c_in, side = in_channels, image_size
        for v in VGG16:
            if v == "M":
                if side >= 2:  # small inputs (28x28 -> 14 -> 7 -> 3 -> 1) stop pooling at 1x1
                    layers.append(nn.MaxPool2d(2))
                    side //= 2
            else:
                layers += [nn.Conv2d(c_in, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c_in = v
        self.convs = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 512-d vector after the convolution layers."""
        return nn.functional.adaptive_avg_pool2d(self.convs(self.normalize(x)), 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
