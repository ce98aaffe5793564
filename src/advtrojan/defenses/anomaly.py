"""The anomaly index of Neural Cleanse (Wang et al. 2019), used by Table 2 and Figure 5.

For per-class trigger norms ``n_k``: MAD = 1.4826 · median |n_k − median(n)| (1.4826 makes the
MAD a consistent estimator of the standard deviation under normality), and the anomaly index
of class k is |n_k − median(n)| / MAD. A class is flagged when its index exceeds 2 on the
small-norm side (n_k < median): an unusually *small* trigger suffices to reach it.
"""

from __future__ import annotations

import torch

MAD_CONSTANT = 1.4826
THRESHOLD = 2.0


def anomaly_index(norms: torch.Tensor) -> torch.Tensor:
    """Anomaly index of each class (always >= 0). A MAD of 0 gives index 0 for every class."""
    norms = norms.double()
    med = norms.median()
    dev = (norms - med).abs()
    mad = MAD_CONSTANT * dev.median()
    if mad == 0:
        return torch.zeros_like(norms).float()
    return (dev / mad).float()


def flagged(norms: torch.Tensor, threshold: float = THRESHOLD) -> torch.Tensor:
    """Boolean mask of classes whose index exceeds ``threshold`` with a below-median norm."""
    return (anomaly_index(norms) > threshold) & (norms < norms.median())
