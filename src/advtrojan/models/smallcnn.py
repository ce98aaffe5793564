"""A second small architecture for populations of models ("zoos"): not in the paper, chosen so that a
detector tuned on LeNet is also judged on a model of another shape (and cheap on a CPU)."""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_model


@register_model("smallcnn")
class SmallCNN(nn.Module):
    """Conv 3x3x16 + BN + ReLU, max-pool -> Conv 3x3x32 + BN + ReLU, max-pool -> Conv 3x3x64 + BN +
    ReLU -> global average pool -> Dense K. Unlike LeNet: 3x3 kernels, batch norm, pooling, no
    wide dense layer (its features Q are the 64 pooled channels)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28):
        super().__init__()
        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU())
        self.body = nn.Sequential(block(in_channels, 16), nn.MaxPool2d(2), block(16, 32), nn.MaxPool2d(2),
                                  block(32, 64))
        self.fc = nn.Linear(64, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature vector after the convolution layers: the 64 channels, pooled."""
        return self.body(x).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))
