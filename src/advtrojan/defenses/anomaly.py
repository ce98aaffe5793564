"""The anomaly index of Neural Cleanse (Wang et al. 2019), used by Table 2 and Figure 5.

Exactly as the authors' ``mad_outlier_detection.py``: for per-class trigger norms ``n_k``,

    median = np.median(n)                    (the mean of the two middle values for an even count)
    MAD    = 1.4826 · np.median(|n − median|)
    index_k = |n_k − median| / MAD

(1.4826 makes the MAD a consistent estimator of the standard deviation under normality.) A class
is flagged when ``n_k <= median`` (the small-norm side: an unusually *small* trigger suffices to
reach it) and its index exceeds 2. ``torch.median`` would return the *lower* middle value for an
even count (10 classes), which moves both the median and the MAD: we use the true median.
One deliberate difference: where more than half the norms are equal, MAD = 0 and the original
divides by zero (an infinite index for every other class); here the index is 0 and nothing is
flagged, since such norms say nothing about outliers.
"""

from __future__ import annotations

import torch

MAD_CONSTANT = 1.4826
THRESHOLD = 2.0


def true_median(values: torch.Tensor) -> torch.Tensor:
    """NumPy's median: the mean of the two middle values for an even count (float64)."""
    return torch.quantile(values.double().flatten(), 0.5, interpolation="linear")


def anomaly_index(norms: torch.Tensor) -> torch.Tensor:
    """Anomaly index of each class (always >= 0). A MAD of 0 gives index 0 for every class."""
    norms = norms.double()
    med = true_median(norms)
    dev = (norms - med).abs()
    mad = MAD_CONSTANT * true_median(dev)
    if mad == 0:
        return torch.zeros_like(norms).float()
    return (dev / mad).float()


def flagged(norms: torch.Tensor, threshold: float = THRESHOLD) -> torch.Tensor:
    """Classes whose index exceeds ``threshold`` with a norm at or below the median."""
    return (anomaly_index(norms) > threshold) & (norms.double() <= true_median(norms))
