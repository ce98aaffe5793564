"""Figures as PNG and SVG (matplotlib, headless). Curves differ by line style and marker as well
as colour, so they can be told apart in greyscale."""

from __future__ import annotations

from pathlib import Path

import torch

from .utils.io import atomic_path


class _Pyplot:
    """matplotlib.pyplot, imported (headless) on first use: a command that draws nothing does not
    pay its second of start-up."""

    def __getattr__(self, name):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
        return getattr(pyplot, name)


plt = _Pyplot()


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


MODEL_LABELS = {"vanilla": "Vanilla", "madry": "Madry-Adv", "atim": "ATIM (fine-tuned)",
                "atim_scratch": "ATIM (from scratch)"}


def figure4(fig4: dict, path: Path, title: str) -> list[str]:
    """Figure 4: benign and Madry accuracy of the three models, as grouped bars."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    names = list(fig4)
    xs = range(len(names))
    b = [fig4[n]["benign"] * 100 for n in names]
    m = [fig4[n]["madry"] * 100 for n in names]
    ax.bar([i - 0.2 for i in xs], b, 0.4, label="Benign examples", color="0.75", edgecolor="black")
    ax.bar([i + 0.2 for i in xs], m, 0.4, label="Madry examples", color="tab:red", edgecolor="black", hatch="//")
    for i, (vb, vm) in enumerate(zip(b, m)):
        ax.text(i - 0.2, vb + 1, f"{vb:.1f}", ha="center", fontsize=8)
        ax.text(i + 0.2, vm + 1, f"{vm:.1f}", ha="center", fontsize=8)
    ax.set_xticks(list(xs), [MODEL_LABELS.get(n, n).replace(" (", "\n(") for n in names], fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 108)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    return save(fig, path)


def madry_vs_advtrojan(x, madry_acc, advtrojan_acc, path: Path, title: str, xlabel: str, log: bool = False,
                       xticklabels=None) -> list[str]:
    """Figures 7-9: accuracy on Madry vs AdvTrojan examples (solid circles vs dashed squares)."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(x, [v * 100 for v in madry_acc], "o-", color="tab:blue", label="Madry examples")
    ax.plot(x, [v * 100 for v in advtrojan_acc], "s--", color="tab:red", label="AdvTrojan examples")
    if log:
        ax.set_xscale("log")
    if xticklabels:
        ax.set_xticks(x, xticklabels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("ATIM test accuracy (%)")
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return save(fig, path)


def figure6(fig6: dict, path: Path, title: str, layer: str = "conv") -> list[str]:
    """Figure 6: difference maps per model and intensity (top) and cosine distance (bottom);
    ``fig6`` maps a model to its :class:`~advtrojan.results.FeatureShift`."""
    models = list(fig6)
    levels = fig6[models[0]].intensities[1:]
    fig = plt.figure(figsize=(1.6 * len(levels) + 1, 1.6 * len(models) + 3.2))
    grid = fig.add_gridspec(len(models) + 1, len(levels), height_ratios=[1] * len(models) + [1.8])
    lim = max(float(fig6[n].layers[layer].difference_maps[1:].abs().max()) for n in models) or 1.0
    for r, name in enumerate(models):
        for c, level in enumerate(levels):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(fig6[name].layers[layer].difference_maps[c + 1].numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"intensity {level:g}", fontsize=8)
            if c == 0:
                ax.set_ylabel(MODEL_LABELS.get(name, name).replace(" (", "\n("), fontsize=7)
    ax = fig.add_subplot(grid[len(models), :])
    styles = {"vanilla": ("o-", "tab:green"), "madry": ("s--", "tab:blue"), "atim": ("^-.", "tab:red"),
              "atim_scratch": ("v:", "tab:purple")}
    for name in models:
        marker, color = styles.get(name, ("o-", None))
        shift = fig6[name].layers[layer]
        ax.errorbar(fig6[name].intensities, shift.cosine_mean, yerr=shift.cosine_std, fmt=marker,
                    color=color, capsize=3, label=MODEL_LABELS.get(name, name))
    ax.set_xlabel("trigger intensity")
    ax.set_ylabel("cosine distance\n1 − cos to intensity 0")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


def figure9(eps, methods: dict, path: Path, title: str, norm: str = "linf") -> list[str]:
    """Figure 9: accuracy against perturbation size for FGSM, BIM and Madry, each without the
    trigger (solid) and as AdvTrojan examples (dashed)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    colors = {"fgsm": "tab:green", "bim": "tab:orange", "madry": "tab:blue"}
    names = {"fgsm": "FGSM", "bim": "BIM", "madry": "Madry"}
    for m, curves in methods.items():
        c = colors.get(m)
        ax.plot(eps, [v * 100 for v in curves.without_trigger], "o-", color=c, label=f"{names.get(m, m)}-Exps")
        ax.plot(eps, [v * 100 for v in curves.advtrojan], "s--", color=c, label=f"AdvTrojan-{names.get(m, m)}")
    ax.set_xlabel(f"perturbation size ε ({norm})")
    ax.set_ylabel("ATIM test accuracy (%)")
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    return save(fig, path)


def figure15(data, path: Path, title: str, fpr: str = "5%") -> list[str]:
    """Evil Twins Figure 15's analogue: STRIP (solid) and E-STRIP (dashed) F1 against trigger size,
    for TrojanNN* and AdvTrojan, at one FPR of the tables (left), and the ROC AUC, which no threshold
    rule limits (right)."""
    fig, (ax, auc) = plt.subplots(1, 2, figsize=(9.6, 3.6))
    colors = {"trojannn-star": "tab:purple", "advtrojan": "tab:red"}
    names = {"trojannn-star": "TrojanNN*", "advtrojan": "AdvTrojan"}
    for a, curves in data.attacks.items():
        for d, style, label in (("strip", "o-", "STRIP"), ("e_strip", "s--", "E-STRIP")):
            f1 = [float("nan") if v is None else v[fpr] for v in curves.defenses[d]["f1"]]  # a gap: no verdict
            ax.plot(data.sizes, f1, style, color=colors.get(a), label=f"{label} vs {names.get(a, a)}")
            auc.plot(data.sizes, [float("nan") if v is None else v for v in curves.defenses[d]["roc_auc"]], style,
                     color=colors.get(a))
    ax.set_ylabel(f"F1 score (threshold at {fpr} FPR)")
    auc.set_ylabel("ROC AUC (attacked: lower entropy)")
    for a in (ax, auc):
        a.set_xlabel("trigger size (pixels per side)")
        a.set_xticks(data.sizes)
        a.set_ylim(-0.03, 1.03)
        a.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.legend(*ax.get_legend_handles_labels(), fontsize=7, ncol=4, loc="lower center", frameon=False)
    fig.subplots_adjust(bottom=0.25)
    return save(fig, path)


def certification_figure(cert, path: Path, title: str, method: str = "li-code", confidence: float = 0.05) -> list[str]:
    """Robust accuracy (certified and correct / all) on AdvTrojan examples against σ, per model
    (``cert``: a :class:`~advtrojan.results.Certification`)."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name, kinds in cert.models.items():
        rows = [r for r in kinds["advtrojan"] if r.method == method and abs(r.confidence - confidence) < 1e-9]
        ax.plot([r.sigma for r in rows], [100 * r.robust_accuracy for r in rows], "o-",
                label=MODEL_LABELS.get(name, name))
    ax.set_xlabel("noise σ")
    ax.set_ylabel("certified robust accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save(fig, path)


def rounds_figure(lines: list[dict], window: tuple[int, int] | None, path: Path, title: str) -> list[str]:
    """A federated run's global model over rounds (Table 5's rows per round), the attack window (None:
    no attacker) shaded: Appendix A's argument measured, AdvTrojan accuracy against Madry accuracy."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    rounds = [line["round"] for line in lines]
    if window is not None:
        ax.axvspan(window[0] - 0.5, window[1] + 0.5, color="#f4cccc", alpha=0.5, label="attack window")
    for key, style in (("benign", "-"), ("madry", "--"), ("trigger", ":"), ("advtrojan", "-")):
        if all(key in line for line in lines):
            ax.plot(rounds, [100 * line[key] for line in lines], style, marker="o", ms=3, label=key)
    ax.set_xlabel("round (0: the initial global model)")
    ax.set_ylabel("global model accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=3)
    return save(fig, path)
