"""bf16 or fp32 for the stages after training (docs/protocol.md, "The cost of the stages after
training"): how much bf16 moves each stage's numbers, against how much the stage's own randomness
(its seed: data order, random starts) moves them in fp32.

On the finished runs of a ``reproduce`` (``--runs``: its ``runs/`` folder, or any folder holding
``vanilla``, ``madry`` and ``atim`` runs), for the ATIM and Madry-Adv, in fp32 and bf16, seeds 0 and 1:

- Neural Cleanse (Table 2) at the paper preset's 100 epochs on ``--nc-images`` inputs: the mask L1
  norms, anomaly indices and flagged classes;
- adaptive Neural Cleanse (Eq. 11, Figure 5) at its 10 epochs on ``--anc-images`` inputs: the
  trigger L2 norms, anomaly indices and flagged classes;
- Table 5's rows on ``--eval-images`` class-balanced test images (FGSM and BIM have no random start:
  only the precision moves them).

Writes OUT/stage_precision.json and prints the medians and maxima of both kinds of change.

    python studies/stage_precision.py --runs results/fmnist-paper/runs --out results/study-precision
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from advtrojan.data import load_dataset
from advtrojan.defenses.adaptive import AdaptiveNCSettings, adaptive_neural_cleanse
from advtrojan.defenses.neural_cleanse import NCSettings, neural_cleanse
from advtrojan.defenses.scan import split_test
from advtrojan.evaluation.table5 import EvalSettings, evaluate_model
from advtrojan.training.runs import Run
from advtrojan.utils.io import write_json

RUNS = (("fp32", 0), ("bf16", 0), ("fp32", 1), ("bf16", 1))


def changes(results: dict, key: str, relative: bool) -> dict:
    """Median and largest change of ``key`` from fp32 to bf16 (same seed), and from seed 0 to 1 (same precision)."""
    def diff(a, b):
        a, b = np.asarray(results[a][key], float), np.asarray(results[b][key], float)
        return np.abs(a - b) / np.abs(b) if relative else np.abs(a - b)
    precision = np.concatenate([diff("bf16/seed0", "fp32/seed0"), diff("bf16/seed1", "fp32/seed1")])
    seed = np.concatenate([diff("fp32/seed1", "fp32/seed0"), diff("bf16/seed1", "bf16/seed0")])
    return {"precision": {"median": float(np.median(precision)), "max": float(precision.max())},
            "seed": {"median": float(np.median(seed)), "max": float(seed.max())}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--nc-images", type=int, default=990)
    p.add_argument("--nc-epochs", type=int, default=100)
    p.add_argument("--anc-images", type=int, default=200)
    p.add_argument("--anc-epochs", type=int, default=10)
    p.add_argument("--eval-images", type=int, default=2000)
    p.add_argument("--data-dir")
    args = p.parse_args()
    torch.set_num_threads(2)
    runs = Path(args.runs)
    test = load_dataset("fmnist", "test", data_dir=args.data_dir)
    _, _, rest = split_test(test, 100, 1000, 0)  # the scan's inputs for trigger inversion
    vanilla = Run(runs / "vanilla").load_model("cpu")
    data = test.balanced_subset(args.eval_images, seed=0)
    out: dict = {}
    for name in ("atim", "madry"):
        run = Run(runs / name)
        model, cfg = run.load_model("cpu"), run.config
        found = out[name] = {"neural_cleanse": {}, "adaptive_neural_cleanse": {}, "table5": {}}
        for precision, seed in RUNS:
            key = f"{precision}/seed{seed}"
            t = time.perf_counter()
            nc = neural_cleanse(model, rest.subset(torch.arange(args.nc_images)),
                                NCSettings(images=None, epochs=args.nc_epochs, precision=precision), progress=False,
                                seed=seed).to_dict()
            found["neural_cleanse"][key] = {**nc, "seconds": time.perf_counter() - t}
            t = time.perf_counter()
            anc = adaptive_neural_cleanse(model, rest.subset(torch.arange(args.anc_images)), cfg.attack(),
                                          AdaptiveNCSettings(images=args.anc_images, epochs=args.anc_epochs,
                                                             precision=precision), progress=False, seed=seed)
            anc.pop("_triggers")
            found["adaptive_neural_cleanse"][key] = {**anc, "seconds": time.perf_counter() - t}
            torch.manual_seed(seed)
            t = time.perf_counter()
            r = evaluate_model(model, data, cfg.trigger(), cfg.budget, cfg.test_intensity,
                               EvalSettings(certify=False, precision=precision), transfer_model=vanilla, progress=False)
            found["table5"][key] = {**r.accuracy, "seconds": time.perf_counter() - t}
            print(name, key, "flagged (NC, adaptive NC):", nc["flagged_classes"], anc["flagged_classes"],
                  {k: round(100 * v, 2) for k, v in r.accuracy.items()}, flush=True)
        found["changes"] = {
            "neural_cleanse_l1": changes(found["neural_cleanse"], "mask_l1", relative=True),
            "neural_cleanse_index": changes(found["neural_cleanse"], "anomaly_index", relative=False),
            "adaptive_l2": changes(found["adaptive_neural_cleanse"], "trigger_l2", relative=True),
            "adaptive_index": changes(found["adaptive_neural_cleanse"], "anomaly_index", relative=False),
            **{f"table5_{row}": changes({k: {row: [v[row]]} for k, v in found["table5"].items()}, row, relative=False)
               for row in found["table5"]["fp32/seed0"] if row != "seconds"}}
        for what, c in found["changes"].items():
            print(f"{name} {what}: bf16 median {c['precision']['median']:.3g} max {c['precision']['max']:.3g}; "
                  f"seed median {c['seed']['median']:.3g} max {c['seed']['max']:.3g}")
    write_json(Path(args.out) / "stage_precision.json", out)


if __name__ == "__main__":
    main()
