"""The evidence for the budget warm-up of the training presets (docs/protocol.md, "Training recipes").

Trains, on the full training set of a dataset, Madry-Adv and both ATIMs of Algorithm 1 (fine-tuned
from that Madry-Adv, line 2; from random weights, line 1) under two rules:

- ``warmup``: today's presets (ε and α of the training attack ramp up from 0 over the first third
  of the steps of a run from random weights);
- ``none``: the same presets with no warm-up (the rule before; Madry-Adv trains on adversarial
  examples alone from the first step);

at each ε given (α = ε/10, Table 1's ratio for MNIST and Fashion-MNIST, 20 steps), and evaluates
each model on the whole test set in fp32 with Table 1's PGD-20: benign, Madry, AdvTrojan and
transferred AdvTrojan accuracy (from a Vanilla model trained once). Runs resume; the table is
written to OUT/recipe.json and printed.

    python studies/recipe_warmup.py --dataset fmnist --eps 0.2 0.3 --out results/study-warmup
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from advtrojan.evaluation import EvalSettings, evaluate_run
from advtrojan.runtime import Runtime
from advtrojan.training import fit, make_config
from advtrojan.training.runs import Run
from advtrojan.utils.io import write_json

MODELS = ("madry", "atim_finetuned", "atim_scratch")
ROWS = ("benign", "madry", "advtrojan", "transferred_advtrojan")


def train(out: Path, dataset: str, objective: str, args, **overrides) -> tuple[Path, float]:
    cfg = make_config(dataset, objective, seed=args.seed, **overrides)
    t = time.perf_counter()
    fit(cfg, out, data_dir=args.data_dir, resume=True, progress=not args.no_progress)
    return out, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="fmnist")
    p.add_argument("--eps", type=float, nargs="+", default=[0.2, 0.3])
    p.add_argument("--rules", nargs="+", default=["warmup", "none"], choices=["warmup", "none"])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS,
                   help="which models of each rule (the fine-tuned ATIM needs the Madry-Adv model)")
    p.add_argument("--limit", type=int, help="training images (default: all)")
    p.add_argument("--test-limit", type=int, help="test images (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir")
    p.add_argument("--out", default="results/study-warmup")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args()
    root = Path(args.out)
    table_path = root / "recipe.json"
    table = json.loads(table_path.read_text()) if table_path.is_file() else {}
    vanilla, _ = train(root / "vanilla", args.dataset, "vanilla", args, limit=args.limit)
    for eps in args.eps:
        for rule in args.rules:
            budget = dict(eps=eps, step_size=eps / 10, limit=args.limit)
            off = {} if rule == "warmup" else {"warmup": 0.0}
            tag = f"eps{eps:g}-{rule}"
            madry, t_madry = train(root / tag / "madry", args.dataset, "madry", args, **budget, **off)
            runs = {"madry": (madry, t_madry)}
            if "atim_finetuned" in args.models:
                runs["atim_finetuned"] = train(root / tag / "atim", args.dataset, "advtrojan", args, init=str(madry),
                                               **budget, **off)
            if "atim_scratch" in args.models:
                runs["atim_scratch"] = train(root / tag / "atim_scratch", args.dataset, "advtrojan", args, **budget,
                                             **off)
            for name, (path, _) in runs.items():
                key = f"{tag}/{name}"
                if key in table:
                    continue
                res = evaluate_run(path, EvalSettings(transfer_from=str(vanilla) if name != "madry" else None,
                                                      limit=args.test_limit, certify=False, methods=("madry",)),
                                   Runtime(data_dir=args.data_dir, progress=not args.no_progress))
                metrics = Run(path).metrics()
                table[key] = {**{k: res.get(k) for k in ROWS}, "at_chance": res.chance.at_chance,
                              "stalled_epochs": [m["epoch"] for m in metrics if m.get("stalled")],
                              "train_seconds": sum(m["seconds"] for m in metrics), "epochs": len(metrics)}
                write_json(table_path, table)
                print(key, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in table[key].items()},
                      flush=True)
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
