"""Detection statistics, from well-kept libraries: ROC AUC and ROC curves (scikit-learn's metrics),
bootstrap confidence intervals (SciPy's ``stats.bootstrap``). Scores are "higher = more suspicious";
negatives are clean (inputs or models), positives attacked or infected."""

from __future__ import annotations

import numpy as np


def _arrays(negatives, positives) -> tuple[np.ndarray, np.ndarray]:
    import torch
    as_np = [v.detach().double().cpu().numpy().ravel() if isinstance(v, torch.Tensor) else np.asarray(v, float).ravel()
             for v in (negatives, positives)]
    return as_np[0], as_np[1]


def roc_auc(negatives, positives) -> float:
    """ROC AUC of "a positive scores higher than a negative" (ties count half):
    ``sklearn.metrics.roc_auc_score``. NaN when either side is empty."""
    from sklearn.metrics import roc_auc_score
    neg, pos = _arrays(negatives, positives)
    if not len(neg) or not len(pos):
        return float("nan")
    return float(roc_auc_score(np.r_[np.zeros(len(neg)), np.ones(len(pos))], np.r_[neg, pos]))


def tpr_at_fpr(negatives, positives, fpr: float = 0.05) -> float:
    """The largest true-positive rate whose false-positive rate is at most ``fpr`` on this ROC curve
    (``sklearn.metrics.roc_curve``): the share of positives caught by a threshold that flags at
    most ``fpr`` of the negatives."""
    from sklearn.metrics import roc_curve
    neg, pos = _arrays(negatives, positives)
    if not len(neg) or not len(pos):
        return float("nan")
    f, t, _ = roc_curve(np.r_[np.zeros(len(neg)), np.ones(len(pos))], np.r_[neg, pos])
    return float(t[f <= fpr + 1e-12].max())


def auc_interval(negatives, positives, confidence: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """A bootstrap interval of the ROC AUC, negatives and positives resampled independently
    (``scipy.stats.bootstrap``, percentile method; seeded). NaN where either side is empty."""
    from scipy.stats import bootstrap
    neg, pos = _arrays(negatives, positives)
    if len(neg) < 2 or len(pos) < 2:
        return float("nan"), float("nan")

    def statistic(n, p, axis=-1):
        n, p = np.atleast_2d(n), np.atleast_2d(p)
        # Mann-Whitney per resample (what roc_auc_score computes), vectorised over the resamples
        greater = (p[..., :, None] > n[..., None, :]).mean((-2, -1))
        ties = (p[..., :, None] == n[..., None, :]).mean((-2, -1))
        return greater + 0.5 * ties

    res = bootstrap((neg, pos), statistic, vectorized=True, n_resamples=resamples, confidence_level=confidence,
                    method="percentile", random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)
