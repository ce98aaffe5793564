"""``scan``: the defenses on a run folder or on a safetensors file plus its model name."""

from __future__ import annotations

from pathlib import Path

import torch

from .. import presets
from ..attacks.pgd import madry
from ..attacks.threats import Threat
from ..attacks.trigger import Trigger
from ..data import get_spec, load_dataset
from ..errors import ConfigError
from ..models import build_model
from ..training.checkpoint import load_into, read_weights
from ..training.runs import Run
from ..utils.device import configure_threads, resolve_device
from .adaptive import AdaptiveNCSettings
from .neural_cleanse import NCSettings
from .scan import DEFENSES, ScanSettings, scan_model
from .strip import StripSettings


def load_target(target: str | Path, model_name: str | None, dataset: str | None, device):
    """(model, dataset name, trigger, budget, test intensity, objective) of a run or a weights file."""
    path = Path(target)
    if path.is_dir():
        run = Run(path)
        cfg = run.config
        return (run.load_model(device), cfg.dataset, cfg.trigger(), (cfg.eps, cfg.step_size, cfg.steps),
                cfg.test_intensity, cfg.objective)
    if not path.is_file():
        raise ConfigError(f"{path}: no such run folder or weights file")
    if model_name is None or dataset is None:
        raise ConfigError(f"{path} is a weights file: pass --arch and --dataset to say what it holds")
    spec = get_spec(dataset)
    tensors, _ = read_weights(path)
    model = load_into(build_model(model_name, spec.channels, spec.num_classes, spec.size), tensors, str(path),
                      model_name).to(device).eval()
    b = presets.BUDGETS[spec.name]
    return (model, spec.name, Trigger.square(spec.shape), (b.eps, b.step_size, b.steps),
            presets.TEST_INTENSITY[spec.name], None)


def scan(target, *, model_name=None, dataset=None, defenses=DEFENSES, attacked="auto", figures_dir=None,
         pool=1000, nc_images=2000, nc_epochs=20, anc_images=500, anc_epochs=5, anc_restarts=1, strip_superimpose="add", strip_threshold="normal",
         nc_precision="fp32", radius=0.4,
         sigma=0.5, noise_samples=100, cert_method="li", cert_confidence=None, certify_images=500, eps=None, step_size=None,
         steps=None, intensity=None, device="auto", seed=0, data_dir=None, progress=True) -> dict:
    """Run ``defenses`` on a run folder or a weights file; returns the JSON-able results."""
    settings = ScanSettings(defenses=tuple(defenses), pool=pool, nc_images=nc_images, anc_images=anc_images,
                            certify_images=certify_images, sigma=sigma, radius=radius,
                            noise_samples=noise_samples, cert_method=cert_method, cert_confidence=cert_confidence,
                            nc=NCSettings(epochs=nc_epochs, precision=nc_precision),
                            strip=StripSettings(superimpose=strip_superimpose, threshold=strip_threshold), anc=AdaptiveNCSettings(epochs=anc_epochs,
                                                                                  restarts=anc_restarts))
    settings.validate()  # before any expensive work
    configure_threads()
    dev = resolve_device(device)
    model, ds, trigger, budget, test_intensity, objective = load_target(target, model_name, dataset, dev)
    attack = madry(budget[0] if eps is None else eps, budget[1] if step_size is None else step_size,
                   budget[2] if steps is None else steps)
    kind = Threat.TRIGGERED if (attacked == "triggered" or (attacked == "auto" and objective == "badnets")) \
        else Threat.ADVTROJAN
    # a BadNets trigger is trained and tested at full intensity; AdvTrojan at the paper's test intensity
    level = intensity if intensity is not None else (1.0 if kind is Threat.TRIGGERED else test_intensity)
    data = load_dataset(ds, "test", data_dir=data_dir)
    out = Path(figures_dir) if figures_dir else (Path(target) / "scan" if Path(target).is_dir()
                                                 else Path(str(target) + ".scan"))
    torch.manual_seed(seed)
    return scan_model(model, data, trigger, attack, level, settings=settings, attacked_kind=kind, out_dir=out,
                      device=dev, progress=progress, seed=seed)
