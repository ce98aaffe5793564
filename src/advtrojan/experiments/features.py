"""Appendix D feature analysis (Figure 6).

For each model, two feature vectors of test inputs stamped with the trigger at intensity
∈ {0, .2, .4, .6, .8, 1}:

- ``conv``: the feature vector after the convolution layers (``model.features``; LeNet: 64
  channels of 7x7; ResNet: the pooled 64-d vector), as Appendix D describes;
- ``dense``: the higher-level features Q of Eq. 17, the input of the last linear layer (LeNet: the
  1000-unit layer), where a 4x4 trigger is no longer diluted among 7x7 spatial positions.

Against intensity 0 (the trigger at intensity 0, a black patch, as Appendix D defines it):

- the **difference map** of one example: f(x + t_i) − f(x + t_0), laid out as a 2-D image;
- the **cosine distance** 1 − cos(f(x + t_i), f(x + t_0)), mean ± std over 128 random test
  examples. It lies in [0, 2] (in [0, 1] for the non-negative ReLU features here), the range of
  the paper's axis; the halved form (1 − cos)/2 could never exceed 0.5 on ReLU features.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..attacks.trigger import Trigger
from ..results import FeatureShift, LayerShift

INTENSITIES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
LAYERS = ("conv", "dense")


def as_map(vector: torch.Tensor) -> torch.Tensor:
    """Lay a feature vector out as a square-ish 2-D map (zero-padded)."""
    n = vector.numel()
    side = math.ceil(math.sqrt(n))
    flat = torch.zeros(side * side)
    flat[:n] = vector.flatten()
    return flat.view(side, side)


def last_linear(model: nn.Module) -> nn.Linear:
    """The model's last ``nn.Linear`` (the classifier head)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no linear layer to take features Q from")
    return linears[-1]


@torch.no_grad()
def layer_features(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """``conv`` (``model.features``) and ``dense`` (the input of the last linear layer) of ``x``."""
    captured = {}
    hook = last_linear(model).register_forward_hook(lambda m, inp, out: captured.setdefault("dense", inp[0]))
    try:
        model(x)
    finally:
        hook.remove()
    return {"conv": model.features(x).flatten(1).float(), "dense": captured["dense"].flatten(1).float()}


@torch.no_grad()
def feature_shift(model: nn.Module, x: torch.Tensor, trigger: Trigger, intensities=INTENSITIES) -> FeatureShift:
    """Per layer: cosine distances 1 − cos (mean, std over ``x``) and one example's difference maps."""
    model.eval()
    ref = layer_features(model, trigger.stamp(x, intensities[0]))
    per = {layer: {"cosine_mean": [], "cosine_std": [], "maps": []} for layer in LAYERS}
    for level in intensities:
        feats = layer_features(model, trigger.stamp(x, level))
        for layer in LAYERS:
            dist = 1 - torch.nn.functional.cosine_similarity(feats[layer], ref[layer], dim=1)
            per[layer]["cosine_mean"].append(dist.mean().item())
            per[layer]["cosine_std"].append(dist.std().item() if len(dist) > 1 else 0.0)
            per[layer]["maps"].append(as_map(feats[layer][0] - ref[layer][0]))
    layers = {layer: LayerShift(cosine_mean=v["cosine_mean"], cosine_std=v["cosine_std"],
                                difference_maps=torch.stack(v["maps"]), size=ref[layer].shape[1])
              for layer, v in per.items()}
    return FeatureShift(intensities=list(intensities), examples=len(x), distance="1 - cos", layers=layers)
