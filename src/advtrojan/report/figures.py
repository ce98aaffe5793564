"""Figures as PNG and SVG (matplotlib, headless). Curves differ by line style and marker as well
as colour, so they can be told apart in greyscale."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ..utils.io import atomic_path  # noqa: E402


def save(fig, path: Path) -> list[str]:
    """Write ``path`` .png and .svg atomically; return both paths."""
    out = []
    for ext in ("png", "svg"):
        target = Path(path).with_suffix("." + ext)
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=ext, dpi=120, bbox_inches="tight")
        out.append(str(target))
    plt.close(fig)
    return out


def masks_figure(masks: torch.Tensor, l1, index, flags, classes, path: Path, title: str) -> list[str]:
    """One panel per class: the recovered mask, with its L1 norm and anomaly index."""
    k = len(masks)
    cols = min(k, 5)
    rows = -(-k // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.5 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= k:
            continue
        ax.imshow(masks[i, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        flag = " FLAGGED" if flags[i] else ""
        ax.set_title(f"{classes[i]}\nL1 {l1[i]:.1f}, AI {index[i]:.2f}{flag}", fontsize=8,
                     color="firebrick" if flags[i] else "black")
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


def anomaly_figure(index, flags, classes, path: Path, title: str, threshold: float = 2.0) -> list[str]:
    """Anomaly index per class as bars, with the threshold (Figure 5)."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    colors = ["firebrick" if f else "0.55" for f in flags]
    ax.bar(range(len(index)), index, color=colors, edgecolor="black", hatch=None)
    ax.axhline(threshold, color="black", linestyle="--", label=f"threshold {threshold:g}")
    ax.set_xticks(range(len(index)), [str(c) for c in classes], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("anomaly index")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(0, max(threshold * 1.3, max(index) * 1.1 if len(index) else 1))
    ax.legend(fontsize=8)
    return save(fig, path)


def entropy_histogram(clean, attacked, path: Path, title: str, attacked_label: str, thresholds=None) -> list[str]:
    """STRIP entropy of clean vs attacked inputs, with the thresholds per target FPR."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    lo = min(min(clean), min(attacked))
    hi = max(max(clean), max(attacked))
    bins = torch.linspace(lo, hi + 1e-9, 40).tolist()
    ax.hist(clean, bins=bins, alpha=0.6, color="tab:blue", label="clean", density=True)
    ax.hist(attacked, bins=bins, alpha=0.6, color="tab:orange", label=attacked_label, density=True,
            hatch="//", edgecolor="0.3")
    for (name, value), style in zip((thresholds or {}).items(), ("--", ":", "-.")):
        ax.axvline(value, color="black", linestyle=style, linewidth=1, label=f"threshold at FPR {name}")
    ax.set_xlabel("mean entropy over blends")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return save(fig, path)
