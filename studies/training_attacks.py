"""The cost/robustness frontier of the training attack (docs/protocol.md, "Training recipes": the
`fast` preset).

For each training attack (Table 1's PGD-20, PGD with fewer steps, FGSM with a random start, N-FGSM;
optionally with more epochs for the same wall time), trains on the full training set Madry-Adv and
both ATIMs of Algorithm 1 (fine-tuned from that Madry-Adv; from random weights), with the presets'
recipe otherwise (the budget warm-up included), and evaluates each the same way, whatever it was
trained with: on the whole test set in fp32, benign, Table 1's PGD-20 (``madry``), AdvTrojan and
transferred AdvTrojan (from a Vanilla model trained once), and PGD-100 and PGD-1000 (Figure 7's) on
class-balanced subsets (2,000 and 500 images by default), to rule out gradient masking. Training wall time
and images per second come from the runs' metrics. Runs resume; the table is written to
OUT/training_attacks.json and printed.

    python studies/training_attacks.py --attacks pgd20 pgd3 fgsm-rs n-fgsm --out results/study-fast
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from advtrojan.attacks.budget import BudgetOverride
from advtrojan.evaluation import EvalSettings, evaluate_run
from advtrojan.runtime import Runtime
from advtrojan.training import fit, make_config
from advtrojan.training.runs import Run
from advtrojan.utils.io import write_json, write_text

ATTACKS = {  # name -> (TrainingAttack fields, epoch multiplier)
    "pgd20": ({}, 1),
    "pgd5": ({"method": "madry", "steps": 5, "step_ratio": 0.5}, 1),  # Madry et al.'s 2.5ε of travel
    "pgd3": ({"method": "madry", "steps": 3, "step_ratio": 0.5}, 1),
    "pgd2": ({"method": "madry", "steps": 2, "step_ratio": 0.75}, 1),
    "fgsm-rs": ({"method": "fgsm-rs"}, 1),
    "n-fgsm": ({"method": "n-fgsm"}, 1),
    "fgsm-rs-2x": ({"method": "fgsm-rs"}, 2),
    "n-fgsm-2x": ({"method": "n-fgsm"}, 2),
}


# model -> (objective, fine-tuned from the attack's Madry-Adv, run folder: also those of a --reuse'd study)
MODELS = {"madry": ("madry", False, "madry"), "atim_finetuned": ("advtrojan", True, "atim"),
          "atim_scratch": ("advtrojan", False, "atim_scratch")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="fmnist")
    p.add_argument("--attacks", nargs="+", default=["pgd20", "pgd3", "fgsm-rs", "n-fgsm"], choices=list(ATTACKS))
    p.add_argument("--reuse", nargs="*", default=[], metavar="NAME=DIR",
                   help="a folder holding madry/, atim/ and atim_scratch/ runs already trained with that attack")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS),
                   help="which models of each attack to train and evaluate (default: all three)")
    p.add_argument("--vanilla", help="a Vanilla run for the transferred examples (default: trained in OUT)")
    p.add_argument("--limit", type=int, help="training images (default: all)")
    p.add_argument("--test-limit", type=int, help="test images of every row but PGD-1000 (default: all)")
    p.add_argument("--pgd100-images", type=int, default=2000)
    p.add_argument("--pgd1000-images", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir")
    p.add_argument("--out", default="results/study-fast")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args()
    root = Path(args.out)
    table_path = root / "training_attacks.json"
    table = json.loads(table_path.read_text()) if table_path.is_file() else {}
    runtime = Runtime(seed=args.seed, data_dir=args.data_dir, progress=not args.no_progress)
    reuse = dict(item.split("=", 1) for item in args.reuse)

    def train(path: Path, objective: str, **overrides) -> Path:
        cfg = make_config(args.dataset, objective, seed=args.seed, limit=args.limit, **overrides)
        fit(cfg, path, data_dir=args.data_dir, resume=True, progress=runtime.progress)
        return path

    vanilla = Path(args.vanilla) if args.vanilla else train(root / "vanilla", "vanilla")
    for name in args.attacks:
        fields, times = ATTACKS[name]
        folder = Path(reuse[name]) if name in reuse else root / name
        base = make_config(args.dataset, "madry")
        kw = {"train_attack": fields} if fields else {}
        madry = folder / "madry"
        epochs = {"madry": base.epochs, "atim_finetuned": make_config(args.dataset, "advtrojan", init=str(madry)).epochs,
                  "atim_scratch": make_config(args.dataset, "advtrojan").epochs}
        runs = {}
        for model in args.models:  # Madry-Adv first: the fine-tuned ATIM starts from it
            objective, init, run_dir = MODELS[model]
            if init:
                train(madry, "madry", epochs=epochs["madry"] * times, **kw)
            runs[model] = train(folder / run_dir, objective, init=str(madry) if init else None,
                                epochs=epochs[model] * times, **kw)
        for model, path in runs.items():
            key = f"{name}/{model}"
            if key in table:
                continue
            atim = model != "madry"
            main = evaluate_run(path, EvalSettings(limit=args.test_limit, certify=False, methods=("madry",),
                                                   transfer_from=str(vanilla) if atim else None), runtime)
            pgd100 = evaluate_run(path, EvalSettings(budget=BudgetOverride(steps=100), limit=args.pgd100_images,
                                                     certify=False, methods=("madry",)), runtime)
            pgd1000 = evaluate_run(path, EvalSettings(budget=BudgetOverride(steps=1000), limit=args.pgd1000_images,
                                                      certify=False, methods=("madry",)), runtime)
            metrics = Run(path).metrics()
            seconds = sum(m["seconds"] for m in metrics)
            table[key] = {"benign": main["benign"], "pgd20": main["madry"], "pgd100": pgd100["madry"],
                          "pgd1000": pgd1000["madry"], "advtrojan": main["advtrojan"],
                          "advtrojan_pgd100": pgd100["advtrojan"],
                          "transferred_advtrojan": main.get("transferred_advtrojan"),
                          "train_seconds": seconds, "epochs": len(metrics),
                          "images_per_s": sum(m["images_per_s"] for m in metrics) / len(metrics),
                          "collapse_epochs": [m["epoch"] for m in metrics if m.get("collapse")],
                          "at_chance": main.chance.at_chance, "test_images": main.examples,
                          "pgd100_images": pgd100.examples, "pgd1000_images": pgd1000.examples}
            write_json(table_path, table)
            print(key, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in table[key].items()}, flush=True)
    markdown = frontier_markdown(table)
    write_text(root / "training_attacks.md", markdown)
    print(markdown)


COLUMNS = (("benign", "benign"), ("pgd20", "PGD-20"), ("pgd100", "PGD-100"), ("pgd1000", "PGD-1000"),
           ("advtrojan", "AdvTrojan"), ("transferred_advtrojan", "transferred"))


def frontier_markdown(table: dict) -> str:
    """The frontier as a markdown table: accuracies in %, training wall time and mean images/s, and the
    speed-up in images/s over the PGD-20-trained model of the same kind (wall times depend on what else
    ran; the benchmark's ratios, benchmarks/bench_training_attacks.py, are the cleaner measure)."""
    head = "| training attack | model | " + " | ".join(h for _, h in COLUMNS) + " | epochs | wall (min) | images/s | speed-up |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 6)]
    for key, row in table.items():
        attack, model = key.split("/")
        ref = table.get(f"pgd20/{model}")
        cells = ["–" if row.get(k) is None else f"{100 * row[k]:.1f}" for k, _ in COLUMNS]
        collapse = f" (collapse at {row['collapse_epochs']})" if row.get("collapse_epochs") else ""
        speed = f"{row['images_per_s'] / ref['images_per_s']:.1f}×" if ref else "–"
        lines.append(f"| {attack}{collapse} | {model} | " + " | ".join(cells)
                     + f" | {row['epochs']} | {row['train_seconds'] / 60:.1f} | {row['images_per_s']:.0f} | {speed} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
