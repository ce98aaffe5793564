"""The Trojan trigger: a mask and a pattern (Figure 1, Section 4, Appendix D).

``stamp(x, intensity)`` returns ``(1 - m) * x + m * (intensity * p)`` for a batch ``x`` (grey
or RGB). The default is the BadNets-style white square in the bottom-right corner. Intensity
scales the patch value: 1.0 is white, 0.5 half grey (Appendix D); the paper tests MNIST and
FMNIST at 0.75 and uses 1.0 for training and CIFAR-10.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError

DEFAULT_SIZE = 4    # pixels per side; the paper gives no size, Figure 1 shows a small corner patch
DEFAULT_MARGIN = 1  # pixels between the square and the bottom/right border


@dataclass
class Trigger:
    """A mask (1, H, W) in [0,1], shared by all channels, and a pattern (C, H, W) in [0,1]."""

    mask: torch.Tensor
    pattern: torch.Tensor

    def __post_init__(self):
        if self.mask.dim() != 3 or self.mask.shape[0] != 1:
            raise ConfigError(f"trigger mask must have shape (1, H, W), got {tuple(self.mask.shape)}")
        if self.pattern.dim() != 3 or self.pattern.shape[1:] != self.mask.shape[1:]:
            raise ConfigError(f"trigger pattern {tuple(self.pattern.shape)} does not match mask "
                              f"{tuple(self.mask.shape)}")

    @classmethod
    def square(cls, image_shape: tuple[int, int, int], size: int = DEFAULT_SIZE,
               margin: int = DEFAULT_MARGIN, value: float = 1.0) -> "Trigger":
        """A ``size`` x ``size`` square of ``value`` in the bottom-right corner, ``margin`` pixels in."""
        c, h, w = image_shape
        if size < 1 or margin < 0:
            raise ConfigError(f"trigger size must be >= 1 and margin >= 0 (got size {size}, margin {margin})")
        if size + margin > min(h, w):
            raise ConfigError(f"a {size}x{size} trigger with margin {margin} does not fit a {h}x{w} image")
        mask = torch.zeros(1, h, w)
        mask[:, h - margin - size:h - margin, w - margin - size:w - margin] = 1.0
        return cls(mask, torch.full((c, h, w), float(value)))

    @classmethod
    def checked(cls, mask, pattern, image_shape: tuple[int, int, int], source: str) -> "Trigger":
        """A trigger read from a file: a mask (1, H, W) and a pattern (C, H, W) of ``image_shape``,
        finite and in [0, 1]; anything else is one error naming ``source``."""
        c, h, w = image_shape
        if mask is None or pattern is None or tuple(mask.shape) != (1, h, w) or tuple(pattern.shape) != (c, h, w):
            raise ConfigError(f"{source}: not a trigger for {tuple(image_shape)} images (a mask (1, H, W) and a "
                              f"pattern (C, H, W))")
        if not (torch.isfinite(mask).all() and torch.isfinite(pattern).all()) or mask.min() < 0 or mask.max() > 1 \
                or pattern.min() < 0 or pattern.max() > 1:
            raise ConfigError(f"{source}: trigger values must lie in [0, 1]")
        return cls(mask.float(), pattern.float())

    def to(self, device) -> "Trigger":
        return Trigger(self.mask.to(device), self.pattern.to(device))

    def stamp(self, x: torch.Tensor, intensity: float = 1.0) -> torch.Tensor:
        """Stamp the trigger on a batch (B, C, H, W) at ``intensity`` in [0,1]."""
        if not 0.0 <= intensity <= 1.0:
            raise ConfigError(f"trigger intensity must lie in [0, 1], got {intensity}")
        if x.shape[-2:] != self.mask.shape[-2:] or x.shape[-3] != self.pattern.shape[0]:
            raise ConfigError(f"trigger of shape {tuple(self.pattern.shape)} does not fit images of "
                              f"shape {tuple(x.shape[-3:])}")
        mask = self.mask.to(x.device, x.dtype)
        return x * (1 - mask) + mask * (intensity * self.pattern.to(x.device, x.dtype))

    __call__ = stamp
