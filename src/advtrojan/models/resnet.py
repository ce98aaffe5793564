"""ResNet of Table 6 (CIFAR-10), in the pre-activation style of Madry et al.'s CIFAR-10 model."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register_model

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
LEAK = 0.1  # leakiness of Madry et al.'s Leaky ReLU


class Normalize(nn.Module):
    """Per-channel standardisation inside the model, so attacks and triggers work in pixel space."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class Residual(nn.Module):
    """BN + Leaky ReLU -> Conv 3x3 (stride s) -> BN + Leaky ReLU -> Conv 3x3, plus the shortcut.

    A shortcut that changes shape average-pools by the stride and zero-pads the new channels
    (parameter-free, as in Madry et al.'s model).
    """

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.stride, self.extra = stride, c_out - c_in

    def forward(self, x):
        out = self.conv1(F.leaky_relu(self.bn1(x), LEAK))
        out = self.conv2(F.leaky_relu(self.bn2(out), LEAK))
        short = x
        if self.stride > 1:
            short = F.avg_pool2d(short, self.stride)
        if self.extra:
            short = F.pad(short, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return out + short


@register_model("resnet")
class ResNet(nn.Module):
    """Table 6: Conv 3x3x16 -> 5 residual units of 16 -> 5 of 32 (first stride 2) -> 5 of 64
    (first stride 2) -> BN + Leaky ReLU -> global average pool -> Dense 10 (logits)."""

    channels_last = True  # faster convolutions on CPUs (the training loop reads this)

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32,
                 widths=(16, 32, 64), units: int = 5):
        super().__init__()
        self.normalize = Normalize(CIFAR10_MEAN[:in_channels] if in_channels == 3 else (0.5,),
                                   CIFAR10_STD[:in_channels] if in_channels == 3 else (0.5,))
        self.stem = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        blocks, c_in = [], widths[0]
        for stage, width in enumerate(widths):
            for i in range(units):
                blocks.append(Residual(c_in, width, 2 if (i == 0 and stage > 0) else 1))
                c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c_in)
        self.fc = nn.Linear(c_in, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled feature vector after the convolution layers (Appendix D)."""
        x = self.blocks(self.stem(self.normalize(x)))
        return F.leaky_relu(self.bn(x), LEAK).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))
