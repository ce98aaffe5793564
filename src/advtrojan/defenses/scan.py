"""Run the chosen defenses on a model: the verdicts of Tables 2-5 and Figure 5, and figures.

The test set is split once, deterministically: ``reserved`` (STRIP's N clean inputs, never
evaluated), a ``pool`` of clean evaluation inputs, and the inputs for Neural Cleanse. The
attacked inputs are AdvTrojan examples A(x + t) of the pool (for a BadNets model: x + t).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..attacks.pgd import Attack
from ..attacks.threats import Threat, craft
from ..attacks.trigger import Trigger
from ..data import ImageData
from ..errors import ConfigError
from ..report import figures
from .adaptive import AdaptiveNCSettings, adaptive_neural_cleanse
from .certify import certify, check_method
from .neural_cleanse import NCSettings, nc_false_negative_rate, neural_cleanse
from .strip import StripSettings, strip

DEFENSES = ("neural_cleanse", "strip", "e_strip", "adaptive_neural_cleanse", "certified")


@dataclass
class ScanSettings:
    defenses: tuple[str, ...] = DEFENSES
    pool: int = 1000                 # clean evaluation inputs (and their attacked versions)
    nc_images: int = 2000            # benign inputs for Neural Cleanse (the paper: the whole test set)
    anc_images: int = 500            # inputs for adaptive Neural Cleanse
    certify_images: int = 500
    sigma: float = 0.5
    radius: float = 0.4              # B of Eq. 10 (L2)
    noise_samples: int = 100
    cert_method: str = "li"
    cert_confidence: float | None = None  # None: the procedure's default
    nc: NCSettings = field(default_factory=NCSettings)
    strip: StripSettings = field(default_factory=StripSettings)
    anc: AdaptiveNCSettings = field(default_factory=AdaptiveNCSettings)

    def validate(self) -> None:
        unknown = [d for d in self.defenses if d not in DEFENSES]
        if unknown:
            raise ConfigError(f"unknown defense {', '.join(map(repr, unknown))}: choose from {', '.join(DEFENSES)}")
        if self.radius <= 0:
            raise ConfigError(f"certification radius must be > 0, got {self.radius}")
        if self.sigma <= 0:
            raise ConfigError(f"noise sigma must be > 0, got {self.sigma}")
        check_method(self.cert_method, self.cert_confidence)
        self.strip.validate()


def split_test(data: ImageData, n_reserved: int, pool: int, nc: int, seed: int = 0):
    """Disjoint reserved / pool / Neural Cleanse subsets of the test set (seeded permutation)."""
    need = n_reserved + pool
    if need > len(data):
        raise ConfigError(f"the test set has {len(data)} images; STRIP's {n_reserved} reserved plus a pool of "
                          f"{pool} need {need}")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    reserved, pool_idx = order[:n_reserved], order[n_reserved:need]
    rest = order[n_reserved:]  # Neural Cleanse may use any non-reserved benign input
    return data.subset(reserved), data.subset(pool_idx), data.subset(rest[:nc])


def scan_model(model: nn.Module, data: ImageData, trigger: Trigger, attack: Attack, intensity: float, *,
               settings: ScanSettings = ScanSettings(), attacked_kind: Threat = Threat.ADVTROJAN,
               out_dir: Path | None = None, device="cpu", progress: bool = True, seed: int = 0) -> dict:
    """Run ``settings.defenses`` on ``model``; returns one dict per defense plus ``figures``."""
    settings.validate()
    model.eval()
    names = data.spec.classes
    reserved, pool, nc_data = split_test(data, settings.strip.n_reserved, settings.pool, settings.nc_images, seed)
    x, y = pool.tensors(device)
    torch.manual_seed(seed)
    attacked = craft([attacked_kind], x, y, trigger=trigger.to(device), intensity=intensity, attack=attack,
                     model=model)[attacked_kind]
    label = "AdvTrojan examples" if attacked_kind is Threat.ADVTROJAN else "triggered inputs"
    res: dict = {}
    figs: dict = {}
    nc = None
    if "neural_cleanse" in settings.defenses or "e_strip" in settings.defenses:
        nc = neural_cleanse(model, nc_data, settings.nc, device=device, progress=progress, seed=seed)
    if "neural_cleanse" in settings.defenses:
        res["neural_cleanse"] = {**nc.to_dict(), "images": len(nc_data),
                                 "masks": nc.masks[:, 0].mul(1000).round().div(1000).tolist(),
                                 "table2": nc_false_negative_rate(model, attacked, y, nc.to_dict()["flagged_classes"]),
                                 "attacked_inputs": label}
        if out_dir:
            figs["neural_cleanse_masks"] = figures.masks_figure(
                nc.masks, nc.l1.tolist(), nc.index.tolist(), nc.flagged.tolist(), names,
                out_dir / "neural_cleanse_masks", "Neural Cleanse: recovered masks per class")
            figs["neural_cleanse_anomaly"] = figures.anomaly_figure(
                nc.index.tolist(), nc.flagged.tolist(), names, out_dir / "neural_cleanse_anomaly",
                "Neural Cleanse: anomaly index per class")
    reserved_x, _ = reserved.tensors(device)
    if "strip" in settings.defenses:
        r = strip(model, reserved_x, x, attacked, settings.strip)
        res["strip"] = _strip_summary(r, label, len(reserved_x))
        if out_dir:
            figs["strip_entropy"] = figures.entropy_histogram(
                r["entropy_clean"], r["entropy_attacked"], out_dir / "strip_entropy",
                "STRIP: entropy of clean vs attacked inputs", label, r["threshold"])
    if "e_strip" in settings.defenses:
        k = int(nc.l1.argmin()) if not nc.flagged.any() else int(nc.index.masked_fill(~nc.flagged, -1).argmax())
        r = strip(model, reserved_x, x, attacked, settings.strip, trigger=nc.trigger(k))
        res["e_strip"] = {**_strip_summary(r, label, len(reserved_x)), "trigger_class": k,
                          "trigger_choice": "the flagged class with the largest anomaly index, else the "
                                            "class with the smallest recovered mask"}
        if out_dir:
            figs["e_strip_entropy"] = figures.entropy_histogram(
                r["entropy_clean"], r["entropy_attacked"], out_dir / "e_strip_entropy",
                f"E-STRIP (trigger of class {names[k]}): entropy", label, r["threshold"])
    if "adaptive_neural_cleanse" in settings.defenses:
        anc_data = nc_data.subset(torch.arange(min(settings.anc_images, len(nc_data))))
        r = adaptive_neural_cleanse(model, anc_data, attack, settings.anc, device=device, progress=progress, seed=seed)
        r.pop("_triggers")
        res["adaptive_neural_cleanse"] = r
        if out_dir:
            figs["adaptive_neural_cleanse_anomaly"] = figures.anomaly_figure(
                r["anomaly_index"], r["flagged"], names, out_dir / "adaptive_neural_cleanse_anomaly",
                "Adaptive Neural Cleanse: anomaly index per class (Figure 5)")
    if "certified" in settings.defenses:
        n = min(settings.certify_images, len(x))
        kw = dict(sigma=settings.sigma, n=settings.noise_samples, radius=settings.radius,
                  method=settings.cert_method, confidence=settings.cert_confidence, seed=seed)
        on_attacked = certify(model, attacked[:n], y[:n], **kw)
        on_clean = certify(model, x[:n], y[:n], **kw)
        res["certified"] = {"advtrojan_certified" if attacked_kind is Threat.ADVTROJAN else "attacked_certified":
                            on_attacked["certified_accuracy"], "benign_certified": on_clean["certified_accuracy"],
                            "attacked": _drop(on_attacked, "radii"), "benign": _drop(on_clean, "radii")}
    res["figures"] = figs
    return res


def _drop(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


def _strip_summary(r: dict, label: str, n_reserved: int) -> dict:
    return {**r, "attacked_inputs": label, "n_reserved": n_reserved}
