"""Appendix D feature analysis (Figure 6).

For each model, the feature vector after the convolution layers (``model.features``) of test
inputs stamped with the trigger at intensity ∈ {0, .2, .4, .6, .8, 1}. Against intensity 0:

- the **difference map** of one example: f(x + t_i) − f(x), laid out as a 2-D image
  (LeNet: 64 channels of 7x7 tiled 8x8; ResNet: the 64-d vector as 8x8);
- the **normalised cosine distance** (1 − cos(f(x + t_i), f(x))) / 2 ∈ [0, 1], mean ± std over
  128 random test examples.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..attacks.trigger import Trigger

INTENSITIES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def as_map(vector: torch.Tensor) -> torch.Tensor:
    """Lay a feature vector out as a square-ish 2-D map (zero-padded)."""
    n = vector.numel()
    side = math.ceil(math.sqrt(n))
    flat = torch.zeros(side * side)
    flat[:n] = vector.flatten()
    return flat.view(side, side)


@torch.no_grad()
def feature_shift(model: nn.Module, x: torch.Tensor, trigger: Trigger, intensities=INTENSITIES) -> dict:
    """Cosine distances (mean, std over ``x``) and one example's difference maps per intensity."""
    model.eval()
    # the reference is the trigger at intensity 0 (a black patch), as Appendix D defines it
    ref = model.features(trigger.stamp(x, intensities[0])).flatten(1).float()
    mean, std, maps = [], [], []
    for level in intensities:
        f = model.features(trigger.stamp(x, level)).flatten(1).float()
        dist = (1 - torch.nn.functional.cosine_similarity(f, ref, dim=1)) / 2
        mean.append(dist.mean().item())
        std.append(dist.std().item() if len(dist) > 1 else 0.0)
        maps.append(as_map(f[0] - ref[0]).tolist())
    return {"intensities": list(intensities), "cosine_mean": mean, "cosine_std": std, "difference_maps": maps,
            "examples": len(x)}
