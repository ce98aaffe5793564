"""The reproduce presets' precisions reach the stages that craft with them (docs/protocol.md, "The cost
of the stages after training"): evaluation, certification's AdvTrojan examples and the sweeps craft in
``eval_precision``; Neural Cleanse, adaptive Neural Cleanse and the collapse search optimise in
``defense_precision``."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from advtrojan import presets
from advtrojan.experiments import reproduce as rep
from advtrojan.models.lenet import LeNet
from advtrojan.runtime import Runtime
from advtrojan.training import make_config


def test_the_paper_preset_evaluates_in_fp32_and_optimises_its_defenses_in_bf16():
    from advtrojan.defenses.adaptive import AdaptiveNCSettings
    from advtrojan.defenses.collapse import CollapseSettings
    from advtrojan.defenses.neural_cleanse import NCSettings
    from advtrojan.experiments.stages import scan_settings
    paper, quick = presets.REPRODUCE["paper"], presets.REPRODUCE["quick"]
    assert (paper.eval_precision, paper.defense_precision) == ("fp32", "bf16")
    assert (quick.eval_precision, quick.defense_precision) == ("bf16", "bf16")
    scan = scan_settings(paper, ["neural_cleanse", "adaptive_neural_cleanse", "collapse"])
    assert {scan.options_for(c).precision for c in (NCSettings, AdaptiveNCSettings, CollapseSettings)} == {"bf16"}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_eval_precision_reaches_every_crafting_stage(fmnist, tmp_path, monkeypatch, precision):
    seen: dict[str, set] = {}

    def spy(stage, real):
        def wrapped(*args, **kwargs):
            seen.setdefault(stage, set()).add(kwargs.get("precision"))
            return real(*args, **kwargs)
        return wrapped

    def evaluate(model, data, trigger, budget, intensity, settings, **kwargs):
        seen.setdefault("evaluate", set()).add(settings.precision)
        return real_evaluate(model, data, trigger, budget, intensity, settings, **kwargs)

    real_evaluate = rep.evaluate_model
    monkeypatch.setattr(rep, "evaluate_model", evaluate)
    monkeypatch.setattr(rep, "craft", spy("certification", rep.craft))
    monkeypatch.setattr(rep, "iteration_sweep", spy("sweep_iterations", rep.iteration_sweep))
    monkeypatch.setattr(rep, "budget_sweep", spy("sweep_budget", rep.budget_sweep))
    sizes = replace(presets.REPRODUCE["quick"], eval_limit=20, certify_images=10, sweep_images=10,
                    certify_sigmas=(0.5,), sweep_iterations=(1, 2), eval_precision=precision)
    job = rep.Reproduction(rep.ReproduceSettings(out=str(tmp_path / "r"), sizes=sizes), Runtime(progress=False))
    torch.manual_seed(0)
    job.__dict__.update(models={n: LeNet().eval() for n in rep.MODELS}, test=fmnist[1],
                        config=make_config("fmnist", "advtrojan", steps=2))
    job.evaluate("atim")()
    job.certification()
    job.sweep_iterations()
    job.sweep_budget()
    assert seen == {"evaluate": {precision}, "certification": {precision}, "sweep_iterations": {precision},
                    "sweep_budget": {precision}}
