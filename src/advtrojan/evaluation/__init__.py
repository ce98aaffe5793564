"""Evaluation: the rows of Table 5 and Figure 4 for a trained run."""

from __future__ import annotations

from pathlib import Path

from ..data import load_dataset
from ..errors import ConfigError
from ..training.runs import Run
from ..utils.device import configure_threads, resolve_device
from .table5 import PAPER_TABLE5, EvalSettings, evaluate_model, format_table


def evaluate_run(run: str | Path, *, transfer_from: str | Path | None = None, eps: float | None = None,
                 step_size: float | None = None, steps: int | None = None, intensity: float | None = None,
                 limit: int | None = None, data_dir=None, device: str = "auto", precision: str = "fp32",
                 batch_size: int = 500, seed: int = 0, progress: bool = True, certify: bool = True,
                 radius: float = 0.4, sigma: float = 0.5, noise_samples: int = 100, cert_method: str = "li",
                 cert_confidence: float | None = None) -> dict:
    """Evaluate a finished run folder; returns the Table 5 accuracies plus ``details``.

    Budget defaults are the run's (Table 1); ``limit`` evaluates on a class-balanced test subset.
    """
    import torch

    configure_threads()
    dev = resolve_device(device)
    torch.manual_seed(seed)
    r = Run(run)
    config = r.config
    model = r.load_model(dev)
    transfer = Run(transfer_from).load_model(dev) if transfer_from is not None else None
    settings = EvalSettings(eps=config.eps if eps is None else eps,
                            step_size=config.step_size if step_size is None else step_size,
                            steps=config.steps if steps is None else steps,
                            intensity=config.test_intensity if intensity is None else intensity,
                            norm=config.norm, precision=precision, batch_size=batch_size, certify=certify,
                            radius=radius, sigma=sigma, noise_samples=noise_samples, cert_method=cert_method,
                            cert_confidence=cert_confidence)
    settings.attacks()  # validates the budget before any work
    if certify:
        from ..defenses.certify import check_method
        settings.cert_confidence = check_method(cert_method, cert_confidence)
    if certify and (radius <= 0 or sigma <= 0):
        raise ConfigError(f"certification needs radius B > 0 and sigma > 0 (got B={radius}, sigma={sigma})")
    data = load_dataset(config.dataset, "test", data_dir=data_dir, limit=limit, seed=seed)
    result = evaluate_model(model, data, config.trigger(), settings, transfer_model=transfer,
                            badnets_target=config.target if config.objective == "badnets" else None,
                            badnets_intensity=config.train_intensity, device=dev, progress=progress)
    result["details"] = {"run": str(r.path), "dataset": config.dataset, "objective": config.objective,
                         "model": config.model, "test_examples": len(data), "eps": settings.eps,
                         "step_size": settings.step_size, "steps": settings.steps, "norm": settings.norm,
                         "intensity": settings.intensity, "precision": precision, "seed": seed,
                         "transfer_from": None if transfer_from is None else str(transfer_from),
                         "certified": {"method": cert_method, "confidence": settings.cert_confidence,
                                       "radius_B": radius, "sigma": sigma,
                                       "noise_samples": noise_samples} if certify else None}
    return result


__all__ = ["evaluate_run", "evaluate_model", "EvalSettings", "format_table", "PAPER_TABLE5"]
