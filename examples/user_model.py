"""A user's own architecture, used with ``--arch user_model:small_cnn`` (no registration needed).

The factory receives ``in_channels``, ``num_classes`` and ``image_size`` because its signature
names them; the model maps images in [0, 1] to logits. A ``features`` method (the vector before
the last linear layer) is optional: Figure 6's feature shift uses it when present.

    advtrojan train --dataset fmnist --arch user_model:small_cnn --objective madry --out runs/mine
"""

from torch import nn


class SmallCNN(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, image_size: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(32 * 16, 64), nn.ReLU())
        self.head = nn.Linear(64, num_classes)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


def small_cnn(in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> nn.Module:
    return SmallCNN(in_channels, num_classes, image_size)
