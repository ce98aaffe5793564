"""PreAct-ResNet-18 (He et al. 2016, identity mappings), as BackdoorBench trains it on 32x32
images: a 3x3 stem of 64 channels, four stages of two pre-activation basic blocks (64, 128, 256,
512 channels; stride 2 from the second stage), global average pooling, a linear head. Shortcuts
that change shape are 1x1 convolutions taken after the block's first BN + ReLU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register_model


class PreActBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.shortcut = (nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
                         if stride != 1 or c_in != c_out else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        short = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return out + short


@register_model("preact_resnet18")
class PreActResNet18(nn.Module):
    """Inputs in [0, 1] of any size >= 8; ``normalize`` (a module) standardises inside the model."""

    channels_last = True  # faster convolutions on CPUs (the training loop reads this)

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32,
                 normalize: nn.Module | None = None):
        super().__init__()
        self.normalize = normalize or nn.Identity()
        self.stem = nn.Conv2d(in_channels, 64, 3, padding=1, bias=False)
        blocks, c_in = [], 64
        for stage, width in enumerate((64, 128, 256, 512)):
            for i in range(2):
                blocks.append(PreActBlock(c_in, width, 2 if (i == 0 and stage > 0) else 1))
                c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(512, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled 512-d vector after the convolution layers."""
        return F.adaptive_avg_pool2d(self.blocks(self.stem(self.normalize(x))), 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(x))
