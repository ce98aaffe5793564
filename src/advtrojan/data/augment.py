"""CIFAR-10 training augmentation (Appendix F, after Madry et al. 2017) as batched tensor ops.

Zero-pad 4 pixels on each side, take a random 32x32 crop, flip horizontally with p = 0.5.
One gather for the whole batch; no per-image Python loop, no torchvision.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_crop_flip(x: torch.Tensor, pad: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment a batch ``x`` of shape (B, C, H, W); returns a new tensor of the same shape."""
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (B, W)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()
